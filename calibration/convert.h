// The converter: calibrate (or reuse RANGES.json), rewrite to FP8, INT8 or FP16 QDQ ONNX, write
// OUT atomically, then re-load OUT and verify it on evaluation data against the FP32 model.
// The report (schema "mixq.convert", version 1, documented in docs/convert.md) holds the inputs'
// SHA-256, the flags, the per-layer choices, the rewrite log, the verification per output, the
// task metrics, the budget and whether it was met, file sizes and timings.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "mixq/analysis/metrics.h"
#include "mixq/analysis/plan_search.h"
#include "mixq/calibration/calibrate.h"
#include "mixq/core/status.h"
#include "mixq/quant/plan.h"
#include "mixq/quant/qdq_emit.h"

namespace mixq::calib {

struct ConvertOptions {
  quant::Precision precision = quant::Precision::kFp8;
  // Activation range method; default the format-aware MSE search (see docs/convert.md for the
  // measurements behind it).
  std::optional<Method> method;
  std::filesystem::path data;        // calibration data (not needed with weights_only or ranges)
  std::filesystem::path eval;        // evaluation data; default: the calibration data
  std::filesystem::path ranges;      // RANGES.json to reuse instead of calibrating
  std::vector<std::string> exclude;  // ECMAScript regexes on node names: kept in FP32
  std::filesystem::path plan;        // PLAN.json to replay (then `precision` is not used)
  std::optional<quant::Plan> plan_entries;  // an in-memory plan (convert_auto's rounds)
  std::vector<std::string> overrides;       // "REGEX=fp32|fp16|int8|fp8", applied in order
  std::vector<std::string> op_types;        // default: MatMul, Gemm, Conv, ConvTranspose
  std::vector<std::string> keep_fp32;       // FP16: op types kept in FP32 (default list if empty)
  bool quantize_bmm = false;
  // A model that already holds Q/DQ nodes: fold them away (quant/qdq_strip.h) and quantize the
  // float model they simulate, which is also the verification's reference. Refused without.
  bool requantize = false;
  bool weights_only = false;
  bool external_data = false;
  int64_t opset = 0;  // 0: the lowest the precision allows
  int threads = 0;
  std::string target = "h100";  // device profile for the speed estimate (analysis/plan_search.h)
  std::optional<analysis::Metric> metric;
  std::optional<double> max_drop;  // in the metric's unit (see lib/analysis/metrics.h)
  std::optional<double> min_sqnr;  // dB floor for --metric sqnr
  std::function<void(const std::string&)> warn;    // non-fatal notes for the user
  std::function<void(int64_t, int64_t)> progress;  // calibration progress
};

struct ConvertResult {
  nlohmann::ordered_json report;
  nlohmann::ordered_json plan;  // PLAN.json of what was applied (schema mixq.plan, version 1)
  // The validation bundle (schema mixq.validate-bundle, version 1, docs/validate.md) with
  // absolute paths; the command line makes them relative to where it writes the bundle.
  nlohmann::ordered_json bundle;
  bool budget_met = true;  // also true when no budget was given
};

// Converts `model_path` into `out_path`. Errors: bad input (exit 2) for unreadable or
// mismatched model/data/ranges, missing calibration data, a model that already holds Q/DQ
// nodes; unsupported (exit 3) for an op the rewrite must touch but cannot. The budget not being
// met is not an error: the result says so and OUT and the report are still written.
Expected<ConvertResult> convert(const std::filesystem::path& model_path,
                                const std::filesystem::path& out_path,
                                const ConvertOptions& options);

struct AutoOptions {
  std::vector<quant::Precision> formats = {quant::Precision::kFp8, quant::Precision::kInt8,
                                           quant::Precision::kFp16};
  analysis::Objective objective = analysis::Objective::kLatency;
  int max_rounds = 8;  // verification rounds (the first plan, then one promotion each)
  std::filesystem::path ranges_out;  // where the calibrated RANGES.json is kept (required)
};

// --precision auto: calibrate once (RANGES.json kept at ranges_out), measure every layer's
// sensitivity per format (calibration/analyze.h), choose the plan of least cost (time or size
// on options.target, analysis/plan_search.h) whose summed predicted drop is within the budget,
// convert and verify it; while the measured drop exceeds the budget, promote the layer with the
// best drop reduction per added cost and convert again, up to max_rounds. The result is the
// last round's (OUT holds it); the report's "auto" block lists the sensitivities used and every
// round. Needs options.metric (not sqnr) and options.max_drop. Not meeting the budget is not an
// error: budget_met says so (exit 4).
Expected<ConvertResult> convert_auto(const std::filesystem::path& model_path,
                                     const std::filesystem::path& out_path,
                                     const ConvertOptions& options,
                                     const AutoOptions& auto_options);

// Reads a PLAN.json (schema mixq.plan, version 1) for --plan. A plan made for a model whose
// SHA-256 is not `model_hash` is accepted with a call to `warn` (layers are pinned by name).
// Bad input (naming the file) for unreadable or invalid JSON, another schema or version, a layer
// without a string "name" and "precision", an unknown precision or a layer named twice.
Expected<quant::Plan> load_plan(const std::filesystem::path& path, const std::string& model_hash,
                                const std::function<void(const std::string&)>& warn);

}  // namespace mixq::calib
