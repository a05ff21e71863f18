#include "mixq/calibration/validate.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <vector>

#include "mixq/calibration/data/batcher.h"
#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/calibration/verify.h"
#include "mixq/core/sha256.h"
#include "mixq/exec/executor.h"
#include "mixq/onnx/model_io.h"
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

// Median milliseconds of `iters` runs of the first evaluation run, after one warm-up run.
Expected<double> latency_ms(const ir::Model& model, const std::filesystem::path& data, int iters,
                            int threads) {
  MIXQ_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(model, {.threads = threads}));
  std::vector<std::string> names;
  for (const ir::Value* v : ex->inputs()) names.push_back(v->name());
  MIXQ_ASSIGN_OR_RETURN(auto source, DataSource::open(data, names));
  MIXQ_ASSIGN_OR_RETURN(auto batcher, Batcher::create(*source, input_specs(*ex)));
  MIXQ_ASSIGN_OR_RETURN(auto feeds, batcher.run(0));
  exec::NamedTensors named(feeds.begin(), feeds.end());
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

Expected<ValidateResult> validate_on_cpu(const ValidateOptions& o) {
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
  MIXQ_ASSIGN_OR_RETURN(Verification v, verify_models(*ref_model, *q_model, data, vo));

  ValidateResult result;
  result.budget_met = v.budget_met;
  json& r = result.report;
  r["schema"] = "mixq.validate";
  r["version"] = 1;
  r["device"] = {{"kind", "cpu"}, {"executor", "mixq CPU reference executor"}};
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
