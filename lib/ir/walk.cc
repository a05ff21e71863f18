#include "mixq/ir/walk.h"

namespace mixq::ir {

void for_each_graph(const Graph& g, const std::function<void(const Graph&)>& fn) {
  fn(g);
  for (const auto& node : g.nodes()) {
    for (const auto& a : node->attributes()) {
      if (a.g) for_each_graph(*a.g, fn);
      for (const auto& sub : a.graphs) for_each_graph(*sub, fn);
    }
  }
}

void for_each_tensor(
    const Graph& g,
    const std::function<void(const Tensor& t, const Value* init, const Node* node)>& fn) {
  for_each_graph(g, [&](const Graph& graph) {
    for (const Value* v : graph.initializers()) fn(*v->initializer(), v, nullptr);
    for (const auto& node : graph.nodes()) {
      for (const auto& a : node->attributes()) {
        if (a.type == AttrType::kTensor) fn(a.t, nullptr, node.get());
        for (const auto& t : a.tensors) fn(t, nullptr, node.get());
      }
    }
  });
}

}  // namespace mixq::ir
