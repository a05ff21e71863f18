// Shape functions for linear quantization: QuantizeLinear, DequantizeLinear and
// DynamicQuantizeLinear, with the scale/zero-point granularity checks the spec makes definite.
// ONNX Operators.md / Changelog.md:
//   QuantizeLinear-10/13/19/21: y = saturate(round(x / y_scale) + y_zero_point); y has x's shape
//     and y_zero_point's type (19 adds float8, 21 adds int4/uint4/int16/uint16, block_size and
//     output_dtype; without either, uint8).
//   DequantizeLinear-10/13/19/21: y = (x - x_zero_point) * x_scale; float32 until 19, the
//     scale's type since.
//   DynamicQuantizeLinear-11: y uint8 with x's shape, y_scale float32 scalar, y_zero_point uint8
//     scalar.
// Granularity (13+): scale scalar = per-tensor, 1-D of length x.shape[axis] = per-axis; since 21
// with block_size B > 0, scale has x's rank and dims except ceil(x.shape[axis] / B) on the axis.
// The zero point, when present, has the scale's shape.
#include "mixq/ir/op_schema.h"

namespace mixq::ir {
namespace {

bool is_one(const Dim& d) { return d.is_known() && d.value() == 1; }

// A scalar or a 1-D tensor of one element: per-tensor quantization. (Opset 10 said "scalar";
// exporters write [1] as often as [], and runtimes take both.)
bool per_tensor_shape(const Shape& s) { return s.empty() || (s.size() == 1 && is_one(s[0])); }

// Checks the scale (input 1) and zero point (input 2) against x (input 0).
Status check_scale_shapes(const InferContext& ctx) {
  const Shape* x = ctx.input_shape(0);
  const Shape* scale = ctx.input_shape(1);
  const Shape* zp = ctx.input_shape(2);
  int64_t block_size = 0;
  if (ctx.opset() >= 21) {
    MIXQ_ASSIGN_OR_RETURN(block_size, ctx.attr_int("block_size", 0));
    if (block_size < 0) return ctx.fail("block_size is ", block_size, ", must be >= 0");
  }
  if (scale && zp && !(per_tensor_shape(*scale) && per_tensor_shape(*zp))) {
    bool same = scale->size() == zp->size();
    for (size_t k = 0; same && k < scale->size(); ++k) {
      const Dim& a = (*scale)[k];
      const Dim& b = (*zp)[k];
      same = !(a.is_known() && b.is_known() && a.value() != b.value());
    }
    if (!same) {
      return ctx.fail("zero point shape ", shape_to_string(*zp), " differs from scale shape ",
                      shape_to_string(*scale));
    }
  }
  const Shape* s = scale ? scale : zp;
  if (s == nullptr) return Status::ok_status();
  const char* what = s == scale ? "scale" : "zero point";
  if (block_size > 0) {
    if (x == nullptr) return Status::ok_status();
    if (s->size() != x->size()) {
      return ctx.fail("blocked quantization needs a ", what, " of x's rank ", x->size(),
                      ", has shape ", shape_to_string(*s));
    }
    MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", 1));
    MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, static_cast<int64_t>(x->size())));
    for (size_t k = 0; k < x->size(); ++k) {
      Dim want = (*x)[k];
      if (static_cast<int64_t>(k) == axis) {
        want = want.is_known() ? Dim::known((want.value() + block_size - 1) / block_size) : Dim();
      }
      const Dim& have = (*s)[k];
      if (want.is_known() && have.is_known() && want.value() != have.value()) {
        return ctx.fail(what, " shape ", shape_to_string(*s), " does not block x shape ",
                        shape_to_string(*x), " with block_size ", block_size, " on axis ", axis);
      }
    }
    return Status::ok_status();
  }
  if (per_tensor_shape(*s)) return Status::ok_status();
  if (s->size() > 1) {
    return ctx.fail(what, " must be a scalar or 1-D, has shape ", shape_to_string(*s),
                    ctx.opset() >= 21 ? " (blocked quantization needs block_size)" : "");
  }
  if (ctx.opset() < 13) {
    return ctx.fail(what, " must be a scalar before opset 13, has shape ", shape_to_string(*s));
  }
  // Per-axis.
  if (x == nullptr) return Status::ok_status();
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", 1));
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, static_cast<int64_t>(x->size())));
  const Dim& d = (*x)[static_cast<size_t>(axis)];
  if (d.is_known() && (*s)[0].is_known() && d.value() != (*s)[0].value()) {
    return ctx.fail("per-axis ", what, " has ", (*s)[0].value(), " entries, but x has ", d.value(),
                    " along axis ", axis);
  }
  return Status::ok_status();
}

Expected<DType> quantized_dtype(const InferContext& ctx) {
  const DType zp = ctx.has_input(2) ? ctx.input_dtype(2) : DType::kUndefined;
  if (ctx.opset() >= 21) {
    MIXQ_ASSIGN_OR_RETURN(int64_t od, ctx.attr_int("output_dtype", 0));
    if (od != 0) {
      const auto t = dtype_from_onnx(static_cast<int32_t>(od));
      if (!t || *t == DType::kUndefined) {
        return ctx.fail("attribute 'output_dtype' = ", od, " is not a data type");
      }
      if (zp != DType::kUndefined && zp != *t) {
        return ctx.fail("output_dtype ", dtype_name(*t), " differs from the zero point's type ",
                        dtype_name(zp));
      }
      return *t;
    }
  }
  if (ctx.has_input(2)) return zp;  // kUndefined when the zero point's type is not known
  return DType::kUint8;
}

Status infer_quantize(InferContext& ctx) {
  MIXQ_RETURN_IF_ERROR(check_scale_shapes(ctx));
  MIXQ_ASSIGN_OR_RETURN(DType dtype, quantized_dtype(ctx));
  ctx.set_output(0, dtype, ctx.input_shape_opt(0));
  return Status::ok_status();
}

Status infer_dequantize(InferContext& ctx) {
  MIXQ_RETURN_IF_ERROR(check_scale_shapes(ctx));
  const DType x = ctx.input_dtype(0);
  const DType zp = ctx.input_dtype(2);
  if (ctx.has_input(2) && x != DType::kUndefined && zp != DType::kUndefined && x != zp) {
    return ctx.fail("zero point is ", dtype_name(zp), " but x is ", dtype_name(x));
  }
  const DType out = ctx.opset() >= 19 ? ctx.input_dtype(1) : DType::kFloat32;
  ctx.set_output(0, out, ctx.input_shape_opt(0));
  return Status::ok_status();
}

Status infer_dynamic_quantize(InferContext& ctx) {
  ctx.set_output(0, DType::kUint8, ctx.input_shape_opt(0));
  ctx.set_output(1, DType::kFloat32, Shape{});
  ctx.set_output(2, DType::kUint8, Shape{});
  return Status::ok_status();
}

}  // namespace

void register_quant_schemas(std::vector<OpSchema>& out) {
  out.push_back({"", "QuantizeLinear", 10, infer_quantize});
  out.push_back({"", "DequantizeLinear", 10, infer_dequantize});
  out.push_back({"", "DynamicQuantizeLinear", 11, infer_dynamic_quantize});
}

}  // namespace mixq::ir
