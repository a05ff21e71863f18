// Determinism (docs/determinism.md): what mixq writes depends on the model, the data and the
// options, never on the thread count, the run, or how the calibration samples are batched.
//  - convert (uniform INT8 and FP8 on digits_mobile and tinygpt, --precision auto on digits_cnn):
//    OUT.onnx, PLAN.json, OUT.validate.json, REPORT.md and REPORT.html byte for byte, REPORT.json
//    without `timings_s` (wall-clock seconds) and `output.path` (the folder written to; the
//    output's sha256 stays and must match), across two runs and --threads 1, 2, 3 and 5.
//  - calibrate and convert across calibration data layouts (one batch of N, N runs of one
//    sample, N/8 runs of 8; the .npz files are written here): the same ranges and OUT bytes.
//  - analyze across --threads 1, 3 and 5 (SENS.json without timings_s, SENS.html).
//  - Not bit-identical, by design: the eval set's layout. The model is the same, but the layer
//    shapes, FLOPs and time estimates in REPORT.json are those of one eval run (its batch), and
//    the verification metrics are sums over runs, added in a different order; they agree to
//    1e-6 relative (the test measures it).
// Existing checks not repeated here: CliConvert.OutputIsBitIdenticalAcrossRunsAndThreadCounts
// (digits_cnn int8, threads 1/2), CliConvert.AutoIsBitIdenticalAcrossThreadCounts (threads 1/2),
// CliCalibrate.SameFileForAnyThreadCountAndDataLayout (digits_cnn ranges, whole vs per sample),
// CliAnalyze.DeterministicAcrossRunsAndThreadCounts (digits_cnn, threads 1/2).
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/npz_writer.h"
#include "test_support.h"

namespace mixq {
namespace {

namespace fs = std::filesystem;
using testing::run_mixq;
using testing::TempDir;

nlohmann::json read_json(const fs::path& p) {
  return nlohmann::json::parse(testing::read_bytes(p), nullptr, false);
}

// REPORT.json / SENS.json without what legitimately differs between two runs of the same
// command: `timings_s` (wall-clock durations) is removed, and the output folder (in
// `output.path`, and for --precision auto in `data.ranges` and `auto.ranges`, the OUT.ranges.json
// next to OUT) is replaced by "OUT_DIR". Everything else, hashes included, must match.
nlohmann::json normalized(const fs::path& p) {
  nlohmann::json j = read_json(p);
  EXPECT_FALSE(j.is_discarded()) << p;
  j.erase("timings_s");
  std::string text = j.dump();
  const std::string dir = p.parent_path().string();
  for (size_t at = text.find(dir); at != std::string::npos; at = text.find(dir, at)) {
    text.replace(at, dir.size(), "OUT_DIR");
  }
  return nlohmann::json::parse(text);
}

struct Convert {
  std::string sample, precision;
  std::vector<std::string> extra;
};

// Runs convert into dir/<tag>/q.onnx.
fs::path convert(const TempDir& dir, const std::string& tag, const Convert& c,
                 const std::vector<std::string>& more) {
  const fs::path sub = dir / tag;
  fs::create_directories(sub);
  std::vector<std::string> args = {"convert",     testing::sample_file(c.sample, "model.onnx"),
                                   "--data",      testing::sample_file(c.sample, "calib.npz"),
                                   "--eval",      testing::sample_file(c.sample, "eval.npz"),
                                   "--precision", c.precision,
                                   "-o",          (sub / "q.onnx").string(),
                                   "--quiet"};
  args.insert(args.end(), c.extra.begin(), c.extra.end());
  args.insert(args.end(), more.begin(), more.end());
  auto r = run_mixq(args);
  EXPECT_EQ(r.exit_code, 0) << r.err;
  return sub;
}

// Every output of convert in `a` and `b` is the same (REPORT.json normalized).
void expect_same_outputs(const fs::path& a, const fs::path& b, const std::string& what) {
  size_t compared = 0;
  for (const auto& e : fs::directory_iterator(a)) {
    const std::string name = e.path().filename().string();
    ASSERT_TRUE(fs::exists(b / name)) << what << ": " << name;
    if (name.ends_with(".report.json")) {
      EXPECT_EQ(normalized(e.path()), normalized(b / name)) << what << ": " << name;
    } else {
      EXPECT_TRUE(testing::read_bytes(e.path()) == testing::read_bytes(b / name))
          << what << ": " << name << " differs";
    }
    ++compared;
  }
  EXPECT_GE(compared, 6u) << what;  // model, plan, validate bundle, three reports
}

TEST(CliDeterminism, ConvertIsBitIdenticalAcrossRunsAndThreads1_2_3_5) {
  for (const Convert& c : {Convert{"digits_mobile", "int8", {}},
                           Convert{"digits_mobile", "fp8", {}}, Convert{"tinygpt", "int8", {}}}) {
    TempDir dir;
    const std::string what = c.sample + " " + c.precision;
    const fs::path first = convert(dir, "t2", c, {"--threads", "2"});
    expect_same_outputs(first, convert(dir, "t2_again", c, {"--threads", "2"}), what + " rerun");
    for (const char* t : {"1", "3", "5"}) {
      expect_same_outputs(first, convert(dir, std::string("t") + t, c, {"--threads", t}),
                          what + " --threads " + t);
    }
  }
}

TEST(CliDeterminism, AutoWithASmallBudgetIsBitIdenticalAcrossThreads1_3_5) {
  TempDir dir;
  const Convert c{"digits_cnn", "auto", {"--metric", "top1", "--max-drop", "0.5"}};
  const fs::path first = convert(dir, "t1", c, {"--threads", "1"});
  for (const char* t : {"3", "5"}) {
    expect_same_outputs(first, convert(dir, std::string("t") + t, c, {"--threads", t}),
                        std::string("auto --threads ") + t);
  }
}

// Writes `src`'s arrays with the leading (sample) axis split into runs of `k` samples:
// [N, ...] -> [N/k, k, ...], read by mixq as N/k runs of a batch of k.
void write_in_runs_of(const fs::path& src, size_t k, const fs::path& dst) {
  auto source = calib::DataSource::open(src);
  ASSERT_TRUE(source.ok()) << source.status().to_string();
  auto w = calib::NpzWriter::create(dst);
  ASSERT_TRUE(w.ok());
  for (const auto& array : (*source)->arrays()) {
    const std::string name = array->name();
    auto all = array->read_all();
    ASSERT_TRUE(all.ok()) << all.status().to_string();
    std::vector<int64_t> dims = all->dims();
    ASSERT_EQ(dims[0] % static_cast<int64_t>(k), 0) << name;
    dims[0] /= static_cast<int64_t>(k);
    dims.insert(dims.begin() + 1, static_cast<int64_t>(k));
    auto split = ir::Tensor::from_buffer(all->dtype(), dims, all->buffer());
    ASSERT_TRUE(split.ok()) << split.status().to_string();
    ASSERT_TRUE((*w)->add(name, *split).ok());
  }
  ASSERT_TRUE((*w)->commit().ok());
}

// Calibration layouts: one batch of all samples (the sample's calib.npz), one sample per run,
// and runs of 8. The ranges (calibrate) and the converted model (convert int8 and fp8) are the
// same bytes: each sample's activations do not depend on the others in its batch, and the
// observers merge per-sample statistics in sample order.
TEST(CliDeterminism, CalibrationLayoutsGiveTheSameRangesAndModels) {
  for (const std::string sample : {"digits_cnn", "digits_mobile", "tinygpt"}) {
    TempDir dir;
    const fs::path whole = testing::sample_file(sample, "calib.npz");
    write_in_runs_of(whole, 1, dir / "per_sample.npz");
    write_in_runs_of(whole, 8, dir / "runs_of_8.npz");
    auto ranges = [&](const fs::path& data, const std::string& out) {
      auto r = run_mixq({"calibrate", testing::sample_file(sample, "model.onnx"), "--data",
                         data.string(), "--threads", "3", "-o", (dir / out).string(), "--quiet"});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      auto j = read_json(dir / out);
      // "data" names the file and counts its runs; its sample counts must agree. `count` and
      // `nonfinite` of a tensor without a sample axis (tinygpt's Constant outputs, e.g. the
      // -inf attention mask) count once per run.
      for (const char* key : {"path", "description", "runs"}) j["data"].erase(key);
      for (auto& [name, a] : j["activations"].items()) {
        a.erase("count");
        a.erase("nonfinite");
      }
      return j;
    };
    auto model = [&](const fs::path& data, const std::string& precision, const std::string& out) {
      auto r =
          run_mixq({"convert", testing::sample_file(sample, "model.onnx"), "--data", data.string(),
                    "--eval", testing::sample_file(sample, "eval.npz"), "--precision", precision,
                    "--threads", "3", "-o", (dir / out).string(), "--quiet"});
      EXPECT_EQ(r.exit_code, 0) << r.err;
      return testing::read_bytes(dir / out);
    };
    const auto base = ranges(whole, "whole.json");
    ASSERT_FALSE(base.is_discarded());
    EXPECT_EQ(base, ranges(dir / "per_sample.npz", "per_sample.json")) << sample;
    EXPECT_EQ(base, ranges(dir / "runs_of_8.npz", "runs_of_8.json")) << sample;
    for (const std::string precision : {"int8", "fp8"}) {
      if (sample == "tinygpt" && precision == "fp8") continue;  // time; int8 covers it
      const std::string m = model(whole, precision, "whole_" + precision + ".onnx");
      EXPECT_FALSE(m.empty());
      EXPECT_TRUE(m == model(dir / "per_sample.npz", precision, "per_sample.onnx"))
          << sample << " " << precision << ": one sample per run";
      EXPECT_TRUE(m == model(dir / "runs_of_8.npz", precision, "runs_of_8.onnx"))
          << sample << " " << precision << ": runs of 8";
    }
  }
}

TEST(CliDeterminism, AnalyzeIsBitIdenticalAcrossThreads1_3_5) {
  TempDir dir;
  auto analyze = [&](const char* threads) {
    const std::string tag = std::string("t") + threads;
    auto r = run_mixq({"analyze", testing::sample_file("digits_mobile", "model.onnx"), "--data",
                       testing::sample_file("digits_mobile", "calib.npz"), "--eval",
                       testing::sample_file("digits_mobile", "eval.npz"), "--max-layers", "6",
                       "--threads", threads, "-o", (dir / (tag + ".json")).string(), "--html",
                       (dir / (tag + ".html")).string(), "--quiet"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return std::make_pair(normalized(dir / (tag + ".json")),
                          testing::read_bytes(dir / (tag + ".html")));
  };
  const auto first = analyze("1");
  for (const char* t : {"3", "5"}) {
    const auto other = analyze(t);
    EXPECT_EQ(first.first, other.first) << "--threads " << t;
    EXPECT_TRUE(first.second == other.second) << "SENS.html, --threads " << t;
  }
}

// The eval set's layout (one run of 500 images, or 500 runs of one): the model is the same
// bytes and the verification metrics are equal. The layer shapes and estimates describe one
// eval run, so they differ. (The metrics moved by 1.7e-5 relative on an AVX2 CPU, 1.98e-8 on an
// AVX-512 one, while the quantized model's products, whose weights are DequantizeLinear
// outputs, went through Eigen, whose sums depend on the row count: docs/determinism.md.)
TEST(CliDeterminism, EvalLayoutGivesTheSameModelAndMetrics) {
  TempDir dir;
  const std::string sample = "digits_cnn";
  write_in_runs_of(testing::sample_file(sample, "eval.npz"), 1, dir / "eval_per_sample.npz");
  auto run = [&](const fs::path& eval, const std::string& tag) {
    fs::create_directories(dir / tag);
    auto r = run_mixq({"convert", testing::sample_file(sample, "model.onnx"), "--data",
                       testing::sample_file(sample, "calib.npz"), "--eval", eval.string(),
                       "--precision", "int8", "-o", (dir / tag / "q.onnx").string(), "--quiet"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  };
  run(testing::sample_file(sample, "eval.npz"), "whole");
  run(dir / "eval_per_sample.npz", "per_sample");
  EXPECT_TRUE(testing::read_bytes(dir / "whole" / "q.onnx") ==
              testing::read_bytes(dir / "per_sample" / "q.onnx"));
  const auto a = read_json(dir / "whole" / "q.report.json");
  const auto b = read_json(dir / "per_sample" / "q.report.json");
  EXPECT_EQ(a["layers"][0]["input_shape"][0], 500);  // one run of 500 images
  EXPECT_EQ(b["layers"][0]["input_shape"][0], 1);    // 500 runs of one
  const auto& va = a["verification"]["outputs"][0];
  const auto& vb = b["verification"]["outputs"][0];
  double worst = 0;
  for (const char* metric : {"sqnr_db", "cosine", "max_abs_error"}) {
    const double x = va[metric].get<double>(), y = vb[metric].get<double>();
    worst = std::max(worst, std::abs(x - y) / std::abs(x));
    EXPECT_EQ(x, y) << metric;
  }
  std::cout << "eval layout: verification metrics differ by at most " << worst << " relative\n";
  EXPECT_EQ(a["verification"]["task"], b["verification"]["task"]);  // accuracy: counts, exact
}

}  // namespace
}  // namespace mixq
