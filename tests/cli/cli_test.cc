// The mixq command line, run as a user would: help, version, usage errors and documented exit
// codes for bad input, each error naming the file, node or tensor.
#include <gtest/gtest.h>
#include <map>
#include <nlohmann/json.hpp>

#include "proto_fixtures.h"
#include "test_support.h"

namespace mixq {
namespace {

using testing::run_mixq;
using testing::TempDir;

void expect_exit(const testing::RunResult& r, int code, std::vector<std::string> needles) {
  EXPECT_EQ(r.exit_code, code) << "stdout:\n" << r.out << "stderr:\n" << r.err;
  for (const auto& n : needles) {
    EXPECT_NE(r.err.find(n), std::string::npos) << "'" << n << "' not in stderr: " << r.err;
  }
}

TEST(Cli, VersionAndHelp) {
  auto v = run_mixq({"--version"});
  EXPECT_EQ(v.exit_code, 0);
  EXPECT_NE(v.out.find("mixq 0."), std::string::npos) << v.out;
  EXPECT_NE(v.out.find("CUDA"), std::string::npos) << v.out;
  auto h = run_mixq({"--help"});
  EXPECT_EQ(h.exit_code, 0);
  EXPECT_NE(h.out.find("inspect"), std::string::npos) << h.out;
  EXPECT_NE(h.out.find("Exit codes"), std::string::npos) << h.out;
  auto sh = run_mixq({"inspect", "--help"});
  EXPECT_EQ(sh.exit_code, 0);
  EXPECT_NE(sh.out.find("--json"), std::string::npos) << sh.out;
}

TEST(Cli, rejects_usage_errors_with_exit_1) {
  expect_exit(run_mixq({}), 1, {"usage error"});
  expect_exit(run_mixq({"frobnicate"}), 1, {"usage error"});
  expect_exit(run_mixq({"inspect"}), 1, {"model"});
  expect_exit(run_mixq({"inspect", "a.onnx", "--no-such-flag"}), 1, {"--no-such-flag"});
}

TEST(Cli, InspectTextAndJson) {
  TempDir dir;
  const auto path = testing::write_model(testing::simple_model(), dir.path());
  auto text = run_mixq({"inspect", path.string()});
  ASSERT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("float32[N, 4]"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("Add 1"), std::string::npos) << text.out;
  auto js = run_mixq({"inspect", path.string(), "--json"});
  ASSERT_EQ(js.exit_code, 0) << js.err;
  auto j = nlohmann::json::parse(js.out);
  for (const char* key :
       {"inputs", "outputs", "opsets", "ops", "parameters", "quantizable", "unsupported"}) {
    EXPECT_TRUE(j.contains(key)) << key;
  }
  EXPECT_EQ(j["inputs"][0]["name"], "x");
  EXPECT_EQ(j["inputs"][0]["shape"][0], "N");
  EXPECT_EQ(j["inputs"][0]["shape"][1], 4);
  EXPECT_EQ(j["parameters"]["count"], 4);
  EXPECT_EQ(j["parameters"]["bytes"], 16);
  EXPECT_EQ(j["opsets"][0]["version"], 17);
  EXPECT_EQ(j["ops"][0]["op"], "Add");
}

TEST(Cli, InspectListsQuantizableLayersAndUnsupportedOps) {
  TempDir dir;
  auto m = testing::simple_model();
  auto* g = m.mutable_graph();
  // y2 = MatMul(y, w2[4, 3]) is quantizable (constant weight); a custom-domain op is not known.
  auto* w2 = g->add_initializer();
  w2->set_name("w2");
  w2->set_data_type(1);
  w2->add_dims(4);
  w2->add_dims(3);
  for (int i = 0; i < 12; ++i) w2->add_float_data(0.5f);
  testing::add_node(g, "MatMul", {"y", "w2"}, {"y2"}, "proj");
  testing::add_node(g, "Frob", {"y2"}, {"y3"}, "frob")->set_domain("com.example");
  auto* op = m.add_opset_import();
  op->set_domain("com.example");
  op->set_version(1);
  testing::add_tensor_vi(g->mutable_output(), "y2", 1, {});
  testing::add_tensor_vi(g->mutable_output(), "y3", 1, {})
      ->mutable_type()
      ->mutable_tensor_type()
      ->clear_shape();
  const auto path = testing::write_model(m, dir.path());
  auto js = run_mixq({"inspect", path.string(), "--json"});
  ASSERT_EQ(js.exit_code, 0) << js.err;
  auto j = nlohmann::json::parse(js.out);
  ASSERT_EQ(j["quantizable"].size(), 1u);
  EXPECT_EQ(j["quantizable"][0]["node"], "proj");
  EXPECT_EQ(j["quantizable"][0]["weight"], "w2");
  EXPECT_EQ(j["quantizable"][0]["weight_shape"], nlohmann::json({4, 3}));
  ASSERT_EQ(j["unsupported"].size(), 1u);
  EXPECT_EQ(j["unsupported"][0]["op"], "Frob");
  EXPECT_EQ(j["unsupported"][0]["domain"], "com.example");
  // y2's shape comes from inference; the unknown op's output keeps its declared (rankless) type.
  EXPECT_EQ(j["outputs"][1]["shape"], nlohmann::json({"N", 3}));
  EXPECT_TRUE(j["outputs"][2]["shape"].is_null());
}

TEST(Cli, InspectsAnOpset21ModelWithFp8AndInt4Tensors) {
  auto js = run_mixq({"inspect", "--json", testing::fixture("opset21_fp8_int4.onnx").string()});
  ASSERT_EQ(js.exit_code, 0) << js.err;
  auto j = nlohmann::json::parse(js.out);
  EXPECT_EQ(j["ir_version"], 10);
  EXPECT_EQ(j["opsets"][0]["version"], 21);
  EXPECT_TRUE(j["unsupported"].empty()) << j["unsupported"];
  std::map<std::string, int64_t> bytes;
  for (const auto& d : j["parameters"]["by_dtype"]) bytes[d["dtype"]] = d["bytes"];
  EXPECT_EQ(bytes["float8e4m3fn"], 136);  // 8x16 weight + 8 zero points
  EXPECT_EQ(bytes["int4"], 4);            // 8 packed zero points
  EXPECT_EQ(j["outputs"][0]["shape"], nlohmann::json({4, 8}));
}

TEST(Cli, rejects_missing_model_with_exit_2) {
  expect_exit(run_mixq({"inspect", "/nonexistent/model.onnx"}), 2, {"/nonexistent/model.onnx"});
}

TEST(Cli, rejects_truncated_model_with_exit_2) {
  TempDir dir;
  const std::string bytes = testing::serialize(testing::simple_model());
  testing::write_bytes(dir / "cut.onnx", bytes.substr(0, bytes.size() / 2));
  expect_exit(run_mixq({"inspect", (dir / "cut.onnx").string()}), 2, {"cut.onnx"});
}

TEST(Cli, rejects_garbage_file_with_exit_2) {
  TempDir dir;
  testing::write_bytes(dir / "junk.onnx", std::string("\xff\xfe this is not a model \x01\x02", 26));
  expect_exit(run_mixq({"inspect", (dir / "junk.onnx").string()}), 2, {"junk.onnx"});
}

TEST(Cli, rejects_cycle_with_exit_2) {
  TempDir dir;
  auto m = testing::simple_model();
  auto* g = m.mutable_graph();
  g->mutable_node(0)->set_input(1, "b");
  testing::add_node(g, "Relu", {"y"}, {"b"}, "loop_back");
  const auto path = testing::write_model(m, dir.path());
  expect_exit(run_mixq({"inspect", path.string()}), 2, {"model.onnx", "cycle", "'loop_back'"});
}

TEST(Cli, rejects_undefined_node_input_with_exit_2) {
  TempDir dir;
  auto m = testing::simple_model();
  m.mutable_graph()->mutable_node(0)->set_input(1, "ghost");
  const auto path = testing::write_model(m, dir.path());
  expect_exit(run_mixq({"inspect", path.string()}), 2, {"model.onnx", "'add0'", "'ghost'"});
}

TEST(Cli, rejects_missing_external_data_with_exit_2) {
  TempDir dir;
  auto m = testing::simple_model();
  testing::make_external(m, dir.path(), "weights.bin", 0, /*write_file=*/false);
  const auto path = testing::write_model(m, dir.path());
  expect_exit(run_mixq({"inspect", path.string()}), 2, {"'w'", "weights.bin"});
}

TEST(Cli, rejects_invalid_node_with_exit_2) {
  TempDir dir;
  auto m = testing::simple_model();
  // Reshape of 4 elements to 3: shape inference finds it before anything runs.
  auto* g = m.mutable_graph();
  auto* s = g->add_initializer();
  s->set_name("bad_shape");
  s->set_data_type(7);
  s->add_dims(1);
  s->add_int64_data(3);
  g->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_dim_value(1);
  testing::add_node(g, "Reshape", {"y", "bad_shape"}, {"r"}, "reshape_bad");
  const auto path = testing::write_model(m, dir.path());
  expect_exit(run_mixq({"inspect", path.string()}), 2, {"model.onnx", "'reshape_bad'"});
}

TEST(Cli, rejects_unsupported_feature_with_exit_3) {
  // A sparse initializer of 4-bit values: valid ONNX that mixq does not implement.
  TempDir dir;
  auto m = testing::simple_model();
  auto* sp = m.mutable_graph()->add_sparse_initializer();
  sp->add_dims(8);
  auto* values = sp->mutable_values();
  values->set_name("sparse_w");
  values->set_data_type(22);  // INT4
  values->add_dims(2);
  values->add_int32_data(0x21);
  auto* indices = sp->mutable_indices();
  indices->set_data_type(7);
  indices->add_dims(2);
  indices->add_int64_data(1);
  indices->add_int64_data(5);
  const auto path = testing::write_model(m, dir.path());
  expect_exit(run_mixq({"inspect", path.string()}), 3, {"sparse_w", "int4"});
}

}  // namespace
}  // namespace mixq
