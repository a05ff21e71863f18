// Opset upgrade: rewrites a model from its ai.onnx opset to a newer one, keeping its meaning.
//
// Every ONNX op version that changed an op's signature or semantics between the model's opset
// and the target has an entry in one explicit table (opset_upgrade.cc): compatible (the old
// node means the same at the new version), a rewrite (attributes that became inputs, renamed
// attributes, defaults that changed, Softmax's 2-D coercion), or a refusal that says what
// changed. The table is checked for the whole model before anything is modified, so a refused
// upgrade leaves the model as it was.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"

namespace mixq::passes {

// Rewrites every default-domain node of the main graph (and subgraphs) whose signature changed
// between the model's ai.onnx opset and `target`, sets the model's ai.onnx opset import to
// `target` (and raises ir_version to the first IR version that carries that opset, unless it is
// below 4, where initializers listed as inputs are constants: that stays so), and appends
// one line per change to `log` (may be null). New constant inputs become initializers of the
// node's graph with fresh names; inserted nodes are kept in topological order.
//
// target <= the current opset: no change. Refuses, without modifying the model:
//   - target > 21 (the highest opset mixq implements): unsupported;
//   - any node it cannot upgrade (Upsample, Scatter, Resize-10, Scan-8, Tile-1, ...): unsupported,
//     naming every such node (Node::describe()) and what changed at which version.
Status upgrade_opset(ir::Model& model, int64_t target, std::vector<std::string>* log);

}  // namespace mixq::passes
