// mixq validate [OUT.validate.json] [--model Q --reference M --data EVAL] [--metric M
//               (--max-drop X | --min-sqnr DB)] [--device cuda|cpu] [--strict-gpu] [--iters N]
//               [--threads N]
//               [--report VALIDATE.json]
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

#include "command.h"
#include "mixq/calibration/validate.h"
#include "mixq/core/file_io.h"
#include "mixq/gpu/device.h"
#include "paths.h"

namespace mixq::cli {
namespace {

struct ValidateCliOptions {
  std::string bundle, model, reference, data, metric, device = "cuda", report;
  bool strict_gpu = false;
  double max_drop = std::nan(""), min_sqnr = std::nan("");
  int iters = 10, threads = 0;
};

std::string number(const nlohmann::ordered_json& v, const char* fmt) {
  if (!v.is_number()) return "inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v.get<double>());
  return buf;
}

std::string markdown(const nlohmann::ordered_json& r) {
  std::string md = "**mixq validate** (" + r["device"]["kind"].get<std::string>() +
                   "): " + r["quantized"].get<std::string>() + " against " +
                   r["reference"].get<std::string>();
  if (!r["budget"].is_null()) {
    const auto& b = r["budget"];
    md += " · budget " + b["metric"].get<std::string>() + ": " +
          (b["met"].get<bool>() ? "met" : "NOT MET") + ", achieved " +
          number(b["achieved"], "%.4g");
  }
  md +=
      "\n\n| output | SQNR dB | cosine | max abs error | top-1 agreement % |\n"
      "|---|---|---|---|---|\n";
  for (const auto& o : r["verification"]["outputs"]) {
    if (!o.contains("cosine")) continue;
    md += "| " + o["name"].get<std::string>() + " | " + number(o["sqnr_db"], "%.2f") + " | " +
          number(o["cosine"], "%.6f") + " | " + number(o["max_abs_error"], "%.4g") + " | " +
          number(o["top1_agreement"], "%.2f") + " |\n";
  }
  const auto& l = r["latency_ms"];
  md += "\nLatency (" + l["method"].get<std::string>() + "): quantized " +
        number(l["quantized"], "%.3f") + " ms, FP32 " + number(l["fp32"], "%.3f") + " ms";
  if (l["fp16"].is_number()) md += ", all-FP16 " + number(l["fp16"], "%.3f") + " ms";
  md += ".";
  if (l.contains("note")) md += " " + l["note"].get<std::string>() + ".";
  md += "\n";
  if (r.contains("simulation_gap") && r["simulation_gap"].contains("task_metric")) {
    md += "\nGap to the CPU simulation the converter measured: task metric " +
          number(r["simulation_gap"]["task_metric"], "%.4g") + "\n";
  }
  const auto& d = r["device"];
  if (d["kind"] == "cuda") {
    md += "\nDevice: " + d["name"].get<std::string>() + " (compute capability " +
          d["compute_capability"].get<std::string>() + ")\n";
    for (const auto& [which, m] : d["models"].items()) {
      md +=
          "\n" + which + ": GEMM kernels " + m["gemm_kernels"].dump() + ", peak device memory " +
          number(nlohmann::ordered_json(m["peak_device_bytes"].get<double>() / (1 << 20)), "%.1f") +
          " MiB\n";
      for (const auto& f : m["cpu_fallbacks"]) md += "- on the CPU: " + f.get<std::string>() + "\n";
      for (const auto& n : m["notes"]) md += "- note: " + n.get<std::string>() + "\n";
    }
  }
  return md;
}

}  // namespace

Command add_validate_command(CLI::App& root) {
  auto opts = std::make_shared<ValidateCliOptions>();
  CLI::App* app = root.add_subcommand(
      "validate", "Check a converted model against its reference and the accuracy budget");
  app->add_option("bundle", opts->bundle, "OUT.validate.json written by mixq convert");
  app->add_option("--model", opts->model, "Quantized model (overrides the bundle's)");
  app->add_option("--reference", opts->reference, "FP32 reference model (overrides the bundle's)");
  app->add_option("--data", opts->data, "Evaluation data (overrides the bundle's)");
  app->add_option("--metric", opts->metric, "sqnr, cosine, top1, accuracy or ppl");
  app->add_option("--max-drop", opts->max_drop, "Budget in the metric's unit (as in convert)");
  app->add_option("--min-sqnr", opts->min_sqnr, "Budget for --metric sqnr: SQNR floor in dB");
  app->add_option("--device", opts->device,
                  "cuda (default: real low-precision kernels) or cpu (the CPU executor)");
  app->add_option("--iters", opts->iters, "Timed runs per model (median; default 10)");
  app->add_flag("--strict-gpu", opts->strict_gpu,
                "cuda: fail (exit 3) when a node has no device kernel instead of running it on "
                "the CPU");
  app->add_option("--threads", opts->threads, "CPU threads (default: all cores)");
  app->add_option("--report", opts->report, "VALIDATE.json to write (and .md next to it)");
  return Command{
      app, [opts]() -> Status {
        if (opts->device != "cuda" && opts->device != "cpu") {
          return usage_error("--device must be cuda or cpu, got '", opts->device, "'");
        }
        if (opts->device == "cuda") {
          const gpu::Discovery d = gpu::discover_devices();
          if (d.devices.empty()) {
            return Status(StatusCode::kNoDevice,
                          gpu::describe(d) + "; pass --device cpu to validate on the CPU");
          }
        }
        calib::ValidateOptions vo;
        vo.bundle = opts->bundle;
        vo.model = opts->model;
        vo.reference = opts->reference;
        vo.data = opts->data;
        if (!opts->metric.empty()) {
          vo.metric = analysis::parse_metric(opts->metric);
          if (!vo.metric) {
            return usage_error("--metric must be sqnr, cosine, top1, accuracy or ppl, got '",
                               opts->metric, "'");
          }
        }
        if (!std::isnan(opts->max_drop)) vo.max_drop = opts->max_drop;
        if (!std::isnan(opts->min_sqnr)) vo.min_sqnr = opts->min_sqnr;
        vo.iters = opts->iters;
        vo.threads = opts->threads;
        vo.device = opts->device;
        vo.strict_gpu = opts->strict_gpu;
        if (!opts->report.empty()) {
          MIXQ_RETURN_IF_ERROR(check_output_path(
              opts->report, {opts->bundle, opts->model, opts->reference, opts->data}));
        }
        MIXQ_ASSIGN_OR_RETURN(auto result, calib::validate(vo));
        const std::string md = markdown(result.report);
        if (!opts->report.empty()) {
          MIXQ_RETURN_IF_ERROR(write_file_atomic(opts->report, result.report.dump(2) + "\n"));
          std::string stem = opts->report;
          if (stem.ends_with(".json")) stem.resize(stem.size() - 5);
          MIXQ_RETURN_IF_ERROR(write_file_atomic(stem + ".md", md));
        }
        std::cout << md;
        if (!result.budget_met) {
          return Status(StatusCode::kBudgetExceeded, "accuracy budget not met");
        }
        return Status::ok_status();
      }};
}

}  // namespace mixq::cli
