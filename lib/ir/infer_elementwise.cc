// Shape functions for elementwise ops: unary, binary and variadic with numpy broadcasting,
// comparisons and logic (bool outputs), Where, Clip, Cast/CastLike.
// ONNX Operators.md: Add-1/6/7/13/14, Sub, Mul, Div (legacy `broadcast`/`axis` before 7), Pow,
// Mod, PRelu, And/Or/Xor, Equal/Less/Greater(/OrEqual), Min/Max/Sum/Mean-1/6/8/..., Where-9/16,
// Clip-1/6/11/12/13, Cast-1/6/9/13/19/21, CastLike-15/19/21, and the unary math ops.
#include "mixq/ir/op_schema.h"

namespace mixq::ir {
namespace {

// y has x's type: Relu, Exp, Softmax, Dropout output 0, ...
Status same_as_input(InferContext& ctx) { return propagate_type(ctx, 0, 0); }

// Identity also forwards tracked values and constants (it often sits in shape subgraphs).
Status infer_identity(InferContext& ctx) {
  MIXQ_RETURN_IF_ERROR(propagate_type(ctx, 0, 0));
  if (const auto* d = ctx.input_data(0)) ctx.set_output_data(0, *d);
  if (const Tensor* c = ctx.input_constant(0)) ctx.set_output_constant(0, *c);
  return Status::ok_status();
}

Status bool_like_input(InferContext& ctx) {
  ctx.set_output(0, DType::kBool, ctx.input_shape_opt(0));
  return Status::ok_status();
}

// Opsets before 7 broadcast B to A only when `broadcast` = 1 (and require equal shapes
// otherwise): the result has A's shape.
bool legacy_broadcast(const InferContext& ctx) { return ctx.opset() < 7; }

// Elementwise arithmetic on tracked integer values (shape arithmetic): scalar or same-length.
std::optional<std::vector<Dim>> combine_data(const std::vector<Dim>& a, const std::vector<Dim>& b,
                                             const std::string& op) {
  if (a.size() != b.size() && a.size() != 1 && b.size() != 1) return std::nullopt;
  const size_t n = std::max(a.size(), b.size());
  std::vector<Dim> out(n);
  for (size_t i = 0; i < n; ++i) {
    const Dim& x = a[a.size() == 1 ? 0 : i];
    const Dim& y = b[b.size() == 1 ? 0 : i];
    if (op == "Add") {
      out[i] = x + y;
    } else if (op == "Sub") {
      out[i] = x - y;
    } else if (op == "Mul") {
      out[i] = x * y;
    } else if (op == "Div") {
      // Integer division: exact quotients stay symbolic; known values truncate like C.
      if (x.is_known() && y.is_known() && y.value() != 0) {
        out[i] = Dim::known(x.value() / y.value());
      } else if (auto q = x.exact_div(y)) {
        out[i] = *q;
      }
    }
  }
  return out;
}

Status infer_binary(InferContext& ctx, DType out_dtype) {
  std::optional<Shape> shape;
  if (legacy_broadcast(ctx)) {
    shape = ctx.input_shape_opt(0);
  } else {
    MIXQ_ASSIGN_OR_RETURN(shape, broadcast_inputs(ctx, 0, 2));
  }
  ctx.set_output(0, out_dtype, std::move(shape));
  return Status::ok_status();
}

Status infer_arith(InferContext& ctx) {
  MIXQ_RETURN_IF_ERROR(infer_binary(ctx, first_known_dtype(ctx, 0, 2)));
  const auto* a = ctx.input_data(0);
  const auto* b = ctx.input_data(1);
  if (a && b && dtype_is_integer(ctx.input_dtype(0))) {
    if (auto d = combine_data(*a, *b, ctx.node().op_type())) ctx.set_output_data(0, *d);
  }
  return Status::ok_status();
}

// Pow: the result has the base's type (the exponent may differ since opset 12).
Status infer_pow(InferContext& ctx) { return infer_binary(ctx, ctx.input_dtype(0)); }

Status infer_compare(InferContext& ctx) { return infer_binary(ctx, DType::kBool); }

// PRelu: slope broadcasts to X (unidirectional): the result has X's shape.
Status infer_prelu(InferContext& ctx) { return propagate_type(ctx, 0, 0); }

// Min/Max/Sum/Mean: all inputs of one shape before opset 8, numpy broadcasting since.
Status infer_variadic(InferContext& ctx) {
  if (ctx.num_inputs() == 0) return ctx.fail("needs at least one input");
  std::optional<Shape> shape;
  if (ctx.opset() < 8) {
    shape = ctx.input_shape_opt(0);
  } else {
    MIXQ_ASSIGN_OR_RETURN(shape, broadcast_inputs(ctx));
  }
  ctx.set_output(0, first_known_dtype(ctx), std::move(shape));
  return Status::ok_status();
}

Status infer_where(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(auto shape, broadcast_inputs(ctx, 0, 3));
  ctx.set_output(0, first_known_dtype(ctx, 1, 3), std::move(shape));
  return Status::ok_status();
}

Status infer_dropout(InferContext& ctx) {
  MIXQ_RETURN_IF_ERROR(propagate_type(ctx, 0, 0));
  if (ctx.has_output(1)) {
    // The mask is bool since opset 10 (T1/T2), the input's type before.
    const DType mask = ctx.opset() >= 10 ? DType::kBool : ctx.input_dtype(0);
    ctx.set_output(1, mask, ctx.input_shape_opt(0));
  }
  return Status::ok_status();
}

Status infer_cast(InferContext& ctx) {
  const Attribute* to = ctx.node().attr("to");
  if (to == nullptr) return ctx.fail("required attribute 'to' is missing");
  std::optional<DType> dtype;
  if (to->type == AttrType::kString) {  // Cast-1..5 named the type
    dtype = dtype_from_onnx_name(to->s);
  } else if (to->type == AttrType::kInt) {
    dtype = dtype_from_onnx(static_cast<int32_t>(to->i));
  }
  if (!dtype) return ctx.fail("attribute 'to' does not name a data type");
  ctx.set_output(0, *dtype, ctx.input_shape_opt(0));
  // Casts between integer types keep tracked shape values (Shape -> Cast(int32) -> ...).
  if (dtype_is_integer(*dtype) && dtype_is_integer(ctx.input_dtype(0))) {
    if (const auto* d = ctx.input_data(0)) ctx.set_output_data(0, *d);
  }
  return Status::ok_status();
}

Status infer_castlike(InferContext& ctx) {
  ctx.set_output(0, ctx.input_dtype(1), ctx.input_shape_opt(0));
  return Status::ok_status();
}

}  // namespace

void register_elementwise_schemas(std::vector<OpSchema>& out) {
  // Unary ops whose output has the input's type, with the opset each first appeared in.
  const std::pair<std::string_view, int> unary[] = {
      {"Abs", 1},        {"Acos", 7},
      {"Acosh", 9},      {"Asin", 7},
      {"Asinh", 9},      {"Atan", 7},
      {"Atanh", 9},      {"BitwiseNot", 18},
      {"Ceil", 1},       {"Celu", 12},
      {"Cos", 7},        {"Cosh", 9},
      {"Elu", 1},        {"Erf", 9},
      {"Exp", 1},        {"Floor", 1},
      {"Gelu", 20},      {"HardSigmoid", 1},
      {"HardSwish", 14}, {"Hardmax", 1},
      {"LeakyRelu", 1},  {"Log", 1},
      {"LogSoftmax", 1}, {"LpNormalization", 1},
      {"LRN", 1},        {"MeanVarianceNormalization", 9},
      {"Mish", 18},      {"Neg", 1},
      {"Reciprocal", 1}, {"Relu", 1},
      {"Round", 11},     {"Selu", 1},
      {"Shrink", 9},     {"Sigmoid", 1},
      {"Sign", 9},       {"Sin", 7},
      {"Sinh", 9},       {"Softmax", 1},
      {"Softplus", 1},   {"Softsign", 1},
      {"Sqrt", 1},       {"Tan", 7},
      {"Tanh", 1},       {"ThresholdedRelu", 10},
      {"CumSum", 11},    {"Clip", 1},
  };
  for (const auto& [op, since] : unary) out.push_back({"", op, since, same_as_input});
  out.push_back({"", "Identity", 1, infer_identity});
  out.push_back({"", "Dropout", 1, infer_dropout});
  out.push_back({"", "IsNaN", 9, bool_like_input});
  out.push_back({"", "IsInf", 10, bool_like_input});
  out.push_back({"", "Not", 1, bool_like_input});

  for (std::string_view op : {"Add", "Sub", "Mul", "Div"}) out.push_back({"", op, 1, infer_arith});
  out.push_back({"", "Mod", 10, infer_arith});
  out.push_back({"", "Pow", 1, infer_pow});
  out.push_back({"", "PRelu", 1, infer_prelu});
  out.push_back({"", "BitShift", 11, infer_arith});
  for (std::string_view op : {"BitwiseAnd", "BitwiseOr", "BitwiseXor"}) {
    out.push_back({"", op, 18, infer_arith});
  }
  for (std::string_view op : {"And", "Or", "Xor", "Equal", "Less", "Greater"}) {
    out.push_back({"", op, 1, infer_compare});
  }
  out.push_back({"", "LessOrEqual", 12, infer_compare});
  out.push_back({"", "GreaterOrEqual", 12, infer_compare});
  for (std::string_view op : {"Min", "Max", "Sum", "Mean"}) {
    out.push_back({"", op, 1, infer_variadic});
  }
  out.push_back({"", "Where", 9, infer_where});
  out.push_back({"", "Cast", 1, infer_cast});
  out.push_back({"", "CastLike", 15, infer_castlike});
}

}  // namespace mixq::ir
