// Shape-function unit tests for the math (MatMul, Gemm, Einsum, ...) and nn (Conv, pooling,
// normalization, Resize, Pad, ...) families: inline cases, symbolic dims, and rejects_* for
// invalid nodes.
#include <gtest/gtest.h>

#include "graph_builder.h"
#include "mixq/ir/op_schema.h"

namespace mixq {
namespace {

using testing::GraphBuilder;
using testing::set_float;
using testing::set_floats;
using testing::set_int;
using testing::set_ints;
using testing::set_string;
using testing::type_string;

ir::Tensor i64(std::vector<int64_t> v) {
  return ir::Tensor::from_int64s({static_cast<int64_t>(v.size())}, v);
}
ir::Tensor f32(std::vector<float> v) {
  return ir::Tensor::from_floats({static_cast<int64_t>(v.size())}, v);
}

// Inference must fail with a bad-input error that names `node` and contains `fragment`.
void expect_rejected(const GraphBuilder& b, const std::string& node, const std::string& fragment) {
  auto r = b.infer();
  ASSERT_FALSE(r.ok()) << "expected an error containing '" << fragment << "'";
  EXPECT_EQ(r.status().code(), StatusCode::kBadInput);
  EXPECT_NE(r.status().message().find(node), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find(fragment), std::string::npos) << r.status().message();
}

// --- MatMul, Gemm, Einsum -------------------------------------------------------------------

TEST(InferMath, MatMulBroadcastsBatchDimsAndPromotesVectors) {
  GraphBuilder b(13);
  auto* a = b.input("a", DType::kFloat32, {"B", 1, "S", 64});
  auto* w = b.input("w", DType::kFloat32, {8, 64, 16});
  auto* v = b.input("v", DType::kFloat32, {64});
  auto* batched = b.node("MatMul", {a, w})[0];
  auto* left_vec = b.node("MatMul", {v, w})[0];
  auto* right_vec = b.node("MatMul", {a, v})[0];
  auto* dot = b.node("MatMul", {v, v})[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, batched), "float32[B, 8, S, 16]");
  EXPECT_EQ(type_string(r, left_vec), "float32[8, 16]");
  EXPECT_EQ(type_string(r, right_vec), "float32[B, 1, S]");
  EXPECT_EQ(type_string(r, dot), "float32[]");
}

TEST(InferMath, rejects_matmul_inner_dim_mismatch) {
  GraphBuilder b(13);
  b.node("MatMul",
         {b.input("a", DType::kFloat32, {"N", 2, 3}), b.input("b", DType::kFloat32, {4, 5})});
  expect_rejected(b, "MatMul 'MatMul_0'", "inner dims differ");
}

TEST(InferMath, rejects_matmul_of_a_scalar) {
  GraphBuilder b(13);
  b.node("MatMul", {b.input("a", DType::kFloat32, {}), b.input("b", DType::kFloat32, {4, 5})});
  expect_rejected(b, "MatMul 'MatMul_0'", "rank >= 1");
}

TEST(InferMath, rejects_matmul_batch_dims_that_do_not_broadcast) {
  GraphBuilder b(13);
  b.node("MatMul",
         {b.input("a", DType::kFloat32, {3, 2, 4}), b.input("b", DType::kFloat32, {5, 4, 2})});
  expect_rejected(b, "MatMul 'MatMul_0'", "cannot broadcast");
}

TEST(InferMath, MatMulIntegerAndQLinearMatMulTypes) {
  GraphBuilder b(21);
  auto* a = b.input("a", DType::kUint8, {"N", 4, 8});
  auto* w = b.input("w", DType::kInt8, {8, 3});
  auto* s = b.input("s", DType::kFloat32, {});
  auto* a_zp = b.input("a_zp", DType::kUint8, {});
  auto* w_zp = b.input("w_zp", DType::kInt8, {});
  auto* y_zp = b.input("y_zp", DType::kInt8, {});
  auto* mi = b.node("MatMulInteger", {a, w, a_zp, w_zp})[0];
  auto* q = b.node("QLinearMatMul", {a, s, a_zp, w, s, w_zp, s, y_zp})[0];
  auto r = b.infer();
  EXPECT_EQ(type_string(r, mi), "int32[N, 4, 3]");
  EXPECT_EQ(type_string(r, q), "int8[N, 4, 3]");
}

TEST(InferMath, GemmTransposesAndBroadcastsC) {
  GraphBuilder b(13);
  auto* a = b.input("a", DType::kFloat32, {64, "M"});  // [K, M]
  auto* w = b.input("w", DType::kFloat32, {10, 64});   // [N, K]
  auto* c = b.input("c", DType::kFloat32, {10});
  auto* y = b.node("Gemm", {a, w, c}, 1, [](ir::Node& n) {
    set_int(n, "transA", 1);
    set_int(n, "transB", 1);
  })[0];
  auto* plain = b.node("Gemm", {b.input("p", DType::kFloat32, {"M", 10}), w})[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, y), "float32[M, 10]");
  EXPECT_EQ(type_string(r, plain), "float32[M, 64]");
}

TEST(InferMath, rejects_gemm_inner_dim_mismatch) {
  GraphBuilder b(13);
  b.node("Gemm", {b.input("a", DType::kFloat32, {2, 3}), b.input("b", DType::kFloat32, {4, 5})});
  expect_rejected(b, "Gemm 'Gemm_0'", "inner dims differ");
}

TEST(InferMath, rejects_gemm_bad_c) {
  GraphBuilder b(13);
  auto* a = b.input("a", DType::kFloat32, {2, 3});
  auto* w = b.input("w", DType::kFloat32, {3, 4});
  b.node("Gemm", {a, w, b.input("c", DType::kFloat32, {3})});
  expect_rejected(b, "Gemm 'Gemm_0'", "cannot broadcast to [2, 4]");
  GraphBuilder b3(13);
  b3.node("Gemm", {b3.input("a", DType::kFloat32, {2, 3}), b3.input("w", DType::kFloat32, {3, 4}),
                   b3.input("c", DType::kFloat32, {1, 2, 4})});
  expect_rejected(b3, "Gemm 'Gemm_0'", "C has rank 3");
}

// Before opset 7, C broadcasts only with broadcast=1; before 11, C is required.
TEST(InferMath, GemmLegacyBroadcastAndRequiredC) {
  for (int64_t flag : {0, 1}) {
    GraphBuilder b(6);
    auto* y = b.node("Gemm",
                     {b.input("a", DType::kFloat32, {2, 3}), b.input("w", DType::kFloat32, {3, 4}),
                      b.input("c", DType::kFloat32, {1, 4})},
                     1, [flag](ir::Node& n) { set_int(n, "broadcast", flag); })[0];
    if (flag == 1) {
      EXPECT_EQ(type_string(b.infer(), y), "float32[2, 4]");
    } else {
      expect_rejected(b, "Gemm 'Gemm_0'", "attribute broadcast is 0");
    }
  }
  GraphBuilder old(9);
  old.node("Gemm",
           {old.input("a", DType::kFloat32, {2, 3}), old.input("w", DType::kFloat32, {3, 4})});
  expect_rejected(old, "Gemm 'Gemm_0'", "input C is required");
}

TEST(InferMath, EinsumExplicitImplicitAndEllipsis) {
  GraphBuilder b(12);
  auto* x = b.input("x", DType::kFloat32, {"B", 2, 3, 4});
  auto* y = b.input("y", DType::kFloat32, {2, 4, 5});
  auto* m = b.input("m", DType::kFloat32, {"S", 6});
  auto* sq = b.input("sq", DType::kFloat32, {7, 5, 5});
  auto einsum = [&](std::vector<ir::Value*> in, const std::string& eq) {
    return b.node("Einsum", std::move(in), 1,
                  [eq](ir::Node& n) { set_string(n, "equation", eq); })[0];
  };
  auto* batched = einsum({x, y}, "...ij,...jk->...ik");
  auto* implicit = einsum({m}, "ba");       // labels sorted: "ab" -> transpose
  auto* matmul = einsum({m, m}, "ij, kj");  // implicit "ik"
  auto* diag = einsum({sq}, "...ii->...i");
  auto* trace = einsum({sq}, "...ii");  // implicit: ellipsis dims only
  auto* sum = einsum({x}, "bijk->k");
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, batched), "float32[B, 2, 3, 5]");
  EXPECT_EQ(type_string(r, implicit), "float32[6, S]");
  EXPECT_EQ(type_string(r, matmul), "float32[S, S]");
  EXPECT_EQ(type_string(r, diag), "float32[7, 5]");
  EXPECT_EQ(type_string(r, trace), "float32[7]");
  EXPECT_EQ(type_string(r, sum), "float32[4]");
}

TEST(InferMath, rejects_einsum_label_size_mismatch) {
  GraphBuilder b(12);
  b.node("Einsum", {b.input("a", DType::kFloat32, {2, 3}), b.input("b", DType::kFloat32, {4, 5})},
         1, [](ir::Node& n) { set_string(n, "equation", "ij,jk->ik"); });
  expect_rejected(b, "Einsum 'Einsum_0'", "label 'j' has sizes 3 and 4");
}

TEST(InferMath, rejects_einsum_term_rank_and_output_labels) {
  GraphBuilder b(12);
  b.node("Einsum", {b.input("a", DType::kFloat32, {2, 3, 4})}, 1,
         [](ir::Node& n) { set_string(n, "equation", "ij->j"); });
  expect_rejected(b, "Einsum 'Einsum_0'", "does not match input 0");
  GraphBuilder c(12);
  c.node("Einsum", {c.input("a", DType::kFloat32, {2, 3})}, 1,
         [](ir::Node& n) { set_string(n, "equation", "ij->jz"); });
  expect_rejected(c, "Einsum 'Einsum_0'", "output label 'z'");
  GraphBuilder d(12);
  d.node("Einsum", {d.input("a", DType::kFloat32, {2, 3})}, 1,
         [](ir::Node& n) { set_string(n, "equation", "ij,jk->ik"); });
  expect_rejected(d, "Einsum 'Einsum_0'", "2 input terms for 1 inputs");
}

// --- Convolution ----------------------------------------------------------------------------

ir::Value* conv(GraphBuilder& b, const std::string& op, std::vector<ir::Value*> in,
                const std::function<void(ir::Node&)>& attrs = nullptr) {
  return b.node(op, std::move(in), 1, attrs)[0];
}

TEST(InferConv, StridesPadsDilationsWithSymbolicBatch) {
  GraphBuilder b(11);
  auto* x = b.input("x", DType::kFloat32, {"N", 3, 224, 224});
  auto* w = b.input("w", DType::kFloat32, {64, 3, 7, 7});
  auto* bias = b.input("bias", DType::kFloat32, {64});
  auto* y = conv(b, "Conv", {x, w, bias}, [](ir::Node& n) {
    set_ints(n, "strides", {2, 2});
    set_ints(n, "pads", {3, 3, 3, 3});
  });
  auto* dilated =
      conv(b, "Conv", {x, b.input("w3", DType::kFloat32, {8, 3, 3, 3})}, [](ir::Node& n) {
        set_ints(n, "dilations", {2, 4});
      });
  auto* asym = conv(b, "Conv", {x, w}, [](ir::Node& n) {
    set_ints(n, "strides", {3, 1});
    set_ints(n, "pads", {0, 1, 2, 3});
  });
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, y), "float32[N, 64, 112, 112]");
  EXPECT_EQ(type_string(r, dilated), "float32[N, 8, 220, 216]");  // effective kernels 5 and 9
  EXPECT_EQ(type_string(r, asym), "float32[N, 64, 74, 222]");     // (226-7)/3+1, 228-7+1
}

TEST(InferConv, EachAutoPadMode) {
  const std::pair<std::string, std::string> cases[] = {
      {"NOTSET", "float32[1, 4, 3, 2]"},
      {"VALID", "float32[1, 4, 3, 2]"},
      {"SAME_UPPER", "float32[1, 4, 4, 3]"},
      {"SAME_LOWER", "float32[1, 4, 4, 3]"},
  };
  for (const auto& [mode, expected] : cases) {
    GraphBuilder b(11);
    auto* y = conv(
        b, "Conv",
        {b.input("x", DType::kFloat32, {1, 2, 7, 5}), b.input("w", DType::kFloat32, {4, 2, 3, 3})},
        [mode = mode](ir::Node& n) {
          set_string(n, "auto_pad", mode);
          set_ints(n, "strides", {2, 2});
        });
    EXPECT_EQ(type_string(b.infer(), y), expected) << mode;
  }
}

// Stride-1 windows that add nothing keep symbolic sizes; strided ones cannot be computed.
TEST(InferConv, SymbolicSpatialDims) {
  GraphBuilder b(11);
  auto* x = b.input("x", DType::kFloat32, {"N", 8, "H", "W"});
  auto* w = b.input("w", DType::kFloat32, {8, 8, 3, 3});
  auto* same = conv(b, "Conv", {x, w}, [](ir::Node& n) { set_ints(n, "pads", {1, 1, 1, 1}); });
  auto* auto_same =
      conv(b, "Conv", {x, w}, [](ir::Node& n) { set_string(n, "auto_pad", "SAME_UPPER"); });
  auto* shrink = conv(b, "Conv", {x, w});
  auto* strided = conv(b, "Conv", {x, w}, [](ir::Node& n) { set_ints(n, "strides", {1, 2}); });
  auto r = b.infer();
  EXPECT_EQ(type_string(r, same), "float32[N, 8, H, W]");
  EXPECT_EQ(type_string(r, auto_same), "float32[N, 8, H, W]");
  EXPECT_EQ(type_string(r, shrink), "float32[N, 8, ?, ?]");
  EXPECT_EQ(type_string(r, strided), "float32[N, 8, ?, ?]");
}

TEST(InferConv, GroupedDepthwiseAndKernelShapeAttribute) {
  GraphBuilder b(11);
  auto* x = b.input("x", DType::kFloat32, {"N", 32, 56, 56});
  auto* depthwise =
      conv(b, "Conv", {x, b.input("dw", DType::kFloat32, {32, 1, 3, 3})}, [](ir::Node& n) {
        set_int(n, "group", 32);
        set_ints(n, "pads", {1, 1, 1, 1});
      });
  auto* grouped = conv(b, "Conv", {x, b.input("gw", DType::kFloat32, {64, 8, 1, 1})},
                       [](ir::Node& n) { set_int(n, "group", 4); });
  // W's spatial dims unknown: kernel_shape gives them.
  auto* from_attr =
      conv(b, "Conv", {x, b.input("uw", DType::kFloat32, {16, 32, "?", "?"})}, [](ir::Node& n) {
        set_ints(n, "kernel_shape", {5, 5});
      });
  auto* no_kernel = conv(b, "Conv", {x, b.input("nw", DType::kFloat32, {16, 32, "?", "?"})});
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, depthwise), "float32[N, 32, 56, 56]");
  EXPECT_EQ(type_string(r, grouped), "float32[N, 64, 56, 56]");
  EXPECT_EQ(type_string(r, from_attr), "float32[N, 16, 52, 52]");
  EXPECT_EQ(type_string(r, no_kernel), "float32[N, 16, ?, ?]");
}

TEST(InferConv, rejects_conv_weight_rank_mismatch) {
  GraphBuilder b(11);
  conv(b, "Conv",
       {b.input("x", DType::kFloat32, {1, 3, 8, 8}), b.input("w", DType::kFloat32, {4, 3, 3})});
  expect_rejected(b, "Conv 'Conv_0'", "weight rank 3, expected 4");
}

TEST(InferConv, rejects_conv_channels_group_mismatch) {
  GraphBuilder b(11);
  conv(b, "Conv",
       {b.input("x", DType::kFloat32, {1, 6, 8, 8}), b.input("w", DType::kFloat32, {4, 2, 3, 3})},
       [](ir::Node& n) { set_int(n, "group", 2); });
  expect_rejected(b, "Conv 'Conv_0'", "input has 6 channels");
  GraphBuilder m(11);
  conv(m, "Conv",
       {m.input("x", DType::kFloat32, {1, 6, 8, 8}), m.input("w", DType::kFloat32, {5, 2, 3, 3})},
       [](ir::Node& n) { set_int(n, "group", 3); });
  expect_rejected(m, "Conv 'Conv_0'", "5 output channels, not a multiple of group 3");
}

TEST(InferConv, rejects_conv_negative_pads_and_bad_attributes) {
  auto build = [](const std::function<void(ir::Node&)>& attrs) {
    auto b = std::make_unique<GraphBuilder>(11);
    conv(*b, "Conv",
         {b->input("x", DType::kFloat32, {1, 3, 8, 8}),
          b->input("w", DType::kFloat32, {4, 3, 3, 3})},
         attrs);
    return b;
  };
  expect_rejected(*build([](ir::Node& n) {
    set_ints(n, "pads", {-1, 0, 0, 0});
  }),
                  "Conv 'Conv_0'", "attribute pads has value -1");
  expect_rejected(*build([](ir::Node& n) {
    set_ints(n, "pads", {1, 1});
  }),
                  "Conv 'Conv_0'", "attribute pads has 2 values, expected 4");
  expect_rejected(*build([](ir::Node& n) {
    set_ints(n, "strides", {0, 1});
  }),
                  "Conv 'Conv_0'", "attribute strides has value 0");
  expect_rejected(*build([](ir::Node& n) { set_string(n, "auto_pad", "SAME"); }), "Conv 'Conv_0'",
                  "attribute auto_pad is 'SAME'");
  expect_rejected(*build([](ir::Node& n) {
    set_ints(n, "kernel_shape", {5, 5});
  }),
                  "Conv 'Conv_0'", "kernel_shape disagrees");
  expect_rejected(*build([](ir::Node& n) {
    set_ints(n, "dilations", {4, 4});
  }),
                  "Conv 'Conv_0'", "larger than the padded input");
  expect_rejected(*build([](ir::Node& n) { set_int(n, "group", 0); }), "Conv 'Conv_0'",
                  "attribute group is 0");
}

TEST(InferConv, rejects_conv_bias_size) {
  GraphBuilder b(11);
  conv(b, "Conv",
       {b.input("x", DType::kFloat32, {1, 3, 8, 8}), b.input("w", DType::kFloat32, {4, 3, 3, 3}),
        b.input("b", DType::kFloat32, {3})});
  expect_rejected(b, "Conv 'Conv_0'", "bias has shape [3], expected [4]");
}

TEST(InferConv, ConvTransposePadsOutputPaddingGroupsAndOutputShape) {
  GraphBuilder b(11);
  auto* x = b.input("x", DType::kFloat32, {"N", 8, 5, 5});
  auto* w = b.input("w", DType::kFloat32, {8, 4, 3, 3});  // [C, M/group, k, k]
  auto* y = conv(b, "ConvTranspose", {x, w}, [](ir::Node& n) {
    set_int(n, "group", 2);
    set_ints(n, "strides", {2, 2});
    set_ints(n, "pads", {1, 1, 1, 1});
    set_ints(n, "output_padding", {1, 0});
  });
  auto* shaped = conv(b, "ConvTranspose", {x, w}, [](ir::Node& n) {
    set_ints(n, "strides", {2, 2});
    set_ints(n, "output_shape", {11, 12});
  });
  auto* same = conv(b, "ConvTranspose", {b.input("s", DType::kFloat32, {"N", 8, "H", 5}), w},
                    [](ir::Node& n) {
                      set_ints(n, "strides", {2, 3});
                      set_string(n, "auto_pad", "SAME_LOWER");
                    });
  auto* dilated = conv(b, "ConvTranspose", {x, w}, [](ir::Node& n) {
    set_ints(n, "dilations", {2, 2});
  });
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, y), "float32[N, 8, 10, 9]");  // 2*4 + {1,0} + 3 - 2
  EXPECT_EQ(type_string(r, shaped), "float32[N, 4, 11, 12]");
  EXPECT_EQ(type_string(r, same), "float32[N, 4, H*2, 15]");
  EXPECT_EQ(type_string(r, dilated), "float32[N, 4, 9, 9]");  // 4 + 5
}

TEST(InferConv, rejects_conv_transpose_bad_output_padding_and_channels) {
  GraphBuilder b(11);
  conv(b, "ConvTranspose",
       {b.input("x", DType::kFloat32, {1, 8, 5, 5}), b.input("w", DType::kFloat32, {8, 4, 3, 3})},
       [](ir::Node& n) {
         set_ints(n, "output_padding", {1, 1});
       });
  expect_rejected(b, "ConvTranspose 'ConvTranspose_0'", "output_padding 1 on spatial axis 0");
  GraphBuilder c(11);
  conv(c, "ConvTranspose",
       {c.input("x", DType::kFloat32, {1, 6, 5, 5}), c.input("w", DType::kFloat32, {8, 4, 3, 3})});
  expect_rejected(c, "ConvTranspose 'ConvTranspose_0'", "input has 6 channels");
}

TEST(InferConv, ConvIntegerAndQLinearConvTypes) {
  GraphBuilder b(10);
  auto* x = b.input("x", DType::kUint8, {"N", 3, 9, 9});
  auto* w = b.input("w", DType::kUint8, {2, 3, 3, 3});
  auto* s = b.input("s", DType::kFloat32, {});
  auto* zp = b.input("zp", DType::kUint8, {});
  auto* yzp = b.input("yzp", DType::kInt8, {});
  auto* ci = conv(b, "ConvInteger", {x, w, zp, zp}, [](ir::Node& n) {
    set_ints(n, "strides", {2, 2});
  });
  auto* qc = conv(b, "QLinearConv", {x, s, zp, w, s, zp, s, yzp}, [](ir::Node& n) {
    set_ints(n, "pads", {1, 1, 1, 1});
  });
  auto r = b.infer();
  EXPECT_EQ(type_string(r, ci), "int32[N, 2, 4, 4]");
  EXPECT_EQ(type_string(r, qc), "int8[N, 2, 9, 9]");
}

// --- Pooling --------------------------------------------------------------------------------

TEST(InferPool, MaxPoolCeilModeIndicesAndDilations) {
  GraphBuilder b(12);
  auto* x = b.input("x", DType::kFloat32, {"N", 16, 32, 4});
  auto pool = [&](const std::function<void(ir::Node&)>& attrs) {
    return b.node("MaxPool", {x}, 2, [&](ir::Node& n) {
      set_ints(n, "kernel_shape", {3, 2});
      set_ints(n, "strides", {2, 2});
      attrs(n);
    });
  };
  auto floor_mode = pool([](ir::Node&) {});
  auto ceil_mode = pool([](ir::Node& n) { set_int(n, "ceil_mode", 1); });
  // The last window would start at 4, inside the end padding (input is 0..3): dropped.
  auto dropped = pool([](ir::Node& n) {
    set_int(n, "ceil_mode", 1);
    set_ints(n, "pads", {0, 0, 0, 1});
  });
  auto dilated = pool([](ir::Node& n) { set_ints(n, "dilations", {3, 1}); });
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, floor_mode[0]), "float32[N, 16, 15, 2]");
  EXPECT_EQ(type_string(r, floor_mode[1]), "int64[N, 16, 15, 2]");
  EXPECT_EQ(type_string(r, ceil_mode[0]), "float32[N, 16, 16, 2]");
  EXPECT_EQ(type_string(r, dropped[0]), "float32[N, 16, 16, 2]");
  EXPECT_EQ(type_string(r, dilated[0]), "float32[N, 16, 13, 2]");  // effective kernel 7
}

TEST(InferPool, AttributesFollowTheOpsetVersion) {
  // ceil_mode arrived in MaxPool-10, dilations in AveragePool-19: earlier versions ignore them.
  for (int64_t opset : {8, 10}) {
    GraphBuilder b(opset);
    auto* y = b.node("MaxPool", {b.input("x", DType::kFloat32, {1, 1, 6})}, 1, [](ir::Node& n) {
      set_ints(n, "kernel_shape", {3});
      set_ints(n, "strides", {2});
      set_int(n, "ceil_mode", 1);
    })[0];
    EXPECT_EQ(type_string(b.infer(), y), opset == 8 ? "float32[1, 1, 2]" : "float32[1, 1, 3]");
  }
  for (int64_t opset : {11, 19}) {
    GraphBuilder b(opset);
    auto* y = b.node("AveragePool", {b.input("x", DType::kFloat32, {1, 1, 9})}, 1, [](ir::Node& n) {
      set_ints(n, "kernel_shape", {3});
      set_ints(n, "dilations", {2});
    })[0];
    EXPECT_EQ(type_string(b.infer(), y), opset == 11 ? "float32[1, 1, 7]" : "float32[1, 1, 5]");
  }
}

TEST(InferPool, AverageAndLpPoolAutoPadAndGlobalPools) {
  GraphBuilder b(19);
  auto* x = b.input("x", DType::kFloat16, {"N", 3, 7, "W"});
  auto* upper = b.node("AveragePool", {x}, 1, [](ir::Node& n) {
    set_ints(n, "kernel_shape", {3, 3});
    set_ints(n, "strides", {2, 1});
    set_string(n, "auto_pad", "SAME_UPPER");
    set_int(n, "count_include_pad", 1);
  })[0];
  auto* valid = b.node("LpPool", {x}, 1, [](ir::Node& n) {
    set_ints(n, "kernel_shape", {3, 1});
    set_ints(n, "strides", {2, 1});
    set_string(n, "auto_pad", "VALID");
    set_int(n, "ceil_mode", 1);
  })[0];
  auto* gap = b.node("GlobalAveragePool", {x})[0];
  auto* gmp = b.node("GlobalMaxPool", {b.input("v", DType::kFloat32, {2, 5, 4})})[0];
  auto* glp = b.node("GlobalLpPool", {x})[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, upper), "float16[N, 3, 4, W]");
  EXPECT_EQ(type_string(r, valid), "float16[N, 3, 3, W]");
  EXPECT_EQ(type_string(r, gap), "float16[N, 3, 1, 1]");
  EXPECT_EQ(type_string(r, gmp), "float32[2, 5, 1]");
  EXPECT_EQ(type_string(r, glp), "float16[N, 3, 1, 1]");
}

TEST(InferPool, rejects_pool_kernel_shape_problems) {
  GraphBuilder b(12);
  b.node("MaxPool", {b.input("x", DType::kFloat32, {1, 3, 8, 8})});
  expect_rejected(b, "MaxPool 'MaxPool_0'", "'kernel_shape' is missing");
  GraphBuilder c(12);
  c.node("AveragePool", {c.input("x", DType::kFloat32, {1, 3, 8, 8})}, 1,
         [](ir::Node& n) { set_ints(n, "kernel_shape", {2}); });
  expect_rejected(c, "AveragePool 'AveragePool_0'", "kernel_shape has 1 values, expected 2");
  GraphBuilder d(12);
  d.node("MaxPool", {d.input("x", DType::kFloat32, {1, 8})}, 1,
         [](ir::Node& n) { set_ints(n, "kernel_shape", {2}); });
  expect_rejected(d, "MaxPool 'MaxPool_0'", "expected rank >= 3");
  GraphBuilder e(12);
  e.node("MaxPool", {e.input("x", DType::kFloat32, {1, 3, 8})}, 1, [](ir::Node& n) {
    set_ints(n, "kernel_shape", {2});
    set_ints(n, "pads", {0, -2});
  });
  expect_rejected(e, "MaxPool 'MaxPool_0'", "attribute pads has value -2");
}

TEST(InferPool, MaxUnpoolFromAttributesOrOutputShape) {
  GraphBuilder b(11);
  auto* x = b.input("x", DType::kFloat32, {"N", 3, 4, 4});
  auto* idx = b.input("i", DType::kInt64, {"N", 3, 4, 4});
  auto attrs = [](ir::Node& n) {
    set_ints(n, "kernel_shape", {2, 2});
    set_ints(n, "strides", {2, 2});
  };
  auto* computed = b.node("MaxUnpool", {x, idx}, 1, attrs)[0];
  auto* given = b.node("MaxUnpool", {x, idx, b.constant("shape", i64({2, 3, 9, 9}))}, 1, attrs)[0];
  auto r = b.infer();
  EXPECT_EQ(type_string(r, computed), "float32[N, 3, 8, 8]");
  EXPECT_EQ(type_string(r, given), "float32[2, 3, 9, 9]");
}

// --- Normalization --------------------------------------------------------------------------

TEST(InferNorm, BatchNormOutputsAcrossVersions) {
  GraphBuilder b15(15);
  auto* x = b15.input("x", DType::kFloat16, {"N", 4, 8, 8});
  auto* p = b15.input("p", DType::kFloat16, {4});
  auto* stat = b15.input("stat", DType::kFloat32, {4});
  auto train = b15.node("BatchNormalization", {x, p, p, stat, stat}, 3,
                        [](ir::Node& n) { set_int(n, "training_mode", 1); });
  auto r15 = b15.infer();
  ASSERT_TRUE(r15.ok()) << r15.status().to_string();
  EXPECT_EQ(type_string(r15, train[0]), "float16[N, 4, 8, 8]");
  EXPECT_EQ(type_string(r15, train[1]), "float32[4]");  // type U of input_mean
  EXPECT_EQ(type_string(r15, train[2]), "float32[4]");

  // Opset 6: Y, mean, var, saved_mean, saved_var, all of X's type.
  GraphBuilder b6(6);
  auto* x6 = b6.input("x", DType::kFloat32, {2, 4, 3});
  auto* p6 = b6.input("p", DType::kFloat32, {"?"});
  auto old = b6.node("BatchNormalization", {x6, p6, p6, p6, p6}, 5);
  auto r6 = b6.infer();
  ASSERT_TRUE(r6.ok()) << r6.status().to_string();
  EXPECT_EQ(type_string(r6, old[0]), "float32[2, 4, 3]");
  EXPECT_EQ(type_string(r6, old[3]), "float32[4]");
  EXPECT_EQ(type_string(r6, old[4]), "float32[4]");
}

TEST(InferNorm, rejects_batch_norm_scale_size) {
  GraphBuilder b(15);
  auto* x = b.input("x", DType::kFloat32, {"N", 4, 8, 8});
  auto* good = b.input("good", DType::kFloat32, {4});
  b.node("BatchNormalization", {x, b.input("s", DType::kFloat32, {3}), good, good, good});
  expect_rejected(b, "BatchNormalization 'BatchNormalization_0'",
                  "scale has shape [3], expected [4]");
}

TEST(InferNorm, LayerGroupAndInstanceNorm) {
  GraphBuilder b(21);
  auto* x = b.input("x", DType::kFloat16, {"N", "S", 64});
  auto* scale = b.input("scale", DType::kFloat16, {64});
  auto ln = b.node("LayerNormalization", {x, scale}, 3, [](ir::Node& n) { set_int(n, "axis", 1); });
  auto* img = b.input("img", DType::kFloat32, {"N", 6, 5, 5});
  auto* c6 = b.input("c6", DType::kFloat32, {6});
  auto* gn = b.node("GroupNormalization", {img, c6, c6}, 1,
                    [](ir::Node& n) { set_int(n, "num_groups", 3); })[0];
  auto* in = b.node("InstanceNormalization", {img, c6, c6})[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, ln[0]), "float16[N, S, 64]");
  EXPECT_EQ(type_string(r, ln[1]), "float32[N, 1, 1]");  // stash_type float32
  EXPECT_EQ(type_string(r, ln[2]), "float32[N, 1, 1]");
  EXPECT_EQ(type_string(r, gn), "float32[N, 6, 5, 5]");
  EXPECT_EQ(type_string(r, in), "float32[N, 6, 5, 5]");
}

TEST(InferNorm, rejects_norm_bad_axis_groups_and_scales) {
  GraphBuilder b(17);
  b.node("LayerNormalization",
         {b.input("x", DType::kFloat32, {2, 3}), b.input("s", DType::kFloat32, {3})}, 1,
         [](ir::Node& n) { set_int(n, "axis", 2); });
  expect_rejected(b, "LayerNormalization 'LayerNormalization_0'", "axis 2 is out of range");
  GraphBuilder g(21);
  auto* c6 = g.input("c6", DType::kFloat32, {6});
  g.node("GroupNormalization", {g.input("x", DType::kFloat32, {1, 6, 4}), c6, c6}, 1,
         [](ir::Node& n) { set_int(n, "num_groups", 4); });
  expect_rejected(g, "GroupNormalization 'GroupNormalization_0'", "not a multiple of num_groups");
  // GroupNormalization-18 takes per-group scale; 21 per-channel.
  for (int64_t opset : {18, 21}) {
    GraphBuilder v(opset);
    auto* s = v.input("s", DType::kFloat32, {2});
    auto* y = v.node("GroupNormalization", {v.input("x", DType::kFloat32, {1, 6, 4}), s, s}, 1,
                     [](ir::Node& n) { set_int(n, "num_groups", 2); })[0];
    if (opset == 18) {
      EXPECT_EQ(type_string(v.infer(), y), "float32[1, 6, 4]");
    } else {
      expect_rejected(v, "GroupNormalization 'GroupNormalization_0'", "expected [6]");
    }
  }
  GraphBuilder i(6);
  i.node("InstanceNormalization",
         {i.input("x", DType::kFloat32, {1, 6, 4}), i.input("s", DType::kFloat32, {5}),
          i.input("b", DType::kFloat32, {6})});
  expect_rejected(i, "InstanceNormalization 'InstanceNormalization_0'", "scale has shape [5]");
}

// --- Resize, Upsample, Pad, layout ----------------------------------------------------------

TEST(InferResize, ScalesSizesAndAxes) {
  GraphBuilder b(19);
  auto* x = b.input("x", DType::kFloat32, {"N", 3, 32, 30});
  auto* none = b.constant("none", f32({}));
  auto* scaled = b.node("Resize", {x, nullptr, b.constant("sc", f32({1, 1, 2, 0.5f}))})[0];
  auto* sized = b.node("Resize", {x, nullptr, nullptr, b.constant("sz", i64({1, 3, 7, 9}))})[0];
  auto* empty_scales = b.node("Resize", {x, none, none, b.constant("sz2", i64({2, 2, 5, 5}))})[0];
  auto* on_axes =
      b.node("Resize", {x, nullptr, b.constant("sc2", f32({3, 0.6f}))}, 1, [](ir::Node& n) {
        set_ints(n, "axes", {-1, 2});
      })[0];
  // sizes built from the input's own shape keep the symbolic batch.
  auto* shp = b.node("Shape", {x}, 1, [](ir::Node& n) { set_int(n, "end", 2); })[0];
  auto* target = b.node("Concat", {shp, b.constant("hw", i64({64, 64}))}, 1,
                        [](ir::Node& n) { set_int(n, "axis", 0); })[0];
  auto* tracked = b.node("Resize", {x, nullptr, nullptr, target})[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, scaled), "float32[N, 3, 64, 15]");
  EXPECT_EQ(type_string(r, sized), "float32[1, 3, 7, 9]");
  EXPECT_EQ(type_string(r, empty_scales), "float32[2, 2, 5, 5]");
  EXPECT_EQ(type_string(r, on_axes), "float32[N, 3, 19, 90]");  // floor(32*0.6), 30*3
  EXPECT_EQ(type_string(r, tracked), "float32[N, 3, 64, 64]");
}

TEST(InferResize, KeepAspectRatioPolicy) {
  const std::pair<std::string, std::string> cases[] = {
      {"stretch", "float32[1, 3, 100, 100]"},
      {"not_larger", "float32[1, 3, 67, 100]"},  // scale min(0.5, 1/3): 66.67 rounds to 67
      {"not_smaller", "float32[1, 3, 100, 150]"},
  };
  for (const auto& [policy, expected] : cases) {
    GraphBuilder b(18);
    auto* y = b.node("Resize",
                     {b.input("x", DType::kFloat32, {1, 3, 200, 300}), nullptr, nullptr,
                      b.constant("sz", i64({100, 100}))},
                     1, [policy = policy](ir::Node& n) {
                       set_ints(n, "axes", {2, 3});
                       set_string(n, "keep_aspect_ratio_policy", policy);
                     })[0];
    EXPECT_EQ(type_string(b.infer(), y), expected) << policy;
  }
}

TEST(InferResize, Resize10AndUpsample) {
  GraphBuilder b10(10);
  auto* y10 = b10.node("Resize", {b10.input("x", DType::kUint8, {1, 3, 5, 5}),
                                  b10.constant("s", f32({1, 1, 1.5f, 0.4f}))})[0];
  EXPECT_EQ(type_string(b10.infer(), y10), "uint8[1, 3, 7, 2]");
  GraphBuilder b7(7);
  auto* u7 =
      b7.node("Upsample", {b7.input("x", DType::kFloat32, {"N", 3, 5, 5})}, 1, [](ir::Node& n) {
        set_floats(n, "scales", {1, 1, 2, 2.5f});
      })[0];
  EXPECT_EQ(type_string(b7.infer(), u7), "float32[N, 3, 10, 12]");
  GraphBuilder b9(9);
  auto* u9 = b9.node("Upsample", {b9.input("x", DType::kFloat32, {"N", 3, "H", 5}),
                                  b9.constant("s", f32({1, 1, 2, 3}))})[0];
  EXPECT_EQ(type_string(b9.infer(), u9), "float32[N, 3, H*2, 15]");
}

TEST(InferResize, rejects_resize_scales_and_sizes) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {1, 3, 4, 4});
  b.node("Resize",
         {x, nullptr, b.constant("s", f32({1, 1, 2, 2})), b.constant("z", i64({1, 3, 8, 8}))});
  expect_rejected(b, "Resize 'Resize_0'", "scales and sizes are both given");
  GraphBuilder c(13);
  c.node("Resize",
         {c.input("x", DType::kFloat32, {1, 3, 4, 4}), nullptr, c.constant("s", f32({2, 2}))});
  expect_rejected(c, "Resize 'Resize_0'", "scales has 2 values, expected 4");
  GraphBuilder d(13);
  d.node("Resize", {d.input("x", DType::kFloat32, {1, 3, 4, 4})});
  expect_rejected(d, "Resize 'Resize_0'", "neither scales nor sizes");
  GraphBuilder e(18);
  e.node(
      "Resize",
      {e.input("x", DType::kFloat32, {1, 3, 4, 4}), nullptr, nullptr, e.constant("z", i64({8, 8}))},
      1, [](ir::Node& n) { set_string(n, "keep_aspect_ratio_policy", "fit"); });
  expect_rejected(e, "Resize 'Resize_0'", "keep_aspect_ratio_policy is 'fit'");
  GraphBuilder u(7);
  u.node("Upsample", {u.input("x", DType::kFloat32, {1, 3, 4, 4})}, 1, [](ir::Node& n) {
    set_floats(n, "scales", {1, 1, 0.5f, 2});
  });
  expect_rejected(u, "Upsample 'Upsample_0'", "must be >= 1");
}

TEST(InferPad, AttributeInputAndAxesForms) {
  GraphBuilder b1(1);
  auto* p1 = b1.node("Pad", {b1.input("x", DType::kFloat32, {2, 3})}, 1, [](ir::Node& n) {
    set_ints(n, "paddings", {1, 0, 1, 2});
  })[0];
  EXPECT_EQ(type_string(b1.infer(), p1), "float32[4, 5]");
  GraphBuilder b2(2);
  auto* p2 = b2.node("Pad", {b2.input("x", DType::kFloat32, {"N", 3})}, 1, [](ir::Node& n) {
    set_ints(n, "pads", {0, -1, 0, 4});
    set_string(n, "mode", "reflect");
  })[0];
  EXPECT_EQ(type_string(b2.infer(), p2), "float32[N, 6]");
  GraphBuilder b18(18);
  auto* x = b18.input("x", DType::kFloat32, {"N", 3, 8, 8});
  auto* full = b18.node("Pad", {x, b18.constant("p", i64({0, 0, 1, 1, 0, 0, 2, 3}))})[0];
  auto* on_axes = b18.node(
      "Pad", {x, b18.constant("q", i64({1, 2, 3, 4})), nullptr, b18.constant("a", i64({-1, 2}))}, 1,
      [](ir::Node& n) { set_string(n, "mode", "edge"); })[0];
  auto* unknown = b18.node("Pad", {x, b18.input("dyn", DType::kInt64, {8})})[0];
  auto r = b18.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, full), "float32[N, 3, 11, 12]");
  EXPECT_EQ(type_string(r, on_axes), "float32[N, 3, 14, 12]");  // H += 2 + 4, W += 1 + 3
  EXPECT_EQ(type_string(r, unknown), "float32[?, ?, ?, ?]");
}

TEST(InferPad, rejects_pad_length_and_over_removal) {
  GraphBuilder b(13);
  b.node("Pad", {b.input("x", DType::kFloat32, {2, 3}), b.constant("p", i64({1, 1}))});
  expect_rejected(b, "Pad 'Pad_0'", "pads has 2 values, expected 4");
  GraphBuilder c(13);
  c.node("Pad", {c.input("x", DType::kFloat32, {2, 3}), c.constant("p", i64({0, -2, 0, -2}))});
  expect_rejected(c, "Pad 'Pad_0'", "remove more than the size of axis 1");
  GraphBuilder d(2);
  d.node("Pad", {d.input("x", DType::kFloat32, {2, 3})});
  expect_rejected(d, "Pad 'Pad_0'", "'pads' is missing");
}

TEST(InferLayout, DepthSpaceGridSampleRoiAlignNms) {
  GraphBuilder b(20);
  auto* x = b.input("x", DType::kFloat32, {"N", 16, "H", 6});
  auto* d2s = b.node("DepthToSpace", {x}, 1, [](ir::Node& n) {
    set_int(n, "blocksize", 2);
    set_string(n, "mode", "CRD");
  })[0];
  auto* s2d = b.node("SpaceToDepth", {b.input("s", DType::kFloat32, {"N", 3, 8, 6})}, 1,
                     [](ir::Node& n) { set_int(n, "blocksize", 2); })[0];
  auto* vol = b.input("vol", DType::kFloat32, {"N", 4, 5, 6, 7});
  auto* gs = b.node("GridSample", {vol, b.input("g", DType::kFloat32, {"N", 2, 3, 9, 3})})[0];
  auto* ra =
      b.node("RoiAlign",
             {x, b.input("rois", DType::kFloat32, {"R", 4}), b.input("bi", DType::kInt64, {"R"})},
             1, [](ir::Node& n) {
               set_int(n, "output_height", 7);
               set_int(n, "output_width", 5);
               set_float(n, "spatial_scale", 0.25f);
             })[0];
  auto* nms = b.node("NonMaxSuppression", {b.input("boxes", DType::kFloat32, {1, 10, 4}),
                                           b.input("scores", DType::kFloat32, {1, 2, 10})})[0];
  auto r = b.infer();
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(type_string(r, d2s), "float32[N, 4, H*2, 12]");
  EXPECT_EQ(type_string(r, s2d), "float32[N, 12, 4, 3]");
  EXPECT_EQ(type_string(r, gs), "float32[N, 4, 2, 3, 9]");
  EXPECT_EQ(type_string(r, ra), "float32[R, 16, 7, 5]");
  EXPECT_EQ(type_string(r, nms), "int64[?, 3]");
}

TEST(InferLayout, rejects_layout_shape_errors) {
  GraphBuilder b(13);
  b.node("DepthToSpace", {b.input("x", DType::kFloat32, {1, 6, 2, 2})}, 1,
         [](ir::Node& n) { set_int(n, "blocksize", 2); });
  expect_rejected(b, "DepthToSpace 'DepthToSpace_0'", "not a multiple of blocksize^2 = 4");
  GraphBuilder c(13);
  c.node("SpaceToDepth", {c.input("x", DType::kFloat32, {1, 6, 5, 4})}, 1,
         [](ir::Node& n) { set_int(n, "blocksize", 2); });
  expect_rejected(c, "SpaceToDepth 'SpaceToDepth_0'", "multiples of blocksize 2");
  // GridSample-16 is 2-D only; GridSample-20 needs the grid's last dim to be the spatial rank.
  GraphBuilder d(16);
  d.node("GridSample", {d.input("x", DType::kFloat32, {1, 2, 3, 4, 5}),
                        d.input("g", DType::kFloat32, {1, 2, 3, 4, 3})});
  expect_rejected(d, "GridSample 'GridSample_0'", "expected rank 4");
  GraphBuilder e(20);
  e.node("GridSample", {e.input("x", DType::kFloat32, {1, 2, 3, 4}),
                        e.input("g", DType::kFloat32, {1, 5, 5, 3})});
  expect_rejected(e, "GridSample 'GridSample_0'", "its last dim must be 2");
  GraphBuilder f(16);
  f.node("RoiAlign", {f.input("x", DType::kFloat32, {1, 2, 8, 8}),
                      f.input("rois", DType::kFloat32, {3, 5}), f.input("bi", DType::kInt64, {3})});
  expect_rejected(f, "RoiAlign 'RoiAlign_0'", "expected [num_rois, 4]");
}

}  // namespace
}  // namespace mixq
