// Times float32 -> FP8 conversion of 16M values on one thread: the scalar encoder in a loop
// against the bulk (vectorised) one, for E4M3FN and E5M2, saturating:
//
//   build/tools/convert_bench
//
// Median of 9 runs; prints ns per value and the speed-up. Not installed; for docs/benchmarks.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "median_timer.h"

#include "mixq/core/float8.h"

int main() {
  const size_t n = size_t{1} << 24;
  std::vector<float> x(n);
  std::mt19937 rng(0);
  std::normal_distribution<float> d(0.0f, 100.0f);
  for (auto& v : x) v = d(rng);
  std::vector<uint8_t> out(n);
  struct Case {
    const char* name;
    uint8_t (*scalar)(float, bool);
    void (*bulk)(const float*, uint8_t*, size_t, bool);
  };
  const Case cases[] = {{"E4M3FN", mixq::float_to_float8e4m3fn, mixq::floats_to_float8e4m3fn},
                        {"E5M2", mixq::float_to_float8e5m2, mixq::floats_to_float8e5m2}};
  for (const auto& c : cases) {
    const double scalar = median_ms(
        [&] {
          for (size_t i = 0; i < n; ++i) out[i] = c.scalar(x[i], true);
        },
        1, 9);
    const double bulk = median_ms([&] { c.bulk(x.data(), out.data(), n, true); }, 1, 9);
    std::printf("%-7s scalar %.3f ns/value, bulk %.3f ns/value, %.1fx\n", c.name,
                scalar * 1e6 / double(n), bulk * 1e6 / double(n), scalar / bulk);
  }
}
