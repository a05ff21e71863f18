// Verifies nodes of the default ONNX domain against the op schemas of the ONNX library mixq was
// built with, as ONNX's OpSchema::Verify does, from a table generated at build time
// (op_schema_gen.cc) instead of ONNX's schema registry. Internal to lib/onnx.
#pragma once

#include <onnx/onnx_pb.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace mixq::onnx {

// One attribute of a schema: its AttributeProto type number and whether nodes must give it.
struct OpSchemaAttribute {
  const char* name;
  int type;
  bool required;
};

// One version of an op: what OpSchema::Verify checks. `inputs` / `outputs` hold one letter per
// formal parameter: S single, O optional, V variadic. Bit k of `allowed_inputs` is set when k
// inputs pass the schema's own count rule (counts of 64 or more always do); attributes are
// kSchemaAttributes[first_attribute, + attribute_count), sorted by name.
struct OpSchemaEntry {
  const char* op;
  int since;
  bool deprecated;
  int min_inputs, max_inputs, min_outputs, max_outputs;
  const char* inputs;
  const char* outputs;
  uint64_t allowed_inputs, allowed_outputs;
  bool allows_unknown_attributes;
  int first_attribute, attribute_count;
};

// The highest opset of the default domain the table knows; nodes of newer opsets are not
// verified here (mixq's shape functions check what they read).
int schema_max_opset();

// The schema `op` has at `opset` (the version with the largest `since` not above it), as
// OpSchemaRegistry::Schema(op, opset, "") finds it; nullptr when the op has none yet or is not a
// default-domain op of the table.
const OpSchemaEntry* find_op_schema(std::string_view op, int64_t opset);

// Why `node` breaks `schema`, in OpSchema::Verify's words and order of checks (the first failed
// check); nullopt when it does not.
std::optional<std::string> schema_violation(const OpSchemaEntry& schema,
                                            const ::onnx::NodeProto& node);

}  // namespace mixq::onnx
