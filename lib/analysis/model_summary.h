// What `mixq inspect` reports about a model: structure, types, parameters, the layers mixq can
// quantize and the ops it cannot run.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"

namespace mixq::analysis {

struct ValueSummary {
  std::string name;
  ir::ValueType type;
};

struct OpCount {
  std::string domain;  // "" for the default ONNX domain
  std::string op_type;
  int64_t count = 0;
};

struct DTypeTotal {
  DType dtype = DType::kUndefined;
  int64_t count = 0;  // elements
  uint64_t bytes = 0;
};

struct LayerSummary {
  std::string node;
  std::string op_type;
  std::string weight;
  DType weight_dtype = DType::kUndefined;
  std::vector<int64_t> weight_shape;
};

struct UnsupportedOp {
  std::string domain;
  std::string op_type;
  int64_t opset = 0;
  std::vector<std::string> nodes;  // how nodes are named in messages
};

struct ModelSummary {
  std::string path;
  uint64_t file_bytes = 0;
  std::string producer_name;
  std::string producer_version;
  int64_t ir_version = 0;
  std::vector<ir::OpsetImport> opsets;
  std::vector<std::pair<std::string, std::string>> metadata;
  std::vector<ValueSummary> inputs;
  std::vector<ValueSummary> outputs;
  int64_t node_count = 0;       // all graphs, subgraphs included
  std::vector<OpCount> ops;     // most frequent first, then by name
  int64_t parameter_count = 0;  // elements of initializers and Constant tensors
  uint64_t parameter_bytes = 0;
  std::vector<DTypeTotal> parameters_by_dtype;
  std::vector<LayerSummary> quantizable;
  std::vector<UnsupportedOp> unsupported;
  std::vector<std::string> warnings;  // declared types that disagree with inference
};

struct SummaryOptions {
  // Whether mixq can run `node` at `opset`. Ops for which it returns false are listed as
  // unsupported.
  std::function<bool(const ir::Node& node, int64_t opset)> is_supported;
};

// Summarizes `model` (running shape inference for output types). Fails when the model is
// invalid: inference errors name the node.
Expected<ModelSummary> summarize_model(const ir::Model& model, const SummaryOptions& options);

}  // namespace mixq::analysis
