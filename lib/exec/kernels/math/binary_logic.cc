// ONNX logical operators on bool tensors: And/Or/Xor-1/7 with multidirectional broadcasting
// (opset 1: the legacy `broadcast`/`axis` rule) and Not-1.
#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

enum class Op { kAnd, kOr, kXor };

template <Op op>
Status logic(KernelContext& ctx) {
  const ir::Tensor& a = ctx.input(0);
  const ir::Tensor& b = ctx.input(1);
  if (a.dtype() != DType::kBool || b.dtype() != DType::kBool) {
    return ctx.fail("inputs must be bool, got ", dtype_name(a.dtype()), " and ",
                    dtype_name(b.dtype()));
  }
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, binary_broadcast(ctx, ctx.opset() < 7));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * out, ctx.output(0, DType::kBool, bc.out_dims()));
  binary_map(ctx.pool(), bc, a.data<bool>(), b.data<bool>(), out->mutable_data<bool>(),
             [](bool u, bool v) {
               if constexpr (op == Op::kAnd) return u && v;
               if constexpr (op == Op::kOr) return u || v;
               if constexpr (op == Op::kXor) return u != v;
             });
  return Status::ok_status();
}

Status logical_not(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, DType::kBool, x.dims()));
  map_values<bool, bool>(ctx.pool(), x, *y, [](bool v) { return !v; });
  return Status::ok_status();
}

}  // namespace

void register_logic_kernels(std::vector<KernelDef>& out) {
  using types::kBool;
  out.push_back({"", "And", 1, 21, kBool, 0, logic<Op::kAnd>});
  out.push_back({"", "Or", 1, 21, kBool, 0, logic<Op::kOr>});
  out.push_back({"", "Xor", 1, 21, kBool, 0, logic<Op::kXor>});
  out.push_back({"", "Not", 1, 21, kBool, 0, logical_not});
}

}  // namespace mixq::exec
