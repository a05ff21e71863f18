// Shared pieces of the quantization kernels (Cast, QuantizeLinear, DequantizeLinear, the integer
// matmuls and convolutions): FP8 and 4-bit element access, the scale / zero-point granularity of
// QuantizeLinear and DequantizeLinear, and the requantization of int32 accumulators.
// Internal to lib/exec/kernels/quant.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/common.h"
#include "mixq/core/float8.h"

namespace mixq::exec::quant {

inline bool is_float8(DType t) {
  return t == DType::kFloat8E4M3FN || t == DType::kFloat8E4M3FNUZ || t == DType::kFloat8E5M2 ||
         t == DType::kFloat8E5M2FNUZ;
}
inline bool is_4bit(DType t) { return t == DType::kInt4 || t == DType::kUint4; }

// The 256 values of an FP8 type, by code (exact; NaN codes give NaN).
const float* float8_table(DType t);

// Calls fn(tag) with a tag type whose static encode(float, bool saturate) is the FP8 type's
// encoder, so loops over elements get the encoder inlined.
struct E4M3FN {
  static uint8_t encode(float f, bool s) { return float_to_float8e4m3fn(f, s); }
};
struct E4M3FNUZ {
  static uint8_t encode(float f, bool s) { return float_to_float8e4m3fnuz(f, s); }
};
struct E5M2 {
  static uint8_t encode(float f, bool s) { return float_to_float8e5m2(f, s); }
};
struct E5M2FNUZ {
  static uint8_t encode(float f, bool s) { return float_to_float8e5m2fnuz(f, s); }
};
template <typename Fn>
Status visit_float8(DType t, Fn&& fn) {
  switch (t) {
    case DType::kFloat8E4M3FN:
      return fn(E4M3FN{});
    case DType::kFloat8E4M3FNUZ:
      return fn(E4M3FNUZ{});
    case DType::kFloat8E5M2:
      return fn(E5M2{});
    case DType::kFloat8E5M2FNUZ:
      return fn(E5M2FNUZ{});
    default:
      return internal_error("not a float8 type: ", dtype_name(t));
  }
}

// Element i of a tensor of any numeric dtype (FP8 and 4-bit included) as float64; for small
// parameter tensors (scales, zero points), not for hot loops.
double element_value(const ir::Tensor& t, int64_t i);

// The values of a scale tensor (float32, float16, bfloat16, or any numeric type) as float32.
std::vector<float> scale_values(const ir::Tensor& t);

// The values of an integer zero point as int32; FP8 zero points must be zero (+-0): anything
// else fails, naming `what`.
Expected<std::vector<int32_t>> zero_point_values(const KernelContext& ctx, const ir::Tensor& t,
                                                 const char* what);

// Integer range of a quantized type (int8, uint8, int16, uint16, int4, uint4, int32).
struct IntRange {
  int32_t lo;
  int32_t hi;
};
IntRange int_range(DType t);

// How the scale of QuantizeLinear / DequantizeLinear maps onto x's elements. x is viewed as
// [outer, axis_len, inner] around `axis`; the scale index of element (o, a, i) is 0 (per
// tensor), a (per axis), or (o * blocks + a / block) * inner + i (blocked).
struct QdqLayout {
  enum class Kind { kPerTensor, kPerAxis, kBlocked };
  Kind kind = Kind::kPerTensor;
  int64_t outer = 1;
  int64_t axis_len = 1;
  int64_t inner = 1;
  int64_t block = 0;
  int64_t blocks = 1;
  int64_t params = 1;  // number of scale entries
};

// Reads axis / block_size (opset 21) and checks the scale's and zero point's shapes against x:
// per tensor (a scalar or one element), per axis (1-D of x.shape[axis], opset >= 13), or blocked
// (opset >= 21, block_size > 0: x's rank with ceil(x.shape[axis] / block_size) on the axis).
// The zero point, when given, must have the scale's shape.
Expected<QdqLayout> qdq_layout(const KernelContext& ctx, const ir::Tensor& x,
                               const ir::Tensor& scale, const ir::Tensor* zero_point);

// Calls fn(begin, end, param, param_step) over contiguous runs [begin, end) of x's elements, in
// parallel, where element k of a run uses scale entry param + (k - begin) * param_step
// (param_step 0 or 1). Runs depend only on the layout, so results are thread-count independent.
template <typename Fn>
void for_each_run(ThreadPool& pool, const QdqLayout& l, Fn&& fn) {
  const int64_t rows = l.outer * l.axis_len;
  constexpr int64_t kPiece = 16384;
  const int64_t pieces_per_row = (l.inner + kPiece - 1) / kPiece;
  const int64_t total = rows * pieces_per_row;
  if (total == 0) return;
  const int64_t grain =
      ThreadPool::grain_for(total, std::max<int64_t>(1, 4096 / std::min(l.inner, kPiece)));
  pool.parallel_for(total, grain, [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t row = p / pieces_per_row;
      const int64_t start = (p % pieces_per_row) * kPiece;
      const int64_t len = std::min(kPiece, l.inner - start);
      const int64_t o = row / l.axis_len;
      const int64_t a = row % l.axis_len;
      int64_t param = 0;
      int64_t step = 0;
      if (l.kind == QdqLayout::Kind::kPerAxis) {
        param = a;
      } else if (l.kind == QdqLayout::Kind::kBlocked) {
        param = (o * l.blocks + a / l.block) * l.inner + start;
        step = 1;
      }
      const int64_t begin = row * l.inner + start;
      fn(begin, begin + len, param, step);
    }
  });
}

// Packs unpacked 4-bit values (one per byte, low nibble) into `out`, two per byte; the padding
// nibble of an odd count is zero. Parallel over bytes.
void pack_nibbles(ThreadPool& pool, const uint8_t* values, int64_t n, uint8_t* out);

// Requantization of int32 accumulators, as the ONNX reference implementation computes it for
// QLinearMatMul and QLinearConv: multiplier = float32(float32(s_a * s_b) / s_y), then
// y = saturate(round_half_even(acc * multiplier) + zero_point) with the product in float64.
inline float requant_multiplier(float sa, float sb, float sy) { return (sa * sb) / sy; }
inline int32_t requantize(int32_t acc, float multiplier, int32_t zp, IntRange r) {
  double v = std::nearbyint(static_cast<double>(acc) * static_cast<double>(multiplier));
  if (std::isnan(v)) v = 0;  // a NaN multiplier (0 / 0 scales): the zero point
  v += zp;
  v = v < r.lo ? r.lo : (v > r.hi ? r.hi : v);
  return static_cast<int32_t>(v);
}

// The elements of an int8 / uint8 / int16 / uint16 / int32 / int4 / uint4 tensor as int32.
std::vector<int32_t> int_values(const ir::Tensor& t);

}  // namespace mixq::exec::quant
