#include "mixq/exec/bench.h"

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <set>

namespace mixq::exec {

double peak_rss_mb() {
  // VmHWM is the high-water mark of this program image. getrusage's ru_maxrss survives exec on
  // Linux, so a mixq started by a large parent (a Python harness) would report the parent's
  // resident size; it is only the fallback where /proc is missing.
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("VmHWM:", 0) == 0) return std::strtod(line.c_str() + 6, nullptr) / 1024.0;
  }
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

namespace {

class TimingObserver : public Observer {
 public:
  void start() {
    last_ = std::chrono::steady_clock::now();
    last_node_ = nullptr;
  }
  void on_output(const ir::Node& node, const ir::Value&, const ir::Tensor&) override {
    if (&node == last_node_) return;  // a later output of the same node
    const auto now = std::chrono::steady_clock::now();
    auto& [nodes, ms] = by_op_[node.op_type()];
    ms += std::chrono::duration<double, std::milli>(now - last_).count();
    seen_.insert(&node);
    last_ = now;
    last_node_ = &node;
  }
  std::map<std::string, std::pair<int64_t, double>>& by_op() { return by_op_; }
  const std::set<const ir::Node*>& seen() const { return seen_; }

 private:
  std::chrono::steady_clock::time_point last_;
  const ir::Node* last_node_ = nullptr;
  std::map<std::string, std::pair<int64_t, double>> by_op_;
  std::set<const ir::Node*> seen_;
};

}  // namespace

Expected<std::vector<OpTime>> profile_ops(Executor& ex, const NamedTensors& feeds, int iters) {
  if (iters < 1) return usage_error("--iters must be at least 1");
  TimingObserver obs;
  for (int i = 0; i < iters; ++i) {
    obs.start();
    auto out = ex.run(feeds, &obs);
    if (!out.ok()) return out.status();
  }
  for (const ir::Node* n : obs.seen()) ++obs.by_op()[n->op_type()].first;
  double total = 0;
  for (const auto& [op, v] : obs.by_op()) total += v.second;
  std::vector<OpTime> out;
  for (const auto& [op, v] : obs.by_op()) {
    out.push_back({op, v.first, v.second / iters, total > 0 ? v.second / total : 0.0});
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const OpTime& a, const OpTime& b) { return a.ms_per_run > b.ms_per_run; });
  return out;
}

}  // namespace mixq::exec
