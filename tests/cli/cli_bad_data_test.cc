// Bad data through the real `mixq` binary, for run, calibrate, convert --eval and analyze --eval:
// NaN/Inf in evaluation data, empty arrays, wrong dtypes, truncated .npy (header and payload),
// an .npz whose member is truncated, wrong shapes. Each is exit 2 naming the file, the array or
// input and (NaN/Inf) the sample, and writes nothing. Also --max-memory on inspect, run,
// calibrate and convert. NaN in calibration data (left out and counted) is
// cli_calibrate_test's; the library-level reader errors are data_test's.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <limits>

#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/npy.h"
#include "mixq/calibration/data/npz_writer.h"
#include "proto_fixtures.h"
#include "test_support.h"

namespace mixq {
namespace {

using testing::files_in;
using testing::run_mixq;
using testing::TempDir;

const std::string kModel = testing::sample_file("digits_cnn", "model.onnx");
const std::string kCalib = testing::sample_file("digits_cnn", "calib.npz");
const std::string kEval = std::string(MIXQ_SOURCE_DIR) + "/samples/digits_cnn/eval.npz";
const std::string kGpt = std::string(MIXQ_SOURCE_DIR) + "/samples/tinygpt/model.onnx";

// The sample's evaluation input (float32[500, 1, 8, 8]) and labels.
ir::Tensor eval_array(const std::string& name) {
  auto src = calib::DataSource::open(kEval);
  EXPECT_TRUE(src.ok());
  auto t = (*src)->find(name)->read_all();
  EXPECT_TRUE(t.ok());
  // A writable copy.
  auto copy = ir::Tensor::zeros(t->dtype(), t->dims()).value();
  std::memcpy(copy.mutable_raw_data(), t->raw_data(), t->nbytes());
  return copy;
}

void write_npz(const std::filesystem::path& path,
               const std::vector<std::pair<std::string, ir::Tensor>>& arrays) {
  auto w = calib::NpzWriter::create(path);
  ASSERT_TRUE(w.ok());
  for (const auto& [name, t] : arrays) ASSERT_TRUE((*w)->add(name, t).ok());
  ASSERT_TRUE((*w)->commit().ok());
}

enum Cmd { kRun, kCalibrate, kConvertEval, kAnalyzeEval };

std::vector<std::string> command(Cmd c, const std::string& data, const TempDir& out) {
  switch (c) {
    case kRun:
      return {"run", kModel, "--data", data, "-o", (out / "y.npz").string()};
    case kCalibrate:
      return {"calibrate", kModel, "--data", data, "-o", (out / "r.json").string()};
    case kConvertEval:
      return {"convert",
              kModel,
              "--precision",
              "int8",
              "--weights-only",
              "--eval",
              data,
              "-o",
              (out / "q.onnx").string()};
    case kAnalyzeEval:
      return {"analyze", kModel,         "--data", kCalib, "--eval",
              data,      "--max-layers", "1",      "-o",   (out / "s.json").string()};
  }
  return {};
}

// Each command in `cmds` on `data`: exit 2, every needle in stderr, no file written in `out`.
void expect_refused(const std::vector<Cmd>& cmds, const std::string& data,
                    const std::vector<std::string>& needles) {
  for (Cmd c : cmds) {
    TempDir out;
    auto args = command(c, data, out);
    auto r = run_mixq(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
    for (const auto& n : needles) {
      EXPECT_NE(r.err.find(n), std::string::npos) << args[0] << ": wants '" << n << "' in\n"
                                                  << r.err;
    }
    EXPECT_EQ(files_in(out), 0u) << args[0] << " wrote a file";
  }
}

TEST(CliBadData, rejects_eval_data_with_nan_or_inf_naming_the_sample) {
  TempDir dir;
  ir::Tensor x = eval_array("input");
  x.mutable_data<float>()[7 * 64 + 10] = std::numeric_limits<float>::quiet_NaN();  // sample 7
  write_npz(dir / "nan.npz", {{"input", x}, {"labels", eval_array("labels")}});
  ir::Tensor xi = eval_array("input");
  xi.mutable_data<float>()[9 * 64] = -std::numeric_limits<float>::infinity();  // sample 9
  write_npz(dir / "inf.npz", {{"input", xi}, {"labels", eval_array("labels")}});
  const std::string nan = (dir / "nan.npz").string(), inf = (dir / "inf.npz").string();
  expect_refused({kConvertEval, kAnalyzeEval}, nan, {"nan.npz:input", "sample 7 holds NaN"});
  expect_refused({kConvertEval, kAnalyzeEval}, inf, {"inf.npz:input", "sample 9 holds Inf"});
  // run computes what the model does with them (documented), and says which sample.
  auto r = run_mixq({"run", kModel, "--data", nan});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: " + nan + ":input: sample 7 holds NaN"), std::string::npos)
      << r.err;
}

TEST(CliBadData, rejects_empty_arrays) {
  TempDir dir;
  auto empty = ir::Tensor::zeros(DType::kFloat32, {0, 1, 8, 8}).value();
  write_npz(dir / "empty.npz", {{"input", empty}});
  expect_refused({kRun, kCalibrate, kConvertEval, kAnalyzeEval}, (dir / "empty.npz").string(),
                 {"empty.npz:input", "input 'input' is empty", "[0, 1, 8, 8]"});
}

TEST(CliBadData, rejects_wrong_dtypes) {
  TempDir dir;
  const ir::Tensor x = eval_array("input");
  auto x64 = ir::Tensor::zeros(DType::kFloat64, x.dims()).value();
  for (int64_t i = 0; i < x.numel(); ++i) x64.mutable_data<double>()[i] = x.data<float>()[i];
  write_npz(dir / "f64.npz", {{"input", x64}});
  expect_refused({kRun, kCalibrate, kConvertEval, kAnalyzeEval}, (dir / "f64.npz").string(),
                 {"input 'input'", "f64.npz:input is float64", "expects float32"});
  // int32 token ids where the model declares int64.
  auto ids = ir::Tensor::zeros(DType::kInt32, {4, 64}).value();
  write_npz(dir / "ids32.npz", {{"ids", ids}});
  auto r = run_mixq({"run", kGpt, "--data", (dir / "ids32.npz").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("ids32.npz:ids is int32, the model expects int64"), std::string::npos)
      << r.err;
}

TEST(CliBadData, rejects_wrong_shapes) {
  TempDir dir;
  write_npz(dir / "rows.npz",
            {{"input", ir::Tensor::from_floats({3, 1, 7, 8}, std::vector<float>(168))}});
  expect_refused({kRun, kCalibrate, kConvertEval, kAnalyzeEval}, (dir / "rows.npz").string(),
                 {"input 'input'", "[3, 1, 7, 8]", "[batch, 1, 8, 8]"});
  write_npz(dir / "rank.npz",
            {{"input", ir::Tensor::from_floats({3, 64}, std::vector<float>(192))}});
  expect_refused({kRun, kConvertEval}, (dir / "rank.npz").string(),
                 {"input 'input'", "rank.npz:input has rank 2"});
}

TEST(CliBadData, rejects_truncated_npy_header_and_payload) {
  TempDir dir;
  const ir::Tensor x = eval_array("input");
  const std::string header = calib::make_npy_header(DType::kFloat32, x.dims());
  const std::string payload(reinterpret_cast<const char*>(x.raw_data()), x.nbytes());
  std::filesystem::create_directories(dir / "cut_header");
  testing::write_bytes(dir / "cut_header" / "input.npy", header.substr(0, 30));
  std::filesystem::create_directories(dir / "cut_payload");
  testing::write_bytes(dir / "cut_payload" / "input.npy", header + payload.substr(0, 1000));
  expect_refused({kRun, kCalibrate, kConvertEval, kAnalyzeEval}, (dir / "cut_header").string(),
                 {"cut_header/input.npy", "truncated .npy header"});
  expect_refused({kRun, kCalibrate, kConvertEval, kAnalyzeEval}, (dir / "cut_payload").string(),
                 {"cut_payload/input.npy", "array data is truncated", "need 128128"});
}

TEST(CliBadData, rejects_npz_whose_member_is_truncated) {
  // A valid zip whose input.npy header claims 300 rows while the member holds 256.
  TempDir dir;
  write_npz(dir / "ok.npz", {{"input", eval_array("input")}});
  std::string bytes = testing::read_bytes(dir / "ok.npz");
  const size_t at = bytes.find("(500, 1, 8, 8)");
  ASSERT_NE(at, std::string::npos);
  bytes.replace(at, 4, "(900");
  testing::write_bytes(dir / "short_member.npz", bytes);
  expect_refused({kRun, kCalibrate, kConvertEval, kAnalyzeEval},
                 (dir / "short_member.npz").string(), {"short_member.npz", "input"});
}

// --- --max-memory ---

// x float32[N, 4] -> Add(x, w) -> y with w float32[4] (16 bytes) or, big, float32[1M, 4].
std::filesystem::path model_with_weight(const TempDir& dir, bool big) {
  auto m = testing::simple_model();
  if (big) {
    auto* w = m.mutable_graph()->mutable_initializer(0);
    w->clear_float_data();
    w->clear_dims();
    w->add_dims(1 << 20);
    w->add_dims(4);
    w->set_raw_data(std::string(size_t{16} << 20, '\0'));
    // y is [1M, 4] for any x of one row.
    m.mutable_graph()->clear_output();
    testing::add_tensor_vi(m.mutable_graph()->mutable_output(), "y", 1, {"1048576", "4"});
  }
  return testing::write_model(m, dir.path(), big ? "big.onnx" : "small.onnx");
}

TEST(CliMaxMemory, rejects_models_whose_tensors_exceed_the_limit_before_any_work) {
  TempDir dir;
  const auto big = model_with_weight(dir, true);
  write_npz(dir / "x.npz", {{"x", ir::Tensor::from_floats({1, 4}, {1, 2, 3, 4})}});
  const std::string data = (dir / "x.npz").string();
  const std::vector<std::vector<std::string>> commands = {
      {"inspect", big.string()},
      {"run", big.string(), "--data", data, "-o", (dir / "y.npz").string()},
      {"calibrate", big.string(), "--data", data, "-o", (dir / "r.json").string()},
      {"convert", big.string(), "--precision", "int8", "--data", data, "-o",
       (dir / "q.onnx").string()}};
  for (auto args : commands) {
    args.insert(args.end(), {"--max-memory", "20"});
    const size_t before = files_in(dir);
    auto r = run_mixq(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.err;
    // 16 MiB of weight + 16 MiB of output (+ the 16-byte input): total, limit, largest by name.
    for (const char* n : {"big.onnx: its tensors need 32.0 MiB", "over --max-memory 20 MiB",
                          "largest: 'w' 16.0 MiB (initializer)", "'y' 16.0 MiB (activation)"}) {
      EXPECT_NE(r.err.find(n), std::string::npos) << args[0] << ": wants '" << n << "' in\n"
                                                  << r.err;
    }
    EXPECT_EQ(files_in(dir), before) << args[0] << " wrote a file";
    // Under a limit that fits, the same command works; no limit is the default.
    args.back() = "40";
    r = run_mixq(args);
    EXPECT_EQ(r.exit_code, 0) << args[0] << ": " << r.err;
  }
}

TEST(CliMaxMemory, sizes_activations_for_the_data) {
  // A small model: 16 bytes of weight; 300000 rows of x make x and y 4.6 MiB each.
  TempDir dir;
  const auto small = model_with_weight(dir, false);
  write_npz(dir / "x.npz",
            {{"x", ir::Tensor::from_floats({300000, 4}, std::vector<float>(1200000, 1.0f))}});
  auto r =
      run_mixq({"run", small.string(), "--data", (dir / "x.npz").string(), "--max-memory", "8"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("activations 9.2 MiB"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("'x' 4.6 MiB (activation)"), std::string::npos) << r.err;
  // Declared shapes alone ([N, 4]) size nothing: inspect passes the same limit.
  r = run_mixq({"inspect", small.string(), "--max-memory", "8"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  r = run_mixq({"run", small.string(), "--data", (dir / "x.npz").string(), "--max-memory", "-1"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
}

}  // namespace
}  // namespace mixq
