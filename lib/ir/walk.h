// Visiting every graph and every constant tensor of a model, subgraphs included.
#pragma once

#include <functional>

#include "mixq/ir/graph.h"

namespace mixq::ir {

// Calls fn on `g` and then on every subgraph below it, depth first, in node and attribute order.
void for_each_graph(const Graph& g, const std::function<void(const Graph&)>& fn);

// Calls fn on every tensor stored in the model below `g`: initializers, and tensor-valued
// attributes (Constant values and the like). `init` is the initializer's Value, or nullptr for
// an attribute tensor, in which case `node` is the node carrying it.
void for_each_tensor(
    const Graph& g,
    const std::function<void(const Tensor& t, const Value* init, const Node* node)>& fn);

}  // namespace mixq::ir
