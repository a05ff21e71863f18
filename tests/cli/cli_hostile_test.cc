// Hostile models through the real `mixq` binary: sizes that overflow, data shorter than its
// shape, subgraphs nested past the limit, huge attributes, external data that escapes the
// model's folder or points at the model itself, recursive model-local functions, and a 100k-node
// chain that is valid and must run. Each refusal is exit 2, names the tensor / node / file, and
// writes nothing. docs/hardening.md lists these cases.
#include <gtest/gtest.h>

#include <cstring>
#include <nlohmann/json.hpp>

#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/npz_writer.h"
#include "proto_fixtures.h"
#include "test_support.h"

namespace mixq {
namespace {

using testing::add_node;
using testing::add_tensor_vi;
using testing::files_in;
using testing::run_mixq;
using testing::TempDir;

constexpr int64_t k2p31 = int64_t{1} << 31;

// x float32[N, 4] for simple_model().
std::filesystem::path write_x(const TempDir& dir, std::vector<int64_t> dims = {2, 4},
                              const std::string& name = "x") {
  const auto path = dir / "data.npz";
  auto w = calib::NpzWriter::create(path);
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(i) - 1.5f;
  EXPECT_TRUE((*w)->add(name, ir::Tensor::from_floats(dims, v)).ok());
  EXPECT_TRUE((*w)->commit().ok());
  return path;
}

// Runs inspect, run -o and convert --weights-only -o on `model`; each must exit 2 with every
// needle in stderr and leave no file behind.
void expect_refused_everywhere(const TempDir& dir, const std::filesystem::path& model,
                               const std::vector<std::string>& needles,
                               const std::filesystem::path& data) {
  const size_t before = files_in(dir);
  const std::vector<std::vector<std::string>> commands = {
      {"inspect", model.string()},
      {"run", model.string(), "--data", data.string(), "-o", (dir / "out.npz").string()},
      {"convert", model.string(), "--precision", "int8", "--weights-only", "--eval", data.string(),
       "-o", (dir / "q.onnx").string()}};
  for (const auto& args : commands) {
    auto r = run_mixq(args);
    EXPECT_EQ(r.exit_code, 2) << args[0] << " " << model.filename() << ": " << r.err;
    for (const auto& n : needles) {
      EXPECT_NE(r.err.find(n), std::string::npos) << args[0] << ": wants '" << n << "' in\n"
                                                  << r.err;
    }
    EXPECT_EQ(files_in(dir), before) << args[0] << " wrote a file";
  }
}

::onnx::TensorProto* add_int64_init(::onnx::GraphProto* g, const std::string& name,
                                    std::vector<int64_t> values) {
  auto* t = g->add_initializer();
  t->set_name(name);
  t->set_data_type(7);
  t->add_dims(static_cast<int64_t>(values.size()));
  for (int64_t v : values) t->add_int64_data(v);
  return t;
}

// x float32[N, 4] -> op(x, shape) -> y (rank unknown).
::onnx::ModelProto shape_op_model(const std::string& op, std::vector<int64_t> shape) {
  auto m = testing::simple_model();
  auto* g = m.mutable_graph();
  g->clear_node();
  g->clear_initializer();
  g->clear_output();
  add_int64_init(g, "shape", shape);
  if (op == "ConstantOfShape") {
    add_node(g, op, {"shape"}, {"y"}, "huge_" + op);
  } else {
    add_node(g, op, {"x", "shape"}, {"y"}, "huge_" + op);
  }
  auto* y = g->add_output();
  y->set_name("y");
  y->mutable_type()->mutable_tensor_type()->set_elem_type(1);
  return m;
}

TEST(CliHostile, rejects_initializer_whose_element_count_overflows) {
  TempDir dir;
  auto m = testing::simple_model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  w->clear_float_data();
  for (int k = 0; k < 3; ++k) w->add_dims(k2p31);  // each dim fine, 2^93 elements
  expect_refused_everywhere(dir, testing::write_model(m, dir.path()),
                            {"tensor 'w'", "too many elements", "model.onnx"}, write_x(dir));
}

TEST(CliHostile, rejects_declared_shapes_whose_element_count_overflows) {
  const std::string big = std::to_string(k2p31);
  for (const std::string where : {"input", "output", "value_info"}) {
    TempDir dir;
    auto m = testing::simple_model();
    auto* g = m.mutable_graph();
    std::string name = where == "input" ? "x" : "y";
    if (where == "input") {
      g->clear_input();
      add_tensor_vi(g->mutable_input(), "x", 1, {big, big, big});
    } else if (where == "output") {
      g->clear_output();
      add_tensor_vi(g->mutable_output(), "y", 1, {big, big, big});
    } else {
      // y = Relu(x + w) with the intermediate declared huge.
      g->mutable_node(0)->set_output(0, "t");
      add_node(g, "Relu", {"t"}, {"y"}, "relu");
      add_tensor_vi(g->mutable_value_info(), "t", 1, {big, big, big});
      name = "t";
    }
    expect_refused_everywhere(dir, testing::write_model(m, dir.path()),
                              {where + " '" + name + "'", "overflows", "model.onnx"}, write_x(dir));
  }
}

TEST(CliHostile, rejects_inferred_shapes_that_overflow_before_allocating) {
  for (const std::string op : {"Reshape", "Expand", "ConstantOfShape"}) {
    TempDir dir;
    // Expand broadcasts with x's [N, 4]: [2^31, 2^31, N, 4] has 2^64 * N elements.
    const std::vector<int64_t> shape = op == "Expand" ? std::vector<int64_t>{k2p31, k2p31, 1, 4}
                                                      : std::vector<int64_t>{k2p31, k2p31, k2p31};
    expect_refused_everywhere(dir, testing::write_model(shape_op_model(op, shape), dir.path()),
                              {op + " 'huge_" + op + "'", "output 'y'", "overflows"}, write_x(dir));
  }
  // Tile: 2 * 2^62 overflows one dim; shape inference leaves it unknown and the run refuses
  // it before the kernel allocates.
  TempDir dir;
  const auto model =
      testing::write_model(shape_op_model("Tile", {int64_t{1} << 62, 1}), dir.path());
  auto r = run_mixq(
      {"run", model.string(), "--data", write_x(dir).string(), "-o", (dir / "out.npz").string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("Tile 'huge_Tile'"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir / "out.npz"));
}

TEST(CliHostile, rejects_huge_constant_shape_before_allocating) {
  // 2^50 floats (4 PiB): fits int64, so it is not an overflow; with no --max-memory the run
  // still fails by name (the allocation), never by a crash.
  TempDir dir;
  const auto model = testing::write_model(
      shape_op_model("ConstantOfShape", {int64_t{1} << 20, int64_t{1} << 20, 1024}), dir.path());
  auto r = run_mixq({"run", model.string(), "--data", write_x(dir).string()});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("ConstantOfShape 'huge_ConstantOfShape'"), std::string::npos) << r.err;
  // With --max-memory it is refused before anything runs, naming the tensor.
  r = run_mixq({"run", model.string(), "--data", write_x(dir).string(), "--max-memory", "64"});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("'y'"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("--max-memory 64 MiB"), std::string::npos) << r.err;
}

TEST(CliHostile, rejects_negative_dims_and_short_data) {
  {
    TempDir dir;
    auto m = testing::simple_model();
    m.mutable_graph()->mutable_initializer(0)->set_dims(0, -4);
    expect_refused_everywhere(dir, testing::write_model(m, dir.path()),
                              {"tensor 'w'", "negative dimension"}, write_x(dir));
  }
  {
    // raw_data 3 bytes for float32[4].
    TempDir dir;
    auto m = testing::simple_model();
    auto* w = m.mutable_graph()->mutable_initializer(0);
    w->clear_float_data();
    w->set_raw_data("abc");
    expect_refused_everywhere(dir, testing::write_model(m, dir.path()),
                              {"tensor 'w'", "raw_data has 3 bytes", "needs 16"}, write_x(dir));
  }
  {
    // A Constant whose declared dims (1000 x 1000) disagree with its 10 values.
    TempDir dir;
    auto m = testing::simple_model();
    auto* g = m.mutable_graph();
    g->clear_initializer();
    auto* c = add_node(g, "Constant", {}, {"w"}, "const_w");
    auto* a = c->add_attribute();
    a->set_name("value");
    a->set_type(::onnx::AttributeProto::TENSOR);
    a->mutable_t()->set_data_type(1);
    a->mutable_t()->add_dims(1000);
    a->mutable_t()->add_dims(1000);
    for (int i = 0; i < 10; ++i) a->mutable_t()->add_float_data(1.0f);
    // Constant must come before its use for the run; the loader does not care.
    g->mutable_node()->SwapElements(0, 1);
    expect_refused_everywhere(dir, testing::write_model(m, dir.path()),
                              {"Constant 'const_w'", "attribute 'value'", "needs 1000000"},
                              write_x(dir));
  }
  {
    // A sparse initializer whose dense form (4 TiB) cannot be allocated.
    TempDir dir;
    auto m = testing::simple_model();
    auto* g = m.mutable_graph();
    g->clear_initializer();
    auto* sp = g->add_sparse_initializer();
    for (int64_t d : {int64_t{1} << 16, int64_t{1} << 16, int64_t{256}}) sp->add_dims(d);
    sp->mutable_values()->set_name("w");
    sp->mutable_values()->set_data_type(1);
    sp->mutable_values()->add_dims(1);
    sp->mutable_values()->add_float_data(1.0f);
    sp->mutable_indices()->set_data_type(7);
    sp->mutable_indices()->add_dims(1);
    sp->mutable_indices()->add_int64_data(0);
    expect_refused_everywhere(dir, testing::write_model(m, dir.path()),
                              {"sparse initializer 'w'", "cannot allocate"}, write_x(dir));
  }
}

TEST(CliHostile, negative_dim_in_a_declaration_reads_as_unknown) {
  // Exporters write -1 for "unknown" in value_info; mixq reads it so (documented).
  TempDir dir;
  auto m = testing::simple_model();
  m.mutable_graph()
      ->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_dim_value(-1);
  const auto model = testing::write_model(m, dir.path());
  auto r = run_mixq({"run", model.string(), "--data", write_x(dir).string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(CliHostile, rejects_huge_attribute_lists) {
  TempDir dir;
  auto m = testing::simple_model();
  auto* g = m.mutable_graph();
  g->mutable_node(0)->set_output(0, "t");
  auto* tr = add_node(g, "Transpose", {"t"}, {"y"}, "transpose_huge");
  auto* perm = tr->add_attribute();
  perm->set_name("perm");
  perm->set_type(::onnx::AttributeProto::INTS);
  for (int64_t i = 0; i < 3'000'000; ++i) perm->add_ints(i);
  expect_refused_everywhere(dir, testing::write_model(m, dir.path()),
                            {"Transpose 'transpose_huge'", "perm has 3000000 entries"},
                            write_x(dir));
}

// --- subgraphs nested `depth` levels: If 'if_<level>' nodes, level N outermost ---

void put_varint(std::string* s, uint64_t v) {
  while (v >= 0x80) {
    s->push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s->push_back(static_cast<char>(v));
}

// A length-delimited field's tag and length (its payload follows).
std::string len_field(int field, uint64_t length) {
  std::string s;
  put_varint(&s, static_cast<uint64_t>(field) << 3 | 2);
  put_varint(&s, length);
  return s;
}

std::string serialized(const google::protobuf::MessageLite& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

// Built on the wire, each level a prefix of the next: a deep model cannot go through protobuf's
// (recursive, depth-limited) serializer, and copying every level would be quadratic.
std::string nested_if_model(int depth) {
  auto identity_graph = [](const std::string& name, const std::string& out) {
    ::onnx::GraphProto g;
    g.set_name(name);
    add_node(&g, "Identity", {"x"}, {out}, name + "_id");
    add_tensor_vi(g.mutable_output(), out, 1, {"2"});
    return g;
  };
  std::string inner = serialized(identity_graph("b_0", "o_0"));
  // prefixes[k]: the bytes before level k+1's then_branch graph.
  std::vector<std::string> prefixes;
  uint64_t inner_size = inner.size();
  for (int level = 1; level <= depth; ++level) {
    const std::string out = "o_" + std::to_string(level);
    ::onnx::AttributeProto then_attr;
    then_attr.set_name("then_branch");
    then_attr.set_type(::onnx::AttributeProto::GRAPH);
    const std::string attr_head = serialized(then_attr) + len_field(6, inner_size);
    const uint64_t attr_size = attr_head.size() + inner_size;
    ::onnx::NodeProto node;
    node.set_op_type("If");
    node.set_name("if_" + std::to_string(level));
    node.add_input("c");
    node.add_output(out);
    auto* else_attr = node.add_attribute();
    else_attr->set_name("else_branch");
    else_attr->set_type(::onnx::AttributeProto::GRAPH);
    *else_attr->mutable_g() = identity_graph("e_" + std::to_string(level), out);
    const std::string node_head = serialized(node) + len_field(5, attr_size);
    const uint64_t node_size = node_head.size() + attr_size;
    ::onnx::GraphProto graph;
    graph.set_name("b_" + std::to_string(level));
    if (level == depth) {
      add_tensor_vi(graph.mutable_input(), "x", 1, {"2"});
      add_tensor_vi(graph.mutable_input(), "c", 9, {});
    }
    add_tensor_vi(graph.mutable_output(), out, 1, {"2"});
    const std::string graph_head = serialized(graph) + len_field(1, node_size);
    prefixes.push_back(graph_head + node_head + attr_head);
    inner_size = graph_head.size() + node_size;
  }
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(17);
  std::string bytes = serialized(m) + len_field(7, inner_size);
  for (auto it = prefixes.rbegin(); it != prefixes.rend(); ++it) bytes += *it;
  return bytes + inner;
}

TEST(CliHostile, rejects_subgraphs_nested_past_the_limit_naming_the_node) {
  // 10000 levels (past protobuf's recursion limit) and 25 (past mixq's own limit of 24): both
  // are refused naming the If at depth 24, without a stack overflow.
  for (int depth : {10000, 25}) {
    TempDir dir;
    const auto model = dir / "deep.onnx";
    testing::write_bytes(model, nested_if_model(depth));
    const std::string node = "If 'if_" + std::to_string(depth - 24) + "'";
    expect_refused_everywhere(dir, model, {node, "nested deeper than 24 levels", "deep.onnx"},
                              write_x(dir, {2}));
  }
  // 24 levels load.
  TempDir dir;
  testing::write_bytes(dir / "deep.onnx", nested_if_model(24));
  auto r = run_mixq({"inspect", (dir / "deep.onnx").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
}

TEST(CliHostile, rejects_external_data_that_escapes_the_model_folder) {
  TempDir outside;
  testing::write_bytes(outside / "w.bin", std::string(16, '\0'));
  struct Case {
    std::string location, needle;
  };
  for (const Case& c : {Case{(outside / "w.bin").string(), "absolute path"},
                        Case{"../" + outside.path().filename().string() + "/w.bin", "escapes"},
                        Case{"link.bin", "symbolic link"}}) {
    TempDir dir;
    std::filesystem::create_symlink(outside / "w.bin", dir / "link.bin");
    auto m = testing::simple_model();
    testing::make_external(m, dir.path(), c.location, 0, /*write_file=*/false);
    expect_refused_everywhere(dir, testing::write_model(m, dir.path()),
                              {"tensor 'w'", c.location, c.needle}, write_x(dir));
  }
}

TEST(CliHostile, rejects_a_model_that_references_itself) {
  {
    TempDir dir;
    auto m = testing::simple_model();
    testing::make_external(m, dir.path(), "model.onnx", 0, /*write_file=*/false);
    expect_refused_everywhere(dir, testing::write_model(m, dir.path()),
                              {"tensor 'w'", "'model.onnx'", "is the model file itself"},
                              write_x(dir));
  }
  // Model-local functions that call themselves, directly and through another.
  for (bool indirect : {false, true}) {
    TempDir dir;
    auto m = testing::simple_model();
    auto* local = m.add_opset_import();
    local->set_domain("local");
    local->set_version(1);
    auto add_function = [&](const std::string& name, const std::string& callee) {
      auto* f = m.add_functions();
      f->set_domain("local");
      f->set_name(name);
      f->add_input("a");
      f->add_output("b");
      f->add_opset_import()->set_version(17);
      auto* n = f->add_node();
      n->set_op_type(callee);
      n->set_domain("local");
      n->set_name("call_" + callee);
      n->add_input("a");
      n->add_output("b");
    };
    add_function("F", indirect ? "G" : "F");
    if (indirect) add_function("G", "F");
    auto* g = m.mutable_graph();
    g->mutable_node(0)->set_output(0, "t");
    add_node(g, "F", {"t"}, {"y"}, "call_F_outer")->set_domain("local");
    const std::string cycle = indirect ? "local:F -> local:G -> local:F" : "local:F -> local:F";
    expect_refused_everywhere(dir, testing::write_model(m, dir.path()),
                              {"model-local function local:F calls itself", cycle}, write_x(dir));
  }
}

TEST(CliHostile, runs_converts_and_inspects_a_100k_node_chain) {
  // y = x + 1 + 1 + ... (100000 Adds): valid; every walk over it must be iterative.
  constexpr int kNodes = 100'000;
  TempDir dir;
  auto m = testing::simple_model();
  auto* g = m.mutable_graph();
  g->clear_node();
  g->clear_initializer();
  auto* one = g->add_initializer();
  one->set_name("one");
  one->set_data_type(1);
  one->add_float_data(1.0f);
  for (int i = 0; i < kNodes; ++i) {
    add_node(g, "Add", {i == 0 ? "x" : "t" + std::to_string(i - 1), "one"},
             {i == kNodes - 1 ? "y" : "t" + std::to_string(i)}, "add_" + std::to_string(i));
  }
  const auto model = testing::write_model(m, dir.path());
  const auto data = write_x(dir);

  auto r = run_mixq({"inspect", model.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("100000"), std::string::npos);

  r = run_mixq({"run", model.string(), "--data", data.string(), "-o", (dir / "y.npz").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto out = calib::DataSource::open(dir / "y.npz");
  ASSERT_TRUE(out.ok());
  auto y = (*out)->find("y")->read_all();
  ASSERT_TRUE(y.ok());
  ASSERT_EQ(y->numel(), 8);
  // x[i] = i - 1.5; 100000 exact additions of 1 in float32 (all values below 2^24).
  for (int64_t i = 0; i < 8; ++i) {
    EXPECT_EQ(y->data<float>()[i], static_cast<float>(i) - 1.5f + kNodes) << i;
  }

  r = run_mixq({"convert", model.string(), "--precision", "int8", "--weights-only", "--eval",
                data.string(), "-o", (dir / "q.onnx").string()});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir / "q.onnx"));
}

}  // namespace
}  // namespace mixq
