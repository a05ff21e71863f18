// The CPU kernel registry: one explicit sorted list, filled by one register_* function per op
// family (lib/exec/kernels/<family>/register.cc). Overlapping registrations (same op, an opset
// in common, a dtype in common) are a programming error caught at startup.
#pragma once

#include <string>
#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

// All CPU kernels, sorted by (domain, op_type, since_version).
const std::vector<KernelDef>& cpu_kernels();

// The kernel for `op_type` at `opset` given the node's input dtypes (kUndefined for omitted
// inputs); nullptr when none matches.
const KernelDef* find_kernel(std::string_view domain, std::string_view op_type, int64_t opset,
                             const std::vector<DType>& input_dtypes);

// True when some kernel handles `op_type` at `opset` (for any dtype).
bool has_kernel(std::string_view domain, std::string_view op_type, int64_t opset);

// Why no kernel matched, naming what exists: "no CPU kernel for Resize-19 with float16 input
// (Resize 'r' (#5)); mixq has Resize-10..21 for float32".
std::string describe_kernel_miss(const ir::Node& node, int64_t opset, DType dtype);

// Refuses overlapping entries; returns "" when the list is consistent, else the first conflict.
std::string check_kernel_list(const std::vector<KernelDef>& defs);

// Family registration functions (lib/exec/kernels/<family>/register.cc).
void register_math_kernels(std::vector<KernelDef>& out);
void register_nn_kernels(std::vector<KernelDef>& out);
void register_tensor_kernels(std::vector<KernelDef>& out);
void register_reduce_kernels(std::vector<KernelDef>& out);
void register_quant_kernels(std::vector<KernelDef>& out);
void register_control_kernels(std::vector<KernelDef>& out);
void register_rnn_kernels(std::vector<KernelDef>& out);
void register_loss_kernels(std::vector<KernelDef>& out);
void register_signal_kernels(std::vector<KernelDef>& out);

}  // namespace mixq::exec
