// Choosing a format per layer under an accuracy budget, and the cost model it minimises.
//
// Cost model (docs/plan.md): for a layer with `flops` multiply-adds×2 and `weight_elements`
// weights, in format f on a device profile,
//   time(f)  = max(flops / peak(f), bytes(f) / bandwidth)     (a roofline: compute or memory)
//   bytes(f) = weight_elements × width(f) + activation_elements × act_width(f)
//   size(f)  = weight_elements × width(f)
// with width 4 (FP32), 2 (FP16), 1 (INT8, FP8) bytes. FP8 on a profile without FP8 runs at its
// FP16 rate. `--objective latency` minimises the summed time, `size` the summed bytes.
//
// Search: a multiple-choice knapsack solved exactly by dynamic programming over the budget.
// Each layer picks one option; predicted drops add up (the per-layer sensitivities measured
// alone); the drops are rounded UP to multiples of budget / kBudgetSteps, so the chosen plan's
// predicted drop never exceeds the budget. Ties go to the lower predicted drop, then to the
// option listed first: the result is deterministic.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/quant/qdq_emit.h"

namespace mixq::analysis {

// Throughputs in TFLOP/s (dense, tensor cores where the format has them), bandwidth in GB/s.
struct DeviceProfile {
  std::string name;
  double fp32_tflops = 0, fp16_tflops = 0, int8_tops = 0, fp8_tflops = 0;  // 0: no support
  double bandwidth_gbs = 0;
};

// "h100" (default), "a100", "l40s"; nullopt for an unknown name.
std::optional<DeviceProfile> device_profile(const std::string& name);
const std::vector<std::string>& device_profile_names();

// `--target`: a profile name, or the path of a JSON file that overrides the table
// ({"name": "my-gpu", "base": "h100", "fp8_tflops": 1500, ...}: fields not given come from
// "base", default h100; rates must be >= 0, bandwidth > 0). Usage error for an unknown name,
// bad input (naming the file) for an unreadable or invalid file.
Expected<DeviceProfile> resolve_device_profile(const std::string& target);

struct LayerShape {
  double flops = 0;  // 2 × multiply-adds of one forward pass over the eval batch
  double weight_elements = 0;
  double activation_elements = 0;  // input + output elements
};

// The shape of one quantizable layer's work from the dims one run gave it: `in` its activation
// input, `weight` its weight, `out` its output. FLOPs = 2 × multiply-adds: MatMul and Gemm
// 2·|out|·K; Conv 2·|out|·(C_in/group·kernel); ConvTranspose 2·|in|·(C_out/group·kernel).
LayerShape layer_shape(const std::string& op_type, const std::vector<int64_t>& in,
                       const std::vector<int64_t>& weight, const std::vector<int64_t>& out,
                       bool trans_b);

enum class Objective { kLatency, kSize };

// Estimated seconds of the layer in `p` on `device`, and its weight bytes.
double layer_time(const LayerShape& s, quant::Precision p, const DeviceProfile& device);
double layer_bytes(const LayerShape& s, quant::Precision p);
double layer_cost(const LayerShape& s, quant::Precision p, const DeviceProfile& device,
                  Objective objective);

struct LayerOption {
  quant::Precision precision = quant::Precision::kFp32;
  double drop = 0;  // predicted metric drop when this layer alone takes this option (>= 0)
  double cost = 0;
};

struct LayerChoices {
  std::string layer;
  std::vector<LayerOption> options;  // must contain an option with drop 0 (FP32)
};

struct PlanChoice {
  std::vector<size_t> option;  // per layer, index into its options
  double predicted_drop = 0;
  double cost = 0;
};

constexpr int kBudgetSteps = 4096;

// The cheapest choice whose summed predicted drop is <= max_drop. Bad input when a layer has
// no zero-drop option (then no plan may exist) or max_drop < 0.
Expected<PlanChoice> search_plan(const std::vector<LayerChoices>& layers, double max_drop);

// The promotion after a verification round that missed the budget: among layers that have an
// option with a lower predicted drop than their current one, the move with the largest drop
// reduction per unit of added cost (a move that costs nothing ranks first). Returns
// (layer, new option), or nullopt when every layer is at its lowest-drop option.
std::optional<std::pair<size_t, size_t>> next_promotion(const std::vector<LayerChoices>& layers,
                                                        const std::vector<size_t>& option);

}  // namespace mixq::analysis
