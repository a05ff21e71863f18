// ONNX DequantizeLinear-10/13/19/21: y = (x - x_zero_point) * x_scale.
// x: int8, uint8, int32 (no zero point, or an all-zero one); 19 adds the float8 types (zero point
// 0); 21 adds int16, uint16, int4, uint4. y is float32 before 19, x_scale's type (float32,
// float16, bfloat16) since. Granularity (quant_common.h): per tensor; per axis (13+); blocked
// (21+, block_size).
//
// The result is the exact product rounded once to y's type: x - zero_point is exact, and so is its
// product with the scale in float32 (8/16-bit and float8 x) or float64 (float16/bfloat16 y); for
// int32 x into float32 the float64 product's rounding error (fma) makes the one rounding exact.
#include <bit>

#include "kernels/quant/quant_common.h"
#include "kernels/quant/quant_kernels.h"

namespace mixq::exec {
namespace {

using quant::QdqLayout;

// a * b rounded once to float32 (a, b finite doubles whose product may not fit 53 bits): the
// float64 product is rounded to odd using its exact error, then to float32.
inline float mul_round_once(double a, double b) {
  double p = a * b;
  const double err = std::fma(a, b, -p);
  if (err != 0 && std::isfinite(p) && (std::bit_cast<uint64_t>(p) & 1u) == 0) {
    // The exact product lies between p and its neighbour toward err; that neighbour is odd.
    p = std::nextafter(p, err > 0 ? INFINITY : -INFINITY);
  }
  return static_cast<float>(p);
}

// Calls fn(get) with get(k) = x[k] - zero point of parameter p, as int32 (integer x) or float
// (float8 x, whose zero point is 0).
template <typename Fn>
Status visit_x(const ir::Tensor& x, const int32_t* zps, Fn&& fn) {
  const DType t = x.dtype();
  if (quant::is_float8(t)) {
    const float* table = quant::float8_table(t);
    const uint8_t* p = x.data<uint8_t>();
    return fn([table, p](int64_t k, int64_t) { return table[p[k]]; });
  }
  if (t == DType::kInt4 || t == DType::kUint4) {
    const uint8_t* p = x.data<uint8_t>();
    const bool s = t == DType::kInt4;
    return fn([p, s, zps](int64_t k, int64_t j) {
      const uint8_t nib = get_4bit(p, k);
      return (s ? int4_to_int(nib) : uint4_to_int(nib)) - zps[j];
    });
  }
  return visit_dtype(t, [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_integral_v<S> && !std::is_same_v<S, bool> && sizeof(S) <= 4) {
      const S* p = x.data<S>();
      return fn([p, zps](int64_t k, int64_t j) { return static_cast<int32_t>(p[k]) - zps[j]; });
    } else {
      return internal_error("DequantizeLinear: unexpected x type ", dtype_name(x.dtype()));
    }
  });
}

Status dequantize_linear(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const ir::Tensor& scale = ctx.input(1);
  const ir::Tensor* zp = ctx.input_or_null(2);
  const int64_t opset = ctx.opset();
  const DType st = scale.dtype();
  if (opset < 19 ? st != DType::kFloat32
                 : (st != DType::kFloat32 && st != DType::kFloat16 && st != DType::kBFloat16)) {
    return ctx.fail("x_scale is ", dtype_name(st), ", expected float32",
                    opset < 19 ? " before opset 19" : ", float16 or bfloat16");
  }
  if (zp && zp->dtype() != x.dtype()) {
    return ctx.fail("x_zero_point is ", dtype_name(zp->dtype()), " but x is ",
                    dtype_name(x.dtype()));
  }
  MIXQ_ASSIGN_OR_RETURN(QdqLayout l, quant::qdq_layout(ctx, x, scale, zp));
  const std::vector<float> scales = quant::scale_values(scale);
  std::vector<int32_t> zps(scales.size(), 0);
  if (zp) {
    MIXQ_ASSIGN_OR_RETURN(zps, quant::zero_point_values(ctx, *zp, "x_zero_point"));
  }
  if (static_cast<int64_t>(scales.size()) != l.params ||
      static_cast<int64_t>(zps.size()) != l.params) {
    return ctx.fail("scale has ", scales.size(), " and zero point ", zps.size(),
                    " entries, expected ", l.params);
  }
  const bool int32_x = x.dtype() == DType::kInt32;
  if (int32_x) {
    for (int32_t z : zps) {
      if (z != 0) return ctx.fail("int32 x takes no zero point, but x_zero_point has ", z);
    }
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0));
  if (y->dtype() != (opset < 19 ? DType::kFloat32 : st)) {
    return internal_error(ctx.node().describe(), ": output type ", dtype_name(y->dtype()));
  }
  const float* s = scales.data();
  ThreadPool& pool = ctx.pool();
  return visit_x(x, zps.data(), [&](auto get) -> Status {
    switch (y->dtype()) {
      case DType::kFloat32: {
        float* out = y->mutable_data<float>();
        quant::for_each_run(pool, l, [&](int64_t b, int64_t e, int64_t p, int64_t step) {
          if (int32_x) {
            for (int64_t k = b; k < e; ++k, p += step) {
              out[k] = mul_round_once(static_cast<double>(get(k, p)), s[p]);
            }
          } else {  // at most 17 significant bits times 24: float32 rounds the exact product
            for (int64_t k = b; k < e; ++k, p += step) {
              out[k] = static_cast<float>(get(k, p)) * s[p];
            }
          }
        });
        return Status::ok_status();
      }
      case DType::kFloat16:
      case DType::kBFloat16: {
        // Products of at most 32 and 11 significant bits: exact in float64, rounded once.
        uint16_t* out = y->mutable_data<uint16_t>();
        const bool half = y->dtype() == DType::kFloat16;
        quant::for_each_run(pool, l, [&](int64_t b, int64_t e, int64_t p, int64_t step) {
          for (int64_t k = b; k < e; ++k, p += step) {
            const double v = static_cast<double>(get(k, p)) * static_cast<double>(s[p]);
            out[k] = half ? double_to_float16(v) : double_to_bfloat16(v);
          }
        });
        return Status::ok_status();
      }
      default:
        return internal_error("DequantizeLinear: output type ", dtype_name(y->dtype()));
    }
  });
}

}  // namespace

void register_dequantize_linear_kernels(std::vector<KernelDef>& out) {
  const TypeSet v10{DType::kInt8, DType::kUint8, DType::kInt32};
  const TypeSet fp8{DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2,
                    DType::kFloat8E5M2FNUZ};
  const TypeSet v21{DType::kInt16, DType::kUint16, DType::kInt4, DType::kUint4};
  out.push_back({"", "DequantizeLinear", 10, 18, v10, 0, dequantize_linear});
  out.push_back({"", "DequantizeLinear", 19, 20, v10 | fp8, 0, dequantize_linear});
  out.push_back({"", "DequantizeLinear", 21, 21, v10 | fp8 | v21, 0, dequantize_linear});
}

}  // namespace mixq::exec
