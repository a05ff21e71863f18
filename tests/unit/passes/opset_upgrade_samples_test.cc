// The bundled samples (digits_mobile at opset 11, digits_cnn at 13, tinygpt at 17) upgraded to
// opsets 19 and 21: the CPU executor gives bit-identical logits on each sample's eval.npz, and
// the upgraded model survives a save/load round trip with the same outputs.
#include <gtest/gtest.h>

#include <cstring>

#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/exec/executor.h"
#include "mixq/onnx/model_io.h"
#include "mixq/passes/opset_upgrade.h"
#include "test_support.h"

namespace mixq {
namespace {

const std::filesystem::path kSamples = std::filesystem::path(MIXQ_SOURCE_DIR) / "samples";

// The joined outputs of `model` over the sample's eval.npz.
std::vector<ir::Tensor> eval_outputs(const ir::Model& model, const std::string& sample) {
  auto ex = exec::Executor::create(model, {.threads = 4});
  EXPECT_TRUE(ex.ok()) << ex.status().to_string();
  if (!ex.ok()) return {};
  auto data = calib::DataSource::open(kSamples / sample / "eval.npz");
  EXPECT_TRUE(data.ok()) << data.status().to_string();
  if (!data.ok()) return {};
  auto out = calib::run_dataset(**ex, **data);
  EXPECT_TRUE(out.ok()) << out.status().to_string();
  if (!out.ok()) return {};
  std::vector<ir::Tensor> tensors;
  for (auto& [name, t] : out->outputs) tensors.push_back(t);
  return tensors;
}

void expect_identical(const std::vector<ir::Tensor>& want, const std::vector<ir::Tensor>& got,
                      const std::string& what) {
  ASSERT_EQ(want.size(), got.size()) << what;
  ASSERT_FALSE(want.empty()) << what;
  for (size_t i = 0; i < want.size(); ++i) {
    ASSERT_EQ(want[i].dims(), got[i].dims()) << what;
    ASSERT_EQ(want[i].nbytes(), got[i].nbytes()) << what;
    EXPECT_EQ(std::memcmp(want[i].raw_data(), got[i].raw_data(), want[i].nbytes()), 0)
        << what << ": output " << i << " differs";
  }
}

void check_sample(const std::string& sample, int64_t opset) {
  auto original = onnx::load_model(kSamples / sample / "model.onnx");
  ASSERT_TRUE(original.ok()) << original.status().to_string();
  ASSERT_EQ((*original)->opset(""), opset);
  const std::vector<ir::Tensor> want = eval_outputs(**original, sample);
  for (int64_t target : {19, 21}) {
    const std::string what = sample + " -> " + std::to_string(target);
    auto model = onnx::load_model(kSamples / sample / "model.onnx");
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    std::vector<std::string> log;
    const Status s = passes::upgrade_opset(**model, target, &log);
    ASSERT_TRUE(s.ok()) << what << ": " << s.to_string();
    EXPECT_EQ((*model)->opset(""), target);
    expect_identical(want, eval_outputs(**model, sample), what);

    testing::TempDir dir;
    ASSERT_TRUE(onnx::save_model(**model, dir / "model.onnx").ok()) << what;
    auto reloaded = onnx::load_model(dir / "model.onnx");
    ASSERT_TRUE(reloaded.ok()) << what << ": " << reloaded.status().to_string();
    EXPECT_EQ((*reloaded)->opset(""), target);
    EXPECT_EQ((*reloaded)->graph().num_nodes(), (*model)->graph().num_nodes());
    expect_identical(want, eval_outputs(**reloaded, sample), what + " reloaded");
  }
}

TEST(OpsetUpgradeSamples, DigitsMobileFrom11) { check_sample("digits_mobile", 11); }
TEST(OpsetUpgradeSamples, DigitsCnnFrom13) { check_sample("digits_cnn", 13); }
TEST(OpsetUpgradeSamples, TinyGptFrom17) { check_sample("tinygpt", 17); }

}  // namespace
}  // namespace mixq
