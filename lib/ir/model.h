// Model: the ONNX ModelProto level: versions, producer, opset imports, metadata, main graph.
//
// Model-local functions, training info and unknown fields are kept as opaque bytes so that a
// load/save round trip loses nothing.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mixq/ir/graph.h"

namespace mixq::ir {

struct OpsetImport {
  std::string domain;  // "" is the default ONNX domain
  int64_t version = 0;
};

class Model {
 public:
  Model();

  int64_t ir_version = 0;
  std::string producer_name;
  std::string producer_version;
  std::string domain;
  int64_t model_version = 0;
  std::string doc_string;
  std::vector<OpsetImport> opset_imports;
  std::vector<std::pair<std::string, std::string>> metadata_props;

  Graph& graph() { return *graph_; }
  const Graph& graph() const { return *graph_; }

  // True when `v` holds constant data: an initializer that cannot be replaced at run time.
  // From IR version 4 an initializer that is also a graph input is only a default value; before
  // that, every initializer had to be listed as an input and was still a constant.
  bool is_constant_initializer(const Value* v) const {
    return v != nullptr && v->initializer() != nullptr &&
           (ir_version < 4 || !v->graph()->is_input(v));
  }

  // Imported version of `domain` ("" and "ai.onnx" are the same domain); 0 when not imported.
  int64_t opset(std::string_view domain) const;
  // The opset that applies to `node`.
  int64_t opset_for(const Node& node) const { return opset(node.domain()); }

  // Where the model was loaded from (empty for models built in memory). Messages name it and
  // external data paths are resolved against its folder.
  std::filesystem::path source_path;

  // Serialized ModelProto fields mixq does not interpret (lib/onnx only).
  std::string proto_extras;
  // Names of model-local functions ("domain:name"), so callers can tell them from ops.
  std::vector<std::string> local_functions;

 private:
  std::unique_ptr<Graph> graph_;
};

}  // namespace mixq::ir
