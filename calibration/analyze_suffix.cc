#include "mixq/calibration/analyze_suffix.h"

#include <set>
#include <unordered_map>

namespace mixq::calib {

namespace {

bool has_subgraph(const ir::Node& n) {
  for (const ir::Attribute& a : n.attributes()) {
    if (a.type == ir::AttrType::kGraph || a.type == ir::AttrType::kGraphs) return true;
  }
  return false;
}

bool is_constant_node(const ir::Node& n) {
  return n.is_onnx_domain() && n.op_type() == "Constant" && n.inputs().empty();
}

// Copies a node's attributes; the caller has refused graph-valued ones.
void copy_attributes(const ir::Node& from, ir::Node& to) {
  for (const ir::Attribute& a : from.attributes()) {
    ir::Attribute& b = to.add_attribute(a.name, a.type);
    b.f = a.f;
    b.i = a.i;
    b.s = a.s;
    b.t = a.t;
    b.floats = a.floats;
    b.ints = a.ints;
    b.strings = a.strings;
    b.tensors = a.tensors;
    b.ref_attr_name = a.ref_attr_name;
    b.proto_extras = a.proto_extras;
  }
  to.set_proto_extras(from.proto_extras());
}

}  // namespace

Expected<SuffixModel> build_suffix_model(const ir::Model& model, const ir::Node& layer) {
  const ir::Graph& g = model.graph();
  if (layer.graph() != &g) {
    return internal_error(layer.describe(), " is not a node of the model's main graph");
  }
  MIXQ_ASSIGN_OR_RETURN(const std::vector<ir::Node*> order, ir::topological_order(g));

  // The dependent nodes: the layer, then (in topological order) every node reading a value
  // that depends on it.
  std::set<const ir::Node*> in_suffix = {&layer};
  std::set<const ir::Value*> dependent(layer.outputs().begin(), layer.outputs().end());
  std::vector<const ir::Node*> suffix_nodes;
  bool after = false;
  for (const ir::Node* n : order) {
    if (n == &layer) {
      after = true;
      suffix_nodes.push_back(n);
      continue;
    }
    if (!after) continue;
    bool reads = false;
    for (const ir::Value* v : n->inputs()) reads = reads || (v && dependent.count(v));
    for (const ir::Value* v : n->implicit_inputs()) reads = reads || dependent.count(v);
    if (!reads) continue;
    in_suffix.insert(n);
    suffix_nodes.push_back(n);
    for (const ir::Value* v : n->outputs()) {
      if (v) dependent.insert(v);
    }
  }
  for (const ir::Node* n : suffix_nodes) {
    if (has_subgraph(*n)) {
      return unsupported(n->describe(), " depends on ", layer.describe(),
                         " and holds a subgraph; mixq analyze cannot recompute its suffix");
    }
  }

  SuffixModel out;
  out.model = std::make_unique<ir::Model>();
  ir::Model& m = *out.model;
  m.ir_version = model.ir_version;
  m.producer_name = model.producer_name;
  m.producer_version = model.producer_version;
  m.domain = model.domain;
  m.model_version = model.model_version;
  m.opset_imports = model.opset_imports;
  m.source_path = model.source_path;
  m.local_functions = model.local_functions;
  ir::Graph& sg = m.graph();
  sg.set_name(g.name());

  std::unordered_map<const ir::Value*, ir::Value*> copy;
  const auto make = [&](const ir::Value* v) -> ir::Value* {
    auto it = copy.find(v);
    if (it != copy.end()) return it->second;
    ir::Value* c = sg.create_value(v->name());
    c->set_type(v->type());
    copy.emplace(v, c);
    return c;
  };
  // Values the suffix reads but does not produce: constants are copied, Constant nodes cloned,
  // everything else becomes a graph input fed from the FP32 run.
  std::vector<const ir::Node*> constant_nodes;
  std::set<const ir::Node*> constant_seen;
  for (const ir::Node* n : suffix_nodes) {
    for (const ir::Value* v : n->inputs()) {
      if (v == nullptr || copy.count(v) || dependent.count(v)) continue;
      if (model.is_constant_initializer(v)) {
        sg.add_initializer(make(v), *v->initializer());
      } else if (v->producer() != nullptr && is_constant_node(*v->producer())) {
        if (constant_seen.insert(v->producer()).second) constant_nodes.push_back(v->producer());
        make(v);
      } else {
        ir::Value* c = make(v);
        // Fed whatever the FP32 run produced: the dtype is known, the shape need not be
        // declared (the executor checks declared dims against the feeds).
        if (v->type().is_tensor()) c->set_type(ir::ValueType::tensor(v->type().dtype));
        if (v->initializer() != nullptr) sg.add_initializer(c, *v->initializer());
        sg.add_input(c);
        out.inputs.push_back(v->name());
      }
    }
  }
  const auto clone = [&](const ir::Node& n) -> Expected<ir::Node*> {
    ir::Node* c = sg.add_node(n.op_type(), n.domain(), n.name());
    copy_attributes(n, *c);
    for (const ir::Value* v : n.inputs()) c->add_input(v ? make(v) : nullptr);
    for (const ir::Value* v : n.outputs()) {
      if (v == nullptr) {
        // An omitted optional output keeps its position.
        ir::Value* unused = sg.create_value(sg.unique_name(n.name() + "_unused"));
        MIXQ_RETURN_IF_ERROR(c->add_output(unused));
        continue;
      }
      MIXQ_RETURN_IF_ERROR(c->add_output(make(v)));
    }
    return c;
  };
  for (const ir::Node* n : constant_nodes) MIXQ_RETURN_IF_ERROR(clone(*n).status());
  for (const ir::Node* n : suffix_nodes) {
    MIXQ_ASSIGN_OR_RETURN(ir::Node * c, clone(*n));
    if (n == &layer) out.layer = c;
  }
  out.dependent_nodes = suffix_nodes.size();

  for (size_t k = 0; k < g.outputs().size(); ++k) {
    const ir::Value* v = g.outputs()[k];
    if (!dependent.count(v)) continue;
    sg.add_output(copy.at(v));
    out.original_outputs.push_back(k);
  }
  const ir::Value* lo = layer.output(0);
  bool found = false;
  for (size_t i = 0; i < sg.outputs().size(); ++i) {
    if (sg.outputs()[i] == copy.at(lo)) {
      out.layer_output = i;
      found = true;
    }
  }
  if (!found) {
    out.layer_output = sg.outputs().size();
    sg.add_output(copy.at(lo));
  }
  return out;
}

}  // namespace mixq::calib
