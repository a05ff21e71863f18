// Registration functions of the rnn kernel files (called from rnn/register.cc).
#pragma once

#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

void register_simple_rnn_kernels(std::vector<KernelDef>& out);
void register_gru_kernels(std::vector<KernelDef>& out);
void register_lstm_kernels(std::vector<KernelDef>& out);

}  // namespace mixq::exec
