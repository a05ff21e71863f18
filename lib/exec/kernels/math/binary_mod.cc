// ONNX Mod-10/13: C = A mod B with multidirectional broadcasting. fmod = 1: the C fmod remainder
// (sign of the dividend); fmod = 0 (integers only, as the spec requires): the remainder takes
// the sign of the divisor, like Python's %. Integer division by zero is refused.
#include <cmath>

#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

template <typename T>
inline T int_mod(T a, T b, bool sign_of_divisor) {
  if constexpr (std::is_signed_v<T>) {
    if (b == T(-1)) return T(0);  // INT_MIN % -1 traps on x86; the remainder is 0
  }
  T r = static_cast<T>(a % b);
  if constexpr (std::is_signed_v<T>) {
    if (sign_of_divisor && r != 0 && ((r < 0) != (b < 0))) r = static_cast<T>(r + b);
  }
  return r;
}

Status mod(KernelContext& ctx) {
  const ir::Tensor& a = ctx.input(0);
  const ir::Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype()) {
    return ctx.fail("input types differ: ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t fmod_attr, ctx.node().attr_int("fmod", 0));
  const bool use_fmod = fmod_attr != 0;
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, Broadcast::make(ctx, {a.dims(), b.dims()}));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * out, ctx.output(0, a.dtype(), bc.out_dims()));
  return visit_dtype(a.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    using C = Compute<S>;
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool inputs are not supported");
    } else if constexpr (std::is_floating_point_v<C>) {
      if (!use_fmod) return ctx.fail("fmod must be 1 for ", dtype_name(a.dtype()), " inputs");
      binary_map(ctx.pool(), bc, a.data<S>(), b.data<S>(), out->mutable_data<S>(),
                 [](C u, C v) { return store<S>(std::fmod(u, v)); });
      return Status::ok_status();
    } else {
      const S* y = b.data<S>();
      for (int64_t i = 0, n = b.numel(); i < n; ++i) {
        if (y[i] == 0) return ctx.fail("integer modulo by zero");
      }
      binary_map(ctx.pool(), bc, a.data<S>(), y, out->mutable_data<S>(),
                 [use_fmod](C u, C v) { return int_mod(u, v, !use_fmod); });
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_mod_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Mod", 10, 21, types::kNumeric, 0, mod});
}

}  // namespace mixq::exec
