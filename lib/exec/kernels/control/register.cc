#include "kernels/control/control_kernels.h"
#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_control_kernels(std::vector<KernelDef>& out) {
  register_if_kernels(out);
  register_loop_kernels(out);
  register_scan_kernels(out);
}

}  // namespace mixq::exec
