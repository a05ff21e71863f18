#include "kernels/tensor/tensor_kernels.h"
#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_tensor_kernels(std::vector<KernelDef>& out) {
  register_view_kernels(out);
  register_generate_kernels(out);
  register_transpose_kernels(out);
  register_concat_split_kernels(out);
  register_slice_kernels(out);
  register_expand_tile_kernels(out);
  register_gather_kernels(out);
  register_scatter_kernels(out);
  register_select_kernels(out);
  register_unique_kernels(out);
}

}  // namespace mixq::exec
