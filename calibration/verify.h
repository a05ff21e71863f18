// Verification: a candidate (quantized) model against its reference on evaluation data, with the
// CPU executor. Per output: SQNR, cosine, max abs error, top-1 agreement (analysis/metrics.h);
// for the first output the task metric when the data allow it: accuracy with `labels`,
// perplexity with `targets` or, without them, the next tokens of an int64 [N, T] input whose
// logits are [N, T, V]; and, given a metric, the budget check. `mixq convert` verifies what it
// wrote with it; `mixq validate --device cpu` re-checks a bundle with it.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mixq/analysis/metrics.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/core/status.h"
#include "mixq/ir/model.h"

namespace mixq::calib {

struct VerifyOptions {
  int threads = 0;
  std::optional<analysis::Metric> metric;
  std::optional<double> max_drop;  // in the metric's unit
  std::optional<double> min_sqnr;  // dB floor for sqnr
  // Tensors of the reference whose dims the first run should record (node outputs and graph
  // inputs), e.g. the layers' inputs and outputs for the cost estimate.
  std::set<std::string> record_dims;
  // How a model runs (default: the CPU executor); `mixq validate --device cuda` makes device
  // executors here (for both models: the reference runs in FP32 on the device, TF32 off).
  std::function<Expected<RunFn>(const ir::Model&)> make_runner;
};

struct TaskMetric {
  std::string name;  // "accuracy" or "ppl"
  double reference = 0, candidate = 0;
};

struct Verification {
  nlohmann::ordered_json outputs = nlohmann::ordered_json::array();
  std::optional<TaskMetric> task;
  nlohmann::ordered_json budget;  // null without a metric
  bool budget_met = true;
  std::map<std::string, std::vector<int64_t>> dims;
  // {"outputs": [...], "task": {...}} as the reports write it.
  nlohmann::ordered_json json_block() const;
};

// The dims the first run over `eval` gives the named tensors of `model` (node outputs, graph
// inputs), from one FP32 pass over the data.
Expected<std::map<std::string, std::vector<int64_t>>> record_dims(
    const ir::Model& model, const std::filesystem::path& eval, int threads,
    const std::set<std::string>& names);

// Runs both models over `eval` and compares them. Bad input when the data do not fit the
// models, or the metric needs labels/targets the data lack.
Expected<Verification> verify_models(const ir::Model& reference, const ir::Model& candidate,
                                     const std::filesystem::path& eval,
                                     const VerifyOptions& options);

}  // namespace mixq::calib
