// Shape and dtype inference against the ONNX backend test data.
//
// The reference is what the ONNX test suite recorded as each case's real outputs
// (test_data_set_0/output_N.pb). Two passes per model:
//  - static: graph inputs as declared. Inference must not fail, and every dim it claims to know
//    must equal the real one.
//  - bound: graph inputs bound to their recorded values (as the executor sees them). For a model
//    whose ops all have shape functions, every tensor output must be inferred exactly, dtype
//    and every dim, except outputs of ops whose size depends on data values (NonZero, ...).
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "mixq/ir/op_schema.h"
#include "mixq/ir/shape_inference.h"
#include "mixq/ir/walk.h"
#include "mixq/onnx/model_io.h"
#include "test_support.h"

namespace mixq {
namespace {

// Ops whose output sizes depend on element values, not on shapes and constants.
const std::set<std::string> kDataDependent = {"NonZero", "Unique", "Compress", "NonMaxSuppression",
                                              "StringSplit"};

struct CaseData {
  std::vector<std::pair<std::string, ir::Tensor>> inputs;
  std::vector<ir::Tensor> outputs;  // by output position; dtype kUndefined when unreadable
};

CaseData read_case(const ir::Model& model, const std::filesystem::path& model_path) {
  CaseData c;
  const auto set = model_path.parent_path() / "test_data_set_0";
  const ir::Graph& g = model.graph();
  size_t k = 0;
  for (const ir::Value* v : g.inputs()) {
    if (v->initializer()) continue;
    auto t = onnx::load_tensor_file(set / ("input_" + std::to_string(k++) + ".pb"));
    if (t.ok() && v->type().is_tensor()) c.inputs.emplace_back(v->name(), std::move(t).value());
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    auto t = onnx::load_tensor_file(set / ("output_" + std::to_string(i) + ".pb"));
    c.outputs.push_back(t.ok() ? std::move(t).value() : ir::Tensor());
  }
  return c;
}

bool all_ops_known(const ir::Model& model) {
  bool ok = true;
  ir::for_each_graph(model.graph(), [&](const ir::Graph& g) {
    for (const auto& n : g.nodes()) {
      if (!ir::find_op_schema(n->domain(), n->op_type(), model.opset_for(*n))) ok = false;
    }
  });
  return ok;
}

bool uses_data_dependent_op(const ir::Model& model) {
  bool found = false;
  ir::for_each_graph(model.graph(), [&](const ir::Graph& g) {
    for (const auto& n : g.nodes()) found |= kDataDependent.count(n->op_type()) > 0;
  });
  return found;
}

// "" when consistent; a description of the first disagreement otherwise. With `exact`, unknown
// dtype or dims also count as disagreement.
std::string compare(const ir::ValueType& inferred, const ir::Tensor& real, bool exact) {
  if (!inferred.is_tensor()) return exact ? "type not inferred" : "";
  // ONNX 1.12's test data records bfloat16 outputs as uint16 tensors (the model declares
  // bfloat16): the bits are the same, only the recorded type differs.
  const bool bf16_quirk = inferred.dtype == DType::kBFloat16 && real.dtype() == DType::kUint16;
  if (inferred.dtype != DType::kUndefined && inferred.dtype != real.dtype() && !bf16_quirk) {
    return str_cat("dtype ", dtype_name(inferred.dtype), " vs real ", dtype_name(real.dtype()));
  }
  if (exact && inferred.dtype == DType::kUndefined) return "dtype not inferred";
  if (!inferred.shape) return exact ? "rank not inferred" : "";
  if (inferred.shape->size() != real.rank()) {
    return str_cat("shape ", ir::shape_to_string(*inferred.shape), " vs real ",
                   ir::dims_to_string(real.dims()));
  }
  for (size_t k = 0; k < real.rank(); ++k) {
    const ir::Dim& d = (*inferred.shape)[k];
    if ((d.is_known() && d.value() != real.dims()[k]) || (exact && !d.is_known())) {
      return str_cat("shape ", ir::shape_to_string(*inferred.shape), " vs real ",
                     ir::dims_to_string(real.dims()));
    }
  }
  return "";
}

TEST(ShapeInferenceTestData, MatchesRecordedOutputs) {
  const auto models = testing::testdata_models();
  ASSERT_GT(models.size(), 1000u);
  std::map<std::string, int> exact_by_suite, supported_by_suite, total_by_suite;
  std::vector<std::string> failures;
  for (const auto& path : models) {
    const std::string name = testing::testdata_case_name(path);
    const std::string suite = name.substr(0, name.find('/'));
    ++total_by_suite[suite];
    auto model = onnx::load_model(path);
    ASSERT_TRUE(model.ok()) << model.status().to_string();
    const CaseData data = read_case(**model, path);
    const ir::Graph& g = (*model)->graph();

    auto stat = ir::infer_shapes(**model);
    if (!stat.ok()) {
      failures.push_back(name + " (static): " + stat.status().to_string());
      continue;
    }
    for (size_t i = 0; i < g.outputs().size(); ++i) {
      if (data.outputs[i].dtype() == DType::kUndefined || !g.outputs()[i]->type().is_tensor()) {
        continue;
      }
      const std::string diff = compare(stat->type_of(g.outputs()[i]), data.outputs[i], false);
      if (!diff.empty())
        failures.push_back(name + " (static) output " + std::to_string(i) + ": " + diff);
    }

    ir::InferOptions bound;
    for (const auto& [n, t] : data.inputs) bound.input_values.emplace(n, t);
    auto dyn = ir::infer_shapes(**model, bound);
    if (!dyn.ok()) {
      failures.push_back(name + " (bound): " + dyn.status().to_string());
      continue;
    }
    const bool supported = all_ops_known(**model);
    const bool exact = supported && !uses_data_dependent_op(**model);
    supported_by_suite[suite] += supported;
    bool all_exact = exact;
    for (size_t i = 0; i < g.outputs().size(); ++i) {
      if (data.outputs[i].dtype() == DType::kUndefined || !g.outputs()[i]->type().is_tensor()) {
        continue;
      }
      const std::string diff = compare(dyn->type_of(g.outputs()[i]), data.outputs[i], exact);
      if (!diff.empty()) {
        failures.push_back(name + " (bound) output " + std::to_string(i) + ": " + diff);
        all_exact = false;
      }
    }
    exact_by_suite[suite] += all_exact;
  }
  int total = 0, supported = 0, exact = 0;
  for (const auto& [suite, n] : total_by_suite) {
    std::cout << suite << ": " << n << " models, " << supported_by_suite[suite]
              << " with every op known, " << exact_by_suite[suite] << " inferred exactly\n";
    total += n;
    supported += supported_by_suite[suite];
    exact += exact_by_suite[suite];
  }
  std::cout << "total: " << total << " models, " << supported << " supported, " << exact
            << " exact\n";
  for (const auto& f : failures) ADD_FAILURE() << f;
  // Guard against a vacuous pass (e.g. the registry losing its ops): the executor's op list
  // covers most of the suite.
  EXPECT_GE(supported, MIXQ_MIN_SHAPE_SUPPORTED) << "fewer models fully supported than before";
}

}  // namespace
}  // namespace mixq
