// Registration functions of the quantization kernel files (called from quant/register.cc).
#pragma once

#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

void register_cast_kernels(std::vector<KernelDef>& out);
void register_quantize_linear_kernels(std::vector<KernelDef>& out);
void register_dequantize_linear_kernels(std::vector<KernelDef>& out);
void register_dynamic_quantize_linear_kernels(std::vector<KernelDef>& out);
void register_matmul_integer_kernels(std::vector<KernelDef>& out);
void register_conv_integer_kernels(std::vector<KernelDef>& out);

}  // namespace mixq::exec
