// The plan search (lib/analysis/plan_search.h) against brute force over every combination on
// seeded random instances, its edge cases, the promotion rule, and the roofline cost model on
// hand-computed layers.
#include "mixq/analysis/plan_search.h"

#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <random>
#include <tuple>

namespace mixq::analysis {
namespace {

using quant::Precision;

// The least cost over all combinations whose summed drop is <= budget (infinity if none).
double brute_force(const std::vector<LayerChoices>& layers, double budget) {
  double best = std::numeric_limits<double>::infinity();
  std::vector<size_t> idx(layers.size(), 0);
  for (;;) {
    double drop = 0, cost = 0;
    for (size_t i = 0; i < layers.size(); ++i) {
      drop += layers[i].options[idx[i]].drop;
      cost += layers[i].options[idx[i]].cost;
    }
    if (drop <= budget) best = std::min(best, cost);
    size_t i = 0;
    while (i < layers.size() && ++idx[i] == layers[i].options.size()) idx[i++] = 0;
    if (i == layers.size()) break;
  }
  return best;
}

std::vector<LayerChoices> random_instance(std::mt19937& rng, size_t n) {
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<LayerChoices> layers(n);
  for (size_t i = 0; i < n; ++i) {
    layers[i].layer = "l" + std::to_string(i);
    const double base = 1 + 3 * u(rng);
    // FP32 (no drop, full cost), FP16, INT8, FP8: cheaper and (usually) riskier.
    layers[i].options = {{Precision::kFp32, 0.0, base},
                         {Precision::kFp16, 0.01 * u(rng), base * 0.5},
                         {Precision::kInt8, 0.5 * u(rng), base * 0.25},
                         {Precision::kFp8, 0.3 * u(rng), base * 0.25}};
  }
  return layers;
}

TEST(PlanSearch, MatchesBruteForceWithinTheRoundingOfTheBudget) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 40; ++trial) {
    const size_t n = 2 + trial % 6;  // up to 7 layers: 4^7 combinations
    const auto layers = random_instance(rng, n);
    const double budget = 0.05 + 0.6 * std::uniform_real_distribution<double>(0, 1)(rng);
    auto plan = search_plan(layers, budget);
    ASSERT_TRUE(plan.ok()) << plan.status().to_string();
    double drop = 0, cost = 0;
    for (size_t i = 0; i < n; ++i) {
      drop += layers[i].options[plan->option[i]].drop;
      cost += layers[i].options[plan->option[i]].cost;
    }
    EXPECT_NEAR(drop, plan->predicted_drop, 1e-12);
    EXPECT_NEAR(cost, plan->cost, 1e-12);
    EXPECT_LE(drop, budget) << "trial " << trial;
    // Never better than the true optimum, never worse than the optimum of a budget shrunk by
    // the rounding (one unit per layer).
    EXPECT_GE(cost, brute_force(layers, budget) - 1e-12) << "trial " << trial;
    const double shrunk = budget - double(n) * budget / kBudgetSteps;
    EXPECT_LE(cost, brute_force(layers, shrunk) + 1e-12) << "trial " << trial;
  }
}

TEST(PlanSearch, ZeroBudgetKeepsOnlyLosslessChoicesAndIsDeterministic) {
  std::mt19937 rng(8);
  auto layers = random_instance(rng, 5);
  layers[2].options[1].drop = 0;  // an FP16 layer that loses nothing: cheaper and free
  auto plan = search_plan(layers, 0.0);
  ASSERT_TRUE(plan.ok());
  for (size_t i = 0; i < layers.size(); ++i) {
    EXPECT_EQ(layers[i].options[plan->option[i]].drop, 0.0) << i;
  }
  EXPECT_EQ(plan->option[2], 1u);
  auto again = search_plan(layers, 0.0);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->option, plan->option);
}

TEST(PlanSearch, rejects_layers_without_a_lossless_option_and_negative_budgets) {
  std::vector<LayerChoices> layers = {{"only_int8", {{Precision::kInt8, 0.1, 1.0}}}};
  auto plan = search_plan(layers, 1.0);
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kBadInput);
  EXPECT_NE(plan.status().message().find("only_int8"), std::string::npos);
  layers[0].options.push_back({Precision::kFp32, 0.0, 4.0});
  EXPECT_FALSE(search_plan(layers, -1.0).ok());
}

TEST(PlanSearch, PromotionTakesTheLargestDropReductionPerAddedCost) {
  std::vector<LayerChoices> layers = {
      {"a", {{Precision::kFp32, 0.0, 4.0}, {Precision::kInt8, 0.4, 1.0}}},  // 0.4 / 3
      {"b", {{Precision::kFp32, 0.0, 2.0}, {Precision::kFp8, 0.3, 1.0}}},   // 0.3 / 1: best
      {"c", {{Precision::kFp32, 0.0, 9.0}, {Precision::kFp16, 0.01, 5.0}}}};
  std::vector<size_t> at = {1, 1, 1};
  auto p = next_promotion(layers, at);
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->first, 1u);
  EXPECT_EQ(p->second, 0u);
  at = {0, 0, 0};
  EXPECT_FALSE(next_promotion(layers, at).has_value());
}

TEST(CostModel, RooflineOnHandComputedLayers) {
  const auto h100 = device_profile("h100");
  ASSERT_TRUE(h100.has_value());
  // A large GEMM (4096^3 multiply-adds): compute-bound; FP8 twice as fast as FP16.
  const LayerShape big{2.0 * 4096.0 * 4096.0 * 4096.0, 4096.0 * 4096.0, 2 * 4096.0 * 4096.0};
  EXPECT_NEAR(layer_time(big, Precision::kFp16, *h100), big.flops / 989.4e12, 1e-15);
  EXPECT_NEAR(layer_time(big, Precision::kFp8, *h100), big.flops / 1978.9e12, 1e-15);
  EXPECT_NEAR(layer_time(big, Precision::kFp32, *h100), big.flops / 67e12, 1e-15);
  // A matrix-vector product: memory-bound; time is bytes over bandwidth.
  const LayerShape gemv{2.0 * 4096 * 4096, 4096.0 * 4096, 2 * 4096.0};
  EXPECT_NEAR(layer_time(gemv, Precision::kInt8, *h100), (4096.0 * 4096 + 8192) / 3350e9, 1e-15);
  EXPECT_NEAR(layer_time(gemv, Precision::kFp32, *h100), 4 * (4096.0 * 4096 + 8192) / 3350e9,
              1e-15);
  EXPECT_EQ(layer_bytes(gemv, Precision::kFp16), 2 * 4096.0 * 4096);
  EXPECT_EQ(layer_cost(gemv, Precision::kFp8, *h100, Objective::kSize), 4096.0 * 4096);
  // A100 has no FP8: it runs at the FP16 rate.
  const auto a100 = device_profile("a100");
  ASSERT_TRUE(a100.has_value());
  EXPECT_EQ(layer_time(big, Precision::kFp8, *a100), layer_time(big, Precision::kFp16, *a100));
  EXPECT_FALSE(device_profile("tpu").has_value());
}

TEST(CostModel, AJsonFileOverridesTheProfileTable) {
  const auto dir =
      std::filesystem::temp_directory_path() /
      ("mixq-profile-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()));
  std::filesystem::create_directories(dir);
  const auto write = [&](const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
    return (dir / name).string();
  };
  // FP8 made 4x slower than the H100 base: a compute-bound FP8 layer takes 4x the time.
  auto p = resolve_device_profile(
      write("slow_fp8.json", R"({"name": "slow", "base": "h100", "fp8_tflops": 494.725})"));
  ASSERT_TRUE(p.ok()) << p.status().to_string();
  EXPECT_EQ(p->name, "slow");
  EXPECT_EQ(p->fp16_tflops, 989.4);  // from the base
  const LayerShape big{2.0 * 4096.0 * 4096.0 * 4096.0, 4096.0 * 4096.0, 2 * 4096.0 * 4096.0};
  const auto h100 = device_profile("h100");
  EXPECT_NEAR(layer_time(big, Precision::kFp8, *p), 4 * layer_time(big, Precision::kFp8, *h100),
              1e-15);
  // Names still work; unknown names are usage errors; bad files name the file and the field.
  ASSERT_TRUE(resolve_device_profile("a100").ok());
  EXPECT_EQ(resolve_device_profile("tpu").status().code(), StatusCode::kUsage);
  for (const auto& [file, text, needle] :
       std::vector<std::tuple<std::string, std::string, std::string>>{
           {"neg.json", R"({"fp8_tflops": -1})", "fp8_tflops"},
           {"typo.json", R"({"fp8_tflop": 1})", "fp8_tflop"},
           {"base.json", R"({"base": "tpu"})", "tpu"},
           {"zero.json", R"({"bandwidth_gbs": 0})", "bandwidth_gbs"},
           {"text.json", "not json", "not valid JSON"}}) {
    const auto r = resolve_device_profile(write(file, text));
    ASSERT_FALSE(r.ok()) << file;
    EXPECT_EQ(r.status().code(), StatusCode::kBadInput) << file;
    EXPECT_NE(r.status().message().find(file), std::string::npos) << r.status().to_string();
    EXPECT_NE(r.status().message().find(needle), std::string::npos) << r.status().to_string();
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace mixq::analysis
