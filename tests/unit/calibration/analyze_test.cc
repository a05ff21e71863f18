// `mixq analyze`'s suffix recomputation against the naive approach done here: quantize only one
// layer in a full copy of the model (emit_qdq for INT8/FP8, emit_fp16 on the layer alone for
// FP16), run the whole model, compute the metric; for every layer and format of a small
// GraphBuilder model (one run, and the same data cut into one run per sample, which exercises
// the accumulation across runs) and of samples/digits_cnn. Also: the suffix of each layer holds
// exactly the nodes that depend on it, and the layer-local SQNR equals a direct computation
// on the layer's output tensor.
//
//   x ─ MatMul(w1) ─ h0 ─ Relu ─ h1 ─ MatMul(w2) ─ h2 ─ Add ─ s ─ MatMul(w3) ─ y
//                                 └──────────────────────┘
//   suffix(w2) = {MatMul(w2), Add, MatMul(w3)} fed h1; suffix(w3) = {MatMul(w3)} fed s.
#include "mixq/calibration/analyze.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "mixq/calibration/analyze_suffix.h"
#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/calibration/data/npz_writer.h"
#include "mixq/ir/shape_inference.h"
#include "mixq/onnx/model_io.h"
#include "mixq/passes/opset_upgrade.h"
#include "mixq/quant/fp16_emit.h"
#include "mixq/quant/layer_selection.h"
#include "test_support.h"

namespace mixq::calib {
namespace {

using json = nlohmann::ordered_json;
using quant::Precision;
using testing::TempDir;

std::string sample(const std::string& name, const std::string& file) {
  return std::string(MIXQ_SOURCE_DIR) + "/samples/" + name + "/" + file;
}

// Keeps one named float32 tensor of every run, joined into one flat tensor (run_dataset joins
// the model outputs the same way): the layer SQNR over the whole data set.
class Grab : public exec::Observer {
 public:
  explicit Grab(std::string name) : name_(std::move(name)) {}
  void on_output(const ir::Node&, const ir::Value& v, const ir::Tensor& t) override {
    if (v.name() != name_) return;
    ASSERT_EQ(t.dtype(), DType::kFloat32) << name_;
    values_.insert(values_.end(), t.data<float>(), t.data<float>() + t.numel());
  }
  ir::Tensor tensor() const {
    return ir::Tensor::from_floats({static_cast<int64_t>(values_.size())}, values_);
  }

 private:
  std::string name_;
  std::vector<float> values_;
};

// The model as analyze works on it: upgraded to opset 19, types inferred.
std::unique_ptr<ir::Model> working_model(const std::filesystem::path& path) {
  auto m = onnx::load_model(path);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  std::vector<std::string> log;
  if ((*m)->opset("") < 19) {
    EXPECT_TRUE(passes::upgrade_opset(**m, 19, &log).ok());
  }
  (*m)->ir_version = std::max<int64_t>((*m)->ir_version, 9);
  auto inferred = ir::infer_shapes(**m);
  EXPECT_TRUE(inferred.ok());
  ir::apply_inferred_types(**m, *inferred);
  return std::move(*m);
}

struct Naive {
  ir::Tensor output;        // first model output over the whole data set
  ir::Tensor layer_output;  // the layer's own output
};

// Quantizes only layer `li` of a full copy of the working model and runs all of it.
Naive run_naive(const std::filesystem::path& path, const json& ranges, size_t li, Precision p,
                const std::filesystem::path& eval) {
  auto m = working_model(path);
  const auto layers = quant::find_quantizable_layers(*m);
  auto* node = const_cast<ir::Node*>(layers[li].node);
  const std::string out_name = node->output(0)->name();
  std::vector<std::string> log;
  if (p == Precision::kFp16) {
    quant::Fp16Options fo;
    for (const auto& n : m->graph().nodes()) fo.keep_fp32.insert(n->op_type());
    EXPECT_TRUE(quant::emit_fp16(*m, {node}, fo, log).ok());
  } else {
    quant::QdqOptions qo;
    qo.activation_range = [&](const std::string& t, Precision f) -> std::optional<double> {
      const auto& acts = ranges["activations"];
      if (!acts.contains(t)) return std::nullopt;
      return acts[t]["ranges"]["mse"][f == Precision::kFp8 ? "fp8_e4m3" : "int8"].get<double>();
    };
    EXPECT_TRUE(quant::emit_qdq(*m, {{node, p, layers[li].weight_input, false}}, qo, log).ok());
  }
  EXPECT_TRUE(m->graph().sort_nodes().ok());
  auto ex = exec::Executor::create(*m, {.threads = 2});
  EXPECT_TRUE(ex.ok()) << ex.status().to_string();
  auto src = DataSource::open(eval);
  EXPECT_TRUE(src.ok());
  Grab grab(out_name);
  auto run = run_dataset(**ex, **src, &grab);
  EXPECT_TRUE(run.ok()) << run.status().to_string();
  return {run->outputs[0].second, grab.tensor()};
}

ir::Tensor fp32_layer_output(const std::filesystem::path& path, size_t li,
                             const std::filesystem::path& eval) {
  auto m = working_model(path);
  Grab grab(quant::find_quantizable_layers(*m)[li].node->output(0)->name());
  auto ex = exec::Executor::create(*m, {.threads = 2});
  auto src = DataSource::open(eval);
  EXPECT_TRUE(run_dataset(**ex, **src, &grab).ok());
  return grab.tensor();
}

json calibrated(const std::filesystem::path& model, const std::filesystem::path& data,
                const std::filesystem::path& out) {
  CalibrateOptions co;
  co.method = Method::kMse;
  auto j = calibrate(model, data, co);
  EXPECT_TRUE(j.ok()) << j.status().to_string();
  std::ofstream(out) << j->dump();
  return json::parse(testing::read_bytes(out));
}

// Within 1e-9 relative (the sums are the same float64 additions in the same order when the
// suffix outputs are bit-identical; the slack covers only the last bits of log10/exp).
void expect_close(double want, const json& got, const std::string& what) {
  if (std::isinf(want)) {
    EXPECT_TRUE(got.is_null()) << what;
    return;
  }
  ASSERT_FALSE(got.is_null()) << what;
  EXPECT_NEAR(got.get<double>(), want, 1e-9 * std::max(1.0, std::fabs(want))) << what;
}

// Checks every layer and format of `sens` against the naive computation.
void expect_matches_naive(const std::filesystem::path& model, const json& ranges,
                          const std::filesystem::path& eval, const json& sens) {
  auto fp32_model = working_model(model);
  auto ex = exec::Executor::create(*fp32_model, {.threads = 2});
  auto src = DataSource::open(eval);
  auto ref = run_dataset(**ex, **src);
  ASSERT_TRUE(ref.ok());
  const ir::Tensor& fp32 = ref->outputs[0].second;
  const std::string metric = sens["metric"]["name"];
  ir::Tensor labels;
  if (metric == "accuracy") labels = *(*src)->find("labels")->read_all();
  std::map<std::string, const json*> by_name;
  for (const auto& l : sens["layers"]) by_name[l["name"]] = &l;
  const auto layers = quant::find_quantizable_layers(*fp32_model);
  ASSERT_EQ(by_name.size(), layers.size());
  int compared = 0;
  for (size_t li = 0; li < layers.size(); ++li) {
    const json& row = *by_name.at(layers[li].node->name());
    const ir::Tensor lref = fp32_layer_output(model, li, eval);
    for (Precision p : {Precision::kFp8, Precision::kInt8, Precision::kFp16}) {
      const std::string what = layers[li].node->name() + " " + quant::precision_name(p);
      const Naive naive = run_naive(model, ranges, li, p, eval);
      const json& r = row["results"][quant::precision_name(p)];
      auto cmp = analysis::compare_outputs("y", fp32, naive.output);
      ASSERT_TRUE(cmp.ok());
      expect_close(cmp->sqnr_db, r["output_sqnr_db"], what + " output SQNR");
      expect_close(cmp->cosine, r["output_cosine"], what + " cosine");
      expect_close(cmp->top1_agreement, r["top1_agreement"], what + " top1");
      if (metric == "accuracy") {
        const double a = *analysis::accuracy(fp32, labels);
        const double b = *analysis::accuracy(naive.output, labels);
        expect_close(b, r["metric"], what + " accuracy");
        expect_close(a - b, r["drop"], what + " drop");
      } else {
        ASSERT_EQ(metric, "cosine");
        expect_close(1.0 - cmp->cosine, r["drop"], what + " drop");
      }
      auto local = analysis::compare_outputs("layer", lref, naive.layer_output);
      ASSERT_TRUE(local.ok()) << local.status().to_string();
      expect_close(local->sqnr_db, r["layer_sqnr_db"], what + " layer SQNR");
      ++compared;
    }
  }
  EXPECT_EQ(compared, static_cast<int>(3 * layers.size()));
}

// The diagram at the top of this file, saved as model.onnx, with eval data of 48 samples as
// one run (eval.npz, with labels) and as one run per sample (eval_samples.npz).
struct SmallModel {
  TempDir dir;
  std::filesystem::path model = dir / "model.onnx";
  std::filesystem::path eval = dir / "eval.npz";
  std::filesystem::path eval_samples = dir / "eval_samples.npz";
};

void make_small_model(SmallModel& s) {
  testing::GraphBuilder b(13);
  ir::Value* x = b.input("x", DType::kFloat32, {"N", 8});
  ir::Value* h0 = b.node("MatMul", {x, b.constant("w1", testing::random_floats({8, 16}, 1))})[0];
  ir::Value* h1 = b.node("Relu", {h0})[0];
  ir::Value* h2 = b.node("MatMul", {h1, b.constant("w2", testing::random_floats({16, 16}, 2))})[0];
  ir::Value* s_ = b.node("Add", {h2, h1})[0];
  ir::Value* y = b.node("MatMul", {s_, b.constant("w3", testing::random_floats({16, 4}, 3))})[0];
  b.output(y);
  int i = 0;
  for (const auto& n : b.graph().nodes()) n->set_name("n" + std::to_string(i++));
  ASSERT_TRUE(onnx::save_model(b.model(), s.model).ok());
  const ir::Tensor xs = testing::random_floats({48, 8}, 7, -2, 2);
  auto w = NpzWriter::create(s.eval);
  ASSERT_TRUE(w.ok());
  ASSERT_TRUE((*w)->add("x", xs).ok());
  ASSERT_TRUE((*w)->add("labels", testing::random_int64s({48}, 8, 0, 3)).ok());
  ASSERT_TRUE((*w)->commit().ok());
  auto ws = NpzWriter::create(s.eval_samples);
  auto per_sample = ir::Tensor::from_buffer(DType::kFloat32, {48, 1, 8}, xs.buffer());
  ASSERT_TRUE((*ws)->add("x", *per_sample).ok());
  ASSERT_TRUE((*ws)->commit().ok());
}

TEST(Analyze, SuffixHoldsExactlyTheDependentNodes) {
  SmallModel s;
  make_small_model(s);
  auto m = working_model(s.model);
  const auto layers = quant::find_quantizable_layers(*m);
  ASSERT_EQ(layers.size(), 3u);
  const auto ops = [](const SuffixModel& sm) {
    std::vector<std::string> names;
    for (const auto& n : sm.model->graph().nodes()) names.push_back(n->name());
    return names;
  };
  auto first = build_suffix_model(*m, *layers[0].node);
  ASSERT_TRUE(first.ok());
  EXPECT_EQ(ops(*first), (std::vector<std::string>{"n0", "n1", "n2", "n3", "n4"}));
  EXPECT_EQ(first->inputs, std::vector<std::string>{"x"});
  auto mid = build_suffix_model(*m, *layers[1].node);
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(ops(*mid), (std::vector<std::string>{"n2", "n3", "n4"}));
  EXPECT_EQ(mid->inputs, std::vector<std::string>{m->graph().nodes()[1]->output(0)->name()});
  auto last = build_suffix_model(*m, *layers[2].node);
  ASSERT_TRUE(last.ok());
  EXPECT_EQ(ops(*last), std::vector<std::string>{"n4"});
  EXPECT_EQ(last->dependent_nodes, 1u);
  EXPECT_EQ(last->inputs, std::vector<std::string>{m->graph().nodes()[3]->output(0)->name()});
  // The weight stays an initializer; the original output is the suffix's only output.
  EXPECT_EQ(last->model->graph().initializers().size(), 1u);
  EXPECT_EQ(last->original_outputs, std::vector<size_t>{0});
  EXPECT_EQ(last->layer_output, 0u);
  // A middle layer's own output is added after the original ones.
  EXPECT_EQ(mid->layer_output, 1u);

  // digits_cnn: the head's last Gemm is the tail alone.
  auto cnn = working_model(sample("digits_cnn", "model.onnx"));
  const auto cnn_layers = quant::find_quantizable_layers(*cnn);
  ASSERT_EQ(cnn_layers.size(), 5u);
  auto tail = build_suffix_model(*cnn, *cnn_layers.back().node);
  ASSERT_TRUE(tail.ok());
  ASSERT_EQ(tail->model->graph().num_nodes(), 1u);
  EXPECT_EQ(tail->model->graph().nodes()[0]->op_type(), "Gemm");
  auto head = build_suffix_model(*cnn, *cnn_layers.front().node);
  ASSERT_TRUE(head.ok());
  EXPECT_LT(tail->dependent_nodes, head->dependent_nodes);
  EXPECT_LT(head->dependent_nodes, cnn->graph().num_nodes() + 1);
}

TEST(Analyze, SmallModelEqualsNaiveForEveryLayerAndFormat) {
  SmallModel s;
  make_small_model(s);
  const json ranges = calibrated(s.model, s.eval, s.dir / "ranges.json");
  AnalyzeOptions o;
  o.ranges = s.dir / "ranges.json";
  o.eval = s.eval;
  o.threads = 2;
  auto sens = analyze(s.model, o);
  ASSERT_TRUE(sens.ok()) << sens.status().to_string();
  EXPECT_EQ((*sens)["metric"]["name"], "accuracy");
  expect_matches_naive(s.model, ranges, s.eval, *sens);

  // The same data as 48 runs of one sample: the statistics accumulated run by run give the
  // metric of the whole set, here against the naive approach run on the same 48 runs (cosine:
  // the per-sample file has no labels), so not against the one-run analysis above. (A
  // MatMul's right operand that is not an initializer, a DequantizeLinear output or a float16
  // weight widened per call, is packed for the call with a build's packed GEMM, so one row or
  // 48 give the same bits; with Eigen, GEMV and GEBP sum the K terms in different orders.)
  o.eval = s.eval_samples;
  auto per_run = analyze(s.model, o);
  ASSERT_TRUE(per_run.ok()) << per_run.status().to_string();
  EXPECT_EQ((*per_run)["data"]["runs"], 48);
  EXPECT_EQ((*per_run)["metric"]["name"], "cosine");
  expect_matches_naive(s.model, ranges, s.eval_samples, *per_run);
}

TEST(Analyze, DigitsCnnEqualsNaiveForEveryLayerAndFormat) {
  TempDir dir;
  const std::filesystem::path model = sample("digits_cnn", "model.onnx");
  const std::filesystem::path eval = sample("digits_cnn", "eval.npz");
  const json ranges = calibrated(model, sample("digits_cnn", "calib.npz"), dir / "ranges.json");
  AnalyzeOptions o;
  o.ranges = dir / "ranges.json";
  o.eval = eval;
  o.threads = 2;
  auto sens = analyze(model, o);
  ASSERT_TRUE(sens.ok()) << sens.status().to_string();
  ASSERT_EQ((*sens)["layers"].size(), 5u);
  expect_matches_naive(model, ranges, eval, *sens);
  // Worst first.
  double prev = 1e300;
  for (const auto& l : (*sens)["layers"]) {
    EXPECT_LE(l["worst"].get<double>(), prev);
    prev = l["worst"].get<double>();
  }
}

TEST(Analyze, RejectsCapturedActivationsOverTheMemoryBound) {
  TempDir dir;
  AnalyzeOptions o;
  o.data = sample("digits_cnn", "calib.npz");
  o.eval = sample("digits_cnn", "eval.npz");
  o.max_memory_mb = 1;
  auto sens = analyze(sample("digits_cnn", "model.onnx"), o);
  ASSERT_FALSE(sens.ok());
  EXPECT_EQ(sens.status().code(), StatusCode::kBadInput);
  EXPECT_NE(sens.status().message().find("--max-memory 1 MiB"), std::string::npos)
      << sens.status().message();
}

}  // namespace
}  // namespace mixq::calib
