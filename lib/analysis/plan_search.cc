#include "mixq/analysis/plan_search.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

namespace mixq::analysis {

using quant::Precision;

const std::vector<std::string>& device_profile_names() {
  static const std::vector<std::string> names = {"h100", "a100", "l40s"};
  return names;
}

// NVIDIA data sheets, dense (no structured sparsity) tensor-core rates; FP32 without tensor
// cores (TF32 is off in validation). H100 SXM5; A100 SXM4 80GB; L40S.
std::optional<DeviceProfile> device_profile(const std::string& name) {
  if (name == "h100") return DeviceProfile{"h100", 67.0, 989.4, 1978.9, 1978.9, 3350.0};
  if (name == "a100") return DeviceProfile{"a100", 19.5, 312.0, 624.0, 0.0, 2039.0};
  if (name == "l40s") return DeviceProfile{"l40s", 91.6, 362.05, 733.0, 733.0, 864.0};
  return std::nullopt;
}

Expected<DeviceProfile> resolve_device_profile(const std::string& target) {
  if (auto p = device_profile(target)) return *p;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(target, ec)) {
    return usage_error("--target must be h100, a100, l40s or a JSON profile file, got '", target,
                       "'");
  }
  std::ifstream f(target);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(f);
  } catch (const std::exception& e) {
    return bad_input(target, ": not valid JSON (", e.what(), ")");
  }
  if (!j.is_object()) return bad_input(target, ": a device profile must be a JSON object");
  const std::string base_name = j.value("base", std::string("h100"));
  auto base = device_profile(base_name);
  if (!base) return bad_input(target, ": unknown \"base\" profile '", base_name, "'");
  DeviceProfile p = *base;
  p.name = j.value("name", target);
  const std::pair<const char*, double*> fields[] = {{"fp32_tflops", &p.fp32_tflops},
                                                    {"fp16_tflops", &p.fp16_tflops},
                                                    {"int8_tops", &p.int8_tops},
                                                    {"fp8_tflops", &p.fp8_tflops},
                                                    {"bandwidth_gbs", &p.bandwidth_gbs}};
  for (const auto& [key, dst] : fields) {
    if (!j.contains(key)) continue;
    if (!j[key].is_number() || !std::isfinite(j[key].get<double>()) || j[key].get<double>() < 0) {
      return bad_input(target, ": \"", key, "\" must be a number >= 0");
    }
    *dst = j[key].get<double>();
  }
  for (const auto& [key, unused] : j.items()) {
    bool known = key == "name" || key == "base";
    for (const auto& fld : fields) known = known || key == fld.first;
    if (!known) return bad_input(target, ": unknown field \"", key, "\"");
  }
  if (p.fp32_tflops <= 0 || p.fp16_tflops <= 0 || p.bandwidth_gbs <= 0) {
    return bad_input(target, ": fp32_tflops, fp16_tflops and bandwidth_gbs must be > 0");
  }
  return p;
}

namespace {

double width(Precision p) {
  switch (p) {
    case Precision::kFp32:
      return 4;
    case Precision::kFp16:
      return 2;
    case Precision::kInt8:
    case Precision::kFp8:
      return 1;
  }
  return 4;
}

double peak_tflops(Precision p, const DeviceProfile& d) {
  switch (p) {
    case Precision::kFp32:
      return d.fp32_tflops;
    case Precision::kFp16:
      return d.fp16_tflops;
    case Precision::kInt8:
      return d.int8_tops > 0 ? d.int8_tops : d.fp16_tflops;
    case Precision::kFp8:
      return d.fp8_tflops > 0 ? d.fp8_tflops : d.fp16_tflops;
  }
  return d.fp32_tflops;
}

}  // namespace

LayerShape layer_shape(const std::string& op_type, const std::vector<int64_t>& in,
                       const std::vector<int64_t>& weight, const std::vector<int64_t>& out,
                       bool trans_b) {
  const auto numel = [](const std::vector<int64_t>& d) {
    double n = 1;
    for (int64_t v : d) n *= double(v);
    return n;
  };
  LayerShape s;
  s.weight_elements = numel(weight);
  s.activation_elements = numel(in) + numel(out);
  double per_output = 0;  // multiply-adds per output (or input) element
  if (op_type == "MatMul" && !weight.empty()) {
    per_output = double(weight.size() >= 2 ? weight[weight.size() - 2] : weight[0]);
  } else if (op_type == "Gemm" && weight.size() == 2) {
    per_output = double(trans_b ? weight[1] : weight[0]);
  } else if ((op_type == "Conv" || op_type == "ConvTranspose") && weight.size() >= 2) {
    per_output = numel(weight) / double(weight[0]);
  }
  s.flops = 2.0 * (op_type == "ConvTranspose" ? numel(in) : numel(out)) * per_output;
  return s;
}

double layer_bytes(const LayerShape& s, Precision p) { return s.weight_elements * width(p); }

double layer_time(const LayerShape& s, Precision p, const DeviceProfile& d) {
  // Activations of a quantized layer are read as 8-bit, of an FP16 one as 16-bit.
  const double bytes = s.weight_elements * width(p) + s.activation_elements * width(p);
  const double compute = s.flops / (peak_tflops(p, d) * 1e12);
  const double memory = bytes / (d.bandwidth_gbs * 1e9);
  return std::max(compute, memory);
}

double layer_cost(const LayerShape& s, Precision p, const DeviceProfile& d, Objective o) {
  return o == Objective::kSize ? layer_bytes(s, p) : layer_time(s, p, d);
}

Expected<PlanChoice> search_plan(const std::vector<LayerChoices>& layers, double max_drop) {
  if (!(max_drop >= 0)) return bad_input("the budget must be >= 0, got ", max_drop);
  for (const auto& l : layers) {
    const bool has_zero = std::any_of(l.options.begin(), l.options.end(),
                                      [](const LayerOption& o) { return o.drop <= 0; });
    if (!has_zero) return bad_input("layer '", l.layer, "' has no zero-drop (FP32) option");
  }
  // Budget units: drops rounded up, so a plan within the units is within the budget.
  const double unit = max_drop > 0 ? max_drop / kBudgetSteps : 0;
  const auto units = [&](double drop) -> int64_t {
    if (drop <= 0) return 0;
    if (unit == 0) return kBudgetSteps + 1;  // any drop breaks a zero budget
    const double u = std::ceil(drop / unit - 1e-9);
    return u > kBudgetSteps ? kBudgetSteps + 1 : static_cast<int64_t>(u);
  };
  constexpr double kInf = std::numeric_limits<double>::infinity();
  const size_t n = layers.size();
  const size_t width_b = kBudgetSteps + 1;
  // best[i][b]: least cost of layers [0, i) using exactly b units or fewer (monotone), with
  // pick[i][b] the option of layer i-1 on that optimum.
  std::vector<std::vector<double>> best(n + 1, std::vector<double>(width_b, kInf));
  std::vector<std::vector<int32_t>> pick(n + 1, std::vector<int32_t>(width_b, -1));
  std::fill(best[0].begin(), best[0].end(), 0.0);
  for (size_t i = 0; i < n; ++i) {
    const auto& opts = layers[i].options;
    for (size_t b = 0; b < width_b; ++b) {
      for (size_t k = 0; k < opts.size(); ++k) {
        const int64_t u = units(opts[k].drop);
        if (u > int64_t(b)) continue;
        const double c = best[i][b - size_t(u)] + opts[k].cost;
        // Strictly cheaper wins; on equal cost the first listed option stays.
        if (c < best[i + 1][b]) {
          best[i + 1][b] = c;
          pick[i + 1][b] = int32_t(k);
        }
      }
    }
  }
  // The least-cost plan; among equal costs, the fewest budget units.
  size_t b = 0;
  for (size_t k = 1; k < width_b; ++k) {
    if (best[n][k] < best[n][b]) b = k;
  }
  PlanChoice out;
  out.option.assign(n, 0);
  for (size_t i = n; i-- > 0;) {
    const auto k = static_cast<size_t>(pick[i + 1][b]);
    out.option[i] = k;
    b -= size_t(units(layers[i].options[k].drop));
  }
  for (size_t i = 0; i < n; ++i) {
    out.predicted_drop += std::max(0.0, layers[i].options[out.option[i]].drop);
    out.cost += layers[i].options[out.option[i]].cost;
  }
  return out;
}

std::optional<std::pair<size_t, size_t>> next_promotion(const std::vector<LayerChoices>& layers,
                                                        const std::vector<size_t>& option) {
  std::optional<std::pair<size_t, size_t>> best;
  double best_score = -1;
  for (size_t i = 0; i < layers.size(); ++i) {
    const LayerOption& cur = layers[i].options[option[i]];
    for (size_t k = 0; k < layers[i].options.size(); ++k) {
      const LayerOption& o = layers[i].options[k];
      if (!(o.drop < cur.drop)) continue;
      const double gain = cur.drop - o.drop;
      const double added = std::max(0.0, o.cost - cur.cost);
      const double score =
          added == 0 ? std::numeric_limits<double>::max() / 2 + gain : gain / added;
      if (score > best_score) {
        best_score = score;
        best = std::make_pair(i, k);
      }
    }
  }
  return best;
}

}  // namespace mixq::analysis
