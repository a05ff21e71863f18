// One node at a time, outside an Executor: its shape function on concrete input types, and its
// CPU kernel on host tensors. The device executor (lib/gpu) uses these for the host side of
// every step: output dims of device kernels, shape computations on small host tensors, and CPU
// fallbacks of nodes that have no device kernel.
#pragma once

#include <cstdint>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/exec/thread_pool.h"
#include "mixq/ir/graph.h"
#include "mixq/ir/tensor.h"

namespace mixq::exec {

// What is known about one input of a node: absent (optional and omitted), or dtype and dims,
// plus its value when the host has it (shape inputs such as Reshape's `shape` need it).
struct NodeInput {
  bool present = false;
  DType dtype = DType::kUndefined;
  std::vector<int64_t> dims;
  const ir::Tensor* value = nullptr;
};

// The node's shape function on these inputs: each output's dtype and dims (bad input naming the
// node when they are invalid; unsupported when mixq has no shape function for the op, or the
// dims depend on data the host does not have).
struct NodeOutputType {
  DType dtype = DType::kUndefined;
  std::vector<int64_t> dims;
};
Expected<std::vector<NodeOutputType>> infer_node_outputs(const ir::Node& node, int64_t opset,
                                                         const std::vector<NodeInput>& inputs);

// Runs the node's CPU kernel on host tensors (nullptr for omitted inputs) and returns its
// outputs (an undefined tensor for an omitted output). Subgraph ops (If, Loop, Scan) are
// refused as unsupported.
Expected<std::vector<ir::Tensor>> run_node_on_cpu(const ir::Node& node, int64_t opset,
                                                  const std::vector<const ir::Tensor*>& inputs,
                                                  ThreadPool& pool);

}  // namespace mixq::exec
