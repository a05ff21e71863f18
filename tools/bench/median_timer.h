// Timing for the micro-benchmarks in tools/bench: `warmup` untimed calls, then the median
// wall time of `runs` calls, in milliseconds.
#pragma once

#include <algorithm>
#include <chrono>
#include <vector>

template <typename F>
double median_ms(F&& f, int warmup, int runs) {
  for (int i = 0; i < warmup; ++i) f();
  std::vector<double> t;
  for (int i = 0; i < runs; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    f();
    t.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(t.begin(), t.end());
  const size_t n = t.size();
  return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}
