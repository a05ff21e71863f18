// Every ONNX backend test case that the CPU executor passes (tests/conformance/passing.txt) and
// whose model is below opset 21, upgraded to 21: it still reproduces the recorded outputs
// (the conformance tolerance: |got - want| <= 1e-5 + 1e-3 * |want|), or the upgrade refuses it
// for a reason listed in kExpectedRefusals. The old-opset models of pytorch-converted and
// pytorch-operator (opset 6: consumed_inputs, legacy broadcast, 2-D Softmax) and the node cases
// for Squeeze/Unsqueeze/Split/Reduce*/Softmax are the interesting ones.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>

#include "mixq/exec/executor.h"
#include "mixq/onnx/model_io.h"
#include "mixq/passes/opset_upgrade.h"
#include "test_support.h"

namespace mixq {
namespace {

// Cases the upgrade refuses, each with the op change in the way.
const std::map<std::string, std::string> kExpectedRefusals = {
    {"node/test_upsample_nearest", "Upsample-10"},
    {"node/test_scatter_with_axis", "Scatter-11"},
    {"node/test_scatter_without_axis", "Scatter-11"},
    {"node/test_scan_sum", "Scan-9"},
};

// Cases that must be among those upgraded and checked (the rewrites they exercise).
const char* const kMustCover[] = {
    "node/test_unsqueeze_axis_3",              // Unsqueeze-13 axes input (opset 11)
    "node/test_reduce_mean_keepdims_example",  // ReduceMean-18 axes input
    "node/test_reduce_log_sum",                // ReduceLogSum-18 from opset 6
    "node/test_split_equal_parts_1d",          // Split-18 num_outputs
    "node/test_dropout_default_old",           // Dropout-12 ratio input
    "node/test_top_k",                         // TopK from 11
    "pytorch-converted/test_Softmax",          // Softmax-13 from opset 6
    "pytorch-converted/test_log_softmax_dim3",
    "pytorch-converted/test_GLU",                    // Split from opset 6
    "pytorch-operator/test_operator_add_broadcast",  // Add-7 legacy broadcast
    "pytorch-operator/test_operator_clip",           // Clip-11 min/max inputs
    "pytorch-operator/test_operator_index",          // Slice-10, Squeeze-13
    "pytorch-operator/test_operator_reduced_mean",
    "pytorch-operator/test_operator_pad",       // Pad-11 from opset 6
    "pytorch-converted/test_BatchNorm2d_eval",  // BatchNormalization-7/9/14
    "pytorch-converted/test_SELU",
};

std::set<std::string> passing_cases() {
  std::set<std::string> out;
  std::ifstream in(std::filesystem::path(MIXQ_SOURCE_DIR) / "tests/conformance/passing.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') out.insert(line);
  }
  return out;
}

// "" when equal within the conformance tolerance; else the first difference.
std::string compare(const ir::Tensor& got, const ir::Tensor& want) {
  const bool bf16_quirk = got.dtype() == DType::kBFloat16 && want.dtype() == DType::kUint16;
  if (got.dtype() != want.dtype() && !bf16_quirk) return "dtype differs";
  if (got.dims() != want.dims()) return "shape " + ir::dims_to_string(got.dims());
  if (got.dtype() == DType::kString) return got.strings() == want.strings() ? "" : "strings";
  if (dtype_is_float(got.dtype())) {
    for (int64_t i = 0; i < got.numel(); ++i) {
      const double g = got.element_as_double(i), w = want.element_as_double(i);
      if ((std::isnan(w) && std::isnan(g)) || (std::isinf(w) && g == w)) continue;
      if (!(std::fabs(g - w) <= 1e-5 + 1e-3 * std::fabs(w))) {
        return str_cat("element ", i, " is ", g, ", want ", w);
      }
    }
    return "";
  }
  return got.nbytes() == want.nbytes() &&
                 std::memcmp(got.raw_data(), want.raw_data(), got.nbytes()) == 0
             ? ""
             : "bytes differ";
}

// Runs every test_data_set of the case on `model`: "" when all outputs match.
std::string run_case(const ir::Model& model, const std::filesystem::path& case_dir) {
  auto ex = exec::Executor::create(model, {.threads = 1});
  if (!ex.ok()) return ex.status().to_string();
  for (int s = 0;; ++s) {
    const auto dir = case_dir / ("test_data_set_" + std::to_string(s));
    if (!std::filesystem::is_directory(dir)) return s == 0 ? "no test_data_set" : "";
    exec::NamedTensors feeds;
    size_t k = 0;
    for (const ir::Value* v : model.graph().inputs()) {
      if (model.is_constant_initializer(v)) continue;
      const auto file = dir / ("input_" + std::to_string(k++) + ".pb");
      if (!std::filesystem::exists(file)) continue;
      auto t = onnx::load_tensor_file(file);
      if (!t.ok()) return t.status().to_string();
      if (t->dtype() == DType::kUint16 && v->type().dtype == DType::kBFloat16) {
        t = ir::Tensor::from_buffer(DType::kBFloat16, t->dims(), t->buffer());
      }
      feeds.emplace_back(v->name(), std::move(t).value());
    }
    auto outs = (*ex)->run(feeds);
    if (!outs.ok()) return outs.status().to_string();
    for (size_t o = 0; o < outs->size(); ++o) {
      auto want = onnx::load_tensor_file(dir / ("output_" + std::to_string(o) + ".pb"));
      if (!want.ok()) return want.status().to_string();
      const std::string diff = compare((*outs)[o], *want);
      if (!diff.empty()) return str_cat("set ", s, " output ", o, ": ", diff);
    }
  }
}

TEST(OpsetUpgradeTestdata, PassingCasesStillPassAtOpset21) {
  const std::set<std::string> passing = passing_cases();
  ASSERT_GT(passing.size(), 500u) << "tests/conformance/passing.txt is missing";
  std::set<std::string> checked, refused;
  int failures = 0;
  for (const auto& path : testing::testdata_models()) {
    const std::string name = testing::testdata_case_name(path);
    if (!passing.count(name)) continue;
    auto model = onnx::load_model(path);
    ASSERT_TRUE(model.ok()) << name << ": " << model.status().to_string();
    const int64_t from = (*model)->opset("");
    if (from <= 0 || from >= 21) continue;
    const Status s = passes::upgrade_opset(**model, 21, nullptr);
    const auto expected = kExpectedRefusals.find(name);
    if (!s.ok()) {
      refused.insert(name);
      EXPECT_EQ(s.code(), StatusCode::kUnsupported) << name << ": " << s.to_string();
      if (expected == kExpectedRefusals.end()) {
        ADD_FAILURE() << name << " (opset " << from << ") refused: " << s.to_string();
      } else {
        EXPECT_NE(s.message().find(expected->second), std::string::npos) << s.message();
      }
      continue;
    }
    EXPECT_EQ(expected, kExpectedRefusals.end()) << name << " should have been refused";
    const std::string diff = run_case(**model, path.parent_path());
    if (!diff.empty()) {
      ++failures;
      ADD_FAILURE() << name << " (opset " << from << " -> 21): " << diff;
    }
    checked.insert(name);
  }
  for (const char* name : kMustCover) {
    EXPECT_TRUE(checked.count(name)) << name << " was not upgraded and checked";
  }
  EXPECT_GT(checked.size(), 700u);
  std::cout << "upgraded and checked " << checked.size() << " cases, " << refused.size()
            << " refused, " << failures << " failed\n";
}

}  // namespace
}  // namespace mixq
