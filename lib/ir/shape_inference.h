// Static shape and dtype inference over a model, subgraphs included.
//
// Inference does not modify the model: it returns the type of every value (declared types
// refined by what the shape functions compute) plus the tracked values of small integer tensors
// (shape arithmetic), so symbolic dims flow through Shape -> Gather -> Concat -> Reshape.
// apply_inferred_types() writes the result into the Values when a caller wants it saved.
#pragma once

#include <map>
#include <string>
#include <unordered_map>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"

namespace mixq::ir {

struct InferOptions {
  // Binds symbolic dims of graph inputs to sizes, e.g. {"batch": 8}.
  std::map<std::string, int64_t> dim_values;
  // Replaces the declared shape of graph inputs (by input name).
  std::map<std::string, Shape> input_shapes;
  // Known values of graph inputs (by name): they act as constants, so shape computations that
  // depend on them resolve (what the executor sees at run time).
  std::map<std::string, Tensor> input_values;
  // Conflicts between a declared type and the inferred one are errors instead of warnings.
  bool strict = false;
};

struct InferenceResult {
  std::unordered_map<const Value*, ValueType> types;
  std::unordered_map<const Value*, std::vector<Dim>> data;
  // Nodes whose op mixq has no shape function for (their outputs keep the declared types).
  std::vector<const Node*> unknown_ops;
  // Declared types that disagree with inference, for a person to read.
  std::vector<std::string> warnings;

  // The inferred type, or the Value's declared type when inference did not reach it.
  const ValueType& type_of(const Value* v) const;
};

// Infers every value's type. Errors (bad input) name the node: invalid attributes, impossible
// ranks, incompatible known dims, dtype conflicts with declarations in strict mode.
Expected<InferenceResult> infer_shapes(const Model& model, const InferOptions& options = {});

// Writes inferred types into the Values (declared ones are replaced, others filled in).
void apply_inferred_types(Model& model, const InferenceResult& result);

}  // namespace mixq::ir
