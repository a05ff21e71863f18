// The format-aware MSE clipping range of a histogram.
#pragma once

#include "mixq/calibration/observers/observer_histogram.h"

namespace mixq::calib {

// Target formats for the format-aware ranges: the symmetric grid the range maps onto.
enum class RangeFormat { kInt8, kFp8E4M3 };

// mse: the threshold among bin edges that minimises the mean squared error of quantizing the
// histogram's values (bin centres weighted by count) to `format`'s symmetric grid with scale
// T / qmax (INT8: round to nearest even, qmax 127; FP8 E4M3: float8 rounding, qmax 448), values
// beyond T clipped. The best clipping differs by format: FP8's relative precision makes large
// values cheaper to keep. The search takes every (bins/128)-th edge from bins/32 up, then every
// edge near the best of those. With `prune`, a threshold whose clipped values alone already err
// more than the best so far (a bound from suffix sums, with a safety margin far above its
// rounding) is not evaluated: the result is the same, with fewer evaluations. `evaluated`, when
// given, receives how many thresholds were (for tests).
double mse_range(const AbsHistogram& h, RangeFormat format, bool prune = true,
                 int* evaluated = nullptr);

// The mean squared error mse_range minimises, for threshold t (exposed for tests).
double mse_of(const AbsHistogram& h, double t, RangeFormat format);
// x >= 0 rounded to the FLOAT8E4M3FN grid, saturating at 448: the search's branch-free form of
// encoding with double_to_float8e4m3fn(x, true) and decoding (exposed for tests).
double e4m3_grid_value(double x);

}  // namespace mixq::calib
