// ONNX Conv-11 lowered to GEMMs (2-D, NCHW): the im2col layout of one group's input windows and
// the scatter of one group's GEMM output back to NCHW. Pure byte movement: each thread writes
// one element (writes coalesced, reads gathered), padding taps get the all-zero code.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "launch.cuh"
#include "mixq/gpu/kernels/im2col.h"
#include "mixq/gpu/memory.h"

namespace mixq::gpu {
namespace {

using launch::blocks_for;
using launch::kMaxInt32;
using launch::kThreads;
using launch::raw;

// The geometry of one group's GEMM, by value. I is the index type of the per-element
// decomposition (32-bit divisions are several times cheaper than 64-bit ones).
template <typename I>
struct GroupShape {
  I c, h, w;  // x's channels, height and width
  I cg;       // channels per group
  I out_c, ocg, out_h, out_w;
  I kernel_h, kernel_w;
  int64_t stride_h, stride_w, pad_top, pad_left, dilation_h, dilation_w;
  I group_index;
};

template <typename T, typename I>
__global__ void im2col_kernel(const T* __restrict__ x, T* __restrict__ cols, GroupShape<I> g,
                              I total) {
  const I k_len = g.cg * g.kernel_h * g.kernel_w;
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const I col = i % k_len;
    const I row = i / k_len;
    const I kw = col % g.kernel_w;
    const I t = col / g.kernel_w;
    const I kh = t % g.kernel_h;
    const I ci = t / g.kernel_h;
    const I ow = row % g.out_w;
    const I t2 = row / g.out_w;
    const I oh = t2 % g.out_h;
    const I b = t2 / g.out_h;
    const int64_t ih =
        static_cast<int64_t>(oh) * g.stride_h - g.pad_top + static_cast<int64_t>(kh) * g.dilation_h;
    const int64_t iw = static_cast<int64_t>(ow) * g.stride_w - g.pad_left +
                       static_cast<int64_t>(kw) * g.dilation_w;
    T v = T(0);
    if (ih >= 0 && ih < static_cast<int64_t>(g.h) && iw >= 0 && iw < static_cast<int64_t>(g.w)) {
      const int64_t channel = static_cast<int64_t>(b) * g.c +
                              static_cast<int64_t>(g.group_index) * g.cg + static_cast<int64_t>(ci);
      v = x[(channel * g.h + ih) * g.w + iw];
    }
    cols[i] = v;
  }
}

template <typename T, typename I>
__global__ void scatter_kernel(const T* __restrict__ rows, T* __restrict__ y, GroupShape<I> g,
                               I total) {
  const I plane = g.out_h * g.out_w;
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const I p = i % plane;
    const I t = i / plane;
    const I oc = t % g.ocg;
    const I b = t / g.ocg;
    const int64_t channel = static_cast<int64_t>(b) * g.out_c +
                            static_cast<int64_t>(g.group_index) * g.ocg + static_cast<int64_t>(oc);
    y[channel * plane + p] = rows[(static_cast<int64_t>(b) * plane + p) * g.ocg + oc];
  }
}

template <typename I>
GroupShape<I> group_shape(const Conv2dGeometry& g, int64_t group_index) {
  GroupShape<I> s;
  s.c = static_cast<I>(g.c);
  s.h = static_cast<I>(g.h);
  s.w = static_cast<I>(g.w);
  s.cg = static_cast<I>(g.c / g.group);
  s.out_c = static_cast<I>(g.out_c);
  s.ocg = static_cast<I>(g.out_c / g.group);
  s.out_h = static_cast<I>(g.out_h);
  s.out_w = static_cast<I>(g.out_w);
  s.kernel_h = static_cast<I>(g.kernel_h);
  s.kernel_w = static_cast<I>(g.kernel_w);
  s.stride_h = g.stride_h;
  s.stride_w = g.stride_w;
  s.pad_top = g.pad_top;
  s.pad_left = g.pad_left;
  s.dilation_h = g.dilation_h;
  s.dilation_w = g.dilation_w;
  s.group_index = static_cast<I>(group_index);
  return s;
}

// Output size along one axis by Conv's formula, or -1 when the dilated kernel does not fit.
int64_t conv_out_size(int64_t in, int64_t pad_begin, int64_t pad_end, int64_t kernel,
                      int64_t stride, int64_t dilation) {
  const int64_t span = in + pad_begin + pad_end - dilation * (kernel - 1) - 1;
  return span < 0 ? -1 : span / stride + 1;
}

Status check_geometry(const char* op, const Conv2dGeometry& g, int64_t group_index) {
  if (g.n < 0 || g.c < 0 || g.h < 0 || g.w < 0 || g.out_c < 0) {
    return bad_input(op, ": negative sizes in the geometry");
  }
  if (g.kernel_h < 1 || g.kernel_w < 1 || g.stride_h < 1 || g.stride_w < 1 || g.dilation_h < 1 ||
      g.dilation_w < 1) {
    return bad_input(op, ": kernel ", g.kernel_h, "x", g.kernel_w, ", strides ", g.stride_h, "x",
                     g.stride_w, " and dilations ", g.dilation_h, "x", g.dilation_w,
                     " must be positive");
  }
  if (g.pad_top < 0 || g.pad_left < 0 || g.pad_bottom < 0 || g.pad_right < 0) {
    return bad_input(op, ": pads must be >= 0");
  }
  if (g.group < 1 || g.c % g.group != 0 || g.out_c % g.group != 0) {
    return bad_input(op, ": group ", g.group, " does not divide the ", g.c, " input and ", g.out_c,
                     " output channels");
  }
  if (group_index < 0 || group_index >= g.group) {
    return bad_input(op, ": group index ", group_index, " is outside [0, ", g.group, ")");
  }
  const int64_t oh =
      conv_out_size(g.h, g.pad_top, g.pad_bottom, g.kernel_h, g.stride_h, g.dilation_h);
  const int64_t ow =
      conv_out_size(g.w, g.pad_left, g.pad_right, g.kernel_w, g.stride_w, g.dilation_w);
  if (oh < 0 || ow < 0 || oh != g.out_h || ow != g.out_w) {
    return bad_input(op, ": output ", g.out_h, "x", g.out_w, " does not follow from input ", g.h,
                     "x", g.w, " (Conv gives ", oh, "x", ow, "; -1: the kernel does not fit)");
  }
  return Status::ok_status();
}

template <typename T>
Status launch_im2col(const DeviceTensor& x, const Conv2dGeometry& g, int64_t group_index,
                     void* cols, int64_t total, StreamHandle s) {
  const auto* xp = static_cast<const T*>(x.data);
  auto* cp = static_cast<T*>(cols);
  if (total <= kMaxInt32 && x.numel() <= kMaxInt32) {
    im2col_kernel<T, uint32_t><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        xp, cp, group_shape<uint32_t>(g, group_index), static_cast<uint32_t>(total));
  } else {
    im2col_kernel<T, uint64_t><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        xp, cp, group_shape<uint64_t>(g, group_index), static_cast<uint64_t>(total));
  }
  return last_launch_error("im2col");
}

template <typename T>
Status launch_scatter(const void* rows, const Conv2dGeometry& g, int64_t group_index,
                      const DeviceTensor& y, int64_t total, StreamHandle s) {
  const auto* rp = static_cast<const T*>(rows);
  auto* yp = static_cast<T*>(y.data);
  if (y.numel() <= kMaxInt32) {  // total <= y.numel()
    scatter_kernel<T, uint32_t><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        rp, yp, group_shape<uint32_t>(g, group_index), static_cast<uint32_t>(total));
  } else {
    scatter_kernel<T, uint64_t><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        rp, yp, group_shape<uint64_t>(g, group_index), static_cast<uint64_t>(total));
  }
  return last_launch_error("scatter_gemm_output");
}

}  // namespace

Status im2col(const DeviceTensor& x, const Conv2dGeometry& g, int64_t group_index, void* cols,
              StreamHandle s) {
  constexpr const char* kOp = "Conv (im2col)";
  MIXQ_RETURN_IF_ERROR(check_geometry(kOp, g, group_index));
  if (x.dims != std::vector<int64_t>{g.n, g.c, g.h, g.w}) {
    return bad_input(kOp, ": x has shape ", ir::dims_to_string(x.dims), ", the geometry says [",
                     g.n, ", ", g.c, ", ", g.h, ", ", g.w, "]");
  }
  const int64_t total = g.n * g.out_h * g.out_w * (g.c / g.group) * g.kernel_h * g.kernel_w;
  if (total == 0) return Status::ok_status();
  switch (x.dtype) {
    case DType::kFloat32:
      return launch_im2col<uint32_t>(x, g, group_index, cols, total, s);
    case DType::kFloat16:
      return launch_im2col<uint16_t>(x, g, group_index, cols, total, s);
    case DType::kInt8:
    case DType::kFloat8E4M3FN:
      return launch_im2col<uint8_t>(x, g, group_index, cols, total, s);
    default:
      return unsupported(kOp, ": x of dtype ", dtype_name(x.dtype),
                         " on the GPU (float32, float16, int8, float8e4m3fn)");
  }
}

Status scatter_gemm_output(const void* rows, const Conv2dGeometry& g, int64_t group_index,
                           const DeviceTensor& y, StreamHandle s) {
  constexpr const char* kOp = "Conv (GEMM output)";
  MIXQ_RETURN_IF_ERROR(check_geometry(kOp, g, group_index));
  if (y.dims != std::vector<int64_t>{g.n, g.out_c, g.out_h, g.out_w}) {
    return bad_input(kOp, ": y has shape ", ir::dims_to_string(y.dims), ", the geometry says [",
                     g.n, ", ", g.out_c, ", ", g.out_h, ", ", g.out_w, "]");
  }
  const int64_t total = g.n * (g.out_c / g.group) * g.out_h * g.out_w;
  if (total == 0) return Status::ok_status();
  switch (y.dtype) {
    case DType::kFloat32:
    case DType::kInt32:  // the int32 accumulators of an int8 GEMM
      return launch_scatter<uint32_t>(rows, g, group_index, y, total, s);
    case DType::kFloat16:
      return launch_scatter<uint16_t>(rows, g, group_index, y, total, s);
    default:
      return unsupported(kOp, ": y of dtype ", dtype_name(y.dtype),
                         " on the GPU (float32, float16, int32)");
  }
}

}  // namespace mixq::gpu
