// Probing libonnx's op schemas: shared by the build-time generator
// (op_schema_gen.cc) and its comparison test (tests/unit/onnx/op_schema_check_test.cc), which
// both build nodes for OpSchema::Verify. Internal to lib/onnx.
#pragma once

#include <onnx/defs/schema.h>
#include <onnx/onnx_pb.h>

#include <exception>
#include <string>

namespace mixq::onnx {

// Sets `a` to an attribute `name` of type `t` holding one value (a list of one item, an empty
// message), which Verify takes as given; with `empty`, only the name and type. False when `t`
// is not a type this knows.
inline bool set_probe_attribute(::onnx::AttributeProto* a, const std::string& name,
                                ::onnx::AttributeProto::AttributeType t, bool empty = false) {
  using ::onnx::AttributeProto;
  a->set_name(name);
  a->set_type(t);
  if (empty) return true;
  switch (t) {
    case AttributeProto::FLOAT:
      a->set_f(0.5f);
      return true;
    case AttributeProto::INT:
      a->set_i(2);
      return true;
    case AttributeProto::STRING:
      a->set_s("s");
      return true;
    case AttributeProto::TENSOR:
      a->mutable_t();
      return true;
    case AttributeProto::SPARSE_TENSOR:
      a->mutable_sparse_tensor();
      return true;
    case AttributeProto::GRAPH:
      a->mutable_g();
      return true;
    case AttributeProto::FLOATS:
      a->add_floats(0.5f);
      return true;
    case AttributeProto::INTS:
      a->add_ints(2);
      return true;
    case AttributeProto::STRINGS:
      a->add_strings("s");
      return true;
    case AttributeProto::TENSORS:
      a->add_tensors();
      return true;
    case AttributeProto::SPARSE_TENSORS:
      a->add_sparse_tensors();
      return true;
    case AttributeProto::GRAPHS:
      a->add_graphs();
      return true;
    case AttributeProto::TYPE_PROTO:
      a->mutable_tp();
      return true;
    case AttributeProto::TYPE_PROTOS:
      a->add_type_protos();
      return true;
    default:
      return false;
  }
}

// OpSchema::Verify's message on `node`, "" when it accepts the node.
inline std::string verify_message(const ::onnx::OpSchema& schema, const ::onnx::NodeProto& node) {
  try {
    schema.Verify(node);
    return "";
  } catch (const std::exception& e) {
    return e.what();
  }
}

}  // namespace mixq::onnx
