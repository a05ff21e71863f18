#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_reduce_kernels(std::vector<KernelDef>& /*out*/) {}

}  // namespace mixq::exec
