// Elementwise unary math with no attributes: y = f(x), float16/bfloat16 computed in float32.
// ONNX Operators.md: Relu-1/6/13/14, Neg-1/6/13, Abs-1/6/13, Exp, Log, Sqrt, Reciprocal,
// Sigmoid, Tanh (-1/6/13), Erf-9/13, Floor, Ceil (-1/6/13), Round-11 (half to even), Sign-9/13,
// Sin/Cos/Tan/Asin/Acos/Atan-7, Sinh/Cosh/Asinh/Acosh/Atanh-9, Softsign-1, Softplus-1.
// Neg/Abs/Sign take integers (Relu signed integers from 14); integer negation wraps. Exp, Log,
// Sigmoid, Tanh and Erf run on Eigen packets for float32.
#include <cmath>

#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"
#include "kernels/math/vectorized.h"

namespace mixq::exec {
namespace {

template <typename F>
Status unary(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool input is not supported");
    } else if constexpr (std::is_same_v<S, float> && HasFloatArrayPath<F>) {
      map_float_arrays(ctx.pool(), x, *y, F{});
      return Status::ok_status();
    } else {
      map_values<S, S>(ctx.pool(), x, *y, F{});
      return Status::ok_status();
    }
  });
}

// The functors take the compute type (float, double or an integer type).
// NaN stays NaN (max(0, x) in the spec's numpy reference and in ONNX Runtime): `v > 0` would
// turn it into 0 and hide it from whatever reads the output; `v <= 0` is false for NaN.
struct Relu {
  template <typename C>
  C operator()(C v) const {
    return v <= C(0) ? C(0) : v;
  }
};
// Integer negation wraps (-INT_MIN is INT_MIN), as numpy and ONNX Runtime give.
struct Neg {
  template <typename C>
  C operator()(C v) const {
    if constexpr (std::is_floating_point_v<C>) {
      return -v;
    } else {
      return wrap_neg(v);
    }
  }
};
struct Abs {
  template <typename C>
  C operator()(C v) const {
    if constexpr (std::is_floating_point_v<C>) {
      return std::fabs(v);
    } else if constexpr (std::is_unsigned_v<C>) {
      return v;
    } else {
      return v < C(0) ? wrap_neg(v) : v;
    }
  }
};
struct Sign {
  template <typename C>
  C operator()(C v) const {
    if constexpr (std::is_floating_point_v<C>) {
      if (std::isnan(v)) return v;
    }
    return v > C(0) ? C(1) : (v < C(0) ? static_cast<C>(-1) : C(0));
  }
};

#define MIXQ_FLOAT_UNARY(Name, expr) \
  struct Name {                      \
    template <typename C>            \
    C operator()(C v) const {        \
      return static_cast<C>(expr);   \
    }                                \
  };
// The same with an Eigen array path for float32 (`x` in, `y` out).
#define MIXQ_FLOAT_UNARY_VEC(Name, expr, array_expr)                          \
  struct Name {                                                               \
    template <typename C>                                                     \
    C operator()(C v) const {                                                 \
      return static_cast<C>(expr);                                            \
    }                                                                         \
    void array(const FloatArrayIn& x, FloatArrayOut& y) const { array_expr; } \
  };
MIXQ_FLOAT_UNARY_VEC(Exp, std::exp(v), exp_array(x, y))
MIXQ_FLOAT_UNARY_VEC(Log, std::log(v), y = x.log())
// Not Eigen's sqrt: under EIGEN_FAST_MATH it is rsqrt-based, not correctly rounded, and NaN at inf.
MIXQ_FLOAT_UNARY(Sqrt, std::sqrt(v))
MIXQ_FLOAT_UNARY(Reciprocal, C(1) / v)
MIXQ_FLOAT_UNARY_VEC(Sigmoid,
                     v >= C(0) ? C(1) / (C(1) + std::exp(-v)) : std::exp(v) / (C(1) + std::exp(v)),
                     sigmoid_array(x, y))
MIXQ_FLOAT_UNARY_VEC(Tanh, std::tanh(v), y = x.tanh())
MIXQ_FLOAT_UNARY_VEC(Erf, std::erf(v), y = x.erf())
MIXQ_FLOAT_UNARY(Floor, std::floor(v))
MIXQ_FLOAT_UNARY(Ceil, std::ceil(v))
MIXQ_FLOAT_UNARY(Round, std::nearbyint(v))
MIXQ_FLOAT_UNARY(Sin, std::sin(v))
MIXQ_FLOAT_UNARY(Cos, std::cos(v))
MIXQ_FLOAT_UNARY(Tan, std::tan(v))
MIXQ_FLOAT_UNARY(Asin, std::asin(v))
MIXQ_FLOAT_UNARY(Acos, std::acos(v))
MIXQ_FLOAT_UNARY(Atan, std::atan(v))
MIXQ_FLOAT_UNARY(Sinh, std::sinh(v))
MIXQ_FLOAT_UNARY(Cosh, std::cosh(v))
MIXQ_FLOAT_UNARY(Asinh, std::asinh(v))
MIXQ_FLOAT_UNARY(Acosh, std::acosh(v))
MIXQ_FLOAT_UNARY(Atanh, std::atanh(v))
MIXQ_FLOAT_UNARY(Softsign, v / (C(1) + std::fabs(v)))
// log(1 + e^x) without overflow for large x.
MIXQ_FLOAT_UNARY(Softplus, v > C(0) ? v + std::log1p(std::exp(-v)) : std::log1p(std::exp(v)))
#undef MIXQ_FLOAT_UNARY
#undef MIXQ_FLOAT_UNARY_VEC

}  // namespace

void register_unary_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "Relu", 1, 13, kFloats, 0, unary<Relu>, /*in_place=*/true});
  out.push_back({"", "Relu", 14, 21, kFloats | kSignedInts, 0, unary<Relu>, /*in_place=*/true});
  out.push_back({"", "Neg", 1, 21, kFloats | kSignedInts, 0, unary<Neg>});
  out.push_back({"", "Abs", 1, 21, kNumeric, 0, unary<Abs>});
  out.push_back({"", "Sign", 9, 21, kNumeric, 0, unary<Sign>});
  out.push_back({"", "Exp", 1, 21, kFloats, 0, unary<Exp>});
  out.push_back({"", "Log", 1, 21, kFloats, 0, unary<Log>});
  out.push_back({"", "Sqrt", 1, 21, kFloats, 0, unary<Sqrt>});
  out.push_back({"", "Reciprocal", 1, 21, kFloats, 0, unary<Reciprocal>});
  out.push_back({"", "Sigmoid", 1, 21, kFloats, 0, unary<Sigmoid>});
  out.push_back({"", "Tanh", 1, 21, kFloats, 0, unary<Tanh>});
  out.push_back({"", "Erf", 9, 21, kFloats, 0, unary<Erf>});
  out.push_back({"", "Floor", 1, 21, kFloats, 0, unary<Floor>});
  out.push_back({"", "Ceil", 1, 21, kFloats, 0, unary<Ceil>});
  out.push_back({"", "Round", 11, 21, kFloats, 0, unary<Round>});
  out.push_back({"", "Sin", 7, 21, kFloats, 0, unary<Sin>});
  out.push_back({"", "Cos", 7, 21, kFloats, 0, unary<Cos>});
  out.push_back({"", "Tan", 7, 21, kFloats, 0, unary<Tan>});
  out.push_back({"", "Asin", 7, 21, kFloats, 0, unary<Asin>});
  out.push_back({"", "Acos", 7, 21, kFloats, 0, unary<Acos>});
  out.push_back({"", "Atan", 7, 21, kFloats, 0, unary<Atan>});
  out.push_back({"", "Sinh", 9, 21, kFloats, 0, unary<Sinh>});
  out.push_back({"", "Cosh", 9, 21, kFloats, 0, unary<Cosh>});
  out.push_back({"", "Asinh", 9, 21, kFloats, 0, unary<Asinh>});
  out.push_back({"", "Acosh", 9, 21, kFloats, 0, unary<Acosh>});
  out.push_back({"", "Atanh", 9, 21, kFloats, 0, unary<Atanh>});
  out.push_back({"", "Softsign", 1, 21, kFloats, 0, unary<Softsign>});
  out.push_back({"", "Softplus", 1, 21, kFloats, 0, unary<Softplus>});
}

}  // namespace mixq::exec
