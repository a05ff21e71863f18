// --precision auto: sensitivity, plan search, convert and verify in rounds (convert.h).
#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mixq/calibration/analyze.h"
#include "mixq/calibration/convert.h"
#include "mixq/calibration/verify.h"
#include "mixq/core/file_io.h"
#include "mixq/core/sha256.h"
#include "mixq/onnx/model_io.h"
#include "mixq/quant/layer_selection.h"

namespace mixq::calib {

namespace {

using json = nlohmann::ordered_json;
using quant::Precision;

// The plans the search offers across budgets (the predicted frontier: for each budget the
// cheapest plan whose summed drop fits), and the uniform choices, for the report's metric-vs-
// cost chart. Budgets: 0, then halvings of the largest possible summed drop, then even steps.
json plan_candidates(
    const std::vector<analysis::LayerChoices>& choices,
    const std::function<std::map<std::string, int>(const std::vector<size_t>&)>& counts_of) {
  json out = json::array();
  double most = 0;
  for (const auto& c : choices) {
    double worst = 0;
    for (const auto& o : c.options) worst = std::max(worst, o.drop);
    most += worst;
  }
  std::vector<double> budgets = {0.0};
  for (int k = 20; k >= 0; --k) budgets.push_back(std::ldexp(most, -k));
  for (int k = 1; k < 16; ++k) budgets.push_back(most * k / 16);
  std::sort(budgets.begin(), budgets.end());
  std::set<std::vector<size_t>> seen;
  for (double b : budgets) {
    auto c = analysis::search_plan(choices, b);
    if (!c.ok() || !seen.insert(c->option).second) continue;
    out.push_back({{"kind", "frontier"},
                   {"budget", b},
                   {"predicted_drop", c->predicted_drop},
                   {"cost", c->cost},
                   {"layer_counts", counts_of(c->option)}});
  }
  // Uniform choices: every layer in one format (FP32 included), where every layer offers it.
  std::vector<Precision> formats = {Precision::kFp32};
  for (const auto& c : choices) {
    for (const auto& o : c.options) {
      if (std::find(formats.begin(), formats.end(), o.precision) == formats.end()) {
        formats.push_back(o.precision);
      }
    }
  }
  for (Precision f : formats) {
    std::vector<size_t> opt;
    double drop = 0, cost = 0;
    for (const auto& c : choices) {
      for (size_t i = 0; i < c.options.size(); ++i) {
        if (c.options[i].precision != f) continue;
        opt.push_back(i);
        drop += c.options[i].drop;
        cost += c.options[i].cost;
        break;
      }
    }
    if (opt.size() != choices.size()) continue;  // some layer has no finite measurement in f
    out.push_back({{"kind", "uniform"},
                   {"precision", quant::precision_name(f)},
                   {"predicted_drop", drop},
                   {"cost", cost}});
  }
  return out;
}

}  // namespace

Expected<ConvertResult> convert_auto(const std::filesystem::path& model_path,
                                     const std::filesystem::path& out_path, const ConvertOptions& o,
                                     const AutoOptions& ao) {
  if (!o.metric || *o.metric == analysis::Metric::kSqnr || !o.max_drop) {
    return usage_error(
        "--precision auto needs --metric top1|accuracy|ppl|cosine and --max-drop X (the budget "
        "the plan is chosen for)");
  }
  if (o.data.empty() && o.ranges.empty()) {
    return bad_input(model_path.string(),
                     ": --precision auto needs calibration data (--data CALIB or --ranges)");
  }
  if (!o.plan.empty() || !o.overrides.empty()) {
    return usage_error("--precision auto chooses the plan: drop --plan/--override");
  }
  MIXQ_ASSIGN_OR_RETURN(const auto profile, analysis::resolve_device_profile(o.target));
  const analysis::DeviceProfile* device = &profile;
  const Method method = o.method.value_or(Method::kMse);
  MIXQ_ASSIGN_OR_RETURN(const std::string model_hash, sha256_file(model_path));

  // 1. Ranges, once: the sensitivity runs and every round reuse them.
  std::filesystem::path ranges_path = o.ranges;
  if (ranges_path.empty()) {
    CalibrateOptions co;
    co.method = method;
    co.threads = o.threads;
    co.progress = o.progress;
    MIXQ_ASSIGN_OR_RETURN(auto ranges, calibrate(model_path, o.data, co));
    MIXQ_RETURN_IF_ERROR(write_file_atomic(ao.ranges_out, ranges.dump(2) + "\n"));
    ranges_path = ao.ranges_out;
  }

  // 2. Sensitivity of every layer to every format.
  AnalyzeOptions an;
  an.data = o.data;
  an.eval = o.eval;
  an.ranges = ranges_path;
  an.formats = ao.formats;
  an.metric = o.metric;
  an.method = method;
  an.threads = o.threads;
  an.warn = o.warn;
  MIXQ_ASSIGN_OR_RETURN(json sens, analyze(model_path, an));

  // 3. Layer shapes from one FP32 pass, and the options of each layer.
  MIXQ_ASSIGN_OR_RETURN(auto model, onnx::load_model(model_path));
  std::map<std::string, const ir::Node*> by_name;
  std::set<std::string> names;
  for (const auto& l : quant::find_quantizable_layers(*model)) {
    by_name[l.node->name()] = l.node;
    for (const ir::Value* v : {l.node->input(0), l.node->output(0)}) {
      if (v != nullptr) names.insert(v->name());
    }
  }
  const std::filesystem::path eval = o.eval.empty() ? o.data : o.eval;
  MIXQ_ASSIGN_OR_RETURN(auto dims, record_dims(*model, eval, o.threads, names));
  std::vector<json> rows(sens["layers"].begin(), sens["layers"].end());
  std::sort(rows.begin(), rows.end(), [](const json& a, const json& b) {
    return a["index"].get<int64_t>() < b["index"].get<int64_t>();
  });
  std::vector<analysis::LayerChoices> choices;
  std::map<std::string, json> measured;  // layer -> format -> the analysis' numbers
  for (const json& row : rows) {
    const std::string name = row["name"].get<std::string>();
    const auto it = by_name.find(name);
    if (it == by_name.end()) continue;
    const ir::Node& n = *it->second;
    const auto get = [&](const ir::Value* v) {
      if (v == nullptr) return std::vector<int64_t>{};
      if (const ir::Tensor* t = quant::constant_tensor(*model, v)) return t->dims();
      const auto d = dims.find(v->name());
      return d == dims.end() ? std::vector<int64_t>{} : d->second;
    };
    const auto tb = n.attr_int("transB", 0);
    const auto shape = analysis::layer_shape(n.op_type(), get(n.input(0)), get(n.input(1)),
                                             get(n.output(0)), tb.ok() && *tb != 0);
    analysis::LayerChoices c;
    c.layer = name;
    c.options.push_back({Precision::kFp32, 0.0,
                         analysis::layer_cost(shape, Precision::kFp32, *device, ao.objective)});
    json m = json::object();
    for (Precision f : ao.formats) {
      const json& res = row["results"];
      const char* fname = quant::precision_name(f);
      if (!res.contains(fname)) continue;
      const json& d = res[fname]["drop"];
      m[fname] = {{"drop", d},
                  {"layer_sqnr_db", res[fname]["layer_sqnr_db"]},
                  {"output_sqnr_db", res[fname]["output_sqnr_db"]}};
      if (!d.is_number()) continue;  // no finite measurement: not offered
      // A layer that measured better than FP32 counts as losing nothing (drops must add up).
      const double drop = std::max(0.0, d.get<double>());
      c.options.push_back({f, drop, analysis::layer_cost(shape, f, *device, ao.objective)});
      m[fname]["drop_used"] = drop;
    }
    measured[name] = std::move(m);
    choices.push_back(std::move(c));
  }
  MIXQ_ASSIGN_OR_RETURN(auto choice, analysis::search_plan(choices, *o.max_drop));
  std::vector<size_t> option = choice.option;
  const auto counts_of = [&](const std::vector<size_t>& opt) {
    std::map<std::string, int> counts;
    for (size_t i = 0; i < choices.size(); ++i) {
      ++counts[quant::precision_name(choices[i].options[opt[i]].precision)];
    }
    return counts;
  };
  const auto cost_of = [&](const std::vector<size_t>& opt) {
    double cost = 0;
    for (size_t i = 0; i < choices.size(); ++i) cost += choices[i].options[opt[i]].cost;
    return cost;
  };
  json candidates = plan_candidates(choices, counts_of);

  // 4. Rounds: convert and verify; promote while the budget is missed.
  json rounds = json::array();
  std::vector<std::string> promoted_reason(choices.size());
  ConvertResult last;
  for (int round = 0; round < std::max(1, ao.max_rounds); ++round) {
    quant::Plan plan;
    double predicted = 0;
    for (size_t i = 0; i < choices.size(); ++i) {
      const auto& opt = choices[i].options[option[i]];
      predicted += opt.drop;
      char buf[128];
      if (ao.objective == analysis::Objective::kSize) {
        std::snprintf(buf, sizeof(buf), "auto: predicted drop %.4g, weights %.4g KiB", opt.drop,
                      opt.cost / 1024.0);
      } else {
        std::snprintf(buf, sizeof(buf), "auto: predicted drop %.4g, est. %.4g µs on %s", opt.drop,
                      opt.cost * 1e6, device->name.c_str());
      }
      plan.layers.push_back({choices[i].layer, "", opt.precision,
                             promoted_reason[i].empty() ? buf : promoted_reason[i]});
    }
    ConvertOptions ro = o;
    ro.plan_entries = plan;
    ro.ranges = ranges_path;
    MIXQ_ASSIGN_OR_RETURN(last, convert(model_path, out_path, ro));
    json r = {{"round", round},
              {"layer_counts", counts_of(option)},
              {"predicted_drop", predicted},
              {"cost", cost_of(option)},
              {"achieved", last.report["budget"]["achieved"]},
              {"met", last.budget_met}};
    if (last.budget_met) {
      rounds.push_back(std::move(r));
      break;
    }
    const auto promo = analysis::next_promotion(choices, option);
    if (!promo) {
      rounds.push_back(std::move(r));
      break;
    }
    const auto& from = choices[promo->first].options[option[promo->first]];
    const auto& to = choices[promo->first].options[promo->second];
    r["promoted"] = {{"layer", choices[promo->first].layer},
                     {"from", quant::precision_name(from.precision)},
                     {"to", quant::precision_name(to.precision)}};
    promoted_reason[promo->first] = "auto: promoted from " +
                                    std::string(quant::precision_name(from.precision)) +
                                    " after round " + std::to_string(round);
    option[promo->first] = promo->second;
    rounds.push_back(std::move(r));
  }
  // The per-layer table carries the sensitivity behind each choice.
  for (json& l : last.report["layers"]) {
    const auto it = measured.find(l["name"].get<std::string>());
    if (it != measured.end()) l["sensitivity"] = it->second;
  }
  const bool size = ao.objective == analysis::Objective::kSize;
  last.report["auto"] = {
      {"formats", sens["flags"]["formats"]},
      {"objective", size ? "size" : "latency"},
      {"target", device->name},
      {"cost_unit", size ? "bytes" : "s"},
      {"max_rounds", ao.max_rounds},
      {"ranges", ranges_path.string()},
      {"first_plan", {{"predicted_drop", choice.predicted_drop}, {"cost", choice.cost}}},
      {"candidates", std::move(candidates)},
      {"rounds", rounds}};
  return last;
}

}  // namespace mixq::calib
