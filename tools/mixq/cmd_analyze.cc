// mixq analyze MODEL --data CALIB [--eval EVAL] [--ranges RANGES.json] [--formats fp8,int8,fp16]
//               [--metric M] [--method mse] [--layers REGEX] [--max-layers K] [--threads N]
//               [--max-memory MB] -o SENS.json [--html SENS.html] [--quiet]
#include <unistd.h>

#include <iostream>
#include <memory>

#include "command.h"
#include "mixq/calibration/analyze.h"
#include "mixq/calibration/data/data_source.h"
#include "mixq/core/file_io.h"
#include "mixq/quant/plan.h"
#include "mixq/report/sensitivity_report.h"
#include "paths.h"
#include "progress.h"

namespace mixq::cli {
namespace {

struct AnalyzeCliOptions {
  std::string model, data, eval, ranges, out, html, metric, method = "mse", layers;
  std::vector<std::string> formats = {"fp8", "int8", "fp16"};
  int64_t max_layers = 0, max_memory = 2048;
  int threads = 0;
  bool quiet = false;
};

}  // namespace

Command add_analyze_command(CLI::App& root) {
  auto opts = std::make_shared<AnalyzeCliOptions>();
  CLI::App* app = root.add_subcommand(
      "analyze", "Per-layer sensitivity to FP8, INT8 and FP16 (one layer quantized at a time)");
  app->add_option("model", opts->model, "ONNX model file")->required();
  app->add_option("-o,--output", opts->out, "SENS.json to write")->required();
  app->add_option("--data", opts->data, "Calibration data (.npz, folder of .npy, test_data_set)");
  app->add_option("--eval", opts->eval,
                  "Held-out evaluation data (labels/targets arrays give accuracy/perplexity); "
                  "default: the calibration data, with a warning");
  app->add_option("--ranges", opts->ranges,
                  "Reuse this RANGES.json (from mixq calibrate) instead of calibrating; refused "
                  "when it was made for another model");
  app->add_option("--formats", opts->formats, "Formats to try (default fp8,int8,fp16)")
      ->delimiter(',');
  app->add_option("--metric", opts->metric,
                  "sqnr, cosine, top1, accuracy or ppl (default: accuracy with labels, ppl with "
                  "targets or next-token ids, else cosine)");
  app->add_option("--method", opts->method,
                  "Activation ranges for INT8/FP8: minmax, percentile, entropy or mse (default)");
  app->add_option("--layers", opts->layers, "Only layers whose node name matches this regex");
  app->add_option("--max-layers", opts->max_layers, "Only the first K layers (model order)");
  app->add_option("--threads", opts->threads, "Threads (default: all cores)");
  app->add_option("--max-memory", opts->max_memory,
                  "Refuse when one run's captured activations exceed this many MiB (2048)");
  app->add_option("--html", opts->html, "Also write a self-contained HTML page");
  app->add_flag("--quiet", opts->quiet, "No progress bar or table");
  return Command{
      app, [opts]() -> Status {
        const std::vector<std::string> inputs = {opts->model, opts->data, opts->eval, opts->ranges};
        MIXQ_RETURN_IF_ERROR(check_output_path(opts->out, inputs));
        if (!opts->html.empty()) {
          MIXQ_RETURN_IF_ERROR(check_output_path(opts->html, inputs));
          if (opts->html == opts->out) return usage_error("--html and -o name the same file");
        }
        calib::AnalyzeOptions ao;
        MIXQ_ASSIGN_OR_RETURN(ao.formats, quant::parse_formats(opts->formats));
        if (!opts->metric.empty()) {
          ao.metric = analysis::parse_metric(opts->metric);
          if (!ao.metric) {
            return usage_error("--metric must be sqnr, cosine, top1, accuracy or ppl, got '",
                               opts->metric, "'");
          }
        }
        const auto method = calib::parse_method(opts->method);
        if (!method) {
          return usage_error("--method must be minmax, percentile, entropy or mse, got '",
                             opts->method, "'");
        }
        if (opts->max_layers < 0) return usage_error("--max-layers must be >= 0");
        if (opts->max_memory <= 0) return usage_error("--max-memory must be > 0");
        // Sensitivity metrics over NaN outputs mean nothing: refuse such --eval data up front.
        if (!opts->eval.empty()) MIXQ_RETURN_IF_ERROR(calib::check_eval_data_finite(opts->eval));
        ao.method = *method;
        ao.data = opts->data;
        ao.eval = opts->eval;
        ao.ranges = opts->ranges;
        ao.layers = opts->layers;
        ao.max_layers = opts->max_layers;
        ao.max_memory_mb = opts->max_memory;
        ao.threads = opts->threads;
        ao.warn = [](const std::string& s) { std::cerr << "warning: " << s << "\n"; };
        auto bar = std::make_shared<ProgressBar>(!opts->quiet && isatty(2));
        ao.progress = [bar](int64_t done, int64_t total) { bar->update(done, total); };
        MIXQ_ASSIGN_OR_RETURN(auto sens, calib::analyze(opts->model, ao));
        MIXQ_RETURN_IF_ERROR(write_file_atomic(opts->out, sens.dump(2) + "\n"));
        if (!opts->html.empty()) {
          MIXQ_RETURN_IF_ERROR(write_file_atomic(opts->html, report::sensitivity_html(sens)));
        }
        if (!opts->quiet) std::cout << report::sensitivity_table(sens);
        std::cout << "wrote " << opts->out << (opts->html.empty() ? "" : " and " + opts->html)
                  << "\n";
        return Status::ok_status();
      }};
}

}  // namespace mixq::cli
