#include "mixq/calibration/validate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <map>
#include <memory>
#include <vector>

#include "mixq/calibration/data/batcher.h"
#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/calibration/verify.h"
#include "mixq/core/sha256.h"
#include "mixq/exec/executor.h"
#include "mixq/gpu/device_executor.h"
#include "mixq/ir/shape_inference.h"
#include "mixq/onnx/model_io.h"
#include "mixq/quant/fp16_emit.h"
#include "mixq/quant/layer_selection.h"
#include "mixq/quant/qdq_strip.h"

namespace mixq::calib {

namespace {

using json = nlohmann::ordered_json;
using Clock = std::chrono::steady_clock;

// A bundle path, relative to the bundle's folder unless absolute.
std::filesystem::path resolve(const std::filesystem::path& bundle, const json& entry) {
  const std::filesystem::path p = entry.value("path", "");
  return p.is_absolute() || bundle.empty() ? p : bundle.parent_path() / p;
}

Status check_hash(const std::string& what, const std::filesystem::path& file, const json& entry) {
  if (!std::filesystem::exists(file)) {
    return bad_input(file.string(), ": the ", what, " named by the bundle does not exist");
  }
  const std::string want = entry.value("sha256", "");
  if (want.empty()) return Status::ok_status();
  MIXQ_ASSIGN_OR_RETURN(const std::string got, sha256_file(file));
  if (got != want) {
    return bad_input(file.string(), ": the ", what, " has SHA-256 ", got,
                     " but the bundle expects ", want, " (it changed since the conversion)");
  }
  return Status::ok_status();
}

// The feeds of the first evaluation run of `model`.
Expected<exec::NamedTensors> first_run(const ir::Model& model, const std::filesystem::path& data,
                                       int threads) {
  MIXQ_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(model, {.threads = threads}));
  std::vector<std::string> names;
  for (const ir::Value* v : ex->inputs()) names.push_back(v->name());
  MIXQ_ASSIGN_OR_RETURN(auto source, DataSource::open(data, names));
  MIXQ_ASSIGN_OR_RETURN(auto batcher, Batcher::create(*source, input_specs(*ex)));
  MIXQ_ASSIGN_OR_RETURN(auto feeds, batcher.run(0));
  return exec::NamedTensors(feeds.begin(), feeds.end());
}

// What the device executors of one validation saw, per model.
struct DeviceLog {
  std::map<std::string, gpu::DeviceRunStats> stats;
  std::map<std::string, std::vector<std::string>> fallbacks, notes;
  std::map<std::string, std::map<std::string, int>> kernels;
  gpu::DeviceInfo info;
};

// Median milliseconds of the first evaluation run on the device (CUDA events), after warm-up.
Expected<double> device_latency_ms(const ir::Model& model, const std::filesystem::path& data,
                                   const ValidateOptions& o) {
  MIXQ_ASSIGN_OR_RETURN(auto feeds, first_run(model, data, o.threads));
  MIXQ_ASSIGN_OR_RETURN(auto ex, gpu::DeviceExecutor::create(
                                     model, {.strict_gpu = o.strict_gpu, .threads = o.threads}));
  return ex->time(feeds, 3, std::max(1, o.iters));
}

// Where the time of one run goes on the device: milliseconds per kind of step (one profiled
// run after one warm-up run; CUDA events around every step).
Expected<json> device_profile(const ir::Model& model, const std::filesystem::path& data,
                              const ValidateOptions& o) {
  MIXQ_ASSIGN_OR_RETURN(auto feeds, first_run(model, data, o.threads));
  MIXQ_ASSIGN_OR_RETURN(
      auto ex, gpu::DeviceExecutor::create(
                   model, {.strict_gpu = o.strict_gpu, .threads = o.threads, .profile = true}));
  // One warm-up run and one profiled run, inputs resident on the device as for the latency.
  MIXQ_RETURN_IF_ERROR(ex->time(feeds, 1, 1).status());
  json j = json::object();
  for (const auto& [k, ms] : ex->last_run_stats().ms_by_kind) j[k] = ms;
  return j;
}

// The reference with every quantizable layer in FP16 (the default keep-FP32 list), for the
// all-FP16 latency.
Expected<std::unique_ptr<ir::Model>> all_fp16(const std::filesystem::path& reference, bool strip) {
  MIXQ_ASSIGN_OR_RETURN(auto m, onnx::load_model(reference));
  if (strip) {
    std::vector<std::string> ignored;
    MIXQ_RETURN_IF_ERROR(quant::strip_qdq(*m, ignored));
  }
  MIXQ_ASSIGN_OR_RETURN(auto inferred, ir::infer_shapes(*m));
  ir::apply_inferred_types(*m, inferred);
  std::vector<ir::Node*> layers;
  // The layers are nodes of *m, which this function owns and rewrites.
  for (const auto& l : quant::find_quantizable_layers(*m)) {
    layers.push_back(const_cast<ir::Node*>(l.node));
  }
  std::vector<std::string> log;
  MIXQ_RETURN_IF_ERROR(quant::emit_fp16(*m, layers, {}, log));
  return m;
}

// Median milliseconds of `iters` runs of the first evaluation run, after one warm-up run.
Expected<double> latency_ms(const ir::Model& model, const std::filesystem::path& data, int iters,
                            int threads) {
  MIXQ_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(model, {.threads = threads}));
  MIXQ_ASSIGN_OR_RETURN(auto named, first_run(model, data, threads));
  MIXQ_RETURN_IF_ERROR(ex->run(named).status());
  std::vector<double> ms;
  for (int i = 0; i < std::max(1, iters); ++i) {
    const auto t0 = Clock::now();
    MIXQ_RETURN_IF_ERROR(ex->run(named).status());
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return ms[ms.size() / 2];
}

}  // namespace

Expected<ValidateResult> validate(const ValidateOptions& o) {
  if (o.device != "cpu" && o.device != "cuda") {
    return usage_error("--device must be cuda or cpu, got '", o.device, "'");
  }
  const bool cuda = o.device == "cuda";
  json bundle = json::object();
  if (!o.bundle.empty()) {
    std::ifstream f(o.bundle);
    if (!f) return bad_input(o.bundle.string(), ": cannot open the validation bundle");
    try {
      bundle = json::parse(f);
    } catch (const std::exception& e) {
      return bad_input(o.bundle.string(), ": not valid JSON (", e.what(), ")");
    }
    if (!bundle.is_object() || bundle.value("schema", "") != "mixq.validate-bundle" ||
        bundle.value("version", 0) != 1 || !bundle.contains("quantized") ||
        !bundle.contains("reference") || !bundle.contains("eval")) {
      return bad_input(o.bundle.string(),
                       ": not a mixq validation bundle (schema mixq.validate-bundle, version 1)");
    }
  }
  const auto pick = [&](const std::filesystem::path& given, const char* key) {
    return !given.empty()
               ? given
               : (bundle.contains(key) ? resolve(o.bundle, bundle[key]) : std::filesystem::path());
  };
  const std::filesystem::path model = pick(o.model, "quantized");
  const std::filesystem::path reference = pick(o.reference, "reference");
  const std::filesystem::path data = pick(o.data, "eval");
  if (model.empty() || reference.empty() || data.empty()) {
    return usage_error("give a bundle, or --model, --reference and --data");
  }
  // Hashes are checked for the files the bundle names (not for overrides).
  if (o.model.empty())
    MIXQ_RETURN_IF_ERROR(check_hash("quantized model", model, bundle["quantized"]));
  if (o.reference.empty()) {
    MIXQ_RETURN_IF_ERROR(check_hash("reference model", reference, bundle["reference"]));
  }
  if (o.data.empty()) MIXQ_RETURN_IF_ERROR(check_hash("evaluation data", data, bundle["eval"]));

  VerifyOptions vo;
  vo.threads = o.threads;
  vo.metric = o.metric;
  vo.max_drop = o.max_drop;
  vo.min_sqnr = o.min_sqnr;
  if (!o.metric && bundle.contains("metric") && bundle["metric"].is_string()) {
    vo.metric = analysis::parse_metric(bundle["metric"].get<std::string>());
    if (bundle["max_drop"].is_number()) vo.max_drop = bundle["max_drop"].get<double>();
    if (bundle["min_sqnr"].is_number()) vo.min_sqnr = bundle["min_sqnr"].get<double>();
  }
  MIXQ_ASSIGN_OR_RETURN(auto ref_model, onnx::load_model(reference));
  if (bundle.value("reference_transform", json(nullptr)) == "strip_qdq") {
    std::vector<std::string> ignored;
    MIXQ_RETURN_IF_ERROR(quant::strip_qdq(*ref_model, ignored));
  }
  MIXQ_ASSIGN_OR_RETURN(auto q_model, onnx::load_model(model));
  DeviceLog dlog;
  if (cuda) {
    const std::string q_name = model.string();
    vo.make_runner = [&](const ir::Model& m) -> Expected<RunFn> {
      MIXQ_ASSIGN_OR_RETURN(
          auto ex_unique,
          gpu::DeviceExecutor::create(m, {.strict_gpu = o.strict_gpu, .threads = o.threads}));
      std::shared_ptr<gpu::DeviceExecutor> ex = std::move(ex_unique);
      const std::string which = &m == q_model.get() ? "quantized" : "reference";
      dlog.info = ex->device();
      for (const auto& g : ex->plan().gemms) ++dlog.kernels[which][g.kernel];
      return RunFn(
          [ex, which, &dlog](const exec::NamedTensors& feeds) -> Expected<std::vector<ir::Tensor>> {
            auto out = ex->run(feeds);
            auto& st = dlog.stats[which];
            st.peak_device_bytes =
                std::max(st.peak_device_bytes, ex->last_run_stats().peak_device_bytes);
            st.weight_bytes = ex->last_run_stats().weight_bytes;
            st.cpu_fallbacks += ex->last_run_stats().cpu_fallbacks;
            st.fused_gemms += ex->last_run_stats().fused_gemms;
            st.device_steps += ex->last_run_stats().device_steps;
            st.copied_bytes += ex->last_run_stats().copied_bytes;
            auto& fb = dlog.fallbacks[which];
            for (const auto& f : ex->cpu_fallbacks()) {
              if (std::find(fb.begin(), fb.end(), f) == fb.end()) fb.push_back(f);
            }
            dlog.notes[which] = ex->notes();
            return out;
          });
    };
  }
  MIXQ_ASSIGN_OR_RETURN(Verification v, verify_models(*ref_model, *q_model, data, vo));

  ValidateResult result;
  result.budget_met = v.budget_met;
  json& r = result.report;
  r["schema"] = "mixq.validate";
  r["version"] = 1;
  if (cuda) {
    json per_model = json::object();
    for (const char* which : {"quantized", "reference"}) {
      const auto& st = dlog.stats[which];
      per_model[which] = {
          {"gemm_kernels", dlog.kernels[which]}, {"cpu_fallbacks", dlog.fallbacks[which]},
          {"notes", dlog.notes[which]},          {"peak_device_bytes", st.peak_device_bytes},
          {"weight_bytes", st.weight_bytes},     {"host_device_copied_bytes", st.copied_bytes}};
    }
    r["device"] = {{"kind", "cuda"},
                   {"executor", "mixq device executor (cuBLASLt/cuDNN, TF32 off)"},
                   {"name", dlog.info.name},
                   {"compute_capability", std::to_string(dlog.info.compute_major) + "." +
                                              std::to_string(dlog.info.compute_minor)},
                   {"strict_gpu", o.strict_gpu},
                   {"models", per_model}};
  } else {
    r["device"] = {{"kind", "cpu"}, {"executor", "mixq CPU reference executor"}};
  }
  r["bundle"] = o.bundle.empty() ? json(nullptr) : json(o.bundle.string());
  r["quantized"] = model.string();
  r["reference"] = reference.string();
  r["eval"] = data.string();
  r["verification"] = v.json_block();
  r["budget"] = v.budget;
  // How far this run is from what the converter simulated (0 on the CPU by construction).
  if (bundle.contains("simulated")) {
    const json& sim = bundle["simulated"];
    json gap = json::object();
    if (sim.contains("task") && v.task) {
      gap["task_metric"] = v.task->candidate - sim["task"]["quantized"].get<double>();
    }
    const auto& so = sim["outputs"];
    json per_output = json::array();
    for (size_t i = 0; i < so.size() && i < v.outputs.size(); ++i) {
      if (!so[i].contains("cosine") || !v.outputs[i].contains("cosine")) continue;
      per_output.push_back(
          {{"name", v.outputs[i]["name"]},
           {"cosine", v.outputs[i]["cosine"].get<double>() - so[i]["cosine"].get<double>()}});
    }
    gap["outputs"] = per_output;
    r["simulation_gap"] = gap;
  }
  if (cuda) {
    MIXQ_ASSIGN_OR_RETURN(double q_ms, device_latency_ms(*q_model, data, o));
    MIXQ_ASSIGN_OR_RETURN(double f_ms, device_latency_ms(*ref_model, data, o));
    MIXQ_ASSIGN_OR_RETURN(
        auto h_model,
        all_fp16(reference, bundle.value("reference_transform", json(nullptr)) == "strip_qdq"));
    MIXQ_ASSIGN_OR_RETURN(double h_ms, device_latency_ms(*h_model, data, o));
    r["latency_ms"] = {
        {"method", "CUDA events on one stream, median of " + std::to_string(std::max(1, o.iters)) +
                       " runs of the first evaluation run after 3 warm-up runs; inputs "
                       "already on the device, outputs left there (no PCIe copies)"},
        {"quantized", q_ms},
        {"fp32", f_ms},
        {"fp16", h_ms},
        {"speedup_vs_fp32", f_ms / q_ms},
        {"speedup_vs_fp16", h_ms / q_ms}};
    MIXQ_ASSIGN_OR_RETURN(json q_prof, device_profile(*q_model, data, o));
    MIXQ_ASSIGN_OR_RETURN(json h_prof, device_profile(*h_model, data, o));
    r["time_by_kind_ms"] = {{"method",
                             "one run with CUDA events around every step, after a warm-up run "
                             "(the events add a little per step)"},
                            {"quantized", q_prof},
                            {"fp16", h_prof}};
    return result;
  }
  MIXQ_ASSIGN_OR_RETURN(double q_ms, latency_ms(*q_model, data, o.iters, o.threads));
  MIXQ_ASSIGN_OR_RETURN(double f_ms, latency_ms(*ref_model, data, o.iters, o.threads));
  r["latency_ms"] = {{"method", "median of " + std::to_string(std::max(1, o.iters)) +
                                    " runs of the first evaluation run after one warm-up run"},
                     {"quantized", q_ms},
                     {"fp32", f_ms},
                     {"fp16", nullptr},
                     {"note",
                      "The CPU executor simulates Q/DQ in float: CPU latency says "
                      "nothing about GPU speed; all-FP16 is not timed on the CPU"}};
  return result;
}

}  // namespace mixq::calib
