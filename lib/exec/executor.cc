#include "mixq/exec/executor.h"

#include <algorithm>

#include <map>
#include <new>
#include <unordered_map>

#include "mixq/exec/kernel.h"
#include "mixq/exec/kernel_registry.h"
#include "mixq/ir/infer_context.h"
#include "mixq/ir/memory_budget.h"
#include "mixq/ir/op_schema.h"
#include "mixq/ir/shape_inference.h"
#include "mixq/ir/walk.h"

namespace mixq::exec {
namespace {

constexpr int kOmitted = -1;
constexpr int kOuterScope = -2;

struct NodePlan {
  const ir::Node* node = nullptr;
  int64_t opset = 0;
  const ir::OpSchema* schema = nullptr;  // shape function; nullptr when mixq has none
  std::vector<const ir::Value*> inputs;  // nullptr: omitted optional input
  std::vector<int> input_slots;          // kOmitted, kOuterScope or a slot of this frame
  std::vector<int> output_slots;         // kOmitted or a slot
  std::vector<int> release;              // slots whose last use is this node
  std::vector<int> donor_inputs;         // inputs of this frame released here (KernelDef::in_place)
  // The kernel last used, and the input dtypes it was chosen for.
  const KernelDef* kernel = nullptr;
  std::vector<DType> kernel_dtypes;
  std::shared_ptr<NodeState>
      state;  // the kernel's data kept across runs (KernelContext::node_state)
};

struct GraphPlan {
  const ir::Graph* graph = nullptr;
  std::unordered_map<const ir::Value*, int> slot_of;
  std::vector<NodePlan> nodes;
  std::vector<std::pair<int, const ir::Tensor*>> constants;
  std::vector<int> input_slots;
};

struct Frame {
  const GraphPlan* plan;
  const Frame* parent;
  std::vector<ir::Tensor> slots;
  std::vector<char> live;

  Frame(const GraphPlan* p, const Frame* up)
      : plan(p), parent(up), slots(p->slot_of.size()), live(p->slot_of.size(), 0) {}

  void set(int slot, ir::Tensor t) {
    slots[static_cast<size_t>(slot)] = std::move(t);
    live[static_cast<size_t>(slot)] = 1;
  }
  void release(int slot) {
    slots[static_cast<size_t>(slot)] = ir::Tensor();
    live[static_cast<size_t>(slot)] = 0;
  }
  // The tensor of `v` in this frame or an enclosing one; nullptr when it has none (yet).
  const ir::Tensor* find(const ir::Value* v) const {
    for (const Frame* f = this; f != nullptr; f = f->parent) {
      auto it = f->plan->slot_of.find(v);
      if (it != f->plan->slot_of.end()) {
        return f->live[static_cast<size_t>(it->second)] ? &f->slots[static_cast<size_t>(it->second)]
                                                        : nullptr;
      }
    }
    return nullptr;
  }
};

std::vector<DType> dtypes_of(const std::vector<const ir::Tensor*>& in) {
  std::vector<DType> d(in.size(), DType::kUndefined);
  for (size_t i = 0; i < in.size(); ++i) {
    if (in[i]) d[i] = in[i]->dtype();
  }
  return d;
}

std::string type_text(const ir::Tensor& t) {
  return str_cat(dtype_name(t.dtype()), ir::dims_to_string(t.dims()));
}

}  // namespace

struct Executor::Impl {
  const ir::Model& model;
  ThreadPool pool;
  std::unique_ptr<GraphPlan> main;
  std::unordered_map<const ir::Graph*, std::unique_ptr<GraphPlan>> subplans;
  std::vector<const ir::Value*> inputs;
  std::vector<const ir::Value*> outputs;
  RunStats stats;
  ir::InferenceResult types;

  Impl(const ir::Model& m, int threads) : model(m), pool(threads) {}

  Expected<std::unique_ptr<GraphPlan>> plan_graph(const ir::Graph& g);
  Status run_graph(GraphPlan& plan, Frame& frame, Observer* observer);
  Status run_node(NodePlan& np, Frame& frame, Observer* observer);
  Expected<std::vector<ir::Tensor>> run_subgraph(const ir::Graph& g, std::vector<ir::Tensor> in,
                                                 const Frame* parent);
};

Expected<std::unique_ptr<GraphPlan>> Executor::Impl::plan_graph(const ir::Graph& g) {
  auto plan = std::make_unique<GraphPlan>();
  plan->graph = &g;
  for (const auto& v : g.values()) {
    const int slot = static_cast<int>(plan->slot_of.size());
    plan->slot_of.emplace(v.get(), slot);
  }
  for (const ir::Value* v : g.initializers()) {
    plan->constants.emplace_back(plan->slot_of.at(v), v->initializer());
  }
  for (const ir::Value* v : g.inputs()) plan->input_slots.push_back(plan->slot_of.at(v));

  MIXQ_ASSIGN_OR_RETURN(auto order, ir::topological_order(g));
  std::vector<int> last_use(plan->slot_of.size(), -1);
  for (size_t i = 0; i < order.size(); ++i) {
    const ir::Node* n = order[i];
    NodePlan np;
    np.node = n;
    np.opset = model.opset_for(*n);
    np.schema = ir::find_op_schema(n->domain(), n->op_type(), np.opset);
    for (const ir::Value* v : n->inputs()) {
      np.inputs.push_back(v);
      if (v == nullptr) {
        np.input_slots.push_back(kOmitted);
      } else if (auto it = plan->slot_of.find(v); it != plan->slot_of.end()) {
        np.input_slots.push_back(it->second);
        last_use[static_cast<size_t>(it->second)] = static_cast<int>(i);
      } else {
        np.input_slots.push_back(kOuterScope);
      }
    }
    for (const ir::Value* v : n->implicit_inputs()) {
      if (auto it = plan->slot_of.find(v); it != plan->slot_of.end()) {
        last_use[static_cast<size_t>(it->second)] = static_cast<int>(i);
      }
    }
    for (const ir::Value* v : n->outputs()) {
      const int slot = v ? plan->slot_of.at(v) : kOmitted;
      np.output_slots.push_back(slot);
      // An output nobody reads is released right after its node.
      if (slot >= 0 && last_use[static_cast<size_t>(slot)] < static_cast<int>(i)) {
        last_use[static_cast<size_t>(slot)] = static_cast<int>(i);
      }
    }
    plan->nodes.push_back(std::move(np));
  }
  for (const ir::Value* v : g.outputs()) {
    if (auto it = plan->slot_of.find(v); it != plan->slot_of.end()) {
      last_use[static_cast<size_t>(it->second)] = static_cast<int>(order.size());  // keep
    }
  }
  for (size_t s = 0; s < last_use.size(); ++s) {
    const int u = last_use[s];
    if (u >= 0 && u < static_cast<int>(order.size())) {
      plan->nodes[static_cast<size_t>(u)].release.push_back(static_cast<int>(s));
    }
  }
  for (NodePlan& np : plan->nodes) {
    for (size_t k = 0; k < np.input_slots.size(); ++k) {
      const int slot = np.input_slots[k];
      if (slot >= 0 && std::find(np.release.begin(), np.release.end(), slot) != np.release.end()) {
        np.donor_inputs.push_back(static_cast<int>(k));
      }
    }
  }
  return plan;
}

Status Executor::Impl::run_node(NodePlan& np, Frame& frame, Observer* observer) {
  const ir::Node& node = *np.node;
  std::vector<const ir::Tensor*> in(np.inputs.size(), nullptr);
  for (size_t k = 0; k < np.inputs.size(); ++k) {
    const int slot = np.input_slots[k];
    if (slot == kOmitted) continue;
    in[k] = slot == kOuterScope ? (frame.parent ? frame.parent->find(np.inputs[k]) : nullptr)
            : frame.live[static_cast<size_t>(slot)] ? &frame.slots[static_cast<size_t>(slot)]
                                                    : nullptr;
    if (in[k] == nullptr) {
      return internal_error(node.describe(), ": input '", np.inputs[k]->name(),
                            "' has no value when the node runs");
    }
  }

  // The shape function on the concrete inputs: validates them and gives output shapes.
  const size_t n_out = node.outputs().size();
  std::vector<ir::ValueType> inferred(n_out);
  if (np.schema) {
    std::vector<ir::InferInput> ii(in.size());
    for (size_t k = 0; k < in.size(); ++k) {
      if (!in[k]) continue;
      ii[k].present = true;
      ii[k].type = ir::ValueType::tensor(in[k]->dtype(), ir::shape_from_ints(in[k]->dims()));
      ii[k].constant = in[k];
    }
    ir::InferContext ictx(node, np.opset, std::move(ii), n_out);
    MIXQ_RETURN_IF_ERROR(np.schema->infer(ictx));
    for (size_t o = 0; o < n_out; ++o) {
      inferred[o] = ictx.outputs()[o].type;
      // Refused before the kernel allocates it.
      if (node.output(o) == nullptr) continue;
      MIXQ_RETURN_IF_ERROR(ir::check_type_size(
          inferred[o], str_cat(node.describe(), ": output '", node.output(o)->name(), "'")));
    }
  }

  const std::vector<DType> dtypes = dtypes_of(in);
  if (np.kernel == nullptr || dtypes != np.kernel_dtypes) {
    np.kernel = find_kernel(node.domain(), node.op_type(), np.opset, dtypes);
    np.kernel_dtypes = dtypes;
    if (np.kernel == nullptr) {
      const int ti = 0;
      return unsupported(describe_kernel_miss(
          node, np.opset, in.empty() || !in[ti] ? DType::kUndefined : in[ti]->dtype()));
    }
  }

  // Inputs read last here whose buffers nothing else holds (no observer's copy, no view, not
  // an initializer or a feed): an in-place kernel may write its output over one of them.
  std::vector<const ir::Tensor*> donors;
  if (np.kernel->in_place) {
    for (int k : np.donor_inputs) {
      const ir::Tensor* t = in[static_cast<size_t>(k)];
      if (t != nullptr && t->buffer() && t->buffer().use_count() == 1 && t->buffer()->writable()) {
        donors.push_back(t);
      }
    }
  }
  std::vector<ir::Tensor> out(n_out);
  KernelContext ctx(
      node, np.opset, std::move(in), out, inferred, pool,
      [this, &frame](const ir::Graph& g, std::vector<ir::Tensor> sub_in) {
        return run_subgraph(g, std::move(sub_in), &frame);
      },
      &np.state);
  ctx.offer_buffers(std::move(donors));
  try {
    MIXQ_RETURN_IF_ERROR(np.kernel->fn(ctx));
  } catch (const std::bad_alloc&) {
    std::string shapes;
    for (const ir::ValueType& t : inferred) shapes += (shapes.empty() ? "" : ", ") + t.to_string();
    return bad_input(node.describe(), ": out of memory computing its outputs (", shapes, ")");
  }
  ++stats.nodes_run;

  for (size_t o = 0; o < n_out; ++o) {
    const int slot = np.output_slots[o];
    if (slot == kOmitted) continue;
    ir::Tensor& t = out[o];
    if (t.dtype() == DType::kUndefined) {
      return internal_error(node.describe(), ": the kernel did not produce output ", o);
    }
    // Kernel and shape function must agree; a disagreement is a bug in one of them.
    const ir::ValueType& want = inferred[o];
    if (want.is_tensor() && want.dtype != DType::kUndefined && want.shape) {
      const auto dims = ir::shape_to_ints(*want.shape);
      if (want.dtype != t.dtype() || (dims && *dims != t.dims())) {
        return internal_error(node.describe(), ": output ", o, " is ", type_text(t),
                              " but its shape function says ", want.to_string());
      }
    }
    frame.set(slot, std::move(t));
    if (observer) {
      observer->on_output(node, *node.output(o), frame.slots[static_cast<size_t>(slot)]);
    }
  }
  for (int slot : np.release) frame.release(slot);
  return Status::ok_status();
}

Status Executor::Impl::run_graph(GraphPlan& plan, Frame& frame, Observer* observer) {
  for (const auto& [slot, t] : plan.constants) {
    if (!frame.live[static_cast<size_t>(slot)]) frame.set(slot, *t);
  }
  for (NodePlan& np : plan.nodes) MIXQ_RETURN_IF_ERROR(run_node(np, frame, observer));
  return Status::ok_status();
}

Expected<std::vector<ir::Tensor>> Executor::Impl::run_subgraph(const ir::Graph& g,
                                                               std::vector<ir::Tensor> in,
                                                               const Frame* parent) {
  auto it = subplans.find(&g);
  if (it == subplans.end()) {
    MIXQ_ASSIGN_OR_RETURN(auto plan, plan_graph(g));
    it = subplans.emplace(&g, std::move(plan)).first;
  }
  GraphPlan& plan = *it->second;
  if (in.size() != plan.input_slots.size()) {
    return internal_error("subgraph '", g.name(), "' takes ", plan.input_slots.size(),
                          " inputs, got ", in.size());
  }
  Frame frame(&plan, parent);
  for (size_t k = 0; k < in.size(); ++k) frame.set(plan.input_slots[k], std::move(in[k]));
  MIXQ_RETURN_IF_ERROR(run_graph(plan, frame, nullptr));
  std::vector<ir::Tensor> out;
  out.reserve(g.outputs().size());
  for (const ir::Value* v : g.outputs()) {
    const ir::Tensor* t = frame.find(v);
    if (t == nullptr) {
      return internal_error("subgraph '", g.name(), "' output '", v->name(), "' has no value");
    }
    out.push_back(*t);
  }
  return out;
}

Executor::Executor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Executor::~Executor() = default;

Expected<std::unique_ptr<Executor>> Executor::create(const ir::Model& model,
                                                     const ExecOptions& options) {
  auto impl = std::make_unique<Impl>(model, options.threads);
  // Every node needs a kernel; name all that have none, with the dtype when inference knows it.
  MIXQ_ASSIGN_OR_RETURN(impl->types, ir::infer_shapes(model));
  const ir::InferenceResult& types = impl->types;
  std::vector<std::string> missing;
  ir::for_each_graph(model.graph(), [&](const ir::Graph& g) {
    for (const auto& n : g.nodes()) {
      const int64_t opset = model.opset_for(*n);
      std::vector<DType> dtypes;
      bool known = true;
      for (const ir::Value* v : n->inputs()) {
        const DType d = v ? types.type_of(v).dtype : DType::kUndefined;
        known &= v == nullptr || d != DType::kUndefined;
        dtypes.push_back(d);
      }
      if (!has_kernel(n->domain(), n->op_type(), opset) ||
          (known && !find_kernel(n->domain(), n->op_type(), opset, dtypes))) {
        missing.push_back(
            describe_kernel_miss(*n, opset, dtypes.empty() ? DType::kUndefined : dtypes[0]));
      }
    }
  });
  if (!missing.empty()) {
    std::string msg = str_cat(model.source_path.string(), model.source_path.empty() ? "" : ": ",
                              missing.size(), " node(s) cannot run on the CPU executor:");
    for (size_t i = 0; i < missing.size() && i < 20; ++i) msg += "\n  " + missing[i];
    if (missing.size() > 20) msg += str_cat("\n  ... and ", missing.size() - 20, " more");
    return unsupported(msg);
  }
  MIXQ_ASSIGN_OR_RETURN(impl->main, impl->plan_graph(model.graph()));
  for (const ir::Value* v : model.graph().inputs()) {
    if (model.is_constant_initializer(v)) continue;  // IR < 4 weights listed as inputs
    impl->inputs.push_back(v);
  }
  for (const ir::Value* v : model.graph().outputs()) impl->outputs.push_back(v);
  return std::unique_ptr<Executor>(new Executor(std::move(impl)));
}

const std::vector<const ir::Value*>& Executor::inputs() const { return impl_->inputs; }
const std::vector<const ir::Value*>& Executor::outputs() const { return impl_->outputs; }
const RunStats& Executor::last_run_stats() const { return impl_->stats; }
const ir::InferenceResult& Executor::types() const { return impl_->types; }
ThreadPool& Executor::pool() { return impl_->pool; }
int Executor::threads() const { return impl_->pool.size(); }

bool Executor::input_has_default(const ir::Value* v) const { return v->initializer() != nullptr; }

Expected<std::vector<ir::Tensor>> Executor::run(const NamedTensors& feeds, Observer* observer) {
  Impl& m = *impl_;
  GraphPlan& plan = *m.main;
  Frame frame(&plan, nullptr);
  // Feeds: known names, declared dtypes and dims, one size per symbolic dim.
  std::map<std::string, const ir::Tensor*> by_name;
  for (const auto& [name, t] : feeds) {
    const ir::Value* v = m.model.graph().find_value(name);
    if (v == nullptr || !m.model.graph().is_input(v) || m.model.is_constant_initializer(v)) {
      std::string names;
      for (const ir::Value* in : m.inputs) names += (names.empty() ? "" : ", ") + in->name();
      return bad_input("the model has no input '", name, "' (inputs: ", names, ")");
    }
    by_name[name] = &t;
  }
  std::map<std::string, int64_t> symbols;
  for (const ir::Value* v : m.inputs) {
    auto it = by_name.find(v->name());
    const int slot = plan.slot_of.at(v);
    const ir::ValueType& declared = v->type();
    if (it == by_name.end()) {
      if (v->initializer()) continue;  // the default value is a constant of the plan
      return bad_input("input '", v->name(), "' (", declared.to_string(), ") is missing");
    }
    const ir::Tensor& t = *it->second;
    if (declared.is_tensor() && declared.dtype != DType::kUndefined &&
        declared.dtype != t.dtype()) {
      return bad_input("input '", v->name(), "' is ", dtype_name(t.dtype()), ", the model expects ",
                       declared.to_string());
    }
    if (declared.is_tensor() && declared.shape) {
      const ir::Shape& s = *declared.shape;
      bool ok = s.size() == t.rank();
      for (size_t k = 0; ok && k < s.size(); ++k) {
        const int64_t got = t.dims()[k];
        if (s[k].is_known()) {
          ok = s[k].value() == got;
        } else if (s[k].is_symbolic()) {
          auto [sym, inserted] = symbols.emplace(s[k].to_string(), got);
          if (!inserted && sym->second != got) {
            return bad_input("input '", v->name(), "' has ", s[k].to_string(), " = ", got,
                             " but another input has ", s[k].to_string(), " = ", sym->second);
          }
        }
      }
      if (!ok) {
        return bad_input("input '", v->name(), "' has shape ", ir::dims_to_string(t.dims()),
                         ", the model expects ", declared.to_string());
      }
    }
    frame.set(slot, t);
  }

  m.stats = RunStats();
  const int64_t base = ir::Buffer::live_bytes();
  ir::Buffer::reset_peak_bytes();
  Status s = m.run_graph(plan, frame, observer);
  m.stats.peak_bytes = ir::Buffer::peak_bytes() - base;
  if (!s.ok()) {
    return m.model.source_path.empty() ? s : s.with_context(m.model.source_path.string());
  }
  std::vector<ir::Tensor> out;
  for (const ir::Value* v : m.outputs) {
    const ir::Tensor* t = frame.find(v);
    if (t == nullptr) return internal_error("output '", v->name(), "' has no value");
    out.push_back(*t);
  }
  return out;
}

}  // namespace mixq::exec
