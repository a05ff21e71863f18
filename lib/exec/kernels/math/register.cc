#include "kernels/math/math_kernels.h"
#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_math_kernels(std::vector<KernelDef>& out) {
  register_binary_arith_kernels(out);
  register_unary_kernels(out);
  register_matmul_kernels(out);
}

}  // namespace mixq::exec
