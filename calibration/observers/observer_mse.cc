#include "mixq/calibration/observers/observer_mse.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "mixq/core/float8.h"

namespace mixq::calib {

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
  const int64_t used = h.last_used_bin();
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
