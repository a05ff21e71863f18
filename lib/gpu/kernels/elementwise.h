// ONNX elementwise ops on the device: unary math and activations, broadcasting binary
// arithmetic / comparison / logic, Where-16, Cast-21 (numeric types) and Expand-13.
//
// Every entry point takes contiguous row-major DeviceTensors whose dims the caller has already
// computed (shape inference), checks that the shapes and dtypes fit together, enqueues its work
// on stream `s` and returns without synchronizing. Errors are Status: bad_input for shapes that
// do not fit, unsupported for dtype combinations the device kernels do not implement, and the
// launch error (gpu::last_launch_error) otherwise. Results match the CPU executor's kernels
// (lib/exec/kernels) to the tolerances documented in tests/gpu/elementwise_kernels_test.cc.
// No CUDA header here.
#pragma once

#include "mixq/core/status.h"
#include "mixq/gpu/device_tensor.h"

namespace mixq::gpu {

// y = f(x). float16 is computed in float32 and rounded once. NaN behaves as in the CPU kernels
// (Relu(NaN) = 0; LeakyRelu, Clip and HardSigmoid pass NaN through).
enum class UnaryOp {
  kRelu,
  kSigmoid,
  kTanh,
  kErf,
  kGeluErf,   // Gelu-20 approximate="none": x/2 * (1 + erf(x / sqrt 2))
  kGeluTanh,  // Gelu-20 approximate="tanh": x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715 x^3)))
  kExp,
  kLog,
  kSqrt,
  kReciprocal,
  kNeg,
  kAbs,
  kLeakyRelu,    // max(x, 0) + alpha * min(x, 0)
  kClip,         // min(max(x, alpha), beta)
  kHardSigmoid,  // max(0, min(1, alpha * x + beta))
  kHardSwish,    // x * max(0, min(1, x / 6 + 0.5))
  kSoftplus,     // log(1 + e^x) without overflow
  kElu,          // x < 0 ? alpha * (e^x - 1) : x
  kIdentity,
  kNot,  // bool only
  kFloor,
  kCeil,
  kSin,
  kCos,
};

// Attributes of the parametrized activations: LeakyRelu / Elu use alpha; Clip clips to
// [alpha, beta]; HardSigmoid is max(0, min(1, alpha * x + beta)). The caller fills in the ONNX
// defaults (LeakyRelu 0.01, Elu 1, HardSigmoid 0.2 / 0.5, Clip -/+ the dtype's largest value).
struct UnaryParams {
  float alpha = 0;
  float beta = 0;
};

// x and y have the same dtype and numel (dims are not compared: Identity and friends may be
// used as reshaping copies). float32 or float16 for every op but kNot, which takes bool only.
// Refuses other dtypes (unsupported) and a numel mismatch (bad_input).
Status unary(UnaryOp op, const DeviceTensor& x, const DeviceTensor& y, const UnaryParams& p,
             StreamHandle s);

// Binary ops with numpy (multidirectional) broadcasting of a and b to y.dims.
//   kAdd kSub kMul kDiv kPow kMax kMin kMod kFmod: y has the inputs' dtype.
//     float32 / float16 (computed in float32, rounded once), int32, int64.
//     Integers wrap on overflow (two's complement); Div truncates toward zero; Pow is exact
//     by repeated squaring (wrapping).
//     kMod is ONNX Mod with fmod = 0: integers only, the remainder takes the divisor's sign
//     (Python's %); float inputs are refused, as ONNX requires fmod = 1 for them.
//     kFmod is ONNX Mod with fmod = 1: the C fmod remainder (the dividend's sign), any dtype.
//     Max/Min propagate NaN.
//     Integer division or remainder by zero, and integer 0 raised to a negative power, give 0:
//     the device cannot refuse them per element (the CPU executor refuses the whole node).
//   kEqual kLess kLessOrEqual kGreater kGreaterOrEqual: y is bool. float32, float16, int32,
//     int64, and bool (compared as 0 / 1). NaN compares unequal and unordered.
//   kAnd kOr kXor: bool inputs, bool y.
// a and b must have the same dtype. Refuses shapes that do not broadcast to y.dims (bad input)
// and ranks past 8 after merging compatible dimensions (unsupported).
enum class BinaryOp {
  kAdd,
  kSub,
  kMul,
  kDiv,
  kPow,
  kMax,
  kMin,
  kMod,
  kEqual,
  kLess,
  kLessOrEqual,
  kGreater,
  kGreaterOrEqual,
  kAnd,
  kOr,
  kXor,
  kFmod,
};
Status binary(BinaryOp op, const DeviceTensor& a, const DeviceTensor& b, const DeviceTensor& y,
              StreamHandle s);

// ONNX Where-16: out = cond ? x : y, broadcasting all three to out.dims. cond is bool; x, y and
// out share one dtype of 1, 2, 4 or 8 bytes per element (elements are copied as bytes).
Status where(const DeviceTensor& cond, const DeviceTensor& x, const DeviceTensor& y,
             const DeviceTensor& out, StreamHandle s);

// ONNX Cast-21 between float32, float16, bfloat16, int32, int64, int8, uint8 and bool (x and y
// have the same numel), as the CPU executor's Cast:
//   to float16 / bfloat16: round to nearest even, once (integers included), +-Inf past range;
//   float to integer: toward zero; values that fit int64 wrap to the target's width (two's
//     complement), values beyond saturate to the target's limits, NaN gives 0;
//   integer to integer: the low bits (two's complement); to bool: x != 0 (NaN is true);
//   bool to anything: 0 or 1. The same dtype on both sides is a copy.
Status cast(const DeviceTensor& x, const DeviceTensor& y, StreamHandle s);

// ONNX Expand-13: x broadcast (numpy rules, right-aligned) to y.dims; y.dims is the broadcast of
// x.dims with the `shape` input, computed by the caller. Any dtype of 1, 2, 4 or 8 bytes.
Status expand(const DeviceTensor& x, const DeviceTensor& y, StreamHandle s);

}  // namespace mixq::gpu
