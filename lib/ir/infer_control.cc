// Shape functions for control flow: If, Loop and Scan. Their bodies are inferred through the
// driver (ctx.infer_subgraph) with the input types the spec gives each body input, and the
// node's outputs are built from the body outputs.
// ONNX Operators.md / Changelog.md: If-1/11/13/16/19/21, Loop-1/11/13/16/19/21,
// Scan-8 (batched, optional sequence_lens) and Scan-9/11/16/19/21 (scan_input_axes,
// scan_output_axes, directions).
#include "mixq/ir/op_schema.h"

namespace mixq::ir {
namespace {

using Kind = ValueType::Kind;

bool same_value_type(const ValueType& a, const ValueType& b) {
  return a.kind == b.kind && a.dtype == b.dtype && a.shape == b.shape && a.proto == b.proto;
}

// The type that covers both `a` and `b` (two If branches, a loop-carried value before and after
// an iteration): dtypes must agree; dims that differ become unknown, ranks that differ make the
// rank unknown. An unknown side leaves only what the other says about the dtype.
Expected<ValueType> merge_types(const InferContext& ctx, const ValueType& a, const ValueType& b,
                                std::string_view what) {
  if (a.kind == Kind::kUnknown || b.kind == Kind::kUnknown) {
    const ValueType& k = a.kind == Kind::kUnknown ? b : a;
    return k.is_tensor() ? ValueType::tensor(k.dtype) : ValueType();
  }
  if (a.kind != b.kind) return ctx.fail(what, ": a tensor on one side, a non-tensor on the other");
  if (a.kind == Kind::kOther) return a.proto == b.proto ? a : ValueType();
  if (a.dtype != DType::kUndefined && b.dtype != DType::kUndefined && a.dtype != b.dtype) {
    return ctx.fail(what, ": ", dtype_name(a.dtype), " vs ", dtype_name(b.dtype));
  }
  const DType dtype = a.dtype != DType::kUndefined ? a.dtype : b.dtype;
  if (!a.shape || !b.shape || a.shape->size() != b.shape->size()) {
    return ValueType::tensor(dtype);
  }
  Shape s(a.shape->size());
  for (size_t k = 0; k < s.size(); ++k) {
    if (same_size((*a.shape)[k], (*b.shape)[k])) s[k] = (*a.shape)[k];
  }
  return ValueType::tensor(dtype, std::move(s));
}

Expected<const Graph*> graph_attr(const InferContext& ctx, std::string_view name) {
  const Attribute* a = ctx.node().attr(name);
  if (a == nullptr || a->type != AttrType::kGraph || a->g == nullptr) {
    return ctx.fail("graph attribute '", name, "' is missing");
  }
  return a->g.get();
}

// `t` with dim `k` of its shape removed: one step's slice of a scanned input.
ValueType drop_dim(const ValueType& t, size_t k) {
  ValueType out = t;
  if (out.is_tensor() && out.shape && k < out.shape->size()) {
    out.shape->erase(out.shape->begin() + static_cast<std::ptrdiff_t>(k));
  }
  return out;
}

// `t` with `d` inserted at dim `k`: the stacked steps of a scan output. Non-tensors give unknown.
ValueType insert_dim(const ValueType& t, size_t k, const Dim& d) {
  if (!t.is_tensor()) return ValueType();
  ValueType out = t;
  if (out.shape && k <= out.shape->size()) {
    out.shape->insert(out.shape->begin() + static_cast<std::ptrdiff_t>(k), d);
  }
  return out;
}

// Infers a loop body whose inputs are prefix + states + suffix and whose outputs
// [state_out, state_out + N) are the next states. A state's shape may change between
// iterations, so the body is re-inferred with the merged state types until they stop changing;
// `states` ends as those merged types (what the node's final-state outputs are), and the body
// outputs of the last pass are returned.
Expected<std::vector<ValueType>> infer_loop_body(const InferContext& ctx, const Graph& body,
                                                 const std::vector<ValueType>& prefix,
                                                 std::vector<ValueType>& states,
                                                 const std::vector<ValueType>& suffix,
                                                 size_t state_out) {
  // A change only drops dims or ranks (or fills in an unknown dtype), so this converges in a few
  // passes; past the cap the shapes are dropped and the next pass is the last.
  constexpr int kMaxPasses = 8;
  for (int pass = 0;; ++pass) {
    std::vector<ValueType> in = prefix;
    in.insert(in.end(), states.begin(), states.end());
    in.insert(in.end(), suffix.begin(), suffix.end());
    MIXQ_ASSIGN_OR_RETURN(auto outs, ctx.infer_subgraph(body, in));
    bool changed = false;
    for (size_t i = 0; i < states.size(); ++i) {
      MIXQ_ASSIGN_OR_RETURN(ValueType m, merge_types(ctx, states[i], outs[state_out + i],
                                                     str_cat("loop-carried value ", i)));
      if (!same_value_type(m, states[i])) {
        states[i] = std::move(m);
        changed = true;
      }
    }
    if (!changed || pass > kMaxPasses) return outs;
    if (pass == kMaxPasses) {
      for (ValueType& s : states) s.shape.reset();
    }
  }
}

Status infer_if(InferContext& ctx) {
  if (const Shape* c = ctx.input_shape(0)) {
    const Dim n = shape_numel(*c);
    if (n.is_known() && n.value() != 1) {
      return ctx.fail("cond must have one element, has shape ", shape_to_string(*c));
    }
  }
  MIXQ_ASSIGN_OR_RETURN(const Graph* then_g, graph_attr(ctx, "then_branch"));
  MIXQ_ASSIGN_OR_RETURN(const Graph* else_g, graph_attr(ctx, "else_branch"));
  const size_t n = ctx.num_outputs();
  if (then_g->outputs().size() != n || else_g->outputs().size() != n) {
    return ctx.fail("branches have ", then_g->outputs().size(), " and ", else_g->outputs().size(),
                    " outputs, the node has ", n);
  }
  MIXQ_ASSIGN_OR_RETURN(auto then_t, ctx.infer_subgraph(*then_g, {}));
  MIXQ_ASSIGN_OR_RETURN(auto else_t, ctx.infer_subgraph(*else_g, {}));
  // A known condition picks the branch (after both were checked to agree on types).
  std::optional<bool> cond;
  if (const Tensor* c = ctx.input_constant(0); c && c->numel() == 1) {
    cond = c->element_as_int64(0) != 0;
  }
  for (size_t i = 0; i < n; ++i) {
    MIXQ_ASSIGN_OR_RETURN(ValueType m,
                          merge_types(ctx, then_t[i], else_t[i], str_cat("branch output ", i)));
    if (cond) m = *cond ? then_t[i] : else_t[i];
    ctx.set_output_type(i, std::move(m));
  }
  return Status::ok_status();
}

// True when the body's condition output provably stays true: it is the body's condition input
// (maybe through Identity), or a constant true. Exporters write for-loops this way.
bool body_cond_stays_true(const Graph& body) {
  if (body.outputs().empty() || body.inputs().size() < 2) return false;
  const Value* v = body.outputs()[0];
  while (v && v->producer() && v->producer()->op_type() == "Identity" &&
         v->producer()->is_onnx_domain()) {
    v = v->producer()->input(0);
  }
  if (v == nullptr) return false;
  if (v == body.inputs()[1]) return true;
  const Tensor* t = v->initializer();
  if (const Node* p = v->producer(); p && p->op_type() == "Constant" && p->is_onnx_domain()) {
    const Attribute* a = p->attr("value");
    t = a && a->type == AttrType::kTensor ? &a->t : nullptr;
  }
  return t && t->numel() == 1 && t->element_as_int64(0) != 0;
}

// Loop: inputs (M, cond, v_initial...), body inputs (iteration_num, cond, v...), body outputs
// (cond, v..., scan_outputs...), node outputs (v_final..., scan_outputs with a leading
// iteration dim).
Status infer_loop(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(const Graph* body, graph_attr(ctx, "body"));
  if (ctx.num_inputs() < 2) return ctx.fail("needs the M and cond inputs (possibly empty)");
  const size_t n = ctx.num_inputs() - 2;
  if (ctx.num_outputs() < n) {
    return ctx.fail("has ", ctx.num_outputs(), " outputs for ", n, " loop-carried values");
  }
  const size_t k = ctx.num_outputs() - n;
  if (body->inputs().size() != n + 2) {
    return ctx.fail("body has ", body->inputs().size(), " inputs, expected ", n + 2,
                    " (iteration_num, cond and ", n, " loop-carried values)");
  }
  if (body->outputs().size() != 1 + n + k) {
    return ctx.fail("body has ", body->outputs().size(), " outputs, expected ", 1 + n + k,
                    " (cond, ", n, " loop-carried values and ", k, " scan outputs)");
  }
  std::vector<ValueType> states;
  for (size_t i = 0; i < n; ++i) states.push_back(ctx.input_type(2 + i));
  const std::vector<ValueType> prefix = {ValueType::tensor(DType::kInt64, Shape{}),
                                         ValueType::tensor(DType::kBool, Shape{})};
  MIXQ_ASSIGN_OR_RETURN(auto outs, infer_loop_body(ctx, *body, prefix, states, {}, 1));
  for (size_t i = 0; i < n; ++i) ctx.set_output_type(i, states[i]);
  // The iteration count is M when the loop cannot stop early: no cond input (a for-loop), or a
  // true initial cond that the body keeps true.
  Dim trips;
  const auto* m = ctx.input_data(0);
  if (m && m->size() == 1) {
    bool for_loop = !ctx.has_input(1);
    if (const Tensor* c = ctx.input_constant(1); c && c->numel() == 1) {
      for_loop = c->element_as_int64(0) != 0 && body_cond_stays_true(*body);
    }
    if (for_loop) trips = (*m)[0];
  }
  for (size_t j = 0; j < k; ++j) ctx.set_output_type(n + j, insert_dim(outs[1 + n + j], 0, trips));
  return Status::ok_status();
}

// Merges the scan-length (or batch) dim `d` of input `i` into `acc`; known sizes must agree.
Status merge_scan_dim(const InferContext& ctx, Dim& acc, const Dim& d, size_t i,
                      std::string_view what) {
  if (acc.is_known() && d.is_known() && acc.value() != d.value()) {
    return ctx.fail("scan input ", i, " has ", what, " ", d.value(), ", an earlier one has ",
                    acc.value());
  }
  if (acc.is_unknown() || (!acc.is_known() && d.is_known())) acc = d;
  return Status::ok_status();
}

// Reads an ints attribute that must have `count` entries; `fallback` fills a missing one.
Expected<std::vector<int64_t>> counted_ints(const InferContext& ctx, std::string_view name,
                                            size_t count, int64_t fallback) {
  MIXQ_ASSIGN_OR_RETURN(auto v, ctx.attr_ints(name));
  if (!v) return std::vector<int64_t>(count, fallback);
  if (v->size() != count) {
    return ctx.fail("attribute '", name, "' has ", v->size(), " entries, expected ", count);
  }
  return *v;
}

// Scan-8: inputs (sequence_lens?, states..., scans...) carry a leading batch dim and scans a
// sequence dim after it; the body sees per-batch, per-step slices.
// Scan-9+: no batch; each scan input is sliced along its scan_input_axes entry and each scan
// output stacks along its scan_output_axes entry.
Status infer_scan(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(const Graph* body, graph_attr(ctx, "body"));
  MIXQ_ASSIGN_OR_RETURN(int64_t m_attr, ctx.required_int("num_scan_inputs"));
  const bool batched = ctx.opset() < 9;
  const size_t first = batched ? 1 : 0;
  if (m_attr < 1 || ctx.num_inputs() < first + static_cast<size_t>(m_attr)) {
    return ctx.fail("num_scan_inputs is ", m_attr, " with ", ctx.num_inputs() - first,
                    " state and scan inputs");
  }
  const auto m = static_cast<size_t>(m_attr);
  const size_t n = ctx.num_inputs() - first - m;
  if (ctx.num_outputs() < n) {
    return ctx.fail("has ", ctx.num_outputs(), " outputs for ", n, " state values");
  }
  const size_t k = ctx.num_outputs() - n;
  if (body->inputs().size() != n + m || body->outputs().size() != n + k) {
    return ctx.fail("body has ", body->inputs().size(), " inputs and ", body->outputs().size(),
                    " outputs, expected ", n + m, " and ", n + k);
  }
  std::vector<int64_t> in_axes(m, 0), out_axes(k, 0);
  if (batched) {
    MIXQ_RETURN_IF_ERROR(counted_ints(ctx, "directions", m, 0).status());
  } else {
    MIXQ_ASSIGN_OR_RETURN(in_axes, counted_ints(ctx, "scan_input_axes", m, 0));
    MIXQ_ASSIGN_OR_RETURN(out_axes, counted_ints(ctx, "scan_output_axes", k, 0));
    MIXQ_RETURN_IF_ERROR(counted_ints(ctx, "scan_input_directions", m, 0).status());
    MIXQ_RETURN_IF_ERROR(counted_ints(ctx, "scan_output_directions", k, 0).status());
  }
  Dim batch, seq;
  std::vector<ValueType> states, slices;
  for (size_t i = 0; i < n; ++i) {
    ValueType t = ctx.input_type(first + i);
    if (batched && t.is_tensor() && t.shape) {
      if (t.shape->empty()) return ctx.fail("state input ", i, " needs a batch dim");
      MIXQ_RETURN_IF_ERROR(merge_scan_dim(ctx, batch, t.shape->front(), i, "batch size"));
      t = drop_dim(t, 0);
    }
    states.push_back(std::move(t));
  }
  for (size_t j = 0; j < m; ++j) {
    ValueType t = ctx.input_type(first + n + j);
    if (t.is_tensor() && t.shape) {
      const auto rank = static_cast<int64_t>(t.shape->size());
      if (batched) {
        if (rank < 2) return ctx.fail("scan input ", j, " needs batch and sequence dims");
        MIXQ_RETURN_IF_ERROR(merge_scan_dim(ctx, batch, (*t.shape)[0], j, "batch size"));
        MIXQ_RETURN_IF_ERROR(merge_scan_dim(ctx, seq, (*t.shape)[1], j, "sequence length"));
        t = drop_dim(drop_dim(t, 0), 0);
      } else {
        MIXQ_ASSIGN_OR_RETURN(int64_t ax,
                              normalize_axis(ctx, in_axes[j], rank, "scan_input_axes entry"));
        MIXQ_RETURN_IF_ERROR(
            merge_scan_dim(ctx, seq, (*t.shape)[static_cast<size_t>(ax)], j, "sequence length"));
        t = drop_dim(t, static_cast<size_t>(ax));
      }
    }
    slices.push_back(std::move(t));
  }
  MIXQ_ASSIGN_OR_RETURN(auto outs, infer_loop_body(ctx, *body, {}, states, slices, 0));
  for (size_t i = 0; i < n; ++i) {
    ctx.set_output_type(i, batched ? insert_dim(states[i], 0, batch) : states[i]);
  }
  for (size_t j = 0; j < k; ++j) {
    const ValueType& t = outs[n + j];
    if (batched) {
      ctx.set_output_type(n + j, insert_dim(insert_dim(t, 0, seq), 0, batch));
      continue;
    }
    size_t ax = 0;
    if (t.is_tensor() && t.shape) {
      MIXQ_ASSIGN_OR_RETURN(
          int64_t a, normalize_axis(ctx, out_axes[j], static_cast<int64_t>(t.shape->size()) + 1,
                                    "scan_output_axes entry"));
      ax = static_cast<size_t>(a);
    }
    ctx.set_output_type(n + j, insert_dim(t, ax, seq));
  }
  return Status::ok_status();
}

}  // namespace

void register_control_schemas(std::vector<OpSchema>& out) {
  out.push_back({"", "If", 1, infer_if});
  out.push_back({"", "Loop", 1, infer_loop});
  out.push_back({"", "Scan", 8, infer_scan});
}

}  // namespace mixq::ir
