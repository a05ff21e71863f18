// The percentile clipping range of a histogram.
#pragma once

#include "mixq/calibration/observers/observer_histogram.h"

namespace mixq::calib {

// Clipping thresholds T (quantize to [-T, T]) derived from a histogram. All return a value in
// (0, absmax]; with no non-zero data they return 0.
//
// percentile: the upper edge of the bin where the cumulative count first reaches p percent
// of all values (conservative by at most one bin width), capped at absmax.
double percentile_range(const AbsHistogram& h, double p);

}  // namespace mixq::calib
