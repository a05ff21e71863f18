// The device fusion pass (lib/gpu/fusion.h) at graph level, on every machine: which nodes of
// the models mixq convert writes become which fused GEMM kernels, which Q/DQ nodes they absorb,
// what runs as device kernels, on the host or falls back to the CPU, and why a layer is not
// fused. No device needed.
#include "mixq/gpu/fusion.h"

#include <gtest/gtest.h>

#include <map>
#include <string>

#include "graph_builder.h"
#include "mixq/calibration/convert.h"
#include "mixq/gpu/device_ops.h"
#include "mixq/onnx/model_io.h"
#include "test_support.h"

namespace mixq {
namespace {

using gpu::StepKind;
using testing::TempDir;

std::unique_ptr<ir::Model> converted(const std::string& sample, quant::Precision p,
                                     const TempDir& dir) {
  calib::ConvertOptions o;
  o.precision = p;
  o.data = testing::sample_file(sample, "calib.npz");
  o.eval = testing::sample_file(sample, "eval.npz");
  o.threads = 2;
  const auto out = dir / (sample + ".onnx");
  auto r = calib::convert(testing::sample_file(sample, "model.onnx"), out, o);
  EXPECT_TRUE(r.ok()) << r.status().to_string();
  auto m = onnx::load_model(out);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  return m.ok() ? std::move(*m) : nullptr;
}

std::map<std::string, int> kernels(const gpu::DevicePlan& plan) {
  std::map<std::string, int> k;
  for (const auto& g : plan.gemms) ++k[g.kernel];
  return k;
}

std::string fallbacks(const gpu::DevicePlan& plan) {
  std::string s;
  for (const auto& st : plan.steps) {
    if (st.kind == StepKind::kCpuFallback) s += st.node->describe() + ": " + st.reason + "\n";
  }
  return s;
}

TEST(GpuFusion, Int8CnnBecomesFiveInt8GemmsWithEveryQdqAbsorbed) {
  TempDir dir;
  auto m = converted("digits_cnn", quant::Precision::kInt8, dir);
  ASSERT_TRUE(m);
  auto plan = gpu::plan_device_graph(*m);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  // Three Conv layers lowered by im2col, two Gemm layers; each absorbs its activation Q and DQ
  // and its weight DQ.
  EXPECT_EQ(kernels(*plan),
            (std::map<std::string, int>{{"im2col+cublaslt-int8", 3}, {"cublaslt-int8", 2}}));
  EXPECT_EQ(plan->count(StepKind::kFusedGemm), 5u);
  EXPECT_EQ(plan->count(StepKind::kAbsorbed), 15u);
  EXPECT_EQ(plan->count(StepKind::kCpuFallback), 0u) << fallbacks(*plan);
  EXPECT_TRUE(plan->not_fused.empty());
  for (const auto& g : plan->gemms) {
    ASSERT_NE(g.weight, nullptr);
    ASSERT_NE(g.weight->initializer(), nullptr);
    EXPECT_EQ(g.weight->initializer()->dtype(), DType::kInt8) << g.layer->name();
    EXPECT_EQ(g.weight_scale->initializer()->numel(), g.weight->initializer()->dims()[0])
        << g.layer->name();  // per output channel ([out, ...] for Conv and Gemm transB=1)
    EXPECT_EQ(g.act_scale->initializer()->numel(), 1);
    // The fused step reads the float activation the QuantizeLinear read.
    EXPECT_EQ(g.activation, g.act_quantize->input(0));
  }
  // Every step is accounted for: one per node.
  EXPECT_EQ(plan->steps.size(), m->graph().num_nodes());
}

TEST(GpuFusion, Fp8LayersFallBackToFp16BelowSm89) {
  TempDir dir;
  auto m = converted("digits_cnn", quant::Precision::kFp8, dir);
  ASSERT_TRUE(m);
  auto h100 = gpu::plan_device_graph(*m, {.compute_capability = 90});
  ASSERT_TRUE(h100.ok());
  EXPECT_EQ(kernels(*h100),
            (std::map<std::string, int>{{"im2col+cublaslt-fp8", 3}, {"cublaslt-fp8", 2}}));
  EXPECT_TRUE(h100->not_fused.empty());
  auto a100 = gpu::plan_device_graph(*m, {.compute_capability = 80});
  ASSERT_TRUE(a100.ok());
  EXPECT_EQ(kernels(*a100), (std::map<std::string, int>{{"cudnn-fp16", 3}, {"cublaslt-fp16", 2}}));
  ASSERT_EQ(a100->not_fused.size(), 5u);
  EXPECT_NE(a100->not_fused[0].find("sm_89"), std::string::npos) << a100->not_fused[0];
}

TEST(GpuFusion, Fp8GptRunsEveryLayerAsFp8AndAttentionAsBatchedGemms) {
  TempDir dir;
  auto m = converted("tinygpt", quant::Precision::kFp8, dir);
  ASSERT_TRUE(m);
  auto plan = gpu::plan_device_graph(*m);
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  // 17 weight layers in FP8; per block two attention products (Q·K^T, P·V) of activations.
  EXPECT_EQ(kernels(*plan),
            (std::map<std::string, int>{{"cublaslt-fp8", 17}, {"cublaslt-batched-fp32", 8}}));
  EXPECT_EQ(plan->count(StepKind::kAbsorbed), 3u * 17);
  EXPECT_EQ(plan->count(StepKind::kCpuFallback), 0u) << fallbacks(*plan);
  // The causal-mask and position computations only depend on shapes and constants: host.
  EXPECT_GT(plan->count(StepKind::kHost), 0u);
  for (const auto& st : plan->steps) {
    if (st.node->op_type() == "Shape") {
      EXPECT_EQ(st.kind, StepKind::kHost) << st.node->describe();
    }
    if (st.node->op_type() == "LayerNormalization" || st.node->op_type() == "Softmax") {
      EXPECT_EQ(st.kind, StepKind::kDevice) << st.node->describe();
    }
  }
}

TEST(GpuFusion, Fp16RegionsRunAsFp16Gemms) {
  TempDir dir;
  auto m = converted("tinygpt", quant::Precision::kFp16, dir);
  ASSERT_TRUE(m);
  auto plan = gpu::plan_device_graph(*m);
  ASSERT_TRUE(plan.ok());
  const auto k = kernels(*plan);
  EXPECT_EQ(k.at("cublaslt-fp16"), 17);
  EXPECT_EQ(plan->count(StepKind::kAbsorbed), 0u);
  EXPECT_EQ(plan->count(StepKind::kCpuFallback), 0u) << fallbacks(*plan);
  for (const auto& st : plan->steps) {
    if (st.node->op_type() == "Cast" && st.kind != StepKind::kHost) {
      EXPECT_EQ(st.kind, StepKind::kDevice);
    }
  }
}

TEST(GpuFusion, ExplainsWhatItDoesNotFuseAndFallsBackByName) {
  testing::GraphBuilder b(21);
  auto* x = b.input("x", DType::kFloat32, {4, 8});
  auto* sa = b.constant("sa", ir::Tensor::from_floats({}, {0.05f}));
  auto* zp = b.constant("zp", *ir::Tensor::zeros(DType::kUint8, {}));
  auto* zp1 = b.constant("zp1", [] {
    auto t = *ir::Tensor::zeros(DType::kUint8, {});
    t.mutable_data<uint8_t>()[0] = 128;
    return t;
  }());
  auto* wq = b.constant("wq", *ir::Tensor::zeros(DType::kInt8, {8, 3}));
  auto* sw = b.constant("sw", ir::Tensor::from_floats({3}, {0.1f, 0.2f, 0.3f}));
  // An asymmetric uint8 activation (zero point 128) with an int8 weight: not fused.
  auto* q = b.node("QuantizeLinear", {x, sa, zp1})[0];
  auto* dq = b.node("DequantizeLinear", {q, sa, zp1})[0];
  auto* wdq = b.node("DequantizeLinear", {wq, sw}, 1,
                     [](ir::Node& n) { testing::set_int(n, "axis", 1); })[0];
  auto* y = b.node("MatMul", {dq, wdq})[0];
  // An op without a device kernel.
  auto* sizes = b.constant("sizes", ir::Tensor::from_int64s({2}, {8, 6}));
  auto* r = b.node("Resize", {y, nullptr, nullptr, sizes}, 1,
                   [](ir::Node& n) { testing::set_string(n, "mode", "nearest"); })[0];
  b.output(r);
  (void)zp;
  ASSERT_TRUE(b.infer().ok());
  auto plan = gpu::plan_device_graph(b.model());
  ASSERT_TRUE(plan.ok()) << plan.status().to_string();
  ASSERT_EQ(plan->not_fused.size(), 1u);
  EXPECT_NE(plan->not_fused[0].find("uint8"), std::string::npos) << plan->not_fused[0];
  // The MatMul still runs on the device, as an FP32 GEMM on the dequantized operands...
  EXPECT_TRUE(plan->gemms.empty());
  std::map<std::string, StepKind> kind;
  std::map<std::string, std::string> reason;
  for (const auto& st : plan->steps) {
    kind[st.node->op_type() + (st.node->input(0) == wq ? "(w)" : "")] = st.kind;
    reason[st.node->op_type()] = st.reason;
  }
  // ...its Q/DQ nodes are device kernels (the weight's DQ depends on constants only: host).
  EXPECT_EQ(kind["QuantizeLinear"], StepKind::kDevice);
  EXPECT_EQ(kind["DequantizeLinear"], StepKind::kDevice);
  EXPECT_EQ(kind["DequantizeLinear(w)"], StepKind::kHost);
  EXPECT_EQ(kind["MatMul"], StepKind::kDevice);
  EXPECT_EQ(kind["Resize"], StepKind::kCpuFallback);
  EXPECT_EQ(reason["Resize"], "no device kernel for Resize");
}

TEST(GpuFusion, AnActivationDqWithAnotherConsumerStaysAKernel) {
  testing::GraphBuilder b(21);
  auto* x = b.input("x", DType::kFloat32, {4, 8});
  auto* sa = b.constant("sa", ir::Tensor::from_floats({}, {0.05f}));
  auto* wq = b.constant("wq", *ir::Tensor::zeros(DType::kFloat8E4M3FN, {8, 3}));
  auto* sw = b.constant("sw", ir::Tensor::from_floats({3}, {0.1f, 0.2f, 0.3f}));
  auto* zp = b.constant("zp", *ir::Tensor::zeros(DType::kFloat8E4M3FN, {}));
  auto* q = b.node("QuantizeLinear", {x, sa, zp})[0];
  auto* dq = b.node("DequantizeLinear", {q, sa, zp})[0];
  auto* wdq = b.node("DequantizeLinear", {wq, sw}, 1,
                     [](ir::Node& n) { testing::set_int(n, "axis", 1); })[0];
  auto* y = b.node("MatMul", {dq, wdq})[0];
  auto* r = b.node("Relu", {dq})[0];  // a second reader of the dequantized activation
  b.output(y);
  b.output(r);
  ASSERT_TRUE(b.infer().ok());
  auto plan = gpu::plan_device_graph(b.model());
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->gemms.size(), 1u);
  EXPECT_EQ(plan->gemms[0].kernel, "cublaslt-fp8");
  // The weight DQ is absorbed; the activation Q/DQ stay (Relu reads the DQ's output).
  EXPECT_EQ(plan->count(StepKind::kAbsorbed), 1u);
  for (const auto& st : plan->steps) {
    if (st.node->op_type() == "QuantizeLinear") {
      EXPECT_EQ(st.kind, StepKind::kDevice);
    }
  }
}

TEST(GpuFusion, DeviceOpTableIsSortedAndNamesItsLimits) {
  const auto& ops = gpu::device_ops();
  for (size_t i = 1; i < ops.size(); ++i) EXPECT_LT(ops[i - 1].op_type, ops[i].op_type);
  testing::GraphBuilder b(21);
  auto* x = b.input("x", DType::kFloat64, {4});
  auto* y = b.node("Relu", {x})[0];
  b.output(y);
  const auto types = b.infer();
  ASSERT_TRUE(types.ok());
  std::string why;
  EXPECT_FALSE(gpu::has_device_kernel(b.model(), *y->producer(), *types, &why));
  EXPECT_NE(why.find("float64"), std::string::npos) << why;
}

}  // namespace
}  // namespace mixq
