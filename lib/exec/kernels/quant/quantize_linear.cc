// ONNX QuantizeLinear-10/13/19/21:
//   integer y:  y = saturate(round_half_even(x / y_scale) + y_zero_point), saturating to the range
//   of
//               y's type (uint8, int8; 21: int16, uint16, int4, uint4);
//   float8 y (19+): y = cast(x / y_scale) with the `saturate` tables (lib/core/float8.h); the zero
//               point must be 0.
// Granularity (quant_common.h): per tensor; per axis (13+); blocked (21+, block_size). y's type is
// the zero point's, or output_dtype (21), or uint8.
//
// x / y_scale is the float32 quotient for float32, float16 and bfloat16 x (for the 16-bit types it
// rounds exactly like the exact quotient would: their significands are too short to put the
// quotient within float32 rounding of a tie it is not on) and the float64 quotient for int32 x.
// NaN quantizes to the zero point (the spec leaves it undefined); +-Inf saturate.
#include "kernels/quant/quant_common.h"
#include "kernels/quant/quant_kernels.h"

namespace mixq::exec {
namespace {

using quant::QdqLayout;

// The quotient type: float for float-like x, double for int32 x.
template <typename X>
using Quot = std::conditional_t<std::is_same_v<X, int32_t>, double, float>;

template <typename X>
Quot<X> quotient(X x, float s) {
  return static_cast<Quot<X>>(load(x)) / static_cast<Quot<X>>(s);
}

// 1.5 * 2^(significand bits): adding and subtracting it rounds |v| <= 2^(bits - 1) to an integer,
// nearest even (the default rounding mode).
template <typename Q>
constexpr Q kRound = std::is_same_v<Q, float> ? Q(12582912.0) : Q(6755399441055744.0);

// One element: round_half_even(x / s) + z saturated to [lo + z, hi + z] (lo, hi: the type's range
// minus z). Clamping before rounding is the same as after (the bounds are integers) and keeps the
// value small enough for the add-and-subtract rounding: exact, nearest even, no libm call.
template <typename X, typename Q = Quot<X>>
inline int32_t quantize_one(X x, float s, int32_t z, Q lo, Q hi) {
  Q q = quotient(x, s);
  q = q < lo ? lo : (q > hi ? hi : q);  // NaN stays NaN
  constexpr Q kR = kRound<Q>;
  q = (q + kR) - kR;
  return q == q ? static_cast<int32_t>(q) + z : z;
}

// Integer outputs: calls put(k, q) with q in the type's range.
template <typename X, typename Put>
void quantize_to_ints(ThreadPool& pool, const QdqLayout& l, const X* x, const float* scales,
                      const int32_t* zps, quant::IntRange r, Put put) {
  using Q = Quot<X>;
  quant::for_each_run(pool, l, [&](int64_t b, int64_t e, int64_t p, int64_t step) {
    if (step == 0) {  // one scale for the run: hoist it
      const float s = scales[p];
      const int32_t z = zps[p];
      const auto lo = static_cast<Q>(r.lo - z), hi = static_cast<Q>(r.hi - z);
      for (int64_t k = b; k < e; ++k) put(k, quantize_one(x[k], s, z, lo, hi));
      return;
    }
    for (int64_t k = b; k < e; ++k, ++p) {
      const int32_t z = zps[p];
      put(k, quantize_one(x[k], scales[p], z, static_cast<Q>(r.lo - z), static_cast<Q>(r.hi - z)));
    }
  });
}

template <typename X>
Status quantize_typed(KernelContext& ctx, const QdqLayout& l, const X* x,
                      const std::vector<float>& scales, const std::vector<int32_t>& zps,
                      bool saturate, ir::Tensor& y) {
  ThreadPool& pool = ctx.pool();
  const DType t = y.dtype();
  if (quant::is_float8(t)) {
    return quant::visit_float8(t, [&](auto enc) -> Status {
      using E = decltype(enc);
      uint8_t* out = y.mutable_data<uint8_t>();
      quant::for_each_run(pool, l, [&](int64_t b, int64_t e, int64_t p, int64_t step) {
        for (int64_t k = b; k < e; ++k, p += step) {
          if constexpr (std::is_same_v<X, int32_t>) {
            out[k] = E::encode(float_round_to_odd(quotient(x[k], scales[p])), saturate);
          } else {
            out[k] = E::encode(quotient(x[k], scales[p]), saturate);
          }
        }
      });
      return Status::ok_status();
    });
  }
  const quant::IntRange r = quant::int_range(t);
  switch (t) {
    case DType::kInt4:
    case DType::kUint4: {
      std::vector<uint8_t> nibbles(static_cast<size_t>(y.numel()));
      quantize_to_ints(pool, l, x, scales.data(), zps.data(), r, [&](int64_t k, int32_t q) {
        nibbles[static_cast<size_t>(k)] = static_cast<uint8_t>(q & 0xf);
      });
      quant::pack_nibbles(pool, nibbles.data(), y.numel(), y.mutable_data<uint8_t>());
      return Status::ok_status();
    }
    case DType::kInt8:
    case DType::kUint8:
    case DType::kInt16:
    case DType::kUint16:
      return visit_dtype(t, [&](auto tag) -> Status {
        using T = decltype(tag);
        if constexpr (std::is_integral_v<T> && sizeof(T) <= 2) {
          T* out = y.mutable_data<T>();
          quantize_to_ints(pool, l, x, scales.data(), zps.data(), r,
                           [out](int64_t k, int32_t q) { out[k] = static_cast<T>(q); });
          return Status::ok_status();
        } else {
          return internal_error("unreachable");
        }
      });
    default:
      return ctx.fail("cannot quantize to ", dtype_name(t));
  }
}

// The output types each version allows.
bool output_allowed(DType t, int64_t opset) {
  if (t == DType::kInt8 || t == DType::kUint8) return true;
  if (quant::is_float8(t)) return opset >= 19;
  return opset >= 21 && (t == DType::kInt16 || t == DType::kUint16 || quant::is_4bit(t));
}

Status quantize_linear(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const ir::Tensor& scale = ctx.input(1);
  const ir::Tensor* zp = ctx.input_or_null(2);
  const int64_t opset = ctx.opset();
  // Before 19 y_scale is float32; since 19 it has x's type (T1).
  const DType want_scale = opset < 19 ? DType::kFloat32 : x.dtype();
  if (scale.dtype() != want_scale) {
    return ctx.fail("y_scale is ", dtype_name(scale.dtype()), ", expected ", dtype_name(want_scale),
                    opset < 19 ? " before opset 19" : " (x's type)");
  }
  bool saturate = true;
  if (opset >= 19) {
    MIXQ_ASSIGN_OR_RETURN(int64_t s, ctx.node().attr_int("saturate", 1));
    if (s != 0 && s != 1) return ctx.fail("attribute saturate is ", s, ", expected 0 or 1");
    saturate = s == 1;
  }
  MIXQ_ASSIGN_OR_RETURN(QdqLayout l, quant::qdq_layout(ctx, x, scale, zp));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0));
  if (!output_allowed(y->dtype(), opset)) {
    return ctx.fail("QuantizeLinear-", opset, " cannot produce ", dtype_name(y->dtype()));
  }
  if (zp && zp->dtype() != y->dtype()) {
    return ctx.fail("y_zero_point is ", dtype_name(zp->dtype()), " but y is ",
                    dtype_name(y->dtype()));
  }
  const std::vector<float> scales = quant::scale_values(scale);
  std::vector<int32_t> zps(scales.size(), 0);
  if (zp) {
    MIXQ_ASSIGN_OR_RETURN(zps, quant::zero_point_values(ctx, *zp, "y_zero_point"));
  }
  if (static_cast<int64_t>(scales.size()) != l.params ||
      static_cast<int64_t>(zps.size()) != l.params) {
    return ctx.fail("scale has ", scales.size(), " and zero point ", zps.size(),
                    " entries, expected ", l.params);
  }
  switch (x.dtype()) {
    case DType::kFloat32:
      return quantize_typed(ctx, l, x.data<float>(), scales, zps, saturate, *y);
    case DType::kFloat16:
      return quantize_typed(ctx, l, x.data<Float16>(), scales, zps, saturate, *y);
    case DType::kBFloat16:
      return quantize_typed(ctx, l, x.data<BFloat16>(), scales, zps, saturate, *y);
    case DType::kInt32:
      return quantize_typed(ctx, l, x.data<int32_t>(), scales, zps, saturate, *y);
    default:
      return ctx.fail("x has type ", dtype_name(x.dtype()));
  }
}

}  // namespace

void register_quantize_linear_kernels(std::vector<KernelDef>& out) {
  const TypeSet v10{DType::kFloat32, DType::kInt32};
  const TypeSet v19{DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kInt32};
  out.push_back({"", "QuantizeLinear", 10, 18, v10, 0, quantize_linear});
  out.push_back({"", "QuantizeLinear", 19, 21, v19, 0, quantize_linear});
}

}  // namespace mixq::exec
