// ONNX Add/Sub/Mul/Div-1/6/7/13/14: C = A op B with multidirectional broadcasting (opsets 1-6:
// B broadcast to A under the `broadcast` attribute, with `axis` aligning B inside A).
// Integer Div truncates toward zero; integer division by zero is refused.
#include "kernels/common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

enum class Op { kAdd, kSub, kMul, kDiv };

template <Op op, typename C>
inline C apply(C a, C b) {
  if constexpr (op == Op::kAdd) return a + b;
  if constexpr (op == Op::kSub) return a - b;
  if constexpr (op == Op::kMul) return a * b;
  if constexpr (op == Op::kDiv) return a / b;
}

// B's dims placed inside A's for the opset < 7 `broadcast`/`axis` form.
Expected<std::vector<int64_t>> legacy_b_dims(KernelContext& ctx) {
  const auto& a = ctx.input(0).dims();
  const auto& b = ctx.input(1).dims();
  MIXQ_ASSIGN_OR_RETURN(int64_t broadcast, ctx.node().attr_int("broadcast", 0));
  if (broadcast == 0) {
    if (a != b) {
      return ctx.fail("shapes ", ir::dims_to_string(a), " and ", ir::dims_to_string(b),
                      " differ and attribute broadcast is 0");
    }
    return b;
  }
  const auto rank = static_cast<int64_t>(a.size());
  MIXQ_ASSIGN_OR_RETURN(int64_t axis,
                        ctx.node().attr_int("axis", rank - static_cast<int64_t>(b.size())));
  if (axis < 0) axis += rank;
  if (axis < 0 || axis + static_cast<int64_t>(b.size()) > rank) {
    return ctx.fail("axis ", axis, " does not fit B ", ir::dims_to_string(b), " into A ",
                    ir::dims_to_string(a));
  }
  std::vector<int64_t> placed(a.size(), 1);
  std::copy(b.begin(), b.end(), placed.begin() + axis);
  return placed;
}

template <Op op>
Status binary_arith(KernelContext& ctx) {
  const ir::Tensor& a = ctx.input(0);
  const ir::Tensor& b = ctx.input(1);
  std::vector<int64_t> b_dims = b.dims();
  if (ctx.opset() < 7) {
    MIXQ_ASSIGN_OR_RETURN(b_dims, legacy_b_dims(ctx));
  }
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, Broadcast::make(ctx, {a.dims(), b_dims}));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * out, ctx.output(0, a.dtype(), bc.out_dims()));
  return visit_dtype(a.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    using C = Compute<S>;
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool inputs are not supported");
    } else {
      const S* x = a.data<S>();
      const S* y = b.data<S>();
      S* z = out->mutable_data<S>();
      if constexpr (op == Op::kDiv && !is_float_storage<S>()) {
        for (int64_t i = 0; i < b.numel(); ++i) {
          if (y[i] == 0) return ctx.fail("integer division by zero");
        }
      }
      bc.for_each(ctx.pool(), [&](int64_t o, const int64_t* in, const int64_t* step, int64_t n) {
        const S* xa = x + in[0];
        const S* yb = y + in[1];
        S* zo = z + o;
        if (step[0] == 1 && step[1] == 1) {
          for (int64_t i = 0; i < n; ++i) zo[i] = store<S>(apply<op, C>(load(xa[i]), load(yb[i])));
        } else if (step[0] == 1) {
          const C yv = load(yb[0]);
          for (int64_t i = 0; i < n; ++i) zo[i] = store<S>(apply<op, C>(load(xa[i]), yv));
        } else if (step[1] == 1) {
          const C xv = load(xa[0]);
          for (int64_t i = 0; i < n; ++i) zo[i] = store<S>(apply<op, C>(xv, load(yb[i])));
        } else {
          const S v = store<S>(apply<op, C>(load(xa[0]), load(yb[0])));
          for (int64_t i = 0; i < n; ++i) zo[i] = v;
        }
      });
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_binary_arith_kernels(std::vector<KernelDef>& out) {
  const TypeSet t = types::kNumeric;
  out.push_back({"", "Add", 1, 21, t, 0, binary_arith<Op::kAdd>});
  out.push_back({"", "Sub", 1, 21, t, 0, binary_arith<Op::kSub>});
  out.push_back({"", "Mul", 1, 21, t, 0, binary_arith<Op::kMul>});
  out.push_back({"", "Div", 1, 21, t, 0, binary_arith<Op::kDiv>});
}

}  // namespace mixq::exec
