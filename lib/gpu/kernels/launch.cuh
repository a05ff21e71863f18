// Launch geometry shared by the grid-stride kernels of lib/gpu/kernels (internal to them).
#pragma once

#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>

#include "mixq/gpu/device_tensor.h"

namespace mixq::gpu::launch {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;      // grid-stride loops cover the rest
constexpr int64_t kMaxInt32 = 0x7fffffff;  // the largest count 32-bit index kernels take

inline cudaStream_t raw(StreamHandle s) { return static_cast<cudaStream_t>(s); }

// Blocks of kThreads covering n elements, at most kMaxBlocks.
inline unsigned blocks_for(int64_t n) {
  return static_cast<unsigned>(std::min<int64_t>((n + kThreads - 1) / kThreads, kMaxBlocks));
}

}  // namespace mixq::gpu::launch
