// Validation of a converted model, from the bundle `mixq convert` writes next to it
// (OUT.validate.json, schema mixq.validate-bundle, docs/validate.md) or from explicit paths:
// the files are checked against the bundle's SHA-256, the quantized model is run next to its
// reference on the evaluation data, and the report gives per output SQNR/cosine/max abs error/
// top-1 agreement, the task metric, whether the budget holds, how far the run is from the
// simulation the converter measured, and latencies (median of `iters` after a warm-up run).
//
// `--device cpu` runs both models on the CPU executor the converter verified with (the
// simulation gap is 0 by construction; the gate works on CI machines without a GPU).
// `--device cuda` runs both on the GPU through the device executor (lib/gpu): the reference in
// FP32 (TF32 off), the quantized model with real INT8/FP8/FP16 GEMMs, plus an all-FP16 version
// of the reference for the latency comparison; latencies are CUDA-event medians; the report
// lists the nodes that ran on the CPU (strict_gpu refuses them) and the peak device memory.
#pragma once

#include <filesystem>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "mixq/analysis/metrics.h"
#include "mixq/core/status.h"

namespace mixq::calib {

struct ValidateOptions {
  std::filesystem::path bundle;  // OUT.validate.json; optional when the three paths are given
  std::filesystem::path model, reference, data;  // override the bundle's
  std::optional<analysis::Metric> metric;        // override the bundle's budget
  std::optional<double> max_drop, min_sqnr;
  int iters = 10;
  int threads = 0;
  std::string device = "cpu";  // "cpu" or "cuda"
  bool strict_gpu = false;     // cuda: a node without a device kernel is an error
};

struct ValidateResult {
  nlohmann::ordered_json report;  // schema mixq.validate, version 1
  bool budget_met = true;
};

// Bad input (exit 2): an unreadable or malformed bundle, a missing file, a file whose SHA-256
// differs from the bundle's (named, with both hashes), data that do not fit the models.
// No device (exit 5) for cuda without a usable device; unsupported (exit 3) under strict_gpu.
Expected<ValidateResult> validate(const ValidateOptions& options);

}  // namespace mixq::calib
