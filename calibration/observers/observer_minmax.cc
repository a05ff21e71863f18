#include "mixq/calibration/observers/observer_minmax.h"

#include <algorithm>
#include <cmath>

namespace mixq::calib {

void MinMax::add(const float* x, int64_t n, int64_t run) {
  float lo = std::numeric_limits<float>::infinity(), hi = -lo, amax = 0;
  int64_t bad = 0, first_bad = -1;
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    if (!std::isfinite(v)) {
      if (bad++ == 0) first_bad = i;
      continue;
    }
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    amax = std::max(amax, std::fabs(v));
  }
  if (bad > 0 && nonfinite == 0) {
    first_nonfinite_run = run;
    first_nonfinite_index = first_bad;
  }
  nonfinite += bad;
  count += n - bad;
  if (n - bad > 0) {
    min = std::min(min, static_cast<double>(lo));
    max = std::max(max, static_cast<double>(hi));
    absmax = std::max(absmax, static_cast<double>(amax));
  }
}

void channel_absmax(const float* x, const std::vector<int64_t>& dims, int64_t axis,
                    std::vector<float>& acc) {
  const auto rank = static_cast<int64_t>(dims.size());
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= dims[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= dims[static_cast<size_t>(d)];
  const int64_t channels = dims[static_cast<size_t>(axis)];
  if (acc.size() != static_cast<size_t>(channels)) acc.assign(static_cast<size_t>(channels), 0.0f);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* p = x + (o * channels + c) * inner;
      float m = acc[static_cast<size_t>(c)];
      for (int64_t i = 0; i < inner; ++i) {
        const float a = std::fabs(p[i]);
        if (std::isfinite(a)) m = std::max(m, a);
      }
      acc[static_cast<size_t>(c)] = m;
    }
  }
}

}  // namespace mixq::calib
