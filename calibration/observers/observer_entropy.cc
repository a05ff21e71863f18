#include "mixq/calibration/observers/observer_entropy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <vector>

namespace mixq::calib {

namespace {

constexpr int64_t kLevels = 128;

}  // namespace

EntropySearch::EntropySearch(const AbsHistogram& h, int64_t last) {
  // Bin 0 takes its neighbour's count (as NVIDIA's pytorch-quantization does): after ReLU-like
  // ops most values are exact zeros, and that spike makes the divergence favour the narrowest
  // candidate, clipping ReLU6 outputs to an eighth of their range.
  std::vector<int64_t> bins = h.counts();
  if (bins.size() > 1) bins[0] = bins[1];
  const size_t n = bins.size();
  count_.assign(n + 1, 0);
  nonzero_.assign(n + 1, 0);
  clogc_.assign(n + 1, 0.0);
  for (size_t k = 0; k < n; ++k) {
    const int64_t c = bins[k];
    count_[k + 1] = count_[k] + c;
    nonzero_[k + 1] = nonzero_[k] + (c != 0);
    clogc_[k + 1] = clogc_[k] + (c > 1 ? double(c) * std::log(double(c)) : 0.0);
  }
  // For each bucket width m, the sum over the buckets j < 127 (bins [j m, (j + 1) m), the same
  // for every candidate of that width) of S_j log(S_j / nz_j): S_j their count, nz_j their
  // non-empty bins. Only the widths of candidates up to `last` are needed.
  const int64_t widths = std::min(static_cast<int64_t>(n), last) / kLevels;
  bucket_sum_.assign(static_cast<size_t>(std::max<int64_t>(widths, 0) + 1), 0.0);
  for (int64_t m = 1; m <= widths; ++m) {
    double sum = 0;
    for (int64_t j = 0; j + 1 < kLevels; ++j) {
      const auto a = static_cast<size_t>(j * m);
      const auto b = static_cast<size_t>((j + 1) * m);
      const int64_t nz = nonzero_[b] - nonzero_[a];
      if (nz == 0) continue;  // an empty bucket adds nothing
      const auto c = double(count_[b] - count_[a]);
      sum += c * std::log(c / double(nz));
    }
    bucket_sum_[static_cast<size_t>(m)] = sum;
  }
}

// With N the total count, c_k the counts, bucket j holding bins [a, b) with sum S_j over nz_j
// non-empty bins, P = c / N (bin i-1 also holding the outliers) and Q = (S_j / nz_j) / C_i on
// the non-empty bins (C_i = the count below i): every non-empty bin k < i-1 of bucket j adds
// (c_k / N) (log c_k - log N - log(S_j / nz_j) + log C_i). Summed over a bucket that is
// (sum c log c) - S_j (log N - log C_i) - S_j log(S_j / nz_j); over the buckets j < 127, whose
// bins do not depend on i but on the width m = i / 128 only, the first two terms telescope to
// prefix sums at 127 m and the last is bucket_sum_[m]. So a candidate costs O(1): the last
// bucket, [127 m, i), and bin i-1 (holding the outliers too) are added on their own.
double EntropySearch::divergence(int64_t i) const {
  const int64_t total = count_.back();
  const int64_t below = count_[static_cast<size_t>(i)];
  if (total == 0 || below == 0) return std::numeric_limits<double>::infinity();
  const double log_total = std::log(double(total));
  const double log_below = std::log(double(below));
  const int64_t merged = i / kLevels;
  if (merged >= static_cast<int64_t>(bucket_sum_.size())) {
    throw std::out_of_range("entropy candidate beyond the widths prepared for it");
  }
  const auto split = static_cast<size_t>((kLevels - 1) * merged);
  // sum over bins of c_k log(P_k / Q_k) * N: the buckets j < 127 ...
  double sum = clogc_[split] - double(count_[split]) * (log_total - log_below) -
               bucket_sum_[static_cast<size_t>(merged)];
  // ... the last bucket's non-empty bins but i-1 ...
  const auto b = static_cast<size_t>(i), e = b - 1;
  const int64_t nz = nonzero_[b] - nonzero_[split];
  double last_q = 0;
  if (nz != 0) {
    const double log_q = std::log(double(count_[b] - count_[split]) / double(nz)) - log_below;
    const double c = double(count_[e] - count_[split]);
    sum += (clogc_[e] - clogc_[split]) - c * (log_total + log_q);
    last_q = std::exp(log_q);
  }
  // ... and bin i-1, which holds the outliers too; where Q has nothing there, Q gets a tiny
  // mass, as the usual implementations smooth it, instead of making the divergence infinite.
  const double p_last = double(count_[b] - count_[e] + (total - below));
  if (p_last > 0) {
    constexpr double kEps = 1e-12;
    const bool filled = count_[b] != count_[e];
    const double q = filled ? last_q : kEps;
    sum += p_last * (std::log(p_last) - log_total - std::log(q));
  }
  return sum / double(total);
}

double entropy_range(const AbsHistogram& h) {
  const int64_t used = h.last_used_bin();
  if (used < 0) return 0;
  const auto n_bins = static_cast<int64_t>(h.counts().size());
  // Candidates beyond the last used bin only add empty bins: stop one past it.
  const int64_t last = std::min(n_bins, std::max(kLevels, used + 1));
  const EntropySearch search(h, last);
  double best_kl = std::numeric_limits<double>::infinity();
  int64_t best_i = last;
  const auto consider = [&](int64_t i) {
    const double kl = search.divergence(i);
    if (kl < best_kl || (kl == best_kl && i < best_i)) {
      best_kl = kl;
      best_i = i;
    }
  };
  // Every 8th candidate, then every candidate within 8 of the best of those: the divergence
  // varies smoothly with i, and this costs a ninth of the full scan.
  constexpr int64_t kCoarse = 8;
  for (int64_t i = kLevels; i <= last; i += kCoarse) consider(i);
  consider(last);
  const int64_t centre = best_i;
  for (int64_t i = std::max(kLevels, centre - kCoarse); i <= std::min(last, centre + kCoarse);
       ++i) {
    consider(i);
  }
  return std::min(h.absmax(), (static_cast<double>(best_i) + 0.5) * h.bin_width());
}

}  // namespace mixq::calib
