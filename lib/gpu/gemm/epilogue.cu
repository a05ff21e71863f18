// The element-wise kernels around the GEMMs and convolutions; contracts in epilogue.h.
//
// 2-D grids (rows on y, columns on x, both grid-strided) so that the per-column vectors
// (channel scales, bias) are read coalesced and no thread divides to find its column.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

#include <algorithm>

#include "mixq/gpu/gemm/epilogue.h"
#include "mixq/gpu/memory.h"

namespace mixq::gpu::gemm_detail {

namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxGridX = 1024;
constexpr int64_t kMaxGridY = 65535;

dim3 grid_for(int64_t rows, int64_t cols) {
  const int64_t x = std::min<int64_t>((cols + kThreads - 1) / kThreads, kMaxGridX);
  const int64_t y = std::min<int64_t>(rows, kMaxGridY);
  return dim3(static_cast<unsigned>(x), static_cast<unsigned>(y), 1);
}

cudaStream_t raw(StreamHandle s) { return static_cast<cudaStream_t>(s); }

template <typename Out>
__device__ Out to_out(float v);
template <>
__device__ float to_out<float>(float v) {
  return v;
}
template <>
__device__ __half to_out<__half>(float v) {
  return __float2half_rn(v);
}
template <>
__device__ __nv_bfloat16 to_out<__nv_bfloat16>(float v) {
  return __float2bfloat16_rn(v);
}

// No __restrict__: src and y may be the same float32 buffer (in place).
template <typename Src, typename Out>
__global__ void finish_kernel(const Src* src, float scale, const float* channel_scale,
                              const float* bias, Out* y, int64_t m, int64_t n) {
  for (int64_t i = blockIdx.y; i < m; i += gridDim.y) {
    for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < n;
         j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const float s = channel_scale != nullptr ? scale * channel_scale[j] : scale;
      const float b = bias != nullptr ? bias[j] : 0.0f;
      const float v = src != nullptr ? static_cast<float>(src[i * n + j]) : 0.0f;
      y[i * n + j] = to_out<Out>(fmaf(v, s, b));
    }
  }
}

template <typename Src>
Status finish(const Src* src, float scale, const float* channel_scale, const float* bias, void* y,
              DType out, int64_t m, int64_t n, StreamHandle stream) {
  if (m == 0 || n == 0) return Status::ok_status();
  const dim3 grid = grid_for(m, n);
  switch (out) {
    case DType::kFloat32:
      finish_kernel<<<grid, kThreads, 0, raw(stream)>>>(src, scale, channel_scale, bias,
                                                        static_cast<float*>(y), m, n);
      break;
    case DType::kFloat16:
      finish_kernel<<<grid, kThreads, 0, raw(stream)>>>(src, scale, channel_scale, bias,
                                                        static_cast<__half*>(y), m, n);
      break;
    case DType::kBFloat16:
      finish_kernel<<<grid, kThreads, 0, raw(stream)>>>(src, scale, channel_scale, bias,
                                                        static_cast<__nv_bfloat16*>(y), m, n);
      break;
    default:
      return internal_error("GEMM epilogue: no ", dtype_name(out), " output");
  }
  return last_launch_error("GEMM epilogue kernel");
}

__global__ void to_half_kernel(const float* in, __half* out, int64_t n) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    out[i] = __float2half_rn(in[i]);
  }
}

template <typename T>
__global__ void add_channel_bias_kernel(T* y, const float* bias, int64_t planes, int64_t channels,
                                        int64_t spatial) {
  for (int64_t p = blockIdx.y; p < planes; p += gridDim.y) {
    const float b = bias[p % channels];
    T* row = y + p * spatial;
    for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < spatial;
         j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      row[j] = to_out<T>(static_cast<float>(row[j]) + b);
    }
  }
}

template <typename T>
__global__ void pad_kernel(const T* x, T* out, int64_t rows, int64_t h, int64_t w, int64_t top,
                           int64_t left, int64_t out_h, int64_t out_w) {
  for (int64_t r = blockIdx.y; r < rows; r += gridDim.y) {
    const int64_t plane = r / out_h;
    const int64_t si = r % out_h - top;
    T* dst = out + r * out_w;
    const T* src = si >= 0 && si < h ? x + (plane * h + si) * w : nullptr;  // null: a pad row
    for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < out_w;
         j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
      const int64_t sj = j - left;
      dst[j] = src != nullptr && sj >= 0 && sj < w ? src[sj] : T{0};
    }
  }
}

}  // namespace

Status finish_f32(const float* src, float scale, const float* channel_scale, const float* bias,
                  void* y, DType out, int64_t m, int64_t n, StreamHandle stream) {
  return finish(src, scale, channel_scale, bias, y, out, m, n, stream);
}

Status finish_i32(const int32_t* src, float scale, const float* channel_scale, const float* bias,
                  void* y, DType out, int64_t m, int64_t n, StreamHandle stream) {
  return finish(src, scale, channel_scale, bias, y, out, m, n, stream);
}

Status floats_to_half(const float* in, void* out, int64_t n, StreamHandle stream) {
  if (n == 0) return Status::ok_status();
  const dim3 grid = grid_for(1, n);
  to_half_kernel<<<grid.x, kThreads, 0, raw(stream)>>>(in, static_cast<__half*>(out), n);
  return last_launch_error("float16 bias conversion kernel");
}

Status add_channel_bias(void* y, DType dtype, const float* bias, int64_t batch, int64_t channels,
                        int64_t spatial, StreamHandle stream) {
  const int64_t planes = batch * channels;
  if (planes == 0 || spatial == 0) return Status::ok_status();
  const dim3 grid = grid_for(planes, spatial);
  if (dtype == DType::kFloat32) {
    add_channel_bias_kernel<<<grid, kThreads, 0, raw(stream)>>>(static_cast<float*>(y), bias,
                                                                planes, channels, spatial);
  } else if (dtype == DType::kFloat16) {
    add_channel_bias_kernel<<<grid, kThreads, 0, raw(stream)>>>(static_cast<__half*>(y), bias,
                                                                planes, channels, spatial);
  } else {
    return internal_error("convolution bias: no ", dtype_name(dtype), " kernel");
  }
  return last_launch_error("convolution bias kernel");
}

Status pad_nchw(const void* x, void* out, int elem_bytes, int64_t batch, int64_t channels,
                int64_t h, int64_t w, int64_t top, int64_t left, int64_t out_h, int64_t out_w,
                StreamHandle stream) {
  const int64_t rows = batch * channels * out_h;
  if (rows == 0 || out_w == 0) return Status::ok_status();
  const dim3 grid = grid_for(rows, out_w);
  if (elem_bytes == 4) {
    pad_kernel<<<grid, kThreads, 0, raw(stream)>>>(static_cast<const uint32_t*>(x),
                                                   static_cast<uint32_t*>(out), rows, h, w, top,
                                                   left, out_h, out_w);
  } else if (elem_bytes == 2) {
    pad_kernel<<<grid, kThreads, 0, raw(stream)>>>(static_cast<const uint16_t*>(x),
                                                   static_cast<uint16_t*>(out), rows, h, w, top,
                                                   left, out_h, out_w);
  } else {
    return internal_error("convolution padding: no kernel for ", elem_bytes, "-byte elements");
  }
  return last_launch_error("convolution padding kernel");
}

}  // namespace mixq::gpu::gemm_detail
