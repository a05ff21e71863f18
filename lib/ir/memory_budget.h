// Sizes of a model's tensors before anything runs: the checked element counts that refuse
// shapes whose size overflows, and the estimate behind `--max-memory`.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"
#include "mixq/ir/shape_inference.h"

namespace mixq::ir {

// Bytes of the known dims of tensor type `t` (unknown and symbolic dims count as 1, a known 0
// makes it 0; an undefined dtype counts 1 byte per element). nullopt when the element count or
// the byte size overflows int64. Non-tensor types and types without a shape give 0.
std::optional<uint64_t> known_bytes(const ValueType& t);

// Refuses (bad input) a tensor type whose known dims multiply past int64 or whose byte size
// overflows; `what` names the tensor in the message ("graph input 'x'").
Status check_type_size(const ValueType& t, std::string_view what);

struct TensorBytes {
  std::string name;
  std::string kind;  // "initializer", "constant of <node>", "activation"
  uint64_t bytes = 0;
};

struct MemoryEstimate {
  uint64_t initializer_bytes = 0;    // initializers and tensor attributes, external data included
  uint64_t activation_bytes = 0;     // graph inputs and node outputs whose every dim is known
  int64_t unsized = 0;               // activations with a dim inference cannot size (not counted)
  std::vector<TensorBytes> tensors;  // every counted tensor, largest first
  uint64_t total() const { return initializer_bytes + activation_bytes; }
};

// Sums the bytes of every tensor of `model` (subgraphs included): stored tensors, and the
// activations `inferred` gives a complete shape. Sums saturate at UINT64_MAX.
MemoryEstimate estimate_memory(const Model& model, const InferenceResult& inferred);

// --max-memory: infers shapes with `options` (the data's input shapes) and refuses (bad input)
// when the estimate is over `limit_mib` MiB, naming the total, the limit and the five largest
// tensors. limit_mib <= 0: no limit.
Status check_memory_limit(const Model& model, int64_t limit_mib, const InferOptions& options = {});

}  // namespace mixq::ir
