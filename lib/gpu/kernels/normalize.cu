// ONNX Softmax-13 / LogSoftmax-13 on the device: along one axis, y = exp(x - max) / sum or
// (x - max) - log(sum); and LayerNormalization-17: y = (x - mean) / sqrt(var + epsilon) * scale
// + bias over dims [axis, rank). float32 / float16 in, float32 arithmetic (as the CPU kernels in
// lib/exec/kernels/math/softmax.cc and nn/norm_layer.cc, which round float16 once at the end).
//
// Two shapes of work, both deterministic:
//   row kernels: one block per normalized row; each thread reduces a fixed strided subset in
//     order, then the block combines its partials in a fixed shared-memory tree;
//   column kernels: one thread per row, reducing its elements in order. Used for short rows
//     (<= 32 elements) and, for Softmax, when the axis is not innermost and there are enough
//     rows to fill the device: neighbouring threads then read neighbouring addresses.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

// nvcc's front end reports Expected<T>'s `status_ = Status(...)` as discarding a [[nodiscard]]
// value (diagnostic 2810); it is an assignment, so the warning is a false positive there.
#pragma nv_diagnostic push
#pragma nv_diag_suppress 2810
#include "mixq/gpu/kernels/normalize.h"
#include "mixq/gpu/memory.h"
#pragma nv_diagnostic pop

namespace mixq::gpu {
namespace {

constexpr int kMaxThreads = 512;
constexpr int kColumnThreads = 256;
constexpr int64_t kMaxBlocks = 65536;  // grid-stride loops cover the rest
constexpr int64_t kShortRow = 32;      // rows up to this long take the column kernels

cudaStream_t raw(StreamHandle s) { return static_cast<cudaStream_t>(s); }

unsigned grid_for(int64_t work_items, int64_t per_block) {
  const int64_t b = (work_items + per_block - 1) / per_block;
  return static_cast<unsigned>(b < kMaxBlocks ? b : kMaxBlocks);
}

// Threads per block for a row of `len` elements: a power of two in [32, kMaxThreads], about
// two elements per thread. Depends on the shape only, so the reduction tree does too.
unsigned row_threads(int64_t len) {
  unsigned t = 32;
  while (t < kMaxThreads && static_cast<int64_t>(t) * 2 < len) t *= 2;
  return t;
}

__device__ __forceinline__ float load(float v) { return v; }
__device__ __forceinline__ float load(__half v) { return __half2float(v); }
template <typename T>
__device__ __forceinline__ T store(float v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(v);
  } else {
    return v;
  }
}

// Combines the block's per-thread values in a fixed tree (blockDim.x is a power of two); every
// thread gets the result. `smem` holds blockDim.x floats.
template <typename F>
__device__ float block_reduce(float v, float* smem, F combine) {
  const unsigned tid = threadIdx.x;
  smem[tid] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (tid < s) smem[tid] = combine(smem[tid], smem[tid + s]);
    __syncthreads();
  }
  const float r = smem[0];
  __syncthreads();  // smem is reused by the next reduction
  return r;
}

struct MaxOp {
  __device__ float operator()(float a, float b) const { return b > a ? b : a; }
};
struct SumOp {
  __device__ float operator()(float a, float b) const { return a + b; }
};

// --- Softmax / LogSoftmax --------------------------------------------------------------------

// Row r of the [outer, len, inner] view starts at (r / inner) * len * inner + r % inner and
// steps by inner.
template <typename T>
__global__ void softmax_rows(const T* __restrict__ x, T* __restrict__ y, int64_t rows, int64_t len,
                             int64_t inner, bool log) {
  __shared__ float smem[kMaxThreads];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const int64_t base = (r / inner) * len * inner + r % inner;
    const T* xr = x + base;
    T* yr = y + base;
    float mx = -INFINITY;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) mx = MaxOp{}(mx, load(xr[j * inner]));
    mx = block_reduce(mx, smem, MaxOp{});
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) sum += expf(load(xr[j * inner]) - mx);
    sum = block_reduce(sum, smem, SumOp{});
    if (log) {
      const float log_sum = logf(sum);
      for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
        // (x - max) first: exact near the maximum, where large inputs need the precision.
        yr[j * inner] = store<T>((load(xr[j * inner]) - mx) - log_sum);
      }
    } else {
      for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
        yr[j * inner] = store<T>(expf(load(xr[j * inner]) - mx) / sum);
      }
    }
  }
}

// One thread per row of the same view; neighbouring threads take neighbouring columns.
template <typename T>
__global__ void softmax_columns(const T* __restrict__ x, T* __restrict__ y, int64_t rows,
                                int64_t len, int64_t inner, bool log) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows;
       r += step) {
    const int64_t base = (r / inner) * len * inner + r % inner;
    const T* xr = x + base;
    T* yr = y + base;
    float mx = -INFINITY;
    for (int64_t j = 0; j < len; ++j) mx = MaxOp{}(mx, load(xr[j * inner]));
    float sum = 0.0f;
    for (int64_t j = 0; j < len; ++j) sum += expf(load(xr[j * inner]) - mx);
    if (log) {
      const float log_sum = logf(sum);
      for (int64_t j = 0; j < len; ++j)
        yr[j * inner] = store<T>((load(xr[j * inner]) - mx) - log_sum);
    } else {
      for (int64_t j = 0; j < len; ++j)
        yr[j * inner] = store<T>(expf(load(xr[j * inner]) - mx) / sum);
    }
  }
}

template <typename T>
Status launch_softmax(const DeviceTensor& x, const DeviceTensor& y, int64_t outer, int64_t len,
                      int64_t inner, bool log, StreamHandle s) {
  const auto* px = static_cast<const T*>(x.data);
  auto* py = static_cast<T*>(y.data);
  const int64_t rows = outer * inner;
  // Strided rows are read a column per thread when there are enough of them to fill the device;
  // otherwise a block per row spreads a long row over its threads.
  const bool columns = len <= kShortRow || (inner > 1 && rows >= 4096);
  if (columns) {
    softmax_columns<T><<<grid_for(rows, kColumnThreads), kColumnThreads, 0, raw(s)>>>(
        px, py, rows, len, inner, log);
    return last_launch_error(log ? "LogSoftmax column kernel" : "Softmax column kernel");
  }
  softmax_rows<T>
      <<<grid_for(rows, 1), row_threads(len), 0, raw(s)>>>(px, py, rows, len, inner, log);
  return last_launch_error(log ? "LogSoftmax row kernel" : "Softmax row kernel");
}

// --- LayerNormalization ----------------------------------------------------------------------

// A scale or bias operand: absent (data == nullptr), one value, or one per normalized element.
struct Param {
  const void* data = nullptr;
  bool half = false;
  bool scalar = false;
};

__device__ __forceinline__ float param_at(const Param& p, int64_t i) {
  const int64_t k = p.scalar ? 0 : i;
  return p.half ? __half2float(static_cast<const __half*>(p.data)[k])
                : static_cast<const float*>(p.data)[k];
}

template <typename T>
__device__ __forceinline__ T layer_norm_value(float v, float mean, float inv, const Param& scale,
                                              const Param& bias, int64_t i) {
  float r = (v - mean) * inv;
  if (scale.data != nullptr) r *= param_at(scale, i);
  if (bias.data != nullptr) r += param_at(bias, i);
  return store<T>(r);
}

// Row r is x[r * len, (r + 1) * len). Two passes for the statistics (mean, then the mean of
// squared deviations), which keeps the variance accurate when |mean| >> stddev.
template <typename T>
__global__ void layer_norm_rows(const T* __restrict__ x, T* __restrict__ y, int64_t rows,
                                int64_t len, float epsilon, Param scale, Param bias) {
  __shared__ float smem[kMaxThreads];
  const float n = static_cast<float>(len);
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + r * len;
    T* yr = y + r * len;
    float sum = 0.0f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) sum += load(xr[j]);
    const float mean = block_reduce(sum, smem, SumOp{}) / n;
    float sq = 0.0f;
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      const float d = load(xr[j]) - mean;
      sq += d * d;
    }
    const float var = block_reduce(sq, smem, SumOp{}) / n;
    const float inv = 1.0f / sqrtf(var + epsilon);
    for (int64_t j = threadIdx.x; j < len; j += blockDim.x) {
      yr[j] = layer_norm_value<T>(load(xr[j]), mean, inv, scale, bias, j);
    }
  }
}

template <typename T>
__global__ void layer_norm_columns(const T* __restrict__ x, T* __restrict__ y, int64_t rows,
                                   int64_t len, float epsilon, Param scale, Param bias) {
  const float n = static_cast<float>(len);
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t r = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; r < rows;
       r += step) {
    const T* xr = x + r * len;
    T* yr = y + r * len;
    float sum = 0.0f;
    for (int64_t j = 0; j < len; ++j) sum += load(xr[j]);
    const float mean = sum / n;
    float sq = 0.0f;
    for (int64_t j = 0; j < len; ++j) {
      const float d = load(xr[j]) - mean;
      sq += d * d;
    }
    const float inv = 1.0f / sqrtf(sq / n + epsilon);
    for (int64_t j = 0; j < len; ++j)
      yr[j] = layer_norm_value<T>(load(xr[j]), mean, inv, scale, bias, j);
  }
}

template <typename T>
Status launch_layer_norm(const DeviceTensor& x, const DeviceTensor& y, int64_t rows, int64_t len,
                         float epsilon, const Param& scale, const Param& bias, StreamHandle s) {
  const auto* px = static_cast<const T*>(x.data);
  auto* py = static_cast<T*>(y.data);
  if (len <= kShortRow) {
    layer_norm_columns<T><<<grid_for(rows, kColumnThreads), kColumnThreads, 0, raw(s)>>>(
        px, py, rows, len, epsilon, scale, bias);
    return last_launch_error("LayerNormalization column kernel");
  }
  layer_norm_rows<T>
      <<<grid_for(rows, 1), row_threads(len), 0, raw(s)>>>(px, py, rows, len, epsilon, scale, bias);
  return last_launch_error("LayerNormalization row kernel");
}

// --- Host-side checks ------------------------------------------------------------------------

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// x and y: float32 / float16, the same dtype and dims, memory present.
Status check_io(const char* what, const DeviceTensor& x, const DeviceTensor& y, int64_t axis) {
  if (x.dtype != DType::kFloat32 && x.dtype != DType::kFloat16) {
    return unsupported(what, ": ", dtype_name(x.dtype),
                       " input; the device takes float32 and float16");
  }
  if (y.dtype != x.dtype || y.dims != x.dims) {
    return bad_input(what, ": output ", dtype_name(y.dtype), " ", dims_text(y.dims),
                     " does not match input ", dtype_name(x.dtype), " ", dims_text(x.dims));
  }
  for (int64_t d : x.dims) {
    if (d < 0) return bad_input(what, ": negative dimension in ", dims_text(x.dims));
  }
  const auto rank = static_cast<int64_t>(x.dims.size());
  if (axis < 0 || axis >= rank) {
    return bad_input(what, ": axis ", axis, " is out of range for rank ", rank);
  }
  if (x.numel() > 0 && (x.data == nullptr || y.data == nullptr)) {
    return bad_input(what, ": a tensor has no device memory");
  }
  return Status::ok_status();
}

std::vector<int64_t> strip_leading_ones(std::vector<int64_t> d) {
  size_t k = 0;
  while (k < d.size() && d[k] == 1) ++k;
  d.erase(d.begin(), d.begin() + static_cast<std::ptrdiff_t>(k));
  return d;
}

// A scale / bias operand: one value, or the normalized shape (leading 1s allowed).
Expected<Param> make_param(const DeviceTensor* t, const std::vector<int64_t>& norm_shape,
                           const char* role) {
  const char* what = "device LayerNormalization";
  Param p;
  if (t == nullptr) return p;
  if (t->dtype != DType::kFloat32 && t->dtype != DType::kFloat16) {
    return unsupported(what, ": ", role, " is ", dtype_name(t->dtype),
                       "; the device takes float32 and float16");
  }
  const int64_t n = t->numel();
  if (n > 0 && t->data == nullptr) return bad_input(what, ": ", role, " has no device memory");
  if (n == 1) {
    p.scalar = true;
  } else if (strip_leading_ones(t->dims) != strip_leading_ones(norm_shape)) {
    // Broadcastable shapes other than these two are valid ONNX but not implemented here.
    bool broadcasts = t->dims.size() <= norm_shape.size();
    const size_t lead = norm_shape.size() - std::min(t->dims.size(), norm_shape.size());
    for (size_t i = 0; broadcasts && i < t->dims.size(); ++i) {
      broadcasts = t->dims[i] == 1 || t->dims[i] == norm_shape[lead + i];
    }
    if (broadcasts) {
      return unsupported(what, ": ", role, " of shape ", dims_text(t->dims),
                         " broadcasts to the normalized shape ", dims_text(norm_shape),
                         "; the device takes one value or exactly that shape");
    }
    return bad_input(what, ": ", role, " of shape ", dims_text(t->dims),
                     " does not broadcast to the normalized shape ", dims_text(norm_shape));
  }
  p.data = t->data;
  p.half = t->dtype == DType::kFloat16;
  return p;
}

}  // namespace

Status softmax(const DeviceTensor& x, const DeviceTensor& y, int64_t axis, bool log,
               StreamHandle s) {
  const char* what = log ? "device LogSoftmax" : "device Softmax";
  MIXQ_RETURN_IF_ERROR(check_io(what, x, y, axis));
  if (x.numel() == 0) return Status::ok_status();
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= x.dims[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < x.dims.size(); ++d) inner *= x.dims[d];
  const int64_t len = x.dims[static_cast<size_t>(axis)];
  if (x.dtype == DType::kFloat16) {
    return launch_softmax<__half>(x, y, outer, len, inner, log, s);
  }
  return launch_softmax<float>(x, y, outer, len, inner, log, s);
}

Status layer_norm(const DeviceTensor& x, const DeviceTensor* scale, const DeviceTensor* bias,
                  const DeviceTensor& y, int64_t axis, float epsilon, StreamHandle s) {
  const char* what = "device LayerNormalization";
  MIXQ_RETURN_IF_ERROR(check_io(what, x, y, axis));
  const std::vector<int64_t> norm_shape(x.dims.begin() + axis, x.dims.end());
  MIXQ_ASSIGN_OR_RETURN(const Param sp, make_param(scale, norm_shape, "scale"));
  MIXQ_ASSIGN_OR_RETURN(const Param bp, make_param(bias, norm_shape, "bias"));
  if (x.numel() == 0) return Status::ok_status();
  int64_t rows = 1, len = 1;
  for (int64_t d = 0; d < axis; ++d) rows *= x.dims[static_cast<size_t>(d)];
  for (int64_t d : norm_shape) len *= d;
  if (x.dtype == DType::kFloat16) {
    return launch_layer_norm<__half>(x, y, rows, len, epsilon, sp, bp, s);
  }
  return launch_layer_norm<float>(x, y, rows, len, epsilon, sp, bp, s);
}

}  // namespace mixq::gpu
