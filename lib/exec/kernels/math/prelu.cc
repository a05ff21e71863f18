// ONNX PRelu-1/6/7/9/16: y = x < 0 ? slope * x : x, slope broadcast to X unidirectionally
// (numpy rules, X's shape wins). PRelu-1/6 came from Caffe2, where a 1-D slope of X's channel
// count is per channel (axis 1): that reading is used before opset 7. 9 adds integer types.
#include <algorithm>

#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

Status prelu(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const ir::Tensor& slope = ctx.input(1);
  if (slope.dtype() != x.dtype()) {
    return ctx.fail("slope is ", dtype_name(slope.dtype()), ", X is ", dtype_name(x.dtype()));
  }
  std::vector<int64_t> slope_dims = slope.dims();
  if (ctx.opset() < 7 && slope.rank() == 1 && x.rank() >= 2 && slope.dims()[0] == x.dims()[1] &&
      slope.numel() > 1) {
    slope_dims.assign(x.rank() - 1, 1);
    slope_dims[0] = slope.dims()[0];
  }
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, Broadcast::make(ctx, {x.dims(), slope_dims}));
  if (bc.out_dims() != x.dims()) {
    return ctx.fail("slope ", ir::dims_to_string(slope.dims()), " does not broadcast to X ",
                    ir::dims_to_string(x.dims()));
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    using C = Compute<S>;
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool input is not supported");
    } else {
      binary_map(ctx.pool(), bc, x.data<S>(), slope.data<S>(), y->mutable_data<S>(), [](C v, C s) {
        if constexpr (std::is_floating_point_v<C>) {
          // Branch-free and exact, so it vectorizes (see LeakyRelu).
          return store<S>(std::max(v, C(0)) + s * std::min(v, C(0)));
        } else {
          return store<S>(v < C(0) ? wrap_mul(s, v) : v);
        }
      });
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_prelu_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "PRelu", 1, 8, types::kFloats, 0, prelu});
  out.push_back({"", "PRelu", 9, 21, types::kFloats | types::kInts, 0, prelu});
}

}  // namespace mixq::exec
