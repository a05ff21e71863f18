// Hand-built ModelProtos for tests, written with protobuf directly (independent of mixq's
// saver): a small valid model and the pieces to break it.
#pragma once

#include <onnx/onnx_pb.h>

#include <filesystem>
#include <string>
#include <vector>

namespace mixq::testing {

// Adds a tensor ValueInfo; dims are numbers ("4"), symbols ("N") or "" for unknown.
::onnx::ValueInfoProto* add_tensor_vi(
    google::protobuf::RepeatedPtrField<::onnx::ValueInfoProto>* list, const std::string& name,
    int elem_type, std::vector<std::string> dims);

::onnx::NodeProto* add_node(::onnx::GraphProto* g, const std::string& op,
                            std::vector<std::string> inputs, std::vector<std::string> outputs,
                            const std::string& name = "");

// x[N,4] -> Add(x, w) -> y, opset 17, w = [1, 2, 3, 4] as float_data.
::onnx::ModelProto simple_model();

std::string serialize(const ::onnx::ModelProto& m);

// Writes `m` to dir/name and returns the path.
std::filesystem::path write_model(const ::onnx::ModelProto& m, const std::filesystem::path& dir,
                                  const std::string& name = "model.onnx");

// Moves initializer 0 of `m` (4 floats) to external data `location` at `offset`, writing the
// file into `dir` unless write_file is false; file_bytes truncates or pads it.
void make_external(::onnx::ModelProto& m, const std::filesystem::path& dir,
                   const std::string& location, uint64_t offset, bool write_file = true,
                   size_t file_bytes = 0);

}  // namespace mixq::testing
