// Shape functions for the ops that compute and consume shapes: Shape, Size, Reshape, Concat,
// Gather, Unsqueeze, Squeeze, Slice, Constant, ConstantOfShape, Range, Expand, Flatten,
// Transpose. Besides output types they track the values of small integer tensors, so that
// symbolic dims survive the Shape -> Gather -> Concat -> Reshape chains exporters emit.
// ONNX Operators.md: Shape-1/13/15/19/21, Size-1/13/19/21, Reshape-1/5/13/14/19/21,
// Concat-1/4/11/13, Gather-1/11/13, Unsqueeze-1/11/13/21, Squeeze-1/11/13/21, Slice-1/10/11/13,
// Constant-1/9/11/12/13/19/21, ConstantOfShape-9/20/21, Range-11, Expand-8/13,
// Flatten-1/9/11/13/21, Transpose-1/13/21.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "mixq/ir/op_schema.h"

namespace mixq::ir {
namespace {

// Axes from the attribute (early opsets) or from input `input_index` (later opsets).
// nullopt: not known statically. An absent optional input gives an empty list.
Expected<std::optional<std::vector<int64_t>>> axes_arg(const InferContext& ctx, int input_since,
                                                       size_t input_index) {
  if (ctx.opset() >= input_since) {
    if (!ctx.has_input(input_index))
      return std::optional<std::vector<int64_t>>(std::vector<int64_t>{});
    return ctx.input_ints(input_index);
  }
  MIXQ_ASSIGN_OR_RETURN(auto a, ctx.attr_ints("axes"));
  return std::optional<std::vector<int64_t>>(a.value_or(std::vector<int64_t>{}));
}

Status infer_shape(InferContext& ctx) {
  const Shape* s = ctx.input_shape(0);
  if (s == nullptr) {
    ctx.set_output(0, DType::kInt64, Shape{Dim()});
    return Status::ok_status();
  }
  const auto rank = static_cast<int64_t>(s->size());
  MIXQ_ASSIGN_OR_RETURN(int64_t start, ctx.attr_int("start", 0));
  MIXQ_ASSIGN_OR_RETURN(int64_t end, ctx.attr_int("end", rank));
  if (ctx.opset() < 15) {
    start = 0;
    end = rank;
  }
  auto clamp = [&](int64_t v) {
    if (v < 0) v += rank;
    return std::clamp<int64_t>(v, 0, rank);
  };
  start = clamp(start);
  end = clamp(end);
  std::vector<Dim> data;
  for (int64_t k = start; k < end; ++k) data.push_back((*s)[static_cast<size_t>(k)]);
  ctx.set_output(0, DType::kInt64, Shape{Dim::known(static_cast<int64_t>(data.size()))});
  ctx.set_output_data(0, std::move(data));
  return Status::ok_status();
}

Status infer_size(InferContext& ctx) {
  ctx.set_output(0, DType::kInt64, Shape{});
  if (const Shape* s = ctx.input_shape(0)) ctx.set_output_data(0, {shape_numel(*s)});
  return Status::ok_status();
}

Status infer_reshape(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  std::optional<std::vector<Dim>> target;
  if (ctx.opset() < 5) {
    MIXQ_ASSIGN_OR_RETURN(auto attr, ctx.attr_ints("shape"));
    if (!attr) return ctx.fail("required attribute 'shape' is missing");
    target = std::vector<Dim>();
    for (int64_t v : *attr) target->push_back(Dim::known(v));
  } else if (const auto* d = ctx.input_data(1)) {
    target = *d;
  } else if (const Shape* ss = ctx.input_shape(1); ss && ss->size() == 1 && (*ss)[0].is_known()) {
    ctx.set_output(0, dtype, unknown_shape(static_cast<size_t>((*ss)[0].value())));
    return Status::ok_status();
  }
  if (!target) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t allowzero, ctx.attr_int("allowzero", 0));
  const Shape* in = ctx.input_shape(0);
  Shape out(target->size());
  int infer_at = -1;
  Dim known_product = Dim::known(1);
  for (size_t k = 0; k < target->size(); ++k) {
    const Dim& t = (*target)[k];
    if (t.is_known() && t.value() == -1) {
      if (infer_at >= 0) return ctx.fail("shape has more than one -1");
      infer_at = static_cast<int>(k);
      continue;
    }
    if (t.is_known() && t.value() < -1) return ctx.fail("shape has invalid value ", t.value());
    if (t.is_known() && t.value() == 0 && allowzero == 0) {
      if (in && k < in->size()) {
        out[k] = (*in)[k];
      } else if (in) {
        return ctx.fail("shape entry ", k, " is 0 (copy) but the input has rank ", in->size());
      }
    } else {
      out[k] = t;
    }
    known_product = known_product * out[k];
  }
  if (infer_at >= 0 && in) {
    if (auto q = shape_numel(*in).exact_div(known_product)) out[static_cast<size_t>(infer_at)] = *q;
  }
  if (in) {
    const Dim total_in = shape_numel(*in);
    const Dim total_out = shape_numel(out);
    if (total_in.is_known() && total_out.is_known() && total_in.value() != total_out.value()) {
      return ctx.fail("cannot reshape ", shape_to_string(*in), " (", total_in.value(),
                      " elements) to ", shape_to_string(out));
    }
  }
  ctx.set_output(0, dtype, std::move(out));
  if (const auto* d = ctx.input_data(0); d && target->size() <= 1) ctx.set_output_data(0, *d);
  return Status::ok_status();
}

Status infer_concat(InferContext& ctx) {
  const DType dtype = first_known_dtype(ctx);
  if (ctx.num_inputs() == 0) return ctx.fail("needs at least one input");
  const Attribute* axis_attr = ctx.node().attr("axis");
  if (axis_attr == nullptr && ctx.opset() >= 4)
    return ctx.fail("required attribute 'axis' is missing");
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", 1));
  std::optional<Shape> out;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Shape* s = ctx.input_shape(i);
    if (s == nullptr) {
      // Rank still follows from any known input; the concatenated dim becomes unknown below.
      continue;
    }
    if (!out) {
      out = *s;
      continue;
    }
    if (s->size() != out->size()) {
      return ctx.fail("input ", i, " has rank ", s->size(), ", input 0 has rank ", out->size());
    }
  }
  if (!out) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  const auto rank = static_cast<int64_t>(out->size());
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, rank));
  Dim sum = Dim::known(0);
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const Shape* s = ctx.input_shape(i);
    if (s == nullptr) {
      sum = Dim();
      continue;
    }
    for (int64_t k = 0; k < rank; ++k) {
      const Dim& d = (*s)[static_cast<size_t>(k)];
      Dim& o = (*out)[static_cast<size_t>(k)];
      if (k == axis) continue;
      if (d.is_known() && o.is_known() && d.value() != o.value()) {
        return ctx.fail("input ", i, " has dim ", k, " = ", d.value(), ", expected ", o.value());
      }
      if (o.is_unknown() || (!o.is_known() && d.is_known())) o = d;
    }
    sum = sum + (*s)[static_cast<size_t>(axis)];
  }
  (*out)[static_cast<size_t>(axis)] = sum;
  ctx.set_output(0, dtype, std::move(out));
  // Values of 1-D integer pieces concatenate (shape building).
  if (rank == 1 && dtype_is_integer(dtype)) {
    std::vector<Dim> data;
    for (size_t i = 0; i < ctx.num_inputs(); ++i) {
      const auto* d = ctx.input_data(i);
      if (d == nullptr) return Status::ok_status();
      data.insert(data.end(), d->begin(), d->end());
    }
    ctx.set_output_data(0, std::move(data));
  }
  return Status::ok_status();
}

Status infer_gather(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* data = ctx.input_shape(0);
  const Shape* indices = ctx.input_shape(1);
  if (data == nullptr || indices == nullptr) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  const auto rank = static_cast<int64_t>(data->size());
  if (rank == 0) return ctx.fail("data must have rank >= 1");
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", 0));
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, rank));
  Shape out(data->begin(), data->begin() + axis);
  out.insert(out.end(), indices->begin(), indices->end());
  out.insert(out.end(), data->begin() + axis + 1, data->end());
  ctx.set_output(0, dtype, std::move(out));
  // Gather of tracked values by known indices: picking dims out of a Shape.
  // (The indices are read only then: at run time they may be a large tensor.)
  const auto* values = ctx.input_data(0);
  const auto idx = values && rank == 1 && indices->size() <= 1 ? ctx.input_ints(1) : std::nullopt;
  if (idx) {
    std::vector<Dim> picked;
    const auto n = static_cast<int64_t>(values->size());
    for (int64_t i : *idx) {
      if (i < -n || i >= n) return ctx.fail("index ", i, " is out of range for ", n, " elements");
      picked.push_back((*values)[static_cast<size_t>(i < 0 ? i + n : i)]);
    }
    ctx.set_output_data(0, std::move(picked));
  }
  return Status::ok_status();
}

Status infer_unsqueeze(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  MIXQ_ASSIGN_OR_RETURN(auto axes, axes_arg(ctx, 13, 1));
  const Shape* in = ctx.input_shape(0);
  if (!in || !axes) {
    std::optional<Shape> out;
    if (in && !axes) {
      if (const Shape* as = ctx.input_shape(1); as && as->size() == 1 && (*as)[0].is_known()) {
        out = unknown_shape(in->size() + static_cast<size_t>((*as)[0].value()));
      }
    }
    ctx.set_output(0, dtype, out);
    return Status::ok_status();
  }
  const auto out_rank = static_cast<int64_t>(in->size() + axes->size());
  std::vector<bool> inserted(static_cast<size_t>(out_rank), false);
  for (int64_t a : *axes) {
    MIXQ_ASSIGN_OR_RETURN(int64_t ax, normalize_axis(ctx, a, out_rank, "axes entry"));
    if (inserted[static_cast<size_t>(ax)]) return ctx.fail("axes has ", a, " twice");
    inserted[static_cast<size_t>(ax)] = true;
  }
  Shape out;
  size_t next = 0;
  for (int64_t k = 0; k < out_rank; ++k) {
    out.push_back(inserted[static_cast<size_t>(k)] ? Dim::known(1) : (*in)[next++]);
  }
  ctx.set_output(0, dtype, out);
  if (const auto* d = ctx.input_data(0); d && in->empty() && out_rank == 1) {
    ctx.set_output_data(0, *d);
  }
  return Status::ok_status();
}

Status infer_squeeze(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  MIXQ_ASSIGN_OR_RETURN(auto axes, axes_arg(ctx, 13, 1));
  const Shape* in = ctx.input_shape(0);
  if (!in || !axes) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  const auto rank = static_cast<int64_t>(in->size());
  std::vector<bool> drop(in->size(), false);
  if (axes->empty()) {
    for (size_t k = 0; k < in->size(); ++k) {
      const Dim& d = (*in)[k];
      if (!d.is_known()) {  // might be 1: the rank is not known statically
        ctx.set_output(0, dtype, std::nullopt);
        return Status::ok_status();
      }
      drop[k] = d.value() == 1;
    }
  } else {
    for (int64_t a : *axes) {
      MIXQ_ASSIGN_OR_RETURN(int64_t ax, normalize_axis(ctx, a, rank, "axes entry"));
      const Dim& d = (*in)[static_cast<size_t>(ax)];
      if (d.is_known() && d.value() != 1) {
        return ctx.fail("cannot squeeze axis ", a, " of size ", d.value());
      }
      drop[static_cast<size_t>(ax)] = true;
    }
  }
  Shape out;
  for (size_t k = 0; k < in->size(); ++k) {
    if (!drop[k]) out.push_back((*in)[k]);
  }
  const bool to_scalar = out.empty();
  ctx.set_output(0, dtype, std::move(out));
  if (const auto* d = ctx.input_data(0); d && to_scalar && d->size() == 1)
    ctx.set_output_data(0, *d);
  return Status::ok_status();
}

// Output size of slicing a dim of size `dim` (ONNX Slice clamping rules).
int64_t slice_length(int64_t dim, int64_t start, int64_t end, int64_t step) {
  if (step > 0) {
    if (start < 0) start += dim;
    if (end < 0) end += dim;
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    return end > start ? (end - start + step - 1) / step : 0;
  }
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  start = std::clamp<int64_t>(start, 0, dim - 1);
  end = std::clamp<int64_t>(end, -1, dim - 1);
  return start > end ? (start - end + (-step) - 1) / (-step) : 0;
}

Status infer_slice(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* in = ctx.input_shape(0);
  std::optional<std::vector<int64_t>> starts, ends, axes, steps;
  if (ctx.opset() < 10) {
    MIXQ_ASSIGN_OR_RETURN(starts, ctx.attr_ints("starts"));
    MIXQ_ASSIGN_OR_RETURN(ends, ctx.attr_ints("ends"));
    MIXQ_ASSIGN_OR_RETURN(axes, ctx.attr_ints("axes"));
    if (!starts || !ends) return ctx.fail("attributes 'starts' and 'ends' are required");
  } else {
    starts = ctx.input_ints(1);
    ends = ctx.input_ints(2);
    if (ctx.has_input(3)) {
      axes = ctx.input_ints(3);
      if (!axes) {  // axes present but unknown: which dims change is unknown
        ctx.set_output(0, dtype,
                       in ? std::optional<Shape>(unknown_shape(in->size())) : std::nullopt);
        return Status::ok_status();
      }
    }
    if (ctx.has_input(4)) {
      steps = ctx.input_ints(4);
      if (!steps) starts.reset();  // unknown steps: sliced sizes are unknown
    }
  }
  if (!in) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  const auto rank = static_cast<int64_t>(in->size());
  if (!starts || !ends) {
    // Which axes are sliced is known when axes are; otherwise any dim may change.
    Shape out = *in;
    if (axes) {
      for (int64_t a : *axes) {
        MIXQ_ASSIGN_OR_RETURN(int64_t ax, normalize_axis(ctx, a, rank, "axes entry"));
        out[static_cast<size_t>(ax)] = Dim();
      }
    } else {
      out = unknown_shape(in->size());
    }
    ctx.set_output(0, dtype, std::move(out));
    return Status::ok_status();
  }
  if (starts->size() != ends->size()) return ctx.fail("starts and ends differ in length");
  if (!axes) {
    axes = std::vector<int64_t>(starts->size());
    std::iota(axes->begin(), axes->end(), 0);
  }
  if (axes->size() != starts->size()) return ctx.fail("axes and starts differ in length");
  if (steps && steps->size() != starts->size())
    return ctx.fail("steps and starts differ in length");
  Shape out = *in;
  std::vector<bool> seen(in->size(), false);
  struct Cut {
    int64_t start, end, step;
  };
  std::optional<Cut> cut0;
  for (size_t j = 0; j < axes->size(); ++j) {
    MIXQ_ASSIGN_OR_RETURN(int64_t ax, normalize_axis(ctx, (*axes)[j], rank, "axes entry"));
    if (seen[static_cast<size_t>(ax)]) return ctx.fail("axis ", (*axes)[j], " sliced twice");
    seen[static_cast<size_t>(ax)] = true;
    const int64_t step = steps ? (*steps)[j] : 1;
    if (step == 0) return ctx.fail("step is 0");
    if (ax == 0) cut0 = Cut{(*starts)[j], (*ends)[j], step};
    Dim& d = out[static_cast<size_t>(ax)];
    if (d.is_known()) {
      d = Dim::known(slice_length(d.value(), (*starts)[j], (*ends)[j], step));
    } else if (!(step == 1 && (*starts)[j] == 0 &&
                 (*ends)[j] >= std::numeric_limits<int32_t>::max())) {
      d = Dim();  // anything but the whole dim makes a symbolic size unknown
    }
  }
  ctx.set_output(0, dtype, out);
  // Slicing tracked values (e.g. Shape(x)[1:3]).
  const auto* values = ctx.input_data(0);
  if (values && rank == 1) {
    const auto n = static_cast<int64_t>(values->size());
    Cut c = cut0.value_or(Cut{0, n, 1});
    if (c.step > 0) {
      if (c.start < 0) c.start += n;
      if (c.end < 0) c.end += n;
      c.start = std::clamp<int64_t>(c.start, 0, n);
      c.end = std::clamp<int64_t>(c.end, 0, n);
      std::vector<Dim> picked;
      for (int64_t k = c.start; k < c.end; k += c.step)
        picked.push_back((*values)[static_cast<size_t>(k)]);
      ctx.set_output_data(0, std::move(picked));
    }
  }
  return Status::ok_status();
}

Status infer_constant(InferContext& ctx) {
  const Node& n = ctx.node();
  if (n.attributes().size() != 1) {
    return ctx.fail("needs exactly one value attribute, has ", n.attributes().size());
  }
  const Attribute& a = n.attributes()[0];
  Tensor t;
  if (a.name == "value") {
    t = a.t;
  } else if (a.name == "value_float") {
    t = Tensor::scalar_float(a.f);
  } else if (a.name == "value_floats") {
    t = Tensor::from_floats({static_cast<int64_t>(a.floats.size())}, a.floats);
  } else if (a.name == "value_int") {
    t = Tensor::from_int64s({}, {a.i});
  } else if (a.name == "value_ints") {
    t = Tensor::from_int64s({static_cast<int64_t>(a.ints.size())}, a.ints);
  } else if (a.name == "value_string") {
    MIXQ_ASSIGN_OR_RETURN(t, Tensor::from_strings({}, {a.s}));
  } else if (a.name == "value_strings") {
    MIXQ_ASSIGN_OR_RETURN(
        t, Tensor::from_strings({static_cast<int64_t>(a.strings.size())}, a.strings));
  } else if (a.name == "sparse_value") {
    return Status::ok_status();  // kept opaque: the type stays as declared
  } else {
    return ctx.fail("unknown attribute '", a.name, "'");
  }
  ctx.set_output(0, t.dtype(), shape_from_ints(t.dims()));
  ctx.set_output_constant(0, std::move(t));
  return Status::ok_status();
}

Status infer_constant_of_shape(InferContext& ctx) {
  DType dtype = DType::kFloat32;
  if (const Attribute* v = ctx.node().attr("value")) {
    if (v->type != AttrType::kTensor) return ctx.fail("attribute 'value' must be a tensor");
    if (v->t.numel() != 1) return ctx.fail("attribute 'value' must have one element");
    dtype = v->t.dtype();
  }
  if (const auto* d = ctx.input_data(0)) {
    for (const Dim& x : *d) {
      if (x.is_known() && x.value() < 0) return ctx.fail("negative dimension ", x.value());
    }
    ctx.set_output(0, dtype, Shape(d->begin(), d->end()));
  } else if (const Shape* s = ctx.input_shape(0); s && s->size() == 1 && (*s)[0].is_known()) {
    ctx.set_output(0, dtype, unknown_shape(static_cast<size_t>((*s)[0].value())));
  } else {
    ctx.set_output(0, dtype, std::nullopt);
  }
  return Status::ok_status();
}

Status infer_range(InferContext& ctx) {
  const DType dtype = first_known_dtype(ctx, 0, 3);
  const Tensor* start = ctx.input_constant(0);
  const Tensor* limit = ctx.input_constant(1);
  const Tensor* delta = ctx.input_constant(2);
  Dim length;
  if (start && limit && delta && start->numel() == 1 && limit->numel() == 1 &&
      delta->numel() == 1) {
    const double s = start->element_as_double(0);
    const double l = limit->element_as_double(0);
    const double d = delta->element_as_double(0);
    if (d == 0) return ctx.fail("delta is 0");
    length = Dim::known(std::max<int64_t>(0, static_cast<int64_t>(std::ceil((l - s) / d))));
    if (dtype_is_integer(dtype) && length.value() <= 64) {
      std::vector<Dim> values;
      for (int64_t k = 0; k < length.value(); ++k) {
        values.push_back(Dim::known(start->element_as_int64(0) + k * delta->element_as_int64(0)));
      }
      ctx.set_output_data(0, std::move(values));
    }
  }
  ctx.set_output(0, dtype, Shape{length});
  return Status::ok_status();
}

Status infer_expand(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* in = ctx.input_shape(0);
  const auto* target = ctx.input_data(1);
  if (in && target) {
    MIXQ_ASSIGN_OR_RETURN(Shape out,
                          broadcast_shapes(ctx, *in, Shape(target->begin(), target->end())));
    ctx.set_output(0, dtype, std::move(out));
  } else if (const Shape* ts = ctx.input_shape(1);
             in && ts && ts->size() == 1 && (*ts)[0].is_known()) {
    ctx.set_output(0, dtype,
                   unknown_shape(std::max(in->size(), static_cast<size_t>((*ts)[0].value()))));
  } else {
    ctx.set_output(0, dtype, std::nullopt);
  }
  return Status::ok_status();
}

Status infer_flatten(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* in = ctx.input_shape(0);
  if (!in) {
    ctx.set_output(0, dtype, unknown_shape(2));
    return Status::ok_status();
  }
  const auto rank = static_cast<int64_t>(in->size());
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", 1));
  if (axis < -rank || axis > rank) return ctx.fail("axis ", axis, " out of range for rank ", rank);
  if (axis < 0) axis += rank;
  Dim outer = Dim::known(1), inner = Dim::known(1);
  for (int64_t k = 0; k < rank; ++k) {
    (k < axis ? outer : inner) = (k < axis ? outer : inner) * (*in)[static_cast<size_t>(k)];
  }
  ctx.set_output(0, dtype, Shape{outer, inner});
  return Status::ok_status();
}

Status infer_transpose(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* in = ctx.input_shape(0);
  MIXQ_ASSIGN_OR_RETURN(auto perm, ctx.attr_ints("perm"));
  if (!in) {
    ctx.set_output(0, dtype,
                   perm ? std::optional<Shape>(unknown_shape(perm->size())) : std::nullopt);
    return Status::ok_status();
  }
  const size_t rank = in->size();
  if (!perm) {
    perm = std::vector<int64_t>(rank);
    for (size_t k = 0; k < rank; ++k) (*perm)[k] = static_cast<int64_t>(rank - 1 - k);
  }
  if (perm->size() != rank) return ctx.fail("perm has ", perm->size(), " entries for rank ", rank);
  std::vector<bool> used(rank, false);
  Shape out;
  for (int64_t p : *perm) {
    if (p < 0 || p >= static_cast<int64_t>(rank) || used[static_cast<size_t>(p)]) {
      return ctx.fail("perm is not a permutation of 0..", rank - 1);
    }
    used[static_cast<size_t>(p)] = true;
    out.push_back((*in)[static_cast<size_t>(p)]);
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

}  // namespace

void register_shape_ops_schemas(std::vector<OpSchema>& out) {
  out.push_back({"", "Shape", 1, infer_shape});
  out.push_back({"", "Size", 1, infer_size});
  out.push_back({"", "Reshape", 1, infer_reshape});
  out.push_back({"", "Concat", 1, infer_concat});
  out.push_back({"", "Gather", 1, infer_gather});
  out.push_back({"", "Unsqueeze", 1, infer_unsqueeze});
  out.push_back({"", "Squeeze", 1, infer_squeeze});
  out.push_back({"", "Slice", 1, infer_slice});
  out.push_back({"", "Constant", 1, infer_constant});
  out.push_back({"", "ConstantOfShape", 9, infer_constant_of_shape});
  out.push_back({"", "Range", 11, infer_range});
  out.push_back({"", "Expand", 8, infer_expand});
  out.push_back({"", "Flatten", 1, infer_flatten});
  out.push_back({"", "Transpose", 1, infer_transpose});
}

}  // namespace mixq::ir
