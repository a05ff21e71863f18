// `mixq calibrate` as a user runs it: RANGES.json's schema and contents on the digits_cnn
// sample (model hash from sha256sum, every activation with all methods' ranges, layer inputs,
// weights), determinism across thread counts and data layouts, NaN samples reported and
// excluded, and bad input refused with the documented exit codes.
#include <gtest/gtest.h>

#include <cstdio>
#include <nlohmann/json.hpp>

#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/npz_writer.h"
#include "proto_fixtures.h"
#include "test_support.h"

namespace mixq {
namespace {

using testing::run_mixq;
using testing::TempDir;

const std::string kModel = std::string(MIXQ_SOURCE_DIR) + "/samples/digits_cnn/model.onnx";
const std::string kCalib = std::string(MIXQ_SOURCE_DIR) + "/samples/digits_cnn/calib.npz";

nlohmann::json calibrate(const std::vector<std::string>& extra, const TempDir& dir,
                         const std::string& out_name = "ranges.json") {
  std::vector<std::string> args = {"calibrate", kModel, "-o", (dir / out_name).string()};
  args.insert(args.end(), extra.begin(), extra.end());
  auto r = run_mixq(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return nlohmann::json::parse(testing::read_bytes(dir / out_name), nullptr, false);
}

std::string sha256sum(const std::string& path) {
  FILE* p = popen(("sha256sum '" + path + "'").c_str(), "r");
  char out[65] = {};
  if (p == nullptr || fread(out, 1, 64, p) != 64) return "";
  pclose(p);
  return out;
}

TEST(CliCalibrate, WritesRangesJsonForEveryActivationLayerAndWeight) {
  TempDir dir;
  auto j = calibrate({"--data", kCalib, "--method", "mse"}, dir);
  ASSERT_FALSE(j.is_discarded());
  EXPECT_EQ(j["schema"], "mixq.ranges");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["model"]["sha256"], sha256sum(kModel));
  EXPECT_EQ(j["method"], "mse");
  EXPECT_EQ(j["data"]["samples"], 256);
  EXPECT_EQ(j["data"]["samples_used"], 256);
  // Every float tensor: the input and the 17 node outputs that are float (Constant's int64
  // pads are not).
  const auto& acts = j["activations"];
  ASSERT_TRUE(acts.contains("input"));
  EXPECT_GE(acts.size(), 15u);
  for (const auto& [name, a] : acts.items()) {
    ASSERT_TRUE(a.contains("ranges")) << name;
    const double absmax = a["absmax"];
    EXPECT_EQ(a["ranges"]["minmax"].get<double>(), absmax) << name;
    for (const char* m : {"percentile", "entropy"}) {
      EXPECT_GT(a["ranges"][m].get<double>(), 0) << name << " " << m;
      EXPECT_LE(a["ranges"][m].get<double>(), absmax) << name << " " << m;
    }
    // --method mse: the chosen range per format is that format's MSE range.
    EXPECT_EQ(a["chosen"]["int8"], a["ranges"]["mse"]["int8"]) << name;
    EXPECT_EQ(a["chosen"]["fp8_e4m3"], a["ranges"]["mse"]["fp8_e4m3"]) << name;
    EXPECT_LE(a["min"].get<double>(), a["max"].get<double>()) << name;
    EXPECT_EQ(a["histogram"]["bins"], 2048) << name;
  }
  // The input's min/max are those of the data (pixels / 16 in [0, 1]).
  EXPECT_EQ(acts["input"]["min"].get<double>(), 0.0);
  EXPECT_EQ(acts["input"]["max"].get<double>(), 1.0);
  // Three Conv and two Gemm layers: their inputs' channel absmax, and their weights.
  ASSERT_EQ(j["layer_inputs"].size(), 5u);
  EXPECT_EQ(j["layer_inputs"][0]["tensor"], "input");
  EXPECT_EQ(j["layer_inputs"][0]["channel_absmax"].size(), 1u);
  EXPECT_EQ(j["layer_inputs"][0]["channel_absmax"][0].get<double>(), 1.0);
  ASSERT_EQ(j["weights"].size(), 5u);
  const auto& w = j["weights"]["features.0.weight"];
  EXPECT_EQ(w["axis"], 0);
  EXPECT_EQ(w["channel_absmax"].size(), 16u);
  double m = 0;
  for (const auto& v : w["channel_absmax"]) m = std::max(m, v.get<double>());
  EXPECT_EQ(w["absmax"].get<double>(), m);
}

TEST(CliCalibrate, SameFileForAnyThreadCountAndDataLayout) {
  TempDir dir;
  calibrate({"--data", kCalib, "--threads", "1"}, dir, "t1.json");
  calibrate({"--data", kCalib, "--threads", "3"}, dir, "t3.json");
  EXPECT_EQ(testing::read_bytes(dir / "t1.json"), testing::read_bytes(dir / "t3.json"));
  // The same 256 images as 256 single-image runs (a leading sample axis): identical ranges.
  auto src = calib::DataSource::open(kCalib);
  ASSERT_TRUE(src.ok());
  auto all = (*src)->find("input")->read_all();
  ASSERT_TRUE(all.ok());
  std::vector<int64_t> dims = all->dims();
  dims.insert(dims.begin() + 1, 1);  // [256, 1, 1, 8, 8]: sample axis, then a batch of one
  auto reshaped = ir::Tensor::from_buffer(all->dtype(), dims, all->buffer());
  ASSERT_TRUE(reshaped.ok()) << reshaped.status().to_string();
  {
    auto w = calib::NpzWriter::create(dir / "samples.npz");
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->add("input", *reshaped).ok());
    ASSERT_TRUE((*w)->commit().ok());
  }
  auto a = calibrate({"--data", kCalib}, dir, "whole.json");
  auto b = calibrate({"--data", (dir / "samples.npz").string()}, dir, "per_sample.json");
  EXPECT_EQ(b["data"]["runs"], 256);
  EXPECT_EQ(a["activations"], b["activations"]);
  EXPECT_EQ(a["layer_inputs"], b["layer_inputs"]);
}

// digits_cnn's 256 calibration images [256, 1, 8, 8] with a NaN in sample 5 and +Inf in
// sample 200.
ir::Tensor images_with_two_bad_samples() {
  auto src = calib::DataSource::open(kCalib);
  EXPECT_TRUE(src.ok());
  auto all = (*src)->find("input")->read_all();
  EXPECT_TRUE(all.ok());
  ir::Tensor bad = ir::Tensor::zeros(DType::kFloat32, all->dims()).value();
  std::copy(all->data<float>(), all->data<float>() + all->numel(), bad.mutable_data<float>());
  bad.mutable_data<float>()[5 * 64 + 3] = std::numeric_limits<float>::quiet_NaN();  // sample 5
  bad.mutable_data<float>()[200 * 64] = std::numeric_limits<float>::infinity();     // sample 200
  return bad;
}

TEST(CliCalibrate, NanSamplesAreReportedAndExcluded) {
  TempDir dir;
  const ir::Tensor bad = images_with_two_bad_samples();
  {
    auto w = calib::NpzWriter::create(dir / "bad.npz");
    ASSERT_TRUE((*w)->add("input", bad).ok());
    ASSERT_TRUE((*w)->commit().ok());
  }
  auto r = run_mixq(
      {"calibrate", kModel, "--data", (dir / "bad.npz").string(), "-o", (dir / "r.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("sample 5"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("sample 200"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'input'"), std::string::npos) << r.err;
  auto j = nlohmann::json::parse(testing::read_bytes(dir / "r.json"));
  EXPECT_EQ(j["data"]["samples_used"], 254);
  ASSERT_EQ(j["data"]["excluded_samples"].size(), 2u);
  EXPECT_EQ(j["data"]["excluded_samples"][0]["sample"], 5);
  EXPECT_EQ(j["activations"]["input"]["nonfinite"], 0) << "excluded before the ranges";
}

// A sample axis whose entries are batches ([8, 32, 1, 8, 8] for input [batch, 1, 8, 8]):
// samples, --max-samples, NaN exclusion and the ranges count images, not entries.
TEST(CliCalibrate, BatchedEntriesCountSamplesNotEntries) {
  TempDir dir;
  const ir::Tensor bad = images_with_two_bad_samples();
  const auto write = [&](const ir::Tensor& t, std::vector<int64_t> dims,
                         const std::filesystem::path& path) {
    auto view = ir::Tensor::from_buffer(t.dtype(), dims, t.buffer());
    ASSERT_TRUE(view.ok()) << view.status().to_string();
    auto w = calib::NpzWriter::create(path);
    ASSERT_TRUE(w.ok());
    ASSERT_TRUE((*w)->add("input", *view).ok());
    ASSERT_TRUE((*w)->commit().ok());
  };
  write(bad, {256, 1, 8, 8}, dir / "whole.npz");
  write(bad, {8, 32, 1, 8, 8}, dir / "entries.npz");
  auto whole = calibrate({"--data", (dir / "whole.npz").string()}, dir, "whole.json");
  auto entries = calibrate({"--data", (dir / "entries.npz").string()}, dir, "entries.json");
  EXPECT_EQ(entries["data"]["runs"], 8);
  EXPECT_EQ(entries["data"]["samples"], 256);
  EXPECT_EQ(entries["data"]["samples_used"], 254);
  ASSERT_EQ(entries["data"]["excluded_samples"].size(), 2u);
  EXPECT_EQ(entries["data"]["excluded_samples"][0]["sample"], 5);
  EXPECT_EQ(entries["data"]["excluded_samples"][1]["sample"], 200);
  EXPECT_EQ(entries["data"]["excluded_samples"][1]["run"], 6);
  EXPECT_EQ(entries["activations"], whole["activations"]);
  EXPECT_EQ(entries["layer_inputs"], whole["layer_inputs"]);
  // --max-samples takes whole runs: 100 images are 4 runs of 32.
  auto some = calibrate({"--data", (dir / "entries.npz").string(), "--max-samples", "100"}, dir,
                        "some.json");
  EXPECT_EQ(some["data"]["runs"], 4);
  EXPECT_EQ(some["data"]["samples"], 128);
}

TEST(CliCalibrate, rejects_bad_input_with_documented_exit_codes) {
  TempDir dir;
  const std::string out = (dir / "r.json").string();
  // Unknown method: usage error.
  auto r = run_mixq({"calibrate", kModel, "--data", kCalib, "--method", "kl", "-o", out});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("--method"), std::string::npos) << r.err;
  // Data without the model's input: bad input naming it.
  {
    auto w = calib::NpzWriter::create(dir / "wrong.npz");
    ASSERT_TRUE(
        (*w)->add("pixels", ir::Tensor::from_floats({2, 1, 8, 8}, std::vector<float>(128))).ok());
    ASSERT_TRUE((*w)->commit().ok());
  }
  r = run_mixq({"calibrate", kModel, "--data", (dir / "wrong.npz").string(), "-o", out});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("input"), std::string::npos) << r.err;
  // An empty data set.
  {
    auto w = calib::NpzWriter::create(dir / "empty.npz");
    auto e = ir::Tensor::zeros(DType::kFloat32, {0, 1, 1, 8, 8});
    ASSERT_TRUE((*w)->add("input", *e).ok());
    ASSERT_TRUE((*w)->commit().ok());
  }
  r = run_mixq({"calibrate", kModel, "--data", (dir / "empty.npz").string(), "-o", out});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;
  // Missing data file; and no output written by any of the failures.
  r = run_mixq({"calibrate", kModel, "--data", (dir / "missing.npz").string(), "-o", out});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
  // The output may not overwrite an input.
  r = run_mixq({"calibrate", kModel, "--data", kCalib, "-o", kModel});
  EXPECT_EQ(r.exit_code, 1) << r.err;
}

}  // namespace
}  // namespace mixq
