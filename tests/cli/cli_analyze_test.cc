// `mixq analyze` as a user runs it on samples/digits_cnn: SENS.json with its schema fields for
// 5 layers x 3 formats, the table on stdout sorted worst first, a self-contained --html page
// naming every layer, identical JSON (timings aside) across runs and thread counts, and bad
// input refused with the documented exit codes.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>

#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/npz_writer.h"
#include "test_support.h"

namespace mixq {
namespace {

using testing::run_mixq;
using testing::TempDir;

nlohmann::json read_json(const std::filesystem::path& p) {
  return nlohmann::json::parse(testing::read_bytes(p), nullptr, false);
}

testing::RunResult analyze(const std::filesystem::path& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"analyze", testing::sample_file("digits_cnn", "model.onnx"),
                                   "--data",  testing::sample_file("digits_cnn", "calib.npz"),
                                   "--eval",  testing::sample_file("digits_cnn", "eval.npz"),
                                   "-o",      out.string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_mixq(args);
}

TEST(CliAnalyze, WritesSensitivityJsonAndPrintsTheTableWorstFirst) {
  TempDir dir;
  auto r = analyze(dir / "sens.json", {"--html", (dir / "sens.html").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto s = read_json(dir / "sens.json");
  ASSERT_FALSE(s.is_discarded());
  EXPECT_EQ(s["schema"], "mixq.sensitivity");
  EXPECT_EQ(s["version"], 1);
  EXPECT_EQ(s["metric"]["name"], "accuracy");
  EXPECT_NEAR(s["metric"]["fp32"].get<double>(), 98.6, 1e-9);
  EXPECT_EQ(s["flags"]["formats"], (nlohmann::json{"fp8", "int8", "fp16"}));
  ASSERT_EQ(s["layers"].size(), 5u);
  std::set<std::string> ops;
  double prev = 1e300;
  std::vector<std::string> names;
  for (const auto& l : s["layers"]) {
    names.push_back(l["name"]);
    ops.insert(l["op_type"].get<std::string>());
    EXPECT_GT(l["flops"].get<int64_t>(), 0) << l["name"];
    EXPECT_GT(l["suffix_nodes"].get<int64_t>(), 0) << l["name"];
    EXPECT_LT(l["weight_bytes"]["int8"].get<int64_t>(), l["weight_bytes"]["fp16"].get<int64_t>());
    EXPECT_LT(l["weight_bytes"]["fp16"].get<int64_t>(), l["weight_bytes"]["fp32"].get<int64_t>());
    ASSERT_EQ(l["results"].size(), 3u);
    for (const char* f : {"fp8", "int8", "fp16"}) {
      const auto& res = l["results"][f];
      for (const char* k : {"metric", "drop", "output_sqnr_db", "output_cosine", "top1_agreement",
                            "layer_sqnr_db"}) {
        EXPECT_TRUE(res[k].is_number()) << l["name"] << " " << f << " " << k;
      }
    }
    // FP16 is far more precise than the 8-bit formats on the layer's own output.
    EXPECT_GT(l["results"]["fp16"]["layer_sqnr_db"].get<double>(),
              l["results"]["int8"]["layer_sqnr_db"].get<double>() + 15)
        << l["name"];
    EXPECT_LE(l["worst"].get<double>(), prev);
    prev = l["worst"].get<double>();
  }
  EXPECT_EQ(ops, (std::set<std::string>{"Conv", "Gemm"}));
  // The table: one line per layer, in the JSON's (worst first) order.
  size_t pos = 0;
  for (size_t i = 0; i < names.size(); ++i) {
    const std::regex line("\\n +" + std::to_string(i + 1) + "  " +
                          std::regex_replace(names[i], std::regex("[.]"), "\\.") + " ");
    std::smatch m;
    const std::string rest = r.out.substr(pos);
    ASSERT_TRUE(std::regex_search(rest, m, line)) << names[i] << "\n" << r.out;
    pos += static_cast<size_t>(m.position(0)) + 1;
  }
  // The HTML page: no external resource, every layer named, a chart.
  const std::string html = testing::read_bytes(dir / "sens.html");
  EXPECT_EQ(html.find("http"), std::string::npos);
  EXPECT_EQ(html.find("src="), std::string::npos);
  EXPECT_NE(html.find("<style>"), std::string::npos);
  EXPECT_NE(html.find("<svg"), std::string::npos);
  for (const auto& n : names) EXPECT_NE(html.find(n), std::string::npos) << n;
}

TEST(CliAnalyze, DeterministicAcrossRunsAndThreadCounts) {
  TempDir dir;
  ASSERT_EQ(analyze(dir / "a.json", {"--threads", "1", "--quiet"}).exit_code, 0);
  ASSERT_EQ(analyze(dir / "b.json", {"--threads", "2", "--quiet"}).exit_code, 0);
  ASSERT_EQ(analyze(dir / "c.json", {"--threads", "2", "--quiet"}).exit_code, 0);
  auto a = read_json(dir / "a.json"), b = read_json(dir / "b.json"), c = read_json(dir / "c.json");
  for (auto* j : {&a, &b, &c}) j->erase("timings_s");
  EXPECT_EQ(a, b);
  EXPECT_EQ(b, c);
}

TEST(CliAnalyze, LayersAndMaxLayersNarrowTheAnalysis) {
  TempDir dir;
  auto r = analyze(dir / "s.json", {"--layers", "Gemm", "--formats", "int8", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto s = read_json(dir / "s.json");
  ASSERT_EQ(s["layers"].size(), 2u);
  for (const auto& l : s["layers"]) {
    EXPECT_EQ(l["op_type"], "Gemm");
    EXPECT_EQ(l["results"].size(), 1u);
  }
  r = analyze(dir / "k.json", {"--max-layers", "3", "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_json(dir / "k.json")["layers"].size(), 3u);
}

// Evaluation data as a sample axis of batches ([20, 25, 1, 8, 8] images, [20, 25] labels):
// 500 samples in 20 runs, not 20, and the same metric as the single array.
TEST(CliAnalyze, BatchedEntriesCountSamplesNotEntries) {
  TempDir dir;
  auto eval = calib::DataSource::open(testing::sample_file("digits_cnn", "eval.npz"));
  ASSERT_TRUE(eval.ok()) << eval.status().to_string();
  auto w = calib::NpzWriter::create(dir / "entries.npz");
  ASSERT_TRUE(w.ok());
  for (const auto& a : (*eval)->arrays()) {
    auto all = a->read_all();
    ASSERT_TRUE(all.ok()) << all.status().to_string();
    std::vector<int64_t> dims = all->dims();
    ASSERT_EQ(dims[0], 500) << a->name();
    dims[0] = 25;
    dims.insert(dims.begin(), 20);
    auto view = ir::Tensor::from_buffer(all->dtype(), dims, all->buffer());
    ASSERT_TRUE(view.ok()) << view.status().to_string();
    ASSERT_TRUE((*w)->add(a->name(), *view).ok());
  }
  ASSERT_TRUE((*w)->commit().ok());
  const auto run = [&](const std::filesystem::path& eval_path, const std::string& out) {
    auto r =
        run_mixq({"analyze", testing::sample_file("digits_cnn", "model.onnx"), "--data",
                  testing::sample_file("digits_cnn", "calib.npz"), "--eval", eval_path.string(),
                  "--formats", "int8", "--quiet", "-o", (dir / out).string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return read_json(dir / out);
  };
  const auto whole = run(testing::sample_file("digits_cnn", "eval.npz"), "whole.json");
  const auto entries = run(dir / "entries.npz", "entries.json");
  EXPECT_EQ(whole["data"]["runs"], 1);
  EXPECT_EQ(whole["data"]["samples"], 500);
  EXPECT_EQ(entries["data"]["runs"], 20);
  EXPECT_EQ(entries["data"]["samples"], 500);
  EXPECT_EQ(entries["metric"], whole["metric"]);
  ASSERT_EQ(entries["layers"].size(), whole["layers"].size());
  for (size_t i = 0; i < whole["layers"].size(); ++i) {
    EXPECT_EQ(entries["layers"][i]["results"]["int8"]["metric"],
              whole["layers"][i]["results"]["int8"]["metric"])
        << whole["layers"][i]["name"];
  }
}

TEST(CliAnalyze, RejectsMissingData) {
  TempDir dir;
  auto r =
      run_mixq({"analyze", testing::sample_file("digits_cnn", "model.onnx"), "--eval",
                testing::sample_file("digits_cnn", "eval.npz"), "-o", (dir / "s.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--data"), std::string::npos) << r.err;
  r = run_mixq({"analyze", testing::sample_file("digits_cnn", "model.onnx"), "--data",
                (dir / "missing.npz").string(), "-o", (dir / "s.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "s.json"));
}

TEST(CliAnalyze, RejectsBadFormats) {
  TempDir dir;
  for (const std::string f : {"int4", "fp32", "int8,int8"}) {
    auto r = analyze(dir / "s.json", {"--formats", f});
    EXPECT_EQ(r.exit_code, 1) << f << ": " << r.err;
    EXPECT_NE(r.err.find("--formats"), std::string::npos) << r.err;
  }
}

TEST(CliAnalyze, RejectsRangesOfAnotherModel) {
  TempDir dir;
  auto c = run_mixq({"calibrate", testing::sample_file("digits_mobile", "model.onnx"), "--data",
                     testing::sample_file("digits_mobile", "calib.npz"), "-o",
                     (dir / "r.json").string()});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  auto r =
      run_mixq({"analyze", testing::sample_file("digits_cnn", "model.onnx"), "--ranges",
                (dir / "r.json").string(), "--eval", testing::sample_file("digits_cnn", "eval.npz"),
                "-o", (dir / "s.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("SHA-256"), std::string::npos) << r.err;
}

TEST(CliAnalyze, RejectsCapturedActivationsOverMaxMemory) {
  TempDir dir;
  auto r = analyze(dir / "s.json", {"--max-memory", "1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--max-memory"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace mixq
