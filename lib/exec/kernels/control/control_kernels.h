// Registration functions of the control-flow kernel files (called from control/register.cc),
// and the tensor plumbing Loop and Scan share: slicing one step out of a scanned input and
// stacking per-iteration results into one output.
#pragma once

#include <string_view>
#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

void register_if_kernels(std::vector<KernelDef>& out);
void register_loop_kernels(std::vector<KernelDef>& out);
void register_scan_kernels(std::vector<KernelDef>& out);

// The graph attribute `name` of the node; a bad-input error naming the node when it is missing.
Expected<const ir::Graph*> graph_attribute(const KernelContext& ctx, std::string_view name);

// The sub-tensor of `t` at position `index` along `axis` (rank one less). Shares t's buffer
// when the slice is one contiguous block (every dim before `axis` is 1); copies otherwise.
// Refuses the packed 4-bit types.
Expected<ir::Tensor> slice_at(const KernelContext& ctx, const ir::Tensor& t, size_t axis,
                              int64_t index);

// Stacks `parts` (same dtype and dims, at least one) into a new tensor with a new dim of size
// parts.size() at `axis` (0 <= axis <= rank of a part); with `reverse`, part i lands at
// position size-1-i. `what` names the output in errors when the parts disagree.
Expected<ir::Tensor> stack_parts(const KernelContext& ctx, const std::vector<ir::Tensor>& parts,
                                 size_t axis, bool reverse, std::string_view what);

// The output of a scan that ran no iteration: a tensor with a 0 dim inserted at `axis` (negative
// counts from the back) into the dims the body declares for its output `body_output` (dims it
// leaves open become 0), with the declared dtype (or the node output's declared dtype).
Expected<ir::Tensor> empty_scan_output(const KernelContext& ctx, const ir::Graph& body,
                                       size_t body_output, size_t node_output, int64_t axis);

}  // namespace mixq::exec
