// The build-time op schema table (lib/onnx/op_schema_check.h) against the ONNX library it was
// generated from: the same schema found for every op and opset as OpSchemaRegistry::Schema
// finds, and the same verdict, in the same words, as OpSchema::Verify on seeded generated nodes
// and on every node of the ONNX backend test models. The registry is the oracle here; mixq
// itself no longer builds it.
#include "mixq/onnx/op_schema_check.h"
#include "mixq/onnx/op_schema_probe.h"

#include <gtest/gtest.h>
#include <onnx/defs/schema.h>

#include <algorithm>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "test_support.h"

namespace mixq {
namespace {

using ::onnx::AttributeProto;
using ::onnx::NodeProto;
using ::onnx::OpSchema;
using ::onnx::OpSchemaRegistry;

std::string table_verdict(const NodeProto& n, int64_t opset) {
  const onnx::OpSchemaEntry* e = onnx::find_op_schema(n.op_type(), opset);
  if (e == nullptr) return "(no schema)";
  return onnx::schema_violation(*e, n).value_or("");
}

std::vector<OpSchema> default_domain_schemas() {
  std::vector<OpSchema> out;
  for (const OpSchema& s : OpSchemaRegistry::get_all_schemas_with_history()) {
    if (s.domain() == ::onnx::ONNX_DOMAIN) out.push_back(s);
  }
  return out;
}

constexpr AttributeProto::AttributeType kTypes[] = {
    AttributeProto::FLOAT,      AttributeProto::INT,           AttributeProto::STRING,
    AttributeProto::TENSOR,     AttributeProto::GRAPH,         AttributeProto::FLOATS,
    AttributeProto::INTS,       AttributeProto::STRINGS,       AttributeProto::TENSORS,
    AttributeProto::GRAPHS,     AttributeProto::SPARSE_TENSOR, AttributeProto::SPARSE_TENSORS,
    AttributeProto::TYPE_PROTO, AttributeProto::TYPE_PROTOS};

// A node for `s` that is near-valid: counts around the schema's limits, some names empty, the
// declared attributes mostly present and of their type, now and then a wrong type, an empty
// value, a reference, a duplicate, an undeclared or an internal ("__") name.
NodeProto random_node(const OpSchema& s, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const auto count = [&](int lo, int hi) {
    const int top = std::min(hi, lo + 4);
    const double r = u(rng);
    if (r < 0.08) return std::max(0, lo - 1);
    if (r < 0.14) return top + 1;
    return lo + static_cast<int>(rng() % static_cast<unsigned>(top - lo + 1));
  };
  NodeProto n;
  n.set_op_type(s.Name());
  n.set_name(u(rng) < 0.5 ? "node_7" : "");
  const int inputs = count(s.min_input(), s.max_input());
  const int outputs = count(s.min_output(), s.max_output());
  for (int i = 0; i < inputs; ++i) n.add_input(u(rng) < 0.1 ? "" : "x" + std::to_string(i));
  for (int i = 0; i < outputs; ++i) n.add_output(u(rng) < 0.1 ? "" : "y" + std::to_string(i));
  for (const auto& [name, attr] : s.attributes()) {
    if (u(rng) > (attr.required ? 0.93 : 0.6)) continue;
    const bool wrong_type = u(rng) < 0.07;
    const auto type = wrong_type ? kTypes[rng() % std::size(kTypes)] : attr.type;
    AttributeProto* a = n.add_attribute();
    onnx::set_probe_attribute(a, name, type, u(rng) < 0.06);
    if (u(rng) < 0.04) a->set_ref_attr_name("outer");
  }
  if (u(rng) < 0.1)
    onnx::set_probe_attribute(n.add_attribute(), "mixq_undeclared", AttributeProto::INT, false);
  if (u(rng) < 0.05)
    onnx::set_probe_attribute(n.add_attribute(), "__internal", AttributeProto::FLOAT, false);
  if (u(rng) < 0.04 && n.attribute_size() > 0) *n.add_attribute() = n.attribute(0);
  std::shuffle(n.mutable_attribute()->begin(), n.mutable_attribute()->end(), rng);
  return n;
}

TEST(OpSchemaCheck, knows_the_same_opsets_as_the_onnx_library) {
  const auto& ranges = OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  EXPECT_EQ(onnx::schema_max_opset(), ranges.at(::onnx::ONNX_DOMAIN).second);
}

TEST(OpSchemaCheck, finds_the_schema_the_registry_finds_for_every_op_and_opset) {
  std::set<std::string> names = {"NotAnOp", "", "add", "Zzz", "A"};
  for (const OpSchema& s : default_domain_schemas()) names.insert(s.Name());
  int found = 0;
  for (const std::string& op : names) {
    for (int opset = 0; opset <= onnx::schema_max_opset() + 2; ++opset) {
      const OpSchema* want = OpSchemaRegistry::Schema(op, opset, "");
      const onnx::OpSchemaEntry* got = onnx::find_op_schema(op, opset);
      ASSERT_EQ(want == nullptr, got == nullptr) << op << " at opset " << opset;
      if (want == nullptr) continue;
      EXPECT_EQ(want->since_version(), got->since) << op << " at opset " << opset;
      EXPECT_EQ(want->Name(), got->op);
      ++found;
    }
  }
  EXPECT_GT(found, 2000);  // about 180 ops over 17 opsets
}

TEST(OpSchemaCheck, gives_verifys_verdict_and_message_on_generated_nodes) {
  std::mt19937 rng(20261124);
  int accepted = 0, rejected = 0;
  std::set<std::string> kinds;  // the first words of each kind of refusal seen
  for (const OpSchema& s : default_domain_schemas()) {
    for (int k = 0; k < 60; ++k) {
      const NodeProto n = random_node(s, rng);
      const std::string want = onnx::verify_message(s, n);
      const std::string got = table_verdict(n, s.since_version());
      ASSERT_EQ(want, got) << s.Name() << "-" << s.since_version() << ":\n" << n.DebugString();
      if (want.empty()) {
        ++accepted;
      } else {
        ++rejected;
        kinds.insert(want.substr(0, want.find_first_of("(:'0123456789")));
      }
    }
  }
  // Both verdicts, and every kind of refusal Verify has, were exercised.
  EXPECT_GT(accepted, 5000);
  EXPECT_GT(rejected, 5000);
  for (const char* kind : {"Operator ", "Node ", "Attribute ", "Unrecognized attribute",
                           "Mismatched attribute type in ", "Required attribute "}) {
    EXPECT_TRUE(kinds.count(kind)) << "no node was refused with \"" << kind << "...\"";
  }
}

TEST(OpSchemaCheck, gives_verifys_verdict_on_every_node_of_the_backend_test_models) {
  int nodes = 0;
  for (const auto& path : testing::testdata_models()) {
    ::onnx::ModelProto m;
    std::ifstream f(path, std::ios::binary);
    ASSERT_TRUE(m.ParseFromIstream(&f)) << path;
    int64_t opset = 0;
    for (const auto& o : m.opset_import()) {
      if (o.domain().empty() || o.domain() == "ai.onnx") opset = o.version();
    }
    if (opset > onnx::schema_max_opset()) continue;
    for (const NodeProto& n : m.graph().node()) {
      if (!n.domain().empty()) continue;
      const OpSchema* s = OpSchemaRegistry::Schema(n.op_type(), static_cast<int>(opset), "");
      if (s == nullptr) continue;
      ASSERT_EQ(onnx::verify_message(*s, n), table_verdict(n, opset))
          << path << ": " << n.op_type();
      ++nodes;
    }
  }
  EXPECT_GT(nodes, 1000);
}

}  // namespace
}  // namespace mixq
