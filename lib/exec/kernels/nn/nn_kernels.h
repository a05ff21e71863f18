// Registration functions of the nn kernel files (called from nn/register.cc).
#pragma once

#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

void register_conv_kernels(std::vector<KernelDef>& out);            // conv.cc
void register_conv_transpose_kernels(std::vector<KernelDef>& out);  // conv_transpose.cc
void register_pool_kernels(std::vector<KernelDef>& out);            // pool.cc
void register_pool_global_kernels(std::vector<KernelDef>& out);     // pool_global.cc
void register_norm_batch_kernels(std::vector<KernelDef>& out);      // norm_batch.cc
void register_norm_layer_kernels(std::vector<KernelDef>& out);      // norm_layer.cc
void register_resize_kernels(std::vector<KernelDef>& out);          // resize.cc
void register_pad_kernels(std::vector<KernelDef>& out);             // pad.cc
void register_grid_sample_kernels(std::vector<KernelDef>& out);     // grid_sample.cc
void register_detection_kernels(std::vector<KernelDef>& out);       // detection.cc

}  // namespace mixq::exec
