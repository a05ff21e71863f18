#include "mixq/calibration/ranges/histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>

#include "mixq/core/float8.h"
#include "mixq/core/float_bits.h"

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

namespace {

// The last bin that holds data (absmax lies in it), or -1 when all values are zero or none.
int64_t last_used_bin(const AbsHistogram& h) {
  if (h.absmax() == 0) return -1;
  return static_cast<int64_t>(h.absmax() / h.bin_width());
}

}  // namespace

double percentile_range(const AbsHistogram& h, double p) {
  if (h.absmax() == 0 || h.total() == 0) return 0;
  const double want = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(h.total());
  int64_t cum = 0;
  const auto& c = h.counts();
  for (size_t i = 0; i < c.size(); ++i) {
    cum += c[i];
    if (static_cast<double>(cum) >= want) {
      return std::min(h.absmax(), static_cast<double>(i + 1) * h.bin_width());
    }
  }
  return h.absmax();
}

double entropy_range(const AbsHistogram& h) {
  const int64_t used = last_used_bin(h);
  if (used < 0) return 0;
  constexpr int64_t kLevels = 128;
  const auto& bins = h.counts();
  const auto n_bins = static_cast<int64_t>(bins.size());
  // Candidates beyond the last used bin only add empty bins: stop one past it.
  const int64_t last = std::min(n_bins, std::max(kLevels, used + 1));
  double best_kl = std::numeric_limits<double>::infinity();
  int64_t best_i = last;
  std::vector<double> p, q;
  for (int64_t i = kLevels; i <= last; ++i) {
    p.assign(bins.begin(), bins.begin() + i);
    int64_t outliers = 0;
    for (int64_t k = i; k < n_bins; ++k) outliers += bins[static_cast<size_t>(k)];
    p[static_cast<size_t>(i - 1)] += static_cast<double>(outliers);
    // Quantize the unclipped first i bins to 128 levels and expand back over non-empty bins.
    q.assign(static_cast<size_t>(i), 0.0);
    const int64_t merged = i / kLevels;
    for (int64_t j = 0; j < kLevels; ++j) {
      const int64_t start = j * merged;
      const int64_t stop = j == kLevels - 1 ? i : start + merged;
      double sum = 0;
      int64_t nonzero = 0;
      for (int64_t k = start; k < stop; ++k) {
        sum += static_cast<double>(bins[static_cast<size_t>(k)]);
        nonzero += bins[static_cast<size_t>(k)] != 0;
      }
      if (nonzero == 0) continue;
      for (int64_t k = start; k < stop; ++k) {
        if (bins[static_cast<size_t>(k)] != 0) {
          q[static_cast<size_t>(k)] = sum / static_cast<double>(nonzero);
        }
      }
    }
    double p_sum = 0, q_sum = 0;
    for (int64_t k = 0; k < i; ++k) {
      p_sum += p[static_cast<size_t>(k)];
      q_sum += q[static_cast<size_t>(k)];
    }
    if (p_sum == 0 || q_sum == 0) continue;
    // KL(P || Q); a bin that P has and Q lacks (the folded outliers) gets Q a tiny mass, as the
    // usual implementations smooth it, instead of making the divergence infinite.
    constexpr double kEps = 1e-12;
    double kl = 0;
    for (int64_t k = 0; k < i; ++k) {
      const double pk = p[static_cast<size_t>(k)] / p_sum;
      if (pk == 0) continue;
      const double qk = std::max(q[static_cast<size_t>(k)] / q_sum, kEps);
      kl += pk * std::log(pk / qk);
    }
    if (kl < best_kl) {
      best_kl = kl;
      best_i = i;
    }
  }
  return std::min(h.absmax(), (static_cast<double>(best_i) + 0.5) * h.bin_width());
}

namespace {

// The value a quantizer with threshold t maps a non-negative c to, in `format`.
double quantize_to(double c, double t, RangeFormat format) {
  if (format == RangeFormat::kInt8) {
    const double s = t / 127.0;
    const double q = std::min(127.0, std::nearbyint(c / s));
    return q * s;
  }
  const double s = t / 448.0;
  return static_cast<double>(float8e4m3fn_to_float(double_to_float8e4m3fn(c / s, true))) * s;
}

}  // namespace

double mse_range(const AbsHistogram& h, RangeFormat format) {
  const int64_t used = last_used_bin(h);
  if (used < 0) return 0;
  const auto& bins = h.counts();
  const double w = h.bin_width();
  const auto n_bins = static_cast<int64_t>(bins.size());
  // Candidates: the upper edges of bins from 1/32 of the histogram up to the bin of absmax,
  // about 512 of them; the last is absmax itself.
  const int64_t stride = std::max<int64_t>(1, n_bins / 512);
  double best_err = std::numeric_limits<double>::infinity();
  double best_t = h.absmax();
  for (int64_t i = n_bins / 32 - 1;; i += stride) {
    const bool final_candidate = i >= used;
    const double t = final_candidate ? h.absmax() : static_cast<double>(i + 1) * w;
    double err = 0;
    for (int64_t k = 0; k <= used; ++k) {
      const int64_t count = bins[static_cast<size_t>(k)];
      if (count == 0) continue;
      const double c = (static_cast<double>(k) + 0.5) * w;
      const double d = c - quantize_to(c, t, format);
      err += static_cast<double>(count) * d * d;
    }
    if (err < best_err) {
      best_err = err;
      best_t = t;
    }
    if (final_candidate) break;
  }
  return best_t;
}

}  // namespace mixq::calib
