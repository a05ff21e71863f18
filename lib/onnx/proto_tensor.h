// TensorProto <-> ir::Tensor. Internal to lib/onnx.
#pragma once

#include <onnx/onnx_pb.h>

#include "mixq/core/status.h"
#include "mixq/ir/tensor.h"
#include "mixq/onnx/external_data.h"

namespace mixq::onnx {

// Converts `proto` into a Tensor, consuming it: raw_data is moved, not copied. External data is
// read through `resolver` (nullptr refuses external tensors). Refuses unknown data types,
// negative dims, element counts that overflow, and data whose size does not match the shape.
Expected<ir::Tensor> tensor_from_proto(::onnx::TensorProto& proto, ExternalDataResolver* resolver);

// Where tensor bytes go when saving.
struct TensorSink {
  ExternalDataWriter* writer = nullptr;  // nullptr: everything inline
  // Tensors of at least this many bytes go to `writer` (in addition to those loaded external,
  // when keep_external is set).
  size_t threshold = SIZE_MAX;
  bool keep_external = true;
};

// Writes `tensor` into `out` in its original storage form (raw_data, typed fields, or external
// data via sink.writer). Fields kept in the tensor's proto_extras come back first.
Status tensor_to_proto(const ir::Tensor& tensor, ::onnx::TensorProto* out, const TensorSink& sink);

}  // namespace mixq::onnx
