// Shape functions for the tensor-manipulation ops that are not shape computations: Split, the
// Gather/Scatter element and ND forms, Tile, Trilu, NonZero, OneHot, EyeLike, Compress, Unique,
// ReverseSequence, Det, and the random generators.
// ONNX Operators.md / Changelog.md: Split-1/2/11/13/18, GatherElements-11/13, GatherND-11/12/13,
// ScatterND-11/13/16/18, ScatterElements-11/13/16/18, Scatter-9/11 (deprecated), Tile-1/6/13,
// Trilu-14, NonZero-9/13, OneHot-9/11, EyeLike-9, Compress-9/11, Unique-11, ReverseSequence-10,
// Det-11, RandomNormal-1, RandomUniform-1, RandomNormalLike-1, RandomUniformLike-1,
// Bernoulli-15, Multinomial-7.
#include <algorithm>

#include "mixq/ir/op_schema.h"

namespace mixq::ir {
namespace {

// The output dtype named by an integer `dtype` attribute; `fallback` when the attribute is absent.
Expected<DType> dtype_attr(const InferContext& ctx, std::string_view name, DType fallback) {
  const Attribute* a = ctx.node().attr(name);
  if (a == nullptr) return fallback;
  MIXQ_ASSIGN_OR_RETURN(int64_t v, ctx.attr_int(name, 0));
  const auto t = dtype_from_onnx(static_cast<int32_t>(v));
  if (!t || *t == DType::kUndefined) {
    return ctx.fail("attribute '", name, "' = ", v, " is not a data type");
  }
  return *t;
}

// Sizes of the Split outputs along the split dim `dim`, unknown where not known statically.
// Known sizes are checked against the split dim; symbolic sizes (tracked from Shape arithmetic)
// pass through.
Expected<std::vector<Dim>> split_sizes(const InferContext& ctx, const Dim& dim,
                                       size_t num_outputs) {
  const int64_t opset = ctx.opset();
  const bool input_form = opset >= 13 || (opset == 1 && ctx.has_input(1));
  if (opset >= 18 && ctx.has_input(1) && ctx.node().attr("num_outputs") != nullptr) {
    return ctx.fail("has both the 'split' input and the 'num_outputs' attribute");
  }
  std::optional<std::vector<Dim>> given;
  if (input_form && ctx.has_input(1)) {
    if (const auto* d = ctx.input_data(1)) {
      given = *d;
    } else if (const Tensor* c = ctx.input_constant(1)) {  // Split-1 allowed a float list
      given = std::vector<Dim>();
      for (int64_t k = 0; k < c->numel(); ++k) given->push_back(Dim::known(c->element_as_int64(k)));
    } else {
      return std::vector<Dim>(num_outputs);  // one unknown size per output
    }
  } else if (!input_form) {
    MIXQ_ASSIGN_OR_RETURN(auto attr, ctx.attr_ints("split"));
    if (attr) given = std::vector<Dim>(shape_from_ints(*attr));
  }
  if (given) {
    if (given->size() != num_outputs) {
      return ctx.fail("split has ", given->size(), " entries for ", num_outputs, " outputs");
    }
    Dim sum = Dim::known(0);
    for (const Dim& s : *given) {
      if (s.is_known() && s.value() < 0) return ctx.fail("split has negative size ", s.value());
      sum = sum + s;
    }
    if (sum.is_known() && dim.is_known() && sum.value() != dim.value()) {
      return ctx.fail("split sizes sum to ", sum.value(), ", but the dim being split is ",
                      dim.value());
    }
    return std::move(*given);
  }
  // No sizes: equal parts. Since opset 18 the count comes from `num_outputs` and the last part
  // may be smaller; before, the dim must divide evenly.
  int64_t n = static_cast<int64_t>(num_outputs);
  bool uneven_ok = false;
  if (opset >= 18) {
    const Attribute* no = ctx.node().attr("num_outputs");
    if (no == nullptr) return ctx.fail("needs the 'split' input or the 'num_outputs' attribute");
    MIXQ_ASSIGN_OR_RETURN(n, ctx.attr_int("num_outputs", 0));
    if (n < 1) return ctx.fail("num_outputs is ", n, ", must be >= 1");
    if (n != static_cast<int64_t>(num_outputs)) {
      return ctx.fail("num_outputs is ", n, " but the node has ", num_outputs, " outputs");
    }
    uneven_ok = true;
  }
  if (n == 0) return ctx.fail("has no outputs");
  std::vector<Dim> sizes(static_cast<size_t>(n));
  if (dim.is_known()) {
    const int64_t d = dim.value();
    if (d % n == 0) {
      std::fill(sizes.begin(), sizes.end(), Dim::known(d / n));
    } else if (!uneven_ok) {
      return ctx.fail("dim of size ", d, " does not split evenly into ", n, " outputs");
    } else {
      const int64_t chunk = d / n + 1;
      const int64_t last = d - chunk * (n - 1);
      if (last < 0) {
        return ctx.fail("dim of size ", d, " cannot be split into ", n, " chunks of size ", chunk,
                        " with a smaller last chunk");
      }
      std::fill(sizes.begin(), sizes.end(), Dim::known(chunk));
      sizes.back() = Dim::known(last);
    }
  } else if (auto q = dim.exact_div(Dim::known(n))) {
    std::fill(sizes.begin(), sizes.end(), *q);  // "seq*4" in 2 parts: each "seq*2"
  }
  return sizes;
}

Status infer_split(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const size_t n = ctx.num_outputs();
  const Shape* in = ctx.input_shape(0);
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", 0));
  if (in == nullptr) {
    for (size_t i = 0; i < n; ++i) ctx.set_output(i, dtype, std::nullopt);
    return Status::ok_status();
  }
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, static_cast<int64_t>(in->size())));
  const auto ax = static_cast<size_t>(axis);
  MIXQ_ASSIGN_OR_RETURN(auto sizes, split_sizes(ctx, (*in)[ax], n));
  const auto* values = ctx.input_data(0);
  size_t offset = 0;
  for (size_t i = 0; i < n; ++i) {
    Shape out = *in;
    out[ax] = sizes[i];
    ctx.set_output(i, dtype, out);
    // Splitting tracked values (a Shape result) keeps them for the pieces.
    if (values && in->size() == 1 && out[0].is_known() &&
        offset + static_cast<size_t>(out[0].value()) <= values->size()) {
      const auto len = static_cast<size_t>(out[0].value());
      const auto first = values->begin() + static_cast<std::ptrdiff_t>(offset);
      ctx.set_output_data(i, std::vector<Dim>(first, first + static_cast<std::ptrdiff_t>(len)));
      offset += len;
    } else {
      values = nullptr;
    }
  }
  return Status::ok_status();
}

// GatherElements: the output has the indices' shape; both inputs have the same rank.
Status infer_gather_elements(InferContext& ctx) {
  const Shape* data = ctx.input_shape(0);
  const Shape* indices = ctx.input_shape(1);
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", 0));
  if (data) {
    if (data->empty()) return ctx.fail("data must have rank >= 1");
    MIXQ_RETURN_IF_ERROR(normalize_axis(ctx, axis, static_cast<int64_t>(data->size())).status());
    if (indices && indices->size() != data->size()) {
      return ctx.fail("indices have rank ", indices->size(), ", data has rank ", data->size());
    }
  }
  ctx.set_output(0, ctx.input_dtype(0), ctx.input_shape_opt(1));
  return Status::ok_status();
}

// GatherND: indices[..., k] address the first k dims after the batch dims; the output is
// indices.shape[:-1] + data.shape[batch_dims + k:].
Status infer_gather_nd(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* data = ctx.input_shape(0);
  const Shape* indices = ctx.input_shape(1);
  MIXQ_ASSIGN_OR_RETURN(int64_t b, ctx.attr_int("batch_dims", 0));
  if (ctx.opset() < 12) b = 0;
  if (b < 0) return ctx.fail("batch_dims is ", b, ", must be >= 0");
  if (data == nullptr || indices == nullptr) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  const auto r = static_cast<int64_t>(data->size());
  const auto q = static_cast<int64_t>(indices->size());
  if (r < 1 || q < 1) return ctx.fail("data and indices must have rank >= 1");
  if (b >= std::min(r, q)) {
    return ctx.fail("batch_dims ", b, " must be less than both ranks (", r, ", ", q, ")");
  }
  for (int64_t k = 0; k < b; ++k) {
    const Dim& dd = (*data)[static_cast<size_t>(k)];
    const Dim& di = (*indices)[static_cast<size_t>(k)];
    if (dd.is_known() && di.is_known() && dd.value() != di.value()) {
      return ctx.fail("batch dim ", k, " is ", dd.value(), " in data but ", di.value(),
                      " in indices");
    }
  }
  const Dim& last = indices->back();
  if (!last.is_known()) {
    ctx.set_output(0, dtype, std::nullopt);  // the rank depends on the tuple length
    return Status::ok_status();
  }
  const int64_t k = last.value();
  if (k < 1 || k > r - b) {
    return ctx.fail("indices tuples have length ", k, ", must be in [1, ", r - b, "]");
  }
  Shape out(indices->begin(), indices->end() - 1);
  for (int64_t j = 0; j < b; ++j) {  // batch dims: take the better-known of the two
    Dim& o = out[static_cast<size_t>(j)];
    if (!o.is_known() && !(*data)[static_cast<size_t>(j)].is_unknown()) {
      o = (*data)[static_cast<size_t>(j)];
    }
  }
  out.insert(out.end(), data->begin() + b + k, data->end());
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

// ScatterND: output is data; updates.shape must be indices.shape[:-1] + data.shape[k:].
Status infer_scatter_nd(InferContext& ctx) {
  const Shape* data = ctx.input_shape(0);
  const Shape* indices = ctx.input_shape(1);
  const Shape* updates = ctx.input_shape(2);
  if (data && indices && updates && !indices->empty() && indices->back().is_known()) {
    const auto r = static_cast<int64_t>(data->size());
    const auto q = static_cast<int64_t>(indices->size());
    const int64_t k = indices->back().value();
    if (k > r) return ctx.fail("indices tuples have length ", k, " for data of rank ", r);
    if (static_cast<int64_t>(updates->size()) != q - 1 + r - k) {
      return ctx.fail("updates have rank ", updates->size(), ", expected ", q - 1 + r - k);
    }
  }
  return propagate_type(ctx, 0, 0);
}

// ScatterElements (and the deprecated Scatter): data, indices and updates share one rank.
Status infer_scatter_elements(InferContext& ctx) {
  const Shape* data = ctx.input_shape(0);
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", 0));
  if (data) {
    if (data->empty()) return ctx.fail("data must have rank >= 1");
    MIXQ_RETURN_IF_ERROR(normalize_axis(ctx, axis, static_cast<int64_t>(data->size())).status());
    for (size_t i = 1; i <= 2; ++i) {
      const Shape* s = ctx.input_shape(i);
      if (s && s->size() != data->size()) {
        return ctx.fail("input ", i, " has rank ", s->size(), ", data has rank ", data->size());
      }
    }
  }
  return propagate_type(ctx, 0, 0);
}

Status infer_tile(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* in = ctx.input_shape(0);
  if (in == nullptr) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  Shape out = *in;
  if (ctx.opset() < 6) {
    // Tile-1: scalar `tiles` copies along the scalar `axis` input.
    const auto tiles = ctx.input_ints(1);
    const auto axis = ctx.input_ints(2);
    if (!axis || axis->size() != 1) {
      ctx.set_output(0, dtype, unknown_shape(in->size()));
      return Status::ok_status();
    }
    MIXQ_ASSIGN_OR_RETURN(int64_t ax,
                          normalize_axis(ctx, (*axis)[0], static_cast<int64_t>(in->size())));
    Dim& d = out[static_cast<size_t>(ax)];
    d = tiles && tiles->size() == 1 ? d * Dim::known((*tiles)[0]) : Dim();
    ctx.set_output(0, dtype, std::move(out));
    return Status::ok_status();
  }
  const Shape* rs = ctx.input_shape(1);
  if (rs && rs->size() != 1) return ctx.fail("repeats must be 1-D, has rank ", rs->size());
  if (rs && (*rs)[0].is_known() && (*rs)[0].value() != static_cast<int64_t>(in->size())) {
    return ctx.fail("repeats has ", (*rs)[0].value(), " entries for input rank ", in->size());
  }
  const auto* repeats = ctx.input_data(1);
  if (repeats && repeats->size() != in->size()) {
    return ctx.fail("repeats has ", repeats->size(), " entries for input rank ", in->size());
  }
  for (size_t k = 0; k < out.size(); ++k) {
    if (repeats == nullptr) {
      out[k] = Dim();
      continue;
    }
    const Dim& r = (*repeats)[k];
    if (r.is_known() && r.value() < 0) return ctx.fail("repeats has negative value ", r.value());
    out[k] = out[k] * r;
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

// An op whose output has the input's type and that needs rank >= `min_rank`.
Status same_shape_min_rank(InferContext& ctx, size_t min_rank) {
  const Shape* in = ctx.input_shape(0);
  if (in && in->size() < min_rank) {
    return ctx.fail("input has rank ", in->size(), ", needs rank >= ", min_rank);
  }
  return propagate_type(ctx, 0, 0);
}

Status infer_trilu(InferContext& ctx) { return same_shape_min_rank(ctx, 2); }

// Non-zero elements of a numeric tensor. Runs on every NonZero at execution time, so the common
// types are read directly rather than through element_as_double.
int64_t count_nonzero(const Tensor& t) {
  const int64_t n = t.numel();
  const auto count_bits = [&](auto tag, auto mask) {
    using T = decltype(tag);
    const T* p = t.data<T>();
    int64_t c = 0;
    for (int64_t k = 0; k < n; ++k) c += (p[k] & mask) != 0 ? 1 : 0;
    return c;
  };
  switch (t.dtype()) {
    case DType::kFloat32:  // +-0 is zero: ignore the sign bit
      return count_bits(uint32_t{}, uint32_t{0x7fffffffu});
    case DType::kFloat64:
      return count_bits(uint64_t{}, uint64_t{0x7fffffffffffffffull});
    case DType::kFloat16:
    case DType::kBFloat16:
      return count_bits(uint16_t{}, uint16_t{0x7fff});
    case DType::kInt64:
    case DType::kUint64:
      return count_bits(uint64_t{}, ~uint64_t{0});
    case DType::kInt32:
    case DType::kUint32:
      return count_bits(uint32_t{}, ~uint32_t{0});
    case DType::kInt8:
    case DType::kUint8:
    case DType::kBool:
      return count_bits(uint8_t{}, uint8_t{0xff});
    default: {
      int64_t c = 0;
      for (int64_t k = 0; k < n; ++k) c += t.element_as_double(k) != 0.0 ? 1 : 0;
      return c;
    }
  }
}

// NonZero: [rank, number of non-zeros]; the count is known only for a constant input.
Status infer_nonzero(InferContext& ctx) {
  const Shape* in = ctx.input_shape(0);
  Dim count;
  if (const Tensor* c = ctx.input_constant(0); c && c->dtype() != DType::kString) {
    count = Dim::known(count_nonzero(*c));
  }
  // For a scalar, ONNX's own inference says 0 rows while runtimes (NumPy, ONNX Runtime) treat
  // it as 1-D and return 1: leave that dim open rather than pick one.
  const Dim rank = in && !in->empty() ? Dim::known(static_cast<int64_t>(in->size())) : Dim();
  ctx.set_output(0, DType::kInt64, Shape{rank, count});
  return Status::ok_status();
}

// OneHot: a `depth`-sized dim is inserted into the indices' shape at `axis`.
Status infer_onehot(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(2);
  if (const Shape* vs = ctx.input_shape(2)) {
    if (vs->size() != 1 || ((*vs)[0].is_known() && (*vs)[0].value() != 2)) {
      return ctx.fail("values must be a 1-D tensor of 2 elements, has shape ",
                      shape_to_string(*vs));
    }
  }
  if (const Shape* ds = ctx.input_shape(1)) {
    if (ds->size() > 1 || (ds->size() == 1 && (*ds)[0].is_known() && (*ds)[0].value() != 1)) {
      return ctx.fail("depth must have one element, has shape ", shape_to_string(*ds));
    }
  }
  const Shape* in = ctx.input_shape(0);
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", -1));
  if (in == nullptr) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  const auto out_rank = static_cast<int64_t>(in->size()) + 1;
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, out_rank));
  Dim depth;
  if (const auto* d = ctx.input_data(1); d && d->size() == 1) {
    depth = (*d)[0];
  } else if (const Tensor* c = ctx.input_constant(1); c && c->numel() == 1) {
    depth = Dim::known(c->element_as_int64(0));  // a float depth is cast to int64
  }
  if (depth.is_known() && depth.value() < 1) return ctx.fail("depth is ", depth.value());
  Shape out = *in;
  out.insert(out.begin() + axis, depth);
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

Status infer_eyelike(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(DType dtype, dtype_attr(ctx, "dtype", ctx.input_dtype(0)));
  const Shape* in = ctx.input_shape(0);
  if (in && in->size() != 2) return ctx.fail("input must have rank 2, has rank ", in->size());
  ctx.set_output(0, dtype, in ? std::optional<Shape>(*in) : unknown_shape(2));
  return Status::ok_status();
}

// Compress: keeps the slices whose condition is true. Without `axis` the input is flattened.
Status infer_compress(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* in = ctx.input_shape(0);
  if (const Shape* cs = ctx.input_shape(1); cs && cs->size() != 1) {
    return ctx.fail("condition must be 1-D, has rank ", cs->size());
  }
  // Condition entries past the selected length are ignored, so a known count needs that length.
  const Tensor* cond = ctx.input_constant(1);
  auto count_true = [&](const Dim& length) {
    if (cond == nullptr || !length.is_known()) return Dim();
    int64_t n = 0;
    for (int64_t k = 0; k < std::min(cond->numel(), length.value()); ++k) {
      n += cond->element_as_int64(k) != 0 ? 1 : 0;
    }
    return Dim::known(n);
  };
  if (ctx.node().attr("axis") == nullptr) {
    ctx.set_output(0, dtype, Shape{in ? count_true(shape_numel(*in)) : Dim()});
    return Status::ok_status();
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", 0));
  if (in == nullptr) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, static_cast<int64_t>(in->size())));
  Shape out = *in;
  out[static_cast<size_t>(axis)] = count_true(out[static_cast<size_t>(axis)]);
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

// Unique: Y, indices, inverse_indices, counts. Without `axis` the input is flattened.
Status infer_unique(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* in = ctx.input_shape(0);
  const bool has_axis = ctx.node().attr("axis") != nullptr;
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", 0));
  std::optional<Shape> y;
  Dim along;  // length of what inverse_indices indexes
  if (!has_axis) {
    y = Shape{Dim()};
    if (in) along = shape_numel(*in);
  } else if (in) {
    MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, static_cast<int64_t>(in->size())));
    y = *in;
    along = (*y)[static_cast<size_t>(axis)];
    (*y)[static_cast<size_t>(axis)] = Dim();
  }
  ctx.set_output(0, dtype, std::move(y));
  ctx.set_output(1, DType::kInt64, Shape{Dim()});
  ctx.set_output(2, DType::kInt64, Shape{along});
  ctx.set_output(3, DType::kInt64, Shape{Dim()});
  return Status::ok_status();
}

Status infer_reverse_sequence(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(int64_t batch_axis, ctx.attr_int("batch_axis", 1));
  MIXQ_ASSIGN_OR_RETURN(int64_t time_axis, ctx.attr_int("time_axis", 0));
  if ((batch_axis != 0 && batch_axis != 1) || (time_axis != 0 && time_axis != 1) ||
      batch_axis == time_axis) {
    return ctx.fail("batch_axis ", batch_axis, " and time_axis ", time_axis,
                    " must be 0 and 1 in some order");
  }
  const Shape* in = ctx.input_shape(0);
  const Shape* lens = ctx.input_shape(1);
  if (lens && lens->size() != 1) return ctx.fail("sequence_lens must be 1-D");
  if (in && lens && in->size() >= 2) {
    const Dim& b = (*in)[static_cast<size_t>(batch_axis)];
    if (b.is_known() && (*lens)[0].is_known() && b.value() != (*lens)[0].value()) {
      return ctx.fail("sequence_lens has ", (*lens)[0].value(), " entries for batch size ",
                      b.value());
    }
  }
  return same_shape_min_rank(ctx, 2);
}

// Det: [*, M, M] -> [*].
Status infer_det(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* in = ctx.input_shape(0);
  if (in == nullptr) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  if (in->size() < 2) return ctx.fail("input has rank ", in->size(), ", needs rank >= 2");
  const Dim& m = (*in)[in->size() - 2];
  const Dim& n = (*in)[in->size() - 1];
  if (m.is_known() && n.is_known() && m.value() != n.value()) {
    return ctx.fail("matrices are ", m.value(), "x", n.value(), ", must be square");
  }
  ctx.set_output(0, dtype, Shape(in->begin(), in->end() - 2));
  return Status::ok_status();
}

// RandomNormal/RandomUniform: shape and dtype (default float) from attributes.
Status infer_random(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(DType dtype, dtype_attr(ctx, "dtype", DType::kFloat32));
  MIXQ_ASSIGN_OR_RETURN(auto shape, ctx.attr_ints("shape"));
  if (!shape) return ctx.fail("required attribute 'shape' is missing");
  for (int64_t d : *shape) {
    if (d < 0) return ctx.fail("shape has negative dim ", d);
  }
  ctx.set_output(0, dtype, shape_from_ints(*shape));
  return Status::ok_status();
}

// RandomNormalLike/RandomUniformLike/Bernoulli: the input's shape; dtype attribute or the
// input's dtype.
Status infer_random_like(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(DType dtype, dtype_attr(ctx, "dtype", ctx.input_dtype(0)));
  ctx.set_output(0, dtype, ctx.input_shape_opt(0));
  return Status::ok_status();
}

// Multinomial: [batch, classes] -> [batch, sample_size], int32 unless `dtype` says otherwise.
Status infer_multinomial(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(DType dtype, dtype_attr(ctx, "dtype", DType::kInt32));
  MIXQ_ASSIGN_OR_RETURN(int64_t samples, ctx.attr_int("sample_size", 1));
  if (samples < 1) return ctx.fail("sample_size is ", samples, ", must be >= 1");
  const Shape* in = ctx.input_shape(0);
  if (in && in->size() != 2) return ctx.fail("input must have rank 2, has rank ", in->size());
  ctx.set_output(0, dtype, Shape{in ? (*in)[0] : Dim(), Dim::known(samples)});
  return Status::ok_status();
}

}  // namespace

void register_tensor_schemas(std::vector<OpSchema>& out) {
  out.push_back({"", "Split", 1, infer_split});
  out.push_back({"", "GatherElements", 11, infer_gather_elements});
  out.push_back({"", "GatherND", 11, infer_gather_nd});
  out.push_back({"", "ScatterND", 11, infer_scatter_nd});
  out.push_back({"", "ScatterElements", 11, infer_scatter_elements});
  // Deprecated at 11 with ScatterElements-11's signature; runtimes still accept it, so the one
  // entry serves both versions.
  out.push_back({"", "Scatter", 9, infer_scatter_elements});
  out.push_back({"", "Tile", 1, infer_tile});
  out.push_back({"", "Trilu", 14, infer_trilu});
  out.push_back({"", "NonZero", 9, infer_nonzero});
  out.push_back({"", "OneHot", 9, infer_onehot});
  out.push_back({"", "EyeLike", 9, infer_eyelike});
  out.push_back({"", "Compress", 9, infer_compress});
  out.push_back({"", "Unique", 11, infer_unique});
  out.push_back({"", "ReverseSequence", 10, infer_reverse_sequence});
  out.push_back({"", "Det", 11, infer_det});
  out.push_back({"", "RandomNormal", 1, infer_random});
  out.push_back({"", "RandomUniform", 1, infer_random});
  out.push_back({"", "RandomNormalLike", 1, infer_random_like});
  out.push_back({"", "RandomUniformLike", 1, infer_random_like});
  out.push_back({"", "Bernoulli", 15, infer_random_like});
  out.push_back({"", "Multinomial", 7, infer_multinomial});
}

}  // namespace mixq::ir
