#include "kernels/nn/nn_kernels.h"
#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_nn_kernels(std::vector<KernelDef>& out) {
  register_conv_kernels(out);
  register_conv_transpose_kernels(out);
  register_pool_kernels(out);
  register_pool_global_kernels(out);
  register_norm_batch_kernels(out);
  register_norm_layer_kernels(out);
  register_pad_kernels(out);
  register_resize_kernels(out);
  register_grid_sample_kernels(out);
  register_detection_kernels(out);
}

}  // namespace mixq::exec
