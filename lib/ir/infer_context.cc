#include "mixq/ir/infer_context.h"

namespace mixq::ir {
namespace {

const ValueType& unknown_type() {
  static const ValueType t;
  return t;
}

// Constant integer tensors small enough to be shape data.
constexpr int64_t kMaxDataElements = 64;

}  // namespace

InferContext::InferContext(const Node& node, int64_t opset, std::vector<InferInput> inputs,
                           size_t num_outputs, SubgraphFn subgraph_fn)
    : node_(node),
      opset_(opset),
      inputs_(std::move(inputs)),
      outputs_(num_outputs),
      constant_data_(inputs_.size()),
      subgraph_fn_(std::move(subgraph_fn)) {
  for (size_t i = 0; i < inputs_.size(); ++i) {
    const Tensor* c = inputs_[i].constant;
    if (inputs_[i].data == nullptr && c != nullptr && dtype_is_integer(c->dtype()) &&
        c->rank() <= 1 && c->numel() <= kMaxDataElements) {
      for (int64_t k = 0; k < c->numel(); ++k) {
        constant_data_[i].push_back(Dim::known(c->element_as_int64(k)));
      }
    }
  }
}

const ValueType& InferContext::input_type(size_t i) const {
  return has_input(i) ? inputs_[i].type : unknown_type();
}

const Shape* InferContext::input_shape(size_t i) const {
  const ValueType& t = input_type(i);
  return t.is_tensor() && t.shape ? &*t.shape : nullptr;
}

const Tensor* InferContext::input_constant(size_t i) const {
  return has_input(i) ? inputs_[i].constant : nullptr;
}

const std::vector<Dim>* InferContext::input_data(size_t i) const {
  if (!has_input(i)) return nullptr;
  if (inputs_[i].data) return inputs_[i].data;
  const Tensor* c = inputs_[i].constant;
  if (c && dtype_is_integer(c->dtype()) && c->rank() <= 1 && c->numel() <= kMaxDataElements) {
    return &constant_data_[i];
  }
  return nullptr;
}

std::optional<std::vector<int64_t>> InferContext::input_ints(size_t i) const {
  if (!has_input(i)) return std::nullopt;
  if (const Tensor* c = inputs_[i].constant) {
    if (!dtype_is_integer(c->dtype())) return std::nullopt;
    std::vector<int64_t> out(static_cast<size_t>(c->numel()));
    for (int64_t k = 0; k < c->numel(); ++k) out[static_cast<size_t>(k)] = c->element_as_int64(k);
    return out;
  }
  if (const std::vector<Dim>* d = inputs_[i].data) {
    std::vector<int64_t> out;
    out.reserve(d->size());
    for (const Dim& x : *d) {
      if (!x.is_known()) return std::nullopt;
      out.push_back(x.value());
    }
    return out;
  }
  return std::nullopt;
}

bool InferContext::has_output(size_t i) const {
  return i < outputs_.size() && node_.output(i) != nullptr;
}

void InferContext::set_output(size_t i, DType dtype, std::optional<Shape> shape) {
  set_output_type(i, ValueType::tensor(dtype, std::move(shape)));
}

void InferContext::set_output_type(size_t i, ValueType t) {
  if (i < outputs_.size()) outputs_[i].type = std::move(t);
}

void InferContext::set_output_data(size_t i, std::vector<Dim> data) {
  if (i < outputs_.size() && data.size() <= static_cast<size_t>(kMaxDataElements)) {
    outputs_[i].data = std::move(data);
  }
}

void InferContext::set_output_constant(size_t i, Tensor t) {
  if (i < outputs_.size()) outputs_[i].constant = std::move(t);
}

Expected<std::vector<ValueType>> InferContext::infer_subgraph(
    const Graph& g, const std::vector<ValueType>& inputs) const {
  if (!subgraph_fn_) return std::vector<ValueType>(g.outputs().size());
  return subgraph_fn_(g, inputs);
}

Expected<int64_t> InferContext::required_int(std::string_view name) const {
  if (node_.attr(name) == nullptr) return fail("required attribute '", name, "' is missing");
  return node_.attr_int(name, 0);
}

Expected<int64_t> normalize_axis(const InferContext& ctx, int64_t axis, int64_t rank,
                                 std::string_view what) {
  if (axis < -rank || axis >= rank) {
    return ctx.fail(what, " ", axis, " is out of range for rank ", rank);
  }
  return axis < 0 ? axis + rank : axis;
}

Expected<Shape> broadcast_shapes(const InferContext& ctx, const Shape& a, const Shape& b) {
  const size_t rank = std::max(a.size(), b.size());
  Shape out(rank);
  for (size_t k = 0; k < rank; ++k) {
    const Dim* da = k < rank - a.size() ? nullptr : &a[k - (rank - a.size())];
    const Dim* db = k < rank - b.size() ? nullptr : &b[k - (rank - b.size())];
    if (!da) {
      out[k] = *db;
      continue;
    }
    if (!db) {
      out[k] = *da;
      continue;
    }
    const bool a1 = da->is_known() && da->value() == 1;
    const bool b1 = db->is_known() && db->value() == 1;
    if (a1) {
      out[k] = *db;
    } else if (b1) {
      out[k] = *da;
    } else if (da->is_known() && db->is_known()) {
      if (da->value() != db->value()) {
        return ctx.fail("cannot broadcast shapes ", shape_to_string(a), " and ",
                        shape_to_string(b));
      }
      out[k] = *da;
    } else if (same_size(*da, *db)) {
      out[k] = *da;
    } else if (da->is_known()) {
      out[k] = *da;  // the other side must be 1 or equal
    } else if (db->is_known()) {
      out[k] = *db;
    } else {
      out[k] = Dim();
    }
  }
  return out;
}

Expected<std::optional<Shape>> broadcast_inputs(const InferContext& ctx, size_t first,
                                                size_t last) {
  std::optional<Shape> out;
  last = std::min(last, ctx.num_inputs());
  for (size_t i = first; i < last; ++i) {
    if (!ctx.has_input(i)) continue;
    const Shape* s = ctx.input_shape(i);
    if (s == nullptr) return std::optional<Shape>();
    if (!out) {
      out = *s;
    } else {
      MIXQ_ASSIGN_OR_RETURN(out, broadcast_shapes(ctx, *out, *s));
    }
  }
  return out;
}

DType first_known_dtype(const InferContext& ctx, size_t first, size_t last) {
  last = std::min(last, ctx.num_inputs());
  for (size_t i = first; i < last; ++i) {
    if (ctx.input_dtype(i) != DType::kUndefined) return ctx.input_dtype(i);
  }
  return DType::kUndefined;
}

Status propagate_type(InferContext& ctx, size_t from, size_t to) {
  const ValueType& t = ctx.input_type(from);
  if (t.is_tensor()) {
    ctx.set_output(to, t.dtype, t.shape);
  } else {
    ctx.set_output_type(to, t);
  }
  return Status::ok_status();
}

Shape unknown_shape(size_t rank) { return Shape(rank); }

}  // namespace mixq::ir
