// The entropy (KL-divergence) clipping range of a histogram.
#pragma once

#include "mixq/calibration/observers/observer_histogram.h"

namespace mixq::calib {

// entropy: TensorRT's KL-divergence calibration. For each candidate i in [128, bins], the
// reference distribution is the first i bins with everything above folded into bin i-1, the
// candidate is that distribution quantized to 128 levels and expanded back over the non-empty
// bins; the i with the smallest KL(reference || candidate) gives T = (i + 0.5) * bin width
// (capped at absmax). The search takes every 8th candidate, then every candidate within 8 of
// the best of those.
double entropy_range(const AbsHistogram& h);

}  // namespace mixq::calib
