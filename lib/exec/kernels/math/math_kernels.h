// Registration functions of the math kernel files (called from math/register.cc).
#pragma once

#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

void register_binary_arith_kernels(std::vector<KernelDef>& out);      // binary_arith.cc
void register_pow_kernels(std::vector<KernelDef>& out);               // binary_pow.cc
void register_mod_kernels(std::vector<KernelDef>& out);               // binary_mod.cc
void register_bitwise_kernels(std::vector<KernelDef>& out);           // binary_bitwise.cc
void register_compare_kernels(std::vector<KernelDef>& out);           // binary_compare.cc
void register_logic_kernels(std::vector<KernelDef>& out);             // binary_logic.cc
void register_unary_kernels(std::vector<KernelDef>& out);             // unary.cc
void register_activation_kernels(std::vector<KernelDef>& out);        // unary_activation.cc
void register_isnan_isinf_kernels(std::vector<KernelDef>& out);       // unary_isnan_isinf.cc
void register_clip_kernels(std::vector<KernelDef>& out);              // clip.cc
void register_prelu_kernels(std::vector<KernelDef>& out);             // prelu.cc
void register_where_kernels(std::vector<KernelDef>& out);             // where.cc
void register_variadic_kernels(std::vector<KernelDef>& out);          // variadic.cc
void register_softmax_kernels(std::vector<KernelDef>& out);           // softmax.cc
void register_cumsum_kernels(std::vector<KernelDef>& out);            // cumsum.cc
void register_lp_normalization_kernels(std::vector<KernelDef>& out);  // lp_normalization.cc
void register_matmul_kernels(std::vector<KernelDef>& out);            // matmul.cc
void register_gemm_kernels(std::vector<KernelDef>& out);              // gemm.cc
void register_einsum_kernels(std::vector<KernelDef>& out);            // einsum.cc
void register_det_kernels(std::vector<KernelDef>& out);               // det.cc
void register_dropout_kernels(std::vector<KernelDef>& out);           // dropout.cc

}  // namespace mixq::exec
