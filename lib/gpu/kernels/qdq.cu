// ONNX QuantizeLinear-19/21: y = saturate(round_half_even(x / scale) + zero_point), and
// ONNX DequantizeLinear-19/21: y = (x - zero_point) * scale, on the device, per tensor or per
// axis, with the CPU executor's arithmetic (lib/exec/kernels/quant):
//  - the quotient is the IEEE float32 x / scale (__fdiv_rn: no reciprocal, no fast division),
//    with the sign of a NaN quotient set as on the CPU (see quotient());
//  - integers clamp the quotient to [lo - z, hi - z] and round it to nearest even (rintf), NaN
//    giving the zero point;
//  - float8e4m3fn is encoded by hand, the same integer steps as lib/core/float8.h. CUDA's
//    __nv_cvt_float_to_fp8(..., __NV_SATFINITE, __NV_E4M3) is not used: its NaN result does not
//    keep the sign, which mixq's encoder does (-NaN -> 0xff);
//  - dequantized values are the exact product rounded once to y's type: a float32 product where
//    that is exact (8-bit and float8 x into float32), else a float64 product rounded to odd and
//    then to y's type, which is the single rounding of the exact product.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "launch.cuh"
#include "mixq/gpu/kernels/qdq.h"
#include "mixq/gpu/memory.h"

namespace mixq::gpu {
namespace {

using launch::blocks_for;
using launch::kThreads;
using launch::raw;

__device__ inline float load(float v) { return v; }
// Exact, and a NaN keeps its sign (the CPU's decoder keeps it; cvt.f32.f16 need not).
__device__ inline float load(__half v) {
  const float f = __half2float(v);
  if (f == f) return f;
  const auto sign = static_cast<uint32_t>(__half_as_ushort(v) & 0x8000u) << 16;
  return __uint_as_float(sign | 0x7fc00000u);
}

// x / s in IEEE float32. Only the sign of a NaN quotient matters here (float8e4m3fn keeps it:
// 0x7f or 0xff), and IEEE leaves it open; the GPU gives one canonical positive NaN, so the sign
// is set as the CPU executor's x86-64 division sets it: a NaN operand propagates (x first),
// and an invalid operation (0 / 0, Inf / Inf) gives x86's default NaN, which is negative.
__device__ inline float quotient(float x, float s) {
  const float q = __fdiv_rn(x, s);
  if (q == q) return q;
  if (x != x) return x;
  if (s != s) return s;
  return __uint_as_float(0xffc00000u);
}

// float32 -> float8e4m3fn with saturate = 1, bit-identical to float_to_float8e4m3fn (float8.h):
// 4 exponent bits, bias 7, 3 significand bits, largest finite code 0x7e (448), no Inf.
__device__ inline uint8_t float_to_e4m3fn(float f) {
  constexpr uint32_t kMaxCode = 0x7e;
  const uint32_t x = __float_as_uint(f);
  const uint32_t sign = (x >> 24) & 0x80u;
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return static_cast<uint8_t>(sign | 0x7fu);  // NaN keeps its sign
  uint32_t code;
  if (a == 0x7f800000u) {
    code = kMaxCode + 1;  // Inf: saturates below
  } else if (a < (121u << 23)) {
    // Below the smallest normal 2^-6: the value in units of the smallest subnormal 2^-9 (an exact
    // scaling), rounded to nearest even; 8 is the smallest normal's code, as it should be.
    code = static_cast<uint32_t>(rintf(__fmul_rn(__uint_as_float(a), 512.0f)));
  } else {
    // Normal: rebias the exponent (127 -> 7) and round the significand from 23 to 3 bits,
    // nearest even; a carry moves into the exponent.
    uint32_t m = a - (120u << 23);
    m += (1u << 19) - 1u + ((m >> 20) & 1u);
    code = m >> 20;
  }
  if (code > kMaxCode) return static_cast<uint8_t>(sign | kMaxCode);
  return static_cast<uint8_t>(sign | code);
}

// float8e4m3fn code -> float32, exact (0x7f / 0xff are NaN).
__device__ inline float e4m3fn_to_float(uint8_t c) {
  const uint32_t sign = static_cast<uint32_t>(c & 0x80u) << 24;
  const uint32_t e = (c >> 3) & 0xfu;
  const uint32_t m = c & 0x7u;
  if (e == 0xf && m == 0x7) return __uint_as_float(sign | 0x7fc00000u);
  if (e == 0) {  // zero or subnormal: m * 2^-9
    const float v = __fmul_rn(static_cast<float>(m), 0.001953125f);
    return sign ? -v : v;
  }
  return __uint_as_float(sign | ((e + 120u) << 23) | (m << 20));
}

// round_half_even(q) + z saturated to [lo, hi]; q = x / s, NaN -> z. Clamping before rounding
// is the same as after (the bounds are integers), as the CPU does it.
__device__ inline int32_t quantize_int(float q, int32_t z, int32_t lo, int32_t hi) {
  const auto qlo = static_cast<float>(lo - z), qhi = static_cast<float>(hi - z);
  q = q < qlo ? qlo : (q > qhi ? qhi : q);
  if (q != q) return z;
  return static_cast<int32_t>(rintf(q)) + z;
}

// a * b rounded to odd in float64 (a, b finite): rounding the result once more to a format with
// at least two fewer significand bits (float32, float16) rounds the exact product once.
__device__ inline double mul_round_odd(double a, double b) {
  double p = __dmul_rn(a, b);
  const double err = fma(a, b, -p);
  if (err != 0 && isfinite(p) && (__double_as_longlong(p) & 1) == 0) {
    p = nextafter(p, err > 0 ? static_cast<double>(INFINITY) : -static_cast<double>(INFINITY));
  }
  return p;
}

enum class QType { kInt8, kUint8, kInt32, kE4M3FN };

// Scale entry of element i: per tensor 0, per axis (i / inner) % axis_len.
template <bool kPerAxis>
__device__ inline int64_t param_of(int64_t i, int64_t axis_len, int64_t inner) {
  if constexpr (kPerAxis) {
    return (i / inner) % axis_len;
  } else {
    return 0;
  }
}

template <typename X, typename S, QType kOut, bool kPerAxis>
__global__ void quantize_kernel(const X* __restrict__ x, const S* __restrict__ scale,
                                const void* __restrict__ zero_point, void* __restrict__ y,
                                int64_t total, int64_t axis_len, int64_t inner) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int64_t p = param_of<kPerAxis>(i, axis_len, inner);
    const float q = quotient(load(x[i]), load(scale[p]));
    if constexpr (kOut == QType::kE4M3FN) {
      static_cast<uint8_t*>(y)[i] = float_to_e4m3fn(q);
    } else if constexpr (kOut == QType::kInt8) {
      const int32_t z = zero_point ? static_cast<const int8_t*>(zero_point)[p] : 0;
      static_cast<int8_t*>(y)[i] = static_cast<int8_t>(quantize_int(q, z, -128, 127));
    } else {
      const int32_t z = zero_point ? static_cast<const uint8_t*>(zero_point)[p] : 0;
      static_cast<uint8_t*>(y)[i] = static_cast<uint8_t>(quantize_int(q, z, 0, 255));
    }
  }
}

template <typename Y>
__device__ inline Y from_double(double v);
template <>
__device__ inline float from_double<float>(double v) {
  return __double2float_rn(v);
}
template <>
__device__ inline __half from_double<__half>(double v) {
  return __double2half(v);  // cvt.rn.f16.f64: one rounding, nearest even
}

template <QType kIn, typename Y, typename S, bool kPerAxis>
__global__ void dequantize_kernel(const void* __restrict__ x, const S* __restrict__ scale,
                                  const void* __restrict__ zero_point, Y* __restrict__ y,
                                  int64_t total, int64_t axis_len, int64_t inner) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total;
       i += step) {
    const int64_t p = param_of<kPerAxis>(i, axis_len, inner);
    const float s = load(scale[p]);
    if constexpr (kIn == QType::kInt32) {
      // Up to 33 significant bits times 24: float64 does not hold the product exactly.
      const int64_t z = zero_point ? static_cast<const int32_t*>(zero_point)[p] : 0;
      const int64_t v = static_cast<const int32_t*>(x)[i] - z;
      y[i] = from_double<Y>(mul_round_odd(static_cast<double>(v), static_cast<double>(s)));
    } else {
      float v;  // x - zero point, exact
      if constexpr (kIn == QType::kE4M3FN) {
        v = e4m3fn_to_float(static_cast<const uint8_t*>(x)[i]);
      } else if constexpr (kIn == QType::kInt8) {
        const int32_t z = zero_point ? static_cast<const int8_t*>(zero_point)[p] : 0;
        v = static_cast<float>(static_cast<const int8_t*>(x)[i] - z);
      } else {
        const int32_t z = zero_point ? static_cast<const uint8_t*>(zero_point)[p] : 0;
        v = static_cast<float>(static_cast<const uint8_t*>(x)[i] - z);
      }
      if constexpr (std::is_same_v<Y, float>) {
        y[i] = __fmul_rn(v, s);  // at most 9 significant bits times 24: exact, rounded once
      } else {
        y[i] = from_double<Y>(static_cast<double>(v) * static_cast<double>(s));  // exact product
      }
    }
  }
}

// The per-axis layout of x around `axis` for a scale of `params` entries.
struct Layout {
  bool per_axis = false;
  int64_t axis_len = 1;
  int64_t inner = 1;
};

Expected<Layout> layout_of(const char* op, const DeviceTensor& x, const DeviceTensor& scale,
                           const DeviceTensor* zero_point, int64_t axis) {
  for (int64_t d : x.dims) {
    if (d < 0) return bad_input(op, ": x has a negative dim");
  }
  const int64_t params = scale.numel();
  if (zero_point && zero_point->numel() != params) {
    return bad_input(op, ": zero point has ", zero_point->numel(), " elements, scale ", params);
  }
  Layout l;
  if (params == 1) return l;
  const auto rank = static_cast<int64_t>(x.dims.size());
  if (axis < -rank || axis >= rank) {
    return bad_input(op, ": axis ", axis, " is out of range for x of rank ", rank);
  }
  if (axis < 0) axis += rank;
  const auto ax = static_cast<size_t>(axis);
  if (scale.dims.size() != 1 || scale.dims[0] != x.dims[ax]) {
    return bad_input(op, ": per-axis scale has shape ", ir::dims_to_string(scale.dims),
                     ", expected [", x.dims[ax], "] (x shape ", ir::dims_to_string(x.dims),
                     ", axis ", axis, ")");
  }
  l.per_axis = true;
  l.axis_len = x.dims[ax];
  for (size_t k = ax + 1; k < x.dims.size(); ++k) l.inner *= x.dims[k];
  return l;
}

template <typename X, typename S, QType kOut>
Status launch_quantize(const DeviceTensor& x, const DeviceTensor& scale, const void* zp,
                       const Layout& l, const DeviceTensor& y, StreamHandle s) {
  const int64_t total = x.numel();
  const auto* xp = static_cast<const X*>(x.data);
  const auto* sp = static_cast<const S*>(scale.data);
  if (l.per_axis) {
    quantize_kernel<X, S, kOut, true><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        xp, sp, zp, y.data, total, l.axis_len, l.inner);
  } else {
    quantize_kernel<X, S, kOut, false><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        xp, sp, zp, y.data, total, l.axis_len, l.inner);
  }
  return last_launch_error("QuantizeLinear");
}

template <typename X, typename S>
Status quantize_to(const DeviceTensor& x, const DeviceTensor& scale, const void* zp,
                   const Layout& l, const DeviceTensor& y, StreamHandle s) {
  switch (y.dtype) {
    case DType::kInt8:
      return launch_quantize<X, S, QType::kInt8>(x, scale, zp, l, y, s);
    case DType::kUint8:
      return launch_quantize<X, S, QType::kUint8>(x, scale, zp, l, y, s);
    default:
      return launch_quantize<X, S, QType::kE4M3FN>(x, scale, nullptr, l, y, s);
  }
}

template <QType kIn, typename Y, typename S>
Status launch_dequantize(const DeviceTensor& x, const DeviceTensor& scale, const void* zp,
                         const Layout& l, const DeviceTensor& y, StreamHandle s) {
  const int64_t total = x.numel();
  const auto* sp = static_cast<const S*>(scale.data);
  auto* yp = static_cast<Y*>(y.data);
  if (l.per_axis) {
    dequantize_kernel<kIn, Y, S, true><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        x.data, sp, zp, yp, total, l.axis_len, l.inner);
  } else {
    dequantize_kernel<kIn, Y, S, false><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        x.data, sp, zp, yp, total, l.axis_len, l.inner);
  }
  return last_launch_error("DequantizeLinear");
}

template <typename Y, typename S>
Status dequantize_from(const DeviceTensor& x, const DeviceTensor& scale, const void* zp,
                       const Layout& l, const DeviceTensor& y, StreamHandle s) {
  switch (x.dtype) {
    case DType::kInt8:
      return launch_dequantize<QType::kInt8, Y, S>(x, scale, zp, l, y, s);
    case DType::kUint8:
      return launch_dequantize<QType::kUint8, Y, S>(x, scale, zp, l, y, s);
    case DType::kInt32:
      return launch_dequantize<QType::kInt32, Y, S>(x, scale, zp, l, y, s);
    default:
      return launch_dequantize<QType::kE4M3FN, Y, S>(x, scale, nullptr, l, y, s);
  }
}

}  // namespace

Status quantize_linear(const DeviceTensor& x, const DeviceTensor& scale,
                       const DeviceTensor* zero_point, int64_t axis, const DeviceTensor& y,
                       StreamHandle s) {
  constexpr const char* kOp = "QuantizeLinear";
  if (x.dtype != DType::kFloat32 && x.dtype != DType::kFloat16) {
    return unsupported(kOp, ": x of dtype ", dtype_name(x.dtype), " on the GPU (float32, float16)");
  }
  if (scale.dtype != DType::kFloat32 && scale.dtype != x.dtype) {
    return bad_input(kOp, ": scale is ", dtype_name(scale.dtype), ", expected float32 or ",
                     dtype_name(x.dtype));
  }
  if (y.dtype != DType::kInt8 && y.dtype != DType::kUint8 && y.dtype != DType::kFloat8E4M3FN) {
    return unsupported(kOp, ": y of dtype ", dtype_name(y.dtype),
                       " on the GPU (int8, uint8, float8e4m3fn)");
  }
  if (zero_point && zero_point->dtype != y.dtype) {
    return bad_input(kOp, ": zero point is ", dtype_name(zero_point->dtype), " but y is ",
                     dtype_name(y.dtype));
  }
  if (y.dims != x.dims) {
    return bad_input(kOp, ": y has shape ", ir::dims_to_string(y.dims), ", x ",
                     ir::dims_to_string(x.dims));
  }
  MIXQ_ASSIGN_OR_RETURN(const Layout l, layout_of(kOp, x, scale, zero_point, axis));
  if (x.numel() == 0) return Status::ok_status();
  const void* zp = zero_point ? zero_point->data : nullptr;
  if (x.dtype == DType::kFloat32) return quantize_to<float, float>(x, scale, zp, l, y, s);
  if (scale.dtype == DType::kFloat32) return quantize_to<__half, float>(x, scale, zp, l, y, s);
  return quantize_to<__half, __half>(x, scale, zp, l, y, s);
}

Status dequantize_linear(const DeviceTensor& x, const DeviceTensor& scale,
                         const DeviceTensor* zero_point, int64_t axis, const DeviceTensor& y,
                         StreamHandle s) {
  constexpr const char* kOp = "DequantizeLinear";
  if (x.dtype != DType::kInt8 && x.dtype != DType::kUint8 && x.dtype != DType::kInt32 &&
      x.dtype != DType::kFloat8E4M3FN) {
    return unsupported(kOp, ": x of dtype ", dtype_name(x.dtype),
                       " on the GPU (int8, uint8, int32, float8e4m3fn)");
  }
  if (scale.dtype != DType::kFloat32 && scale.dtype != DType::kFloat16) {
    return bad_input(kOp, ": scale is ", dtype_name(scale.dtype), ", expected float32 or float16");
  }
  if (y.dtype != DType::kFloat32 && y.dtype != DType::kFloat16) {
    return unsupported(kOp, ": y of dtype ", dtype_name(y.dtype), " on the GPU (float32, float16)");
  }
  if (zero_point && zero_point->dtype != x.dtype) {
    return bad_input(kOp, ": zero point is ", dtype_name(zero_point->dtype), " but x is ",
                     dtype_name(x.dtype));
  }
  if (y.dims != x.dims) {
    return bad_input(kOp, ": y has shape ", ir::dims_to_string(y.dims), ", x ",
                     ir::dims_to_string(x.dims));
  }
  MIXQ_ASSIGN_OR_RETURN(const Layout l, layout_of(kOp, x, scale, zero_point, axis));
  if (x.numel() == 0) return Status::ok_status();
  const void* zp = zero_point ? zero_point->data : nullptr;
  const bool f32_scale = scale.dtype == DType::kFloat32;
  if (y.dtype == DType::kFloat32) {
    return f32_scale ? dequantize_from<float, float>(x, scale, zp, l, y, s)
                     : dequantize_from<float, __half>(x, scale, zp, l, y, s);
  }
  return f32_scale ? dequantize_from<__half, float>(x, scale, zp, l, y, s)
                   : dequantize_from<__half, __half>(x, scale, zp, l, y, s);
}

}  // namespace mixq::gpu
