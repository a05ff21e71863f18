// Timing model runs: warm-up, repeated runs, min/median/max, and memory.
#pragma once

#include <cstdint>
#include <vector>

#include "mixq/exec/executor.h"

namespace mixq::exec {

struct BenchResult {
  int iters = 0;
  int warmup = 0;
  int threads = 0;
  double min_ms = 0;
  double median_ms = 0;
  double max_ms = 0;
  double peak_rss_mb = 0;     // the process's peak resident set size, MiB
  double peak_tensor_mb = 0;  // most bytes mixq held at once during a run, MiB
  std::vector<double> times_ms;
};

// Runs `feeds` `warmup` times untimed, then `iters` times timed (wall clock per run).
Expected<BenchResult> bench(Executor& ex, const NamedTensors& feeds, int iters, int warmup);

// Peak resident set size of this process so far, in MiB.
double peak_rss_mb();

}  // namespace mixq::exec
