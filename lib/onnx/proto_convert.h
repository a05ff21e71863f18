// ModelProto <-> ir::Model conversion. Internal to lib/onnx.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <memory>
#include <string>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"
#include "mixq/onnx/proto_tensor.h"

namespace mixq::onnx {

// Builds an ir::Model, consuming `mp`. External data is resolved against `base_dir`; `name`
// (the file) prefixes messages.
Expected<std::unique_ptr<ir::Model>> model_from_proto(::onnx::ModelProto& mp,
                                                      const std::filesystem::path& base_dir,
                                                      const std::string& name);

// Writes `model` into `mp`; tensor bytes go inline or to `sink.writer`.
Status model_to_proto(const ir::Model& model, ::onnx::ModelProto* mp, const TensorSink& sink);

ir::ValueType value_type_from_proto(const ::onnx::TypeProto& tp);

// Writes `t` over `tp` (which holds the declaration's kept fields): element type and shape are
// replaced, dimension and type denotations are kept where the rank is unchanged.
void value_type_to_proto(const ir::ValueType& t, ::onnx::TypeProto* tp);

}  // namespace mixq::onnx
