// Registration functions of the tensor kernel files (called from tensor/register.cc).
#pragma once

#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

void register_view_kernels(std::vector<KernelDef>& out);

}  // namespace mixq::exec
