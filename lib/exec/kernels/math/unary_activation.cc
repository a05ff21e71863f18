// Elementwise activations with attributes: y = f(x; attrs), float16/bfloat16 computed in float32.
// ONNX Operators.md: LeakyRelu-1/6/16 (alpha 0.01), Elu-1/6 (alpha 1), Selu-1/6 (alpha
// 1.67326..., gamma 1.05070...), HardSigmoid-1/6 (alpha 0.2, beta 0.5: max(0, min(1, a*x+b))),
// HardSwish-14 (x * HardSigmoid(x; 1/6, 0.5)), Celu-12 (max(0,x) + min(0, a*(exp(x/a)-1))),
// ThresholdedRelu-10 (x if x > alpha else 0), Shrink-9 (x+bias if x < -lambd, x-bias if
// x > lambd, else 0; numeric types), Mish-18 (x * tanh(softplus(x))), Gelu-20 (approximate
// "none": x/2 * (1 + erf(x/sqrt 2)); "tanh": x/2 * (1 + tanh(sqrt(2/pi) * (x + 0.044715x^3)))).
// Elu, Selu, Celu, Mish and Gelu have branch-free Eigen packet paths for float32.
#include <cmath>

#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"
#include "kernels/math/vectorized.h"

namespace mixq::exec {
namespace {

// Each activation is a functor built from the node's attributes (`make`), applied in the
// compute type C (float or double).
struct LeakyRelu {
  float alpha;
  static Expected<LeakyRelu> make(const KernelContext& ctx) {
    MIXQ_ASSIGN_OR_RETURN(float a, ctx.node().attr_float("alpha", 0.01f));
    return LeakyRelu{a};
  }
  template <typename C>
  C operator()(C v) const {
    // max(v, 0) + alpha * min(v, 0) is exact (one term is 0) and branch-free: GCC keeps
    // `v < 0 ? alpha * v : v` a branch (it will not speculate the multiply under trapping
    // math), which mispredicts on real activations and does not vectorize.
    return std::max(v, C(0)) + C(alpha) * std::min(v, C(0));
  }
};

struct Elu {
  float alpha;
  static Expected<Elu> make(const KernelContext& ctx) {
    MIXQ_ASSIGN_OR_RETURN(float a, ctx.node().attr_float("alpha", 1.0f));
    return Elu{a};
  }
  template <typename C>
  C operator()(C v) const {
    return v < C(0) ? C(alpha) * std::expm1(v) : v;
  }
  // Branch-free, so it runs on packets: max(x, 0) + alpha * (exp(min(x, 0)) - 1). exp - 1
  // (as ONNX Runtime computes it) is off by at most an ulp of 1 near 0, and Eigen's expm1 costs
  // an extra log.
  void array(const FloatArrayIn& x, FloatArrayOut& y) const {
    y = x.max(0.0f) + alpha * (x.min(0.0f).exp() - 1.0f);
  }
};

struct Selu {
  float alpha, gamma;
  static Expected<Selu> make(const KernelContext& ctx) {
    MIXQ_ASSIGN_OR_RETURN(float a, ctx.node().attr_float("alpha", 1.67326319217681884765625f));
    MIXQ_ASSIGN_OR_RETURN(float g, ctx.node().attr_float("gamma", 1.05070102214813232421875f));
    return Selu{a, g};
  }
  template <typename C>
  C operator()(C v) const {
    return C(gamma) * (v > C(0) ? v : C(alpha) * std::expm1(v));
  }
  void array(const FloatArrayIn& x, FloatArrayOut& y) const {
    y = gamma * (x.max(0.0f) + alpha * (x.min(0.0f).exp() - 1.0f));
  }
};

struct HardSigmoid {
  float alpha, beta;
  static Expected<HardSigmoid> make(const KernelContext& ctx) {
    MIXQ_ASSIGN_OR_RETURN(float a, ctx.node().attr_float("alpha", 0.2f));
    MIXQ_ASSIGN_OR_RETURN(float b, ctx.node().attr_float("beta", 0.5f));
    return HardSigmoid{a, b};
  }
  template <typename C>
  C operator()(C v) const {
    // The value first in min/max: NaN then passes through, as in numpy's clip.
    return std::max(std::min(C(alpha) * v + C(beta), C(1)), C(0));
  }
};

struct HardSwish {
  static Expected<HardSwish> make(const KernelContext&) { return HardSwish{}; }
  template <typename C>
  C operator()(C v) const {
    return v * std::max(std::min(v / C(6) + C(0.5), C(1)), C(0));
  }
};

struct Celu {
  float alpha;
  static Expected<Celu> make(const KernelContext& ctx) {
    MIXQ_ASSIGN_OR_RETURN(float a, ctx.node().attr_float("alpha", 1.0f));
    if (a == 0.0f) return ctx.fail("attribute alpha must not be 0");
    return Celu{a};
  }
  template <typename C>
  C operator()(C v) const {
    return std::max(C(0), v) + std::min(C(0), C(alpha) * std::expm1(v / C(alpha)));
  }
  void array(const FloatArrayIn& x, FloatArrayOut& y) const {
    y = x.max(0.0f) + (alpha * ((x / alpha).exp() - 1.0f)).min(0.0f);
  }
};

struct ThresholdedRelu {
  float alpha;
  static Expected<ThresholdedRelu> make(const KernelContext& ctx) {
    MIXQ_ASSIGN_OR_RETURN(float a, ctx.node().attr_float("alpha", 1.0f));
    return ThresholdedRelu{a};
  }
  template <typename C>
  C operator()(C v) const {
    return v > C(alpha) ? v : C(0);
  }
};

// Softplus without overflow: log(1 + e^x) = max(x, 0) + log1p(e^-|x|).
template <typename C>
inline C softplus(C v) {
  return std::max(v, C(0)) + std::log1p(std::exp(-std::fabs(v)));
}

struct Mish {
  static Expected<Mish> make(const KernelContext&) { return Mish{}; }
  template <typename C>
  C operator()(C v) const {
    return v * std::tanh(softplus(v));
  }
  // tanh(log(1 + t)) with t = e^x is n / (n + 2) for n = t (t + 2): one exp and a division.
  // Past x = 20 the ratio is 1 in float32, and clamping there keeps t * t finite.
  void array(const FloatArrayIn& x, FloatArrayOut& y) const {
    const Eigen::ArrayXf t = x.min(20.0f).exp();
    const Eigen::ArrayXf n = t * (t + 2.0f);
    y = x * n / (n + 2.0f);
  }
};

struct Gelu {
  bool tanh_approx;
  static Expected<Gelu> make(const KernelContext& ctx) {
    MIXQ_ASSIGN_OR_RETURN(std::string_view a, string_attr(ctx, "approximate", "none"));
    if (a != "none" && a != "tanh") {
      return ctx.fail("attribute approximate is '", a, "', expected 'none' or 'tanh'");
    }
    return Gelu{a == "tanh"};
  }
  template <typename C>
  C operator()(C v) const {
    if (tanh_approx) {
      const C k = C(0.7978845608028654);  // sqrt(2 / pi)
      return C(0.5) * v * (C(1) + std::tanh(k * (v + C(0.044715) * v * v * v)));
    }
    return C(0.5) * v * (C(1) + std::erf(v * C(0.7071067811865476)));  // 1 / sqrt(2)
  }
  // GELU is the activation of most transformer MLPs: the float32 path runs on Eigen packets.
  void array(const FloatArrayIn& x, FloatArrayOut& y) const {
    if (tanh_approx) {
      y = 0.5f * x * (1.0f + (0.7978845608028654f * (x + 0.044715f * x.cube())).tanh());
    } else {
      y = 0.5f * x * (1.0f + (x * 0.7071067811865476f).erf());
    }
  }
};

template <typename F>
Status activation(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(F f, F::make(ctx));
  const ir::Tensor& x = ctx.input(0);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, float> && HasFloatArrayPath<F>) {
      map_float_arrays(ctx.pool(), x, *y, f);
      return Status::ok_status();
    } else if constexpr (is_float_storage<S>()) {
      map_values<S, S>(ctx.pool(), x, *y, f);
      return Status::ok_status();
    } else {
      return ctx.fail(dtype_name(x.dtype()), " input is not supported");
    }
  });
}

// Shrink also takes integers: the comparison and the bias are applied in double (bias and lambd
// are float attributes) and the result converted back, wrapping like an integer cast.
Status shrink(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(float bias, ctx.node().attr_float("bias", 0.0f));
  MIXQ_ASSIGN_OR_RETURN(float lambd, ctx.node().attr_float("lambd", 0.5f));
  const ir::Tensor& x = ctx.input(0);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    using C = Compute<S>;
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool input is not supported");
    } else if constexpr (std::is_floating_point_v<C>) {
      const C b = C(bias), l = C(lambd);
      map_values<S, S>(ctx.pool(), x, *y, [=](C v) {
        const C up = v + b, down = v - b;
        return v < -l ? up : (v > l ? down : C(0));
      });
      return Status::ok_status();
    } else {
      map_values<S, S>(ctx.pool(), x, *y, [=](C v) {
        const double d = static_cast<double>(v);
        const double r = d < -lambd ? d + bias : (d > lambd ? d - bias : 0.0);
        return r < 0 ? static_cast<C>(static_cast<int64_t>(r))
                     : static_cast<C>(static_cast<uint64_t>(r));
      });
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_activation_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "LeakyRelu", 1, 21, kFloats, 0, activation<LeakyRelu>});
  out.push_back({"", "Elu", 1, 21, kFloats, 0, activation<Elu>});
  out.push_back({"", "Selu", 1, 21, kFloats, 0, activation<Selu>});
  out.push_back({"", "HardSigmoid", 1, 21, kFloats, 0, activation<HardSigmoid>});
  out.push_back({"", "HardSwish", 14, 21, kFloats, 0, activation<HardSwish>});
  out.push_back({"", "Celu", 12, 21, kFloats, 0, activation<Celu>});
  out.push_back({"", "ThresholdedRelu", 10, 21, kFloats, 0, activation<ThresholdedRelu>});
  out.push_back({"", "Shrink", 9, 21, kNumeric, 0, shrink});
  out.push_back({"", "Mish", 18, 21, kFloats, 0, activation<Mish>});
  out.push_back({"", "Gelu", 20, 21, kFloats, 0, activation<Gelu>});
}

}  // namespace mixq::exec
