// Registration functions of the reduce kernel files (called from reduce/register.cc).
#pragma once

#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

void register_reduce_op_kernels(std::vector<KernelDef>& out);  // reduce.cc
void register_arg_topk_kernels(std::vector<KernelDef>& out);   // arg_topk.cc

}  // namespace mixq::exec
