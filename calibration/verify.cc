#include "mixq/calibration/verify.h"

#include <cmath>
#include <memory>

#include "mixq/calibration/data/batcher.h"
#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/exec/executor.h"

namespace mixq::calib {

namespace {

using json = nlohmann::ordered_json;

// Targets for perplexity: the eval data's `targets`, else the next tokens of an int64 input
// [N, T] whose logits are [N, T, V] (the last position then has no target and is left out).
Expected<std::optional<TaskMetric>> task_metric(const DataSource& eval, const exec::Executor& ex,
                                                const ir::Tensor& ref, const ir::Tensor& cand) {
  if (ArrayReader* labels = eval.find("labels")) {
    MIXQ_ASSIGN_OR_RETURN(auto y, labels->read_all());
    MIXQ_ASSIGN_OR_RETURN(double a, analysis::accuracy(ref, y));
    MIXQ_ASSIGN_OR_RETURN(double b, analysis::accuracy(cand, y));
    return std::optional<TaskMetric>(TaskMetric{"accuracy", a, b});
  }
  if (ArrayReader* targets = eval.find("targets")) {
    MIXQ_ASSIGN_OR_RETURN(auto y, targets->read_all());
    MIXQ_ASSIGN_OR_RETURN(double a, analysis::perplexity(ref, y));
    MIXQ_ASSIGN_OR_RETURN(double b, analysis::perplexity(cand, y));
    return std::optional<TaskMetric>(TaskMetric{"ppl", a, b});
  }
  // Next-token targets from the ids input.
  if (ref.rank() != 3 || ex.inputs().size() != 1) return std::optional<TaskMetric>();
  ArrayReader* ids = eval.find(ex.inputs()[0]->name());
  if (ids == nullptr || ids->dtype() != DType::kInt64) return std::optional<TaskMetric>();
  MIXQ_ASSIGN_OR_RETURN(auto x, ids->read_all());
  const auto& d = ref.dims();
  if (x.rank() != 2 || x.dims()[0] != d[0] || x.dims()[1] != d[1] || d[1] < 2) {
    return std::optional<TaskMetric>();
  }
  const int64_t n = d[0], t = d[1], v = d[2];
  std::vector<int64_t> next(static_cast<size_t>(n * (t - 1)));
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t k = 0; k + 1 < t; ++k) {
      next[size_t(i * (t - 1) + k)] = x.data<int64_t>()[i * t + k + 1];
    }
  }
  const auto cut = [&](const ir::Tensor& logits) {
    std::vector<float> out(static_cast<size_t>(n * (t - 1) * v));
    for (int64_t i = 0; i < n; ++i) {
      const float* src = logits.data<float>() + i * t * v;
      std::copy(src, src + (t - 1) * v, out.begin() + i * (t - 1) * v);
    }
    return ir::Tensor::from_floats({n, t - 1, v}, out);
  };
  if (ref.dtype() != DType::kFloat32 || cand.dtype() != DType::kFloat32) {
    return std::optional<TaskMetric>();
  }
  const ir::Tensor y = ir::Tensor::from_int64s({n, t - 1}, next);
  MIXQ_ASSIGN_OR_RETURN(double a, analysis::perplexity(cut(ref), y));
  MIXQ_ASSIGN_OR_RETURN(double b, analysis::perplexity(cut(cand), y));
  return std::optional<TaskMetric>(TaskMetric{"ppl", a, b});
}

// The dims the first run gave to the tensors named in `want` (node outputs; graph inputs are
// added from the first run's feeds by the caller).
class DimsRecorder : public exec::Observer {
 public:
  explicit DimsRecorder(std::set<std::string> want) : want_(std::move(want)) {}
  void on_output(const ir::Node&, const ir::Value& v, const ir::Tensor& t) override {
    if (want_.count(v.name()) && !dims.count(v.name())) dims[v.name()] = t.dims();
  }
  std::map<std::string, std::vector<int64_t>> dims;

 private:
  std::set<std::string> want_;
};

Expected<DatasetRun> run_on(
    const ir::Model& model, const std::filesystem::path& data, int threads,
    std::unique_ptr<exec::Executor>* keep = nullptr, DimsRecorder* dims = nullptr,
    const std::function<Expected<RunFn>(const ir::Model&)>* make = nullptr) {
  MIXQ_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(model, {.threads = threads}));
  std::vector<std::string> names;
  for (const ir::Value* v : ex->inputs()) names.push_back(v->name());
  MIXQ_ASSIGN_OR_RETURN(auto source, DataSource::open(data, names));
  DatasetRun result;
  if (make != nullptr && *make) {
    MIXQ_ASSIGN_OR_RETURN(RunFn run, (*make)(model));
    MIXQ_ASSIGN_OR_RETURN(result, run_dataset(*ex, *source, run));
  } else {
    MIXQ_ASSIGN_OR_RETURN(result, run_dataset(*ex, *source, dims));
  }
  if (dims != nullptr) {
    MIXQ_ASSIGN_OR_RETURN(auto batcher, Batcher::create(*source, input_specs(*ex)));
    if (batcher.num_runs() > 0) {
      MIXQ_ASSIGN_OR_RETURN(auto feeds, batcher.run(0));
      for (const auto& [name, t] : feeds) dims->dims.emplace(name, t.dims());
    }
  }
  if (keep != nullptr) *keep = std::move(ex);
  return result;
}

}  // namespace

Expected<std::map<std::string, std::vector<int64_t>>> record_dims(
    const ir::Model& model, const std::filesystem::path& eval, int threads,
    const std::set<std::string>& names) {
  DimsRecorder dims(names);
  MIXQ_RETURN_IF_ERROR(run_on(model, eval, threads, nullptr, &dims).status());
  return std::move(dims.dims);
}

json Verification::json_block() const {
  json j = {{"outputs", outputs}};
  if (task) {
    j["task"] = {{"metric", task->name}, {"fp32", task->reference}, {"quantized", task->candidate}};
  }
  return j;
}

Expected<Verification> verify_models(const ir::Model& reference, const ir::Model& candidate,
                                     const std::filesystem::path& eval, const VerifyOptions& o) {
  Verification v;
  std::unique_ptr<exec::Executor> ref_ex;
  DimsRecorder dims(o.record_dims);
  MIXQ_ASSIGN_OR_RETURN(auto ref_out,
                        run_on(reference, eval, o.threads, &ref_ex, &dims, &o.make_runner));
  MIXQ_ASSIGN_OR_RETURN(auto cand_out,
                        run_on(candidate, eval, o.threads, nullptr, nullptr, &o.make_runner));
  v.dims = std::move(dims.dims);
  std::vector<std::string> names;
  for (const ir::Value* in : ref_ex->inputs()) names.push_back(in->name());
  MIXQ_ASSIGN_OR_RETURN(auto eval_source, DataSource::open(eval, names));
  std::optional<analysis::OutputComparison> first;
  for (size_t i = 0; i < ref_out.outputs.size() && i < cand_out.outputs.size(); ++i) {
    const auto& [name, ref] = ref_out.outputs[i];
    auto cmp = analysis::compare_outputs(name, ref, cand_out.outputs[i].second);
    if (!cmp.ok()) {
      v.outputs.push_back({{"name", name}, {"compared", false}, {"why", cmp.status().message()}});
      continue;
    }
    if (!first) first = *cmp;
    v.outputs.push_back({{"name", name},
                         {"elements", cmp->elements},
                         {"sqnr_db", std::isinf(cmp->sqnr_db) ? json(nullptr) : json(cmp->sqnr_db)},
                         {"cosine", cmp->cosine},
                         {"max_abs_error", cmp->max_abs_error},
                         {"top1_agreement", cmp->top1_agreement},
                         {"rows", cmp->rows}});
  }
  if (!ref_out.outputs.empty() && !cand_out.outputs.empty()) {
    MIXQ_ASSIGN_OR_RETURN(v.task, task_metric(*eval_source, *ref_ex, ref_out.outputs[0].second,
                                              cand_out.outputs[0].second));
  }
  if (!o.metric) return v;
  const analysis::Metric m = *o.metric;
  if (!first) return bad_input(eval.string(), ": no float output to measure ", metric_name(m));
  double achieved = 0;
  std::string unit;
  switch (m) {
    case analysis::Metric::kTop1:
      achieved = 100.0 - first->top1_agreement;
      unit = "percentage points of top-1 disagreement";
      break;
    case analysis::Metric::kCosine:
      achieved = 1.0 - first->cosine;
      unit = "1 - cosine";
      break;
    case analysis::Metric::kSqnr:
      achieved = first->sqnr_db;
      unit = "dB (floor)";
      break;
    case analysis::Metric::kAccuracy:
    case analysis::Metric::kPpl: {
      const std::string want = m == analysis::Metric::kAccuracy ? "accuracy" : "ppl";
      if (!v.task || v.task->name != want) {
        return bad_input(eval.string(), ": --metric ", want, " needs ",
                         want == "accuracy" ? "'labels'" : "'targets' (or next-token ids)",
                         " in the evaluation data");
      }
      achieved = m == analysis::Metric::kAccuracy
                     ? v.task->reference - v.task->candidate
                     : (v.task->candidate / v.task->reference - 1.0) * 100.0;
      unit = m == analysis::Metric::kAccuracy ? "percentage points" : "percent increase";
      break;
    }
  }
  bool met = true;
  if (m == analysis::Metric::kSqnr) {
    if (o.min_sqnr) met = achieved >= *o.min_sqnr;
  } else if (o.max_drop) {
    met = achieved <= *o.max_drop;
  }
  v.budget_met = met;
  v.budget = {{"metric", metric_name(m)},
              {"unit", unit},
              {"max_drop", o.max_drop ? json(*o.max_drop) : json(nullptr)},
              {"min_sqnr", o.min_sqnr ? json(*o.min_sqnr) : json(nullptr)},
              {"achieved", std::isinf(achieved) ? json(nullptr) : json(achieved)},
              {"met", met}};
  return v;
}

}  // namespace mixq::calib
