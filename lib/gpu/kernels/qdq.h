// Quantize and dequantize on the device, for the device executor and calibration: ONNX
// QuantizeLinear-19/21 and DequantizeLinear-19/21, per tensor or per axis (no blocked
// quantization). Codes and values match the CPU executor (lib/exec/kernels/quant) bit for bit.
#pragma once

#include <cstdint>

#include "mixq/core/status.h"
#include "mixq/gpu/device_tensor.h"

namespace mixq::gpu {

// ONNX QuantizeLinear (saturate = 1): y = saturate(round_half_even(x / scale) + zero_point).
// x: float32 or float16. scale: float32, or float16 for float16 x; one element (per tensor) or a
// 1-D tensor of x.dims[axis] elements (per axis; `axis` may be negative and is only read then).
// y: x's dims, int8, uint8 or float8e4m3fn.
// x / scale is the IEEE float32 quotient, as on the CPU. Integers: NaN gives the zero point,
// +-Inf and out-of-range values saturate. float8e4m3fn: round to nearest even, values past 448
// (and +-Inf) saturate to +-448, NaN keeps its sign (lib/core/float8.h).
// zero_point: optional, y's dtype and scale's element count; for float8e4m3fn it must be 0
// (ONNX requires it; the executor checks the values on the host) and its values are not read.
// Refuses other dtypes (unsupported) and mismatched shapes (bad input).
Status quantize_linear(const DeviceTensor& x, const DeviceTensor& scale,
                       const DeviceTensor* zero_point, int64_t axis, const DeviceTensor& y,
                       StreamHandle s);

// ONNX DequantizeLinear: y = (x - zero_point) * scale, the exact value rounded once to y's type.
// x: int8, uint8, int32 or float8e4m3fn. scale: float32 or float16, per tensor or per axis as
// above. y: x's dims, float32 or float16. zero_point: optional, x's dtype; for float8e4m3fn it
// must be 0 and is not read, for int32 ONNX requires 0 (the executor checks on the host).
Status dequantize_linear(const DeviceTensor& x, const DeviceTensor& scale,
                         const DeviceTensor* zero_point, int64_t axis, const DeviceTensor& y,
                         StreamHandle s);

}  // namespace mixq::gpu
