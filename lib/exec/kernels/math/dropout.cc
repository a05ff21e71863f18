// ONNX Dropout-1/6/7/10/12/13 at inference: y = x (sharing x's buffer) and the optional mask
// all true (bool from opset 10, ones of x's type before). Training mode (the training_mode input
// of opset 12+) draws random masks, which a calibration run cannot reproduce: it is refused
// unless ratio is 0, where training is the identity too. Before opset 7 the is_test attribute
// chose training; mixq runs inference only, so it treats every such node as is_test = 1, as
// ONNX Runtime does.
#include "kernels/common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

Expected<bool> training_mode(const KernelContext& ctx) {
  if (ctx.opset() < 12 || !ctx.has_input(2)) return false;
  const ir::Tensor& t = ctx.input(2);
  if (t.dtype() != DType::kBool || t.numel() != 1) {
    return ctx.fail("training_mode must be a bool scalar, got ", dtype_name(t.dtype()),
                    ir::dims_to_string(t.dims()));
  }
  if (!t.data<bool>()[0]) return false;
  double ratio = 0.5;
  if (ctx.has_input(1)) {
    const ir::Tensor& r = ctx.input(1);
    if (!dtype_is_float(r.dtype()) || r.numel() != 1) {
      return ctx.fail("ratio must be a floating scalar, got ", dtype_name(r.dtype()),
                      ir::dims_to_string(r.dims()));
    }
    ratio = r.element_as_double(0);
  }
  if (ratio != 0.0) {
    return ctx.not_supported("training_mode is true with ratio ", ratio,
                             ": random dropout masks are not reproducible; export the model for "
                             "inference (training_mode false)");
  }
  return true;
}

Status dropout(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  MIXQ_RETURN_IF_ERROR(training_mode(ctx).status());
  if (ctx.has_output(1)) {
    if (ctx.opset() >= 10) {
      MIXQ_ASSIGN_OR_RETURN(ir::Tensor * mask, ctx.output(1, DType::kBool, x.dims()));
      bool* m = mask->mutable_data<bool>();
      std::fill(m, m + mask->numel(), true);
    } else {
      MIXQ_ASSIGN_OR_RETURN(ir::Tensor * mask, ctx.output(1, x.dtype(), x.dims()));
      MIXQ_RETURN_IF_ERROR(visit_dtype(x.dtype(), [&](auto tag) -> Status {
        using S = decltype(tag);
        if constexpr (std::is_same_v<S, bool>) {
          return ctx.fail("bool input is not supported");
        } else {
          S* m = mask->mutable_data<S>();
          std::fill(m, m + mask->numel(), store<S>(Compute<S>(1)));
          return Status::ok_status();
        }
      }));
    }
  }
  ctx.set_output(0, x);
  return Status::ok_status();
}

}  // namespace

void register_dropout_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Dropout", 1, 21, types::kFloats, 0, dropout});
}

}  // namespace mixq::exec
