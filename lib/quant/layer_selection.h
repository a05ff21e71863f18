// Which layers mixq can quantize: MatMul, Gemm, Conv and ConvTranspose whose weight is a
// constant (an initializer that is not a graph input, or a Constant node's output).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mixq/ir/model.h"

namespace mixq::quant {

struct QuantizableLayer {
  const ir::Node* node = nullptr;
  std::string op_type;
  const ir::Value* weight = nullptr;  // the weight input (B for MatMul/Gemm, W for convolutions)
  size_t weight_input = 1;
  DType weight_dtype = DType::kUndefined;
  std::vector<int64_t> weight_shape;
};

// The op types quantized by default.
const std::vector<std::string>& default_quantizable_op_types();

// The constant tensor behind `v` (a constant initializer or a Constant node's value), or nullptr.
const ir::Tensor* constant_tensor(const ir::Model& model, const ir::Value* v);

// Quantizable layers of the main graph, in node order.
std::vector<QuantizableLayer> find_quantizable_layers(const ir::Model& model);

}  // namespace mixq::quant
