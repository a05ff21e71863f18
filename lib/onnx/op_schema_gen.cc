// Build-time generator: writes the default ONNX domain's op schemas, as the installed libonnx
// (Debian's ONNX 1.12) defines them, into a C++ table (the types of op_schema_check.h) that
// op_schema_check.cc verifies nodes against. mixq itself then does not link libonnx: building
// that library's registry (every schema of every domain and version, type strings parsed) took
// 15-17 ms at every model load on the 2-vCPU EPYC VM, for a check that needs a few
// counts and attribute names per op.
//
//   mixq_op_schema_gen OUT.inc
//
// Only what OpSchema::Verify reads is kept: deprecation, input and output counts and the options
// of their formal parameters, the allowed counts where a schema restricts them further, the
// attributes (name, type, required) and whether unknown attributes are allowed. The extra count
// rules and that last flag are not public in OpSchema; they are read by probing Verify with
// nodes built for it, and any answer the probe does not expect stops the build.
// tests/unit/onnx/op_schema_check_test.cc compares the table's verdicts and messages with Verify's
// on generated nodes.
#include <onnx/defs/schema.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <tuple>
#include <vector>

#include "op_schema_probe.h"

namespace {

using ::onnx::AttributeProto;
using ::onnx::NodeProto;
using ::onnx::OpSchema;

// Counts at or above this are taken as allowed whenever they are in [min, max]; the probe checks
// that up to twice this.
constexpr int kMaskCounts = 64;

[[noreturn]] void fail(const std::string& what) {
  std::fprintf(stderr, "mixq_op_schema_gen: %s\n", what.c_str());
  std::exit(1);
}

// A value of the attribute's type that Verify accepts (lists non-empty, messages present).
void fill_attribute(AttributeProto* a, const std::string& name, AttributeProto::AttributeType t) {
  if (!mixq::onnx::set_probe_attribute(a, name, t)) {
    fail("attribute '" + name + "' has an unknown type");
  }
}

// A node that passes every check of `s` but the counts: `inputs` and `outputs` named (none
// empty), every required attribute present.
NodeProto probe_node(const OpSchema& s, int inputs, int outputs) {
  NodeProto n;
  n.set_op_type(s.Name());
  n.set_name("probe");
  for (int i = 0; i < inputs; ++i) n.add_input("i" + std::to_string(i));
  for (int i = 0; i < outputs; ++i) n.add_output("o" + std::to_string(i));
  for (const auto& [name, attr] : s.attributes()) {
    if (attr.required) fill_attribute(n.add_attribute(), name, attr.type);
  }
  return n;
}

bool contains(const std::string& s, const char* part) { return s.find(part) != std::string::npos; }

// Bit k set when k inputs (outputs) pass the schema's extra count rule, for k < kMaskCounts
// within [min, max]. The counts are probed with the other side at its minimum.
uint64_t allowed_counts(const OpSchema& s, bool inputs) {
  const int lo = inputs ? s.min_input() : s.min_output();
  const int hi = inputs ? s.max_input() : s.max_output();
  const char* refused = inputs ? "not in allowed input sizes" : "not in allowed output sizes";
  uint64_t mask = 0;
  if (s.deprecated()) return ~mask;  // refused before its counts are looked at
  for (int k = lo; k <= hi && k < 2 * kMaskCounts; ++k) {
    const NodeProto n = inputs ? probe_node(s, k, s.min_output()) : probe_node(s, s.min_input(), k);
    const std::string why = mixq::onnx::verify_message(s, n);
    const bool ok = why.empty() || !contains(why, refused);
    if (!ok && k >= kMaskCounts) {
      fail(s.Name() + "-" + std::to_string(s.since_version()) + " refuses " + std::to_string(k) +
           (inputs ? " inputs" : " outputs") + ": beyond what the table can hold");
    }
    if (ok && k < kMaskCounts) mask |= uint64_t{1} << k;
  }
  return mask;
}

// Whether the schema lets attributes it does not declare through (a deprecated one refuses
// every node before looking at them).
bool allows_unknown_attributes(const OpSchema& s) {
  if (s.deprecated()) return false;
  NodeProto n = probe_node(s, s.min_input(), s.min_output());
  fill_attribute(n.add_attribute(), "mixq_probe_attribute", AttributeProto::INT);
  const std::string why = mixq::onnx::verify_message(s, n);
  if (why.empty()) return true;
  if (contains(why, "Unrecognized attribute")) return false;
  fail(s.Name() + "-" + std::to_string(s.since_version()) + ": unexpected probe failure: " + why);
}

char option_code(OpSchema::FormalParameterOption o) {
  switch (o) {
    case OpSchema::Single:
      return 'S';
    case OpSchema::Optional:
      return 'O';
    case OpSchema::Variadic:
      return 'V';
  }
  fail("unknown formal parameter option");
}

std::string options(const std::vector<OpSchema::FormalParameter>& params) {
  std::string s;
  for (const auto& p : params) s += option_code(p.GetOption());
  return s;
}

std::string quoted(const std::string& s) {
  for (char c : s) {
    if (c == '"' || c == '\\' || c < 0x20) fail("name needs escaping: " + s);
  }
  return "\"" + s + "\"";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) fail("usage: mixq_op_schema_gen OUT.inc");
  const auto& ranges = ::onnx::OpSchemaRegistry::DomainToVersionRange::Instance().Map();
  const auto range = ranges.find(::onnx::ONNX_DOMAIN);
  if (range == ranges.end()) fail("the ONNX library has no default domain");
  // (op, since) -> schema, sorted as the table is searched.
  std::map<std::tuple<std::string, int>, OpSchema> schemas;
  for (const OpSchema& s : ::onnx::OpSchemaRegistry::get_all_schemas_with_history()) {
    if (s.domain() != ::onnx::ONNX_DOMAIN) continue;
    schemas.emplace(std::make_tuple(s.Name(), s.since_version()), s);
  }
  std::ostringstream out;
  out << "// Generated at build time by mixq_op_schema_gen (lib/onnx/op_schema_gen.cc) from the\n"
         "// installed ONNX library: do not edit.\n\n";
  out << "constexpr int kSchemaMaxOpset = " << range->second.second << ";\n\n";
  std::ostringstream attrs;
  int attr_count = 0;
  out << "constexpr OpSchemaEntry kSchemas[] = {\n";
  for (const auto& [key, s] : schemas) {
    const int first_attr = attr_count;
    for (const auto& [name, a] : s.attributes()) {  // std::map: sorted by name
      attrs << "    {" << quoted(name) << ", " << static_cast<int>(a.type) << ", "
            << (a.required ? "true" : "false") << "},\n";
      ++attr_count;
    }
    out << "    {" << quoted(s.Name()) << ", " << s.since_version() << ", "
        << (s.deprecated() ? "true" : "false") << ", " << s.min_input() << ", " << s.max_input()
        << ", " << s.min_output() << ", " << s.max_output() << ", " << quoted(options(s.inputs()))
        << ", " << quoted(options(s.outputs())) << ", 0x" << std::hex << allowed_counts(s, true)
        << "ull, 0x" << allowed_counts(s, false) << std::dec << "ull, "
        << (allows_unknown_attributes(s) ? "true" : "false") << ", " << first_attr << ", "
        << attr_count - first_attr << "},\n";
  }
  out << "};\n\n";
  out << "constexpr OpSchemaAttribute kSchemaAttributes[] = {\n" << attrs.str() << "};\n";
  const std::string path = argv[1];
  const std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    f << out.str();
    if (!f.flush()) fail("cannot write " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("cannot rename " + tmp + " to " + path);
  std::printf("mixq_op_schema_gen: %zu schemas, %d attributes -> %s\n", schemas.size(), attr_count,
              path.c_str());
  return 0;
}
