#include "mixq/calibration/observers/observer_entropy.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

namespace mixq::calib {

double entropy_range(const AbsHistogram& h) {
  const int64_t used = h.last_used_bin();
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

}  // namespace mixq::calib
