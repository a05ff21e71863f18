// Undoing QDQ quantization, for `mixq convert --requantize`: a model that already holds
// QuantizeLinear/DequantizeLinear nodes becomes the float model they simulate, so it can be
// quantized anew.
//
//   DequantizeLinear(constant q, scale, zero_point[, axis]) -> a float32 initializer holding
//       (q - zero_point) * scale (per tensor or per axis), read by the DQ's consumers;
//   x -> QuantizeLinear -> DequantizeLinear -> consumers  =>  x -> consumers.
//
// The folded weights are the dequantized values (what the QDQ model computed with), not the
// original float weights, which the file no longer holds. Refuses (unsupported), naming the
// node: blocked quantization, a Q/DQ pair whose output is a graph output, a DequantizeLinear of
// a non-constant input that no QuantizeLinear produced, QuantizeLinear feeding anything but
// DequantizeLinear, storage types other than INT8/UINT8/FLOAT8E4M3FN/FLOAT8E5M2, and the
// integer-arithmetic ops (QLinearConv, QLinearMatMul, MatMulInteger, ConvInteger).
#pragma once

#include <string>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"

namespace mixq::quant {

// Rewrites the main graph in place; appends one log line per folded weight and removed pair.
Status strip_qdq(ir::Model& model, std::vector<std::string>& log);

}  // namespace mixq::quant
