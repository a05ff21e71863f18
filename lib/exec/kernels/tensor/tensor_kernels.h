// Registration functions of the tensor kernel files (called from tensor/register.cc).
#pragma once

#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

void register_view_kernels(std::vector<KernelDef>& out);          // views.cc
void register_generate_kernels(std::vector<KernelDef>& out);      // generate.cc
void register_transpose_kernels(std::vector<KernelDef>& out);     // transpose.cc
void register_concat_split_kernels(std::vector<KernelDef>& out);  // concat_split.cc
void register_slice_kernels(std::vector<KernelDef>& out);         // slice.cc
void register_expand_tile_kernels(std::vector<KernelDef>& out);   // expand_tile.cc
void register_gather_kernels(std::vector<KernelDef>& out);        // gather.cc
void register_scatter_kernels(std::vector<KernelDef>& out);       // scatter.cc
void register_select_kernels(std::vector<KernelDef>& out);        // select.cc
void register_unique_kernels(std::vector<KernelDef>& out);        // unique.cc

}  // namespace mixq::exec
