#include "mixq/exec/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>

namespace mixq::exec {

double peak_rss_mb() {
  struct rusage ru {};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

Expected<BenchResult> bench(Executor& ex, const NamedTensors& feeds, int iters, int warmup) {
  if (iters < 1) return usage_error("--iters must be at least 1");
  BenchResult r;
  r.iters = iters;
  r.warmup = std::max(0, warmup);
  r.threads = ex.threads();
  int64_t peak = 0;
  for (int i = 0; i < r.warmup; ++i) {
    auto out = ex.run(feeds);
    if (!out.ok()) return out.status();
  }
  for (int i = 0; i < iters; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto out = ex.run(feeds);
    const auto t1 = std::chrono::steady_clock::now();
    if (!out.ok()) return out.status();
    r.times_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
    peak = std::max(peak, ex.last_run_stats().peak_bytes);
  }
  std::vector<double> sorted = r.times_ms;
  std::sort(sorted.begin(), sorted.end());
  r.min_ms = sorted.front();
  r.max_ms = sorted.back();
  const size_t n = sorted.size();
  r.median_ms = n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
  r.peak_rss_mb = peak_rss_mb();
  r.peak_tensor_mb = static_cast<double>(peak) / (1024.0 * 1024.0);
  return r;
}

}  // namespace mixq::exec
