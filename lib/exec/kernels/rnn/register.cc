#include "mixq/exec/kernel_registry.h"

namespace mixq::exec {

void register_rnn_kernels(std::vector<KernelDef>& /*out*/) {}

}  // namespace mixq::exec
