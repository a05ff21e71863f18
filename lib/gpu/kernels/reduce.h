// ONNX ReduceSum-13 / ReduceMean / ReduceMax / ReduceMin / ReduceProd / ReduceSumSquare /
// ReduceL1 / ReduceL2 / ReduceLogSumExp-18 on the device, with the CPU executor's accumulation
// rules (lib/exec/kernels/reduce/reduce.cc). Contiguous row-major DeviceTensors; work is
// enqueued on stream `s` without synchronizing. Deterministic: every output is reduced in a
// fixed order and tree that depend on the shapes only (no atomics), so repeated launches give
// bit-identical results. No CUDA header here.
#pragma once

#include <cstdint>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/gpu/device_tensor.h"

namespace mixq::gpu {

enum class ReduceOp { kSum, kMean, kMax, kMin, kProd, kSumSquare, kL1, kL2, kLogSumExp };

// Reduces x over `axes` (sorted, unique, normalized to [0, rank); empty means every axis) into
// y, which has x's dtype and the reduced shape with or without the kept 1s (only its numel and
// the order of the kept dims matter).
//   float32 / float16: sums, products and their relatives accumulate in float64 and are rounded
//     once to float32 (then to float16); Max / Min are exact and propagate NaN; LogSumExp is
//     max + log(sum(exp(x - max))) (exp in float32, the sum in float64).
//   int32 / int64: Sum and Prod wrap (two's complement); Max, Min. Other ops are refused.
// An empty reduction gives the op's identity: 0 (sums), 1 (product), -inf / +inf or the type's
// lowest / highest value (Max / Min), NaN (float Mean), -inf (LogSumExp).
// Refuses other dtypes and ops (unsupported), bad axes or a y numel that does not match
// (bad_input), and more than 8 dimensions after merging neighbours (unsupported).
Status reduce(ReduceOp op, const DeviceTensor& x, const std::vector<int64_t>& axes,
              const DeviceTensor& y, StreamHandle s);

}  // namespace mixq::gpu
