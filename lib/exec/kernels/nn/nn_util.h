// Helpers shared by the nn kernels: the compute type of a floating tensor (float32 for
// float16/bfloat16/float32, float64 for float64) with conversions in and out, and the window
// parameters (kernel, strides, dilations, resolved pads) of the convolutions and pools.
#pragma once

#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "kernels/common.h"

namespace mixq::exec::nn {

// This thread's scratch buffer number kSlot, of at least n values of T and not initialized:
// kept and grown across calls, so that a kernel run on every run of a model does not allocate
// and zero a fresh buffer each time (a vector per call: memset was 3.7 % of the CPU samples
// of a digits_cnn calibration in 800 runs of 32 images). The caller writes every value it
// reads, and uses a slot for one buffer at a time on a thread (no kernel runs inside another's
// chunk).
template <typename T, int kSlot>
T* thread_scratch(size_t n) {
  thread_local std::unique_ptr<T[]> buffer;
  thread_local size_t capacity = 0;
  if (capacity < n) {
    buffer.reset(new T[n]);  // default-initialized: not zeroed
    capacity = n;
  }
  return buffer.get();
}

// Calls fn(T{}) with T = double for float64 and float for the other floating types; a bad-input
// error naming the node for any other dtype.
template <typename Fn>
Status with_compute_type(const KernelContext& ctx, DType t, Fn&& fn) {
  switch (t) {
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kBFloat16:
      return fn(float{});
    case DType::kFloat64:
      return fn(double{});
    default:
      return ctx.fail("input type ", dtype_name(t), " is not supported");
  }
}

// The values of a floating tensor in compute type T (float or double): the tensor's own buffer
// when its storage type is T, else a converted copy held in `scratch`.
template <typename T>
const T* compute_view(ThreadPool& pool, const ir::Tensor& t, std::vector<T>& scratch) {
  if constexpr (std::is_same_v<T, float>) {
    if (t.dtype() == DType::kFloat32) return t.data<float>();
  } else {
    if (t.dtype() == DType::kFloat64) return t.data<double>();
  }
  const int64_t n = t.numel();
  scratch.resize(static_cast<size_t>(n));
  T* out = scratch.data();
  auto convert = [&](auto tag) {
    using S = decltype(tag);
    const S* in = t.data<S>();
    pool.parallel_for(n, ThreadPool::grain_for(n, 16384), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = static_cast<T>(load(in[i]));
    });
  };
  visit_float_dtype(t.dtype(), convert, [&] {
    for (int64_t i = 0; i < n; ++i) out[i] = static_cast<T>(t.element_as_double(i));
  });
  return scratch.data();
}

// Where a kernel writes the values of floating output `y` in compute type T: y's own buffer
// when its storage type is T, else `scratch` (sized here), which finish_output converts into y.
template <typename T>
T* compute_out(ir::Tensor& y, std::vector<T>& scratch) {
  if constexpr (std::is_same_v<T, float>) {
    if (y.dtype() == DType::kFloat32) return y.mutable_data<float>();
  } else {
    if (y.dtype() == DType::kFloat64) return y.mutable_data<double>();
  }
  scratch.assign(static_cast<size_t>(y.numel()), T(0));
  return scratch.data();
}

// Stores `scratch` into y when compute_out handed out scratch (no-op otherwise).
template <typename T>
void finish_output(ThreadPool& pool, ir::Tensor& y, const std::vector<T>& scratch) {
  if (static_cast<int64_t>(scratch.size()) != y.numel() || y.numel() == 0) return;
  if constexpr (std::is_same_v<T, float>) {
    if (y.dtype() == DType::kFloat32) return;
  } else {
    if (y.dtype() == DType::kFloat64) return;
  }
  const int64_t n = y.numel();
  const T* in = scratch.data();
  auto convert = [&](auto tag) {
    using S = decltype(tag);
    S* out = y.mutable_data<S>();
    pool.parallel_for(n, ThreadPool::grain_for(n, 16384), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = store<S>(static_cast<Compute<S>>(in[i]));
    });
  };
  visit_float_dtype(y.dtype(), convert, [] {});
}

// Sum of x[0..n) in float64, with four interleaved partial sums (a fixed order, so results do
// not depend on threads; the independent chains run several times faster than one).
template <typename T>
double sum_of(const T* x, int64_t n) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    a0 += static_cast<double>(x[i]);
    a1 += static_cast<double>(x[i + 1]);
    a2 += static_cast<double>(x[i + 2]);
    a3 += static_cast<double>(x[i + 3]);
  }
  for (; i < n; ++i) a0 += static_cast<double>(x[i]);
  return (a0 + a1) + (a2 + a3);
}

// Sum of (x[i] - mean)^2 over x[0..n), in float64 like sum_of.
template <typename T>
double squared_deviation_of(const T* x, int64_t n, double mean) {
  double a0 = 0, a1 = 0, a2 = 0, a3 = 0;
  int64_t i = 0;
  for (; i + 4 <= n; i += 4) {
    const double d0 = static_cast<double>(x[i]) - mean, d1 = static_cast<double>(x[i + 1]) - mean;
    const double d2 = static_cast<double>(x[i + 2]) - mean,
                 d3 = static_cast<double>(x[i + 3]) - mean;
    a0 += d0 * d0;
    a1 += d1 * d1;
    a2 += d2 * d2;
    a3 += d3 * d3;
  }
  for (; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - mean;
    a0 += d * d;
  }
  return (a0 + a1) + (a2 + a3);
}

// Mean and population variance of `count` runs of `len` values spaced `stride` apart from x
// (two passes in float64).
template <typename T>
void run_stats(const T* x, int64_t count, int64_t len, int64_t stride, double& mean, double& var) {
  const double n = static_cast<double>(count * len);
  double sum = 0;
  for (int64_t r = 0; r < count; ++r) sum += sum_of(x + r * stride, len);
  mean = n > 0 ? sum / n : 0;
  double sq = 0;
  for (int64_t r = 0; r < count; ++r) sq += squared_deviation_of(x + r * stride, len, mean);
  var = n > 0 ? sq / n : 0;
}

// Product of dims[begin, end).
inline int64_t product(const std::vector<int64_t>& dims, size_t begin, size_t end) {
  int64_t p = 1;
  for (size_t i = begin; i < end && i < dims.size(); ++i) p *= dims[i];
  return p;
}

// A sliding window over n spatial axes: sizes, strides, dilations and the pads actually applied
// (auto_pad resolved). `in` and `out` are the spatial dims of the input and the output.
struct Window {
  size_t n = 0;
  std::vector<int64_t> in, out, kernel, strides, dilations, pad_begin, pad_end;
  int64_t effective(size_t i) const { return (kernel[i] - 1) * dilations[i] + 1; }
};

// Reads strides, dilations (when the op version has them), pads and auto_pad for a window of
// size `kernel` moving over `in` and producing `out`. SAME_UPPER/SAME_LOWER pads are
// total = max(0, (out - 1) * stride + effective kernel - in), split with the extra pad at the
// end (SAME_UPPER) or at the beginning (SAME_LOWER); VALID means no pads. Fails (bad input,
// naming the node) on lists of the wrong length or out-of-range values.
Expected<Window> read_window(const KernelContext& ctx, const std::vector<int64_t>& in,
                             const std::vector<int64_t>& kernel, const std::vector<int64_t>& out,
                             bool has_dilations);

// A list attribute of `count` values (each >= min_value), or `fallback` repeated when absent.
Expected<std::vector<int64_t>> ints_attr(const KernelContext& ctx, const std::string& name,
                                         size_t count, int64_t fallback, int64_t min_value);

// Values of a 1-D integer input (shape inputs: pads, sizes, axes), as int64.
std::vector<int64_t> input_ints(const ir::Tensor& t);
// Values of a 1-D floating input (scales, roi), as double.
std::vector<double> input_doubles(const ir::Tensor& t);

// Copies n elements: rows of small images are a few dozen bytes, where a call to memcpy per
// row was most of the copy (12K calls per digits_cnn batch in conv). Constant-size pieces
// compile to vector moves; no loop the compiler could turn back into a memcpy call.
template <typename T>
inline void copy_short(T* dst, const T* src, int64_t n) {
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) std::memcpy(dst + i, src + i, 16 * sizeof(T));
  if (i + 8 <= n) {
    std::memcpy(dst + i, src + i, 8 * sizeof(T));
    i += 8;
  }
  if (i + 4 <= n) {
    std::memcpy(dst + i, src + i, 4 * sizeof(T));
    i += 4;
  }
  if (i + 2 <= n) {
    std::memcpy(dst + i, src + i, 2 * sizeof(T));
    i += 2;
  }
  if (i < n) dst[i] = src[i];
}

}  // namespace mixq::exec::nn
