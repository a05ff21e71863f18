#include <queue>
#include <unordered_map>

#include "mixq/ir/graph.h"

namespace mixq::ir {
namespace {

// Producers (in `graph`) of the values node `n` reads, explicit and implicit.
template <typename Fn>
void for_each_dependency(const Graph& graph, const Node& n, Fn&& fn) {
  auto visit = [&](const Value* v) {
    if (v && v->producer() && v->producer()->graph() == &graph) fn(v->producer());
  };
  for (const Value* v : n.inputs()) visit(v);
  for (const Value* v : n.implicit_inputs()) visit(v);
}

}  // namespace

Expected<std::vector<Node*>> topological_order(const Graph& graph) {
  const auto& nodes = graph.nodes();
  std::unordered_map<const Node*, size_t> position;
  position.reserve(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) position[nodes[i].get()] = i;

  std::vector<size_t> pending(nodes.size(), 0);
  std::vector<std::vector<size_t>> dependents(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) {
    for_each_dependency(graph, *nodes[i], [&](const Node* p) {
      ++pending[i];
      dependents[position.at(p)].push_back(i);
    });
  }

  // Min-heap on list position keeps the order deterministic and file-order preserving.
  std::priority_queue<size_t, std::vector<size_t>, std::greater<size_t>> ready;
  for (size_t i = 0; i < nodes.size(); ++i) {
    if (pending[i] == 0) ready.push(i);
  }
  std::vector<Node*> order;
  order.reserve(nodes.size());
  while (!ready.empty()) {
    const size_t i = ready.top();
    ready.pop();
    order.push_back(nodes[i].get());
    for (size_t d : dependents[i]) {
      if (--pending[d] == 0) ready.push(d);
    }
  }
  if (order.size() == nodes.size()) return order;

  // Every node left has a pending producer that is also left: walk producers until one repeats.
  size_t start = 0;
  while (pending[start] == 0) ++start;
  std::vector<size_t> path;
  std::unordered_map<size_t, size_t> seen_at;
  size_t cur = start;
  while (!seen_at.count(cur)) {
    seen_at[cur] = path.size();
    path.push_back(cur);
    size_t next = cur;
    for_each_dependency(graph, *nodes[cur], [&](const Node* p) {
      const size_t j = position.at(p);
      if (next == cur && pending[j] != 0) next = j;
    });
    cur = next;
  }
  // path[s..] is the cycle walked against the edges (each entry's producer is the next one, and
  // path.back()'s producer is path[s]); print it along the edges.
  const size_t s = seen_at[cur];
  std::string cycle = nodes[path[s]]->describe();
  for (size_t k = path.size() - 1; k > s; --k) cycle += " -> " + nodes[path[k]]->describe();
  cycle += " -> " + nodes[path[s]]->describe();
  return bad_input("graph", graph.name().empty() ? "" : " '" + graph.name() + "'",
                   " has a cycle: ", cycle);
}

}  // namespace mixq::ir
