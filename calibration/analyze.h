// Per-layer sensitivity analysis (`mixq analyze`): for every quantizable layer and every format
// (FP8 E4M3, INT8, FP16), the change of the task metric when only that layer is quantized and
// everything else stays FP32, and the layer-local output SQNR.
//
// Cost: one FP32 pass per evaluation run, capturing the activations, then for each (layer,
// format) only the layer's suffix (analyze_suffix.h) is recomputed, fed from the captured
// activations. The statistics are accumulated across runs (sums for SQNR and cosine, counts for
// top-1 agreement and accuracy, NLL sums for perplexity), so the result equals the metric of
// the whole data set. One run's captured activations are held at a time, bounded by
// `max_memory_mb`.
//
// The result (schema "mixq.sensitivity", version 1, documented in docs/analyze.md) holds the
// inputs' SHA-256, the flags, the FP32 metric and per layer: op type, weight shape, FLOPs, weight
// bytes per format and, per format, the metric, its drop, the output SQNR/cosine/top-1 agreement
// and the layer's own output SQNR; layers are sorted worst first.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mixq/analysis/metrics.h"
#include "mixq/calibration/calibrate.h"
#include "mixq/core/status.h"
#include "mixq/quant/qdq_emit.h"

namespace mixq::calib {

struct AnalyzeOptions {
  std::filesystem::path data;    // calibration data (for the activation ranges)
  std::filesystem::path eval;    // evaluation data; default: the calibration data
  std::filesystem::path ranges;  // RANGES.json to reuse instead of calibrating
  std::vector<quant::Precision> formats = {quant::Precision::kFp8, quant::Precision::kInt8,
                                           quant::Precision::kFp16};
  // Default: accuracy when the eval data have `labels`, ppl with `targets` (or next-token ids),
  // else cosine.
  std::optional<analysis::Metric> metric;
  Method method = Method::kMse;  // activation range method for INT8/FP8
  int threads = 0;
  int64_t max_memory_mb = 2048;  // bound on one run's captured activations
  std::string layers;            // ECMAScript regex on node names; empty: every layer
  int64_t max_layers = 0;        // analyze the first K matching layers (model order); 0: all
  std::function<void(const std::string&)> warn;
  std::function<void(int64_t, int64_t)> progress;  // (runs done, runs in total)
};

// Analyzes `model_path`. Errors: usage (exit 1) for a bad --layers regex or an empty format
// list; bad input (exit 2) for unreadable or mismatched model/data/ranges, missing calibration
// data, a metric the eval data cannot give, captured activations over max_memory_mb;
// unsupported (exit 3) for an op the executor or the rewrite cannot handle.
Expected<nlohmann::ordered_json> analyze(const std::filesystem::path& model_path,
                                         const AnalyzeOptions& options);

// The budget unit of a metric's drop, as docs/analyze.md states it.
const char* sensitivity_unit(analysis::Metric m);

}  // namespace mixq::calib
