#include "mixq/onnx/op_schema_check.h"

#include <algorithm>
#include <iterator>
#include <unordered_set>

#include "mixq/core/status.h"

namespace mixq::onnx {
namespace {

#include "op_schemas.inc"  // kSchemaMaxOpset, kSchemas (sorted by op, since), kSchemaAttributes

using ::onnx::AttributeProto;

bool count_allowed(uint64_t mask, int count) { return count >= 64 || ((mask >> count) & 1) != 0; }

// The count of one side (inputs or outputs): within the range, then the schema's own rule.
// `side` is "input" or "output".
std::optional<std::string> check_count(const ::onnx::NodeProto& node, int count, int lo, int hi,
                                       uint64_t allowed, const char* side) {
  if (count < lo || count > hi) {
    return str_cat("Node (", node.name(), ") has ", side, " size ", count,
                   " not in range [min=", lo, ", max=", hi, "].");
  }
  if (!count_allowed(allowed, count)) {
    // ONNX's output message lacks the ") " its input message has.
    return side[0] == 'i' ? str_cat("Node (", node.name(), ") has input size ", count,
                                    " not in allowed input sizes.")
                          : str_cat("Node (", node.name(), "has output size ", count,
                                    " not in allowed output sizes.");
  }
  return std::nullopt;
}

// Every given name against its formal parameter: none past the declared ones unless the last is
// variadic, and no empty name for a single (not optional) one.
std::optional<std::string> check_names(const ::onnx::NodeProto& node, const char* params,
                                       const google::protobuf::RepeatedPtrField<std::string>& names,
                                       const char* side, const char* sides) {
  const auto declared = static_cast<int>(std::char_traits<char>::length(params));
  for (int k = 0; k < names.size(); ++k) {
    if (k >= declared) {
      if (declared > 0 && params[declared - 1] == 'V') break;  // the last one is variadic
      return str_cat("Node (", node.name(), ") has more ", sides, " (", names.size(),
                     ") than declared (", declared, ") in op definition.");
    }
    if (names.Get(k).empty() && params[k] == 'S') {
      return str_cat("Node (", node.name(), ")'s ", side, " ", k,
                     " is marked single but has an empty string in the graph");
    }
  }
  return std::nullopt;
}

// The field an attribute of this type must carry ("" when none is checked).
const char* required_field(int type, const AttributeProto& a, bool& present) {
  switch (type) {
    case AttributeProto::TENSOR:
      present = a.has_t();
      return "t";
    case AttributeProto::SPARSE_TENSOR:
      present = a.has_sparse_tensor();
      return "sparse_tensor";
    case AttributeProto::GRAPH:
      present = a.has_g();
      return "g";
    case AttributeProto::FLOATS:
      present = a.floats_size() > 0;
      return "floats";
    case AttributeProto::INTS:
      present = a.ints_size() > 0;
      return "ints";
    case AttributeProto::STRINGS:
      present = a.strings_size() > 0;
      return "strings";
    case AttributeProto::TENSORS:
      present = a.tensors_size() > 0;
      return "tensors";
    case AttributeProto::GRAPHS:
      present = a.graphs_size() > 0;
      return "graphs";
    case AttributeProto::TYPE_PROTO:
      present = a.has_tp();
      return "type_proto";
    case AttributeProto::TYPE_PROTOS:
      present = a.type_protos_size() > 0;
      return "type_protos";
    default:
      present = true;
      return "";  // FLOAT, INT, STRING: proto3 defaults; SPARSE_TENSORS
  }
}

}  // namespace

int schema_max_opset() { return kSchemaMaxOpset; }

const OpSchemaEntry* find_op_schema(std::string_view op, int64_t opset) {
  // The last entry with (op, since) <= (op, opset).
  const auto* end = std::end(kSchemas);
  const auto* it =
      std::upper_bound(std::begin(kSchemas), end, std::make_pair(op, opset),
                       [](const std::pair<std::string_view, int64_t>& key, const OpSchemaEntry& e) {
                         const int c = key.first.compare(e.op);
                         return c < 0 || (c == 0 && key.second < e.since);
                       });
  if (it == std::begin(kSchemas)) return nullptr;
  --it;
  return op == it->op ? it : nullptr;
}

std::optional<std::string> schema_violation(const OpSchemaEntry& s, const ::onnx::NodeProto& node) {
  if (s.deprecated) {
    return str_cat("Operator '", s.op, "' has been deprecated since version ", s.since);
  }
  if (auto why = check_count(node, node.input_size(), s.min_inputs, s.max_inputs, s.allowed_inputs,
                             "input")) {
    return why;
  }
  if (auto why = check_count(node, node.output_size(), s.min_outputs, s.max_outputs,
                             s.allowed_outputs, "output")) {
    return why;
  }
  if (auto why = check_names(node, s.inputs, node.input(), "input", "inputs")) return why;
  if (auto why = check_names(node, s.outputs, node.output(), "output", "outputs")) return why;

  const OpSchemaAttribute* first = kSchemaAttributes + s.first_attribute;
  const OpSchemaAttribute* last = first + s.attribute_count;
  const auto declared = [&](const std::string& name) -> const OpSchemaAttribute* {
    const auto* it = std::lower_bound(
        first, last, name,
        [](const OpSchemaAttribute& a, const std::string& n) { return n.compare(a.name) > 0; });
    return it != last && name == it->name ? it : nullptr;
  };
  std::unordered_set<std::string> seen;
  for (const AttributeProto& a : node.attribute()) {
    const std::string& name = a.name();
    if (!seen.insert(name).second)
      return str_cat("Attribute '", name, "' appeared multiple times.");
    const OpSchemaAttribute* d = declared(name);
    if (d == nullptr) {
      // Names starting with two underscores are implementation details, never checked.
      if (s.allows_unknown_attributes || name.rfind("__", 0) == 0) continue;
      return str_cat("Unrecognized attribute: ", name, " for operator ", node.op_type());
    }
    if (static_cast<int>(a.type()) != d->type) {
      return str_cat("Mismatched attribute type in '", node.name(), " : ", name, "'");
    }
    if (!a.ref_attr_name().empty()) continue;  // a function's reference: no value here
    bool present = true;
    const char* field = required_field(d->type, a, present);
    if (!present) return str_cat("Attribute '", name, "' is expected to have field '", field, "'");
  }
  for (const OpSchemaAttribute* a = first; a != last; ++a) {
    if (a->required && !seen.count(a->name)) {
      return str_cat("Required attribute '", a->name, "' is missing.");
    }
  }
  return std::nullopt;
}

}  // namespace mixq::onnx
