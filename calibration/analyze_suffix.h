// The suffix model of one layer, for `mixq analyze`: what must be recomputed when only that
// layer changes.
//
// The suffix is the layer's node plus every node that depends, transitively, on its outputs.
// Everything else computes exactly what the FP32 model computes, so its values are taken from one
// FP32 run instead of being recomputed. The suffix model's graph inputs are the values its nodes
// read but do not produce (activations and original graph inputs); constant initializers stay
// initializers, and Constant nodes it reads are copied in. Its graph outputs are the original
// graph outputs it produces, in model order, followed by the layer's first output (for the
// layer-local SQNR) when that is not already one of them.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"

namespace mixq::calib {

struct SuffixModel {
  std::unique_ptr<ir::Model> model;
  // The layer's node inside `model`.
  ir::Node* layer = nullptr;
  // Graph inputs of `model`, in order: names of values of the full model, to be fed from its
  // FP32 run (node outputs) or its feeds (graph inputs).
  std::vector<std::string> inputs;
  // For each graph output of `model` that is an original graph output: its index among the full
  // model's outputs. The remaining output (if any) is the layer's output.
  std::vector<size_t> original_outputs;
  // Index among `model`'s outputs of the layer's first output.
  size_t layer_output = 0;
  // Nodes that depend on the layer, the layer included (copied Constant nodes not counted).
  size_t dependent_nodes = 0;
};

// Builds the suffix model of `layer`, a node of `model`'s main graph. Value types are copied
// from `model` (run shape inference on it first when a rewrite needs them); graph inputs keep
// their dtype but not their shape, since they are fed whatever the FP32 run produced. Refuses
// (unsupported) a suffix holding a node with a subgraph attribute (If, Loop, Scan), naming it.
Expected<SuffixModel> build_suffix_model(const ir::Model& model, const ir::Node& layer);

}  // namespace mixq::calib
