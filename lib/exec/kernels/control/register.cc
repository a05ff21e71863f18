#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_control_kernels(std::vector<KernelDef>& /*out*/) {}

}  // namespace mixq::exec
