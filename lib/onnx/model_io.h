// Loading and saving ONNX models: ModelProto <-> ir::Model. The only layer that sees protobuf.
//
// Load keeps every field mixq does not interpret (doc strings, metadata_props, functions,
// value_info, training info, unknown fields of newer ONNX versions) so that saving writes them
// back; a second load -> save round trip is byte-identical to the first.
//
// External data: tensors whose data lives in separate files are resolved against the model's
// folder and memory-mapped. A location that is absolute, escapes the folder (via "..", or a
// symbolic link), is missing, or is shorter than offset + length is refused with a bad-input
// error naming the tensor and the file.
#pragma once

#include <cstddef>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"
#include "mixq/ir/tensor.h"

namespace mixq::onnx {

// Loads and validates the structure of a model: every node input is produced by a node, an
// initializer or a graph input; no value is produced twice; external data is resolved. Refuses
// (bad input) files that are missing, truncated, not ONNX, or over protobuf's 2 GiB limit.
Expected<std::unique_ptr<ir::Model>> load_model(const std::filesystem::path& path);

// As load_model, from bytes in memory. External data is resolved against `base_dir`; `name`
// is used in messages.
Expected<std::unique_ptr<ir::Model>> parse_model(std::string_view bytes,
                                                 const std::filesystem::path& base_dir,
                                                 std::string_view name = "<memory>");

struct SaveOptions {
  enum class ExternalData {
    kKeep,       // tensors loaded from external data stay external; the rest are inline
    kThreshold,  // tensors of at least `external_threshold` bytes go to the external file
    kNone,       // everything inline (refused when the model would exceed 2 GiB)
  };
  ExternalData external_data = ExternalData::kKeep;
  size_t external_threshold = 1024;
  // File name (in the model's folder) for external data. Default: "<model file name>.<16 hex
  // digits>.data", named after its contents, so that replacing a model never rewrites the data
  // file the previous model points at (docs/determinism.md); after the model is committed, the
  // earlier data files of that name pattern are removed.
  std::string external_file;
};

// Writes `model` to `path` atomically (temporary file + rename; the external data file, if
// any, is committed first, superseded data files are removed last). When inline data would push the
// file past protobuf's 2 GiB limit, tensors of at least `external_threshold` bytes are moved to
// external data automatically.
Status save_model(const ir::Model& model, const std::filesystem::path& path,
                  const SaveOptions& options = {});

// Serializes a model whose tensors are all inline (external tensors are refused).
Expected<std::string> serialize_model(const ir::Model& model);

// Reads one serialized TensorProto (an ONNX test_data_set input_N.pb / output_N.pb).
Expected<ir::Tensor> load_tensor_file(const std::filesystem::path& path);
// Writes one TensorProto atomically.
Status save_tensor_file(const ir::Tensor& tensor, const std::filesystem::path& path);

}  // namespace mixq::onnx
