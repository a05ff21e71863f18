#include "mixq/calibration/observers/observer_entropy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace mixq::calib {

namespace {

constexpr int64_t kLevels = 128;

// KL(P || Q) for the candidate that keeps the first i bins (TensorRT's construction, see the
// header); infinity when the candidate holds no data.
double divergence(const std::vector<int64_t>& bins, int64_t i, int64_t outliers,
                  std::vector<double>& p, std::vector<double>& q) {
  p.assign(bins.begin(), bins.begin() + i);
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
      if (bins[static_cast<size_t>(k)] != 0) q[static_cast<size_t>(k)] = sum / double(nonzero);
    }
  }
  double p_sum = 0, q_sum = 0;
  for (int64_t k = 0; k < i; ++k) {
    p_sum += p[static_cast<size_t>(k)];
    q_sum += q[static_cast<size_t>(k)];
  }
  if (p_sum == 0 || q_sum == 0) return std::numeric_limits<double>::infinity();
  // A bin that P has and Q lacks (the folded outliers) gets Q a tiny mass, as the usual
  // implementations smooth it, instead of making the divergence infinite.
  constexpr double kEps = 1e-12;
  double kl = 0;
  for (int64_t k = 0; k < i; ++k) {
    const double pk = p[static_cast<size_t>(k)] / p_sum;
    if (pk == 0) continue;
    const double qk = std::max(q[static_cast<size_t>(k)] / q_sum, kEps);
    kl += pk * std::log(pk / qk);
  }
  return kl;
}

}  // namespace

double entropy_range(const AbsHistogram& h) {
  const int64_t used = h.last_used_bin();
  if (used < 0) return 0;
  const auto& bins = h.counts();
  const auto n_bins = static_cast<int64_t>(bins.size());
  // Candidates beyond the last used bin only add empty bins: stop one past it.
  const int64_t last = std::min(n_bins, std::max(kLevels, used + 1));
  // suffix[i]: the count in bins i and above (the outliers of candidate i).
  std::vector<int64_t> suffix(static_cast<size_t>(n_bins) + 1, 0);
  for (int64_t k = n_bins - 1; k >= 0; --k) {
    suffix[static_cast<size_t>(k)] =
        suffix[static_cast<size_t>(k) + 1] + bins[static_cast<size_t>(k)];
  }
  std::vector<double> p, q;
  double best_kl = std::numeric_limits<double>::infinity();
  int64_t best_i = last;
  const auto consider = [&](int64_t i) {
    const double kl = divergence(bins, i, suffix[static_cast<size_t>(i)], p, q);
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
