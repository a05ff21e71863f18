// mixq convert MODEL --data CALIB -o OUT.onnx --precision fp8|int8|fp16 [options]
#include <unistd.h>
#include <algorithm>

#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>
#include <set>

#include "command.h"
#include "mixq/calibration/convert.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/core/file_io.h"
#include "mixq/onnx/model_io.h"
#include "mixq/quant/plan.h"
#include "mixq/report/convert_report.h"
#include "paths.h"
#include "progress.h"

namespace mixq::cli {
namespace {

struct ConvertCliOptions {
  std::string model, data, eval, out, report, ranges, precision, method, metric;
  std::string plan, plan_out, target = "h100", objective = "latency";
  std::vector<std::string> formats;
  int max_rounds = 8;
  std::vector<std::string> exclude, op_types, keep_fp32, overrides;
  bool quantize_bmm = false, weights_only = false, external_data = false, quiet = false,
       requantize = false;
  int64_t opset = 0, max_memory = 0;
  int threads = 0;
  double max_drop = std::nan(""), min_sqnr = std::nan("");
};

std::string next_to_output(const ConvertCliOptions& o, const std::string& suffix) {
  std::filesystem::path p(o.out);
  return (p.parent_path() / p.stem()).string() + suffix;
}

std::string number(const nlohmann::ordered_json& v, const char* fmt) {
  if (v.is_null()) return "inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v.get<double>());
  return buf;
}

void print_summary(const nlohmann::ordered_json& r) {
  const auto& sizes = r["sizes"];
  const auto& precision = r["flags"]["precision"];
  std::cout << "converted " << r["model"]["path"].get<std::string>() << " to "
            << (precision.is_null()   ? std::string("the plan")
                : precision == "auto" ? std::string("an automatic per-layer plan")
                                      : precision.get<std::string>())
            << ": " << r["output"]["path"].get<std::string>() << "\n";
  std::cout << "  layers   ";
  bool comma = false;
  for (const auto& [k, v] : r["layer_counts"].items()) {
    std::cout << (comma ? ", " : "") << k << " " << v.get<int>();
    comma = true;
  }
  std::cout << "\n  size     " << number(sizes["model_bytes"].get<double>() / 1024.0, "%.1f")
            << " KiB -> " << number(sizes["output_bytes"].get<double>() / 1024.0, "%.1f")
            << " KiB\n";
  for (const auto& o : r["verification"]["outputs"]) {
    if (!o.contains("cosine")) continue;
    std::cout << "  output " << o["name"].get<std::string>() << ": SQNR "
              << number(o["sqnr_db"], "%.2f") << " dB, cosine " << number(o["cosine"], "%.6f")
              << ", max abs error " << number(o["max_abs_error"], "%.4g") << ", top-1 agreement "
              << number(o["top1_agreement"], "%.2f") << " %\n";
  }
  if (r["verification"].contains("task")) {
    const auto& t = r["verification"]["task"];
    std::string label = t["metric"].get<std::string>();
    label.resize(std::max<size_t>(label.size() + 1, 9), ' ');
    std::cout << "  " << label << "fp32 " << number(t["fp32"], "%.4f") << " -> "
              << number(t["quantized"], "%.4f") << "\n";
  }
  if (r.contains("estimate")) {
    const auto& e = r["estimate"];
    std::cout << "  speed    " << number(e["speedup_vs_fp32"], "%.2f") << "x FP32, "
              << number(e["speedup_vs_fp16"], "%.2f") << "x all-FP16 (estimated on "
              << e["target"].get<std::string>() << ", quantizable layers)\n";
  }
  if (r.contains("auto")) {
    for (const auto& round : r["auto"]["rounds"]) {
      std::cout << "  round " << round["round"].get<int>() << "  predicted drop "
                << number(round["predicted_drop"], "%.4g") << ", measured "
                << number(round["achieved"], "%.4g") << (round["met"].get<bool>() ? ": met" : "");
      if (round.contains("promoted")) {
        std::cout << "; promoting " << round["promoted"]["layer"].get<std::string>() << " "
                  << round["promoted"]["from"].get<std::string>() << " -> "
                  << round["promoted"]["to"].get<std::string>();
      }
      std::cout << "\n";
    }
  }
  if (!r["budget"].is_null()) {
    const auto& b = r["budget"];
    std::cout << "  budget   " << b["metric"].get<std::string>() << ": achieved "
              << number(b["achieved"], "%.4g") << " (" << b["unit"].get<std::string>() << ")";
    if (!b["max_drop"].is_null()) std::cout << ", max drop " << number(b["max_drop"], "%.4g");
    if (!b["min_sqnr"].is_null()) std::cout << ", min " << number(b["min_sqnr"], "%.4g");
    std::cout << (b["met"].get<bool>() ? ": met" : ": NOT MET") << "\n";
  }
}

// Files in the output's folder whose names start with the output's stem (the model, its data
// file, reports, plan, bundle, ranges).
std::set<std::filesystem::path> output_family(const std::string& out) {
  const std::filesystem::path p(out);
  const std::filesystem::path dir = p.parent_path().empty() ? "." : p.parent_path();
  const std::string stem = p.stem().string();
  std::set<std::filesystem::path> found;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    if (e.path().filename().string().starts_with(stem)) found.insert(e.path());
  }
  return found;
}

// A convert that fails (other than by missing its budget, which keeps the model on purpose)
// leaves nothing behind: the files it created next to the output are removed.
Command remove_outputs_on_failure(Command cmd, std::shared_ptr<ConvertCliOptions> opts) {
  auto run = cmd.run;
  cmd.run = [run, opts]() -> Status {
    const auto before = output_family(opts->out);
    Status s = run();
    if (!s.ok() && s.code() != StatusCode::kBudgetExceeded) {
      for (const auto& f : output_family(opts->out)) {
        std::error_code ec;
        if (!before.count(f)) std::filesystem::remove(f, ec);
      }
    }
    return s;
  };
  return cmd;
}

}  // namespace

Command add_convert_command(CLI::App& root) {
  auto opts = std::make_shared<ConvertCliOptions>();
  CLI::App* app = root.add_subcommand(
      "convert", "Quantize a model to FP8, INT8 or FP16 QDQ ONNX, verified on evaluation data");
  app->add_option("model", opts->model, "ONNX model file (never modified)")->required();
  app->add_option("-o,--output", opts->out, "Quantized ONNX model to write")->required();
  app->add_option("--precision", opts->precision,
                  "fp8, int8 or fp16 for every layer, or auto: a format per layer chosen for "
                  "--metric/--max-drop (required unless --plan)");
  app->add_option("--formats", opts->formats, "auto: the formats to choose from (fp8,int8,fp16)")
      ->delimiter(',');
  app->add_option("--objective", opts->objective,
                  "auto: minimise estimated latency (default) or weight size");
  app->add_option("--max-rounds", opts->max_rounds,
                  "auto: verification rounds, one promotion each (default 8)");
  app->add_option("--plan", opts->plan,
                  "Replay this PLAN.json (layer -> format); layers it does not name stay FP32");
  app->add_option("--override", opts->overrides,
                  "REGEX=fp32|fp16|int8|fp8: pin the layers whose name matches (repeatable, "
                  "applied in order after --precision/--plan)");
  app->add_option("--plan-out", opts->plan_out,
                  "Where to write the applied plan (default OUT without .onnx + .plan.json)");
  app->add_option("--data", opts->data, "Calibration data (.npz, folder of .npy, test_data_set)");
  app->add_option("--eval", opts->eval,
                  "Held-out evaluation data (labels/targets arrays give accuracy/perplexity); "
                  "default: the calibration data, with a warning");
  app->add_option("--ranges", opts->ranges,
                  "Reuse this RANGES.json (from mixq calibrate) instead of calibrating; refused "
                  "when it was made for another model");
  app->add_option("--method", opts->method,
                  "Activation ranges: minmax, percentile, entropy or mse (default: mse, the "
                  "search for the clipping with the least error in the target format)");
  app->add_option("--exclude", opts->exclude,
                  "Keep nodes whose name matches this regex in FP32 "
                  "(repeatable)");
  app->add_option("--op-types", opts->op_types,
                  "Op types to quantize (default MatMul Gemm Conv ConvTranspose)")
      ->delimiter(',');
  app->add_flag("--quantize-bmm", opts->quantize_bmm,
                "Also quantize MatMuls whose both inputs are activations (attention)");
  app->add_flag("--weights-only", opts->weights_only,
                "Quantize weights only (no activation Q/DQ, no calibration data needed)");
  app->add_option("--keep-fp32", opts->keep_fp32,
                  "fp16: op types kept in FP32 (default Softmax, LayerNormalization, reductions, "
                  "Exp, Pow, ...)")
      ->delimiter(',');
  app->add_flag("--requantize", opts->requantize,
                "Accept a model that already holds Q/DQ nodes: fold them away and quantize anew");
  app->add_flag("--external-data", opts->external_data,
                "Write initializers to OUT.<hash>.data next to OUT (docs/determinism.md)");
  app->add_option("--opset", opts->opset, "Target opset (default: the lowest the precision needs)");
  app->add_option("--threads", opts->threads, "Threads (default: all cores)");
  app->add_option(
      "--target", opts->target,
      "Device profile for the cost model and speed estimate: h100 (default), a100, l40s, or a "
      "JSON file overriding the table (docs/plan.md)");
  app->add_option("--metric", opts->metric, "sqnr, cosine, top1, accuracy or ppl");
  app->add_option("--max-drop", opts->max_drop,
                  "Budget in the metric's unit: percentage points (top1, accuracy), percent "
                  "increase (ppl), 1-cosine (cosine); exit 4 when exceeded");
  app->add_option("--min-sqnr", opts->min_sqnr, "Budget for --metric sqnr: SQNR floor in dB");
  app->add_option("--report", opts->report,
                  "Report JSON (default OUT without .onnx + .report.json)");
  app->add_flag("--quiet", opts->quiet, "No progress bar or summary");
  app->add_option("--max-memory", opts->max_memory,
                  "Refuse (exit 2) before any work when the model's tensors (initializers, and "
                  "activations sized for the data) exceed this many MiB; 0: no limit (default)");
  Command cmd{
      app, [opts]() -> Status {
        const std::string report =
            opts->report.empty() ? next_to_output(*opts, ".report.json") : opts->report;
        const std::string plan_out =
            opts->plan_out.empty() ? next_to_output(*opts, ".plan.json") : opts->plan_out;
        MIXQ_RETURN_IF_ERROR(check_output_path(
            opts->out, {opts->model, opts->data, opts->eval, opts->ranges, opts->plan}));
        MIXQ_RETURN_IF_ERROR(check_output_path(
            report, {opts->model, opts->data, opts->eval, opts->ranges, opts->out, opts->plan}));
        MIXQ_RETURN_IF_ERROR(check_output_path(
            plan_out, {opts->model, opts->data, opts->eval, opts->ranges, opts->out, report}));
        calib::ConvertOptions co;
        if (opts->max_memory < 0) return usage_error("--max-memory must be >= 0");
        if (opts->max_memory > 0) {
          MIXQ_ASSIGN_OR_RETURN(auto model, onnx::load_model(opts->model));
          for (const std::string& d : {opts->data, opts->eval}) {
            if (!d.empty() || (opts->data.empty() && opts->eval.empty())) {
              MIXQ_RETURN_IF_ERROR(calib::check_memory_limit(*model, d, opts->max_memory));
            }
          }
        }
        // Verification metrics over NaN outputs mean nothing: refuse such --eval data up front.
        if (!opts->eval.empty()) MIXQ_RETURN_IF_ERROR(calib::check_eval_data_finite(opts->eval));
        if (opts->precision.empty() && opts->plan.empty()) {
          return usage_error("--precision fp8|int8|fp16 (or --plan PLAN.json) is required");
        }
        const bool automatic = opts->precision == "auto";
        if (!opts->precision.empty() && !automatic) {
          const auto precision = quant::parse_precision(opts->precision);
          if (!precision || *precision == quant::Precision::kFp32) {
            return usage_error("--precision must be fp8, int8 or fp16, got '", opts->precision,
                               "'");
          }
          co.precision = *precision;
        }
        co.plan = opts->plan;
        co.overrides = opts->overrides;
        if (!opts->method.empty()) {
          co.method = calib::parse_method(opts->method);
          if (!co.method) {
            return usage_error("--method must be minmax, percentile, entropy or mse, got '",
                               opts->method, "'");
          }
        }
        if (!opts->metric.empty()) {
          co.metric = analysis::parse_metric(opts->metric);
          if (!co.metric) {
            return usage_error("--metric must be sqnr, cosine, top1, accuracy or ppl, got '",
                               opts->metric, "'");
          }
        }
        if (!std::isnan(opts->max_drop)) co.max_drop = opts->max_drop;
        if (!std::isnan(opts->min_sqnr)) co.min_sqnr = opts->min_sqnr;
        if ((co.max_drop || co.min_sqnr) && !co.metric) {
          return usage_error("--max-drop/--min-sqnr need --metric");
        }
        if (co.metric == analysis::Metric::kSqnr && co.max_drop) {
          return usage_error("--metric sqnr takes a floor: use --min-sqnr DB");
        }
        co.data = opts->data;
        co.eval = opts->eval;
        co.ranges = opts->ranges;
        co.exclude = opts->exclude;
        co.op_types = opts->op_types;
        co.keep_fp32 = opts->keep_fp32;
        co.quantize_bmm = opts->quantize_bmm;
        co.requantize = opts->requantize;
        co.weights_only = opts->weights_only;
        co.external_data = opts->external_data;
        co.opset = opts->opset;
        co.threads = opts->threads;
        co.target = opts->target;
        co.warn = [](const std::string& s) { std::cerr << "warning: " << s << "\n"; };
        auto bar = std::make_shared<ProgressBar>(!opts->quiet && isatty(2));
        co.progress = [bar](int64_t done, int64_t total) { bar->update(done, total); };
        calib::ConvertResult result;
        if (automatic) {
          calib::AutoOptions ao;
          if (!opts->formats.empty()) {
            MIXQ_ASSIGN_OR_RETURN(ao.formats, quant::parse_formats(opts->formats));
          }
          if (opts->objective != "latency" && opts->objective != "size") {
            return usage_error("--objective must be latency or size, got '", opts->objective, "'");
          }
          ao.objective = opts->objective == "size" ? analysis::Objective::kSize
                                                   : analysis::Objective::kLatency;
          ao.max_rounds = opts->max_rounds;
          ao.ranges_out = next_to_output(*opts, ".ranges.json");
          MIXQ_ASSIGN_OR_RETURN(result, calib::convert_auto(opts->model, opts->out, co, ao));
        } else {
          MIXQ_ASSIGN_OR_RETURN(result, calib::convert(opts->model, opts->out, co));
        }
        MIXQ_RETURN_IF_ERROR(write_file_atomic(report, result.report.dump(2) + "\n"));
        MIXQ_RETURN_IF_ERROR(write_file_atomic(plan_out, result.plan.dump(2) + "\n"));
        // The same report for people, next to the JSON: REPORT.md and REPORT.html.
        const std::string stem = report.size() > 5 && report.ends_with(".json")
                                     ? report.substr(0, report.size() - 5)
                                     : report;
        MIXQ_RETURN_IF_ERROR(
            write_file_atomic(stem + ".md", report::convert_report_markdown(result.report)));
        MIXQ_RETURN_IF_ERROR(
            write_file_atomic(stem + ".html", report::convert_report_html(result.report)));
        // The validation bundle, paths relative to its folder so that the outputs can move
        // together to a GPU runner.
        const std::string bundle_path = next_to_output(*opts, ".validate.json");
        auto bundle = result.bundle;
        const auto here = std::filesystem::absolute(bundle_path).parent_path();
        for (const char* k : {"reference", "quantized", "eval"}) {
          bundle[k]["path"] =
              std::filesystem::relative(bundle[k]["path"].get<std::string>(), here).string();
        }
        MIXQ_RETURN_IF_ERROR(write_file_atomic(bundle_path, bundle.dump(2) + "\n"));
        if (!opts->quiet) print_summary(result.report);
        // Where everything went, one file kind per line.
        const std::string html = stem + ".html", md = stem + ".md";
        std::cout << "wrote\n  model    " << opts->out << "\n  reports  " << html
                  << " (for people), " << md << " (for pull requests), " << report
                  << "\n  plan     " << plan_out << " (replay with --plan)\n  bundle   "
                  << bundle_path << " (for mixq validate)\n";
        if (result.report.contains("auto") && opts->ranges.empty()) {
          std::cout << "  ranges   " << result.report["auto"]["ranges"].get<std::string>()
                    << " (reuse with --ranges)\n";
        }
        if (!result.budget_met) {
          return Status(StatusCode::kBudgetExceeded,
                        "accuracy budget not met (see " + report + "); the model was written");
        }
        return Status::ok_status();
      }};
  return remove_outputs_on_failure(std::move(cmd), opts);
}

}  // namespace mixq::cli
