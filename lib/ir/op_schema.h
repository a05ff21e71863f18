// OpSchema: what mixq knows about an operator version — today, its shape function.
//
// One explicit, sorted registry (no static self-registration): each op family file contributes
// its entries through a register_* function listed in op_schema.cc. An op's entry with
// since_version v applies to opsets v .. (next entry's since_version - 1), as in the ONNX spec;
// a shape function may still branch on ctx.opset() for small differences.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/infer_context.h"

namespace mixq::ir {

using ShapeFn = Status (*)(InferContext& ctx);

struct OpSchema {
  std::string_view domain;  // "" for the default ONNX domain
  std::string_view op_type;
  int since_version;
  ShapeFn infer;
};

// Highest opset of the default domain mixq implements.
constexpr int64_t kMaxSupportedOpset = 21;

// The schema for `op_type` in `domain` ("" or "ai.onnx" for ONNX) at `opset`, or nullptr when
// mixq does not know that op at that opset (including opsets above kMaxSupportedOpset).
const OpSchema* find_op_schema(std::string_view domain, std::string_view op_type, int64_t opset);

// Every entry for `op_type` (for "have X-1..12" messages); empty when the op is unknown.
std::vector<const OpSchema*> op_schema_versions(std::string_view domain, std::string_view op_type);

// All registered entries, sorted by (domain, op_type, since_version).
const std::vector<OpSchema>& all_op_schemas();

// Family registration functions (one per infer_*.cc file).
void register_elementwise_schemas(std::vector<OpSchema>& out);
void register_math_schemas(std::vector<OpSchema>& out);
void register_nn_schemas(std::vector<OpSchema>& out);
void register_reduce_schemas(std::vector<OpSchema>& out);
void register_shape_ops_schemas(std::vector<OpSchema>& out);
void register_tensor_schemas(std::vector<OpSchema>& out);
void register_quant_schemas(std::vector<OpSchema>& out);
void register_control_schemas(std::vector<OpSchema>& out);
void register_rnn_schemas(std::vector<OpSchema>& out);
void register_loss_schemas(std::vector<OpSchema>& out);
void register_signal_schemas(std::vector<OpSchema>& out);

}  // namespace mixq::ir
