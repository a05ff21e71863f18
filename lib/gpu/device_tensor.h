// What lib/gpu's kernels operate on: a contiguous, row-major tensor in device memory, described
// on the host. No CUDA header here: the stream travels as an opaque handle, so the executor and
// the tests can name kernels without including CUDA; the .cu/.cc files that launch work cast
// it back to cudaStream_t.
#pragma once

#include <cstdint>
#include <vector>

#include "mixq/core/dtype.h"
#include "mixq/core/status.h"

namespace mixq::gpu {

using StreamHandle = void*;  // cudaStream_t; nullptr is the legacy default stream

struct DeviceTensor {
  void* data = nullptr;  // device pointer, contiguous row-major
  DType dtype = DType::kUndefined;
  std::vector<int64_t> dims;

  int64_t numel() const {
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    return n;
  }
};

}  // namespace mixq::gpu
