// `mixq calibrate --tensors`: only the named activations are observed and written, with the
// same numbers a full calibration gives them; a Flatten output (whose record is its input's)
// works without its input being named; a name the model lacks is refused naming it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace mixq {
namespace {

using testing::run_mixq;
using testing::TempDir;

const std::string kModel = testing::sample_file("digits_cnn", "model.onnx");
const std::string kCalib = testing::sample_file("digits_cnn", "calib.npz");
const std::string kRelu = "/features/features.2/Relu_output_0";
const std::string kFlatten = "/head/head.0/Flatten_output_0";

nlohmann::json calibrate(const TempDir& dir, const std::vector<std::string>& extra,
                         const std::string& out) {
  std::vector<std::string> args = {"calibrate",         kModel, "--data", kCalib, "--quiet", "-o",
                                   (dir / out).string()};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = run_mixq(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(testing::read_bytes(dir / out), nullptr, false);
}

TEST(CliCalibrateTensors, ObservesOnlyTheNamedActivations) {
  TempDir dir;
  const auto all = calibrate(dir, {}, "all.json");
  const auto some = calibrate(dir, {"--tensors", kRelu + "," + kFlatten}, "some.json");
  ASSERT_FALSE(all.is_discarded());
  ASSERT_FALSE(some.is_discarded());
  ASSERT_GE(all["activations"].size(), 15u);
  // Exactly the two named tensors, each with the numbers the full calibration gave it.
  ASSERT_EQ(some["activations"].size(), 2u) << some["activations"].dump();
  for (const std::string& name : {kRelu, kFlatten}) {
    ASSERT_TRUE(some["activations"].contains(name)) << name;
    EXPECT_EQ(some["activations"][name], all["activations"][name]) << name;
  }
  // The Flatten output's record is copied from its input's (AveragePool), which was observed
  // for it but is not written.
  EXPECT_GT(some["activations"][kFlatten]["count"].get<int64_t>(), 0);
  EXPECT_FALSE(some["activations"].contains("/features/features.10/AveragePool_output_0"));
  EXPECT_FALSE(some["activations"].contains("input"));
  // Layer inputs: only the layers reading a named tensor (the second Conv and the first Gemm).
  ASSERT_EQ(some["layer_inputs"].size(), 2u);
  EXPECT_EQ(some["layer_inputs"][0]["layer"], "/features/features.3/Conv");
  EXPECT_EQ(some["layer_inputs"][1]["layer"], "/head/head.1/Gemm");
  EXPECT_EQ(some["layer_inputs"][1]["channel_absmax"], all["layer_inputs"][3]["channel_absmax"]);
  // Weights do not depend on the data: all of them, as before.
  EXPECT_EQ(some["weights"], all["weights"]);
  EXPECT_EQ(some["tensors"], (nlohmann::json{kRelu, kFlatten}));
  EXPECT_FALSE(all.contains("tensors"));
}

// A Split's input (tinygpt's qkv projection), whose record is the union of the Split's
// outputs': named alone, its outputs are observed for it but not written, and it has the numbers
// the full calibration gives it.
TEST(CliCalibrateTensors, ASplitInputIsObservedThroughItsOutputs) {
  TempDir dir;
  const std::string model = testing::sample_file("tinygpt", "model.onnx");
  const std::string data = testing::sample_file("tinygpt", "calib.npz");
  const std::string qkv = "/blocks.0/qkv/Add_output_0";
  nlohmann::json runs[2];
  const std::vector<std::string> extras[2] = {{}, {"--tensors", qkv}};
  for (int i = 0; i < 2; ++i) {
    const auto out = (dir / ("r" + std::to_string(i) + ".json")).string();
    std::vector<std::string> args = {"calibrate", model, "--data", data, "--quiet", "-o", out};
    args.insert(args.end(), extras[i].begin(), extras[i].end());
    auto r = run_mixq(args);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    runs[i] = nlohmann::json::parse(testing::read_bytes(out), nullptr, false);
    ASSERT_FALSE(runs[i].is_discarded());
  }
  ASSERT_EQ(runs[1]["activations"].size(), 1u) << runs[1]["activations"].dump();
  ASSERT_TRUE(runs[0]["activations"].contains(qkv));
  EXPECT_GT(runs[1]["activations"][qkv]["count"].get<int64_t>(), 0);
  EXPECT_EQ(runs[1]["activations"][qkv], runs[0]["activations"][qkv]);
}

TEST(CliCalibrateTensors, rejects_a_name_that_is_no_activation_of_the_model) {
  TempDir dir;
  auto r = run_mixq({"calibrate", kModel, "--data", kCalib, "--tensors", kRelu + ",no_such_tensor",
                     "-o", (dir / "r.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'no_such_tensor'"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "r.json"));
  // An initializer is no activation.
  r = run_mixq({"calibrate", kModel, "--data", kCalib, "--tensors", "features.0.weight", "-o",
                (dir / "r.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'features.0.weight'"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mixq
