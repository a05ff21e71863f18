// Times the packed-weight GEMM tile on one thread against Eigen for inference-sized shapes:
//
//   build/tools/gemm_bench
//
// For each shape: C[M, N] = W[M, K] · X[K, N] through gemm_packed_left (weight packed once,
// outside the timing) and through the Eigen path (gemm() with no pool), 3 warm-up calls, then
// the median of 20. Prints ms and GFLOP/s. Not installed; for docs/benchmarks.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <vector>

#include "median_timer.h"

#include "kernels/gemm.h"
#include "kernels/packed_gemm.h"

int main() {
  using namespace mixq::exec;
  struct Shape {
    int64_t M, K, N;
    const char* what;
  };
  const Shape shapes[] = {{768, 256, 128, "GPT qkv weight x 128 tokens"},
                          {64, 576, 3136, "ResNet 3x3 conv, 64 channels, 56x56"},
                          {128, 1152, 784, "ResNet 3x3 conv, 128 channels, 28x28"},
                          {512, 4608, 49, "ResNet 3x3 conv, 512 channels, 7x7"}};
  std::mt19937 rng(0);
  std::uniform_real_distribution<float> d(-1, 1);
  std::printf("packed GEMM available: %s\n", packed_gemm_available() ? "yes" : "no (no AVX-512)");
  for (const auto& s : shapes) {
    std::vector<float> w(size_t(s.M * s.K)), x(size_t(s.K * s.N)), c(size_t(s.M * s.N));
    for (auto& v : w) v = d(rng);
    for (auto& v : x) v = d(rng);
    const double flop = 2.0 * double(s.M) * double(s.K) * double(s.N);
    const double eigen = median_ms(
        [&] {
          gemm<float>(nullptr, s.M, s.N, s.K, 1.0f, w.data(), s.K, false, x.data(), s.N, false,
                      0.0f, c.data(), s.N);
        },
        3, 20);
    std::printf("%-40s M=%-4lld K=%-4lld N=%-4lld  Eigen %7.3f ms %6.1f GFLOP/s", s.what,
                static_cast<long long>(s.M), static_cast<long long>(s.K),
                static_cast<long long>(s.N), eigen, flop / eigen / 1e6);
    if (packed_gemm_available()) {
      auto packed = pack_left(w.data(), s.M, s.K, s.K);
      const double ms = median_ms(
          [&] { gemm_packed_left(nullptr, *packed, s.N, x.data(), s.N, c.data(), s.N); }, 3, 20);
      std::printf("  packed %7.3f ms %6.1f GFLOP/s", ms, flop / ms / 1e6);
    }
    std::printf("\n");
  }
}
