// ONNX If-1/11/13/16/19/21: runs then_branch when the one-element bool `cond` is true, else
// else_branch; the node's outputs are the branch's outputs (shared, not copied). Branches read
// outer-scope values through the executor's frames.
#include "kernels/common.h"
#include "kernels/control/control_kernels.h"

namespace mixq::exec {
namespace {

Status if_kernel(KernelContext& ctx) {
  const ir::Tensor& cond = ctx.input(0);
  if (cond.dtype() != DType::kBool) {
    return ctx.fail("cond is ", dtype_name(cond.dtype()), ", expected bool");
  }
  if (cond.numel() != 1) {
    return ctx.fail("cond must have one element, has shape ", ir::dims_to_string(cond.dims()));
  }
  const bool take_then = cond.data<bool>()[0];
  MIXQ_ASSIGN_OR_RETURN(const ir::Graph* branch,
                        graph_attribute(ctx, take_then ? "then_branch" : "else_branch"));
  if (branch->outputs().size() != ctx.num_outputs()) {
    return ctx.fail(take_then ? "then_branch" : "else_branch", " has ", branch->outputs().size(),
                    " outputs, the node has ", ctx.num_outputs());
  }
  MIXQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> outs, ctx.run_subgraph(*branch, {}));
  for (size_t i = 0; i < outs.size(); ++i) {
    if (ctx.has_output(i)) ctx.set_output(i, std::move(outs[i]));
  }
  return Status::ok_status();
}

}  // namespace

void register_if_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "If", 1, 21, TypeSet::any(), -1, if_kernel});
}

}  // namespace mixq::exec
