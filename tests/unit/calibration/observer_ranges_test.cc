// The streaming |x| histogram and the ranges derived from it (calibration/observers/):
// exactness and batch independence of the re-binning, percentile against a sorted float64
// reference, MSE ranges against the true error of quantizing the raw data, the entropy range's
// behaviour on distributions with and without outliers, and bad values.
#include "mixq/calibration/observers/observer_entropy.h"
#include "mixq/calibration/observers/observer_histogram.h"
#include "mixq/calibration/observers/observer_minmax.h"
#include "mixq/calibration/observers/observer_mse.h"
#include "mixq/calibration/observers/observer_percentile.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "mixq/core/float8.h"

namespace mixq::calib {
namespace {

// Mostly Laplace(0, 1), with a few outliers up to ~60 (activation-like).
std::vector<float> heavy_tailed(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::exponential_distribution<double> e(1.0);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<float> v(n);
  for (auto& x : v) {
    double a = e(rng);
    if (u(rng) < 0.0005) a *= 12.0;  // rare outliers
    x = static_cast<float>(u(rng) < 0.5 ? -a : a);
  }
  return v;
}

TEST(AbsHistogram, BinsAreExactAndIndependentOfBatchingAndOrder) {
  const auto x = heavy_tailed(200000, 1);
  AbsHistogram whole;
  whole.add(x.data(), static_cast<int64_t>(x.size()));

  // Growing batches (the range doubles many times along the way), reversed order, and two
  // halves merged.
  std::vector<float> sorted = x;
  std::sort(sorted.begin(), sorted.end(),
            [](float a, float b) { return std::fabs(a) < std::fabs(b); });
  AbsHistogram growing;
  std::mt19937 rng(3);
  for (size_t i = 0; i < sorted.size();) {
    const size_t len = std::min<size_t>(sorted.size() - i, 1 + rng() % 5000);
    growing.add(sorted.data() + i, static_cast<int64_t>(len));
    i += len;
  }
  std::vector<float> reversed(x.rbegin(), x.rend());
  AbsHistogram backwards;
  backwards.add(reversed.data(), static_cast<int64_t>(reversed.size()));
  AbsHistogram a, b;
  a.add(x.data(), 1000);
  b.add(x.data() + 1000, static_cast<int64_t>(x.size()) - 1000);
  a.merge(b);

  for (const AbsHistogram* h : {&growing, &backwards, &a}) {
    EXPECT_EQ(h->counts(), whole.counts());
    EXPECT_EQ(h->range(), whole.range());
    EXPECT_EQ(h->absmax(), whole.absmax());
    EXPECT_EQ(h->total(), whole.total());
  }
  // The final range is the smallest power of two above absmax, and every value sits in
  // floor(|x| * bins / R).
  EXPECT_GT(whole.range(), whole.absmax());
  EXPECT_LE(whole.range(), 2 * whole.absmax());
  std::vector<int64_t> direct(static_cast<size_t>(whole.bins()), 0);
  for (float v : x) {
    ++direct[static_cast<size_t>(std::floor(std::fabs(double(v)) * whole.bins() / whole.range()))];
  }
  EXPECT_EQ(direct, whole.counts());
}

TEST(AbsHistogram, ParallelScanGivesTheSameCountsAndMinMax) {
  auto x = heavy_tailed(1000003, 9);  // 16 chunks of 64K and a tail
  x[70000] = std::numeric_limits<float>::quiet_NaN();
  x[900000] = -std::numeric_limits<float>::infinity();
  exec::ThreadPool pool(3);
  AbsHistogram serial, parallel;
  EXPECT_EQ(serial.add(x.data(), static_cast<int64_t>(x.size())), 2);
  EXPECT_EQ(parallel.add(x.data(), static_cast<int64_t>(x.size()), &pool), 2);
  EXPECT_EQ(parallel.counts(), serial.counts());
  EXPECT_EQ(parallel.range(), serial.range());
  EXPECT_EQ(parallel.absmax(), serial.absmax());
  MinMax a, b;
  a.add(x.data(), static_cast<int64_t>(x.size()), 4);
  b.add(x.data(), static_cast<int64_t>(x.size()), 4, &pool);
  EXPECT_EQ(a.min, b.min);
  EXPECT_EQ(a.max, b.max);
  EXPECT_EQ(a.absmax, b.absmax);
  EXPECT_EQ(b.nonfinite, 2);
  EXPECT_EQ(b.first_nonfinite_run, 4);
  EXPECT_EQ(b.first_nonfinite_index, 70000);
  EXPECT_EQ(b.count, static_cast<int64_t>(x.size()) - 2);
}

TEST(AbsHistogram, SkipsNonFiniteValuesAndCountsThem) {
  const float inf = std::numeric_limits<float>::infinity();
  const float x[] = {1.0f, std::numeric_limits<float>::quiet_NaN(), -inf, 0.0f, -3.0f, inf};
  AbsHistogram h(128);
  EXPECT_EQ(h.add(x, 6), 3);
  EXPECT_EQ(h.total(), 3);
  EXPECT_EQ(h.absmax(), 3.0);
  EXPECT_EQ(h.range(), 4.0);
  EXPECT_EQ(h.counts()[0], 1);  // the zero
  AbsHistogram zeros(128);
  const float z[] = {0.0f, -0.0f};
  zeros.add(z, 2);
  EXPECT_EQ(zeros.range(), 0.0);
  EXPECT_EQ(zeros.counts()[0], 2);
  EXPECT_EQ(percentile_range(zeros, 99.9), 0.0);
  EXPECT_EQ(entropy_range(zeros), 0.0);
  EXPECT_EQ(mse_range(zeros, RangeFormat::kInt8), 0.0);
}

TEST(AbsHistogram, rejects_bin_counts_that_are_not_powers_of_two) {
  EXPECT_THROW(AbsHistogram(1000), std::invalid_argument);
  EXPECT_THROW(AbsHistogram(64), std::invalid_argument);
}

TEST(RangeMethods, PercentileWithinOneBinOfTheSortedReference) {
  const auto x = heavy_tailed(300000, 2);
  AbsHistogram h;
  h.add(x.data(), static_cast<int64_t>(x.size()));
  std::vector<double> a(x.size());
  for (size_t i = 0; i < x.size(); ++i) a[i] = std::fabs(double(x[i]));
  std::sort(a.begin(), a.end());
  for (double p : {50.0, 99.0, 99.9, 99.99, 100.0}) {
    // The smallest value v with at least p% of the values <= v.
    const auto k = static_cast<size_t>(std::ceil(p / 100 * double(a.size()))) - 1;
    const double want = a[std::min(k, a.size() - 1)];
    const double got = percentile_range(h, p);
    EXPECT_GE(got, want - 1e-12) << p;
    EXPECT_LE(got, std::min(want + h.bin_width(), h.absmax())) << p;
  }
  EXPECT_EQ(percentile_range(h, 100.0), h.absmax());
}

// The mean squared error of quantizing the raw values with threshold t, in float64.
double true_mse(const std::vector<float>& x, double t, RangeFormat f) {
  double err = 0;
  for (float v : x) {
    const double a = std::fabs(double(v));
    double q;
    if (f == RangeFormat::kInt8) {
      const double s = t / 127;
      q = std::min(127.0, std::nearbyint(a / s)) * s;
    } else {
      const double s = t / 448;
      q = double(float8e4m3fn_to_float(double_to_float8e4m3fn(a / s, true))) * s;
    }
    err += (a - q) * (a - q);
  }
  return err / double(x.size());
}

TEST(RangeMethods, MseRangeIsNearTheBestOnTheRawDataAndDependsOnTheFormat) {
  const auto x = heavy_tailed(100000, 4);
  AbsHistogram h;
  h.add(x.data(), static_cast<int64_t>(x.size()));
  double chosen[2];
  for (RangeFormat f : {RangeFormat::kInt8, RangeFormat::kFp8E4M3}) {
    const double t = mse_range(h, f);
    chosen[f == RangeFormat::kInt8 ? 0 : 1] = t;
    ASSERT_GT(t, 0);
    ASSERT_LE(t, h.absmax());
    // Brute force over 400 thresholds on the raw values (not the histogram).
    double best = std::numeric_limits<double>::infinity();
    for (int i = 1; i <= 400; ++i) best = std::min(best, true_mse(x, h.absmax() * i / 400, f));
    EXPECT_LE(true_mse(x, t, f), best * 1.05) << (f == RangeFormat::kInt8 ? "int8" : "fp8");
    // Clipping the rare outliers pays off for INT8's uniform grid.
    if (f == RangeFormat::kInt8) {
      EXPECT_LT(t, 0.8 * h.absmax());
    }
  }
  // FP8 keeps relative precision for large values, so it clips less than INT8.
  EXPECT_GT(chosen[1], chosen[0]);
}

TEST(RangeMethods, EntropyClipsOutliersButNotAUniformDistribution) {
  const auto x = heavy_tailed(200000, 5);
  AbsHistogram h;
  h.add(x.data(), static_cast<int64_t>(x.size()));
  const double t = entropy_range(h);
  EXPECT_GT(t, percentile_range(h, 99.0)) << "keeps the bulk of the distribution";
  EXPECT_LT(t, 0.5 * h.absmax()) << "clips the rare outliers";

  std::mt19937 rng(6);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> flat(200000);
  for (auto& v : flat) v = u(rng);
  AbsHistogram hu;
  hu.add(flat.data(), static_cast<int64_t>(flat.size()));
  EXPECT_GT(entropy_range(hu), 0.9 * hu.absmax());
  EXPECT_LE(entropy_range(hu), hu.absmax());
}

}  // namespace
}  // namespace mixq::calib
