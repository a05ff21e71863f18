// ModelProto <-> ir::Model conversion. Internal to lib/onnx.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"
#include "mixq/onnx/proto_tensor.h"

namespace mixq::onnx {

// Builds an ir::Model, consuming `mp`. External data is resolved against `base_dir`; `name`
// (the file) prefixes messages.
// `model_file`, when given, is the file `mp` was read from: external data may not point at it.
Expected<std::unique_ptr<ir::Model>> model_from_proto(::onnx::ModelProto& mp,
                                                      const std::filesystem::path& base_dir,
                                                      const std::string& name,
                                                      const std::filesystem::path& model_file = {});

// Writes `model` into `mp`; tensor bytes go inline or to `sink.writer`.
Status model_to_proto(const ir::Model& model, ::onnx::ModelProto* mp, const TensorSink& sink);

ir::ValueType value_type_from_proto(const ::onnx::TypeProto& tp);

// Subgraphs (If/Loop/Scan bodies) may nest this deep; deeper models are refused with the node
// at the limit named. The walks over subgraphs recurse, and protobuf's own parser stops at about
// 30 levels (its recursion limit of 100 messages).
constexpr int kMaxSubgraphDepth = 24;

// For bytes protobuf failed to parse: when subgraphs nest deeper than kMaxSubgraphDepth, says so
// naming the node at the limit ("If 'if_25' (#0): subgraphs nested deeper than 24 levels");
// nullopt otherwise. Iterative: safe on any nesting depth.
std::optional<std::string> describe_too_deep(const void* data, size_t size);

// Writes `t` over `tp` (which holds the declaration's kept fields): element type and shape are
// replaced, dimension and type denotations are kept where the rank is unchanged.
void value_type_to_proto(const ir::ValueType& t, ::onnx::TypeProto* tp);

}  // namespace mixq::onnx
