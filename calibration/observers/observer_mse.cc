#include "mixq/calibration/observers/observer_mse.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace mixq::calib {

namespace {

// The non-empty bins of a histogram: centres and counts, as two arrays for the vector loops.
struct Filled {
  std::vector<double> centre, count;
};

Filled filled_bins(const AbsHistogram& h) {
  Filled f;
  const auto& bins = h.counts();
  const double w = h.bin_width();
  for (int64_t k = 0; k <= h.last_used_bin(); ++k) {
    const int64_t c = bins[static_cast<size_t>(k)];
    if (c == 0) continue;
    f.centre.push_back((static_cast<double>(k) + 0.5) * w);
    f.count.push_back(static_cast<double>(c));
  }
  return f;
}

// x >= 0 rounded to the FLOAT8E4M3FN grid (round to nearest even, saturating at 448): the
// quantum is 2^(e - 3) for x in [2^e, 2^(e+1)), e >= -6 (2^-9 for the subnormals below 2^-6).
// Division and multiplication by a power of two are exact, so this equals encoding with
// double_to_float8e4m3fn(x, saturate) and decoding (tested), but it has no table or branch and
// vectorises.
inline double round_e4m3(double x) {
  const auto bits = std::bit_cast<uint64_t>(x);
  const int64_t e = std::max<int64_t>(static_cast<int64_t>(bits >> 52) - 1023, -6);
  const double quantum = std::bit_cast<double>(static_cast<uint64_t>(e - 3 + 1023) << 52);
  // x / quantum as a product: the reciprocal of a power of two (2^-1020 at the least) is exact.
  const double inverse = std::bit_cast<double>(static_cast<uint64_t>(3 - e + 1023) << 52);
  const double q = std::nearbyint(x * inverse) * quantum;
  return x >= 448.0 ? 448.0 : q;
}

double error_of(const Filled& f, double t, RangeFormat format) {
  const size_t n = f.centre.size();
  const double* c = f.centre.data();
  const double* w = f.count.data();
  double err = 0;
  if (format == RangeFormat::kInt8) {
    const double s = t / 127.0;
    for (size_t k = 0; k < n; ++k) {
      const double d = c[k] - std::min(127.0, std::nearbyint(c[k] / s)) * s;
      err += w[k] * d * d;
    }
  } else {
    const double s = t / 448.0;
    for (size_t k = 0; k < n; ++k) {
      const double d = c[k] - round_e4m3(c[k] / s) * s;
      err += w[k] * d * d;
    }
  }
  return err;
}

}  // namespace

double e4m3_grid_value(double x) { return round_e4m3(x); }

double mse_of(const AbsHistogram& h, double t, RangeFormat format) {
  if (h.total() == 0) return 0;
  return error_of(filled_bins(h), t, format) / static_cast<double>(h.total());
}

double mse_range(const AbsHistogram& h, RangeFormat format) {
  const int64_t used = h.last_used_bin();
  if (used < 0) return 0;
  const double w = h.bin_width();
  const auto n_bins = static_cast<int64_t>(h.counts().size());
  const Filled filled = filled_bins(h);
  double best_err = std::numeric_limits<double>::infinity();
  double best_t = h.absmax();
  int64_t best_i = used;
  const auto consider = [&](int64_t i) {
    const double t = i >= used ? h.absmax() : static_cast<double>(i + 1) * w;
    const double err = error_of(filled, t, format);
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
