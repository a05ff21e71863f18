#include "kernels/reduce/reduce_kernels.h"
#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_reduce_kernels(std::vector<KernelDef>& out) {
  register_reduce_op_kernels(out);
  register_arg_topk_kernels(out);
}

}  // namespace mixq::exec
