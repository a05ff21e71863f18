// Folding QDQ away (lib/quant/qdq_strip.h, `mixq convert --requantize`):
//
//   before:   x ──► QuantizeLinear ──► DequantizeLinear ──► MatMul ──► y
//             w_quantized ──► DequantizeLinear(axis) ──►
//   after:    x ──────────────────────────────────────────► MatMul ──► y
//             w (float32 initializer = (w_quantized - zero_point) * scale) ──►
//
// The stripped model has no Q/DQ node and no leftover initializer; its folded weights equal, bit
// for bit, what the executor's DequantizeLinear computes from the quantized ones, and it computes
// what the weights-only QDQ model computes (to float rounding: a constant weight takes the packed
// GEMM path, a dequantized one does not).
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "mixq/exec/executor.h"
#include "mixq/quant/qdq_emit.h"
#include "mixq/quant/qdq_strip.h"

namespace mixq::quant {
namespace {

using testing::GraphBuilder;

std::vector<ir::Tensor> run(const ir::Model& m, const exec::NamedTensors& feeds) {
  return testing::run_model(m, feeds);
}

int count(const ir::Model& m, std::string_view op) { return testing::count_ops(m, op); }

// x [N, 8] -> MatMul(w1 [8, 6]) -> Relu -> Conv-free second MatMul(w2 [6, 4]) -> y, at `opset`.
struct Net {
  explicit Net(int64_t opset) : b(opset) {
    ir::Value* x = b.input("x", DType::kFloat32, {"N", 8});
    ir::Value* w1 = b.constant("w1", testing::random_floats({8, 6}, 1));
    ir::Value* w2 = b.constant("w2", testing::random_floats({6, 4}, 2));
    ir::Node* m1 = nullptr;
    ir::Value* h = b.node("MatMul", {x, w1})[0];
    m1 = h->producer();
    ir::Value* r = b.node("Relu", {h})[0];
    ir::Value* y = b.node("MatMul", {r, w2})[0];
    b.output(y);
    layers = {{m1, Precision::kInt8, 1, false}, {y->producer(), Precision::kInt8, 1, false}};
  }
  GraphBuilder b;
  std::vector<LayerTarget> layers;
};

TEST(QdqStrip, FoldsWeightsAndRemovesActivationPairs) {
  for (Precision p : {Precision::kInt8, Precision::kFp8}) {
    Net net(p == Precision::kFp8 ? 19 : 13);
    for (auto& l : net.layers) l.precision = p;
    ir::Model& m = net.b.model();
    const exec::NamedTensors feeds = {{"x", testing::random_floats({5, 8}, 3, -2, 2)}};
    // Weights only: what the stripped model must equal exactly.
    Net wonly(p == Precision::kFp8 ? 19 : 13);
    for (auto& l : wonly.layers) l.precision = p;
    std::vector<std::string> log;
    ASSERT_TRUE(emit_qdq(wonly.b.model(), wonly.layers, {.weights_only = true}, log).ok());
    // Expose the two dequantized weights as outputs too (the executor's DequantizeLinear).
    for (const auto& n : wonly.b.model().graph().nodes()) {
      if (n->op_type() == "DequantizeLinear") wonly.b.output(n->output(0));
    }
    const auto want = run(wonly.b.model(), feeds);
    ASSERT_EQ(want.size(), 3u);
    // Weights and activations quantized, then stripped.
    QdqOptions full;
    full.activation_range = [](const std::string&, Precision) { return 1.5; };
    ASSERT_TRUE(emit_qdq(m, net.layers, full, log).ok());
    ASSERT_EQ(count(m, "QuantizeLinear"), 2);
    ASSERT_EQ(count(m, "DequantizeLinear"), 4);
    std::vector<std::string> strip_log;
    const Status s = strip_qdq(m, strip_log);
    ASSERT_TRUE(s.ok()) << s.to_string();
    EXPECT_EQ(count(m, "QuantizeLinear"), 0);
    EXPECT_EQ(count(m, "DequantizeLinear"), 0);
    EXPECT_EQ(strip_log.size(), 4u);  // two weights folded, two pairs removed
    // Only the two folded float32 weights are left.
    ASSERT_EQ(m.graph().initializers().size(), 2u);
    for (const ir::Value* v : m.graph().initializers()) {
      EXPECT_EQ(v->initializer()->dtype(), DType::kFloat32) << v->name();
    }
    for (size_t k = 0; k < 2; ++k) {
      const ir::Tensor& folded = *m.graph().initializers()[k]->initializer();
      const ir::Tensor& dq = want[1 + k];
      ASSERT_EQ(folded.dims(), dq.dims());
      for (int64_t i = 0; i < dq.numel(); ++i) {
        ASSERT_EQ(folded.data<float>()[i], dq.data<float>()[i]) << "weight " << k << " " << i;
      }
    }
    ASSERT_TRUE(m.graph().sort_nodes().ok());
    const auto got = run(m, feeds);
    ASSERT_EQ(got.size(), 1u);
    const float* a = got[0].data<float>();
    const float* w = want[0].data<float>();
    for (int64_t i = 0; i < got[0].numel(); ++i) {
      EXPECT_NEAR(a[i], w[i], 1e-5 * (1 + std::fabs(w[i]))) << i;
    }
  }
}

TEST(QdqStrip, rejects_integer_ops_and_graph_outputs_of_qdq) {
  {
    GraphBuilder b(13);
    ir::Value* x = b.input("x", DType::kUint8, {2, 3});
    ir::Value* w = b.constant("w", testing::random_floats({3, 2}, 1));
    (void)w;
    ir::Value* wq = b.input("wq", DType::kUint8, {3, 2});
    ir::Value* y = b.node("MatMulInteger", {x, wq})[0];
    y->producer()->set_name("mm_int");
    b.output(y);
    std::vector<std::string> log;
    const Status s = strip_qdq(b.model(), log);
    EXPECT_EQ(s.code(), StatusCode::kUnsupported);
    EXPECT_NE(s.message().find("mm_int"), std::string::npos) << s.message();
  }
  {
    GraphBuilder b(13);
    ir::Value* x = b.input("x", DType::kFloat32, {2, 3});
    ir::Value* sc = b.constant("s", ir::Tensor::scalar_float(0.1f));
    ir::Value* q = b.node("QuantizeLinear", {x, sc})[0];
    ir::Value* d = b.node("DequantizeLinear", {q, sc})[0];
    d->producer()->set_name("dq_out");
    b.output(d);
    std::vector<std::string> log;
    const Status s = strip_qdq(b.model(), log);
    EXPECT_EQ(s.code(), StatusCode::kUnsupported);
    EXPECT_NE(s.message().find("dq_out"), std::string::npos) << s.message();
  }
}

}  // namespace
}  // namespace mixq::quant
