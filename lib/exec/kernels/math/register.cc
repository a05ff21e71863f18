#include "kernels/math/math_kernels.h"
#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_math_kernels(std::vector<KernelDef>& out) {
  register_binary_arith_kernels(out);
  register_pow_kernels(out);
  register_mod_kernels(out);
  register_bitwise_kernels(out);
  register_compare_kernels(out);
  register_logic_kernels(out);
  register_unary_kernels(out);
  register_activation_kernels(out);
  register_isnan_isinf_kernels(out);
  register_clip_kernels(out);
  register_prelu_kernels(out);
  register_where_kernels(out);
  register_variadic_kernels(out);
  register_softmax_kernels(out);
  register_cumsum_kernels(out);
  register_lp_normalization_kernels(out);
  register_matmul_kernels(out);
  register_gemm_kernels(out);
  register_einsum_kernels(out);
  register_det_kernels(out);
  register_dropout_kernels(out);
}

}  // namespace mixq::exec
