#include "kernels/rnn/rnn_kernels.h"
#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_rnn_kernels(std::vector<KernelDef>& out) {
  register_simple_rnn_kernels(out);
  register_gru_kernels(out);
  register_lstm_kernels(out);
}

}  // namespace mixq::exec
