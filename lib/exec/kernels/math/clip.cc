// ONNX Clip-1/6/11/12/13: y = min(max(x, min), max). Before opset 11 the bounds are float
// attributes (default -/+FLT_MAX, as Clip-6 documents); from 11 they are optional scalar inputs
// of x's type, defaulting to numeric_limits<T>::lowest() and max() (so +-inf are clipped to the
// largest finite values, as the spec and ONNX Runtime do), and 12 adds the integer types. When
// min > max every element becomes max (max is applied last); NaN passes through.
#include <cfloat>
#include <limits>

#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

// numeric_limits<T>::lowest() and max() of the storage type, in the compute type.
template <typename S>
Compute<S> largest() {
  if constexpr (std::is_same_v<S, Float16>) {
    return 65504.0f;
  } else if constexpr (std::is_same_v<S, BFloat16>) {
    return 3.38953139e38f;
  } else {
    return std::numeric_limits<S>::max();
  }
}
template <typename S>
Compute<S> lowest() {
  if constexpr (is_float_storage<S>()) {
    return -largest<S>();
  } else {
    return std::numeric_limits<S>::lowest();
  }
}

// Bound input `k` (1: min, 2: max) converted to the compute type, or `fallback` when omitted.
template <typename S>
Expected<Compute<S>> bound_input(const KernelContext& ctx, size_t k, Compute<S> fallback) {
  if (!ctx.has_input(k)) return fallback;
  const ir::Tensor& t = ctx.input(k);
  const char* name = k == 1 ? "min" : "max";
  if (t.dtype() != ctx.input(0).dtype()) {
    return ctx.fail("input ", name, " is ", dtype_name(t.dtype()), ", input is ",
                    dtype_name(ctx.input(0).dtype()));
  }
  // The spec asks for a scalar; exporters also write shape [1], which is just as unambiguous.
  if (t.numel() != 1) {
    return ctx.fail("input ", name, " must be a scalar, got shape ", ir::dims_to_string(t.dims()));
  }
  return load(t.data<S>()[0]);
}

Status clip(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    using C = Compute<S>;
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool input is not supported");
    } else {
      C lo, hi;
      if (ctx.opset() < 11) {
        MIXQ_ASSIGN_OR_RETURN(float a, ctx.node().attr_float("min", -FLT_MAX));
        MIXQ_ASSIGN_OR_RETURN(float b, ctx.node().attr_float("max", FLT_MAX));
        lo = static_cast<C>(a);
        hi = static_cast<C>(b);
      } else {
        MIXQ_ASSIGN_OR_RETURN(lo, bound_input<S>(ctx, 1, lowest<S>()));
        MIXQ_ASSIGN_OR_RETURN(hi, bound_input<S>(ctx, 2, largest<S>()));
      }
      map_values<S, S>(ctx.pool(), x, *y, [lo, hi](C v) {
        const C t = v < lo ? lo : v;
        return t > hi ? hi : t;
      });
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_clip_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Clip", 1, 11, types::kFloats, 0, clip});
  out.push_back({"", "Clip", 12, 21, types::kNumeric, 0, clip});
}

}  // namespace mixq::exec
