// Registration functions of the loss kernel files (called from loss/register.cc).
#pragma once

#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

void register_losses_kernels(std::vector<KernelDef>& out);

}  // namespace mixq::exec
