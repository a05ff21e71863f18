// ONNX Pow-1/7/12/13/15: Z = X ^ Y with multidirectional broadcasting (opset 1: the legacy
// `broadcast`/`axis` rule). Z has X's type; from opset 12 Y may have another numeric type.
// Integer X with integer Y is exact (wrapping like repeated multiplication); integer X with
// floating Y is computed in double and truncated, as ONNX Runtime does. An integer 0 to a
// negative integer power has no value and is refused.
#include <atomic>
#include <cmath>
#include <limits>

#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

// x^e for integers by squaring; e < 0 gives the truncated 1 / x^-e. Sets `bad` for 0^(e<0).
template <typename T, typename E>
T int_pow(T x, E e, bool& bad) {
  if constexpr (std::is_signed_v<E>) {
    if (e < 0) {
      if (x == T(1)) return T(1);
      if constexpr (std::is_signed_v<T>) {
        if (x == T(-1)) return (e % 2 == 0) ? T(1) : T(-1);
      }
      if (x == T(0)) bad = true;
      return T(0);
    }
  }
  T result = T(1);
  T base = x;
  auto n = static_cast<uint64_t>(e);
  while (n != 0) {
    if (n & 1u) result = wrap_mul(result, base);
    base = wrap_mul(base, base);
    n >>= 1;
  }
  return result;
}

// double -> integer T, truncating; NaN gives 0 and out-of-range values saturate (a plain cast
// would be undefined behaviour).
template <typename T>
T saturate_to(double v) {
  if (std::isnan(v)) return T(0);
  if (v <= static_cast<double>(std::numeric_limits<T>::lowest())) {
    return std::numeric_limits<T>::lowest();
  }
  if (v >= static_cast<double>(std::numeric_limits<T>::max())) return std::numeric_limits<T>::max();
  return static_cast<T>(v);
}

template <typename S, typename SE>
Status pow_typed(KernelContext& ctx, const Broadcast& bc, ir::Tensor& out) {
  using C = Compute<S>;
  using E = Compute<SE>;
  const ir::Tensor& x = ctx.input(0);
  const ir::Tensor& y = ctx.input(1);
  const S* px = x.data<S>();
  const SE* py = y.data<SE>();
  S* pz = out.mutable_data<S>();
  if constexpr (std::is_floating_point_v<C>) {
    // Scalar exponents 2, 3 and 0.5 dominate real models (decomposed LayerNorm and RMSNorm,
    // GPT-2's tanh GELU): x*x and sqrt are correctly rounded, so they give pow's results; x*x*x
    // is within an ulp of them. libm's pow costs tens of cycles per element.
    if (y.numel() == 1) {
      const C e = static_cast<C>(load(py[0]));
      if (e == C(2)) {
        map_values<S, S>(ctx.pool(), x, out, [](C v) { return v * v; });
        return Status::ok_status();
      }
      if (e == C(3)) {
        map_values<S, S>(ctx.pool(), x, out, [](C v) { return v * v * v; });
        return Status::ok_status();
      }
      if (e == C(0.5)) {
        map_values<S, S>(ctx.pool(), x, out,
                         [](C v) { return v > C(0) ? std::sqrt(v) : std::pow(v, C(0.5)); });
        return Status::ok_status();
      }
    }
    binary_map(ctx.pool(), bc, px, py, pz,
               [](C v, E e) { return store<S>(std::pow(v, static_cast<C>(e))); });
    return Status::ok_status();
  } else if constexpr (std::is_floating_point_v<E>) {
    binary_map(ctx.pool(), bc, px, py, pz, [](C v, E e) {
      return saturate_to<C>(std::pow(static_cast<double>(v), static_cast<double>(e)));
    });
    return Status::ok_status();
  } else {
    std::atomic<bool> any_bad{false};
    binary_map(ctx.pool(), bc, px, py, pz, [&any_bad](C v, E e) {
      bool bad = false;
      const C r = int_pow(v, e, bad);
      if (bad) any_bad.store(true, std::memory_order_relaxed);
      return r;
    });
    if (any_bad.load()) return ctx.fail("integer 0 raised to a negative power");
    return Status::ok_status();
  }
}

Status pow_kernel(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const ir::Tensor& y = ctx.input(1);
  if (ctx.opset() < 12 && x.dtype() != y.dtype()) {
    return ctx.fail("X is ", dtype_name(x.dtype()), " and Y ", dtype_name(y.dtype()),
                    "; they may differ only from opset 12");
  }
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, binary_broadcast(ctx, ctx.opset() < 7));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * out, ctx.output(0, x.dtype(), bc.out_dims()));
  return visit_dtype(x.dtype(), [&](auto xtag) -> Status {
    using S = decltype(xtag);
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool input is not supported");
    } else {
      return visit_dtype(y.dtype(), [&](auto ytag) -> Status {
        using SE = decltype(ytag);
        if constexpr (std::is_same_v<SE, bool>) {
          return ctx.fail("bool exponent is not supported");
        } else {
          return pow_typed<S, SE>(ctx, bc, *out);
        }
      });
    }
  });
}

}  // namespace

void register_pow_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Pow", 1, 11, types::kFloats, 0, pow_kernel});
  out.push_back({"", "Pow", 12, 21, types::kNumeric, 0, pow_kernel});
}

}  // namespace mixq::exec
