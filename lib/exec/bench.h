// Timing model runs: warm-up, repeated runs, min/median/max, and memory.
#pragma once

#include <cstdint>
#include <string>
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

// Where the time of a run goes, by op type (mixq bench --profile).
struct OpTime {
  std::string op_type;
  int64_t nodes = 0;      // main-graph nodes of this type
  double ms_per_run = 0;  // mean over the profiled runs
  double share = 0;       // of the summed time of all nodes, 0..1
};

// Runs `feeds` `iters` times with a timing observer and returns op types by descending time. A
// node's time is the wall time from the previous node's first output (or the run's start) to
// its own first output, so executor overhead between nodes is charged to the next node; a
// control-flow node includes its subgraphs. Profiled runs are not the timed runs of bench().
Expected<std::vector<OpTime>> profile_ops(Executor& ex, const NamedTensors& feeds, int iters);

// Peak resident set size of this process so far, in MiB.
double peak_rss_mb();

}  // namespace mixq::exec
