#include "mixq/ir/shape_inference.h"

#include "mixq/ir/infer_context.h"
#include "mixq/ir/memory_budget.h"
#include "mixq/ir/op_schema.h"
#include "mixq/ir/walk.h"

namespace mixq::ir {
namespace {

bool same_type(const ValueType& a, const ValueType& b) {
  return a.kind == b.kind && a.dtype == b.dtype && a.shape == b.shape && a.proto == b.proto;
}

class Inferencer {
 public:
  Inferencer(const Model& model, const InferOptions& options, InferenceResult& result)
      : model_(model), options_(options), r_(result) {}

  Status infer_graph(const Graph& g, const std::vector<ValueType>* input_types);

 private:
  ValueType bind_input(const Value* v) const;
  InferInput input_info(const Value* v) const;
  Expected<ValueType> merge(const Value* v, const ValueType& inferred);
  Status infer_node(const Node& node);

  const Model& model_;
  const InferOptions& options_;
  InferenceResult& r_;
  std::unordered_map<const Value*, Tensor> constants_;
};

ValueType Inferencer::bind_input(const Value* v) const {
  ValueType t = v->type();
  if (!t.is_tensor()) return t;
  if (auto it = options_.input_shapes.find(v->name()); it != options_.input_shapes.end()) {
    t.shape = it->second;
  }
  if (t.shape) {
    for (Dim& d : *t.shape) {
      if (!d.is_symbolic()) continue;
      if (auto it = options_.dim_values.find(d.to_string()); it != options_.dim_values.end()) {
        d = Dim::known(it->second);
      }
    }
  }
  return t;
}

InferInput Inferencer::input_info(const Value* v) const {
  InferInput in;
  if (v == nullptr) return in;
  in.present = true;
  in.type = r_.type_of(v);
  if (auto it = constants_.find(v); it != constants_.end()) in.constant = &it->second;
  if (auto it = r_.data.find(v); it != r_.data.end()) in.data = &it->second;
  return in;
}

Expected<ValueType> Inferencer::merge(const Value* v, const ValueType& inferred) {
  const ValueType& declared = v->type();
  if (inferred.kind == ValueType::Kind::kUnknown) return declared;
  if (declared.kind == ValueType::Kind::kUnknown) return inferred;
  if (declared.kind != ValueType::Kind::kTensor || inferred.kind != ValueType::Kind::kTensor) {
    return declared.kind == inferred.kind ? declared : inferred;
  }
  ValueType out = inferred;
  auto conflict = [&]() -> Status {
    std::string msg = str_cat("value '", v->name(), "': declared ", declared.to_string(),
                              ", inferred ", inferred.to_string());
    if (options_.strict) return bad_input(msg);
    r_.warnings.push_back(std::move(msg));
    return Status::ok_status();
  };
  if (out.dtype == DType::kUndefined) out.dtype = declared.dtype;
  if (declared.dtype != DType::kUndefined && inferred.dtype != DType::kUndefined &&
      declared.dtype != inferred.dtype) {
    MIXQ_RETURN_IF_ERROR(conflict());
    return out;
  }
  if (!inferred.shape) {
    out.shape = declared.shape;
    return out;
  }
  if (!declared.shape) return out;
  if (declared.shape->size() != inferred.shape->size()) {
    MIXQ_RETURN_IF_ERROR(conflict());
    return out;
  }
  bool conflicting = false;
  for (size_t k = 0; k < out.shape->size(); ++k) {
    const Dim& d = (*declared.shape)[k];
    Dim& o = (*out.shape)[k];
    if (o.is_known()) {
      if (d.is_known() && d.value() != o.value()) conflicting = true;
    } else if (d.is_known() || o.is_unknown()) {
      o = d;  // the declaration is more specific
    }
  }
  if (conflicting) MIXQ_RETURN_IF_ERROR(conflict());
  return out;
}

Status Inferencer::infer_node(const Node& node) {
  const int64_t opset = model_.opset_for(node);
  const OpSchema* schema = find_op_schema(node.domain(), node.op_type(), opset);
  if (schema == nullptr) {
    r_.unknown_ops.push_back(&node);
    for (const Value* out : node.outputs()) {
      if (out) r_.types[out] = out->type();
    }
    return Status::ok_status();
  }
  std::vector<InferInput> inputs;
  inputs.reserve(node.inputs().size());
  for (const Value* v : node.inputs()) inputs.push_back(input_info(v));
  InferContext ctx(
      node, opset, std::move(inputs), node.outputs().size(),
      [this](const Graph& g, const std::vector<ValueType>& in) -> Expected<std::vector<ValueType>> {
        MIXQ_RETURN_IF_ERROR(infer_graph(g, &in));
        std::vector<ValueType> outs;
        for (const Value* o : g.outputs()) outs.push_back(r_.type_of(o));
        return outs;
      });
  MIXQ_RETURN_IF_ERROR(schema->infer(ctx));
  for (size_t i = 0; i < node.outputs().size(); ++i) {
    const Value* out = node.outputs()[i];
    if (out == nullptr) continue;
    InferOutput& o = ctx.mutable_outputs()[i];
    MIXQ_ASSIGN_OR_RETURN(r_.types[out], merge(out, o.type));
    // Refused here, before anything allocates it (a Reshape/Expand/ConstantOfShape of a huge
    // constant shape).
    MIXQ_RETURN_IF_ERROR(
        check_type_size(r_.types[out], str_cat(node.describe(), ": output '", out->name(), "'")));
    if (o.data) r_.data[out] = std::move(*o.data);
    if (o.constant) constants_.insert_or_assign(out, std::move(*o.constant));
  }
  return Status::ok_status();
}

Status Inferencer::infer_graph(const Graph& g, const std::vector<ValueType>* input_types) {
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    const Value* v = g.inputs()[i];
    ValueType t = g.parent() == nullptr ? bind_input(v) : v->type();
    if (input_types && i < input_types->size()) {
      MIXQ_ASSIGN_OR_RETURN(t, merge(v, (*input_types)[i]));
    }
    if (t.kind == ValueType::Kind::kUnknown && v->initializer()) {
      t = ValueType::tensor(v->initializer()->dtype(), shape_from_ints(v->initializer()->dims()));
    }
    if (g.parent() == nullptr) {
      if (auto it = options_.input_values.find(v->name()); it != options_.input_values.end()) {
        t = ValueType::tensor(it->second.dtype(), shape_from_ints(it->second.dims()));
        constants_.insert_or_assign(v, it->second);
      }
    }
    r_.types[v] = std::move(t);
  }
  for (const Value* v : g.initializers()) {
    if (!model_.is_constant_initializer(v)) continue;  // overridable at run time
    const Tensor& t = *v->initializer();
    r_.types[v] = ValueType::tensor(t.dtype(), shape_from_ints(t.dims()));
    constants_.insert_or_assign(v, t);
  }
  MIXQ_ASSIGN_OR_RETURN(auto order, topological_order(g));
  for (const Node* node : order) MIXQ_RETURN_IF_ERROR(infer_node(*node));
  return Status::ok_status();
}

}  // namespace

const ValueType& InferenceResult::type_of(const Value* v) const {
  auto it = types.find(v);
  return it == types.end() ? v->type() : it->second;
}

Expected<InferenceResult> infer_shapes(const Model& model, const InferOptions& options) {
  InferenceResult result;
  Inferencer inf(model, options, result);
  Status s = inf.infer_graph(model.graph(), nullptr);
  if (!s.ok()) {
    if (!model.source_path.empty()) return s.with_context(model.source_path.string());
    return s;
  }
  return result;
}

void apply_inferred_types(Model& model, const InferenceResult& result) {
  for_each_graph(model.graph(), [&](const Graph& g) {
    for (const auto& v : g.values()) {
      auto it = result.types.find(v.get());
      if (it != result.types.end() && !same_type(it->second, v->type()) &&
          it->second.kind != ValueType::Kind::kUnknown) {
        v->set_type(it->second);
      }
    }
  });
}

}  // namespace mixq::ir
