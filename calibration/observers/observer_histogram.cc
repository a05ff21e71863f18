#include "mixq/calibration/observers/observer_histogram.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace mixq::calib {

AbsHistogram::AbsHistogram(int bins) : counts_(static_cast<size_t>(bins), 0) {
  if (bins < 128 || (bins & (bins - 1)) != 0) {
    throw std::invalid_argument("histogram bins must be a power of two >= 128");
  }
}

void AbsHistogram::grow_to(double a) {
  if (a == 0) return;
  int e = 0;
  std::frexp(a, &e);  // a = m * 2^e with m in [0.5, 1): 2^e is the smallest power of two > a
  const double needed = std::ldexp(1.0, e);
  if (range_ == 0) {
    range_ = needed;  // only zeros so far, all in bin 0 at any range
    return;
  }
  const size_t n = counts_.size();
  while (range_ < needed) {
    for (size_t i = 0; i < n / 2; ++i) counts_[i] = counts_[2 * i] + counts_[2 * i + 1];
    std::fill(counts_.begin() + static_cast<std::ptrdiff_t>(n / 2), counts_.end(), 0);
    range_ *= 2;
  }
}

int64_t AbsHistogram::add(const float* x, int64_t n) {
  int64_t skipped = 0;
  float batch_max = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (!std::isfinite(a)) {
      ++skipped;
      continue;
    }
    batch_max = std::max(batch_max, a);
  }
  absmax_ = std::max(absmax_, static_cast<double>(batch_max));
  grow_to(batch_max);
  // bins / range is a power of two, so a * scale is exact and its floor is the exact bin.
  const double scale = range_ == 0 ? 0.0 : static_cast<double>(counts_.size()) / range_;
  for (int64_t i = 0; i < n; ++i) {
    const float a = std::fabs(x[i]);
    if (!std::isfinite(a)) continue;
    ++counts_[static_cast<size_t>(static_cast<double>(a) * scale)];
  }
  total_ += n - skipped;
  return skipped;
}

void AbsHistogram::merge(const AbsHistogram& other) {
  if (other.counts_.size() != counts_.size()) {
    throw std::invalid_argument("merging histograms of different bin counts");
  }
  AbsHistogram o = other;
  const double r = std::max(range_, o.range_);
  // Bring both to the larger range (exact pairwise merges), then add.
  if (r > 0) {
    grow_to(std::nextafter(r, 0.0));
    o.grow_to(std::nextafter(r, 0.0));
  }
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
  absmax_ = std::max(absmax_, o.absmax_);
  total_ += o.total_;
}

}  // namespace mixq::calib
