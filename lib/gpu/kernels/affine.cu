// ONNX BatchNormalization-15 (inference, folded to a per-channel affine map) and Pad-21
// (constant mode) on the device.
#include "mixq/gpu/kernels/affine.h"

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstring>

#include "mixq/gpu/memory.h"

namespace mixq::gpu {

namespace {

constexpr int kThreads = 256;
constexpr int kMaxDims = 8;

int blocks_for(int64_t n) {
  return static_cast<int>(std::min<int64_t>((n + kThreads - 1) / kThreads, 65535));
}

template <typename T>
__device__ float load(const T* p, int64_t i);
template <>
__device__ float load<float>(const float* p, int64_t i) {
  return p[i];
}
template <>
__device__ float load<__half>(const __half* p, int64_t i) {
  return __half2float(p[i]);
}
__device__ void store(float* p, int64_t i, float v) { p[i] = v; }
__device__ void store(__half* p, int64_t i, float v) { p[i] = __float2half_rn(v); }

template <typename T>
__global__ void channel_affine_kernel(const T* x, const float* a, const float* b, T* y, int64_t n,
                                      int64_t channels, int64_t inner) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t c = (i / inner) % channels;
    store(y, i, fmaf(load(x, i), a[c], b[c]));
  }
}

struct PadShape {
  int rank;
  int64_t out_dims[kMaxDims];
  int64_t in_dims[kMaxDims];
  int64_t begin[kMaxDims];
};

template <typename T>
__global__ void pad_kernel(const T* x, T* y, int64_t n, PadShape s, T value) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    int64_t rem = i, src = 0, stride = 1;
    bool inside = true;
    for (int k = s.rank - 1; k >= 0; --k) {
      const int64_t o = rem % s.out_dims[k];
      rem /= s.out_dims[k];
      const int64_t j = o - s.begin[k];
      if (j < 0 || j >= s.in_dims[k]) inside = false;
      src += j * stride;
      stride *= s.in_dims[k];
    }
    y[i] = inside ? x[src] : value;
  }
}

template <typename T>
Status launch_pad(const DeviceTensor& x, const PadShape& shape, uint64_t bits,
                  const DeviceTensor& y, StreamHandle s) {
  T value;
  static_assert(sizeof(T) <= sizeof(uint64_t));
  std::memcpy(&value, &bits, sizeof(T));
  const int64_t n = y.numel();
  if (n == 0) return Status::ok_status();
  pad_kernel<T><<<blocks_for(n), kThreads, 0, static_cast<cudaStream_t>(s)>>>(
      static_cast<const T*>(x.data), static_cast<T*>(y.data), n, shape, value);
  return last_launch_error("Pad");
}

}  // namespace

Status channel_affine(const DeviceTensor& x, const float* a, const float* b, const DeviceTensor& y,
                      StreamHandle s) {
  if (x.dims.size() < 2 || x.dims != y.dims || x.dtype != y.dtype) {
    return bad_input(
        "BatchNormalization on the device: x and y need the same dims (rank >= 2) "
        "and dtype");
  }
  const int64_t n = x.numel(), channels = x.dims[1];
  int64_t inner = 1;
  for (size_t k = 2; k < x.dims.size(); ++k) inner *= x.dims[k];
  if (n == 0) return Status::ok_status();
  const auto stream = static_cast<cudaStream_t>(s);
  if (x.dtype == DType::kFloat32) {
    channel_affine_kernel<float><<<blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const float*>(x.data), a, b, static_cast<float*>(y.data), n, channels, inner);
  } else if (x.dtype == DType::kFloat16) {
    channel_affine_kernel<__half><<<blocks_for(n), kThreads, 0, stream>>>(
        static_cast<const __half*>(x.data), a, b, static_cast<__half*>(y.data), n, channels, inner);
  } else {
    return unsupported("BatchNormalization on the device takes float32 or float16, not ",
                       dtype_name(x.dtype));
  }
  return last_launch_error("BatchNormalization");
}

Status pad_constant(const DeviceTensor& x, const std::vector<int64_t>& begin, uint64_t value_bits,
                    const DeviceTensor& y, StreamHandle s) {
  const size_t rank = x.dims.size();
  if (rank > kMaxDims || y.dims.size() != rank || begin.size() != rank || x.dtype != y.dtype) {
    return bad_input("Pad on the device: x, y and the pads must agree in rank (at most ", kMaxDims,
                     ") and dtype");
  }
  PadShape shape{};
  shape.rank = static_cast<int>(rank);
  for (size_t k = 0; k < rank; ++k) {
    if (begin[k] < 0 || begin[k] + x.dims[k] > y.dims[k]) {
      return bad_input("Pad on the device: pad ", begin[k], " on dim ", k, " does not fit ",
                       x.dims[k], " in ", y.dims[k]);
    }
    shape.out_dims[k] = y.dims[k];
    shape.in_dims[k] = x.dims[k];
    shape.begin[k] = begin[k];
  }
  switch (dtype_bits(x.dtype)) {
    case 8:
      return launch_pad<uint8_t>(x, shape, value_bits, y, s);
    case 16:
      return launch_pad<uint16_t>(x, shape, value_bits, y, s);
    case 32:
      return launch_pad<uint32_t>(x, shape, value_bits, y, s);
    case 64:
      return launch_pad<uint64_t>(x, shape, value_bits, y, s);
    default:
      return unsupported("Pad on the device: ", dtype_name(x.dtype), " has no kernel");
  }
}

}  // namespace mixq::gpu
