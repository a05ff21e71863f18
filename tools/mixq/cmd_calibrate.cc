// mixq calibrate MODEL --data DATA [--method minmax|percentile|entropy|mse] [--percentile P]
//                [--bins N] [--max-samples N] [--tensors NAME[,NAME...]] [--threads N] [--quiet]
//                -o RANGES.json
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>

#include "command.h"
#include "mixq/calibration/calibrate.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/core/file_io.h"
#include "mixq/onnx/model_io.h"
#include "paths.h"
#include "progress.h"

namespace mixq::cli {
namespace {

struct CalibrateCliOptions {
  std::string model, data, out, method = "entropy";
  double percentile = 99.99;
  int bins = 2048;
  int64_t max_samples = 0, max_memory = 0;
  int threads = 0;
  std::vector<std::string> tensors;
  bool quiet = false;
};

}  // namespace

Command add_calibrate_command(CLI::App& root) {
  auto opts = std::make_shared<CalibrateCliOptions>();
  CLI::App* app = root.add_subcommand("calibrate", "Collect activation ranges into RANGES.json");
  app->add_option("model", opts->model, "ONNX model file")->required();
  app->add_option("--data", opts->data, "Calibration data (.npz, folder of .npy, test_data_set)")
      ->required();
  app->add_option("--method", opts->method,
                  "Range chosen for activations: minmax, percentile, entropy (default) or mse");
  app->add_option("--percentile", opts->percentile, "Percentile for --method percentile (99.99)");
  app->add_option("--bins", opts->bins, "Histogram bins, a power of two (default 2048)");
  app->add_option("--max-samples", opts->max_samples, "Use at most this many samples");
  app->add_option("--tensors", opts->tensors,
                  "Observe only these activations (graph inputs or node outputs, comma-separated)")
      ->delimiter(',');
  app->add_option("--threads", opts->threads, "Threads (default: all cores)");
  app->add_flag("--quiet", opts->quiet, "No progress bar");
  app->add_option("--max-memory", opts->max_memory,
                  "Refuse (exit 2) before any work when the model's tensors (initializers, and "
                  "activations sized for the data) exceed this many MiB; 0: no limit (default)");
  app->add_option("-o,--output", opts->out, "RANGES.json to write")->required();
  return Command{
      app, [opts]() -> Status {
        MIXQ_RETURN_IF_ERROR(check_output_path(opts->out, {opts->model, opts->data}));
        const auto method = calib::parse_method(opts->method);
        if (!method) {
          return usage_error("--method must be minmax, percentile, entropy or mse, got '",
                             opts->method, "'");
        }
        if (opts->max_samples < 0) return usage_error("--max-samples must be >= 0");
        if (opts->max_memory < 0) return usage_error("--max-memory must be >= 0");
        if (opts->max_memory > 0) {
          MIXQ_ASSIGN_OR_RETURN(auto model, onnx::load_model(opts->model));
          MIXQ_RETURN_IF_ERROR(calib::check_memory_limit(*model, opts->data, opts->max_memory));
        }
        calib::CalibrateOptions co;
        co.method = *method;
        co.percentile = opts->percentile;
        co.bins = opts->bins;
        co.max_samples = opts->max_samples;
        co.threads = opts->threads;
        co.tensors = opts->tensors;
        auto bar = std::make_shared<ProgressBar>(!opts->quiet && isatty(2));
        co.progress = [bar](int64_t done, int64_t total) { bar->update(done, total); };
        MIXQ_ASSIGN_OR_RETURN(auto j, calib::calibrate(opts->model, opts->data, co));
        const std::string text = j.dump(2) + "\n";
        MIXQ_ASSIGN_OR_RETURN(auto f, AtomicFile::create(opts->out));
        MIXQ_RETURN_IF_ERROR(f->write(text.data(), text.size()));
        MIXQ_RETURN_IF_ERROR(f->commit());
        for (const auto& bad : j["data"]["excluded_samples"]) {
          std::cerr << "warning: sample " << bad["sample"].get<int64_t>() << " of " << opts->data
                    << " has NaN or Inf in input '" << bad["input"].get<std::string>()
                    << "'; it is left out of the ranges\n";
        }
        std::cout << "calibrated " << j["activations"].size() << " tensors on "
                  << j["data"]["samples"].get<int64_t>() << " samples (" << opts->method
                  << "); wrote " << opts->out << "\n";
        return Status::ok_status();
      }};
}

}  // namespace mixq::cli
