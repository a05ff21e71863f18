// Attribute: a named node parameter, one of the ONNX AttributeProto kinds.
//
// Graph-valued attributes (If/Loop/Scan bodies) are owned ir::Graph subgraphs, so passes and the
// executor see through them. Sparse tensors and type protos are kept as opaque bytes in
// `proto_extras` together with the other fields mixq does not interpret.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mixq/ir/tensor.h"

namespace mixq::ir {

class Graph;

// Numbered as onnx AttributeProto.AttributeType.
enum class AttrType : int32_t {
  kUndefined = 0,
  kFloat = 1,
  kInt = 2,
  kString = 3,
  kTensor = 4,
  kGraph = 5,
  kFloats = 6,
  kInts = 7,
  kStrings = 8,
  kTensors = 9,
  kGraphs = 10,
  kSparseTensor = 11,
  kSparseTensors = 12,
  kTypeProto = 13,
  kTypeProtos = 14,
};

std::string_view attr_type_name(AttrType t);

struct Attribute {
  Attribute();
  ~Attribute();
  Attribute(Attribute&&) noexcept;
  Attribute& operator=(Attribute&&) noexcept;
  Attribute(const Attribute&) = delete;
  Attribute& operator=(const Attribute&) = delete;

  std::string name;
  AttrType type = AttrType::kUndefined;
  float f = 0.0f;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::unique_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::unique_ptr<Graph>> graphs;
  // Inside functions: the name of the function attribute this one refers to.
  std::string ref_attr_name;
  // Serialized AttributeProto fields mixq does not interpret (lib/onnx only).
  std::string proto_extras;
};

}  // namespace mixq::ir
