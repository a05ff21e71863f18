#include "mixq/calibration/calibrate.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <future>
#include <map>
#include <set>
#include <thread>

#include "mixq/calibration/data/batcher.h"
#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/calibration/observers/observer_collector.h"
#include "mixq/calibration/observers/observer_entropy.h"
#include "mixq/calibration/observers/observer_mse.h"
#include "mixq/calibration/observers/observer_percentile.h"
#include "mixq/core/sha256.h"
#include "mixq/exec/executor.h"
#include "mixq/exec/thread_pool.h"
#include "mixq/onnx/model_io.h"
#include "mixq/quant/layer_selection.h"

namespace mixq::calib {
namespace {

using json = nlohmann::ordered_json;

// The output-channel axis of a layer's weight: Conv 0, ConvTranspose 1, MatMul's B its last
// axis (N), Gemm's B 1 or, with transB, 0.
int64_t weight_channel_axis(const quant::QuantizableLayer& l) {
  if (l.op_type == "ConvTranspose") return 1;
  if (l.op_type == "MatMul") return static_cast<int64_t>(l.weight_shape.size()) - 1;
  if (l.op_type == "Gemm") {
    const auto tb = l.node->attr_int("transB", 0);
    return tb.ok() && *tb != 0 ? 0 : 1;
  }
  return 0;
}

json tensor_json(const TensorRecord& r, const CalibrateOptions& o) {
  json j;
  j["dtype"] = dtype_name(r.dtype);
  j["count"] = r.minmax.count;
  j["nonfinite"] = r.minmax.nonfinite;
  if (r.minmax.nonfinite > 0) {
    j["first_nonfinite"] = {{"run", r.minmax.first_nonfinite_run},
                            {"index", r.minmax.first_nonfinite_index},
                            {"sample", r.first_nonfinite_sample}};
  }
  if (r.minmax.count == 0) return j;
  j["min"] = r.minmax.min;
  j["max"] = r.minmax.max;
  j["absmax"] = r.minmax.absmax;
  const AbsHistogram& h = *r.histogram;
  const double pct = percentile_range(h, o.percentile);
  const double ent = entropy_range(h);
  const double mse_int8 = mse_range(h, RangeFormat::kInt8);
  const double mse_fp8 = mse_range(h, RangeFormat::kFp8E4M3);
  j["ranges"] = {{"minmax", r.minmax.absmax},
                 {"percentile", pct},
                 {"entropy", ent},
                 {"mse", {{"int8", mse_int8}, {"fp8_e4m3", mse_fp8}}}};
  double int8 = r.minmax.absmax, fp8 = r.minmax.absmax;
  switch (o.method) {
    case Method::kMinMax:
      break;
    case Method::kPercentile:
      int8 = fp8 = pct;
      break;
    case Method::kEntropy:
      int8 = fp8 = ent;
      break;
    case Method::kMse:
      int8 = mse_int8;
      fp8 = mse_fp8;
      break;
  }
  j["chosen"] = {{"int8", int8}, {"fp8_e4m3", fp8}};
  int64_t nonzero = 0;
  for (int64_t c : h.counts()) nonzero += c != 0;
  j["histogram"] = {{"bins", h.bins()},
                    {"range", h.range()},
                    {"bin_width", h.bin_width()},
                    {"nonzero_bins", nonzero}};
  return j;
}

// Rows (along axis 0, `rows` of them) of the float inputs in `feeds` that hold a NaN or Inf;
// `found` gets (input, row) for each row the first time an input marks it. An input not
// batched along axis 0 marks every row.
std::vector<bool> bad_rows(const Feeds& feeds, int64_t rows,
                           std::vector<std::pair<std::string, int64_t>>& found) {
  std::vector<bool> bad(static_cast<size_t>(rows), false);
  for (const auto& [name, t] : feeds) {
    std::vector<float> scratch;
    const float* x = float_values(t, scratch);
    if (x == nullptr) continue;
    const bool batched = t.rank() > 0 && t.dims()[0] == rows && rows > 0;
    const int64_t n = t.numel();
    const int64_t per_row = batched ? n / rows : n;
    for (int64_t row = 0; row < (batched ? rows : 1); ++row) {
      bool finite = true;
      for (int64_t i = row * per_row; i < (row + 1) * per_row && finite; ++i) {
        finite = std::isfinite(x[i]);
      }
      if (finite) continue;
      if (!batched) {
        if (!std::all_of(bad.begin(), bad.end(), [](bool v) { return v; })) {
          found.emplace_back(name, 0);
        }
        std::fill(bad.begin(), bad.end(), true);
      } else if (!bad[static_cast<size_t>(row)]) {
        found.emplace_back(name, row);
        bad[static_cast<size_t>(row)] = true;
      }
    }
  }
  return bad;
}

// The feeds without the rows marked bad (inputs batched along axis 0 lose those rows).
Expected<Feeds> drop_rows(const Feeds& feeds, const std::vector<bool>& bad) {
  const auto rows = static_cast<int64_t>(bad.size());
  const int64_t keep = std::count(bad.begin(), bad.end(), false);
  Feeds out;
  for (const auto& [name, t] : feeds) {
    if (t.rank() == 0 || t.dims()[0] != rows) {
      out.emplace_back(name, t);
      continue;
    }
    std::vector<int64_t> dims = t.dims();
    dims[0] = keep;
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor kept, ir::Tensor::uninitialized(t.dtype(), dims));
    const size_t row_bytes = t.nbytes() / static_cast<size_t>(rows);
    std::byte* dst = kept.mutable_raw_data();
    for (int64_t r = 0; r < rows; ++r) {
      if (bad[static_cast<size_t>(r)]) continue;
      std::memcpy(dst, t.raw_data() + static_cast<size_t>(r) * row_bytes, row_bytes);
      dst += row_bytes;
    }
    out.emplace_back(name, std::move(kept));
  }
  return out;
}

// Passes on to the collector only the outputs of the selected tensors (calibrate --tensors):
// the others are never recorded, and the collector keeps no handle on their buffers.
class SelectedOutputs : public exec::Observer {
 public:
  SelectedOutputs(exec::Observer& inner, const std::set<std::string>& names)
      : inner_(inner), names_(names) {}
  void on_output(const ir::Node& node, const ir::Value& value, const ir::Tensor& t) override {
    if (names_.count(value.name())) inner_.on_output(node, value, t);
  }

 private:
  exec::Observer& inner_;
  const std::set<std::string>& names_;
};

// The names of --tensors, each checked to be a graph input or a node output of `model`.
Expected<std::set<std::string>> selected_tensors(const ir::Model& model,
                                                 const std::vector<std::string>& names) {
  std::set<std::string> out;
  for (const auto& name : names) {
    const ir::Value* v = model.graph().find_value(name);
    if (v == nullptr || (v->producer() == nullptr && !model.graph().is_input(v))) {
      return bad_input("--tensors: '", name,
                       "' is not a graph input or a node output of the model");
    }
    out.insert(name);
  }
  return out;
}

}  // namespace

std::optional<Method> parse_method(const std::string& name) {
  if (name == "minmax") return Method::kMinMax;
  if (name == "percentile") return Method::kPercentile;
  if (name == "entropy") return Method::kEntropy;
  if (name == "mse") return Method::kMse;
  return std::nullopt;
}

const char* method_name(Method m) {
  switch (m) {
    case Method::kMinMax:
      return "minmax";
    case Method::kPercentile:
      return "percentile";
    case Method::kEntropy:
      return "entropy";
    case Method::kMse:
      return "mse";
  }
  return "?";
}

Expected<nlohmann::ordered_json> calibrate(const std::filesystem::path& model_path,
                                           const std::filesystem::path& data_path,
                                           const CalibrateOptions& options) {
  // Parsing and hashing the file are both serial: with a second thread to spare, the hash is
  // taken on it while this one parses (tinygpt: 2.4 ms of hashing under 3.7 ms of parsing).
  const bool overlap =
      options.threads <= 0 ? std::thread::hardware_concurrency() > 1 : options.threads > 1;
  std::future<Expected<std::string>> hashed;
  if (overlap) hashed = std::async(std::launch::async, [&] { return sha256_file(model_path); });
  auto model = onnx::load_model(model_path);
  Expected<std::string> model_hash = overlap ? hashed.get() : sha256_file(model_path);
  if (!model.ok()) return model.status();
  if (!model_hash.ok()) return model_hash.status();
  return calibrate(**model, model_path, *model_hash, data_path, options);
}

Expected<nlohmann::ordered_json> calibrate(const ir::Model& model,
                                           const std::filesystem::path& model_path,
                                           const std::string& model_hash,
                                           const std::filesystem::path& data_path,
                                           const CalibrateOptions& options) {
  if (!(options.percentile > 0 && options.percentile <= 100)) {
    return usage_error("--percentile must be in (0, 100], got ", options.percentile);
  }
  if (options.bins < 128 || (options.bins & (options.bins - 1)) != 0) {
    return usage_error("--bins must be a power of two >= 128, got ", options.bins);
  }
  exec::ExecOptions eo;
  eo.threads = options.threads;
  MIXQ_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(model, eo));
  std::vector<std::string> names;
  for (const ir::Value* v : ex->inputs()) names.push_back(v->name());
  MIXQ_ASSIGN_OR_RETURN(auto data, DataSource::open(data_path, names));
  MIXQ_ASSIGN_OR_RETURN(auto batcher, Batcher::create(*data, input_specs(*ex)));
  const int64_t per_run = batcher.samples_per_run();
  int64_t runs = batcher.num_runs();
  if (options.max_samples > 0) runs = std::min(runs, (options.max_samples + per_run - 1) / per_run);
  if (runs <= 0) return bad_input(data_path.string(), ": the data set has no samples");

  MIXQ_ASSIGN_OR_RETURN(const std::set<std::string> selected,
                        selected_tensors(model, options.tensors));
  const bool subset = !options.tensors.empty();
  StatsCollector collector(
      model,
      {.bins = options.bins, .histograms = true, .pool = &ex->pool(), .types = &ex->types()});
  // A selected output of a value-moving node (Reshape...) gets its record from its source's, a
  // Split's input from its outputs'.
  std::set<std::string> observed = selected;
  for (const auto& name : selected) {
    const std::string& source = collector.source_of(name);
    observed.insert(source);
    for (const std::string& part : collector.parts_of(source)) observed.insert(part);
  }
  SelectedOutputs selected_outputs(collector, observed);
  exec::Observer* observer = subset ? static_cast<exec::Observer*>(&selected_outputs) : &collector;
  int64_t samples = 0, used = 0;
  json bad_samples = json::array();
  for (int64_t r = 0; r < runs; ++r) {
    MIXQ_ASSIGN_OR_RETURN(Feeds feeds, batcher.run(r));
    // A sample with a NaN or Inf in any input is reported and left out of the ranges.
    std::vector<std::pair<std::string, int64_t>> found;
    const std::vector<bool> bad = bad_rows(feeds, per_run, found);
    for (const auto& [input, row] : found) {
      bad_samples.push_back({{"input", input}, {"sample", samples + row}, {"run", r}});
    }
    const int64_t keep = std::count(bad.begin(), bad.end(), false);
    if (keep < per_run && keep > 0) {
      MIXQ_ASSIGN_OR_RETURN(feeds, drop_rows(feeds, bad));
    }
    if (keep > 0) {
      if (subset) {
        Feeds observed_feeds;
        for (const auto& f : feeds) {
          if (observed.count(f.first)) observed_feeds.push_back(f);
        }
        collector.begin_run(observed_feeds, samples, keep);
      } else {
        collector.begin_run(feeds, samples, keep);
      }
      auto out = ex->run(feeds, observer);
      collector.end_run();
      if (!out.ok()) {
        return out.status().with_context(str_cat("run ", r, " of ", data_path.string()));
      }
      used += keep;
    }
    samples += per_run;
    if (options.progress) options.progress(std::min(samples, runs * per_run), runs * per_run);
  }
  if (used == 0) {
    return bad_input(data_path.string(),
                     ": every sample holds NaN or Inf; nothing to calibrate on");
  }

  json j;
  j["schema"] = "mixq.ranges";
  j["version"] = 1;
  j["model"] = {{"path", model_path.string()}, {"sha256", model_hash}};
  j["data"] = {{"path", data_path.string()},
               {"description", data->description()},
               {"runs", runs},
               {"samples", samples},
               {"samples_used", used},
               {"excluded_samples", bad_samples}};
  j["method"] = method_name(options.method);
  j["parameters"] = {{"percentile", options.percentile}, {"bins", options.bins}};
  if (subset) j["tensors"] = options.tensors;
  // Ranges per tensor, in parallel (each tensor's computation is independent and serial). A
  // value-moving node's output has a copy of its source's record, so its ranges are the
  // source's: computed once per source.
  std::vector<const std::pair<const std::string, TensorRecord>*> recs;
  std::map<std::string, size_t> source_index;  // source name -> index in `computed`
  std::vector<const TensorRecord*> computed;
  const auto& records = collector.tensors();  // completes the aliases' records once
  for (const auto& e : records) {
    if (subset && !selected.count(e.first)) continue;   // observed only as an alias's source
    if (e.second.dtype == DType::kUndefined) continue;  // not seen as a float tensor
    recs.push_back(&e);
    const std::string& source = collector.source_of(e.first);
    if (source_index.emplace(source, computed.size()).second) {
      computed.push_back(&records.at(source));
    }
  }
  std::vector<json> per_source(computed.size());
  ex->pool().parallel_for(static_cast<int64_t>(computed.size()), 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      per_source[static_cast<size_t>(i)] = tensor_json(*computed[static_cast<size_t>(i)], options);
    }
  });
  json acts = json::object();
  for (const auto* r : recs) {
    acts[r->first] = per_source[source_index.at(collector.source_of(r->first))];
  }
  j["activations"] = std::move(acts);
  json layers = json::array();
  for (const auto& l : collector.layer_inputs()) {
    if (subset && !selected.count(l.tensor)) continue;  // not observed
    layers.push_back({{"layer", l.layer},
                      {"op_type", l.op_type},
                      {"tensor", l.tensor},
                      {"axis", l.axis},
                      {"channel_absmax", l.channel_absmax}});
  }
  j["layer_inputs"] = std::move(layers);
  json weights = json::object();
  for (const auto& l : quant::find_quantizable_layers(model)) {
    const ir::Tensor* w = quant::constant_tensor(model, l.weight);
    if (w == nullptr || w->rank() == 0) continue;
    std::vector<float> scratch;
    const float* v = float_values(*w, scratch);
    if (v == nullptr) continue;
    const int64_t axis = weight_channel_axis(l);
    std::vector<float> per_channel;
    channel_absmax(v, w->dims(), axis, per_channel);
    const float absmax =
        per_channel.empty() ? 0.0f : *std::max_element(per_channel.begin(), per_channel.end());
    weights[l.weight->name()] = {{"layer", l.node->name()},
                                 {"op_type", l.op_type},
                                 {"axis", axis},
                                 {"absmax", absmax},
                                 {"channel_absmax", per_channel}};
  }
  j["weights"] = std::move(weights);
  return j;
}

namespace {

// The parts of RANGES.json that convert and analyze read after loading (range_for, the FP16
// emitter's absmax), so that reading them cannot throw: "activations" an object of objects whose
// "absmax" is a number and whose "ranges" is an object of numbers ("mse": of numbers per format).
Status check_activation_ranges(const json& j, const std::string& file) {
  const auto acts = j.find("activations");
  if (acts == j.end()) return Status::ok_status();
  if (!acts->is_object()) return bad_input(file, ": \"activations\" is not an object");
  for (const auto& [name, a] : acts->items()) {
    if (!a.is_object()) return bad_input(file, ": activation '", name, "' is not an object");
    if (a.contains("absmax") && !a["absmax"].is_number()) {
      return bad_input(file, ": activation '", name, "': \"absmax\" is not a number");
    }
    const auto r = a.find("ranges");
    if (r == a.end()) continue;
    if (!r->is_object()) {
      return bad_input(file, ": activation '", name, "': \"ranges\" is not an object");
    }
    for (const auto& [method, v] : r->items()) {
      const bool ok = method == "mse" ? v.is_object() : v.is_number();
      if (!ok) {
        return bad_input(file, ": activation '", name, "': range '", method, "' is malformed");
      }
      if (method != "mse") continue;
      for (const auto& [format, x] : v.items()) {
        if (!x.is_number()) {
          return bad_input(file, ": activation '", name, "': mse range '", format,
                           "' is not a number");
        }
      }
    }
  }
  return Status::ok_status();
}

}  // namespace

std::optional<double> range_for(const nlohmann::ordered_json& ranges, const std::string& tensor,
                                quant::Precision p, Method method) {
  const auto acts = ranges.find("activations");
  if (acts == ranges.end()) return std::nullopt;
  const auto t = acts->find(tensor);
  if (t == acts->end() || !t->contains("ranges")) return std::nullopt;
  const json& r = (*t)["ranges"];
  switch (method) {
    case Method::kMinMax:
      return r.value("minmax", 0.0);
    case Method::kPercentile:
      return r.value("percentile", 0.0);
    case Method::kEntropy:
      return r.value("entropy", 0.0);
    case Method::kMse: {
      // (find, not the const operator[]: that is undefined for a missing key.)
      const auto mse = r.find("mse");
      if (mse == r.end()) return std::nullopt;
      return mse->value(p == quant::Precision::kFp8 ? "fp8_e4m3" : "int8", 0.0);
    }
  }
  return std::nullopt;
}

Expected<nlohmann::ordered_json> load_ranges(const std::filesystem::path& path,
                                             const std::string& model_hash) {
  std::ifstream f(path);
  if (!f) return bad_input(path.string(), ": cannot open the ranges file");
  json j;
  try {
    j = json::parse(f);
  } catch (const std::exception& e) {
    return bad_input(path.string(), ": not valid JSON (", e.what(), ")");
  }
  // Every field is type-checked before it is read: json::value() throws on a type mismatch.
  if (!j.is_object() || !j.contains("schema") || j["schema"] != "mixq.ranges") {
    return bad_input(path.string(), ": not a mixq RANGES.json (schema mixq.ranges)");
  }
  if (!j.contains("version") || j["version"] != 1) {
    return bad_input(path.string(), ": ranges schema version ",
                     j.contains("version") ? j["version"].dump() : "(none)",
                     " is not supported (1)");
  }
  const json* model = j.contains("model") ? &j["model"] : nullptr;
  if (model != nullptr &&
      (!model->is_object() || (model->contains("sha256") && !(*model)["sha256"].is_string()))) {
    return bad_input(path.string(), ": \"model\" must be an object with a string \"sha256\"");
  }
  MIXQ_RETURN_IF_ERROR(check_activation_ranges(j, path.string()));
  const std::string want = model != nullptr ? model->value("sha256", "") : "";
  if (want != model_hash) {
    return bad_input(path.string(), ": computed for a model with SHA-256 ", want,
                     ", but the model has SHA-256 ", model_hash,
                     "; recalibrate or pass the matching model");
  }
  return j;
}

}  // namespace mixq::calib
