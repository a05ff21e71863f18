#include "mixq/calibration/convert.h"

#include "mixq/calibration/verify.h"

#include <chrono>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <regex>
#include <set>

#include "mixq/analysis/plan_search.h"
#include "mixq/calibration/data/batcher.h"
#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/core/sha256.h"
#include "mixq/exec/executor.h"
#include "mixq/ir/shape_inference.h"
#include "mixq/onnx/model_io.h"
#include "mixq/passes/opset_upgrade.h"
#include "mixq/quant/fp16_emit.h"
#include "mixq/quant/layer_selection.h"
#include "mixq/quant/plan.h"
#include "mixq/quant/qdq_strip.h"

namespace mixq::calib {

namespace {

using json = nlohmann::ordered_json;
using quant::Precision;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

// Bytes of a model file plus the external data files next to it that it references.
int64_t model_bytes(const std::filesystem::path& path, const ir::Model& model) {
  std::error_code ec;
  int64_t total = static_cast<int64_t>(std::filesystem::file_size(path, ec));
  std::set<std::string> files;
  for (const ir::Value* v : model.graph().initializers()) {
    const ir::Tensor* t = v->initializer();
    if (t != nullptr && t->storage().form == ir::TensorStorage::Form::kExternal) {
      files.insert(t->storage().external_location);
    }
  }
  for (const auto& f : files) {
    total += static_cast<int64_t>(std::filesystem::file_size(path.parent_path() / f, ec));
  }
  return total;
}

bool has_qdq(const ir::Model& model) {
  for (const auto& n : model.graph().nodes()) {
    if (n->is_onnx_domain() &&
        (n->op_type() == "QuantizeLinear" || n->op_type() == "DequantizeLinear")) {
      return true;
    }
  }
  return false;
}

}  // namespace

// PLAN.json (schema mixq.plan, version 1): the layers and their formats. A plan made for a
// model with another SHA-256 is replayed with a warning (layer names are what it pins);
// layers it names that the model lacks are refused by the caller.
Expected<quant::Plan> load_plan(const std::filesystem::path& path, const std::string& model_hash,
                                const std::function<void(const std::string&)>& warn) {
  std::ifstream f(path);
  if (!f) return bad_input(path.string(), ": cannot open the plan");
  json j;
  try {
    j = json::parse(f);
  } catch (const std::exception& e) {
    return bad_input(path.string(), ": not valid JSON (", e.what(), ")");
  }
  // Every field is type-checked before it is read: json::value() throws on a type mismatch.
  if (!j.is_object() || !j.contains("schema") || j["schema"] != "mixq.plan" ||
      !j.contains("version") || j["version"] != 1 || !j.contains("layers") ||
      !j["layers"].is_array()) {
    return bad_input(path.string(), ": not a mixq PLAN.json (schema mixq.plan, version 1)");
  }
  const json* model = j.contains("model") ? &j["model"] : nullptr;
  if (model != nullptr &&
      (!model->is_object() || (model->contains("sha256") && !(*model)["sha256"].is_string()))) {
    return bad_input(path.string(), ": \"model\" must be an object with a string \"sha256\"");
  }
  const std::string made_for = model != nullptr ? model->value("sha256", "") : "";
  if (made_for != model_hash) {
    warn(path.string() + " was made for a model with SHA-256 " + made_for +
         "; replaying it on this one by layer name");
  }
  quant::Plan plan;
  for (const auto& l : j["layers"]) {
    if (!l.is_object() || !l.contains("name") || !l["name"].is_string() ||
        !l.contains("precision") || !l["precision"].is_string()) {
      return bad_input(path.string(), ": every layer needs a \"name\" and a \"precision\"");
    }
    const auto p = quant::parse_precision(l["precision"].get<std::string>());
    if (!p) {
      return bad_input(path.string(), ": layer '", l["name"].get<std::string>(),
                       "' has unknown precision '", l["precision"].get<std::string>(), "'");
    }
    for (const char* key : {"op_type", "reason"}) {
      if (l.contains(key) && !l[key].is_string()) {
        return bad_input(path.string(), ": layer '", l["name"].get<std::string>(), "': \"", key,
                         "\" is not a string");
      }
    }
    if (plan.find(l["name"].get<std::string>()) != nullptr) {
      return bad_input(path.string(), ": layer '", l["name"].get<std::string>(), "' appears twice");
    }
    plan.layers.push_back(
        {l["name"].get<std::string>(), l.value("op_type", ""), *p, l.value("reason", "")});
  }
  return plan;
}

namespace {

// Per layer: its work from the first eval run's dims; and the estimated time and weight bytes
// of the applied plan against all-FP32 and all-FP16 on the target profile (the quantizable
// layers only: the ops between them are not modelled).
json estimate(json& layers, const std::map<std::string, std::vector<int64_t>>& dims,
              const ir::Model& reference, const analysis::DeviceProfile& device) {
  double t_plan = 0, t32 = 0, t16 = 0, b_plan = 0, b32 = 0, b16 = 0;
  std::map<std::string, const ir::Node*> by_name;
  for (const auto& n : reference.graph().nodes()) by_name[n->name()] = n.get();
  for (auto& l : layers) {
    const auto it = by_name.find(l["name"].get<std::string>());
    if (it == by_name.end()) continue;
    const ir::Node& n = *it->second;
    const auto get = [&](const ir::Value* v) {
      if (v == nullptr) return std::vector<int64_t>{};
      if (const ir::Tensor* t = quant::constant_tensor(reference, v)) return t->dims();
      const auto d = dims.find(v->name());
      return d == dims.end() ? std::vector<int64_t>{} : d->second;
    };
    const auto tb = n.attr_int("transB", 0);
    const analysis::LayerShape shape = analysis::layer_shape(
        n.op_type(), get(n.input(0)), get(n.input(1)), get(n.output(0)), tb.ok() && *tb != 0);
    const auto p = quant::parse_precision(l["precision"].get<std::string>());
    const Precision chosen = p.value_or(Precision::kFp32);
    l["input_shape"] = get(n.input(0));
    l["output_shape"] = get(n.output(0));
    l["flops"] = shape.flops;
    l["weight_elements"] = shape.weight_elements;
    l["weight_bytes"] = analysis::layer_bytes(shape, chosen);
    l["estimated_us"] = analysis::layer_time(shape, chosen, device) * 1e6;
    t_plan += analysis::layer_time(shape, chosen, device);
    t32 += analysis::layer_time(shape, Precision::kFp32, device);
    t16 += analysis::layer_time(shape, Precision::kFp16, device);
    b_plan += analysis::layer_bytes(shape, chosen);
    b32 += analysis::layer_bytes(shape, Precision::kFp32);
    b16 += analysis::layer_bytes(shape, Precision::kFp16);
  }
  return {{"target", device.name},
          {"profile",
           {{"fp32_tflops", device.fp32_tflops},
            {"fp16_tflops", device.fp16_tflops},
            {"int8_tops", device.int8_tops},
            {"fp8_tflops", device.fp8_tflops},
            {"bandwidth_gbs", device.bandwidth_gbs}}},
          {"scope", "quantizable layers, one eval run"},
          {"time_us", {{"plan", t_plan * 1e6}, {"fp32", t32 * 1e6}, {"fp16", t16 * 1e6}}},
          {"speedup_vs_fp32", t_plan > 0 ? t32 / t_plan : 1.0},
          {"speedup_vs_fp16", t_plan > 0 ? t16 / t_plan : 1.0},
          {"weight_bytes", {{"plan", b_plan}, {"fp32", b32}, {"fp16", b16}}}};
}

}  // namespace

Expected<ConvertResult> convert(const std::filesystem::path& model_path,
                                const std::filesystem::path& out_path, const ConvertOptions& o) {
  const auto t0 = Clock::now();
  const Precision p = o.precision;
  // The format-aware MSE search: it gave the best or nearly the best output SQNR for both
  // formats on every sample, where entropy was the worst for INT8 (docs/convert.md).
  const Method method = o.method.value_or(Method::kMse);
  const auto warn = [&](const std::string& s) {
    if (o.warn) o.warn(s);
  };
  MIXQ_ASSIGN_OR_RETURN(const auto profile, analysis::resolve_device_profile(o.target));
  const analysis::DeviceProfile* device = &profile;
  MIXQ_ASSIGN_OR_RETURN(const std::string model_hash, sha256_file(model_path));
  MIXQ_ASSIGN_OR_RETURN(auto model, onnx::load_model(model_path));
  std::vector<std::string> log;
  const bool requantizing = has_qdq(*model);
  if (requantizing && !o.requantize) {
    return bad_input(model_path.string(),
                     ": the model already holds QuantizeLinear/DequantizeLinear nodes; convert "
                     "its float original, or pass --requantize to fold them away and quantize "
                     "anew");
  }
  // With --requantize the Q/DQ nodes are folded away first: the float model they simulate is
  // what gets calibrated, quantized, and verified against.
  if (requantizing) MIXQ_RETURN_IF_ERROR(quant::strip_qdq(*model, log));
  // Layers and their precisions: the uniform --precision, or PLAN.json (layers it does not
  // name stay FP32), then each --override in order, then --exclude.
  std::vector<std::string> types = o.op_types;
  if (types.empty()) types = quant::default_quantizable_op_types();
  std::vector<std::regex> exclude;
  for (const auto& e : o.exclude) {
    try {
      exclude.emplace_back(e, std::regex::ECMAScript);
    } catch (const std::regex_error& err) {
      return usage_error("--exclude '", e, "' is not a valid regular expression (", err.what(),
                         ")");
    }
  }
  MIXQ_ASSIGN_OR_RETURN(auto overrides, quant::parse_overrides(o.overrides));
  std::optional<quant::Plan> plan = o.plan_entries;
  const std::string plan_source = o.plan_entries ? "the automatic plan" : o.plan.string();
  if (!plan && !o.plan.empty()) {
    MIXQ_ASSIGN_OR_RETURN(plan, load_plan(o.plan, model_hash, warn));
  }
  const auto excluded = [&](const ir::Node& n) {
    for (const auto& r : exclude) {
      if (std::regex_search(n.name(), r)) return true;
    }
    return false;
  };
  const auto wanted = [&](const std::string& op) {
    return std::find(types.begin(), types.end(), op) != types.end();
  };
  const auto choose = [&](const ir::Node& n, const std::string& uniform_reason) {
    Precision chosen = p;
    std::string reason = uniform_reason;
    if (plan) {
      const quant::PlanEntry* e = plan->find(n.name());
      chosen = e ? e->precision : Precision::kFp32;
      reason =
          e ? (o.plan_entries ? e->reason
                              : "from " + plan_source + (e->reason.empty() ? "" : ": " + e->reason))
            : "not in " + plan_source;
    }
    for (const auto& ov : overrides) {
      if (std::regex_search(n.name(), ov.pattern)) {
        chosen = ov.precision;
        reason = "--override " + ov.text;
      }
    }
    if (excluded(n)) {
      chosen = Precision::kFp32;
      reason = "excluded by --exclude";
    }
    return std::make_pair(chosen, reason);
  };
  std::vector<quant::LayerTarget> targets;
  json layers = json::array();
  std::set<const ir::Node*> seen;
  std::set<std::string> known;
  for (const auto& l : quant::find_quantizable_layers(*model)) {
    seen.insert(l.node);
    known.insert(l.node->name());
    if (!wanted(l.op_type)) continue;
    auto* node = const_cast<ir::Node*>(l.node);
    const auto [chosen, reason] = choose(*node, "uniform --precision");
    targets.push_back({node, chosen, l.weight_input, false});
    layers.push_back({{"name", node->name()},
                      {"op_type", l.op_type},
                      {"weight", l.weight->name()},
                      {"weight_shape", l.weight_shape},
                      {"precision", quant::precision_name(chosen)},
                      {"reason", reason}});
  }
  if (o.quantize_bmm && wanted("MatMul")) {
    for (const auto& n : model->graph().nodes()) {
      if (!n->is_onnx_domain() || n->op_type() != "MatMul" || seen.count(n.get())) continue;
      known.insert(n->name());
      const auto [chosen, reason] = choose(*n, "--quantize-bmm");
      targets.push_back({n.get(), chosen, 1, true});
      layers.push_back({{"name", n->name()},
                        {"op_type", "MatMul"},
                        {"weight", nullptr},
                        {"precision", quant::precision_name(chosen)},
                        {"reason", reason}});
    }
  }
  if (plan) {
    for (const auto& e : plan->layers) {
      if (!known.count(e.layer)) {
        return bad_input(plan_source, ": layer '", e.layer, "' is not a quantizable layer of ",
                         model_path.string(), " (with these --op-types / --quantize-bmm)");
      }
    }
  }
  // The layers' tensors whose dims the verification records for the cost estimate, named as in
  // the original model (the FP16 rewrite renames the region's values).
  std::set<std::string> wanted_dims;
  for (const auto& t : targets) {
    for (const ir::Value* v : {t.node->input(0), t.node->input(1), t.node->output(0)}) {
      if (v != nullptr) wanted_dims.insert(v->name());
    }
  }
  std::set<Precision> used;
  for (const auto& t : targets) used.insert(t.precision);
  const bool quantized = used.count(Precision::kInt8) || used.count(Precision::kFp8);
  const bool any_fp16 = used.count(Precision::kFp16) != 0;

  const bool needs_ranges = quantized && !o.weights_only;
  if (needs_ranges && o.data.empty() && o.ranges.empty()) {
    return bad_input(model_path.string(), ": ", used.count(Precision::kFp8) ? "fp8" : "int8",
                     " activations need calibration data: pass --data CALIB (or --ranges "
                     "RANGES.json), or --weights-only to quantize the weights alone");
  }
  std::filesystem::path eval = o.eval.empty() ? o.data : o.eval;
  if (o.eval.empty() && !o.data.empty()) {
    warn(
        "no --eval data: the accuracy figures are measured on the calibration data, which "
        "overstates them; pass held-out data with --eval");
  }
  if (eval.empty()) {
    return bad_input(model_path.string(),
                     ": nothing to verify the converted model on: pass "
                     "--eval EVAL (or --data)");
  }

  // Ranges: reused (hash-checked) or calibrated on the original model.
  const auto t_cal = Clock::now();
  json ranges;
  std::string ranges_source = "none";
  if (!o.ranges.empty()) {
    MIXQ_ASSIGN_OR_RETURN(ranges, load_ranges(o.ranges, model_hash));
    ranges_source = o.ranges.string();
  } else if (!o.data.empty() && (needs_ranges || any_fp16)) {
    CalibrateOptions co;
    co.method = method;
    co.threads = o.threads;
    co.progress = o.progress;
    MIXQ_ASSIGN_OR_RETURN(ranges, calibrate(*model, model_path, model_hash, o.data, co));
    ranges_source = "calibrated";
  }
  const double calibrate_s = seconds_since(t_cal);
  const auto t_rw = Clock::now();

  // Opset: INT8 per-axis needs 13, FP8 19.
  const int64_t from = model->opset("");
  int64_t target = std::max(from, o.opset);
  if (used.count(Precision::kInt8)) target = std::max<int64_t>(target, 13);
  if (used.count(Precision::kFp8)) target = std::max<int64_t>(target, 19);
  if (o.opset > 0 && o.opset < target) {
    return usage_error("--opset ", o.opset, " is below what the formats need or the model has (",
                       target, ")");
  }
  if (target != from) MIXQ_RETURN_IF_ERROR(passes::upgrade_opset(*model, target, &log));
  if (model->ir_version < 9 && target >= 19) model->ir_version = 9;  // FLOAT8 types need IR 9
  if (model->ir_version < 7 && target >= 13) model->ir_version = 7;

  if (quantized) {
    quant::QdqOptions qo;
    qo.weights_only = o.weights_only;
    qo.activation_range = [&](const std::string& tensor, Precision fmt) {
      return range_for(ranges, tensor, fmt, method);
    };
    MIXQ_RETURN_IF_ERROR(quant::emit_qdq(*model, targets, qo, log));
  }
  if (any_fp16) {
    MIXQ_ASSIGN_OR_RETURN(auto inferred, ir::infer_shapes(*model));
    ir::apply_inferred_types(*model, inferred);
    quant::Fp16Options fo;
    if (!o.keep_fp32.empty()) fo.keep_fp32 = {o.keep_fp32.begin(), o.keep_fp32.end()};
    if (!ranges.is_null()) {
      fo.absmax = [&](const std::string& tensor) -> std::optional<double> {
        const auto& acts = ranges["activations"];
        if (!acts.contains(tensor) || !acts[tensor].contains("absmax")) return std::nullopt;
        return acts[tensor]["absmax"].get<double>();
      };
    }
    std::vector<ir::Node*> nodes;
    for (const auto& t : targets) {
      if (t.precision == Precision::kFp16) nodes.push_back(t.node);
    }
    MIXQ_RETURN_IF_ERROR(quant::emit_fp16(*model, nodes, fo, log));
  }
  MIXQ_RETURN_IF_ERROR(model->graph().sort_nodes());
  onnx::SaveOptions so;
  if (o.external_data) {
    so.external_data = onnx::SaveOptions::ExternalData::kThreshold;
  } else {
    so.external_data = onnx::SaveOptions::ExternalData::kNone;
  }
  MIXQ_RETURN_IF_ERROR(onnx::save_model(*model, out_path, so));
  const double rewrite_s = seconds_since(t_rw);
  // The rewritten model holds the quantized weights; the file now has them. Free them before
  // the verification loads both models (a large model would hold them twice).
  targets.clear();
  model.reset();

  // Verification: the written file, re-loaded, against the original.
  const auto t_ver = Clock::now();
  MIXQ_ASSIGN_OR_RETURN(auto reference, onnx::load_model(model_path));
  if (requantizing) {
    std::vector<std::string> ignored;
    MIXQ_RETURN_IF_ERROR(quant::strip_qdq(*reference, ignored));
  }
  MIXQ_ASSIGN_OR_RETURN(auto written, onnx::load_model(out_path));
  VerifyOptions vo;
  vo.threads = o.threads;
  vo.metric = o.metric;
  vo.max_drop = o.max_drop;
  vo.min_sqnr = o.min_sqnr;
  vo.record_dims = wanted_dims;
  MIXQ_ASSIGN_OR_RETURN(Verification ver, verify_models(*reference, *written, eval, vo));
  const double verify_s = seconds_since(t_ver);
  ConvertResult result;
  result.budget_met = ver.budget_met;
  json budget = ver.budget;

  std::map<std::string, int> per_precision;
  for (const auto& l : layers) per_precision[l["precision"].get<std::string>()]++;
  json& r = result.report;
  r["schema"] = "mixq.convert";
  r["version"] = 1;
  r["model"] = {{"path", model_path.string()}, {"sha256", model_hash}};
  r["output"] = {{"path", out_path.string()}};
  MIXQ_ASSIGN_OR_RETURN(const std::string out_hash, sha256_file(out_path));
  r["output"]["sha256"] = out_hash;
  json data = {{"calibration", o.data.empty() ? json(nullptr) : json(o.data.string())},
               {"eval", eval.string()},
               {"eval_is_calibration", o.eval.empty()},
               {"ranges", ranges_source}};
  if (!o.data.empty()) {
    MIXQ_ASSIGN_OR_RETURN(const std::string h, sha256_file(o.data));
    data["calibration_sha256"] = h;
  }
  MIXQ_ASSIGN_OR_RETURN(const std::string eval_hash, sha256_file(eval));
  data["eval_sha256"] = eval_hash;
  r["data"] = std::move(data);
  json excl = o.exclude, types_j = types;
  r["flags"] = {
      {"precision", o.plan_entries   ? json("auto")
                    : o.plan.empty() ? json(quant::precision_name(p))
                                     : json(nullptr)},
      {"plan", o.plan.empty() ? json(nullptr) : json(o.plan.string())},
      {"overrides", o.overrides},
      {"method", quantized && !o.weights_only ? json(method_name(method)) : json(nullptr)},
      {"weights_only", o.weights_only},
      {"quantize_bmm", o.quantize_bmm},
      {"requantize", requantizing},
      {"exclude", excl},
      {"op_types", types_j},
      {"external_data", o.external_data},
      {"opset", {{"from", from}, {"to", target}}},
      {"target", device->name}};
  // mixq draws no random numbers (data is read in file order, no sampling): no seeds to record.
  // The field is kept so a randomized step added later has its place.
  r["seeds"] = json::object();
  json plan_layers = json::array();
  for (const auto& l : layers) {
    plan_layers.push_back({{"name", l["name"]},
                           {"op_type", l["op_type"]},
                           {"precision", l["precision"]},
                           {"reason", l["reason"]}});
  }
  result.plan = {{"schema", "mixq.plan"},
                 {"version", 1},
                 {"model", {{"path", model_path.string()}, {"sha256", model_hash}}},
                 {"layers", std::move(plan_layers)}};
  const auto abs = [](const std::filesystem::path& f) {
    return std::filesystem::absolute(f).lexically_normal().string();
  };
  result.bundle = {{"schema", "mixq.validate-bundle"},
                   {"version", 1},
                   {"reference", {{"path", abs(model_path)}, {"sha256", model_hash}}},
                   {"reference_transform", requantizing ? json("strip_qdq") : json(nullptr)},
                   {"quantized", {{"path", abs(out_path)}, {"sha256", out_hash}}},
                   {"eval", {{"path", abs(eval)}, {"sha256", eval_hash}}},
                   {"metric", o.metric ? json(metric_name(*o.metric)) : json(nullptr)},
                   {"max_drop", o.max_drop ? json(*o.max_drop) : json(nullptr)},
                   {"min_sqnr", o.min_sqnr ? json(*o.min_sqnr) : json(nullptr)},
                   {"plan", result.plan["layers"]},
                   {"simulated", ver.json_block()}};
  result.bundle["simulated"]["budget"] = ver.budget;
  r["layers"] = std::move(layers);
  r["layer_counts"] = per_precision;
  r["log"] = log;
  r["verification"] = ver.json_block();
  r["budget"] = std::move(budget);
  r["estimate"] = estimate(r["layers"], ver.dims, *reference, *device);
  r["sizes"] = {{"model_bytes", model_bytes(model_path, *reference)},
                {"output_bytes", model_bytes(out_path, *written)}};
  r["timings_s"] = {{"calibrate", calibrate_s},
                    {"rewrite_and_write", rewrite_s},
                    {"verify", verify_s},
                    {"total", seconds_since(t0)}};
  return result;
}

}  // namespace mixq::calib
