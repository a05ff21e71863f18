// `mixq convert` as a user runs it: every sample to FP8, INT8 and FP16 within the accuracy bounds
// docs/convert.md documents (accuracy drop <= 1 point, perplexity increase <= 1 %, FP16 SQNR >=
// 50 dB), files that really shrink, the report, bit-identical output across runs and thread
// counts, RANGES.json reuse with its hash check, the budget gate (exit 4), --exclude,
// --weights-only, --external-data, and bad input refused with the documented exit codes while
// the input model stays untouched.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "mixq/onnx/model_io.h"
#include "test_support.h"

namespace mixq {
namespace {

using testing::run_mixq;
using testing::TempDir;

nlohmann::json read_json(const std::filesystem::path& p) {
  return nlohmann::json::parse(testing::read_bytes(p), nullptr, false);
}

std::map<std::string, int> op_counts(const std::filesystem::path& model) {
  auto m = onnx::load_model(model);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  std::map<std::string, int> counts;
  if (!m.ok()) return counts;
  for (const auto& n : (*m)->graph().nodes()) ++counts[n->op_type()];
  return counts;
}

testing::RunResult convert(const std::string& name, const std::string& precision,
                           const std::filesystem::path& out, std::vector<std::string> extra = {}) {
  std::vector<std::string> args = {"convert",     testing::sample_file(name, "model.onnx"),
                                   "--data",      testing::sample_file(name, "calib.npz"),
                                   "--eval",      testing::sample_file(name, "eval.npz"),
                                   "--precision", precision,
                                   "-o",          out.string(),
                                   "--quiet"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_mixq(args);
}

TEST(CliConvert, EverySampleToEveryPrecisionWithinTheDocumentedBounds) {
  TempDir dir;
  for (const std::string name : {"digits_cnn", "digits_mobile", "tinygpt"}) {
    for (const std::string p : {"fp8", "int8", "fp16"}) {
      const auto out = dir / (name + "_" + p + ".onnx");
      auto r = convert(name, p, out);
      ASSERT_EQ(r.exit_code, 0) << name << " " << p << ": " << r.err;
      const auto report = read_json(dir / (name + "_" + p + ".report.json"));
      ASSERT_FALSE(report.is_discarded()) << name << " " << p;
      EXPECT_EQ(report["schema"], "mixq.convert");
      EXPECT_EQ(report["flags"]["precision"], p);
      const int layers = name == "tinygpt" ? 17 : (name == "digits_cnn" ? 5 : 18);
      EXPECT_EQ(report["layer_counts"][p], layers) << name << " " << p;
      // The file really shrinks: 1-byte weights, or 2-byte ones for FP16.
      const double ratio = report["sizes"]["output_bytes"].get<double>() /
                           report["sizes"]["model_bytes"].get<double>();
      EXPECT_LT(ratio, p == "fp16" ? 0.62 : 0.56) << name << " " << p;
      const auto& task = report["verification"]["task"];
      if (name == "tinygpt") {
        ASSERT_EQ(task["metric"], "ppl");
        EXPECT_LE(task["quantized"].get<double>(), task["fp32"].get<double>() * 1.01)
            << name << " " << p;
      } else {
        ASSERT_EQ(task["metric"], "accuracy");
        EXPECT_GE(task["quantized"].get<double>(), task["fp32"].get<double>() - 1.0)
            << name << " " << p;
      }
      const auto& o = report["verification"]["outputs"][0];
      EXPECT_GT(o["sqnr_db"].get<double>(), p == "fp16" ? 50.0 : 18.0) << name << " " << p;
      const auto ops = op_counts(out);
      if (p == "fp16") {
        EXPECT_GE(ops.at("Cast"), 2) << name;
        EXPECT_EQ(ops.count("QuantizeLinear"), 0u) << name;
      } else {
        EXPECT_EQ(ops.at("DequantizeLinear"), 2 * layers) << name << " " << p;
        EXPECT_EQ(ops.at("QuantizeLinear"), layers) << name << " " << p;
      }
    }
  }
}

TEST(CliConvert, OutputIsBitIdenticalAcrossRunsAndThreadCounts) {
  TempDir dir;
  ASSERT_EQ(convert("digits_cnn", "int8", dir / "a.onnx", {"--threads", "1"}).exit_code, 0);
  ASSERT_EQ(convert("digits_cnn", "int8", dir / "b.onnx", {"--threads", "2"}).exit_code, 0);
  ASSERT_EQ(convert("digits_cnn", "int8", dir / "c.onnx", {"--threads", "2"}).exit_code, 0);
  EXPECT_EQ(testing::read_bytes(dir / "a.onnx"), testing::read_bytes(dir / "b.onnx"));
  EXPECT_EQ(testing::read_bytes(dir / "b.onnx"), testing::read_bytes(dir / "c.onnx"));
  auto ra = read_json(dir / "a.report.json"), rb = read_json(dir / "b.report.json");
  for (auto* r : {&ra, &rb}) {
    r->erase("timings_s");
    (*r)["output"].erase("path");
  }
  EXPECT_EQ(ra, rb);
}

TEST(CliConvert, ReusesRangesJsonAndRefusesOneMadeForAnotherModel) {
  TempDir dir;
  const auto model = testing::sample_file("digits_cnn", "model.onnx");
  auto c = run_mixq({"calibrate", model, "--data", testing::sample_file("digits_cnn", "calib.npz"),
                     "-o", (dir / "ranges.json").string()});
  ASSERT_EQ(c.exit_code, 0) << c.err;
  ASSERT_EQ(convert("digits_cnn", "int8", dir / "calibrated.onnx").exit_code, 0);
  auto r = run_mixq({"convert", model, "--ranges", (dir / "ranges.json").string(), "--eval",
                     testing::sample_file("digits_cnn", "eval.npz"), "--precision", "int8", "-o",
                     (dir / "reused.onnx").string(), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::read_bytes(dir / "reused.onnx"), testing::read_bytes(dir / "calibrated.onnx"));
  EXPECT_EQ(read_json(dir / "reused.report.json")["data"]["ranges"],
            (dir / "ranges.json").string());
  // The same ranges against another model: refused, naming both hashes.
  auto other = run_mixq({"convert", testing::sample_file("digits_mobile", "model.onnx"), "--ranges",
                         (dir / "ranges.json").string(), "--eval",
                         testing::sample_file("digits_mobile", "eval.npz"), "--precision", "int8",
                         "-o", (dir / "other.onnx").string()});
  EXPECT_EQ(other.exit_code, 2) << other.err;
  EXPECT_NE(other.err.find("SHA-256"), std::string::npos) << other.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "other.onnx"));
}

TEST(CliConvert, BudgetGateExitsFourAndStillWritesTheModelAndReport) {
  TempDir dir;
  // A budget no conversion can meet (the drop must be at most -50 points).
  auto r =
      convert("digits_cnn", "int8", dir / "q.onnx", {"--metric", "accuracy", "--max-drop", "-50"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "q.onnx"));
  auto report = read_json(dir / "q.report.json");
  EXPECT_EQ(report["budget"]["met"], false);
  EXPECT_EQ(report["budget"]["metric"], "accuracy");
  // A reachable one.
  r = convert("digits_cnn", "int8", dir / "ok.onnx", {"--metric", "accuracy", "--max-drop", "2"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_json(dir / "ok.report.json")["budget"]["met"], true);
  // The SQNR floor.
  r = convert("digits_cnn", "fp16", dir / "s.onnx", {"--metric", "sqnr", "--min-sqnr", "200"});
  EXPECT_EQ(r.exit_code, 4) << r.err;
  r = convert("digits_cnn", "int8", dir / "t.onnx", {"--metric", "top1", "--max-drop", "5"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(CliConvert, WritesMarkdownAndSelfContainedHtmlWithTheEstimate) {
  TempDir dir;
  auto r =
      convert("digits_cnn", "int8", dir / "q.onnx", {"--metric", "accuracy", "--max-drop", "1"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = read_json(dir / "q.report.json");
  // The estimate: INT8 is faster than FP32 and all-FP16 on the default H100 profile, weights a
  // quarter of FP32's; every layer has its FLOPs (Conv: 2 x outputs x C_in x kernel).
  const auto& e = report["estimate"];
  EXPECT_EQ(e["target"], "h100");
  EXPECT_GT(e["speedup_vs_fp32"].get<double>(), 1.0);
  EXPECT_GE(e["speedup_vs_fp16"].get<double>(), 1.0);
  EXPECT_EQ(e["weight_bytes"]["plan"].get<double>() * 4, e["weight_bytes"]["fp32"].get<double>());
  // The first Conv: 16 x 1 x 3 x 3 weights over 500 images of 8 x 8 (padded): 2*500*16*64*9.
  EXPECT_EQ(report["layers"][0]["flops"].get<double>(), 2.0 * 500 * 16 * 8 * 8 * 9);
  const std::string md = testing::read_bytes(dir / "q.report.md");
  const std::string first = md.substr(0, md.find('\n'));
  EXPECT_NE(first.find("budget: accuracy"), std::string::npos) << first;
  EXPECT_NE(first.find("met"), std::string::npos) << first;
  EXPECT_NE(first.find("× FP32"), std::string::npos) << first;
  const std::string html = testing::read_bytes(dir / "q.report.html");
  EXPECT_EQ(html.find("http"), std::string::npos);
  for (const auto& l : report["layers"]) {
    EXPECT_NE(md.find(l["name"].get<std::string>()), std::string::npos) << l["name"];
    EXPECT_NE(html.find(l["name"].get<std::string>()), std::string::npos) << l["name"];
  }
  // The FP16 rewrite renames the layers' tensors: the estimate still sees their shapes.
  r = convert("digits_cnn", "fp16", dir / "h.onnx");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto h = read_json(dir / "h.report.json");
  EXPECT_EQ(h["layers"][0]["flops"].get<double>(), 2.0 * 500 * 16 * 8 * 8 * 9);
  EXPECT_EQ(h["estimate"]["time_us"]["fp32"], e["time_us"]["fp32"]);
  // --target picks another profile; an unknown one is a usage error.
  r = convert("digits_cnn", "int8", dir / "a.onnx", {"--target", "a100"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(read_json(dir / "a.report.json")["estimate"]["target"], "a100");
  r = convert("digits_cnn", "int8", dir / "t.onnx", {"--target", "tpu"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "t.onnx"));
  // A JSON profile overrides the table: INT8 no faster than FP32 makes the plan's estimate
  // equal all-FP32's where compute-bound, and the report records the rates it used.
  testing::write_bytes(dir / "gpu.json",
                       R"({"name": "int8-slow", "int8_tops": 67, "bandwidth_gbs": 1e9})");
  r = convert("digits_cnn", "int8", dir / "j.onnx", {"--target", (dir / "gpu.json").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = read_json(dir / "j.report.json")["estimate"];
  EXPECT_EQ(j["target"], "int8-slow");
  EXPECT_EQ(j["profile"]["int8_tops"], 67.0);
  EXPECT_EQ(j["profile"]["fp16_tflops"], 989.4);
  EXPECT_NEAR(j["speedup_vs_fp32"].get<double>(), 1.0, 1e-9);
  testing::write_bytes(dir / "bad.json", R"({"int8_tops": "fast"})");
  r = convert("digits_cnn", "int8", dir / "b.onnx", {"--target", (dir / "bad.json").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("int8_tops"), std::string::npos) << r.err;
}

TEST(CliConvert, ExcludeWeightsOnlyAndExternalData) {
  TempDir dir;
  auto r = convert("digits_cnn", "fp8", dir / "ex.onnx", {"--exclude", "^/head/"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto report = read_json(dir / "ex.report.json");
  EXPECT_EQ(report["layer_counts"]["fp8"], 3);
  EXPECT_EQ(report["layer_counts"]["fp32"], 2);
  EXPECT_EQ(op_counts(dir / "ex.onnx").at("QuantizeLinear"), 3);

  // Weights only: no calibration data needed, no activation Q/DQ.
  r = run_mixq({"convert", testing::sample_file("digits_cnn", "model.onnx"), "--weights-only",
                "--eval", testing::sample_file("digits_cnn", "eval.npz"), "--precision", "int8",
                "-o", (dir / "w.onnx").string(), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ops = op_counts(dir / "w.onnx");
  EXPECT_EQ(ops.count("QuantizeLinear"), 0u);
  EXPECT_EQ(ops.at("DequantizeLinear"), 5);

  r = convert("digits_cnn", "int8", dir / "ext.onnx", {"--external-data"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::data_files_of(dir / "ext.onnx").size(), 1u);
  EXPECT_LT(std::filesystem::file_size(dir / "ext.onnx"), 20000u);
  EXPECT_EQ(op_counts(dir / "ext.onnx").at("QuantizeLinear"), 5);
}

TEST(CliConvert, OverridesMixFormatsAndPlanJsonReplaysExactly) {
  TempDir dir;
  // FP8 everywhere but the first Conv (INT8) and the Gemm head (FP16).
  auto r = convert("digits_cnn", "fp8", dir / "mixed.onnx",
                   {"--override", "^/head/=fp16", "--override", "features\\.0/Conv$=int8"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto plan = read_json(dir / "mixed.plan.json");
  ASSERT_EQ(plan["schema"], "mixq.plan");
  ASSERT_EQ(plan["layers"].size(), 5u);
  std::map<std::string, std::string> want = {{"/features/features.0/Conv", "int8"},
                                             {"/features/features.3/Conv", "fp8"},
                                             {"/features/features.7/Conv", "fp8"},
                                             {"/head/head.1/Gemm", "fp16"},
                                             {"/head/head.3/Gemm", "fp16"}};
  for (const auto& l : plan["layers"]) {
    EXPECT_EQ(l["precision"], want.at(l["name"].get<std::string>())) << l["name"];
  }
  auto ops = op_counts(dir / "mixed.onnx");
  EXPECT_EQ(ops.at("QuantizeLinear"), 3);
  EXPECT_GE(ops.at("Cast"), 2);
  EXPECT_EQ(read_json(dir / "mixed.report.json")["layer_counts"]["fp16"], 2);
  // Replaying the written plan gives the same bytes.
  r = run_mixq({"convert", testing::sample_file("digits_cnn", "model.onnx"), "--data",
                testing::sample_file("digits_cnn", "calib.npz"), "--eval",
                testing::sample_file("digits_cnn", "eval.npz"), "--plan",
                (dir / "mixed.plan.json").string(), "-o", (dir / "replay.onnx").string(),
                "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::read_bytes(dir / "replay.onnx"), testing::read_bytes(dir / "mixed.onnx"));
  // A hand-edited plan: the edit is applied, layers left out stay FP32.
  plan["layers"][1]["precision"] = "int8";
  plan["layers"].erase(4);
  testing::write_bytes(dir / "edited.json", plan.dump());
  r = run_mixq({"convert", testing::sample_file("digits_cnn", "model.onnx"), "--data",
                testing::sample_file("digits_cnn", "calib.npz"), "--eval",
                testing::sample_file("digits_cnn", "eval.npz"), "--plan",
                (dir / "edited.json").string(), "-o", (dir / "edited.onnx").string(), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto counts = read_json(dir / "edited.report.json")["layer_counts"];
  EXPECT_EQ(counts["int8"], 2);
  EXPECT_EQ(counts["fp8"], 1);
  EXPECT_EQ(counts["fp16"], 1);
  EXPECT_EQ(counts["fp32"], 1);
  // A plan naming a layer the model lacks, and malformed overrides.
  plan["layers"][0]["name"] = "no_such_layer";
  testing::write_bytes(dir / "bad.json", plan.dump());
  r = run_mixq({"convert", testing::sample_file("digits_cnn", "model.onnx"), "--data",
                testing::sample_file("digits_cnn", "calib.npz"), "--plan",
                (dir / "bad.json").string(), "-o", (dir / "bad.onnx").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no_such_layer"), std::string::npos) << r.err;
  for (const char* o : {"Conv", "Conv=int3", "(=int8"}) {
    r = convert("digits_cnn", "fp8", dir / "o.onnx", {"--override", o});
    EXPECT_EQ(r.exit_code, 1) << o << ": " << r.err;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "bad.onnx"));
  EXPECT_FALSE(std::filesystem::exists(dir / "o.onnx"));
}

TEST(CliConvert, AutoChoosesAPlanWithinTheBudgetAndItReplays) {
  TempDir dir;
  auto r = convert("digits_cnn", "auto", dir / "auto.onnx",
                   {"--metric", "accuracy", "--max-drop", "0.5"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = read_json(dir / "auto.report.json");
  EXPECT_EQ(report["flags"]["precision"], "auto");
  const auto& a = report["auto"];
  // Every layer's row carries what was measured for it in every format.
  ASSERT_EQ(report["layers"].size(), 5u);
  for (const auto& l : report["layers"]) {
    for (const char* f : {"fp8", "int8", "fp16"}) {
      ASSERT_TRUE(l["sensitivity"].contains(f)) << l["name"] << " " << f;
      EXPECT_TRUE(l["sensitivity"][f]["drop"].is_number()) << l["name"] << " " << f;
      EXPECT_GT(l["sensitivity"][f]["layer_sqnr_db"].get<double>(), 20.0) << l["name"] << " " << f;
    }
    EXPECT_GT(l["flops"].get<double>(), 0);
    EXPECT_GT(l["weight_bytes"].get<double>(), 0);
    EXPECT_EQ(l["input_shape"][0], 500) << l["name"];  // the eval batch
  }
  EXPECT_TRUE(report["seeds"].is_object());
  ASSERT_GE(a["rounds"].size(), 1u);
  EXPECT_LE(a["rounds"][0]["predicted_drop"].get<double>(), 0.5);
  EXPECT_EQ(report["budget"]["met"], true);
  EXPECT_LE(report["budget"]["achieved"].get<double>(), 0.5);
  EXPECT_TRUE(std::filesystem::exists(dir / "auto.ranges.json"));
  // A cheaper format than FP32 was chosen somewhere, and every reason says why.
  const auto plan = read_json(dir / "auto.plan.json");
  int quantized = 0;
  for (const auto& l : plan["layers"]) {
    quantized += l["precision"] != "fp32";
    EXPECT_EQ(l["reason"].get<std::string>().rfind("auto:", 0), 0u) << l["reason"];
  }
  EXPECT_GT(quantized, 0);
  // The plan replays to the same bytes.
  r = run_mixq({"convert", testing::sample_file("digits_cnn", "model.onnx"), "--data",
                testing::sample_file("digits_cnn", "calib.npz"), "--eval",
                testing::sample_file("digits_cnn", "eval.npz"), "--plan",
                (dir / "auto.plan.json").string(), "-o", (dir / "replay.onnx").string(),
                "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(testing::read_bytes(dir / "replay.onnx"), testing::read_bytes(dir / "auto.onnx"));
  // Auto needs a budget it can plan for.
  EXPECT_EQ(convert("digits_cnn", "auto", dir / "x.onnx").exit_code, 1);
  EXPECT_EQ(convert("digits_cnn", "auto", dir / "x.onnx", {"--metric", "sqnr", "--min-sqnr", "30"})
                .exit_code,
            1);
  // --formats takes fp8, int8, fp16, each once (the same parser as analyze's).
  for (const char* f : {"int4", "fp32", "int8,int8"}) {
    EXPECT_EQ(convert("digits_cnn", "auto", dir / "x.onnx",
                      {"--metric", "top1", "--max-drop", "1", "--formats", f})
                  .exit_code,
              1)
        << f;
  }
  EXPECT_FALSE(std::filesystem::exists(dir / "x.onnx"));
}

// digits_mobile with a cosine budget of 1e-4: the per-layer drops add up to 9.5e-5 for the first
// plan but the plan measures 1.04e-4 (the layers' errors interact), so a promotion round runs.
TEST(CliConvert, AutoPromotesWhenTheFirstPlanMissesTheBudget) {
  TempDir dir;
  const std::vector<std::string> budget = {"--metric", "cosine", "--max-drop", "1e-4"};
  auto r = convert("digits_mobile", "auto", dir / "p.onnx", budget);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = read_json(dir / "p.report.json");
  const auto& rounds = report["auto"]["rounds"];
  ASSERT_GE(rounds.size(), 2u) << rounds.dump();
  EXPECT_EQ(rounds[0]["met"], false);
  EXPECT_GT(rounds[0]["achieved"].get<double>(), 1e-4);
  const std::string promoted = rounds[0]["promoted"]["layer"].get<std::string>();
  EXPECT_EQ(rounds.back()["met"], true);
  EXPECT_LE(report["budget"]["achieved"].get<double>(), 1e-4);
  // Each round costs at least as much as the one before (promotions only add cost).
  for (size_t i = 1; i < rounds.size(); ++i) {
    EXPECT_GE(rounds[i]["cost"].get<double>(), rounds[i - 1]["cost"].get<double>());
  }
  // The plan says why the promoted layer has its format; the Markdown report lists the rounds.
  const auto plan = read_json(dir / "p.plan.json");
  bool found = false;
  for (const auto& l : plan["layers"]) {
    if (l["name"] != promoted) continue;
    found = true;
    EXPECT_EQ(l["precision"], rounds[0]["promoted"]["to"]);
    EXPECT_EQ(l["reason"].get<std::string>().rfind("auto: promoted from ", 0), 0u) << l["reason"];
  }
  EXPECT_TRUE(found) << promoted;
  const std::string md = testing::read_bytes(dir / "p.report.md");
  EXPECT_NE(md.find("round 0: predicted drop"), std::string::npos) << md;
  EXPECT_NE(md.find("round 1: predicted drop"), std::string::npos) << md;

  // With one round allowed the budget is missed: exit 4, and OUT and the reports still written.
  std::vector<std::string> one = budget;
  one.insert(one.end(), {"--max-rounds", "1"});
  r = convert("digits_mobile", "auto", dir / "one.onnx", one);
  EXPECT_EQ(r.exit_code, 4) << r.err;
  const auto missed = read_json(dir / "one.report.json");
  EXPECT_EQ(missed["budget"]["met"], false);
  EXPECT_EQ(missed["auto"]["rounds"].size(), 1u);
  EXPECT_TRUE(std::filesystem::exists(dir / "one.onnx"));
  EXPECT_TRUE(std::filesystem::exists(dir / "one.plan.json"));
}

// The whole automatic pipeline (calibration, sensitivity, search, rounds) is deterministic:
// same OUT bytes and the same report apart from timings and paths, for any thread count.
TEST(CliConvert, AutoIsBitIdenticalAcrossThreadCounts) {
  TempDir dir;
  std::filesystem::create_directories(dir / "a");
  std::filesystem::create_directories(dir / "b");
  const std::vector<std::string> budget = {"--metric", "top1", "--max-drop", "0.5"};
  auto with = [&](const char* threads) {
    auto v = budget;
    v.insert(v.end(), {"--threads", threads});
    return v;
  };
  ASSERT_EQ(convert("digits_cnn", "auto", dir / "a" / "q.onnx", with("1")).exit_code, 0);
  ASSERT_EQ(convert("digits_cnn", "auto", dir / "b" / "q.onnx", with("2")).exit_code, 0);
  EXPECT_EQ(testing::read_bytes(dir / "a" / "q.onnx"), testing::read_bytes(dir / "b" / "q.onnx"));
  EXPECT_EQ(testing::read_bytes(dir / "a" / "q.plan.json"),
            testing::read_bytes(dir / "b" / "q.plan.json"));
  auto ra = read_json(dir / "a" / "q.report.json"), rb = read_json(dir / "b" / "q.report.json");
  for (auto* r : {&ra, &rb}) {
    r->erase("timings_s");
    (*r)["output"].erase("path");
    (*r)["auto"].erase("ranges");  // OUT.ranges.json, next to each OUT
    (*r)["data"].erase("ranges");
  }
  EXPECT_EQ(ra, rb);
}

TEST(CliConvert, RequantizesAModelThatAlreadyHoldsQdq) {
  TempDir dir;
  ASSERT_EQ(convert("digits_cnn", "int8", dir / "q.onnx").exit_code, 0);
  auto r = run_mixq({"convert", (dir / "q.onnx").string(), "--requantize", "--data",
                     testing::sample_file("digits_cnn", "calib.npz"), "--eval",
                     testing::sample_file("digits_cnn", "eval.npz"), "--precision", "fp8", "-o",
                     (dir / "re.onnx").string(), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // The old pairs are folded away, not stacked: one Q per layer, one DQ per weight and per Q.
  const auto ops = op_counts(dir / "re.onnx");
  EXPECT_EQ(ops.at("QuantizeLinear"), 5);
  EXPECT_EQ(ops.at("DequantizeLinear"), 10);
  const auto report = read_json(dir / "re.report.json");
  EXPECT_EQ(report["flags"]["requantize"], true);
  EXPECT_GE(report["verification"]["task"]["quantized"].get<double>(), 97.0);
}

TEST(CliConvert, rejects_ops_the_rewrite_cannot_handle_with_exit_3_naming_them) {
  TempDir dir;
  // An opset-9 Upsample cannot be carried to INT8's opset 13 (deprecated at 10).
  {
    testing::GraphBuilder b(9);
    ir::Value* x = b.input("x", DType::kFloat32, {1, 1, 2, 2});
    ir::Value* scales = b.constant("scales", ir::Tensor::from_floats({4}, {1, 1, 2, 2}));
    ir::Value* up = b.node("Upsample", {x, scales})[0];
    up->producer()->set_name("old_upsample");
    ir::Value* y = b.node("MatMul", {up, b.constant("w", testing::random_floats({4, 3}, 1))})[0];
    b.output(y);
    ASSERT_TRUE(onnx::save_model(b.model(), dir / "up.onnx").ok());
  }
  auto r = run_mixq({"convert", (dir / "up.onnx").string(), "--weights-only", "--eval",
                     (dir / "unused.npz").string(), "--precision", "int8", "-o",
                     (dir / "a.onnx").string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("old_upsample"), std::string::npos) << r.err;
  // A float64 weight: valid ONNX, not quantizable.
  {
    testing::GraphBuilder b(13);
    ir::Value* x = b.input("x", DType::kFloat64, {2, 3});
    auto w = ir::Tensor::zeros(DType::kFloat64, {3, 2});
    ASSERT_TRUE(w.ok());
    ir::Value* y = b.node("MatMul", {x, b.constant("w64", *w)})[0];
    y->producer()->set_name("double_mm");
    b.output(y);
    ASSERT_TRUE(onnx::save_model(b.model(), dir / "f64.onnx").ok());
  }
  r = run_mixq({"convert", (dir / "f64.onnx").string(), "--weights-only", "--eval",
                (dir / "unused.npz").string(), "--precision", "int8", "-o",
                (dir / "b.onnx").string()});
  EXPECT_EQ(r.exit_code, 3) << r.err;
  EXPECT_NE(r.err.find("double_mm"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "a.onnx"));
  EXPECT_FALSE(std::filesystem::exists(dir / "b.onnx"));
}

TEST(CliConvert, rejects_bad_input_with_documented_codes_and_leaves_the_model_untouched) {
  TempDir dir;
  const auto model = testing::sample_file("digits_cnn", "model.onnx");
  const std::string before = testing::read_bytes(model);
  const auto mtime = std::filesystem::last_write_time(model);
  // OUT equal to MODEL: usage error, nothing written.
  auto r = run_mixq({"convert", model, "--data", testing::sample_file("digits_cnn", "calib.npz"),
                     "--precision", "int8", "-o", model});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  // No calibration data and no --weights-only: bad input that explains the choice.
  r = run_mixq({"convert", model, "--eval", testing::sample_file("digits_cnn", "eval.npz"),
                "--precision", "int8", "-o", (dir / "a.onnx").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--weights-only"), std::string::npos) << r.err;
  // Data for another model: names the missing input.
  r = run_mixq({"convert", testing::sample_file("tinygpt", "model.onnx"), "--data",
                testing::sample_file("digits_cnn", "calib.npz"), "--precision", "fp8", "-o",
                (dir / "b.onnx").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("ids"), std::string::npos) << r.err;
  // A model that already holds Q/DQ nodes.
  ASSERT_EQ(convert("digits_cnn", "int8", dir / "q.onnx").exit_code, 0);
  r = run_mixq({"convert", (dir / "q.onnx").string(), "--data",
                testing::sample_file("digits_cnn", "calib.npz"), "--precision", "int8", "-o",
                (dir / "qq.onnx").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("--requantize"), std::string::npos) << r.err;
  // Unknown precision, missing model.
  r = run_mixq({"convert", model, "--precision", "int4", "-o", (dir / "c.onnx").string()});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  r = run_mixq({"convert", (dir / "missing.onnx").string(), "--weights-only", "--eval",
                testing::sample_file("digits_cnn", "eval.npz"), "--precision", "int8", "-o",
                (dir / "d.onnx").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("missing.onnx"), std::string::npos) << r.err;
  // An output folder that does not exist: refused before calibrating (auto writes RANGES.json
  // there first).
  r = convert("digits_cnn", "auto", dir / "no_such_folder" / "e.onnx",
              {"--metric", "top1", "--max-drop", "1"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("no_such_folder"), std::string::npos) << r.err;
  for (const char* f : {"a.onnx", "b.onnx", "c.onnx", "d.onnx", "qq.onnx"}) {
    EXPECT_FALSE(std::filesystem::exists(dir / f)) << f;
  }
  EXPECT_EQ(testing::read_bytes(model), before);
  EXPECT_EQ(std::filesystem::last_write_time(model), mtime);
}

}  // namespace
}  // namespace mixq
