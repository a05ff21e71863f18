// Registration functions of the math kernel files (called from math/register.cc).
#pragma once

#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

void register_binary_arith_kernels(std::vector<KernelDef>& out);
void register_unary_kernels(std::vector<KernelDef>& out);
void register_matmul_kernels(std::vector<KernelDef>& out);

}  // namespace mixq::exec
