// The bundled samples are trained networks: mixq's CPU executor, run on each sample's eval.npz,
// reproduces the quality PyTorch measured on the same data when train.py exported the model
// (samples/<name>/metrics.json), and the models keep the shapes and opsets the samples promise.
// The metric is computed here, in float64, from mixq's logits.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>

#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/exec/executor.h"
#include "mixq/onnx/model_io.h"

namespace mixq {
namespace {

const std::filesystem::path kSamples = std::filesystem::path(MIXQ_SOURCE_DIR) / "samples";

nlohmann::json metrics_of(const std::string& sample) {
  std::ifstream in(kSamples / sample / "metrics.json");
  EXPECT_TRUE(in.good()) << sample << "/metrics.json is missing";
  return nlohmann::json::parse(in, nullptr, false);
}

struct EvalRun {
  std::unique_ptr<ir::Model> model;
  ir::Tensor logits;
  ir::Tensor reference;  // labels or targets
};

EvalRun run_eval(const std::string& sample, const std::string& reference) {
  EvalRun r;
  auto model = onnx::load_model(kSamples / sample / "model.onnx");
  EXPECT_TRUE(model.ok()) << model.status().to_string();
  if (!model.ok()) return r;
  r.model = std::move(model).value();
  auto ex = exec::Executor::create(*r.model, {.threads = 2});
  EXPECT_TRUE(ex.ok()) << ex.status().to_string();
  if (!ex.ok()) return r;
  auto data = calib::DataSource::open(kSamples / sample / "eval.npz");
  EXPECT_TRUE(data.ok()) << data.status().to_string();
  if (!data.ok()) return r;
  auto out = calib::run_dataset(**ex, **data);
  EXPECT_TRUE(out.ok()) << out.status().to_string();
  if (!out.ok()) return r;
  r.logits = out->outputs.at(0).second;
  calib::ArrayReader* ref = (*data)->find(reference);
  EXPECT_NE(ref, nullptr) << sample << "/eval.npz has no '" << reference << "'";
  if (ref == nullptr) return r;
  auto t = ref->read_all();
  EXPECT_TRUE(t.ok()) << t.status().to_string();
  if (t.ok()) r.reference = std::move(t).value();
  return r;
}

// Fraction of rows of logits [N, C] whose argmax equals the label.
double accuracy(const ir::Tensor& logits, const ir::Tensor& labels) {
  const int64_t n = logits.dims()[0], c = logits.dims()[1];
  int64_t hits = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t best = 0;
    for (int64_t j = 1; j < c; ++j) {
      if (logits.element_as_double(i * c + j) > logits.element_as_double(i * c + best)) best = j;
    }
    hits += best == labels.element_as_int64(i);
  }
  return static_cast<double>(hits) / static_cast<double>(n);
}

// exp(mean negative log-likelihood) of targets [N, T] under logits [N, T, V].
double perplexity(const ir::Tensor& logits, const ir::Tensor& targets) {
  const int64_t rows = targets.numel(), v = logits.dims().back();
  double nll = 0;
  for (int64_t r = 0; r < rows; ++r) {
    double mx = -INFINITY;
    for (int64_t j = 0; j < v; ++j) mx = std::max(mx, logits.element_as_double(r * v + j));
    double sum = 0;
    for (int64_t j = 0; j < v; ++j) sum += std::exp(logits.element_as_double(r * v + j) - mx);
    nll += mx + std::log(sum) - logits.element_as_double(r * v + targets.element_as_int64(r));
  }
  return std::exp(nll / static_cast<double>(rows));
}

int64_t opset_of(const ir::Model& m) {
  for (const auto& imp : m.opset_imports) {
    if (imp.domain.empty() || imp.domain == "ai.onnx") return imp.version;
  }
  return 0;
}

int count_op(const ir::Model& m, const std::string& op) {
  int n = 0;
  for (const auto& node : m.graph().nodes()) n += node->op_type() == op;
  return n;
}

// Runs a digits sample on eval.npz: the accuracy from mixq's logits equals PyTorch's up to one
// image whose top two logits are within rounding. Returns the model for structure checks.
std::unique_ptr<ir::Model> check_digits(const std::string& sample, int64_t opset) {
  const auto m = metrics_of(sample);
  EvalRun r = run_eval(sample, "labels");
  EXPECT_NE(r.model, nullptr);
  if (r.model == nullptr) return nullptr;
  EXPECT_EQ(opset_of(*r.model), opset);
  const int64_t n = m["eval_images"].get<int64_t>();
  EXPECT_EQ(r.logits.dims(), (std::vector<int64_t>{n, 10}));
  if (r.logits.dims() != std::vector<int64_t>{n, 10}) return nullptr;
  const double acc = accuracy(r.logits, r.reference);
  EXPECT_NEAR(acc, m["pytorch_eval_accuracy"].get<double>(), 1.0 / static_cast<double>(n) + 1e-9)
      << sample;
  EXPECT_GE(acc, 0.95) << sample << ": the committed model is not a trained one";
  return std::move(r.model);
}

TEST(Samples, DigitsCnnMatchesPyTorchAccuracy) {
  auto model = check_digits("digits_cnn", 13);
  ASSERT_NE(model, nullptr);
  EXPECT_GE(count_op(*model, "Conv"), 3);
  EXPECT_GE(count_op(*model, "BatchNormalization"), 3) << "BatchNormalization must stay a node";
  EXPECT_GE(count_op(*model, "Gemm"), 1);
}

TEST(Samples, DigitsMobileMatchesPyTorchAccuracy) {
  auto model = check_digits("digits_mobile", 11);
  ASSERT_NE(model, nullptr);
  int depthwise = 0;
  for (const auto& node : model->graph().nodes()) {
    if (node->op_type() == "Conv") depthwise += node->attr_int("group", 1).value() > 1;
  }
  EXPECT_GE(depthwise, 4) << "depthwise convolutions";
  EXPECT_GE(count_op(*model, "Add"), 2) << "residual Add";
  EXPECT_EQ(count_op(*model, "GlobalAveragePool"), 1);
}

TEST(Samples, TinyGptMatchesPyTorchPerplexity) {
  const auto m = metrics_of("tinygpt");
  EvalRun r = run_eval("tinygpt", "targets");
  ASSERT_NE(r.model, nullptr);
  EXPECT_EQ(opset_of(*r.model), 17);
  EXPECT_GE(count_op(*r.model, "Softmax"), 4) << "attention written with MatMul/Softmax";
  EXPECT_GE(count_op(*r.model, "LayerNormalization"), 9);
  const int64_t n = m["eval_sequences"].get<int64_t>(), ctx = m["context"].get<int64_t>();
  ASSERT_EQ(r.logits.dims(), (std::vector<int64_t>{n, ctx, 128}));
  const double ppl = perplexity(r.logits, r.reference);
  EXPECT_NEAR(ppl, m["pytorch_eval_ppl"].get<double>(), 1e-4 * ppl);
  EXPECT_LT(ppl, 8.0) << "the committed model is not a trained one (uniform is 128)";
}

TEST(Samples, EverySampleIsSmallAndDocumented) {
  for (const std::string s : {"tinygpt", "digits_cnn", "digits_mobile"}) {
    for (const char* f : {"model.onnx", "calib.npz", "eval.npz", "train.py", "README.md"}) {
      EXPECT_TRUE(std::filesystem::exists(kSamples / s / f)) << s << "/" << f;
    }
    EXPECT_LT(std::filesystem::file_size(kSamples / s / "model.onnx"), 10u << 20) << s;
  }
}

}  // namespace
}  // namespace mixq
