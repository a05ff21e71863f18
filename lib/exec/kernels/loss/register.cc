#include "kernels/loss/loss_kernels.h"
#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_loss_kernels(std::vector<KernelDef>& out) { register_losses_kernels(out); }

}  // namespace mixq::exec
