// Data movement on the device: ONNX Transpose-21, Gather-13, Concat-13 and Slice-13 over
// contiguous row-major tensors, for the device executor. Shapes, attributes and Slice's
// starts/ends come resolved from the host (the executor's shape inference); these functions copy
// bytes. Any dtype whose elements are whole bytes (bool, the 8/16/32/64-bit integers and floats,
// the float8 types, complex); the packed 4-bit types and strings are refused as unsupported.
// At most 8 dims. Work is queued on stream `s`; only gather() synchronizes (see there).
#pragma once

#include <cstdint>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/gpu/device_tensor.h"

namespace mixq::gpu {

// ONNX Transpose: y.dims[k] = x.dims[perm[k]], y[i...] = x[i permuted back]. `perm` is a
// permutation of [0, rank); y has x's dtype. Refuses mismatched shapes or dtypes (bad input).
Status transpose(const DeviceTensor& x, const std::vector<int64_t>& perm, const DeviceTensor& y,
                 StreamHandle s);

// ONNX Gather: y = data indexed along `axis` (negative counts from the back) by `indices` (int32
// or int64; a negative index counts from the end of the axis). y.dims = data.dims[:axis] +
// indices.dims + data.dims[axis + 1:].
// Indices live on the device, so they are checked there: a small kernel records the position of
// the first index outside [-n, n), and the host reads that record back with one synchronizing
// copy before the gather is queued. An out-of-range index returns bad input naming "Gather", the
// index and its position, and leaves y unwritten. The gather kernel clamps indices as well, so
// it never reads outside `data` even if the indices changed after the check.
// Cost: one extra small launch and one stream synchronization per call.
Status gather(const DeviceTensor& data, const DeviceTensor& indices, int64_t axis,
              const DeviceTensor& y, StreamHandle s);

// ONNX Concat: y = the inputs joined along `axis` (negative counts from the back). Every input
// has y's dtype and rank and y's dims except on `axis`, where y's is their sum. Empty inputs are
// allowed.
Status concat(const std::vector<DeviceTensor>& xs, int64_t axis, const DeviceTensor& y,
              StreamHandle s);

// ONNX Slice with the per-dimension start and step already resolved on the host (one entry per
// dim of x; the clamping of Operators.md applied): y[i...] = x[starts[k] + i_k * steps[k]...],
// with y.dims[k] elements on dim k. Steps may be negative, never 0. Refuses a start or a last
// element outside x (bad input), so the kernel never reads out of bounds.
Status slice(const DeviceTensor& x, const std::vector<int64_t>& starts,
             const std::vector<int64_t>& steps, const DeviceTensor& y, StreamHandle s);

}  // namespace mixq::gpu
