// Shape functions of the elementwise and shape-computing ops, with symbolic dims.
#include <gtest/gtest.h>

#include "graph_builder.h"
#include "mixq/ir/op_schema.h"

namespace mixq {
namespace {

using testing::GraphBuilder;
using testing::set_int;
using testing::set_ints;
using testing::type_string;

ir::Tensor i64(std::vector<int64_t> v) {
  return ir::Tensor::from_int64s({static_cast<int64_t>(v.size())}, v);
}

TEST(InferElementwise, BroadcastsSymbolicAndKnownDims) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {"batch", "seq", 128});
  auto* y = b.input("y", DType::kFloat32, {1, "seq", 1});
  auto* z = b.input("z", DType::kFloat32, {128});
  auto* s = b.node("Add", {x, y})[0];
  auto* t = b.node("Mul", {s, z})[0];
  auto* c = b.node("Less", {t, x})[0];
  auto* w = b.node("Where", {c, x, t})[0];
  auto r = b.infer();
  EXPECT_EQ(type_string(r, s), "float32[batch, seq, 128]");
  EXPECT_EQ(type_string(r, t), "float32[batch, seq, 128]");
  EXPECT_EQ(type_string(r, c), "bool[batch, seq, 128]");
  EXPECT_EQ(type_string(r, w), "float32[batch, seq, 128]");
}

TEST(InferElementwise, rejects_incompatible_broadcast) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {2, 3});
  auto* y = b.input("y", DType::kFloat32, {4, 3});
  b.node("Add", {x, y});
  auto r = b.infer();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kBadInput);
  EXPECT_NE(r.status().message().find("Add 'Add_0'"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("[2, 3]"), std::string::npos);
}

TEST(InferElementwise, LegacyBroadcastKeepsFirstInputShape) {
  GraphBuilder b(6);
  auto* x = b.input("x", DType::kFloat32, {2, 3, 4});
  auto* y = b.input("y", DType::kFloat32, {3});
  auto* s = b.node("Add", {x, y}, 1, [](ir::Node& n) {
    set_int(n, "broadcast", 1);
    set_int(n, "axis", 1);
  })[0];
  EXPECT_EQ(type_string(b.infer(), s), "float32[2, 3, 4]");
}

TEST(InferElementwise, CastReadsNumericAndLegacyStringTypes) {
  GraphBuilder b(6);
  auto* x = b.input("x", DType::kFloat32, {2});
  auto* c6 = b.node("Cast", {x}, 1, [](ir::Node& n) { set_int(n, "to", 10); })[0];
  EXPECT_EQ(type_string(b.infer(), c6), "float16[2]");
  GraphBuilder old(1);
  auto* x1 = old.input("x", DType::kFloat32, {2});
  auto* c1 =
      old.node("Cast", {x1}, 1, [](ir::Node& n) { testing::set_string(n, "to", "INT64"); })[0];
  EXPECT_EQ(type_string(old.infer(), c1), "int64[2]");
}

// The pattern PyTorch exports for splitting heads with dynamic batch and sequence:
//   shape = Concat(Gather(Shape(x), 0), Gather(Shape(x), 1), [4], [-1]); Reshape(x, shape)
// and merging them back with Reshape(y, [0, 0, -1]).
TEST(InferShapeOps, SymbolicReshapeThroughShapeArithmetic) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {"batch", "seq", 128});
  auto* shp = b.node("Shape", {x})[0];
  auto* i0 = b.constant("i0", ir::Tensor::from_int64s({}, {0}));
  auto* i1 = b.constant("i1", ir::Tensor::from_int64s({}, {1}));
  auto* axes = b.constant("axes", i64({0}));
  auto* d0 = b.node("Gather", {shp, i0}, 1, [](ir::Node& n) { set_int(n, "axis", 0); })[0];
  auto* d1 = b.node("Gather", {shp, i1}, 1, [](ir::Node& n) { set_int(n, "axis", 0); })[0];
  auto* u0 = b.node("Unsqueeze", {d0, axes})[0];
  auto* u1 = b.node("Unsqueeze", {d1, axes})[0];
  auto* heads = b.constant("heads", i64({4}));
  auto* minus1 = b.constant("minus1", i64({-1}));
  auto* target =
      b.node("Concat", {u0, u1, heads, minus1}, 1, [](ir::Node& n) { set_int(n, "axis", 0); })[0];
  auto* split = b.node("Reshape", {x, target})[0];
  auto* merged = b.node("Reshape", {split, b.constant("back", i64({0, 0, -1}))})[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, shp), "int64[3]");
  EXPECT_EQ(type_string(r, target), "int64[4]");
  EXPECT_EQ(type_string(r, split), "float32[batch, seq, 4, 32]");
  EXPECT_EQ(type_string(r, merged), "float32[batch, seq, 128]");
  ASSERT_TRUE(r->data.count(target));
  EXPECT_EQ(ir::shape_to_string(r->data.at(target)), "[batch, seq, 4, -1]");
}

TEST(InferShapeOps, ReshapeMinusOneDividesSymbolicProducts) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {"batch", "seq", 4, 32});
  auto* y = b.node("Reshape", {x, b.constant("s", i64({-1, 128}))})[0];
  EXPECT_EQ(type_string(b.infer(), y), "float32[batch*seq, 128]");
}

TEST(InferShapeOps, rejects_reshape_with_wrong_element_count) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {2, 3});
  b.node("Reshape", {x, b.constant("s", i64({4, 2}))});
  auto r = b.infer();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Reshape 'Reshape_0'"), std::string::npos);
  EXPECT_NE(r.status().message().find("6 elements"), std::string::npos) << r.status().message();
}

TEST(InferShapeOps, rejects_reshape_with_two_minus_ones) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {2, 3});
  b.node("Reshape", {x, b.constant("s", i64({-1, -1}))});
  auto r = b.infer();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("more than one -1"), std::string::npos);
}

TEST(InferShapeOps, SliceOfShapeAndSymbolicDims) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {"batch", "seq", 64});
  auto* shp = b.node("Shape", {x})[0];
  auto* tail = b.node("Slice", {shp, b.constant("st", i64({1})), b.constant("en", i64({3}))})[0];
  // Slicing the whole symbolic dim keeps it; a part of it makes it unknown.
  auto* whole = b.node("Slice", {x, b.constant("s0", i64({0})), b.constant("e0", i64({INT64_MAX})),
                                 b.constant("a0", i64({1}))})[0];
  auto* part = b.node("Slice", {x, b.constant("s1", i64({1})), b.constant("e1", i64({-1})),
                                b.constant("a1", i64({1}))})[0];
  auto* known = b.node("Slice", {x, b.constant("s2", i64({10})), b.constant("e2", i64({0})),
                                 b.constant("a2", i64({2})), b.constant("p2", i64({-3}))})[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(ir::shape_to_string(r->data.at(tail)), "[seq, 64]");
  EXPECT_EQ(type_string(r, whole), "float32[batch, seq, 64]");
  EXPECT_EQ(type_string(r, part), "float32[batch, ?, 64]");
  EXPECT_EQ(type_string(r, known), "float32[batch, seq, 4]");  // 10, 7, 4, 1
}

TEST(InferShapeOps, SqueezeUnsqueezeConcatTranspose) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {"N", 1, 5});
  auto* sq = b.node("Squeeze", {x, b.constant("ax", i64({1}))})[0];
  auto* un = b.node("Unsqueeze", {sq, b.constant("ax2", i64({0, -1}))})[0];
  auto* cat = b.node("Concat", {un, un}, 1, [](ir::Node& n) { set_int(n, "axis", -1); })[0];
  auto* tr = b.node("Transpose", {cat}, 1, [](ir::Node& n) {
    set_ints(n, "perm", {3, 1, 2, 0});
  })[0];
  auto* fl = b.node("Flatten", {tr}, 1, [](ir::Node& n) { set_int(n, "axis", 2); })[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, sq), "float32[N, 5]");
  EXPECT_EQ(type_string(r, un), "float32[1, N, 5, 1]");
  EXPECT_EQ(type_string(r, cat), "float32[1, N, 5, 2]");
  EXPECT_EQ(type_string(r, tr), "float32[2, N, 5, 1]");
  EXPECT_EQ(type_string(r, fl), "float32[N*2, 5]");
}

TEST(InferShapeOps, rejects_squeeze_of_non_unit_dim) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {2, 3});
  b.node("Squeeze", {x, b.constant("ax", i64({1}))});
  auto r = b.infer();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("Squeeze 'Squeeze_0'"), std::string::npos);
  EXPECT_NE(r.status().message().find("size 3"), std::string::npos);
}

TEST(InferShapeOps, rejects_concat_rank_mismatch_and_bad_axis) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {2, 3});
  auto* y = b.input("y", DType::kFloat32, {2, 3, 4});
  b.node("Concat", {x, y}, 1, [](ir::Node& n) { set_int(n, "axis", 0); });
  EXPECT_FALSE(b.infer().ok());
  GraphBuilder c(13);
  auto* p = c.input("p", DType::kFloat32, {2, 3});
  c.node("Concat", {p, p}, 1, [](ir::Node& n) { set_int(n, "axis", 2); });
  auto r = c.infer();
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("axis 2 is out of range"), std::string::npos);
}

TEST(InferShapeOps, ConstantOfShapeRangeExpandFromTrackedValues) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {"batch", 8});
  auto* shp = b.node("Shape", {x})[0];
  auto* zeros = b.node("ConstantOfShape", {shp})[0];
  auto* range = b.node("Range", {b.constant("a", ir::Tensor::from_int64s({}, {2})),
                                 b.constant("l", ir::Tensor::from_int64s({}, {11})),
                                 b.constant("d", ir::Tensor::from_int64s({}, {3}))})[0];
  auto* ex = b.node("Expand", {b.input("one", DType::kFloat32, {1, 1}), shp})[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, zeros), "float32[batch, 8]");
  EXPECT_EQ(type_string(r, range), "int64[3]");
  EXPECT_EQ(ir::shape_to_string(r->data.at(range)), "[2, 5, 8]");
  EXPECT_EQ(type_string(r, ex), "float32[batch, 8]");
}

TEST(InferShapeOps, BindingDimsAndInputShapes) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {"batch", "seq"});
  auto* y = b.node("Relu", {x})[0];
  ir::InferOptions opts;
  opts.dim_values["batch"] = 2;
  EXPECT_EQ(type_string(b.infer(opts), y), "float32[2, seq]");
  opts.input_shapes["x"] = ir::shape_from_ints({3, 7});
  EXPECT_EQ(type_string(b.infer(opts), y), "float32[3, 7]");
}

TEST(InferShapeOps, UnknownOpLeavesOutputsUnknownWithoutError) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {2});
  auto* y = b.node("FancyCustomOp", {x}, 1, nullptr, "com.example")[0];
  auto* z = b.node("Relu", {y})[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->unknown_ops.size(), 1u);
  EXPECT_EQ(r->unknown_ops[0]->op_type(), "FancyCustomOp");
  EXPECT_EQ(type_string(r, z), "?");
}

TEST(OpSchema, RegistryIsSortedAndVersioned) {
  const auto& all = ir::all_op_schemas();
  ASSERT_FALSE(all.empty());
  for (size_t i = 1; i < all.size(); ++i) {
    const auto& a = all[i - 1];
    const auto& c = all[i];
    EXPECT_TRUE(std::tie(a.domain, a.op_type, a.since_version) <
                std::tie(c.domain, c.op_type, c.since_version));
  }
  EXPECT_NE(ir::find_op_schema("", "Relu", 1), nullptr);
  EXPECT_NE(ir::find_op_schema("ai.onnx", "Relu", 21), nullptr);
  EXPECT_EQ(ir::find_op_schema("", "Relu", 22), nullptr) << "opsets above 21 are not claimed";
  EXPECT_EQ(ir::find_op_schema("", "Gelu", 19), nullptr) << "Gelu first appears in opset 20";
  EXPECT_NE(ir::find_op_schema("", "Gelu", 20), nullptr);
}

}  // namespace
}  // namespace mixq
