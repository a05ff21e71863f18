// The entropy (KL-divergence) clipping range of a histogram.
#pragma once

#include <cstdint>
#include <vector>

#include "mixq/calibration/observers/observer_histogram.h"

namespace mixq::calib {

// entropy: TensorRT's KL-divergence calibration. For each candidate i in [128, bins], the
// reference distribution is the first i bins with everything above folded into bin i-1, the
// candidate is that distribution quantized to 128 levels and expanded back over the non-empty
// bins; the i with the smallest KL(reference || candidate) gives T = (i + 0.5) * bin width
// (capped at absmax). The search takes every 8th candidate, then every candidate within 8 of
// the best of those. Bin 0 is given bin 1's count first: the spike of exact zeros that ReLU-like
// ops leave would otherwise dominate the divergence (NVIDIA's pytorch-quantization does the
// same).
double entropy_range(const AbsHistogram& h);

// The divergence of each candidate in O(1) from prefix sums over the bins and one sum per bucket
// width (instead of a pass over the first i bins with a logarithm per bin).
class EntropySearch {
 public:
  // For the candidates up to `last` (default: every one).
  explicit EntropySearch(const AbsHistogram& h, int64_t last = INT64_MAX);
  // KL(reference || candidate) for the candidate that keeps the first i bins, 128 <= i <= last
  // and i <= bins; infinity when the candidate holds no data.
  double divergence(int64_t i) const;

 private:
  std::vector<int64_t> count_, nonzero_;  // prefix sums of c and of (c != 0)
  std::vector<double> clogc_;             // prefix sums of c log c
  // For bucket width m, at [m]: the sum of S_j log(S_j / nz_j) over the buckets j < 127.
  std::vector<double> bucket_sum_;
};

}  // namespace mixq::calib
