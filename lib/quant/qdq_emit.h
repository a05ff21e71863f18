// QDQ emission: the rewrite that makes a float model a quantized ONNX model that ONNX Runtime
// runs and that follows TensorRT's QDQ rules.
//
// For each layer planned INT8 or FP8 (MatMul, Gemm, Conv, ConvTranspose with a constant weight):
//   - the weight becomes an INT8 / FLOAT8E4M3FN initializer, symmetric per output channel
//     (axis 0 for Conv, 1 for ConvTranspose, the N axis of MatMul's B and Gemm's B), followed by
//     DequantizeLinear(weight_q, scale, zero_point = 0, axis);
//   - unless weights_only, the activation input gets its own QuantizeLinear -> DequantizeLinear
//     pair (per tensor, scale = range / qmax, zero point a constant 0), one pair per consumer
//     edge, so a shared activation feeding several layers is quantized for each of them;
//   - biases stay float and outputs are not quantized.
// A batched MatMul (both inputs activations) planned INT8/FP8 gets a Q/DQ pair on each input.
// INT8 uses qmax 127 (weights are clamped to [-127, 127]); FP8 E4M3 uses 448.
// The model must already be at a suitable opset (INT8 per-axis: 13, FP8: 19). Every insertion
// appends one line to the log.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"

namespace mixq::quant {

enum class Precision { kFp32, kFp16, kInt8, kFp8 };

// "fp32", "fp16", "int8", "fp8"
const char* precision_name(Precision p);
std::optional<Precision> parse_precision(const std::string& name);
// The largest magnitude of the format's symmetric grid: 127 (INT8), 448 (FP8 E4M3).
double precision_qmax(Precision p);

// One layer to rewrite: a node of the model's main graph.
struct LayerTarget {
  ir::Node* node = nullptr;
  Precision precision = Precision::kFp32;
  size_t weight_input = 1;  // the constant weight's input index; ignored for batched MatMul
  bool batched = false;     // MatMul whose both inputs are activations
};

struct QdqOptions {
  bool weights_only = false;
  // The clipping range (a positive absolute value) of an activation tensor for a format;
  // nullopt when none is known (the layer's activation then stays float, logged).
  std::function<std::optional<double>(const std::string& tensor, Precision p)> activation_range;
};

// Rewrites `layers` (INT8/FP8 ones; others are skipped) in place. Appends to `log`. Refuses
// (unsupported) a weight that is not float32/float16 or has no channel axis where one is needed.
Status emit_qdq(ir::Model& model, const std::vector<LayerTarget>& layers, const QdqOptions& options,
                std::vector<std::string>& log);

// The output-channel axis of a layer's weight (see above), for rank `rank`.
int64_t weight_channel_axis(const ir::Node& node, int64_t rank);

}  // namespace mixq::quant
