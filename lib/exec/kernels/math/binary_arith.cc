// ONNX Add/Sub/Mul/Div-1/6/7/13/14: C = A op B with multidirectional broadcasting (opsets 1-6:
// B broadcast to A under the `broadcast` attribute, with `axis` aligning B inside A).
// Integers wrap on overflow (two's complement, as numpy and ONNX Runtime give) and Div truncates
// toward zero; integer division by zero is refused. float16/bfloat16 are computed in float32.
#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

enum class Op { kAdd, kSub, kMul, kDiv };

template <Op op, typename C>
inline C apply(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    if constexpr (op == Op::kAdd) return a + b;
    if constexpr (op == Op::kSub) return a - b;
    if constexpr (op == Op::kMul) return a * b;
    if constexpr (op == Op::kDiv) return a / b;
  } else {
    if constexpr (op == Op::kAdd) return wrap_add(a, b);
    if constexpr (op == Op::kSub) return wrap_sub(a, b);
    if constexpr (op == Op::kMul) return wrap_mul(a, b);
    if constexpr (op == Op::kDiv) {
      // INT_MIN / -1 traps on x86; its wrapped value is INT_MIN, which wrap_neg gives.
      if constexpr (std::is_signed_v<C>) {
        if (b == C(-1)) return wrap_neg(a);
      }
      return static_cast<C>(a / b);
    }
  }
}

template <Op op>
Status binary_arith(KernelContext& ctx) {
  const ir::Tensor& a = ctx.input(0);
  const ir::Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype()) {
    return ctx.fail("input types differ: ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  }
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, binary_broadcast(ctx, ctx.opset() < 7));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * out, ctx.output(0, a.dtype(), bc.out_dims()));
  return visit_dtype(a.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    using C = Compute<S>;
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool inputs are not supported");
    } else {
      const S* y = b.data<S>();
      if constexpr (op == Op::kDiv && !is_float_storage<S>()) {
        for (int64_t i = 0, n = b.numel(); i < n; ++i) {
          if (y[i] == 0) return ctx.fail("integer division by zero");
        }
      }
      binary_map(ctx.pool(), bc, a.data<S>(), y, out->mutable_data<S>(),
                 [](C u, C v) { return store<S>(apply<op, C>(u, v)); });
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_binary_arith_kernels(std::vector<KernelDef>& out) {
  // Add-1/6 were float-only, 7 added int32/int64/uint32/uint64 and 14 the 8/16-bit integers;
  // one superset registration keeps models that rely on newer type lists running at old opsets.
  const TypeSet t = types::kNumeric;
  out.push_back({"", "Add", 1, 21, t, 0, binary_arith<Op::kAdd>, /*in_place=*/true});
  out.push_back({"", "Sub", 1, 21, t, 0, binary_arith<Op::kSub>, /*in_place=*/true});
  out.push_back({"", "Mul", 1, 21, t, 0, binary_arith<Op::kMul>, /*in_place=*/true});
  out.push_back({"", "Div", 1, 21, t, 0, binary_arith<Op::kDiv>, /*in_place=*/true});
}

}  // namespace mixq::exec
