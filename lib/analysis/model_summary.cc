#include "mixq/analysis/model_summary.h"

#include <algorithm>
#include <map>
#include <system_error>

#include "mixq/ir/shape_inference.h"
#include "mixq/ir/walk.h"
#include "mixq/quant/layer_selection.h"

namespace mixq::analysis {

Expected<ModelSummary> summarize_model(const ir::Model& model, const SummaryOptions& options) {
  ModelSummary s;
  s.path = model.source_path.string();
  if (!model.source_path.empty()) {
    std::error_code ec;
    const auto size = std::filesystem::file_size(model.source_path, ec);
    if (!ec) s.file_bytes = size;
  }
  s.producer_name = model.producer_name;
  s.producer_version = model.producer_version;
  s.ir_version = model.ir_version;
  s.opsets = model.opset_imports;
  s.metadata = model.metadata_props;

  MIXQ_ASSIGN_OR_RETURN(ir::InferenceResult inferred, ir::infer_shapes(model));
  s.warnings = inferred.warnings;
  const ir::Graph& g = model.graph();
  for (const ir::Value* v : g.inputs()) {
    if (v->initializer()) continue;  // IR < 4 lists initializers as inputs; they are weights
    s.inputs.push_back({v->name(), inferred.type_of(v)});
  }
  for (const ir::Value* v : g.outputs()) s.outputs.push_back({v->name(), inferred.type_of(v)});

  std::map<std::pair<std::string, std::string>, int64_t> counts;
  std::map<std::pair<std::string, std::string>, UnsupportedOp> unsupported;
  ir::for_each_graph(g, [&](const ir::Graph& graph) {
    for (const auto& n : graph.nodes()) {
      ++s.node_count;
      const std::string domain = n->is_onnx_domain() ? "" : n->domain();
      ++counts[{domain, n->op_type()}];
      const int64_t opset = model.opset_for(*n);
      if (options.is_supported && !options.is_supported(*n, opset)) {
        auto& u = unsupported[{domain, n->op_type()}];
        u.domain = domain;
        u.op_type = n->op_type();
        u.opset = opset;
        u.nodes.push_back(n->describe());
      }
    }
  });
  for (const auto& [key, count] : counts) s.ops.push_back({key.first, key.second, count});
  std::stable_sort(s.ops.begin(), s.ops.end(),
                   [](const OpCount& a, const OpCount& b) { return a.count > b.count; });
  for (auto& [key, u] : unsupported) s.unsupported.push_back(std::move(u));

  std::map<DType, DTypeTotal> by_dtype;
  ir::for_each_tensor(g, [&](const ir::Tensor& t, const ir::Value* init, const ir::Node* node) {
    // Parameters are weights: initializers and Constant node values, not other attribute
    // tensors (ConstantOfShape's fill value and the like).
    if (init == nullptr && !(node && node->op_type() == "Constant")) return;
    auto& total = by_dtype[t.dtype()];
    total.dtype = t.dtype();
    total.count += t.numel();
    total.bytes += t.dtype() == DType::kString ? 0 : t.nbytes();
  });
  for (const auto& [dtype, total] : by_dtype) {
    s.parameter_count += total.count;
    s.parameter_bytes += total.bytes;
    s.parameters_by_dtype.push_back(total);
  }
  std::stable_sort(s.parameters_by_dtype.begin(), s.parameters_by_dtype.end(),
                   [](const DTypeTotal& a, const DTypeTotal& b) { return a.bytes > b.bytes; });

  for (const auto& layer : quant::find_quantizable_layers(model)) {
    s.quantizable.push_back(
        {layer.node->name().empty() ? layer.node->describe() : layer.node->name(), layer.op_type,
         layer.weight->name(), layer.weight_dtype, layer.weight_shape});
  }
  return s;
}

}  // namespace mixq::analysis
