// How a Reduce* op walks its input: the reduced and kept dims after dropping size-1 dims and
// merging neighbours, as element offsets. Internal to the reduce kernels.
#pragma once

#include <cstdint>
#include <vector>

#include "kernels/tensor/tensor_util.h"

namespace mixq::exec {

// Output j (row-major) reduces the input elements at
//   row_offset(j / inner) + red_offsets[r] + i   for i < inner   (inner_reduced)
//   row_offset(j / inner) + red_offsets[r] + j % inner            (otherwise)
// over every r, where row_offset walks row_dims with row_strides (an Odometer).
struct ReduceLayout {
  std::vector<int64_t> out_dims;  // the output shape (keepdims applied)
  int64_t out_numel = 0;
  int64_t count = 0;          // input elements reduced into each output
  bool inner_reduced = true;  // the innermost merged dim is reduced
  int64_t inner = 1;          // size of the innermost merged dim
  int64_t out_rows = 1;       // product of row_dims
  std::vector<int64_t> red_offsets;
  std::vector<int64_t> row_dims, row_strides;
};

// Reads keepdims and the axes (attribute before opset `input_since`, optional input 1 with
// noop_with_empty_axes since) and plans the walk; bad axes are a bad-input error.
Expected<ReduceLayout> plan_reduce(const KernelContext& ctx, int64_t input_since);

}  // namespace mixq::exec
