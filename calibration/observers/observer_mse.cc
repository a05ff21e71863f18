#include "mixq/calibration/observers/observer_mse.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
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

// Four lanes of doubles (GCC vector extensions), the same on every target, so that the sums
// below, kept per lane, do not depend on the CPU's vector width.
using V4d = double __attribute__((vector_size(4 * sizeof(double))));
using V4u = uint64_t __attribute__((vector_size(4 * sizeof(double))));

V4d load4(const double* p) {
  V4d v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

// y in [0, 2^51] rounded to the nearest integer, ties to even: adding and subtracting 2^52
// rounds in the default rounding mode, as std::nearbyint does (tested), and vectorises.
V4d round_even(V4d y) { return (y + 0x1p52) - 0x1p52; }

// x >= 0 rounded to the FLOAT8E4M3FN grid (round to nearest even, saturating at 448): the
// quantum is 2^(e - 3) for x in [2^e, 2^(e+1)), e >= -6 (2^-9 for the subnormals below 2^-6).
// 2^e is x with its mantissa bits cleared; the quantum's reciprocal, a power of two too, is
// exact. So this equals encoding with double_to_float8e4m3fn(x, saturate) and decoding (tested),
// but it has no table or branch.
V4d round_e4m3(V4d x) {
  constexpr uint64_t kExponent = 0x7FF0000000000000ull;
  V4d power = reinterpret_cast<V4d>(reinterpret_cast<V4u>(x) & kExponent);
  power = power < 0x1p-6 ? V4d{} + 0x1p-6 : power;
  const V4d quantum = power * 0x1p-3;
  // 1 / 2^m has the exponent field 2046 - (m + 1023).
  const V4d inverse =
      reinterpret_cast<V4d>((uint64_t{2046} << 52) - reinterpret_cast<V4u>(quantum));
  const V4d q = round_even(x * inverse) * quantum;
  return x >= 448.0 ? V4d{} + 448.0 : q;
}

// The first of the ascending centres c[0, n) whose value c / s the grid clips to its largest
// level: x / s > 126.5 for INT8 (126.5 itself rounds to 126), x / s >= 448 for E4M3.
size_t first_clipped(const double* c, size_t n, double s, RangeFormat format) {
  const double* it = std::partition_point(c, c + n, [&](double x) {
    return format == RangeFormat::kInt8 ? !(x / s > 126.5) : !(x / s >= 448.0);
  });
  return static_cast<size_t>(it - c);
}

// Sum of w (c - q)^2 over the bins, with q the centre quantized with scale s = t / qmax. Bins
// the grid clips take q = qmax * s without a division; the others are rounded four at a time.
// A partial block is padded with zero counts.
template <RangeFormat kFormat>
double error_of(const Filled& f, double t) {
  constexpr double kQmax = kFormat == RangeFormat::kInt8 ? 127.0 : 448.0;
  const size_t n = f.centre.size();
  const double* c = f.centre.data();
  const double* w = f.count.data();
  const double s = t / kQmax;
  const size_t clipped = first_clipped(c, n, s, kFormat);
  V4d acc{};
  const auto add_rounded = [&](V4d x, V4d weight) {
    const V4d y = x / s;
    const V4d q = kFormat == RangeFormat::kInt8 ? round_even(y) : round_e4m3(y);
    const V4d d = x - q * s;
    acc += weight * d * d;
  };
  const double top = kQmax * s;
  const auto add_clipped = [&](V4d x, V4d weight) {
    const V4d d = x - top;
    acc += weight * d * d;
  };
  const auto padded = [](const double* p, size_t count) {
    double v[4] = {0, 0, 0, 0};
    std::copy(p, p + count, v);
    return load4(v);
  };
  size_t k = 0;
  for (; k + 4 <= clipped; k += 4) add_rounded(load4(c + k), load4(w + k));
  if (k < clipped) add_rounded(padded(c + k, clipped - k), padded(w + k, clipped - k));
  for (k = clipped; k + 4 <= n; k += 4) add_clipped(load4(c + k), load4(w + k));
  if (k < n) add_clipped(padded(c + k, n - k), padded(w + k, n - k));
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

double error_of(const Filled& f, double t, RangeFormat format) {
  return format == RangeFormat::kInt8 ? error_of<RangeFormat::kInt8>(f, t)
                                      : error_of<RangeFormat::kFp8E4M3>(f, t);
}

}  // namespace

double e4m3_grid_value(double x) { return round_e4m3(V4d{} + x)[0]; }

double mse_of(const AbsHistogram& h, double t, RangeFormat format) {
  if (h.total() == 0) return 0;
  return error_of(filled_bins(h), t, format) / static_cast<double>(h.total());
}

double mse_range(const AbsHistogram& h, RangeFormat format, bool prune, int* evaluated) {
  const int64_t used = h.last_used_bin();
  if (evaluated != nullptr) *evaluated = 0;
  if (used < 0) return 0;
  const double w = h.bin_width();
  const auto n_bins = static_cast<int64_t>(h.counts().size());
  const Filled filled = filled_bins(h);
  const size_t n = filled.centre.size();
  // Suffix sums of count, count * centre and count * centre^2: the error of the clipped bins
  // from k up, sum w (c - top)^2 = s2 - 2 top s1 + top^2 s0, in O(1) per threshold.
  std::vector<double> s0(n + 1, 0.0), s1(n + 1, 0.0), s2(n + 1, 0.0);
  for (size_t k = n; k-- > 0;) {
    const double c = filled.centre[k], cw = filled.count[k];
    s0[k] = s0[k + 1] + cw;
    s1[k] = s1[k + 1] + cw * c;
    s2[k] = s2[k + 1] + cw * c * c;
  }
  const double qmax = format == RangeFormat::kInt8 ? 127.0 : 448.0;
  double best_err = std::numeric_limits<double>::infinity();
  double best_t = h.absmax();
  int64_t best_i = used;
  const auto consider = [&](int64_t i) {
    const double t = i >= used ? h.absmax() : static_cast<double>(i + 1) * w;
    if (prune && best_err < std::numeric_limits<double>::infinity()) {
      // error_of(t) is at least its clipped bins' part. Skip t when that part, less a margin
      // (1e-9 of the terms' magnitude, against rounding of order 1e-13 in the suffix sums and
      // in error_of's own sum), is still above the best: t cannot be better or tie.
      const double s = t / qmax, top = qmax * s;
      const size_t k = first_clipped(filled.centre.data(), n, s, format);
      const double clip = s2[k] - 2 * top * s1[k] + top * top * s0[k];
      const double scale = s2[k] + 2 * top * s1[k] + top * top * s0[k];
      if (clip - 1e-9 * scale > best_err * (1 + 1e-9)) return;
    }
    if (evaluated != nullptr) ++*evaluated;
    const double err = error_of(filled, t, format);
    if (err < best_err || (err == best_err && t < best_t)) {
      best_err = err;
      best_t = t;
      best_i = i;
    }
  };
  // Upper bin edges from 1/32 of the histogram to absmax: every `coarse`-th (about 128 of
  // them) and absmax itself, then every edge within `coarse` of the best. The smallest error
  // wins, the smaller threshold on a tie, so the order of evaluation does not change the
  // result; the coarse edges go from the top down so that the bound above prunes the small
  // thresholds, which clip most.
  const int64_t coarse = std::max<int64_t>(1, n_bins / 128);
  consider(used);
  const int64_t first = n_bins / 32 - 1;
  if (first < used) {
    const int64_t last = first + (used - 1 - first) / coarse * coarse;  // the largest below used
    for (int64_t i = last; i >= first; i -= coarse) consider(i);
  }
  const int64_t centre = best_i;
  for (int64_t i = std::max<int64_t>(0, centre - coarse); i <= std::min(used, centre + coarse);
       ++i) {
    consider(i);
  }
  return best_t;
}

}  // namespace mixq::calib
