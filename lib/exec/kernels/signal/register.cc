#include "kernels/signal/signal_kernels.h"
#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_signal_kernels(std::vector<KernelDef>& out) {
  register_dft_kernels(out);
  register_window_kernels(out);
  register_mel_weight_matrix_kernels(out);
}

}  // namespace mixq::exec
