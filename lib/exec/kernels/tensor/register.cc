#include "kernels/tensor/tensor_kernels.h"
#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_tensor_kernels(std::vector<KernelDef>& out) { register_view_kernels(out); }

}  // namespace mixq::exec
