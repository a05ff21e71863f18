#include "mixq/calibration/observers/observer_percentile.h"

#include <algorithm>

namespace mixq::calib {

double percentile_range(const AbsHistogram& h, double p) {
  if (h.absmax() == 0 || h.total() == 0) return 0;
  const double want = std::clamp(p, 0.0, 100.0) / 100.0 * static_cast<double>(h.total());
  int64_t cum = 0;
  const auto& c = h.counts();
  for (size_t i = 0; i < c.size(); ++i) {
    cum += c[i];
    if (static_cast<double>(cum) >= want) {
      return std::min(h.absmax(), static_cast<double>(i + 1) * h.bin_width());
    }
  }
  return h.absmax();
}

}  // namespace mixq::calib
