// A streaming histogram of |x| for one tensor, and the clipping ranges derived from it.
//
// The histogram covers [0, R) with a fixed number of equal bins (a power of two, default 2048).
// R is always the smallest power of two > the largest |x| seen so far; when a larger value
// arrives, R doubles as often as needed and bins merge pairwise (new bin i = old bins 2i, 2i+1).
// Because R and the bin width are powers of two, a value's bin, floor(|x| * bins / R), is
// computed exactly, and merging gives exactly the bins a histogram built at the final R would
// have: the result depends only on the multiset of values, not on how they were batched or in
// what order they came. Memory is bins counters per tensor, whatever the number of samples.
//
// NaN and +-Inf are not counted (the caller reports them); zeros are counted in bin 0.
#pragma once

#include <cstdint>
#include <vector>

#include "mixq/core/dtype.h"

namespace mixq::calib {

class AbsHistogram {
 public:
  explicit AbsHistogram(int bins = 2048);

  // Adds finite values; returns how many non-finite values were skipped.
  int64_t add(const float* x, int64_t n);

  int bins() const { return static_cast<int>(counts_.size()); }
  // The covered range [0, R): 0 until a non-zero value has been seen.
  double range() const { return range_; }
  double bin_width() const { return range_ / static_cast<double>(counts_.size()); }
  const std::vector<int64_t>& counts() const { return counts_; }
  int64_t total() const { return total_; }
  double absmax() const { return absmax_; }

  // Merges another histogram of the same bin count (exact, as above).
  void merge(const AbsHistogram& other);

 private:
  void grow_to(double range);

  std::vector<int64_t> counts_;
  double range_ = 0;  // power of two, or 0 while every value seen is zero
  double absmax_ = 0;
  int64_t total_ = 0;
};

// Target formats for the format-aware ranges: the symmetric grid the range maps onto.
enum class RangeFormat { kInt8, kFp8E4M3 };

// Clipping thresholds T (quantize to [-T, T]) derived from a histogram. All return a value in
// (0, absmax]; with no non-zero data they return 0.
//
// percentile: the upper edge of the bin where the cumulative count first reaches p percent
// of all values (conservative by at most one bin width), capped at absmax.
double percentile_range(const AbsHistogram& h, double p);

// entropy: TensorRT's KL-divergence calibration. For each candidate i in [128, bins], the
// reference distribution is the first i bins with everything above folded into bin i-1, the
// candidate is that distribution quantized to 128 levels and expanded back over the non-empty
// bins; the i with the smallest KL(reference || candidate) gives T = (i + 0.5) * bin width
// (capped at absmax).
double entropy_range(const AbsHistogram& h);

// mse: the threshold among bin edges that minimises the mean squared error of quantizing the
// histogram's values (bin centres weighted by count) to `format`'s symmetric grid with scale
// T / qmax (INT8: round to nearest even, qmax 127; FP8 E4M3: float8 rounding, qmax 448), values
// beyond T clipped. The best clipping differs by format: FP8's relative precision makes large
// values cheaper to keep.
double mse_range(const AbsHistogram& h, RangeFormat format);

}  // namespace mixq::calib
