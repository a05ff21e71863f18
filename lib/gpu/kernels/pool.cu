// ONNX MaxPool-12 / AveragePool-19 (2-D, NCHW: kernel, strides, pads, dilations,
// count_include_pad) and GlobalAveragePool-1 / GlobalMaxPool-1 on the device, float32 and
// float16 computed in float32.
//
// Each thread of the 2-D pools computes one output with the CPU executor's operations in its
// order (lib/exec/kernels/nn/pool.cc): the window's taps inside x in row-major window order,
// max as (v > acc || v is NaN) ? v : acc from -inf, the average as a float32 sum from 0 divided
// (IEEE division) by the tap count. The global pools give one block to each (n, c) plane and
// reduce in shared memory: float64 sums for the mean, as the CPU does, in a different order.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "launch.cuh"
#include "mixq/gpu/kernels/pool.h"
#include "mixq/gpu/memory.h"

namespace mixq::gpu {
namespace {

using launch::blocks_for;
using launch::kMaxBlocks;
using launch::kThreads;
using launch::raw;

__device__ inline float load(float v) { return v; }
__device__ inline float load(__half v) { return __half2float(v); }
template <typename S>
__device__ inline S store(float v);
template <>
__device__ inline float store<float>(float v) {
  return v;
}
template <>
__device__ inline __half store<__half>(float v) {
  return __float2half_rn(v);
}

// NaN-propagating max, the CPU executor's: a NaN operand wins, else the larger value.
__device__ inline float max_nan(float acc, float v) { return (v > acc || v != v) ? v : acc; }

// The 2-D pool problem, by value.
struct Pool2d {
  int64_t h, w, out_h, out_w;
  Pool2dParams p;
};

// Taps j in [0, k) whose position start + j * dil lies in [begin, end).
__device__ inline int64_t taps_in(int64_t start, int64_t k, int64_t dil, int64_t begin,
                                  int64_t end) {
  int64_t n = 0;
  for (int64_t j = 0; j < k; ++j) {
    const int64_t i = start + j * dil;
    n += (i >= begin && i < end) ? 1 : 0;
  }
  return n;
}

template <typename S, bool kMax>
__global__ void pool2d_kernel(const S* __restrict__ x, S* __restrict__ y, Pool2d g, int64_t total) {
  const Pool2dParams& p = g.p;
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int64_t ow = i % g.out_w;
    const int64_t t = i / g.out_w;
    const int64_t oh = t % g.out_h;
    const int64_t plane = t / g.out_h;
    const int64_t hs = oh * p.stride_h - p.pad_top;
    const int64_t ws = ow * p.stride_w - p.pad_left;
    const S* xp = x + plane * g.h * g.w;
    float acc = kMax ? -INFINITY : 0.0f;
    for (int64_t kh = 0; kh < p.kernel_h; ++kh) {
      const int64_t ih = hs + kh * p.dilation_h;
      if (ih < 0 || ih >= g.h) continue;
      for (int64_t kw = 0; kw < p.kernel_w; ++kw) {
        const int64_t iw = ws + kw * p.dilation_w;
        if (iw < 0 || iw >= g.w) continue;
        const float v = load(xp[ih * g.w + iw]);
        if constexpr (kMax) {
          acc = max_nan(acc, v);
        } else {
          acc = __fadd_rn(acc, v);
        }
      }
    }
    if constexpr (!kMax) {
      // Taps inside x, or inside the padded input (a window past the end padding is cut there;
      // the begin padding never is: hs >= -pad_top).
      const int64_t count =
          p.count_include_pad
              ? taps_in(hs, p.kernel_h, p.dilation_h, -p.pad_top, g.h + p.pad_bottom) *
                    taps_in(ws, p.kernel_w, p.dilation_w, -p.pad_left, g.w + p.pad_right)
              : taps_in(hs, p.kernel_h, p.dilation_h, 0, g.h) *
                    taps_in(ws, p.kernel_w, p.dilation_w, 0, g.w);
      acc = __fdiv_rn(acc, static_cast<float>(count));
    }
    y[i] = store<S>(acc);
  }
}

// One block per (n, c) plane of `size` elements (grid-stride over planes).
template <typename S, bool kMax>
__global__ void global_pool_kernel(const S* __restrict__ x, S* __restrict__ y, int64_t planes,
                                   int64_t size) {
  __shared__ double partial[kThreads];
  for (int64_t plane = blockIdx.x; plane < planes; plane += gridDim.x) {
    const S* xp = x + plane * size;
    double acc = kMax ? -INFINITY : 0.0;
    for (int64_t i = threadIdx.x; i < size; i += blockDim.x) {
      const float v = load(xp[i]);
      if constexpr (kMax) {
        acc = max_nan(static_cast<float>(acc), v);
      } else {
        acc += static_cast<double>(v);
      }
    }
    partial[threadIdx.x] = acc;
    __syncthreads();
    for (unsigned half = blockDim.x / 2; half > 0; half /= 2) {
      if (threadIdx.x < half) {
        const double other = partial[threadIdx.x + half];
        if constexpr (kMax) {
          partial[threadIdx.x] =
              max_nan(static_cast<float>(partial[threadIdx.x]), static_cast<float>(other));
        } else {
          partial[threadIdx.x] += other;
        }
      }
      __syncthreads();
    }
    if (threadIdx.x == 0) {
      const double r = partial[0];
      // As the CPU: the float64 mean rounded to float32, then to y's type.
      y[plane] =
          store<S>(kMax ? static_cast<float>(r) : __double2float_rn(r / static_cast<double>(size)));
    }
    __syncthreads();  // partial[0] is read before the next plane overwrites it
  }
}

Status check_float(const char* op, const DeviceTensor& x, const DeviceTensor& y) {
  if (x.dtype != DType::kFloat32 && x.dtype != DType::kFloat16) {
    return unsupported(op, ": dtype ", dtype_name(x.dtype), " on the GPU (float32, float16)");
  }
  if (y.dtype != x.dtype) {
    return bad_input(op, ": y is ", dtype_name(y.dtype), " but x is ", dtype_name(x.dtype));
  }
  return Status::ok_status();
}

template <bool kMax>
Status pool2d(const char* op, const DeviceTensor& x, const Pool2dParams& p, const DeviceTensor& y,
              StreamHandle s) {
  MIXQ_RETURN_IF_ERROR(check_float(op, x, y));
  if (x.dims.size() != 4 || y.dims.size() != 4 || y.dims[0] != x.dims[0] ||
      y.dims[1] != x.dims[1]) {
    return bad_input(op, ": x ", ir::dims_to_string(x.dims), " and y ", ir::dims_to_string(y.dims),
                     " are not [N, C, H, W] and [N, C, OH, OW]");
  }
  for (int64_t d : x.dims) {
    if (d < 0) return bad_input(op, ": x has a negative dim");
  }
  if (y.dims[2] < 0 || y.dims[3] < 0) return bad_input(op, ": y has a negative dim");
  if (p.kernel_h < 1 || p.kernel_w < 1 || p.stride_h < 1 || p.stride_w < 1 || p.dilation_h < 1 ||
      p.dilation_w < 1) {
    return bad_input(op, ": kernel ", p.kernel_h, "x", p.kernel_w, ", strides ", p.stride_h, "x",
                     p.stride_w, " and dilations ", p.dilation_h, "x", p.dilation_w,
                     " must be positive");
  }
  if (p.pad_top < 0 || p.pad_left < 0 || p.pad_bottom < 0 || p.pad_right < 0) {
    return bad_input(op, ": pads must be >= 0");
  }
  const int64_t total = y.numel();
  if (total == 0) return Status::ok_status();
  const Pool2d g{x.dims[2], x.dims[3], y.dims[2], y.dims[3], p};
  if (x.dtype == DType::kFloat32) {
    pool2d_kernel<float, kMax><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        static_cast<const float*>(x.data), static_cast<float*>(y.data), g, total);
  } else {
    pool2d_kernel<__half, kMax><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        static_cast<const __half*>(x.data), static_cast<__half*>(y.data), g, total);
  }
  return last_launch_error(op);
}

template <bool kMax>
Status global_pool(const char* op, const DeviceTensor& x, const DeviceTensor& y, StreamHandle s) {
  MIXQ_RETURN_IF_ERROR(check_float(op, x, y));
  if (x.dims.size() < 3) {
    return bad_input(op, ": x has shape ", ir::dims_to_string(x.dims), ", expected rank >= 3");
  }
  for (int64_t d : x.dims) {
    if (d < 0) return bad_input(op, ": x has a negative dim");
  }
  std::vector<int64_t> want(x.dims.size(), 1);
  want[0] = x.dims[0];
  want[1] = x.dims[1];
  if (y.dims != want) {
    return bad_input(op, ": y has shape ", ir::dims_to_string(y.dims), ", expected ",
                     ir::dims_to_string(want));
  }
  const int64_t planes = x.dims[0] * x.dims[1];
  const int64_t size = x.numel() / std::max<int64_t>(planes, 1);
  if (planes == 0) return Status::ok_status();
  const auto blocks = static_cast<unsigned>(std::min(planes, kMaxBlocks));
  if (x.dtype == DType::kFloat32) {
    global_pool_kernel<float, kMax><<<blocks, kThreads, 0, raw(s)>>>(
        static_cast<const float*>(x.data), static_cast<float*>(y.data), planes, size);
  } else {
    global_pool_kernel<__half, kMax><<<blocks, kThreads, 0, raw(s)>>>(
        static_cast<const __half*>(x.data), static_cast<__half*>(y.data), planes, size);
  }
  return last_launch_error(op);
}

}  // namespace

Status max_pool2d(const DeviceTensor& x, const Pool2dParams& p, const DeviceTensor& y,
                  StreamHandle s) {
  return pool2d<true>("MaxPool", x, p, y, s);
}

Status average_pool2d(const DeviceTensor& x, const Pool2dParams& p, const DeviceTensor& y,
                      StreamHandle s) {
  return pool2d<false>("AveragePool", x, p, y, s);
}

Status global_average_pool(const DeviceTensor& x, const DeviceTensor& y, StreamHandle s) {
  return global_pool<false>("GlobalAveragePool", x, y, s);
}

Status global_max_pool(const DeviceTensor& x, const DeviceTensor& y, StreamHandle s) {
  return global_pool<true>("GlobalMaxPool", x, y, s);
}

}  // namespace mixq::gpu
