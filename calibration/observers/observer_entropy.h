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

// The divergence of each candidate in O(128) from prefix sums over the bins (instead of a pass
// over the first i bins with a logarithm per bin).
class EntropySearch {
 public:
  explicit EntropySearch(const AbsHistogram& h);
  // KL(reference || candidate) for the candidate that keeps the first i bins, 128 <= i <= bins;
  // infinity when the candidate holds no data.
  double divergence(int64_t i) const;

 private:
  std::vector<int64_t> count_, nonzero_;  // prefix sums of c and of (c != 0)
  std::vector<double> clogc_;             // prefix sums of c log c
  // log(S_j / nz_j) of bucket j < 127 for bucket width m at [(m - 1) * 128 + j]; NaN if empty.
  std::vector<double> log_mean_;
};

}  // namespace mixq::calib
