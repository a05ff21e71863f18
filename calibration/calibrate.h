// Calibration: run a model over a data set with the StatsCollector observer and turn what it saw
// into RANGES.json (schema "mixq.ranges", version 1, documented in docs/ranges.md):
// per activation tensor the statistics, every method's clipping range and the range chosen for
// each target format; per quantizable layer the per-channel absmax of its activation input; per
// constant weight the per-tensor and per-output-channel absmax. The data are streamed: one run's
// inputs in memory at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "mixq/ir/model.h"

#include "mixq/core/status.h"
#include "mixq/quant/qdq_emit.h"

namespace mixq::calib {

enum class Method { kMinMax, kPercentile, kEntropy, kMse };

// "minmax" ... "mse"; nullopt for an unknown name.
std::optional<Method> parse_method(const std::string& name);
const char* method_name(Method m);

struct CalibrateOptions {
  Method method = Method::kEntropy;
  double percentile = 99.99;
  int bins = 2048;
  int64_t max_samples = 0;  // 0: all
  int threads = 0;
  // Activations to observe (graph inputs or node outputs, by name); empty: every one. The
  // others are neither recorded nor held: RANGES.json lists only these, and only the layers
  // whose activation input is one of them. A name that is no graph input or node output of the
  // model is refused (bad input, naming it).
  std::vector<std::string> tensors;
  // Called after each run with (samples done, samples in total).
  std::function<void(int64_t, int64_t)> progress;
};

// Calibrates `model_path` on `data_path`. Bad input (exit 2) for an unreadable model or data,
// inputs the data lacks or gives with a wrong dtype/shape, and an empty data set.
Expected<nlohmann::ordered_json> calibrate(const std::filesystem::path& model_path,
                                           const std::filesystem::path& data_path,
                                           const CalibrateOptions& options);
// As above for a model already in memory (e.g. rewritten); `model_path` and `model_hash` are
// what RANGES.json records as its model.
Expected<nlohmann::ordered_json> calibrate(const ir::Model& model,
                                           const std::filesystem::path& model_path,
                                           const std::string& model_hash,
                                           const std::filesystem::path& data_path,
                                           const CalibrateOptions& options);

// Reads a RANGES.json for reuse. Bad input (naming the file) when it is not mixq.ranges
// version 1, or when it was computed for a model whose SHA-256 is not `model_hash`.
Expected<nlohmann::ordered_json> load_ranges(const std::filesystem::path& path,
                                             const std::string& model_hash);

// The clipping range RANGES.json gives `tensor` by `method` for format p (MSE is per format:
// INT8's or FP8 E4M3's); nullopt when the tensor has no ranges.
std::optional<double> range_for(const nlohmann::ordered_json& ranges, const std::string& tensor,
                                quant::Precision p, Method method);

}  // namespace mixq::calib
