// Running min / max / absmax of a tensor's finite values, with a count of the non-finite ones
// and where the first came; and the per-channel absmax along one axis.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

#include "mixq/exec/thread_pool.h"
#include "mixq/ir/tensor.h"

namespace mixq::calib {

// One pass's findings over a batch: its finite min and max and how many values are NaN or +-Inf.
struct ValueScan {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
  int64_t nonfinite = 0;

  void merge(const ValueScan& o) {
    lo = o.lo < lo ? o.lo : lo;
    hi = o.hi > hi ? o.hi : hi;
    nonfinite += o.nonfinite;
  }
  // The largest finite |x| (0 when there is none).
  float absmax() const;
};

// Scans x[b, e) (vectorised).
ValueScan scan_values(const float* x, int64_t b, int64_t e);

struct MinMax {
  double min = std::numeric_limits<double>::infinity();
  double max = -std::numeric_limits<double>::infinity();
  double absmax = 0;
  int64_t count = 0;      // finite values seen
  int64_t nonfinite = 0;  // NaN and +-Inf seen (excluded from everything else)
  int64_t first_nonfinite_run = -1;
  int64_t first_nonfinite_index = -1;  // flat element index within that run's tensor

  // With a pool, large inputs are scanned in fixed chunks in parallel (same result). Returns
  // this batch's largest finite |x| (0 when it has none).
  float add(const float* x, int64_t n, int64_t run, exec::ThreadPool* pool = nullptr);
  // Takes in a batch of n values x already scanned (AbsHistogram::add_batch scans them).
  float absorb(const ValueScan& s, const float* x, int64_t n, int64_t run);
};

// The values of a float32, float16 or bfloat16 tensor as float32: its own data for float32,
// else widened into `scratch`. nullptr for any other dtype.
const float* float_values(const ir::Tensor& t, std::vector<float>& scratch);

// Raises acc[c] to the largest finite |x| of channel c along `axis` of float tensor t (acc is
// resized to dims[axis] on first use). The axis may be negative (counted from the end). With
// a pool, large tensors are split by rows across it (same result).
void channel_absmax(const float* x, const std::vector<int64_t>& dims, int64_t axis,
                    std::vector<float>& acc, exec::ThreadPool* pool = nullptr);

}  // namespace mixq::calib
