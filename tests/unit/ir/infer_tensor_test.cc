// Shape functions of the tensor, reduce, quantization and control-flow families: inline cases
// with symbolic dims, and rejects_* for nodes the spec makes definitely invalid.
#include <gtest/gtest.h>

#include "graph_builder.h"
#include "mixq/ir/op_schema.h"

namespace mixq {
namespace {

using ir::Shape;
using testing::GraphBuilder;
using testing::set_graph;
using testing::set_int;
using testing::set_ints;
using testing::type_string;

ir::Tensor i64(std::vector<int64_t> v) {
  return ir::Tensor::from_int64s({static_cast<int64_t>(v.size())}, v);
}
ir::Tensor i64_scalar(int64_t v) { return ir::Tensor::from_int64s({}, {v}); }
ir::Tensor bool_scalar(bool v) {
  return ir::Tensor::from_buffer(DType::kBool, {}, ir::Buffer::adopt(std::string(1, v ? 1 : 0)))
      .value();
}

// Asserts a bad-input error that names the node and contains `text`.
void expect_rejected(const Expected<ir::InferenceResult>& r, const std::string& node,
                     const std::string& text) {
  ASSERT_FALSE(r.ok()) << "inference should have failed";
  EXPECT_EQ(r.status().code(), StatusCode::kBadInput);
  EXPECT_NE(r.status().message().find(node), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().message();
}

// --- Subgraph construction (If/Loop/Scan bodies) ----------------------------------------------

ir::Value* sub_input(ir::Graph& g, const std::string& name, ir::ValueType t = {}) {
  ir::Value* v = g.create_value(name);
  v->set_type(std::move(t));
  g.add_input(v);
  return v;
}

// Adds a one-output node to `g`; inputs from enclosing graphs are recorded as outer uses.
ir::Value* sub_node(ir::Graph& g, const std::string& op, std::vector<ir::Value*> inputs,
                    const std::string& out, const std::function<void(ir::Node&)>& attrs = nullptr) {
  ir::Node* n = g.add_node(op, "", out + "_node");
  for (ir::Value* v : inputs) {
    if (v && v->graph() != &g) g.note_outer_use(v);
    n->add_input(v);
  }
  ir::Value* o = g.create_value(out);
  EXPECT_TRUE(n->add_output(o).ok());
  if (attrs) attrs(*n);
  return o;
}

ir::ValueType tensor(DType t, Shape s) { return ir::ValueType::tensor(t, std::move(s)); }

// --- Split -------------------------------------------------------------------------------------

TEST(InferTensor, SplitNumOutputsGivesSmallerLastChunk) {
  GraphBuilder b(18);
  auto* x = b.input("x", DType::kFloat32, {"batch", 7});
  auto outs = b.node("Split", {x}, 3, [](ir::Node& n) {
    set_int(n, "axis", -1);
    set_int(n, "num_outputs", 3);
  });
  auto r = b.infer();
  EXPECT_EQ(type_string(r, outs[0]), "float32[batch, 3]");
  EXPECT_EQ(type_string(r, outs[1]), "float32[batch, 3]");
  EXPECT_EQ(type_string(r, outs[2]), "float32[batch, 1]");
}

TEST(InferTensor, SplitSizesFromInputAttributeAndEqualParts) {
  GraphBuilder b13(13);
  auto* x = b13.input("x", DType::kFloat16, {"batch", 10, "seq"});
  auto parts = b13.node("Split", {x, b13.constant("s", i64({3, 7}))}, 2,
                        [](ir::Node& n) { set_int(n, "axis", 1); });
  auto even = b13.node("Split", {x}, 5, [](ir::Node& n) { set_int(n, "axis", 1); });
  auto r = b13.infer();
  EXPECT_EQ(type_string(r, parts[0]), "float16[batch, 3, seq]");
  EXPECT_EQ(type_string(r, parts[1]), "float16[batch, 7, seq]");
  EXPECT_EQ(type_string(r, even[4]), "float16[batch, 2, seq]");

  GraphBuilder b11(11);  // the `split` attribute form
  auto* y = b11.input("y", DType::kFloat32, {4, "n"});
  auto pieces = b11.node("Split", {y}, 2, [](ir::Node& n) { set_ints(n, "split", {1, 3}); });
  auto r11 = b11.infer();
  EXPECT_EQ(type_string(r11, pieces[0]), "float32[1, n]");
  EXPECT_EQ(type_string(r11, pieces[1]), "float32[3, n]");
}

TEST(InferTensor, SplitOfTrackedShapeKeepsSymbolicValues) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {"batch", "seq", 64});
  auto* shp = b.node("Shape", {x})[0];
  auto parts = b.node("Split", {shp, b.constant("s", i64({2, 1}))}, 2);
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  ASSERT_TRUE(r->data.count(parts[0]));
  EXPECT_EQ(ir::shape_to_string(r->data.at(parts[0])), "[batch, seq]");
  EXPECT_EQ(ir::shape_to_string(r->data.at(parts[1])), "[64]");
}

TEST(InferTensor, rejects_split_sizes_not_summing_to_dim) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {2, 10});
  b.node("Split", {x, b.constant("s", i64({3, 4}))}, 2, [](ir::Node& n) { set_int(n, "axis", 1); });
  expect_rejected(b.infer(), "Split 'Split_0'", "sum to 7");
}

TEST(InferTensor, rejects_uneven_split_before_opset_18) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {7});
  b.node("Split", {x}, 2);
  expect_rejected(b.infer(), "Split 'Split_0'", "does not split evenly");
}

// --- Gather / Scatter / Tile / OneHot and the rest ---------------------------------------------

TEST(InferTensor, GatherNDWithBatchDims) {
  GraphBuilder b(13);
  auto* data = b.input("data", DType::kFloat32, {"B", 3, 4, 5});
  auto* idx1 = b.input("idx1", DType::kInt64, {"B", 6, 1});
  auto* idx2 = b.input("idx2", DType::kInt64, {"B", 6, 2});
  auto* idx0 = b.input("idx0", DType::kInt64, {6, 3});
  auto batch1 = [](ir::Node& n) { set_int(n, "batch_dims", 1); };
  auto* g1 = b.node("GatherND", {data, idx1}, 1, batch1)[0];
  auto* g2 = b.node("GatherND", {data, idx2}, 1, batch1)[0];
  auto* g0 = b.node("GatherND", {data, idx0})[0];
  auto r = b.infer();
  EXPECT_EQ(type_string(r, g1), "float32[B, 6, 4, 5]");
  EXPECT_EQ(type_string(r, g2), "float32[B, 6, 5]");
  EXPECT_EQ(type_string(r, g0), "float32[6, 5]");
}

TEST(InferTensor, rejects_gather_nd_tuple_longer_than_data_rank) {
  GraphBuilder b(13);
  auto* data = b.input("data", DType::kFloat32, {2, 3});
  auto* idx = b.input("idx", DType::kInt64, {4, 3});
  b.node("GatherND", {data, idx});
  expect_rejected(b.infer(), "GatherND 'GatherND_0'", "length 3");
}

TEST(InferTensor, GatherElementsScatterAndTile) {
  GraphBuilder b(13);
  auto* data = b.input("data", DType::kFloat32, {"N", 4});
  auto* idx = b.input("idx", DType::kInt64, {"N", 2});
  auto* upd = b.input("upd", DType::kFloat32, {"N", 2});
  auto* ge =
      b.node("GatherElements", {data, idx}, 1, [](ir::Node& n) { set_int(n, "axis", 1); })[0];
  auto* se = b.node("ScatterElements", {data, idx, upd})[0];
  auto* tile = b.node("Tile", {data, b.constant("rep", i64({2, 3}))})[0];
  auto r = b.infer();
  EXPECT_EQ(type_string(r, ge), "float32[N, 2]");
  EXPECT_EQ(type_string(r, se), "float32[N, 4]");
  EXPECT_EQ(type_string(r, tile), "float32[N*2, 12]");
}

TEST(InferTensor, rejects_scatter_elements_rank_mismatch) {
  GraphBuilder b(13);
  auto* data = b.input("data", DType::kFloat32, {3, 4});
  auto* idx = b.input("idx", DType::kInt64, {3});
  b.node("ScatterElements", {data, idx, idx});
  expect_rejected(b.infer(), "ScatterElements 'ScatterElements_0'", "rank 1");
}

TEST(InferTensor, rejects_tile_repeats_of_wrong_length) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {3, 4});
  b.node("Tile", {x, b.constant("rep", i64({2, 2, 2}))});
  expect_rejected(b.infer(), "Tile 'Tile_0'", "3 entries for input rank 2");
}

TEST(InferTensor, OneHotInsertsDepthAtAxisWithValuesDtype) {
  GraphBuilder b(11);
  auto* idx = b.input("idx", DType::kInt64, {"batch", 3});
  auto* values = b.input("values", DType::kInt32, {2});
  auto* depth = b.constant("depth", i64_scalar(10));
  auto* mid =
      b.node("OneHot", {idx, depth, values}, 1, [](ir::Node& n) { set_int(n, "axis", 1); })[0];
  auto* last = b.node("OneHot", {idx, depth, values})[0];
  auto* first =
      b.node("OneHot", {idx, depth, values}, 1, [](ir::Node& n) { set_int(n, "axis", -3); })[0];
  auto r = b.infer();
  EXPECT_EQ(type_string(r, mid), "int32[batch, 10, 3]");
  EXPECT_EQ(type_string(r, last), "int32[batch, 3, 10]");
  EXPECT_EQ(type_string(r, first), "int32[10, batch, 3]");
}

TEST(InferTensor, rejects_onehot_axis_out_of_range) {
  GraphBuilder b(11);
  auto* idx = b.input("idx", DType::kInt64, {2, 3});
  auto* values = b.input("values", DType::kFloat32, {2});
  b.node("OneHot", {idx, b.constant("d", i64_scalar(4)), values}, 1,
         [](ir::Node& n) { set_int(n, "axis", 3); });
  expect_rejected(b.infer(), "OneHot 'OneHot_0'", "axis 3 is out of range for rank 3");
}

TEST(InferTensor, DataDependentAndGeneratorOps) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {"N", 5});
  auto* nz = b.node("NonZero", {x})[0];
  auto uq = b.node("Unique", {x}, 4, [](ir::Node& n) { set_int(n, "axis", 1); });
  auto* eye = b.node("EyeLike", {x}, 1, [](ir::Node& n) { set_int(n, "dtype", 7); })[0];
  auto* rn = b.node("RandomNormal", {}, 1, [](ir::Node& n) {
    set_ints(n, "shape", {2, 3});
    set_int(n, "dtype", 10);
  })[0];
  auto* rl = b.node("RandomUniformLike", {x})[0];
  auto* mn = b.node("Multinomial", {x}, 1, [](ir::Node& n) { set_int(n, "sample_size", 4); })[0];
  auto* det = b.node("Det", {b.input("m", DType::kFloat64, {"B", 3, 3})})[0];
  auto r = b.infer();
  EXPECT_EQ(type_string(r, nz), "int64[2, ?]");
  EXPECT_EQ(type_string(r, uq[0]), "float32[N, ?]");
  EXPECT_EQ(type_string(r, uq[2]), "int64[5]");
  EXPECT_EQ(type_string(r, uq[3]), "int64[?]");
  EXPECT_EQ(type_string(r, eye), "int64[N, 5]");
  EXPECT_EQ(type_string(r, rn), "float16[2, 3]");
  EXPECT_EQ(type_string(r, rl), "float32[N, 5]");
  EXPECT_EQ(type_string(r, mn), "int32[N, 4]");
  EXPECT_EQ(type_string(r, det), "float64[B]");
}

TEST(InferTensor, ConstantInputsMakeDataDependentSizesKnown) {
  GraphBuilder b(13);
  auto* data = b.input("data", DType::kFloat32, {3, "n"});
  auto* cond = b.input("cond", DType::kBool, {3});
  auto* mask = b.input("mask", DType::kFloat32, {2, 3});
  auto* kept = b.node("Compress", {data, cond}, 1, [](ir::Node& n) { set_int(n, "axis", 0); })[0];
  auto* nz = b.node("NonZero", {mask})[0];
  ir::InferOptions opts;
  opts.input_values.emplace(
      "cond",
      ir::Tensor::from_buffer(DType::kBool, {3}, ir::Buffer::adopt(std::string("\1\0\1", 3)))
          .value());
  opts.input_values.emplace("mask", ir::Tensor::from_floats({2, 3}, {0, 1, 2, 0, 0, 3}));
  auto stat = b.infer();
  EXPECT_EQ(type_string(stat, kept), "float32[?, n]");
  EXPECT_EQ(type_string(stat, nz), "int64[2, ?]");
  auto bound = b.infer(opts);
  EXPECT_EQ(type_string(bound, kept), "float32[2, n]");
  EXPECT_EQ(type_string(bound, nz), "int64[2, 3]");
}

// --- Reductions --------------------------------------------------------------------------------

TEST(InferReduce, AxesAttributeBeforeInputForm) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {"batch", "seq", 128});
  auto* keep = b.node("ReduceMean", {x}, 1, [](ir::Node& n) { set_ints(n, "axes", {-1}); })[0];
  auto* drop = b.node("ReduceMax", {x}, 1, [](ir::Node& n) {
    set_ints(n, "axes", {1});
    set_int(n, "keepdims", 0);
  })[0];
  auto* all = b.node("ReduceL2", {x}, 1, [](ir::Node& n) { set_int(n, "keepdims", 0); })[0];
  // ReduceSum takes axes as an input from opset 13.
  auto* sum = b.node("ReduceSum", {x, b.constant("ax", i64({0, 2}))})[0];
  auto r = b.infer();
  EXPECT_EQ(type_string(r, keep), "float32[batch, seq, 1]");
  EXPECT_EQ(type_string(r, drop), "float32[batch, 128]");
  EXPECT_EQ(type_string(r, all), "float32[]");
  EXPECT_EQ(type_string(r, sum), "float32[1, seq, 1]");
}

TEST(InferReduce, AxesInputNoopAndUnknownAxes) {
  GraphBuilder b(18);
  auto* x = b.input("x", DType::kFloat32, {"batch", 1, 128});
  auto* axes = b.input("axes", DType::kInt64, {"k"});
  auto* by_input = b.node("ReduceMean", {x, b.constant("ax", i64({1, 2}))}, 1,
                          [](ir::Node& n) { set_int(n, "keepdims", 0); })[0];
  auto* noop =
      b.node("ReduceProd", {x}, 1, [](ir::Node& n) { set_int(n, "noop_with_empty_axes", 1); })[0];
  auto* empty_all = b.node("ReduceLogSumExp", {x})[0];
  auto* unknown_keep = b.node("ReduceSumSquare", {x, axes})[0];
  auto* unknown_drop =
      b.node("ReduceL1", {x, axes}, 1, [](ir::Node& n) { set_int(n, "keepdims", 0); })[0];
  auto r = b.infer();
  EXPECT_EQ(type_string(r, by_input), "float32[batch]");
  EXPECT_EQ(type_string(r, noop), "float32[batch, 1, 128]");
  EXPECT_EQ(type_string(r, empty_all), "float32[1, 1, 1]");
  EXPECT_EQ(type_string(r, unknown_keep), "float32[?, 1, ?]");
  EXPECT_EQ(type_string(r, unknown_drop), "float32[?rank]");
}

TEST(InferReduce, ReduceProdOfShapeTracksElementCount) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {"batch", "seq", 4});
  auto* n = b.node("ReduceProd", {b.node("Shape", {x})[0]})[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, n), "int64[1]");
  EXPECT_EQ(ir::shape_to_string(r->data.at(n)), "[batch*seq*4]");
}

TEST(InferReduce, rejects_reduce_axis_out_of_range) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {2, 3});
  b.node("ReduceMin", {x}, 1, [](ir::Node& n) { set_ints(n, "axes", {2}); });
  expect_rejected(b.infer(), "ReduceMin 'ReduceMin_0'", "axes entry 2 is out of range");
}

TEST(InferReduce, ArgMaxArgMinGiveInt64) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat16, {"batch", "seq", 10});
  auto* keep = b.node("ArgMax", {x}, 1, [](ir::Node& n) {
    set_int(n, "axis", -1);
    set_int(n, "select_last_index", 1);
  })[0];
  auto* drop = b.node("ArgMin", {x}, 1, [](ir::Node& n) {
    set_int(n, "axis", 1);
    set_int(n, "keepdims", 0);
  })[0];
  auto r = b.infer();
  EXPECT_EQ(type_string(r, keep), "int64[batch, seq, 1]");
  EXPECT_EQ(type_string(r, drop), "int64[batch, 10]");
}

TEST(InferReduce, rejects_argmax_axis_out_of_range) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {2, 3, 4});
  b.node("ArgMax", {x}, 1, [](ir::Node& n) { set_int(n, "axis", 3); });
  expect_rejected(b.infer(), "ArgMax 'ArgMax_0'", "axis 3 is out of range for rank 3");
}

TEST(InferReduce, TopKWithConstantAttributeAndTrackedK) {
  GraphBuilder b(11);
  auto* x = b.input("x", DType::kFloat32, {"batch", 100});
  auto k5 = b.node("TopK", {x, b.constant("k", i64({5}))}, 2);
  auto* shp = b.node("Shape", {x})[0];
  auto* kb = b.node("Slice", {shp, b.constant("s", i64({0})), b.constant("e", i64({1}))})[0];
  auto kx = b.node("TopK", {b.input("y", DType::kFloat32, {"batch", "batch"}), kb}, 2,
                   [](ir::Node& n) { set_int(n, "axis", 0); });
  auto ku = b.node("TopK", {x, b.input("kin", DType::kInt64, {1})}, 2);
  auto r = b.infer();
  EXPECT_EQ(type_string(r, k5[0]), "float32[batch, 5]");
  EXPECT_EQ(type_string(r, k5[1]), "int64[batch, 5]");
  EXPECT_EQ(type_string(r, kx[0]), "float32[batch, batch]");
  EXPECT_EQ(type_string(r, ku[1]), "int64[batch, ?]");

  GraphBuilder b1(1);  // TopK-1: k is an attribute
  auto* x1 = b1.input("x", DType::kFloat32, {3, 8});
  auto t1 = b1.node("TopK", {x1}, 2, [](ir::Node& n) { set_int(n, "k", 2); });
  EXPECT_EQ(type_string(b1.infer(), t1[1]), "int64[3, 2]");
}

TEST(InferReduce, rejects_topk_k_larger_than_axis) {
  GraphBuilder b(11);
  auto* x = b.input("x", DType::kFloat32, {2, 4});
  b.node("TopK", {x, b.constant("k", i64({5}))}, 2);
  expect_rejected(b.infer(), "TopK 'TopK_0'", "k is 5");
}

// --- Quantization ------------------------------------------------------------------------------

TEST(InferQuant, PerTensorAndPerAxisDtypes) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {"N", 3, 8, 8});
  auto* s = b.input("s", DType::kFloat32, {});
  auto* q_default = b.node("QuantizeLinear", {x, s})[0];
  auto* sc = b.input("sc", DType::kFloat32, {3});
  auto* zc = b.input("zc", DType::kInt8, {3});
  auto* q_axis = b.node("QuantizeLinear", {x, sc, zc})[0];
  auto* dq = b.node("DequantizeLinear", {q_axis, sc, zc})[0];
  auto dyn = b.node("DynamicQuantizeLinear", {x}, 3);
  auto r = b.infer();
  EXPECT_EQ(type_string(r, q_default), "uint8[N, 3, 8, 8]");
  EXPECT_EQ(type_string(r, q_axis), "int8[N, 3, 8, 8]");
  EXPECT_EQ(type_string(r, dq), "float32[N, 3, 8, 8]");
  EXPECT_EQ(type_string(r, dyn[0]), "uint8[N, 3, 8, 8]");
  EXPECT_EQ(type_string(r, dyn[1]), "float32[]");
  EXPECT_EQ(type_string(r, dyn[2]), "uint8[]");
}

TEST(InferQuant, Opset19And21OutputTypes) {
  GraphBuilder b(21);
  auto* x = b.input("x", DType::kFloat32, {"N", 64});
  auto* s = b.input("s", DType::kFloat32, {});
  // FLOAT8E4M3FN (17) from output_dtype, no zero point.
  auto* f8 =
      b.node("QuantizeLinear", {x, s}, 1, [](ir::Node& n) { set_int(n, "output_dtype", 17); })[0];
  // Blocked INT4 (22): scale and zero point [N, 64 / 32].
  auto* bs = b.input("bs", DType::kFloat32, {"N", 2});
  auto* bz = b.input("bz", DType::kInt4, {"N", 2});
  auto blocked = [](ir::Node& n) {
    set_int(n, "axis", 1);
    set_int(n, "block_size", 32);
  };
  auto* q4 = b.node("QuantizeLinear", {x, bs, bz}, 1, blocked)[0];
  auto* q4_attr = b.node("QuantizeLinear", {x, bs}, 1, [&](ir::Node& n) {
    blocked(n);
    set_int(n, "output_dtype", 22);
  })[0];
  // DequantizeLinear-19+: the scale's dtype is the output's.
  auto* h = b.input("h", DType::kFloat16, {});
  auto* dq16 = b.node("DequantizeLinear", {f8, h})[0];
  auto* dq4 = b.node("DequantizeLinear", {q4, bs, bz}, 1, blocked)[0];
  auto r = b.infer();
  EXPECT_EQ(type_string(r, f8), "float8e4m3fn[N, 64]");
  EXPECT_EQ(type_string(r, q4), "int4[N, 64]");
  EXPECT_EQ(type_string(r, q4_attr), "int4[N, 64]");
  EXPECT_EQ(type_string(r, dq16), "float16[N, 64]");
  EXPECT_EQ(type_string(r, dq4), "float32[N, 64]");
}

TEST(InferQuant, rejects_per_axis_scale_of_wrong_length) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {"N", 3, 8});
  b.node("QuantizeLinear", {x, b.input("s", DType::kFloat32, {4})});
  expect_rejected(b.infer(), "QuantizeLinear 'QuantizeLinear_0'", "4 entries, but x has 3");
}

TEST(InferQuant, rejects_blocked_scale_that_does_not_match) {
  GraphBuilder b(21);
  auto* x = b.input("x", DType::kInt8, {16, 64});
  b.node("DequantizeLinear", {x, b.input("s", DType::kFloat32, {16, 3})}, 1,
         [](ir::Node& n) { set_int(n, "block_size", 32); });
  expect_rejected(b.infer(), "DequantizeLinear 'DequantizeLinear_0'", "block_size 32");
}

TEST(InferQuant, rejects_two_dimensional_scale_without_block_size) {
  GraphBuilder b(19);
  auto* x = b.input("x", DType::kFloat32, {16, 64});
  b.node("QuantizeLinear", {x, b.input("s", DType::kFloat32, {16, 2})});
  expect_rejected(b.infer(), "QuantizeLinear 'QuantizeLinear_0'", "scalar or 1-D");
}

TEST(InferQuant, rejects_output_dtype_that_contradicts_zero_point) {
  GraphBuilder b(21);
  auto* x = b.input("x", DType::kFloat32, {4});
  b.node("QuantizeLinear", {x, b.input("s", DType::kFloat32, {}), b.input("z", DType::kInt8, {})},
         1, [](ir::Node& n) { set_int(n, "output_dtype", 2); });
  expect_rejected(b.infer(), "QuantizeLinear 'QuantizeLinear_0'", "output_dtype uint8");
}

TEST(InferQuant, rejects_zero_point_shape_unlike_scale) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kInt8, {2, 3});
  b.node("DequantizeLinear",
         {x, b.input("s", DType::kFloat32, {3}), b.input("z", DType::kInt8, {2})});
  expect_rejected(b.infer(), "DequantizeLinear 'DequantizeLinear_0'", "zero point shape [2]");
}

// --- Control flow ------------------------------------------------------------------------------

// If with branches returning outer values of different shapes:
//   then: (x [batch, 4], m [2, 3])   else: (y [batch, 8], v [6])   ->   [batch, ?], ?rank
TEST(InferControl, IfMergesBranchShapes) {
  GraphBuilder b(17);
  auto* cond = b.input("cond", DType::kBool, {});
  auto* x = b.input("x", DType::kFloat32, {"batch", 4});
  auto* y = b.input("y", DType::kFloat32, {"batch", 8});
  auto* m = b.input("m", DType::kInt64, {2, 3});
  auto* v = b.input("v", DType::kInt64, {6});
  auto outs = b.node("If", {cond}, 2, [&](ir::Node& n) {
    auto then_g = std::make_unique<ir::Graph>(&b.graph(), &n);
    then_g->add_output(sub_node(*then_g, "Identity", {x}, "t0"));
    then_g->add_output(sub_node(*then_g, "Identity", {m}, "t1"));
    auto else_g = std::make_unique<ir::Graph>(&b.graph(), &n);
    else_g->add_output(sub_node(*else_g, "Identity", {y}, "e0"));
    else_g->add_output(sub_node(*else_g, "Identity", {v}, "e1"));
    set_graph(n, "then_branch", std::move(then_g));
    set_graph(n, "else_branch", std::move(else_g));
  });
  auto r = b.infer();
  EXPECT_EQ(type_string(r, outs[0]), "float32[batch, ?]");
  EXPECT_EQ(type_string(r, outs[1]), "int64[?rank]");

  // A known condition picks its branch.
  ir::InferOptions opts;
  opts.input_values.emplace("cond", bool_scalar(false));
  auto picked = b.infer(opts);
  EXPECT_EQ(type_string(picked, outs[0]), "float32[batch, 8]");
  EXPECT_EQ(type_string(picked, outs[1]), "int64[6]");
}

TEST(InferControl, rejects_if_branches_with_different_dtypes) {
  GraphBuilder b(17);
  auto* cond = b.input("cond", DType::kBool, {});
  auto* x = b.input("x", DType::kFloat32, {4});
  auto* y = b.input("y", DType::kFloat16, {4});
  b.node("If", {cond}, 1, [&](ir::Node& n) {
    auto then_g = std::make_unique<ir::Graph>(&b.graph(), &n);
    then_g->add_output(sub_node(*then_g, "Identity", {x}, "t0"));
    auto else_g = std::make_unique<ir::Graph>(&b.graph(), &n);
    else_g->add_output(sub_node(*else_g, "Identity", {y}, "e0"));
    set_graph(n, "then_branch", std::move(then_g));
    set_graph(n, "else_branch", std::move(else_g));
  });
  expect_rejected(b.infer(), "If 'If_0'", "float32 vs float16");
}

// Loop M=5 without cond (a for-loop):
//   body(i, c, acc [batch, 4], buf [k]) -> (c, acc + acc, Concat(buf, buf), scan = Relu(acc))
// acc keeps its shape, buf grows (its final length is unknown), scan stacks 5 x [batch, 4].
TEST(InferControl, LoopCarriedValuesAndScanOutputs) {
  GraphBuilder b(17);
  auto* acc0 = b.input("acc0", DType::kFloat32, {"batch", 4});
  auto* buf0 = b.input("buf0", DType::kInt64, {2});
  auto* trips = b.constant("M", i64_scalar(5));
  ir::Value* grown = nullptr;
  auto outs = b.node("Loop", {trips, nullptr, acc0, buf0}, 3, [&](ir::Node& n) {
    auto g = std::make_unique<ir::Graph>(&b.graph(), &n);
    sub_input(*g, "i", tensor(DType::kInt64, {}));
    auto* c = sub_input(*g, "c", tensor(DType::kBool, {}));
    auto* acc = sub_input(*g, "acc");
    auto* buf = sub_input(*g, "buf");
    g->add_output(sub_node(*g, "Identity", {c}, "c_out"));
    g->add_output(sub_node(*g, "Add", {acc, acc}, "acc_out"));
    grown =
        sub_node(*g, "Concat", {buf, buf}, "buf_out", [](ir::Node& k) { set_int(k, "axis", 0); });
    g->add_output(grown);
    g->add_output(sub_node(*g, "Relu", {acc}, "scan"));
    set_graph(n, "body", std::move(g));
  });
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, outs[0]), "float32[batch, 4]");
  EXPECT_EQ(type_string(r, outs[1]), "int64[?]");
  EXPECT_EQ(type_string(r, outs[2]), "float32[5, batch, 4]");
  // The body was re-inferred with the merged state type: no stale "[4]" inside.
  EXPECT_EQ(type_string(r, grown), "int64[?]");
}

// A true cond that the body passes through unchanged runs M times; a dynamic cond (or one the
// body computes) may stop the loop early, leaving the iteration count unknown.
TEST(InferControl, LoopIterationCountFollowsCond) {
  GraphBuilder b(17);
  auto* acc0 = b.input("acc0", DType::kFloat32, {"batch", 4});
  auto* dynamic = b.input("cond", DType::kBool, {});
  auto* always = b.constant("always", bool_scalar(true));
  auto* trips = b.constant("M", i64_scalar(5));
  auto loop = [&](ir::Value* cond, const std::string& cond_op) {
    return b.node("Loop", {trips, cond, acc0}, 2, [&](ir::Node& n) {
      auto g = std::make_unique<ir::Graph>(&b.graph(), &n);
      sub_input(*g, "i", tensor(DType::kInt64, {}));
      auto* c = sub_input(*g, "c", tensor(DType::kBool, {}));
      auto* acc = sub_input(*g, "acc");
      g->add_output(sub_node(*g, cond_op, {c}, "c_out"));
      g->add_output(sub_node(*g, "Identity", {acc}, "acc_out"));
      g->add_output(sub_node(*g, "Relu", {acc}, "scan"));
      set_graph(n, "body", std::move(g));
    });
  };
  auto fixed = loop(always, "Identity");
  auto early = loop(dynamic, "Identity");
  auto computed = loop(always, "Not");
  auto r = b.infer();
  EXPECT_EQ(type_string(r, fixed[0]), "float32[batch, 4]");
  EXPECT_EQ(type_string(r, fixed[1]), "float32[5, batch, 4]");
  EXPECT_EQ(type_string(r, early[1]), "float32[?, batch, 4]");
  EXPECT_EQ(type_string(r, computed[1]), "float32[?, batch, 4]");
}

TEST(InferControl, rejects_loop_carried_dtype_change) {
  GraphBuilder b(17);
  auto* acc0 = b.input("acc0", DType::kFloat32, {4});
  auto outs = b.node("Loop", {b.constant("M", i64_scalar(3)), nullptr, acc0}, 1, [&](ir::Node& n) {
    auto g = std::make_unique<ir::Graph>(&b.graph(), &n);
    sub_input(*g, "i", tensor(DType::kInt64, {}));
    auto* c = sub_input(*g, "c", tensor(DType::kBool, {}));
    auto* acc = sub_input(*g, "acc");
    g->add_output(sub_node(*g, "Identity", {c}, "c_out"));
    g->add_output(sub_node(*g, "Cast", {acc}, "acc_out", [](ir::Node& k) { set_int(k, "to", 7); }));
    set_graph(n, "body", std::move(g));
  });
  expect_rejected(b.infer(), "Loop 'Loop_0'", "loop-carried value 0: float32 vs int64");
}

// Scan-9+: x [batch, T, 8] scanned along axis 1; state [batch, 8] accumulates each step's
// slice; scan output stacked along axis 1 again.
TEST(InferControl, ScanWithInputAndOutputAxes) {
  GraphBuilder b(17);
  auto* s0 = b.input("s0", DType::kFloat32, {"batch", 8});
  auto* x = b.input("x", DType::kFloat32, {"batch", "T", 8});
  auto outs = b.node("Scan", {s0, x}, 2, [&](ir::Node& n) {
    set_int(n, "num_scan_inputs", 1);
    set_ints(n, "scan_input_axes", {1});
    set_ints(n, "scan_output_axes", {-1});
    auto g = std::make_unique<ir::Graph>(&b.graph(), &n);
    auto* s = sub_input(*g, "s");
    auto* xs = sub_input(*g, "xs");
    auto* sum = sub_node(*g, "Add", {s, xs}, "sum");
    g->add_output(sum);
    g->add_output(sub_node(*g, "Identity", {sum}, "step"));
    set_graph(n, "body", std::move(g));
  });
  auto r = b.infer();
  EXPECT_EQ(type_string(r, outs[0]), "float32[batch, 8]");
  EXPECT_EQ(type_string(r, outs[1]), "float32[batch, 8, T]");
}

// Scan-8: a leading batch dim on states and scan inputs, the sequence dim after it; the body
// sees per-batch, per-step slices.
TEST(InferControl, ScanOpset8BatchForm) {
  GraphBuilder b(8);
  auto* s0 = b.input("s0", DType::kFloat32, {"B", 2});
  auto* x = b.input("x", DType::kFloat32, {"B", 7, 2});
  ir::Value* step = nullptr;
  auto outs = b.node("Scan", {nullptr, s0, x}, 2, [&](ir::Node& n) {
    set_int(n, "num_scan_inputs", 1);
    auto g = std::make_unique<ir::Graph>(&b.graph(), &n);
    auto* s = sub_input(*g, "s");
    auto* xs = sub_input(*g, "xs");
    step = sub_node(*g, "Add", {s, xs}, "sum");
    g->add_output(step);
    g->add_output(sub_node(*g, "Identity", {step}, "out"));
    set_graph(n, "body", std::move(g));
  });
  auto r = b.infer();
  EXPECT_EQ(type_string(r, step), "float32[2]");
  EXPECT_EQ(type_string(r, outs[0]), "float32[B, 2]");
  EXPECT_EQ(type_string(r, outs[1]), "float32[B, 7, 2]");
}

TEST(InferControl, rejects_scan_inputs_with_different_lengths) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {5, 2});
  auto* y = b.input("y", DType::kFloat32, {6, 2});
  b.node("Scan", {x, y}, 1, [&](ir::Node& n) {
    set_int(n, "num_scan_inputs", 2);
    auto g = std::make_unique<ir::Graph>(&b.graph(), &n);
    auto* xs = sub_input(*g, "xs");
    auto* ys = sub_input(*g, "ys");
    g->add_output(sub_node(*g, "Add", {xs, ys}, "out"));
    set_graph(n, "body", std::move(g));
  });
  expect_rejected(b.infer(), "Scan 'Scan_0'", "sequence length 6");
}

TEST(OpSchemaTensor, FamiliesCoverTheirFirstOpsets) {
  EXPECT_EQ(ir::find_op_schema("", "Trilu", 13), nullptr);
  EXPECT_NE(ir::find_op_schema("", "Trilu", 14), nullptr);
  EXPECT_EQ(ir::find_op_schema("", "QuantizeLinear", 9), nullptr);
  EXPECT_NE(ir::find_op_schema("", "QuantizeLinear", 21), nullptr);
  EXPECT_NE(ir::find_op_schema("", "ReduceSum", 1), nullptr);
  EXPECT_EQ(ir::find_op_schema("", "Scan", 7), nullptr);
  EXPECT_NE(ir::find_op_schema("", "Scan", 8), nullptr);
}

}  // namespace
}  // namespace mixq
