// Ops whose output is the input's data under a new shape, sharing its buffer (no copy):
// ONNX Identity-1/13/14/16/19/21, Reshape-1/5/13/14/19/21, Flatten-1/9/11/13/21,
// Squeeze-1/11/13/21, Unsqueeze-1/11/13/21. The shape functions computed the output shapes.
#include "kernels/common.h"
#include "kernels/tensor/tensor_kernels.h"

namespace mixq::exec {
namespace {

Status view(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const ir::ValueType& t = ctx.inferred_type(0);
  const auto dims = t.shape ? ir::shape_to_ints(*t.shape) : std::nullopt;
  if (!dims) return internal_error(ctx.node().describe(), ": output shape not inferred");
  if (x.dtype() == DType::kString) {
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor y, ir::Tensor::from_strings(*dims, x.strings()));
    ctx.set_output(0, std::move(y));
    return Status::ok_status();
  }
  auto y = ir::Tensor::from_buffer(x.dtype(), *dims, x.buffer());
  if (!y.ok()) return y.status().with_context(ctx.node().describe());
  ctx.set_output(0, std::move(y).value());
  return Status::ok_status();
}

}  // namespace

void register_view_kernels(std::vector<KernelDef>& out) {
  const TypeSet any = TypeSet::any();
  for (const char* op : {"Identity", "Reshape", "Flatten", "Squeeze", "Unsqueeze"}) {
    out.push_back({"", op, 1, 21, any, 0, view});
  }
}

}  // namespace mixq::exec
