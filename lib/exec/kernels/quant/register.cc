#include "kernels/quant/quant_kernels.h"
#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_quant_kernels(std::vector<KernelDef>& out) {
  register_cast_kernels(out);
  register_quantize_linear_kernels(out);
  register_dequantize_linear_kernels(out);
  register_dynamic_quantize_linear_kernels(out);
  register_matmul_integer_kernels(out);
  register_conv_integer_kernels(out);
}

}  // namespace mixq::exec
