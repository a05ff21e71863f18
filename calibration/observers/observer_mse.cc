#include "mixq/calibration/observers/observer_mse.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <utility>
#include <vector>

#include "mixq/core/float8.h"

namespace mixq::calib {

namespace {

// E4M3FN code -> value, for the search's inner loop.
const std::array<float, 256>& e4m3_values() {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> v{};
    for (int c = 0; c < 256; ++c) v[static_cast<size_t>(c)] = float8e4m3fn_to_float(uint8_t(c));
    return v;
  }();
  return table;
}

// The value a quantizer with threshold t maps a non-negative c to, in `format`.
double quantize_to(double c, double t, RangeFormat format) {
  if (format == RangeFormat::kInt8) {
    const double s = t / 127.0;
    const double q = std::min(127.0, std::nearbyint(c / s));
    return q * s;
  }
  const double s = t / 448.0;
  return static_cast<double>(e4m3_values()[double_to_float8e4m3fn(c / s, true)]) * s;
}

}  // namespace

double mse_range(const AbsHistogram& h, RangeFormat format) {
  const int64_t used = h.last_used_bin();
  if (used < 0) return 0;
  const auto& bins = h.counts();
  const double w = h.bin_width();
  const auto n_bins = static_cast<int64_t>(bins.size());
  // The non-empty bins: centre and count.
  std::vector<std::pair<double, double>> filled;
  for (int64_t k = 0; k <= used; ++k) {
    const int64_t count = bins[static_cast<size_t>(k)];
    if (count != 0) filled.emplace_back((static_cast<double>(k) + 0.5) * w, double(count));
  }
  const auto error_of = [&](double t) {
    double err = 0;
    for (const auto& [c, count] : filled) {
      const double d = c - quantize_to(c, t, format);
      err += count * d * d;
    }
    return err;
  };
  double best_err = std::numeric_limits<double>::infinity();
  double best_t = h.absmax();
  int64_t best_i = used;
  const auto consider = [&](int64_t i) {
    const double t = i >= used ? h.absmax() : static_cast<double>(i + 1) * w;
    const double err = error_of(t);
    if (err < best_err || (err == best_err && t < best_t)) {
      best_err = err;
      best_t = t;
      best_i = i;
    }
  };
  // Upper bin edges from 1/32 of the histogram to absmax: every `coarse`-th (about 128 of
  // them) and absmax itself, then every edge within `coarse` of the best.
  const int64_t coarse = std::max<int64_t>(1, n_bins / 128);
  for (int64_t i = n_bins / 32 - 1; i < used; i += coarse) consider(i);
  consider(used);
  const int64_t centre = best_i;
  for (int64_t i = std::max<int64_t>(0, centre - coarse); i <= std::min(used, centre + coarse);
       ++i) {
    consider(i);
  }
  return best_t;
}

}  // namespace mixq::calib
