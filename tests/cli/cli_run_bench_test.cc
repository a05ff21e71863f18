// `mixq run` and `mixq bench` as a user runs them: every data form, the output .npz, the JSON
// keys, and bad data refused with exit 2 naming the input and what was expected.
#include <gtest/gtest.h>

#include <map>
#include <nlohmann/json.hpp>

#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/npz_writer.h"
#include "proto_fixtures.h"
#include "test_support.h"

namespace mixq {
namespace {

using testing::run_mixq;
using testing::TempDir;

void expect_exit(const testing::RunResult& r, int code, std::vector<std::string> needles) {
  EXPECT_EQ(r.exit_code, code) << "stdout:\n" << r.out << "stderr:\n" << r.err;
  for (const auto& n : needles) {
    EXPECT_NE(r.err.find(n), std::string::npos) << "'" << n << "' not in stderr: " << r.err;
  }
}

// simple_model(): y[N, 4] = x[N, 4] + [1, 2, 3, 4].
std::filesystem::path write_simple(const TempDir& dir) {
  return testing::write_model(testing::simple_model(), dir.path());
}

void write_npz(const std::filesystem::path& path,
               std::vector<std::pair<std::string, ir::Tensor>> arrays) {
  auto w = calib::NpzWriter::create(path);
  ASSERT_TRUE(w.ok());
  for (const auto& [name, t] : arrays) ASSERT_TRUE((*w)->add(name, t).ok());
  ASSERT_TRUE((*w)->commit().ok());
}

TEST(CliRun, RunsAnNpzAndWritesOutputsByName) {
  TempDir dir;
  const auto model = write_simple(dir);
  write_npz(dir / "in.npz", {{"x", ir::Tensor::from_floats({2, 4}, {0, 1, 2, 3, 4, 5, 6, 7})},
                             {"labels", ir::Tensor::from_int64s({2}, {1, 0})}});
  auto r = run_mixq({"run", model.string(), "--data", (dir / "in.npz").string(), "-o",
                     (dir / "out.npz").string(), "--threads", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("y  float32[2, 4]"), std::string::npos) << r.out;
  auto out = calib::DataSource::open(dir / "out.npz");
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  auto y = (*out)->find("y")->read_all();
  ASSERT_TRUE(y.ok());
  EXPECT_EQ(y->dims(), (std::vector<int64_t>{2, 4}));
  for (int64_t i = 0; i < 8; ++i) EXPECT_EQ(y->element_as_double(i), i + (i % 4) + 1.0);
}

TEST(CliRun, SampleAxisRunsEachSampleAndStacksOutputs) {
  TempDir dir;
  const auto model = write_simple(dir);
  // x has rank 3 = input rank + 1: three samples of [1, 4].
  write_npz(dir / "in.npz",
            {{"x", ir::Tensor::from_floats({3, 1, 4}, std::vector<float>(12, 0.5f))}});
  auto r = run_mixq({"run", model.string(), "--data", (dir / "in.npz").string(), "-o",
                     (dir / "out.npz").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ran 3 runs"), std::string::npos) << r.out;
  auto out = calib::DataSource::open(dir / "out.npz");
  ASSERT_TRUE(out.ok());
  EXPECT_EQ((*out)->find("y")->dims(), (std::vector<int64_t>{3, 1, 4}));
}

TEST(CliRun, RunsAnOnnxTestDataSetFolder) {
  const auto test = testing::testdata_dir() / "node" / "test_add";
  auto r = run_mixq(
      {"run", (test / "model.onnx").string(), "--data", (test / "test_data_set_0").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("sum  float32[3, 4, 5]"), std::string::npos) << r.out;
}

TEST(CliRun, rejects_bad_data_with_exit_2_naming_the_input) {
  TempDir dir;
  const auto model = write_simple(dir);
  write_npz(dir / "wrong_dtype.npz",
            {{"x", ir::Tensor::from_int64s({2, 4}, std::vector<int64_t>(8))}});
  expect_exit(run_mixq({"run", model.string(), "--data", (dir / "wrong_dtype.npz").string()}), 2,
              {"input 'x'", "int64", "float32[N, 4]"});
  write_npz(dir / "wrong_dim.npz",
            {{"x", ir::Tensor::from_floats({2, 5}, std::vector<float>(10))}});
  expect_exit(run_mixq({"run", model.string(), "--data", (dir / "wrong_dim.npz").string()}), 2,
              {"input 'x'", "[2, 5]", "float32[N, 4]"});
  write_npz(dir / "missing.npz", {{"z", ir::Tensor::from_floats({2, 4}, std::vector<float>(8))}});
  expect_exit(run_mixq({"run", model.string(), "--data", (dir / "missing.npz").string()}), 2,
              {"model input 'x'", "the data has: z"});
  expect_exit(run_mixq({"run", model.string(), "--data", (dir / "absent.npz").string()}), 2,
              {"absent.npz", "does not exist"});
  testing::write_bytes(dir / "corrupt.npz", "PK\x03\x04 not really a zip");
  expect_exit(run_mixq({"run", model.string(), "--data", (dir / "corrupt.npz").string()}), 2,
              {"corrupt.npz"});
}

TEST(CliRun, rejects_output_that_would_overwrite_an_input) {
  TempDir dir;
  const auto model = write_simple(dir);
  write_npz(dir / "in.npz", {{"x", ir::Tensor::from_floats({1, 4}, {1, 2, 3, 4})}});
  const std::string before = testing::read_bytes(dir / "in.npz");
  expect_exit(run_mixq({"run", model.string(), "--data", (dir / "in.npz").string(), "-o",
                        (dir / "in.npz").string()}),
              1, {"in.npz", "refusing to overwrite"});
  EXPECT_EQ(testing::read_bytes(dir / "in.npz"), before);
}

TEST(CliBench, RandomInputsNeedSymbolicDimsAndReportJson) {
  TempDir dir;
  const auto model = write_simple(dir);
  expect_exit(run_mixq({"bench", model.string()}), 1, {"input 'x'", "--dim N="});
  auto r = run_mixq({"bench", model.string(), "--dim", "N=8", "--iters", "5", "--warmup", "1",
                     "--threads", "2", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  for (const char* key : {"median_ms", "min_ms", "max_ms", "peak_rss_mb"}) {
    ASSERT_TRUE(j.contains(key)) << key;
    EXPECT_GE(j[key].get<double>(), 0.0) << key;
  }
  EXPECT_LE(j["min_ms"].get<double>(), j["median_ms"].get<double>());
  EXPECT_LE(j["median_ms"].get<double>(), j["max_ms"].get<double>());
  EXPECT_GT(j["peak_rss_mb"].get<double>(), 1.0);
  EXPECT_EQ(j["iters"], 5);
  EXPECT_EQ(j["threads"], 2);
  auto text = run_mixq({"bench", model.string(), "--dim", "N=2", "--iters", "3"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("median"), std::string::npos) << text.out;
  expect_exit(run_mixq({"bench", model.string(), "--dim", "N=zero"}), 1, {"--dim"});
}

TEST(CliBench, TimesTheFirstRunOfData) {
  TempDir dir;
  const auto model = write_simple(dir);
  write_npz(dir / "in.npz", {{"x", ir::Tensor::from_floats({3, 4}, std::vector<float>(12, 1))}});
  auto r = run_mixq({"bench", model.string(), "--data", (dir / "in.npz").string(), "--iters", "2"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("x float32[3, 4]"), std::string::npos) << r.out;
}

TEST(CliBench, ProfileChargesEveryNodeToItsOpType) {
  // digits_cnn: Conv 3, BatchNormalization 3, Relu 4, Gemm 2, MaxPool, AveragePool, Pad,
  // Constant, Flatten.
  const std::string model = std::string(MIXQ_SOURCE_DIR) + "/samples/digits_cnn/model.onnx";
  const std::string data = std::string(MIXQ_SOURCE_DIR) + "/samples/digits_cnn/calib.npz";
  auto r = run_mixq({"bench", model, "--data", data, "--iters", "3", "--profile", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_TRUE(j.contains("profile")) << r.out;
  std::map<std::string, int64_t> nodes;
  double share = 0, previous = 1e300;
  for (const auto& e : j["profile"]) {
    nodes[e["op_type"].get<std::string>()] = e["nodes"].get<int64_t>();
    share += e["share"].get<double>();
    EXPECT_LE(e["ms_per_run"].get<double>(), previous) << "not sorted by time";
    previous = e["ms_per_run"].get<double>();
    EXPECT_GE(e["ms_per_run"].get<double>(), 0.0);
  }
  EXPECT_NEAR(share, 1.0, 1e-9);
  EXPECT_EQ(nodes["Conv"], 3);
  EXPECT_EQ(nodes["BatchNormalization"], 3);
  EXPECT_EQ(nodes["Relu"], 4);
  EXPECT_EQ(nodes["Gemm"], 2);
  auto text = run_mixq({"bench", model, "--data", data, "--iters", "2", "--profile"});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("profile  by op type"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Conv "), std::string::npos) << text.out;
}

TEST(CliRun, rejects_model_with_unsupported_op_with_exit_3) {
  TempDir dir;
  auto m = testing::simple_model();
  testing::add_node(m.mutable_graph(), "Frob", {"y"}, {"z"}, "frob")->set_domain("com.example");
  auto* op = m.add_opset_import();
  op->set_domain("com.example");
  op->set_version(1);
  const auto model = testing::write_model(m, dir.path());
  write_npz(dir / "in.npz", {{"x", ir::Tensor::from_floats({1, 4}, {1, 2, 3, 4})}});
  expect_exit(run_mixq({"run", model.string(), "--data", (dir / "in.npz").string()}), 3,
              {"Frob 'frob'", "no CPU kernel"});
}

}  // namespace
}  // namespace mixq
