#include "mixq/calibration/analyze.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <fstream>
#include <limits>
#include <memory>
#include <regex>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "mixq/calibration/analyze_stats.h"
#include "mixq/calibration/analyze_suffix.h"
#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/core/sha256.h"
#include "mixq/exec/executor.h"
#include "mixq/ir/shape_inference.h"
#include "mixq/onnx/model_io.h"
#include "mixq/passes/opset_upgrade.h"
#include "mixq/quant/fp16_emit.h"
#include "mixq/quant/layer_selection.h"

namespace mixq::calib {

namespace {

using json = nlohmann::ordered_json;
using analysis::Metric;
using quant::Precision;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

json finite_or_null(double v) { return std::isfinite(v) ? json(v) : json(nullptr); }

// Keeps the tensors of one FP32 run that the suffixes read, counting their bytes; past `limit`
// it keeps counting but drops them, so memory stays bounded while the size is still measured.
class Capture : public exec::Observer {
 public:
  Capture(std::unordered_set<std::string> wanted, int64_t limit)
      : wanted_(std::move(wanted)), limit_(limit) {}
  void on_output(const ir::Node&, const ir::Value& value, const ir::Tensor& t) override {
    if (!wanted_.count(value.name())) return;
    bytes_ += static_cast<int64_t>(t.nbytes());
    if (bytes_ > limit_) {
      tensors_.clear();
      return;
    }
    tensors_[value.name()] = t;
  }
  void reset() {
    tensors_.clear();
    bytes_ = 0;
  }
  int64_t bytes() const { return bytes_; }
  bool over() const { return bytes_ > limit_; }
  const ir::Tensor* find(const std::string& name) const {
    auto it = tensors_.find(name);
    return it == tensors_.end() ? nullptr : &it->second;
  }

 private:
  std::unordered_set<std::string> wanted_;
  int64_t limit_;
  int64_t bytes_ = 0;
  std::unordered_map<std::string, ir::Tensor> tensors_;
};

// One (layer, format): the quantized suffix model and its statistics.
struct Candidate {
  size_t layer = 0;
  Precision format = Precision::kFp32;
  SuffixModel suffix;
  std::vector<std::string> log;
  OutputStats output, layer_output;
  TaskStats task;
};

// How the task metric's rows of one run are labelled.
enum class TaskKind { kNone, kLabels, kTargets, kNextToken };

// Rows of `array` that belong to run i of `batcher`.
Expected<ir::Tensor> run_rows(ArrayReader& array, const Batcher& batcher, int64_t i) {
  switch (batcher.layout()) {
    case Batcher::Layout::kSingle:
      return array.read_all();
    case Batcher::Layout::kSamples:
    case Batcher::Layout::kChunks:
      return array.read_rows(i * batcher.run_size(), batcher.run_size());
  }
  return array.read_all();
}

// Next-token targets of an int64 [N, T] ids input and the logits [N, T, V] cut to the T - 1
// positions that have one (the idea of convert.cc's task_metric).
Status add_next_token(TaskStats& stats, const ir::Tensor& logits, const ir::Tensor& ids) {
  const auto& d = logits.dims();
  const int64_t n = d[0], t = d[1], v = d[2];
  std::vector<int64_t> next(static_cast<size_t>(n * (t - 1)));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k + 1 < t; ++k)
      next[size_t(i * (t - 1) + k)] = ids.data<int64_t>()[i * t + k + 1];
  }
  std::vector<float> cut(static_cast<size_t>(n * (t - 1) * v));
  for (int64_t i = 0; i < n; ++i) {
    const float* src = logits.data<float>() + i * t * v;
    std::copy(src, src + (t - 1) * v, cut.begin() + i * (t - 1) * v);
  }
  return stats.add_nll(ir::Tensor::from_floats({n, t - 1, v}, cut),
                       ir::Tensor::from_int64s({n, t - 1}, next));
}

// FLOPs of a layer for the tensors one run gave it (multiply-adds count two).
int64_t layer_flops(const ir::Node& node, const ir::Tensor* x, const ir::Tensor* y,
                    const std::vector<int64_t>& w) {
  if (x == nullptr || y == nullptr || w.empty()) return 0;
  int64_t inner = 1;
  const std::string& op = node.op_type();
  if (op == "MatMul") {
    inner = x->rank() == 0 ? 1 : x->dims().back();  // K
  } else if (op == "Gemm") {
    const auto ta = node.attr_int("transA", 0);
    if (x->rank() != 2) return 0;
    inner = (ta.ok() && *ta) ? x->dims()[0] : x->dims()[1];
  } else if (op == "Conv") {
    for (size_t i = 1; i < w.size(); ++i) inner *= w[i];  // IC/groups * KH * KW
  } else if (op == "ConvTranspose") {
    // Every input element is scattered to OC/groups * KH * KW outputs.
    int64_t fan = 1;
    for (size_t i = 1; i < w.size(); ++i) fan *= w[i];
    return 2 * x->numel() * fan;
  }
  return 2 * y->numel() * inner;
}

// Stored bytes of a weight in each format: per-channel scale (float32) and zero point (one byte)
// for INT8 and FP8, as quant/qdq_emit.h stores them.
json weight_bytes(const ir::Node& node, const quant::QuantizableLayer& l,
                  const std::vector<Precision>& formats) {
  int64_t numel = 1;
  for (int64_t d : l.weight_shape) numel *= d;
  const auto rank = static_cast<int64_t>(l.weight_shape.size());
  const int64_t axis = quant::weight_channel_axis(node, rank);
  const int64_t channels = axis >= 0 && axis < rank ? l.weight_shape[size_t(axis)] : 1;
  json j;
  j["fp32"] =
      static_cast<int64_t>(dtype_storage_bytes(l.weight_dtype, uint64_t(numel)).value_or(0));
  for (Precision p : formats) {
    j[quant::precision_name(p)] = p == Precision::kFp16 ? 2 * numel : numel + 5 * channels;
  }
  return j;
}

}  // namespace

const char* sensitivity_unit(Metric m) {
  switch (m) {
    case Metric::kTop1:
      return "percentage points of top-1 disagreement";
    case Metric::kAccuracy:
      return "percentage points lost";
    case Metric::kPpl:
      return "percent increase";
    case Metric::kCosine:
      return "1 - cosine";
    case Metric::kSqnr:
      return "dB (output SQNR; lower is worse)";
  }
  return "?";
}

Expected<json> analyze(const std::filesystem::path& model_path, const AnalyzeOptions& o) {
  const auto t0 = Clock::now();
  const auto warn = [&](const std::string& s) {
    if (o.warn) o.warn(s);
  };
  if (o.formats.empty()) return usage_error("--formats: no format given");
  bool quantized = false;
  int64_t need_opset = 0;
  for (Precision p : o.formats) {
    if (p == Precision::kFp32) return usage_error("--formats: fp32 is the reference, not a format");
    if (p == Precision::kInt8) need_opset = std::max<int64_t>(need_opset, 13);
    if (p == Precision::kFp8) need_opset = std::max<int64_t>(need_opset, 19);
    quantized = quantized || p != Precision::kFp16;
  }
  std::optional<std::regex> layer_regex;
  if (!o.layers.empty()) {
    try {
      layer_regex.emplace(o.layers, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return usage_error("--layers '", o.layers, "' is not a valid regular expression (", e.what(),
                         ")");
    }
  }
  MIXQ_ASSIGN_OR_RETURN(const std::string model_hash, sha256_file(model_path));
  MIXQ_ASSIGN_OR_RETURN(auto model, onnx::load_model(model_path));
  for (const auto& n : model->graph().nodes()) {
    if (n->is_onnx_domain() &&
        (n->op_type() == "QuantizeLinear" || n->op_type() == "DequantizeLinear")) {
      return bad_input(model_path.string(), ": ", n->describe(),
                       ": the model already holds Q/DQ nodes; analyze its float original");
    }
  }
  if (quantized && o.data.empty() && o.ranges.empty()) {
    return bad_input(model_path.string(),
                     ": INT8 and FP8 activations need calibration data: pass --data CALIB (or "
                     "--ranges RANGES.json)");
  }
  const std::filesystem::path eval = o.eval.empty() ? o.data : o.eval;
  if (eval.empty()) {
    return bad_input(model_path.string(), ": nothing to evaluate on: pass --eval EVAL (or --data)");
  }
  if (o.eval.empty()) {
    warn("no --eval data: sensitivities are measured on the calibration data");
  }

  // Ranges: reused (hash-checked) or calibrated on the original model.
  const auto t_cal = Clock::now();
  json ranges;
  std::string ranges_source = "none";
  if (!o.ranges.empty()) {
    MIXQ_ASSIGN_OR_RETURN(ranges, load_ranges(o.ranges, model_hash));
    ranges_source = o.ranges.string();
  } else if (!o.data.empty()) {
    CalibrateOptions co;
    co.method = o.method;
    co.threads = o.threads;
    MIXQ_ASSIGN_OR_RETURN(ranges, calibrate(*model, model_path, model_hash, o.data, co));
    ranges_source = "calibrated";
  }
  const double calibrate_s = seconds_since(t_cal);

  // The working FP32 model: at the opset every format needs, with inferred types (FP16 emission
  // needs them). The upgraded samples compute bit-identical outputs (opset_upgrade_samples_test).
  std::vector<std::string> upgrade_log;
  const int64_t from = model->opset("");
  const int64_t target = std::max(from, need_opset);
  if (target != from) MIXQ_RETURN_IF_ERROR(passes::upgrade_opset(*model, target, &upgrade_log));
  if (model->ir_version < 9 && target >= 19) model->ir_version = 9;
  if (model->ir_version < 7 && target >= 13) model->ir_version = 7;
  {
    MIXQ_ASSIGN_OR_RETURN(auto inferred, ir::infer_shapes(*model));
    ir::apply_inferred_types(*model, inferred);
  }
  std::vector<quant::QuantizableLayer> layers;
  for (const auto& l : quant::find_quantizable_layers(*model)) {
    if (layer_regex && !std::regex_search(l.node->name(), *layer_regex)) continue;
    if (o.max_layers > 0 && static_cast<int64_t>(layers.size()) >= o.max_layers) break;
    layers.push_back(l);
  }
  if (layers.empty()) return bad_input(model_path.string(), ": no quantizable layer to analyze");

  // One suffix per (layer, format), quantized in place.
  const auto t_build = Clock::now();
  std::set<std::string> all_ops;
  for (const auto& n : model->graph().nodes()) all_ops.insert(n->op_type());
  std::vector<Candidate> candidates;
  std::unordered_set<std::string> wanted;
  for (size_t li = 0; li < layers.size(); ++li) {
    wanted.insert(layers[li].node->output(0)->name());
    for (Precision p : o.formats) {
      Candidate c;
      c.layer = li;
      c.format = p;
      MIXQ_ASSIGN_OR_RETURN(c.suffix, build_suffix_model(*model, *layers[li].node));
      ir::Model& sm = *c.suffix.model;
      if (p == Precision::kFp16) {
        // Only the layer: every op type of the model is kept in FP32, so the region does not
        // grow into its neighbours (convert's FP16 region would).
        quant::Fp16Options fo;
        fo.keep_fp32 = all_ops;
        if (!ranges.is_null()) {
          fo.absmax = [&ranges](const std::string& tensor) -> std::optional<double> {
            const auto& acts = ranges["activations"];
            if (!acts.contains(tensor) || !acts[tensor].contains("absmax")) return std::nullopt;
            return acts[tensor]["absmax"].get<double>();
          };
        }
        MIXQ_RETURN_IF_ERROR(quant::emit_fp16(sm, {c.suffix.layer}, fo, c.log));
      } else {
        quant::QdqOptions qo;
        const Method method = o.method;
        qo.activation_range = [&ranges, method](const std::string& tensor, Precision fmt) {
          return range_for(ranges, tensor, fmt, method);
        };
        MIXQ_RETURN_IF_ERROR(
            quant::emit_qdq(sm, {{c.suffix.layer, p, layers[li].weight_input, false}}, qo, c.log));
      }
      MIXQ_RETURN_IF_ERROR(sm.graph().sort_nodes());
      for (const auto& name : c.suffix.inputs) wanted.insert(name);
      candidates.push_back(std::move(c));
    }
  }
  const double build_s = seconds_since(t_build);

  // The FP32 runs, each followed by every suffix.
  MIXQ_ASSIGN_OR_RETURN(auto fp32, exec::Executor::create(*model, {.threads = o.threads}));
  std::vector<std::string> input_names;
  for (const ir::Value* v : fp32->inputs()) input_names.push_back(v->name());
  MIXQ_ASSIGN_OR_RETURN(auto source, DataSource::open(eval, input_names));
  MIXQ_ASSIGN_OR_RETURN(Batcher batcher, Batcher::create(*source, input_specs(*fp32)));
  if (fp32->outputs().empty()) return bad_input(model_path.string(), ": the model has no output");
  const std::string metric_output = fp32->outputs()[0]->name();

  TaskKind task = TaskKind::kNone;
  ArrayReader* task_array = nullptr;
  if ((task_array = source->find("labels")) != nullptr) {
    task = TaskKind::kLabels;
  } else if ((task_array = source->find("targets")) != nullptr) {
    task = TaskKind::kTargets;
  } else {
    const auto& t = fp32->outputs()[0]->type();
    if (fp32->inputs().size() == 1 && fp32->inputs()[0]->type().dtype == DType::kInt64 &&
        t.dtype == DType::kFloat32 && t.shape && t.shape->size() == 3) {
      task = TaskKind::kNextToken;
    }
  }
  const Metric metric = o.metric.value_or(task == TaskKind::kLabels ? Metric::kAccuracy
                                          : task == TaskKind::kNone ? Metric::kCosine
                                                                    : Metric::kPpl);
  if (metric == Metric::kAccuracy && task != TaskKind::kLabels) {
    return bad_input(eval.string(), ": --metric accuracy needs 'labels' in the evaluation data");
  }
  if (metric == Metric::kPpl && task != TaskKind::kTargets && task != TaskKind::kNextToken) {
    return bad_input(eval.string(),
                     ": --metric ppl needs 'targets' (or an int64 [N, T] ids input whose logits "
                     "are [N, T, V]) in the evaluation data");
  }
  const bool want_task = metric == Metric::kAccuracy || metric == Metric::kPpl;

  const int64_t limit = o.max_memory_mb * 1024 * 1024;
  Capture capture(wanted, limit);
  TaskStats fp32_task;
  double fp32_s = 0, suffix_s = 0;
  int64_t captured_peak = 0, samples = 0;
  std::vector<int64_t> layer_flops_v(layers.size(), 0);
  for (int64_t run = 0; run < batcher.num_runs(); ++run) {
    const auto t_fp32 = Clock::now();
    MIXQ_ASSIGN_OR_RETURN(Feeds feeds, batcher.run(run));
    capture.reset();
    auto outs = fp32->run(feeds, &capture);
    if (!outs.ok()) return outs.status().with_context(str_cat("FP32 run ", run + 1));
    if (capture.over()) {
      return bad_input(eval.string(), ": one run's captured activations need ",
                       capture.bytes() / (1024 * 1024), " MiB (", capture.bytes(),
                       " bytes), more than --max-memory ", o.max_memory_mb,
                       " MiB; raise --max-memory or cut the data into smaller runs (a leading "
                       "sample axis gives one run per sample)");
    }
    captured_peak = std::max(captured_peak, capture.bytes());
    fp32_s += seconds_since(t_fp32);
    const auto value_of = [&](const std::string& name) -> const ir::Tensor* {
      if (const ir::Tensor* t = capture.find(name)) return t;
      for (const auto& [n, t] : feeds) {
        if (n == name) return &t;
      }
      return nullptr;
    };
    const ir::Tensor& ref = (*outs)[0];
    samples += batcher.samples_per_run();  // the rows of a batched entry, not 1
    if (run == 0) {
      for (size_t li = 0; li < layers.size(); ++li) {
        const ir::Node& n = *layers[li].node;
        layer_flops_v[li] = layer_flops(n, value_of(n.input(0)->name()),
                                        value_of(n.output(0)->name()), layers[li].weight_shape);
      }
    }
    // The run's labels or targets.
    ir::Tensor truth;
    if (want_task) {
      if (task == TaskKind::kNextToken) {
        truth = feeds[0].second;
        const auto& d = ref.dims();
        if (ref.rank() != 3 || ref.dtype() != DType::kFloat32 || truth.rank() != 2 ||
            truth.dims()[0] != d[0] || truth.dims()[1] != d[1] || d[1] < 2) {
          return bad_input(eval.string(), ": --metric ppl: run ", run + 1,
                           " gives no next-token targets (ids ", ir::dims_to_string(truth.dims()),
                           ", logits ", ir::dims_to_string(d), ")");
        }
      } else {
        MIXQ_ASSIGN_OR_RETURN(truth, run_rows(*task_array, batcher, run));
      }
    }
    const auto add_task = [&](TaskStats& stats, const ir::Tensor& logits) -> Status {
      if (!want_task) return Status::ok_status();
      if (task == TaskKind::kLabels) return stats.add_accuracy(logits, truth);
      if (task == TaskKind::kTargets) return stats.add_nll(logits, truth);
      return add_next_token(stats, logits, truth);
    };
    MIXQ_RETURN_IF_ERROR(add_task(fp32_task, ref));

    const auto t_suffix = Clock::now();
    for (Candidate& c : candidates) {
      exec::NamedTensors sfeeds;
      for (const auto& name : c.suffix.inputs) {
        if (const ir::Tensor* t = value_of(name)) sfeeds.emplace_back(name, *t);
      }
      MIXQ_ASSIGN_OR_RETURN(auto ex,
                            exec::Executor::create(*c.suffix.model, {.threads = o.threads}));
      auto souts = ex->run(sfeeds);
      if (!souts.ok()) {
        return souts.status().with_context(str_cat(layers[c.layer].node->describe(), " in ",
                                                   quant::precision_name(c.format), ", run ",
                                                   run + 1));
      }
      // The metric output: recomputed when the suffix produces it, else FP32's.
      const ir::Tensor* cand = &ref;
      for (size_t k = 0; k < c.suffix.original_outputs.size(); ++k) {
        if (c.suffix.original_outputs[k] == 0) cand = &(*souts)[k];
      }
      MIXQ_RETURN_IF_ERROR(c.output.add(metric_output, ref, *cand));
      MIXQ_RETURN_IF_ERROR(add_task(c.task, *cand));
      const std::string& lname = layers[c.layer].node->output(0)->name();
      const ir::Tensor* lref = value_of(lname);
      if (lref == nullptr) return internal_error("layer output '", lname, "' was not captured");
      MIXQ_RETURN_IF_ERROR(c.layer_output.add(lname, *lref, (*souts)[c.suffix.layer_output]));
    }
    suffix_s += seconds_since(t_suffix);
    if (o.progress) o.progress(run + 1, batcher.num_runs());
  }

  // The metric's value and drop per candidate.
  const auto value_of_metric = [&](const OutputStats& out, const TaskStats& t) {
    switch (metric) {
      case Metric::kTop1:
        return out.top1_percent();
      case Metric::kCosine:
        return out.cosine();
      case Metric::kSqnr:
        return out.sqnr_db();
      case Metric::kAccuracy:
        return t.accuracy_percent();
      case Metric::kPpl:
        return t.perplexity();
    }
    return 0.0;
  };
  OutputStats identical;
  identical.rows = 1;
  identical.agree = 1;
  const double fp32_value = value_of_metric(identical, fp32_task);
  const auto drop_of = [&](double v) {
    switch (metric) {
      case Metric::kTop1:
        return 100.0 - v;
      case Metric::kCosine:
        return 1.0 - v;
      case Metric::kSqnr:
        return v;
      case Metric::kAccuracy:
        return fp32_value - v;
      case Metric::kPpl:
        return (v / fp32_value - 1.0) * 100.0;
    }
    return 0.0;
  };

  const size_t full_nodes = model->graph().num_nodes();
  int64_t recomputed_nodes = 0;
  std::vector<json> rows(layers.size());
  std::vector<double> sort_key(layers.size(), metric == Metric::kSqnr
                                                  ? std::numeric_limits<double>::infinity()
                                                  : -std::numeric_limits<double>::infinity());
  for (size_t li = 0; li < layers.size(); ++li) {
    const auto& l = layers[li];
    json shape = l.weight_shape;
    rows[li] = {{"name", l.node->name()},
                {"index", li},
                {"op_type", l.op_type},
                {"weight", l.weight->name()},
                {"weight_shape", shape},
                {"flops", layer_flops_v[li]},
                {"weight_bytes", weight_bytes(*l.node, l, o.formats)},
                {"suffix_nodes", 0},
                {"results", json::object()}};
  }
  for (const Candidate& c : candidates) {
    const double v = value_of_metric(c.output, c.task);
    const double drop = drop_of(v);
    json& row = rows[c.layer];
    row["suffix_nodes"] = c.suffix.dependent_nodes;
    recomputed_nodes += static_cast<int64_t>(c.suffix.dependent_nodes);
    row["results"][quant::precision_name(c.format)] = {
        {"metric", finite_or_null(v)},
        {"drop", finite_or_null(drop)},
        {"output_sqnr_db", finite_or_null(c.output.sqnr_db())},
        {"output_cosine", c.output.cosine()},
        {"top1_agreement", c.output.top1_percent()},
        {"layer_sqnr_db", finite_or_null(c.layer_output.sqnr_db())},
        {"log", c.log}};
    double& key = sort_key[c.layer];
    key = metric == Metric::kSqnr ? std::min(key, drop) : std::max(key, drop);
  }
  std::vector<size_t> order(layers.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return metric == Metric::kSqnr ? sort_key[a] < sort_key[b] : sort_key[a] > sort_key[b];
  });
  json sorted = json::array();
  for (size_t i : order) {
    rows[i]["worst"] = finite_or_null(sort_key[i]);
    sorted.push_back(std::move(rows[i]));
  }

  json r;
  r["schema"] = "mixq.sensitivity";
  r["version"] = 1;
  r["model"] = {{"path", model_path.string()}, {"sha256", model_hash}};
  MIXQ_ASSIGN_OR_RETURN(const std::string eval_hash, sha256_file(eval));
  r["data"] = {{"calibration", o.data.empty() ? json(nullptr) : json(o.data.string())},
               {"eval", eval.string()},
               {"eval_sha256", eval_hash},
               {"eval_is_calibration", o.eval.empty()},
               {"ranges", ranges_source},
               {"runs", batcher.num_runs()},
               {"samples", samples}};
  json formats = json::array();
  for (Precision p : o.formats) formats.push_back(quant::precision_name(p));
  r["flags"] = {{"formats", formats},
                {"method", quantized ? json(method_name(o.method)) : json(nullptr)},
                {"layers", o.layers.empty() ? json(nullptr) : json(o.layers)},
                {"max_layers", o.max_layers},
                {"max_memory_mb", o.max_memory_mb},
                {"opset", {{"from", from}, {"to", target}}}};
  r["metric"] = {{"name", metric_name(metric)},
                 {"unit", sensitivity_unit(metric)},
                 {"output", metric_output},
                 {"fp32", want_task ? json(fp32_value) : json(nullptr)}};
  r["layers"] = std::move(sorted);
  r["cost"] = {{"fp32_runs", batcher.num_runs()},
               {"model_nodes", full_nodes},
               {"suffix_nodes_per_run", recomputed_nodes},
               {"naive_nodes_per_run",
                static_cast<int64_t>(full_nodes) * static_cast<int64_t>(candidates.size())},
               {"captured_bytes_peak", captured_peak}};
  r["timings_s"] = {{"calibrate", calibrate_s},
                    {"build", build_s},
                    {"fp32", fp32_s},
                    {"suffixes", suffix_s},
                    {"total", seconds_since(t0)}};
  return r;
}

}  // namespace mixq::calib
