// Registration functions of the signal kernel files (called from signal/register.cc) and the
// helpers they share.
#pragma once

#include <string_view>
#include <vector>

#include "mixq/exec/kernel.h"

namespace mixq::exec {

void register_dft_kernels(std::vector<KernelDef>& out);
void register_window_kernels(std::vector<KernelDef>& out);
void register_mel_weight_matrix_kernels(std::vector<KernelDef>& out);

// Input i as one int32 or int64 value; a bad-input error naming `what` otherwise.
Expected<int64_t> scalar_int(const KernelContext& ctx, size_t i, std::string_view what);

// Allocates output 0 with dims `dims` and the dtype of the `output_datatype` attribute (default
// float32; any numeric type) and fills it from float64 `values` (truncated toward zero for
// integer types).
Status write_generated(KernelContext& ctx, const std::vector<int64_t>& dims,
                       const std::vector<double>& values);

}  // namespace mixq::exec
