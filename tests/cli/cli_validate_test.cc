// `mixq validate` as a CI job runs it: the bundle `mixq convert` writes, validated on the CPU
// (the gate of CI machines without a GPU) with the budget, the simulation gap and latencies in
// the report; a changed file refused by its SHA-256; explicit flags instead of a bundle; the
// documented exit codes (4 budget, 5 no CUDA device, 2 bad bundle).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "mixq/gpu/device.h"
#include "test_support.h"

namespace mixq {
namespace {

using testing::run_mixq;
using testing::TempDir;

void convert_to(const std::filesystem::path& out) {
  auto r = run_mixq({"convert", testing::sample_file("digits_cnn", "model.onnx"), "--data",
                     testing::sample_file("digits_cnn", "calib.npz"), "--eval",
                     testing::sample_file("digits_cnn", "eval.npz"), "--precision", "int8", "-o",
                     out.string(), "--metric", "accuracy", "--max-drop", "1", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST(CliValidate, ValidatesTheBundleOnTheCpu) {
  TempDir dir;
  convert_to(dir / "q.onnx");
  const auto bundle = nlohmann::json::parse(testing::read_bytes(dir / "q.validate.json"));
  EXPECT_EQ(bundle["schema"], "mixq.validate-bundle");
  EXPECT_EQ(bundle["quantized"]["path"], "q.onnx");  // relative to the bundle
  EXPECT_EQ(bundle["metric"], "accuracy");
  auto r = run_mixq({"validate", (dir / "q.validate.json").string(), "--device", "cpu", "--iters",
                     "3", "--report", (dir / "v.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("met"), std::string::npos) << r.out;
  const auto v = nlohmann::json::parse(testing::read_bytes(dir / "v.json"));
  EXPECT_EQ(v["schema"], "mixq.validate");
  EXPECT_EQ(v["device"]["kind"], "cpu");
  EXPECT_EQ(v["budget"]["met"], true);
  // The same executor as the converter's verification: no gap to the simulation.
  EXPECT_EQ(v["simulation_gap"]["task_metric"], 0.0);
  EXPECT_EQ(v["verification"]["task"]["quantized"], bundle["simulated"]["task"]["quantized"]);
  EXPECT_GT(v["latency_ms"]["quantized"].get<double>(), 0.0);
  EXPECT_GT(v["latency_ms"]["fp32"].get<double>(), 0.0);
  EXPECT_TRUE(std::filesystem::exists(dir / "v.md"));
}

TEST(CliValidate, ExplicitFlagsAndTheBudgetGate) {
  TempDir dir;
  convert_to(dir / "q.onnx");
  auto r = run_mixq({"validate", "--model", (dir / "q.onnx").string(), "--reference",
                     testing::sample_file("digits_cnn", "model.onnx"), "--data",
                     testing::sample_file("digits_cnn", "eval.npz"), "--metric", "top1",
                     "--max-drop", "5", "--device", "cpu", "--iters", "1"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_mixq({"validate", (dir / "q.validate.json").string(), "--metric", "cosine", "--max-drop",
                "-1", "--device", "cpu", "--iters", "1"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
}

TEST(CliValidate, rejects_changed_files_bad_bundles_and_missing_devices) {
  TempDir dir;
  convert_to(dir / "q.onnx");
  // No CUDA device: exit 5 saying what was found and what to do (where a device exists, the
  // GPU validation runs: tests/gpu/validate_samples_test.cc).
  const bool has_gpu = !gpu::discover_devices().devices.empty();
  if (!has_gpu) {
    auto r = run_mixq({"validate", (dir / "q.validate.json").string()});
    EXPECT_EQ(r.exit_code, 5) << r.err;
    EXPECT_NE(r.err.find("CUDA"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("--device cpu"), std::string::npos) << r.err;
  }
  testing::RunResult r;
  // The quantized model changed after the conversion.
  std::string bytes = testing::read_bytes(dir / "q.onnx");
  bytes[bytes.size() / 2] ^= 1;
  testing::write_bytes(dir / "q.onnx", bytes);
  r = run_mixq({"validate", (dir / "q.validate.json").string(), "--device", "cpu"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("SHA-256"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("q.onnx"), std::string::npos) << r.err;
  // Missing and malformed bundles.
  r = run_mixq({"validate", (dir / "none.json").string(), "--device", "cpu"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  testing::write_bytes(dir / "bad.json", "{\"schema\": \"something else\"}");
  r = run_mixq({"validate", (dir / "bad.json").string(), "--device", "cpu"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  r = run_mixq({"validate", (dir / "q.validate.json").string(), "--device", "tpu"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
}

}  // namespace
}  // namespace mixq
