// Shape functions for the reductions: the Reduce* family, ArgMax/ArgMin and TopK.
// ONNX Operators.md / Changelog.md: ReduceMean, ReduceMax, ReduceMin, ReduceProd, ReduceL1,
// ReduceL2, ReduceSumSquare, ReduceLogSum, ReduceLogSumExp -1/11/13/18 (ReduceMax/Min also
// -12/20), ReduceSum-1/11/13; ArgMax/ArgMin-1/11/12/13; TopK-1/10/11.
// The axes of a reduction are an attribute up to ReduceSum-11 and the other Reduce*-13, and an
// optional input (with noop_with_empty_axes) from ReduceSum-13 and the others' version 18.
#include "mixq/ir/op_schema.h"

namespace mixq::ir {
namespace {

struct ReduceAxes {
  bool known = false;          // false: an axes input whose values are not known
  std::vector<int64_t> axes;   // empty: all axes (or none, with noop_with_empty_axes)
  bool noop_if_empty = false;  // noop_with_empty_axes = 1
};

Expected<ReduceAxes> reduce_axes(const InferContext& ctx) {
  ReduceAxes r;
  const int64_t input_since = ctx.node().op_type() == "ReduceSum" ? 13 : 18;
  if (ctx.opset() < input_since) {
    MIXQ_ASSIGN_OR_RETURN(auto a, ctx.attr_ints("axes"));
    r.known = true;
    r.axes = a.value_or(std::vector<int64_t>{});
    return r;
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t noop, ctx.attr_int("noop_with_empty_axes", 0));
  r.noop_if_empty = noop != 0;
  if (!ctx.has_input(1)) {
    r.known = true;
    return r;
  }
  if (const Shape* s = ctx.input_shape(1); s && s->size() > 1) {
    return ctx.fail("axes must be 1-D, has rank ", s->size());
  }
  if (auto a = ctx.input_ints(1)) {
    r.known = true;
    r.axes = std::move(*a);
  } else if (const Shape* s = ctx.input_shape(1);
             s && s->size() == 1 && (*s)[0].is_known() && (*s)[0].value() == 0) {
    r.known = true;  // an empty axes tensor needs no values
  }
  return r;
}

// Which of `rank` dims the axes name; duplicates name a dim once.
Expected<std::vector<bool>> reduced_dims(const InferContext& ctx, const std::vector<int64_t>& axes,
                                         size_t rank) {
  std::vector<bool> reduced(rank, axes.empty());
  for (int64_t a : axes) {
    MIXQ_ASSIGN_OR_RETURN(int64_t ax,
                          normalize_axis(ctx, a, static_cast<int64_t>(rank), "axes entry"));
    reduced[static_cast<size_t>(ax)] = true;
  }
  return reduced;
}

Status infer_reduce(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* in = ctx.input_shape(0);
  MIXQ_ASSIGN_OR_RETURN(int64_t keepdims, ctx.attr_int("keepdims", 1));
  MIXQ_ASSIGN_OR_RETURN(ReduceAxes ra, reduce_axes(ctx));
  if (ra.known && ra.axes.empty() && ra.noop_if_empty) {
    MIXQ_RETURN_IF_ERROR(propagate_type(ctx, 0, 0));
    if (const auto* d = ctx.input_data(0)) ctx.set_output_data(0, *d);
    return Status::ok_status();
  }
  if (in == nullptr) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  if (!ra.known) {
    // Which dims are reduced is unknown; with keepdims the rank still is, and dims of size 1
    // stay 1 either way.
    std::optional<Shape> out;
    if (keepdims != 0) {
      out = unknown_shape(in->size());
      for (size_t k = 0; k < in->size(); ++k) {
        if ((*in)[k].is_known() && (*in)[k].value() == 1) (*out)[k] = (*in)[k];
      }
    }
    ctx.set_output(0, dtype, std::move(out));
    return Status::ok_status();
  }
  MIXQ_ASSIGN_OR_RETURN(auto reduced, reduced_dims(ctx, ra.axes, in->size()));
  Shape out;
  for (size_t k = 0; k < in->size(); ++k) {
    if (!reduced[k]) {
      out.push_back((*in)[k]);
    } else if (keepdims != 0) {
      out.push_back(Dim::known(1));
    }
  }
  ctx.set_output(0, dtype, std::move(out));
  // ReduceProd/ReduceSum of a tracked 1-D shape (element counts in exported shape arithmetic).
  const std::string& op = ctx.node().op_type();
  const auto* values = ctx.input_data(0);
  if (values && in->size() == 1 && reduced[0] && (op == "ReduceProd" || op == "ReduceSum")) {
    Dim acc = Dim::known(op == "ReduceProd" ? 1 : 0);
    for (const Dim& v : *values) acc = op == "ReduceProd" ? acc * v : acc + v;
    ctx.set_output_data(0, {acc});
  }
  return Status::ok_status();
}

// ArgMax/ArgMin: int64 indices, the axis dropped or kept as 1.
Status infer_arg_reduce(InferContext& ctx) {
  const Shape* in = ctx.input_shape(0);
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", 0));
  MIXQ_ASSIGN_OR_RETURN(int64_t keepdims, ctx.attr_int("keepdims", 1));
  if (in == nullptr) {
    ctx.set_output(0, DType::kInt64, std::nullopt);
    return Status::ok_status();
  }
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, static_cast<int64_t>(in->size())));
  Shape out = *in;
  if (keepdims != 0) {
    out[static_cast<size_t>(axis)] = Dim::known(1);
  } else {
    out.erase(out.begin() + axis);
  }
  ctx.set_output(0, DType::kInt64, std::move(out));
  return Status::ok_status();
}

// TopK: values and int64 indices, the axis dim replaced by k (an attribute in TopK-1, a
// one-element input since TopK-10; from a constant or tracked value the dim is known).
Status infer_topk(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  Dim k;
  if (ctx.opset() < 10) {
    MIXQ_ASSIGN_OR_RETURN(int64_t kv, ctx.required_int("k"));
    k = Dim::known(kv);
  } else {
    if (const Shape* ks = ctx.input_shape(1)) {
      const Dim n = shape_numel(*ks);
      if (ks->size() > 1 || (n.is_known() && n.value() != 1)) {
        return ctx.fail("K must be a 1-D tensor of one element, has shape ", shape_to_string(*ks));
      }
    }
    if (const auto* d = ctx.input_data(1); d && d->size() == 1) k = (*d)[0];
  }
  if (k.is_known() && k.value() < 0) return ctx.fail("k is ", k.value(), ", must be >= 0");
  const Shape* in = ctx.input_shape(0);
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", -1));
  std::optional<Shape> out;
  if (in) {
    MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, static_cast<int64_t>(in->size())));
    out = *in;
    Dim& d = (*out)[static_cast<size_t>(axis)];
    if (d.is_known() && k.is_known() && k.value() > d.value()) {
      return ctx.fail("k is ", k.value(), " but axis ", axis, " has only ", d.value(), " elements");
    }
    d = k;
  }
  ctx.set_output(0, dtype, out);
  ctx.set_output(1, DType::kInt64, out);
  return Status::ok_status();
}

}  // namespace

void register_reduce_schemas(std::vector<OpSchema>& out) {
  for (std::string_view op :
       {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
        "ReduceSumSquare", "ReduceLogSumExp", "ReduceLogSum"}) {
    out.push_back({"", op, 1, infer_reduce});
  }
  out.push_back({"", "ArgMax", 1, infer_arg_reduce});
  out.push_back({"", "ArgMin", 1, infer_arg_reduce});
  out.push_back({"", "TopK", 1, infer_topk});
}

}  // namespace mixq::ir
