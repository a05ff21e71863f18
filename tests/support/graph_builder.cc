#include "graph_builder.h"

namespace mixq::testing {

GraphBuilder::GraphBuilder(int64_t opset) : model_(std::make_unique<ir::Model>()) {
  model_->ir_version = 8;
  model_->opset_imports.push_back({"", opset});
}

ir::Value* GraphBuilder::input(const std::string& name, DType dtype, std::vector<DimSpec> dims,
                               bool rank_known) {
  ir::Value* v = model_->graph().create_value(name);
  std::optional<ir::Shape> shape;
  if (rank_known) {
    shape = ir::Shape();
    for (const auto& d : dims) {
      if (std::holds_alternative<int64_t>(d)) {
        shape->push_back(ir::Dim::known(std::get<int64_t>(d)));
      } else if (std::get<std::string>(d) == "?") {
        shape->push_back(ir::Dim());
      } else {
        shape->push_back(ir::Dim::symbol(std::get<std::string>(d)));
      }
    }
  }
  v->set_type(ir::ValueType::tensor(dtype, shape));
  model_->graph().add_input(v);
  return v;
}

ir::Value* GraphBuilder::constant(const std::string& name, ir::Tensor t) {
  ir::Value* v = model_->graph().create_value(name);
  t.set_name(name);
  model_->graph().add_initializer(v, std::move(t));
  return v;
}

std::vector<ir::Value*> GraphBuilder::node(const std::string& op, std::vector<ir::Value*> inputs,
                                           size_t num_outputs,
                                           const std::function<void(ir::Node&)>& attrs,
                                           const std::string& domain) {
  const std::string name = op + "_" + std::to_string(counter_++);
  ir::Node* n = model_->graph().add_node(op, domain, name);
  for (ir::Value* in : inputs) n->add_input(in);
  std::vector<ir::Value*> outs;
  for (size_t i = 0; i < num_outputs; ++i) {
    ir::Value* o = model_->graph().create_value(name + "_out" + std::to_string(i));
    (void)n->add_output(o);
    outs.push_back(o);
  }
  if (attrs) attrs(*n);
  return outs;
}

Expected<ir::InferenceResult> GraphBuilder::infer(const ir::InferOptions& options) const {
  return ir::infer_shapes(*model_, options);
}

void set_int(ir::Node& n, const std::string& name, int64_t v) {
  n.add_attribute(name, ir::AttrType::kInt).i = v;
}
void set_float(ir::Node& n, const std::string& name, float v) {
  n.add_attribute(name, ir::AttrType::kFloat).f = v;
}
void set_string(ir::Node& n, const std::string& name, const std::string& v) {
  n.add_attribute(name, ir::AttrType::kString).s = v;
}
void set_ints(ir::Node& n, const std::string& name, const std::vector<int64_t>& v) {
  n.add_attribute(name, ir::AttrType::kInts).ints = v;
}
void set_floats(ir::Node& n, const std::string& name, const std::vector<float>& v) {
  n.add_attribute(name, ir::AttrType::kFloats).floats = v;
}
void set_tensor(ir::Node& n, const std::string& name, ir::Tensor t) {
  n.add_attribute(name, ir::AttrType::kTensor).t = std::move(t);
}
void set_graph(ir::Node& n, const std::string& name, std::unique_ptr<ir::Graph> g) {
  n.add_attribute(name, ir::AttrType::kGraph).g = std::move(g);
}

std::string type_string(const Expected<ir::InferenceResult>& r, const ir::Value* v) {
  if (!r.ok()) return "error: " + r.status().to_string();
  return r->type_of(v).to_string();
}

}  // namespace mixq::testing
