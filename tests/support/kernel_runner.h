// Running one ONNX node on the CPU executor from a test:
//
//   auto out = testing::run_node("Conv", {x, w}, {.opset = 17, .attrs = [](ir::Node& n) {
//       testing::set_ints(n, "pads", {1, 1, 1, 1}); }});
//   ASSERT_TRUE(out.ok()) << out.status().to_string();
//   const ir::Tensor& y = (*out)[0];
//
// Inputs become graph inputs with their exact types (nullopt entries are omitted optional
// inputs); `constant_inputs` marks inputs given as initializers instead (shape inputs).
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/exec/executor.h"
#include "mixq/ir/graph.h"
#include "mixq/ir/model.h"
#include "mixq/ir/tensor.h"

namespace mixq::testing {

struct NodeSpec {
  int64_t opset = 21;
  std::function<void(ir::Node&)> attrs;
  size_t num_outputs = 1;
  std::set<size_t> constant_inputs;  // indices of inputs stored as initializers
  int threads = 2;
  std::string domain;
};

Expected<std::vector<ir::Tensor>> run_node(const std::string& op,
                                           const std::vector<std::optional<ir::Tensor>>& inputs,
                                           const NodeSpec& spec = {});

// Seeded random tensors for kernel tests.
ir::Tensor random_floats(const std::vector<int64_t>& dims, uint32_t seed, float lo = -1.0f,
                         float hi = 1.0f);
ir::Tensor random_int64s(const std::vector<int64_t>& dims, uint32_t seed, int64_t lo, int64_t hi);
// The tensor converted to float64 values (any numeric dtype).
std::vector<double> to_doubles(const ir::Tensor& t);
// A float32 tensor from float64 values (references computed in float64).
ir::Tensor from_doubles(const std::vector<int64_t>& dims, const std::vector<double>& values);

// "" when every element of `got` is within the dtype's tolerance of `want` (float64 reference
// values); else the first offending index and values. The relative part of the tolerance scales
// with |want|, or with `magnitude[i]` when given: for sums (dot products, reductions) pass the
// sum of the absolute terms, since rounding error grows with them, not with the result.
std::string compare_to_reference(const ir::Tensor& got, const std::vector<double>& want,
                                 const std::vector<double>* magnitude = nullptr);

// Runs a whole model once on one thread; a failure is a test failure and gives no outputs.
std::vector<ir::Tensor> run_model(const ir::Model& m, const exec::NamedTensors& feeds);

// Nodes of op type `op` in the model's main graph.
int count_ops(const ir::Model& m, std::string_view op);

}  // namespace mixq::testing
