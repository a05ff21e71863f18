// Model I/O: round trips of the fields mixq does not interpret, storage forms, and the refusals
// of malformed models. Fixtures are built with protobuf directly, independently of mixq's saver.
#include <google/protobuf/unknown_field_set.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>
#include <sys/stat.h>

#include <cstring>
#include <random>

#include "mixq/ir/shape_inference.h"
#include "mixq/onnx/model_io.h"
#include "proto_fixtures.h"
#include "test_support.h"

namespace mixq {
namespace {

using testing::add_node;
using testing::add_tensor_vi;
using testing::serialize;
using testing::simple_model;
using testing::TempDir;

void expect_equivalent(const ::onnx::ModelProto& want, const std::string& got_bytes) {
  ::onnx::ModelProto got;
  ASSERT_TRUE(got.ParseFromString(got_bytes));
  google::protobuf::util::MessageDifferencer diff;
  diff.set_message_field_comparison(google::protobuf::util::MessageDifferencer::EQUIVALENT);
  std::string report;
  diff.ReportDifferencesToString(&report);
  EXPECT_TRUE(diff.Compare(want, got)) << report;
}

Expected<std::unique_ptr<ir::Model>> load_proto(const ::onnx::ModelProto& m,
                                                const std::filesystem::path& dir) {
  const auto path = dir / "model.onnx";
  testing::write_bytes(path, serialize(m));
  return onnx::load_model(path);
}

void expect_rejected(const Status& s, StatusCode code, std::vector<std::string> needles) {
  EXPECT_EQ(s.code(), code) << s.to_string();
  for (const auto& n : needles) {
    EXPECT_NE(s.message().find(n), std::string::npos) << "'" << n << "' not in: " << s.message();
  }
}

// ---------------------------------------------------------------------------------------------
// Round trips

TEST(ModelIo, RoundTripKeepsUninterpretedFields) {
  ::onnx::ModelProto m = simple_model();
  m.set_doc_string("model doc");
  m.set_producer_name("unit-test");
  m.set_producer_version("1.0");
  m.set_model_version(7);
  m.set_domain("org.example");
  auto* kv = m.add_metadata_props();
  kv->set_key("author");
  kv->set_value("mixq");
  auto* ms = m.add_opset_import();
  ms->set_domain("com.microsoft");
  ms->set_version(1);
  // A model-local function and training info: opaque to mixq, must survive.
  auto* f = m.add_functions();
  f->set_name("MyFn");
  f->set_domain("local");
  f->add_input("a");
  f->add_output("b");
  auto* fn_node = f->add_node();
  fn_node->set_op_type("Relu");
  fn_node->add_input("a");
  fn_node->add_output("b");
  m.add_training_info()->mutable_algorithm()->set_name("train");

  auto* g = m.mutable_graph();
  g->set_doc_string("graph doc");
  g->mutable_node(0)->set_doc_string("node doc");
  g->mutable_initializer(0)->set_doc_string("tensor doc");
  g->mutable_input(0)->set_doc_string("input doc");
  g->mutable_input(0)->mutable_type()->set_denotation("TENSOR");
  g->mutable_input(0)
      ->mutable_type()
      ->mutable_tensor_type()
      ->mutable_shape()
      ->mutable_dim(0)
      ->set_denotation("DATA_BATCH");
  add_tensor_vi(g->mutable_value_info(), "y", 1, {"N", "4"})->set_doc_string("value info doc");
  auto* qa = g->add_quantization_annotation();
  qa->set_tensor_name("y");
  // Attributes round-trip on a custom-domain op (an unknown attribute on an ONNX op is refused).
  auto* custom = add_node(g, "Frob", {"y"}, {"z"}, "frob");
  custom->set_domain("com.example");
  auto* custom_set = m.add_opset_import();
  custom_set->set_domain("com.example");
  custom_set->set_version(1);
  auto* attr = custom->add_attribute();
  attr->set_name("note");
  attr->set_type(::onnx::AttributeProto::STRING);
  attr->set_s("hello");
  attr->set_doc_string("attr doc");

  // Unknown fields, as a newer ONNX would write them (e.g. NodeProto.metadata_props = 9,
  // ModelProto.configuration = 26): kept verbatim.
  m.mutable_unknown_fields()->AddLengthDelimited(26, "future-model-field");
  g->mutable_unknown_fields()->AddVarint(99, 12345);
  g->mutable_node(0)->mutable_unknown_fields()->AddLengthDelimited(9, "\x0a\x01k\x12\x01v");
  g->mutable_initializer(0)->mutable_unknown_fields()->AddFixed32(77, 0xdeadbeef);
  g->mutable_input(0)->mutable_unknown_fields()->AddVarint(50, 1);
  attr->mutable_unknown_fields()->AddVarint(60, 2);

  TempDir dir;
  auto model = load_proto(m, dir.path());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ((*model)->producer_name, "unit-test");
  EXPECT_EQ((*model)->opset(""), 17);
  EXPECT_EQ((*model)->opset("com.microsoft"), 1);
  EXPECT_EQ((*model)->opset("com.example"), 1);
  ASSERT_EQ((*model)->metadata_props.size(), 1u);
  EXPECT_EQ((*model)->local_functions, std::vector<std::string>{"local:MyFn"});

  auto bytes = onnx::serialize_model(**model);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  expect_equivalent(m, *bytes);

  ::onnx::ModelProto back;
  ASSERT_TRUE(back.ParseFromString(*bytes));
  ASSERT_EQ(back.unknown_fields().field_count(), 1);
  EXPECT_EQ(back.unknown_fields().field(0).number(), 26);
  EXPECT_EQ(back.unknown_fields().field(0).length_delimited(), "future-model-field");
  EXPECT_EQ(back.graph().node(0).unknown_fields().field(0).number(), 9);
  EXPECT_EQ(back.graph().initializer(0).unknown_fields().field(0).fixed32(), 0xdeadbeefu);
  EXPECT_EQ(back.graph().input(0).type().tensor_type().shape().dim(0).denotation(), "DATA_BATCH");
  EXPECT_EQ(back.functions_size(), 1);
  EXPECT_EQ(back.training_info_size(), 1);

  // Second round trip is byte-identical.
  auto again = onnx::parse_model(*bytes, dir.path());
  ASSERT_TRUE(again.ok());
  auto bytes2 = onnx::serialize_model(**again);
  ASSERT_TRUE(bytes2.ok());
  EXPECT_TRUE(*bytes == *bytes2);
}

TEST(ModelIo, RoundTripKeepsTensorStorageFormsAndNewTypes) {
  ::onnx::ModelProto m = simple_model();
  auto* g = m.mutable_graph();
  auto add_init = [&](const std::string& name, int dtype, std::vector<int64_t> dims) {
    auto* t = g->add_initializer();
    t->set_name(name);
    t->set_data_type(dtype);
    for (auto d : dims) t->add_dims(d);
    return t;
  };
  auto* h = add_init("h16", 10, {2});  // float16 in int32_data
  h->add_int32_data(0x3c00);
  h->add_int32_data(0xc000);
  auto* i8 = add_init("i8", 3, {3});  // int8, sign-extended entries
  for (int v : {-128, -1, 127}) i8->add_int32_data(v);
  auto* i64 = add_init("i64", 7, {2});
  i64->add_int64_data(-5);
  i64->add_int64_data(1LL << 40);
  auto* d = add_init("d", 11, {1});
  d->add_double_data(3.25);
  auto* u32 = add_init("u32", 12, {2});
  u32->add_uint64_data(7);
  u32->add_uint64_data(0xffffffffu);
  auto* s = add_init("s", 8, {2});
  s->add_string_data("a");
  s->add_string_data("bc");
  // FLOAT8E4M3FN (17) and INT4 (22) are written by number: Debian's ONNX enum lacks them.
  auto* f8 = add_init("f8", 17, {2});
  f8->set_raw_data(std::string("\x38\x40", 2));
  auto* i4 = add_init("i4", 22, {3});
  i4->add_int32_data(0xe1);  // [1, -2] packed, low nibble first
  i4->add_int32_data(0x03);  // [3]
  auto* bf = add_init("bf", 16, {1});
  bf->set_raw_data(std::string("\x80\x3f", 2));  // 1.0

  TempDir dir;
  auto model = load_proto(m, dir.path());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto find = [&](const std::string& n) -> const ir::Tensor& {
    return *(*model)->graph().find_value(n)->initializer();
  };
  EXPECT_EQ(find("h16").element_as_double(0), 1.0);
  EXPECT_EQ(find("h16").element_as_double(1), -2.0);
  EXPECT_EQ(find("i8").element_as_int64(0), -128);
  EXPECT_EQ(find("i8").element_as_int64(2), 127);
  EXPECT_EQ(find("i64").element_as_int64(1), 1LL << 40);
  EXPECT_EQ(find("d").element_as_double(0), 3.25);
  EXPECT_EQ(find("u32").element_as_int64(1), 0xffffffffLL);
  EXPECT_EQ(find("s").strings()[1], "bc");
  EXPECT_EQ(find("f8").dtype(), DType::kFloat8E4M3FN);
  EXPECT_EQ(find("f8").element_as_double(0), 1.0);
  EXPECT_EQ(find("f8").element_as_double(1), 2.0);
  EXPECT_EQ(find("i4").dtype(), DType::kInt4);
  EXPECT_EQ(find("i4").element_as_int64(0), 1);
  EXPECT_EQ(find("i4").element_as_int64(1), -2);
  EXPECT_EQ(find("i4").element_as_int64(2), 3);
  EXPECT_EQ(find("i4").nbytes(), 2u);
  EXPECT_EQ(find("bf").element_as_double(0), 1.0);

  auto bytes = onnx::serialize_model(**model);
  ASSERT_TRUE(bytes.ok()) << bytes.status().to_string();
  expect_equivalent(m, *bytes);
}

// A file written by the official onnx package (1.23): IR 10, opset 21, FP8 and INT4 tensors.
TEST(ModelIo, ReadsAndRoundTripsAnOpset21ModelWithFp8AndInt4) {
  const auto path = testing::fixture("opset21_fp8_int4.onnx");
  ::onnx::ModelProto original;
  ASSERT_TRUE(original.ParseFromString(testing::read_bytes(path)));
  auto model = onnx::load_model(path);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  EXPECT_EQ((*model)->ir_version, 10);
  EXPECT_EQ((*model)->opset(""), 21);
  const ir::Tensor& w = *(*model)->graph().find_value("w_fp8")->initializer();
  EXPECT_EQ(w.dtype(), DType::kFloat8E4M3FN);
  EXPECT_EQ(w.dims(), (std::vector<int64_t>{8, 16}));
  const ir::Tensor& zp = *(*model)->graph().find_value("a_zp")->initializer();
  EXPECT_EQ(zp.dtype(), DType::kInt4);
  EXPECT_EQ(zp.nbytes(), 4u);
  auto types = ir::infer_shapes(**model);
  ASSERT_TRUE(types.ok()) << types.status().to_string();
  EXPECT_EQ(types->type_of((*model)->graph().find_value("x_q")).to_string(), "int4[4, 16]");
  EXPECT_EQ(types->type_of((*model)->graph().find_value("w")).to_string(), "float32[8, 16]");
  EXPECT_EQ(types->type_of((*model)->graph().outputs()[0]).to_string(), "float32[4, 8]");
  auto bytes = onnx::serialize_model(**model);
  ASSERT_TRUE(bytes.ok());
  expect_equivalent(original, *bytes);
}

TEST(ModelIo, SubgraphsKeepOuterScopeReferences) {
  // If(cond) { then: Add(x, w) (outer values) ; else: Identity(x) }
  ::onnx::ModelProto m = simple_model();
  auto* g = m.mutable_graph();
  add_tensor_vi(g->mutable_input(), "cond", 9, {});
  add_tensor_vi(g->mutable_output(), "z", 1, {"N", "4"});
  auto* n = add_node(g, "If", {"cond"}, {"z"}, "if0");
  auto* then_attr = n->add_attribute();
  then_attr->set_name("then_branch");
  then_attr->set_type(::onnx::AttributeProto::GRAPH);
  auto* tg = then_attr->mutable_g();
  tg->set_name("then");
  add_node(tg, "Add", {"y", "w"}, {"t_out"});
  add_tensor_vi(tg->mutable_output(), "t_out", 1, {});
  auto* else_attr = n->add_attribute();
  else_attr->set_name("else_branch");
  else_attr->set_type(::onnx::AttributeProto::GRAPH);
  auto* eg = else_attr->mutable_g();
  eg->set_name("else");
  add_node(eg, "Identity", {"x"}, {"e_out"});
  add_tensor_vi(eg->mutable_output(), "e_out", 1, {});

  TempDir dir;
  auto model = load_proto(m, dir.path());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const ir::Node* if_node = (*model)->graph().nodes()[1].get();
  ASSERT_EQ(if_node->op_type(), "If");
  // y (produced by add0) and w, x are implicit inputs of the If node.
  std::vector<std::string> implicit;
  for (const ir::Value* v : if_node->implicit_inputs()) implicit.push_back(v->name());
  std::sort(implicit.begin(), implicit.end());
  EXPECT_EQ(implicit, (std::vector<std::string>{"w", "x", "y"}));
  auto order = ir::topological_order((*model)->graph());
  ASSERT_TRUE(order.ok());
  EXPECT_EQ((*order)[0]->op_type(), "Add");

  auto bytes = onnx::serialize_model(**model);
  ASSERT_TRUE(bytes.ok());
  expect_equivalent(m, *bytes);
}

TEST(ModelIo, TopologicalOrderRunsProducersFirstForUnsortedFiles) {
  ::onnx::ModelProto m = simple_model();
  auto* g = m.mutable_graph();
  g->mutable_output(0)->set_name("z");
  // z = Relu(y) listed before y = Add(x, w).
  auto relu = *g->mutable_node(0);
  g->mutable_node(0)->Clear();
  g->mutable_node(0)->set_op_type("Relu");
  g->mutable_node(0)->add_input("y");
  g->mutable_node(0)->add_output("z");
  *g->add_node() = relu;
  TempDir dir;
  auto model = load_proto(m, dir.path());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto order = ir::topological_order((*model)->graph());
  ASSERT_TRUE(order.ok());
  ASSERT_EQ(order->size(), 2u);
  EXPECT_EQ((*order)[0]->op_type(), "Add");
  EXPECT_EQ((*order)[1]->op_type(), "Relu");
}

// ---------------------------------------------------------------------------------------------
// External data

struct ExternalFixture {
  TempDir dir;
  ::onnx::ModelProto model = simple_model();

  void make_external(const std::string& location, uint64_t offset, bool write_file = true,
                     size_t file_bytes = 0) {
    testing::make_external(model, dir.path(), location, offset, write_file, file_bytes);
  }
};

TEST(ModelIo, LoadsExternalData) {
  ExternalFixture fx;
  fx.make_external("weights.bin", 100);
  auto model = load_proto(fx.model, fx.dir.path());
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  const ir::Tensor& w = *(*model)->graph().find_value("w")->initializer();
  EXPECT_EQ(w.storage().form, ir::TensorStorage::Form::kExternal);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(w.element_as_double(i), i + 1.0);
}

TEST(ModelIo, SaveWritesExternalDataAboveThresholdAndReloads) {
  TempDir dir;
  ::onnx::ModelProto m = simple_model();
  auto* big = m.mutable_graph()->add_initializer();
  big->set_name("big");
  big->set_data_type(1);
  big->add_dims(3000);
  std::string raw(3000 * 4, '\0');
  for (int i = 0; i < 3000; ++i) {
    const float f = static_cast<float>(i) * 0.5f;
    std::memcpy(raw.data() + i * 4, &f, 4);
  }
  big->set_raw_data(raw);
  auto model = load_proto(m, dir.path());
  ASSERT_TRUE(model.ok());
  onnx::SaveOptions opts;
  opts.external_data = onnx::SaveOptions::ExternalData::kThreshold;
  opts.external_threshold = 1024;
  const auto out = dir.path() / "out.onnx";
  const Status save_status = onnx::save_model(**model, out, opts);
  ASSERT_TRUE(save_status.ok()) << save_status.to_string();
  ASSERT_EQ(testing::data_files_of(out).size(), 1u);  // out.onnx.<content hash>.data

  ::onnx::ModelProto saved;
  ASSERT_TRUE(saved.ParseFromString(testing::read_bytes(out)));
  const auto& t = saved.graph().initializer(1);
  EXPECT_EQ(t.data_location(), ::onnx::TensorProto::EXTERNAL);
  EXPECT_FALSE(t.has_raw_data());
  EXPECT_EQ(saved.graph().initializer(0).data_location(), ::onnx::TensorProto::DEFAULT)
      << "16-byte tensor is under the threshold";
  for (const auto& e : t.external_data()) {
    if (e.key() == "offset") {
      EXPECT_EQ(std::stoull(e.value()) % 64, 0u);
    }
  }
  auto reloaded = onnx::load_model(out);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().to_string();
  const ir::Tensor& rb = *(*reloaded)->graph().find_value("big")->initializer();
  EXPECT_EQ(std::memcmp(rb.raw_data(), raw.data(), raw.size()), 0);
}

TEST(ModelIo, SaveLeavesTheInputModelUntouched) {
  ExternalFixture fx;
  fx.make_external("weights.bin", 0);
  const auto in = fx.dir.path() / "model.onnx";
  testing::write_bytes(in, serialize(fx.model));
  struct stat before {};
  ASSERT_EQ(stat(in.c_str(), &before), 0);
  const std::string in_bytes = testing::read_bytes(in);
  const std::string data_bytes = testing::read_bytes(fx.dir.path() / "weights.bin");
  auto model = onnx::load_model(in);
  ASSERT_TRUE(model.ok());
  const Status save_status = onnx::save_model(**model, fx.dir.path() / "copy.onnx");
  ASSERT_TRUE(save_status.ok()) << save_status.to_string();
  struct stat after {};
  ASSERT_EQ(stat(in.c_str(), &after), 0);
  EXPECT_EQ(testing::read_bytes(in), in_bytes);
  EXPECT_EQ(testing::read_bytes(fx.dir.path() / "weights.bin"), data_bytes);
  EXPECT_EQ(before.st_mtim.tv_sec, after.st_mtim.tv_sec);
  EXPECT_EQ(before.st_mtim.tv_nsec, after.st_mtim.tv_nsec);
  // The copy keeps its tensor external, in its own data file.
  EXPECT_EQ(testing::data_files_of(fx.dir.path() / "copy.onnx").size(), 1u);
  auto copy = onnx::load_model(fx.dir.path() / "copy.onnx");
  ASSERT_TRUE(copy.ok()) << copy.status().to_string();
  EXPECT_EQ((*copy)->graph().find_value("w")->initializer()->element_as_double(3), 4.0);
}

TEST(ModelIo, rejects_external_data_absolute_path) {
  ExternalFixture fx;
  fx.make_external("weights.bin", 0);
  auto* e = fx.model.mutable_graph()->mutable_initializer(0)->mutable_external_data(0);
  e->set_value((fx.dir.path() / "weights.bin").string());
  auto model = load_proto(fx.model, fx.dir.path());
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"'w'", "weights.bin", "absolute"});
}

TEST(ModelIo, rejects_external_data_escaping_with_dotdot) {
  ExternalFixture fx;
  std::filesystem::create_directory(fx.dir.path() / "m");
  fx.make_external("weights.bin", 0);  // in the parent of the model folder
  auto* e = fx.model.mutable_graph()->mutable_initializer(0)->mutable_external_data(0);
  e->set_value("../weights.bin");
  auto model = load_proto(fx.model, fx.dir.path() / "m");
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"'w'", "../weights.bin", "escapes"});
}

TEST(ModelIo, rejects_external_data_escaping_through_symlink) {
  ExternalFixture fx;
  std::filesystem::create_directory(fx.dir.path() / "m");
  fx.make_external("weights.bin", 0);
  std::filesystem::create_symlink(fx.dir.path() / "weights.bin", fx.dir.path() / "m" / "link.bin");
  auto* e = fx.model.mutable_graph()->mutable_initializer(0)->mutable_external_data(0);
  e->set_value("link.bin");
  auto model = load_proto(fx.model, fx.dir.path() / "m");
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"'w'", "link.bin", "symbolic link"});
}

TEST(ModelIo, AcceptsSymlinkThatStaysInsideTheFolder) {
  ExternalFixture fx;
  fx.make_external("weights.bin", 0);
  std::filesystem::create_symlink(fx.dir.path() / "weights.bin", fx.dir.path() / "link.bin");
  auto* e = fx.model.mutable_graph()->mutable_initializer(0)->mutable_external_data(0);
  e->set_value("link.bin");
  auto model = load_proto(fx.model, fx.dir.path());
  EXPECT_TRUE(model.ok()) << model.status().to_string();
}

TEST(ModelIo, rejects_external_data_missing_file) {
  ExternalFixture fx;
  fx.make_external("absent.bin", 0, /*write_file=*/false);
  auto model = load_proto(fx.model, fx.dir.path());
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"'w'", "absent.bin", "does not exist"});
}

TEST(ModelIo, rejects_external_data_file_too_short) {
  ExternalFixture fx;
  fx.make_external("short.bin", 8, true, /*file_bytes=*/20);  // needs 8 + 16
  auto model = load_proto(fx.model, fx.dir.path());
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"'w'", "short.bin", "shorter"});
}

TEST(ModelIo, rejects_external_data_length_mismatch) {
  ExternalFixture fx;
  fx.make_external("weights.bin", 0);
  auto* e = fx.model.mutable_graph()->mutable_initializer(0)->mutable_external_data(2);
  e->set_value("12");
  auto model = load_proto(fx.model, fx.dir.path());
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"'w'", "length 12"});
}

// ---------------------------------------------------------------------------------------------
// Malformed models

TEST(ModelIo, rejects_missing_model_file) {
  TempDir dir;
  auto model = onnx::load_model(dir.path() / "nope.onnx");
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"nope.onnx"});
}

TEST(ModelIo, rejects_truncated_file) {
  TempDir dir;
  std::string bytes = serialize(simple_model());
  // Every cut inside the last message breaks it; check several.
  for (size_t cut : {bytes.size() / 2, bytes.size() - 1, size_t{3}}) {
    testing::write_bytes(dir.path() / "cut.onnx", bytes.substr(0, cut));
    auto model = onnx::load_model(dir.path() / "cut.onnx");
    ASSERT_FALSE(model.ok()) << "cut at " << cut;
    expect_rejected(model.status(), StatusCode::kBadInput, {"cut.onnx"});
  }
}

TEST(ModelIo, rejects_garbage_file) {
  TempDir dir;
  std::mt19937 rng(42);
  for (int trial = 0; trial < 20; ++trial) {
    std::string junk(256 + trial * 97, '\0');
    for (char& c : junk) c = static_cast<char>(rng());
    testing::write_bytes(dir.path() / "junk.onnx", junk);
    auto model = onnx::load_model(dir.path() / "junk.onnx");
    ASSERT_FALSE(model.ok()) << "trial " << trial;
    expect_rejected(model.status(), StatusCode::kBadInput, {"junk.onnx"});
  }
  testing::write_bytes(dir.path() / "empty.onnx", "");
  auto empty = onnx::load_model(dir.path() / "empty.onnx");
  ASSERT_FALSE(empty.ok());
  expect_rejected(empty.status(), StatusCode::kBadInput, {"empty.onnx", "empty"});
}

TEST(ModelIo, rejects_graph_with_cycle) {
  ::onnx::ModelProto m = simple_model();
  auto* g = m.mutable_graph();
  g->mutable_node(0)->set_input(1, "b");
  add_node(g, "Relu", {"y"}, {"a"}, "relu_a");
  add_node(g, "Neg", {"a"}, {"b"}, "neg_b");
  TempDir dir;
  auto model = load_proto(m, dir.path());
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput,
                  {"model.onnx", "cycle", "'add0'", "'relu_a'", "'neg_b'"});
}

TEST(ModelIo, rejects_node_input_nothing_produces) {
  ::onnx::ModelProto m = simple_model();
  m.mutable_graph()->mutable_node(0)->set_input(1, "ghost");
  TempDir dir;
  auto model = load_proto(m, dir.path());
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"model.onnx", "'add0'", "'ghost'"});
}

TEST(ModelIo, rejects_value_produced_twice) {
  ::onnx::ModelProto m = simple_model();
  add_node(m.mutable_graph(), "Relu", {"x"}, {"y"}, "relu_dup");
  TempDir dir;
  auto model = load_proto(m, dir.path());
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"'relu_dup'", "'y'", "already defined"});
}

TEST(ModelIo, rejects_graph_output_nothing_produces) {
  ::onnx::ModelProto m = simple_model();
  m.mutable_graph()->mutable_output(0)->set_name("nowhere");
  TempDir dir;
  auto model = load_proto(m, dir.path());
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"output 'nowhere'"});
}

TEST(ModelIo, rejects_raw_data_size_mismatch) {
  ::onnx::ModelProto m = simple_model();
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_raw_data(std::string(10, '\0'));
  TempDir dir;
  auto model = load_proto(m, dir.path());
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"'w'", "10 bytes", "needs 16"});
}

TEST(ModelIo, rejects_negative_and_overflowing_dims) {
  TempDir dir;
  for (auto dims : {std::vector<int64_t>{-1, 4}, std::vector<int64_t>{1LL << 40, 1LL << 40}}) {
    ::onnx::ModelProto m = simple_model();
    auto* w = m.mutable_graph()->mutable_initializer(0);
    w->clear_dims();
    for (auto d : dims) w->add_dims(d);
    auto model = load_proto(m, dir.path());
    ASSERT_FALSE(model.ok());
    expect_rejected(model.status(), StatusCode::kBadInput, {"'w'"});
  }
}

TEST(ModelIo, rejects_unknown_data_type) {
  ::onnx::ModelProto m = simple_model();
  m.mutable_graph()->mutable_initializer(0)->set_data_type(99);
  TempDir dir;
  auto model = load_proto(m, dir.path());
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"'w'", "data_type 99"});
}

TEST(ModelIo, rejects_node_that_breaks_its_op_schema) {
  TempDir dir;
  {
    ::onnx::ModelProto m = simple_model();
    m.mutable_graph()->mutable_node(0)->mutable_input()->RemoveLast();  // Add with one input
    auto model = load_proto(m, dir.path());
    ASSERT_FALSE(model.ok());
    expect_rejected(model.status(), StatusCode::kBadInput, {"model.onnx", "Add 'add0'", "input"});
  }
  {
    ::onnx::ModelProto m = simple_model();
    auto* a = m.mutable_graph()->mutable_node(0)->add_attribute();
    a->set_name("alpha");
    a->set_type(::onnx::AttributeProto::FLOAT);
    a->set_f(1.0f);
    auto model = load_proto(m, dir.path());
    ASSERT_FALSE(model.ok());
    expect_rejected(model.status(), StatusCode::kBadInput, {"Add 'add0'", "alpha"});
  }
  {
    // Conv with strides given as floats instead of ints.
    ::onnx::ModelProto m = simple_model();
    auto* g = m.mutable_graph();
    auto* conv = add_node(g, "Conv", {"x", "w"}, {"c"}, "conv_bad");
    auto* a = conv->add_attribute();
    a->set_name("strides");
    a->set_type(::onnx::AttributeProto::FLOATS);
    a->add_floats(1.0f);
    auto model = load_proto(m, dir.path());
    ASSERT_FALSE(model.ok());
    expect_rejected(model.status(), StatusCode::kBadInput, {"Conv 'conv_bad'", "strides"});
  }
}

TEST(ModelIo, rejects_model_without_graph) {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  TempDir dir;
  auto model = load_proto(m, dir.path());
  ASSERT_FALSE(model.ok());
  expect_rejected(model.status(), StatusCode::kBadInput, {"model.onnx", "no graph"});
}

}  // namespace
}  // namespace mixq
