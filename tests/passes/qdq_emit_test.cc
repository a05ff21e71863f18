// QDQ emission (lib/quant/qdq_emit.h) and FP16 emission (lib/quant/fp16_emit.h) on small models.
//
// A layer planned INT8 / FP8 (opset 13 / 19):
//
//   before:   x ──────────────────────────────► MatMul ──► y        w (float32 initializer)
//             w ──────────────────────────────►
//
//   after:    x ──► QuantizeLinear ──► DequantizeLinear ──► MatMul ──► y
//             w_quantized (int8 / float8e4m3fn) ──► DequantizeLinear(axis) ──►
//             (w itself is gone when nothing else reads it; a bias stays float)
//
// Each test checks the op counts and wiring, the stored weights (per output channel scale =
// absmax / qmax, each element round_half_even(w / scale) computed here in float64), the outputs
// against a float64 simulation (dequantized weights times fake-quantized activations) and against
// the float model (an error bound from the format's step), and a sort + save + load round trip.
//
// FP16 (MatMul -> Add -> Relu -> MatMul -> Softmax, the MatMuls selected):
//
//   before:   x ──► MatMul ──► Add ──► Relu ──► MatMul ──► Softmax ──► probs     (all float32)
//   after:    x ──► Cast(FLOAT16) ──► [MatMul ──► Add ──► Relu ──► MatMul] ──► Cast(FLOAT) ──►
//             Softmax ──► probs;  w1, b1, w2 stored as FLOAT16
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "mixq/core/float8.h"
#include "mixq/core/float_bits.h"
#include "mixq/exec/executor.h"
#include "mixq/ir/shape_inference.h"
#include "mixq/onnx/model_io.h"
#include "mixq/quant/fp16_emit.h"
#include "mixq/quant/qdq_emit.h"
#include "test_support.h"

namespace mixq::quant {
namespace {

using testing::GraphBuilder;
using testing::set_int;
using Vec = std::vector<double>;

std::vector<ir::Tensor> run(const ir::Model& m, const exec::NamedTensors& feeds) {
  return testing::run_model(m, feeds);
}

int count(const ir::Model& m, std::string_view op) { return testing::count_ops(m, op); }

const ir::Value* find_initializer(const ir::Model& m, std::string_view name) {
  for (const ir::Value* v : m.graph().initializers()) {
    if (v->name() == name) return v;
  }
  return nullptr;
}

bool log_mentions(const std::vector<std::string>& log, std::string_view what) {
  for (const auto& line : log) {
    if (line.find(what) != std::string::npos) return true;
  }
  return false;
}

std::string join(const std::vector<std::string>& log) {
  std::string s;
  for (const auto& l : log) s += l + "\n";
  return s;
}

Vec doubles(const ir::Tensor& t) { return testing::to_doubles(t); }

double absmax(const ir::Tensor& t) {
  double m = 0;
  for (double v : doubles(t)) m = std::max(m, std::fabs(v));
  return m;
}

// ||got - want|| / ||want|| over the whole tensor.
double rel_l2(const Vec& got, const Vec& want) {
  double e = 0, s = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    e += (got[i] - want[i]) * (got[i] - want[i]);
    s += want[i] * want[i];
  }
  return std::sqrt(e / s);
}

int64_t storage_max(Precision p) { return p == Precision::kFp8 ? 448 : 127; }
DType storage_dtype(Precision p) {
  return p == Precision::kFp8 ? DType::kFloat8E4M3FN : DType::kInt8;
}
int64_t opset_for(Precision p) { return p == Precision::kFp8 ? 19 : 13; }

// The value of a stored weight or zero-point element.
double stored_value(const ir::Tensor& t, int64_t i) {
  return t.dtype() == DType::kInt8 ? double(t.data<int8_t>()[i])
                                   : double(float8e4m3fn_to_float(t.data<uint8_t>()[i]));
}

// QuantizeLinear -> DequantizeLinear of one float32 activation element, in float64 after the
// quotient: ONNX defines x / y_scale in x's type (float32), then rounds half to even and
// saturates (INT8: to [-128, 127], the type's range; FP8: to +-448 on the E4M3 grid).
double fake_quant(float x, float scale, Precision p) {
  const float q = x / scale;
  if (p == Precision::kInt8) {
    const double r = std::nearbyint(double(q));  // default rounding mode: half to even
    return std::clamp(r, -128.0, 127.0) * double(scale);
  }
  return double(float8e4m3fn_to_float(float_to_float8e4m3fn(q, true))) * double(scale);
}

// Checks the Q -> DQ pair in front of input `index` of `layer` (fed by `x`, calibrated `range`)
// and returns the fake-quantized activation in float64 for `feed` (x's value).
Vec check_activation(const ir::Node& layer, size_t index, const ir::Value* x, double range,
                     Precision p, const ir::Tensor& feed) {
  const ir::Value* in = layer.input(index);
  const ir::Node* dq = in->producer();
  EXPECT_NE(dq, nullptr);
  if (dq == nullptr) return {};
  EXPECT_EQ(dq->op_type(), "DequantizeLinear");
  const ir::Node* q = dq->input(0)->producer();
  EXPECT_NE(q, nullptr);
  if (q == nullptr) return {};
  EXPECT_EQ(q->op_type(), "QuantizeLinear");
  EXPECT_EQ(q->input(0), x) << "Q reads the original activation";
  EXPECT_EQ(q->attr("axis"), nullptr) << "per tensor";
  EXPECT_EQ(dq->attr("axis"), nullptr) << "per tensor";
  EXPECT_EQ(dq->input(1), q->input(1)) << "Q and DQ share the scale";
  EXPECT_EQ(dq->input(2), q->input(2)) << "Q and DQ share the zero point";
  const ir::Tensor* s = q->input(1)->initializer();
  const ir::Tensor* z = q->input(2)->initializer();
  EXPECT_TRUE(s && z);
  if (!s || !z) return {};
  EXPECT_EQ(s->dtype(), DType::kFloat32);
  EXPECT_EQ(s->rank(), 0u);
  const float scale = s->data<float>()[0];
  EXPECT_EQ(scale, static_cast<float>(range / double(storage_max(p))));
  EXPECT_EQ(z->dtype(), storage_dtype(p));
  EXPECT_EQ(z->rank(), 0u);
  EXPECT_EQ(stored_value(*z, 0), 0.0);
  EXPECT_EQ(q->output(0)->type().dtype, storage_dtype(p));
  Vec out(size_t(feed.numel()));
  for (int64_t i = 0; i < feed.numel(); ++i) {
    out[size_t(i)] = fake_quant(feed.data<float>()[i], scale, p);
  }
  return out;
}

// Checks the DequantizeLinear that replaced weight `w` (its float32 values) at input `index` of
// `layer`: storage type, axis, per-channel scales = absmax / qmax (1 for an all-zero channel),
// zero points 0, and every element = round_half_even(w / scale) clamped (INT8) or the nearest
// E4M3 value (FP8). Returns the dequantized weight in float64, in w's layout.
Vec check_weight(const ir::Node& layer, size_t index, const ir::Tensor& w, Precision p,
                 int64_t want_axis) {
  const ir::Node* dq = layer.input(index)->producer();
  EXPECT_NE(dq, nullptr);
  if (dq == nullptr) return {};
  EXPECT_EQ(dq->op_type(), "DequantizeLinear");
  EXPECT_EQ(dq->attr_int("axis", -100).value(), want_axis);
  const ir::Tensor* q = dq->input(0)->initializer();
  const ir::Tensor* s = dq->input(1)->initializer();
  const ir::Tensor* z = dq->input(2)->initializer();
  EXPECT_TRUE(q && s && z);
  if (!q || !s || !z) return {};
  EXPECT_EQ(q->dtype(), storage_dtype(p));
  EXPECT_EQ(q->dims(), w.dims());
  const int64_t channels = w.dims()[size_t(want_axis)];
  int64_t inner = 1;
  for (size_t d = size_t(want_axis) + 1; d < w.rank(); ++d) inner *= w.dims()[d];
  EXPECT_EQ(s->dtype(), DType::kFloat32);
  EXPECT_EQ(s->dims(), std::vector<int64_t>{channels});
  EXPECT_EQ(z->dtype(), storage_dtype(p));
  EXPECT_EQ(z->dims(), std::vector<int64_t>{channels});
  if (s->numel() != channels || z->numel() != channels || q->dims() != w.dims()) return {};
  for (int64_t c = 0; c < channels; ++c) EXPECT_EQ(stored_value(*z, c), 0.0) << c;

  const Vec wd = doubles(w);
  Vec amax(size_t(channels), 0.0);
  for (size_t i = 0; i < wd.size(); ++i) {
    const size_t c = (i / size_t(inner)) % size_t(channels);
    amax[c] = std::max(amax[c], std::fabs(wd[i]));
  }
  const double qmax = double(storage_max(p));
  for (int64_t c = 0; c < channels; ++c) {
    const float want = amax[size_t(c)] == 0 ? 1.0f : static_cast<float>(amax[size_t(c)] / qmax);
    EXPECT_EQ(s->data<float>()[c], want) << "channel " << c;
  }
  // Every finite E4M3 value, for the independent nearest-value check.
  std::vector<double> grid;
  for (int code = 0; code < 256; ++code) {
    const float g = float8e4m3fn_to_float(uint8_t(code));
    if (std::isfinite(g)) grid.push_back(g);
  }
  Vec deq(wd.size());
  int mismatches = 0;
  for (size_t i = 0; i < wd.size(); ++i) {
    const size_t c = (i / size_t(inner)) % size_t(channels);
    const double scale = s->data<float>()[c];
    const double x = wd[i] / scale;
    const double got = stored_value(*q, int64_t(i));
    if (p == Precision::kInt8) {
      const double want = std::clamp(std::nearbyint(x), -127.0, 127.0);
      mismatches += got != want;
      EXPECT_EQ(got, want) << "element " << i << " w " << wd[i] << " scale " << scale;
    } else {
      EXPECT_EQ(q->data<uint8_t>()[i], double_to_float8e4m3fn(x, true)) << "element " << i;
      double best = INFINITY;
      for (double g : grid) best = std::min(best, std::fabs(g - x));
      EXPECT_EQ(std::fabs(got - x), best) << "element " << i << ": not the nearest E4M3 value";
      mismatches += std::fabs(got - x) != best;
    }
    if (mismatches > 5) break;
    deq[i] = got * scale;
  }
  return deq;
}

// Output reference implementations in float64.
// MatMul of [R, K] (leading dims flattened) by [K, N].
Vec matmul(const Vec& a, const Vec& b, int64_t k, int64_t n) {
  const int64_t r = int64_t(a.size()) / k;
  Vec y(size_t(r * n), 0.0);
  for (int64_t i = 0; i < r; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double acc = 0;
      for (int64_t t = 0; t < k; ++t) acc += a[size_t(i * k + t)] * b[size_t(t * n + j)];
      y[size_t(i * n + j)] = acc;
    }
  }
  return y;
}

// Batched MatMul [B, M, K] x [B, K, N].
Vec batched_matmul(const Vec& a, const Vec& b, int64_t batch, int64_t m, int64_t k, int64_t n) {
  Vec y;
  for (int64_t i = 0; i < batch; ++i) {
    const Vec ai(a.begin() + i * m * k, a.begin() + (i + 1) * m * k);
    const Vec bi(b.begin() + i * k * n, b.begin() + (i + 1) * k * n);
    const Vec yi = matmul(ai, bi, k, n);
    y.insert(y.end(), yi.begin(), yi.end());
  }
  return y;
}

// [N, K] -> [K, N]
Vec transpose(const Vec& b, int64_t rows, int64_t cols) {
  Vec t(b.size());
  for (int64_t i = 0; i < rows; ++i) {
    for (int64_t j = 0; j < cols; ++j) t[size_t(j * rows + i)] = b[size_t(i * cols + j)];
  }
  return t;
}

void add_bias(Vec& y, const Vec& bias, int64_t channels, int64_t inner) {
  for (size_t i = 0; i < y.size(); ++i) y[i] += bias[(i / size_t(inner)) % size_t(channels)];
}

// Conv, stride 1, no padding: x [N, C, H, W], w [M, C, KH, KW].
Vec conv(const Vec& x, const Vec& w, int64_t n, int64_t c, int64_t h, int64_t wd, int64_t m,
         int64_t kh, int64_t kw) {
  const int64_t oh = h - kh + 1, ow = wd - kw + 1;
  Vec y(size_t(n * m * oh * ow), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t o = 0; o < m; ++o)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = 0;
          for (int64_t ci = 0; ci < c; ++ci)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v)
                acc += x[size_t(((b * c + ci) * h + i + u) * wd + j + v)] *
                       w[size_t(((o * c + ci) * kh + u) * kw + v)];
          y[size_t(((b * m + o) * oh + i) * ow + j)] = acc;
        }
  return y;
}

// ConvTranspose, stride 1, no padding: x [N, C, H, W], w [C, M, KH, KW] -> [N, M, H+KH-1, ..].
Vec conv_transpose(const Vec& x, const Vec& w, int64_t n, int64_t c, int64_t h, int64_t wd,
                   int64_t m, int64_t kh, int64_t kw) {
  const int64_t oh = h + kh - 1, ow = wd + kw - 1;
  Vec y(size_t(n * m * oh * ow), 0.0);
  for (int64_t b = 0; b < n; ++b)
    for (int64_t ci = 0; ci < c; ++ci)
      for (int64_t i = 0; i < h; ++i)
        for (int64_t j = 0; j < wd; ++j)
          for (int64_t o = 0; o < m; ++o)
            for (int64_t u = 0; u < kh; ++u)
              for (int64_t v = 0; v < kw; ++v)
                y[size_t(((b * m + o) * oh + i + u) * ow + j + v)] +=
                    x[size_t(((b * c + ci) * h + i) * wd + j)] *
                    w[size_t(((ci * m + o) * kh + u) * kw + v)];
  return y;
}

// The relative L2 error a quantized layer may have against float. Uniform rounding with step
// absmax / 127 has RMS error absmax / (127 sqrt 12), against the RMS absmax / sqrt 3 of uniform
// data: 2^-8 per operand, about 1.4 * 2^-8 for a product of two; the bound is 2^-7. E4M3 rounds
// to 3 significand bits: at most 2^-4 relative per operand, RMS about 2^-5 each, ~1.4 * 2^-5 for
// both; the bound is 2^-4.
double error_bound(Precision p) { return p == Precision::kFp8 ? 1.0 / 16 : 1.0 / 128; }

// Sorts, saves and reloads the model; the reloaded model gives the same outputs bit for bit and
// keeps the op counts.
void expect_round_trip(ir::Model& m, const exec::NamedTensors& feeds,
                       const std::vector<ir::Tensor>& want) {
  const Status sorted = m.graph().sort_nodes();
  ASSERT_TRUE(sorted.ok()) << sorted.to_string();
  testing::TempDir dir;
  const Status saved = onnx::save_model(m, dir / "q.onnx");
  ASSERT_TRUE(saved.ok()) << saved.to_string();
  auto loaded = onnx::load_model(dir / "q.onnx");
  ASSERT_TRUE(loaded.ok()) << loaded.status().to_string();
  for (const char* op : {"QuantizeLinear", "DequantizeLinear", "Cast"}) {
    EXPECT_EQ(count(**loaded, op), count(m, op)) << op;
  }
  EXPECT_EQ((*loaded)->graph().initializers().size(), m.graph().initializers().size());
  const std::vector<ir::Tensor> got = run(**loaded, feeds);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_EQ(got[i].dtype(), want[i].dtype());
    ASSERT_EQ(got[i].nbytes(), want[i].nbytes());
    EXPECT_EQ(std::memcmp(got[i].raw_data(), want[i].raw_data(), got[i].nbytes()), 0)
        << "output " << i << " changed through save/load";
  }
}

// One layer with a constant weight, as built by a test.
struct OneLayer {
  ir::Node* node;
  size_t weight_input;
  int64_t axis;  // the expected channel axis
  // The float64 output from the activation and the weight (dequantized), the bias included.
  std::function<Vec(const Vec& x, const Vec& w)> reference;
};

// Quantizes `layer` (its activation is graph input "x"), then checks structure, stored weights,
// numerics against the float64 simulation and the float model, and the save/load round trip.
void quantize_and_check(GraphBuilder& b, const OneLayer& layer, Precision p,
                        const exec::NamedTensors& feeds) {
  ir::Model& m = b.model();
  const std::vector<ir::Tensor> before = run(m, feeds);
  ASSERT_EQ(before.size(), 1u);
  const ir::Tensor& xt = feeds[0].second;
  ir::Value* x = m.graph().find_value("x");
  ir::Value* wv = layer.node->input(layer.weight_input);
  const std::string w_name = wv->name();
  const ir::Tensor w = *wv->initializer();  // shares the buffer: stays valid after the rewrite
  ir::Value* bias = layer.node->input(2);
  const Vec bias_before = bias ? doubles(*bias->initializer()) : Vec{};
  const size_t nodes_before = m.graph().num_nodes();
  const double range = absmax(xt);

  std::vector<std::string> log;
  QdqOptions o;
  o.activation_range = [&](const std::string& t, Precision q) -> std::optional<double> {
    EXPECT_EQ(q, p);
    if (t == "x") return range;
    return std::nullopt;
  };
  const Status s = emit_qdq(
      m, {{.node = layer.node, .precision = p, .weight_input = layer.weight_input}}, o, log);
  ASSERT_TRUE(s.ok()) << s.to_string();

  // One DQ for the weight, one Q + DQ for the activation edge; nothing else added.
  EXPECT_EQ(count(m, "DequantizeLinear"), 2);
  EXPECT_EQ(count(m, "QuantizeLinear"), 1);
  EXPECT_EQ(m.graph().num_nodes(), nodes_before + 3);
  // The float weight is gone (nothing else reads it); the bias is the same float initializer.
  EXPECT_EQ(find_initializer(m, w_name), nullptr) << w_name << " still stored";
  EXPECT_EQ(wv->initializer(), nullptr);
  if (bias) {
    EXPECT_EQ(layer.node->input(2), bias) << "bias rewired";
    ASSERT_NE(bias->initializer(), nullptr);
    EXPECT_EQ(bias->initializer()->dtype(), DType::kFloat32);
    EXPECT_EQ(doubles(*bias->initializer()), bias_before);
  }
  ASSERT_EQ(log.size(), 2u) << join(log);
  EXPECT_TRUE(log_mentions(log, std::string("inserted DequantizeLinear ") + precision_name(p) +
                                    " per-channel axis=" + std::to_string(layer.axis) + " on " +
                                    w_name))
      << join(log);
  EXPECT_TRUE(log_mentions(log, "inserted QuantizeLinear/DequantizeLinear")) << join(log);

  const Vec wq = check_weight(*layer.node, layer.weight_input, w, p, layer.axis);
  const Vec xq = check_activation(*layer.node, 1 - layer.weight_input, x, range, p, xt);
  ASSERT_EQ(wq.size(), size_t(w.numel()));
  ASSERT_EQ(xq.size(), size_t(xt.numel()));

  const std::vector<ir::Tensor> after = run(m, feeds);
  ASSERT_EQ(after.size(), 1u);
  const Vec got = doubles(after[0]);
  const Vec sim = layer.reference(xq, wq);
  ASSERT_EQ(got.size(), sim.size());
  EXPECT_LT(rel_l2(got, sim), 1e-6) << "the executor disagrees with the float64 simulation";
  const double err = rel_l2(got, doubles(before[0]));
  EXPECT_LT(err, error_bound(p)) << precision_name(p);
  // Not zero: the layer really runs on quantized values.
  EXPECT_GT(err, 0.0);
  // And the float model's own float64 result is close to the float run (a sanity check of the
  // reference itself, so that the comparison above means something).
  EXPECT_LT(rel_l2(layer.reference(doubles(xt), doubles(w)), doubles(before[0])), 1e-6);

  expect_round_trip(m, feeds, after);
}

class QdqEmitTest : public ::testing::TestWithParam<Precision> {};

std::string precision_param_name(const ::testing::TestParamInfo<Precision>& info) {
  return precision_name(info.param);
}

// MatMul with B [K, N]: per-channel along N (axis 1). Column 5 of B is all zero: scale 1.
TEST_P(QdqEmitTest, MatMulWeightPerChannelAlongN) {
  const Precision p = GetParam();
  GraphBuilder b(opset_for(p));
  ir::Value* x = b.input("x", DType::kFloat32, {2, 3, 16});
  ir::Tensor wt = testing::random_floats({16, 8}, 101);
  for (int64_t k = 0; k < 16; ++k) wt.mutable_data<float>()[k * 8 + 5] = 0;
  ir::Value* w = b.constant("w", wt);
  ir::Value* y = b.node("MatMul", {x, w})[0];
  b.output(y);
  const OneLayer layer{y->producer(), 1, 1,
                       [](const Vec& xv, const Vec& wv) { return matmul(xv, wv, 16, 8); }};
  quantize_and_check(b, layer, p, {{"x", testing::random_floats({2, 3, 16}, 102)}});
  // The zero column quantized to zeros with scale 1.
  const ir::Node* dq = layer.node->input(1)->producer();
  ASSERT_NE(dq, nullptr);
  ASSERT_NE(dq->input(1)->initializer(), nullptr);
  EXPECT_EQ(dq->input(1)->initializer()->data<float>()[5], 1.0f);
}

// Gemm with B [K, N] (transB = 0): axis 1; the bias C stays float.
TEST_P(QdqEmitTest, GemmWeightAxis1WithoutTransB) {
  const Precision p = GetParam();
  GraphBuilder b(opset_for(p));
  ir::Value* x = b.input("x", DType::kFloat32, {5, 12});
  ir::Value* w = b.constant("w", testing::random_floats({12, 7}, 111));
  ir::Value* c = b.constant("c", testing::random_floats({7}, 112));
  ir::Value* y = b.node("Gemm", {x, w, c})[0];
  b.output(y);
  const OneLayer layer{y->producer(), 1, 1, [&](const Vec& xv, const Vec& wv) {
                         Vec out = matmul(xv, wv, 12, 7);
                         add_bias(out, doubles(*c->initializer()), 7, 1);
                         return out;
                       }};
  quantize_and_check(b, layer, p, {{"x", testing::random_floats({5, 12}, 113)}});
}

// Gemm with B [N, K] (transB = 1): axis 0.
TEST_P(QdqEmitTest, GemmWeightAxis0WithTransB) {
  const Precision p = GetParam();
  GraphBuilder b(opset_for(p));
  ir::Value* x = b.input("x", DType::kFloat32, {5, 12});
  ir::Value* w = b.constant("w", testing::random_floats({7, 12}, 121));
  ir::Value* c = b.constant("c", testing::random_floats({7}, 122));
  ir::Value* y = b.node("Gemm", {x, w, c}, 1, [](ir::Node& n) { set_int(n, "transB", 1); })[0];
  b.output(y);
  const OneLayer layer{y->producer(), 1, 0, [&](const Vec& xv, const Vec& wv) {
                         Vec out = matmul(xv, transpose(wv, 7, 12), 12, 7);
                         add_bias(out, doubles(*c->initializer()), 7, 1);
                         return out;
                       }};
  quantize_and_check(b, layer, p, {{"x", testing::random_floats({5, 12}, 123)}});
}

// Conv with W [M, C, KH, KW]: axis 0; output channel 2 all zero (scale 1, codes 0).
TEST_P(QdqEmitTest, ConvWeightAxis0) {
  const Precision p = GetParam();
  GraphBuilder b(opset_for(p));
  ir::Value* x = b.input("x", DType::kFloat32, {2, 3, 6, 6});
  ir::Tensor wt = testing::random_floats({4, 3, 3, 3}, 131);
  for (int64_t i = 0; i < 27; ++i) wt.mutable_data<float>()[2 * 27 + i] = 0;
  ir::Value* w = b.constant("w", wt);
  ir::Value* bias = b.constant("bias", testing::random_floats({4}, 132));
  ir::Value* y = b.node("Conv", {x, w, bias})[0];
  b.output(y);
  const OneLayer layer{y->producer(), 1, 0, [&](const Vec& xv, const Vec& wv) {
                         Vec out = conv(xv, wv, 2, 3, 6, 6, 4, 3, 3);
                         add_bias(out, doubles(*bias->initializer()), 4, 16);
                         return out;
                       }};
  quantize_and_check(b, layer, p, {{"x", testing::random_floats({2, 3, 6, 6}, 133)}});
  const ir::Node* dq = layer.node->input(1)->producer();
  ASSERT_NE(dq, nullptr);
  ASSERT_NE(dq->input(1)->initializer(), nullptr);
  EXPECT_EQ(dq->input(1)->initializer()->data<float>()[2], 1.0f);
}

// ConvTranspose with W [C, M, KH, KW]: axis 1 (the output channels).
TEST_P(QdqEmitTest, ConvTransposeWeightAxis1) {
  const Precision p = GetParam();
  GraphBuilder b(opset_for(p));
  ir::Value* x = b.input("x", DType::kFloat32, {1, 4, 5, 5});
  ir::Value* w = b.constant("w", testing::random_floats({4, 3, 3, 3}, 141));
  ir::Value* bias = b.constant("bias", testing::random_floats({3}, 142));
  ir::Value* y = b.node("ConvTranspose", {x, w, bias})[0];
  b.output(y);
  const OneLayer layer{y->producer(), 1, 1, [&](const Vec& xv, const Vec& wv) {
                         Vec out = conv_transpose(xv, wv, 1, 4, 5, 5, 3, 3, 3);
                         add_bias(out, doubles(*bias->initializer()), 3, 49);
                         return out;
                       }};
  quantize_and_check(b, layer, p, {{"x", testing::random_floats({1, 4, 5, 5}, 143)}});
}

// Both inputs of a batched MatMul are activations: a Q/DQ pair on each, no weight DQ.
//
//   before:  a ──► MatMul ◄── bt        after:  a ──► Q ──► DQ ──► MatMul ◄── DQ ◄── Q ◄── bt
TEST_P(QdqEmitTest, BatchedMatMulGetsAPairOnEachInput) {
  const Precision p = GetParam();
  GraphBuilder b(opset_for(p));
  ir::Value* a = b.input("a", DType::kFloat32, {2, 3, 8});
  ir::Value* bt = b.input("bt", DType::kFloat32, {2, 8, 5});
  ir::Value* y = b.node("MatMul", {a, bt})[0];
  b.output(y);
  const exec::NamedTensors feeds = {{"a", testing::random_floats({2, 3, 8}, 151)},
                                    {"bt", testing::random_floats({2, 8, 5}, 152, -3, 3)}};
  const std::vector<ir::Tensor> before = run(b.model(), feeds);
  ASSERT_EQ(before.size(), 1u);
  const std::map<std::string, double> ranges = {{"a", absmax(feeds[0].second)},
                                                {"bt", absmax(feeds[1].second)}};
  const size_t inits = b.graph().initializers().size();
  std::vector<std::string> log;
  QdqOptions o;
  o.activation_range = [&](const std::string& t, Precision) -> std::optional<double> {
    return ranges.at(t);
  };
  ir::Node* mm = y->producer();
  ASSERT_TRUE(emit_qdq(b.model(), {{.node = mm, .precision = p, .batched = true}}, o, log).ok());
  EXPECT_EQ(count(b.model(), "QuantizeLinear"), 2);
  EXPECT_EQ(count(b.model(), "DequantizeLinear"), 2);
  EXPECT_EQ(b.graph().num_nodes(), 5u);
  // Scale and zero point per pair, no weight.
  EXPECT_EQ(b.graph().initializers().size(), inits + 4);
  EXPECT_EQ(log.size(), 2u) << join(log);
  const Vec aq = check_activation(*mm, 0, a, ranges.at("a"), p, feeds[0].second);
  const Vec bq = check_activation(*mm, 1, bt, ranges.at("bt"), p, feeds[1].second);
  ASSERT_FALSE(aq.empty());
  ASSERT_FALSE(bq.empty());
  const std::vector<ir::Tensor> after = run(b.model(), feeds);
  ASSERT_EQ(after.size(), 1u);
  const Vec got = doubles(after[0]);
  EXPECT_LT(rel_l2(got, batched_matmul(aq, bq, 2, 3, 8, 5)), 1e-6);
  EXPECT_LT(rel_l2(got, doubles(before[0])), error_bound(p));

  // weights_only leaves a batched MatMul alone (nothing constant to quantize).
  GraphBuilder b2(opset_for(p));
  ir::Value* a2 = b2.input("a", DType::kFloat32, {2, 3, 8});
  ir::Value* y2 = b2.node("MatMul", {a2, b2.input("bt", DType::kFloat32, {2, 8, 5})})[0];
  b2.output(y2);
  QdqOptions wo = o;
  wo.weights_only = true;
  ASSERT_TRUE(
      emit_qdq(b2.model(), {{.node = y2->producer(), .precision = p, .batched = true}}, wo, log)
          .ok());
  EXPECT_EQ(b2.graph().num_nodes(), 1u);

  expect_round_trip(b.model(), feeds, after);
}

INSTANTIATE_TEST_SUITE_P(Formats, QdqEmitTest, ::testing::Values(Precision::kInt8, Precision::kFp8),
                         precision_param_name);

// weights_only: the weight gets its DequantizeLinear, the activation no QuantizeLinear.
TEST(QdqEmit, WeightsOnlyAddsNoQuantizeLinear) {
  GraphBuilder b(13);
  ir::Value* x = b.input("x", DType::kFloat32, {4, 16});
  ir::Value* w = b.constant("w", testing::random_floats({16, 6}, 161));
  ir::Value* y = b.node("MatMul", {x, w})[0];
  b.output(y);
  const exec::NamedTensors feeds = {{"x", testing::random_floats({4, 16}, 162)}};
  const std::vector<ir::Tensor> before = run(b.model(), feeds);
  ASSERT_EQ(before.size(), 1u);
  const ir::Tensor wt = *w->initializer();
  ir::Node* mm = y->producer();
  std::vector<std::string> log;
  QdqOptions o;
  o.weights_only = true;
  o.activation_range = [](const std::string&, Precision) { return std::optional<double>(1.0); };
  ASSERT_TRUE(emit_qdq(b.model(), {{.node = mm, .precision = Precision::kInt8}}, o, log).ok());
  EXPECT_EQ(count(b.model(), "QuantizeLinear"), 0);
  EXPECT_EQ(count(b.model(), "DequantizeLinear"), 1);
  EXPECT_EQ(mm->input(0), x) << "the activation stays float";
  EXPECT_EQ(log.size(), 1u) << join(log);
  const Vec wq = check_weight(*mm, 1, wt, Precision::kInt8, 1);
  ASSERT_EQ(wq.size(), 96u);
  const std::vector<ir::Tensor> after = run(b.model(), feeds);
  ASSERT_EQ(after.size(), 1u);
  const Vec got = doubles(after[0]);
  EXPECT_LT(rel_l2(got, matmul(doubles(feeds[0].second), wq, 16, 6)), 1e-6);
  // Only the weight's rounding: 2^-8 per operand (see error_bound), bounded by 2^-7.
  EXPECT_LT(rel_l2(got, doubles(before[0])), 1.0 / 128);
  expect_round_trip(b.model(), feeds, after);
}

// A shared activation gets one Q/DQ pair per consuming layer; a weight read by a float op keeps
// its float32 initializer; a weight shared by two quantized layers is dropped after the second.
//
//   before:  x ──► MatMul_0(w) ──► y1 ──► MatMul_3(w2) ──► y4
//            x ──► MatMul_1(w2) ──► y2
//            x ──► Add_2(w) ──► y3                                    (float, not planned)
//   after:   x ──► Q ──► DQ ──► MatMul_0(DQ(w_q))
//            x ──► Q ──► DQ ──► MatMul_1(DQ(w2_q))
//            y1 ──► Q ──► DQ ──► MatMul_3(DQ(w2_q_1))
//            x ──► Add_2(w)                                    (w stays, w2 is gone)
TEST(QdqEmit, SharedActivationGetsOnePairPerLayer) {
  GraphBuilder b(13);
  ir::Value* x = b.input("x", DType::kFloat32, {8, 8});
  ir::Value* w = b.constant("w", testing::random_floats({8, 8}, 171));
  ir::Value* w2 = b.constant("w2", testing::random_floats({8, 6}, 172));
  ir::Value* y1 = b.node("MatMul", {x, w})[0];
  ir::Value* y2 = b.node("MatMul", {x, w2})[0];
  ir::Value* y3 = b.node("Add", {x, w})[0];
  ir::Value* y4 = b.node("MatMul", {y1, w2})[0];
  for (ir::Value* v : {y1, y2, y3, y4}) b.output(v);
  const exec::NamedTensors feeds = {{"x", testing::random_floats({8, 8}, 173)}};
  const std::vector<ir::Tensor> before = run(b.model(), feeds);
  ASSERT_EQ(before.size(), 4u);
  const std::map<std::string, double> ranges = {{"x", absmax(feeds[0].second)},
                                                {y1->name(), absmax(before[0])}};
  const ir::Tensor wt = *w->initializer(), w2t = *w2->initializer();
  std::vector<std::string> log;
  QdqOptions o;
  o.activation_range = [&](const std::string& t, Precision) -> std::optional<double> {
    return ranges.at(t);
  };
  ir::Node* mm0 = y1->producer();
  ir::Node* mm1 = y2->producer();
  ir::Node* mm3 = y4->producer();
  ASSERT_TRUE(emit_qdq(b.model(),
                       {{.node = mm0, .precision = Precision::kInt8},
                        {.node = mm1, .precision = Precision::kInt8},
                        {.node = mm3, .precision = Precision::kInt8}},
                       o, log)
                  .ok());
  EXPECT_EQ(count(b.model(), "QuantizeLinear"), 3);
  EXPECT_EQ(count(b.model(), "DequantizeLinear"), 6);
  // x: read by two QuantizeLinear nodes (one per layer) and the float Add.
  ASSERT_EQ(x->uses().size(), 3u);
  int q_uses = 0;
  for (const ir::Use& u : x->uses()) q_uses += u.node->op_type() == "QuantizeLinear";
  EXPECT_EQ(q_uses, 2);
  EXPECT_NE(mm0->input(0)->producer(), mm1->input(0)->producer()) << "one pair per edge";
  EXPECT_EQ(y3->producer()->input(0), x);
  EXPECT_EQ(y3->producer()->input(1), w);
  ASSERT_NE(find_initializer(b.model(), "w"), nullptr) << "w is still read by the Add";
  EXPECT_EQ(w->initializer()->dtype(), DType::kFloat32);
  EXPECT_EQ(find_initializer(b.model(), "w2"), nullptr) << "w2 is read by quantized layers only";
  EXPECT_NE(mm1->input(1), mm3->input(1)) << "each layer dequantizes its own copy";

  const Vec xq0 = check_activation(*mm0, 0, x, ranges.at("x"), Precision::kInt8, feeds[0].second);
  const Vec xq1 = check_activation(*mm1, 0, x, ranges.at("x"), Precision::kInt8, feeds[0].second);
  const Vec wq = check_weight(*mm0, 1, wt, Precision::kInt8, 1);
  const Vec w2q = check_weight(*mm1, 1, w2t, Precision::kInt8, 1);
  EXPECT_EQ(check_weight(*mm3, 1, w2t, Precision::kInt8, 1), w2q);
  const std::vector<ir::Tensor> after = run(b.model(), feeds);
  ASSERT_EQ(after.size(), 4u);
  // The second layer reads the first one's (quantized model's) output.
  const Vec y1q = check_activation(*mm3, 0, y1, ranges.at(y1->name()), Precision::kInt8, after[0]);
  ASSERT_FALSE(xq0.empty() || xq1.empty() || wq.empty() || w2q.empty() || y1q.empty());
  EXPECT_LT(rel_l2(doubles(after[0]), matmul(xq0, wq, 8, 8)), 1e-6);
  EXPECT_LT(rel_l2(doubles(after[1]), matmul(xq1, w2q, 8, 6)), 1e-6);
  EXPECT_EQ(doubles(after[2]), doubles(before[2])) << "the float Add is untouched";
  EXPECT_LT(rel_l2(doubles(after[3]), matmul(y1q, w2q, 8, 6)), 1e-6);
  EXPECT_LT(rel_l2(doubles(after[0]), doubles(before[0])), 1.0 / 128);
  // Two quantized layers in a row: errors add in power, about sqrt(3) * 2^-8 < 2^-6.
  EXPECT_LT(rel_l2(doubles(after[3]), doubles(before[3])), 1.0 / 64);
  expect_round_trip(b.model(), feeds, after);
}

// No calibrated range for an activation: it stays float (logged); the weight is quantized.
// Layers planned FP32 / FP16 are not touched by emit_qdq.
TEST(QdqEmit, ActivationWithoutRangeStaysFloat) {
  for (bool has_callback : {true, false}) {
    GraphBuilder b(13);
    ir::Value* x = b.input("x", DType::kFloat32, {4, 16});
    ir::Value* w = b.constant("w", testing::random_floats({16, 6}, 181));
    ir::Value* y = b.node("MatMul", {x, w})[0];
    ir::Value* z =
        b.node("MatMul", {x, b.constant("w16", testing::random_floats({16, 3}, 182))})[0];
    b.output(y);
    b.output(z);
    const exec::NamedTensors feeds = {{"x", testing::random_floats({4, 16}, 183)}};
    const std::vector<ir::Tensor> before = run(b.model(), feeds);
    ASSERT_EQ(before.size(), 2u);
    const ir::Tensor wt = *w->initializer();
    std::vector<std::string> log;
    QdqOptions o;
    int asked = 0;
    if (has_callback) {
      o.activation_range = [&](const std::string& t, Precision) -> std::optional<double> {
        ++asked;
        EXPECT_EQ(t, "x");
        return std::nullopt;
      };
    }
    ir::Node* mm = y->producer();
    ASSERT_TRUE(emit_qdq(b.model(),
                         {{.node = mm, .precision = Precision::kInt8},
                          {.node = z->producer(), .precision = Precision::kFp16},
                          {.node = z->producer(), .precision = Precision::kFp32}},
                         o, log)
                    .ok());
    EXPECT_EQ(asked, has_callback ? 1 : 0);
    EXPECT_EQ(count(b.model(), "QuantizeLinear"), 0);
    EXPECT_EQ(count(b.model(), "DequantizeLinear"), 1);
    EXPECT_EQ(mm->input(0), x);
    EXPECT_NE(find_initializer(b.model(), "w16"), nullptr);
    EXPECT_EQ(z->producer()->input(1)->name(), "w16");
    EXPECT_TRUE(log_mentions(log, "kept x into " + mm->describe() + " float: no calibrated range"))
        << join(log);
    const Vec wq = check_weight(*mm, 1, wt, Precision::kInt8, 1);
    ASSERT_FALSE(wq.empty());
    const std::vector<ir::Tensor> after = run(b.model(), feeds);
    ASSERT_EQ(after.size(), 2u);
    EXPECT_LT(rel_l2(doubles(after[0]), matmul(doubles(feeds[0].second), wq, 16, 6)), 1e-6);
    EXPECT_EQ(doubles(after[1]), doubles(before[1]));
  }
}

// ---------------------------------------------------------------------------------------------
// FP16

struct Fp16Chain {
  GraphBuilder b{17};
  ir::Value *x, *w1, *b1, *w2, *h1, *a1, *r1, *logits, *probs;
  ir::Node *mm1, *add, *relu, *mm2, *softmax;
  exec::NamedTensors feeds;

  Fp16Chain() {
    x = b.input("x", DType::kFloat32, {4, 16});
    w1 = b.constant("w1", testing::random_floats({16, 32}, 191));
    b1 = b.constant("b1", testing::random_floats({32}, 192));
    w2 = b.constant("w2", testing::random_floats({32, 10}, 193));
    h1 = b.node("MatMul", {x, w1})[0];
    a1 = b.node("Add", {h1, b1})[0];
    r1 = b.node("Relu", {a1})[0];
    logits = b.node("MatMul", {r1, w2})[0];
    probs = b.node("Softmax", {logits}, 1, [](ir::Node& n) { set_int(n, "axis", -1); })[0];
    b.output(probs);
    b.output(logits);  // read by Softmax and declared: one Cast back serves both
    mm1 = h1->producer();
    add = a1->producer();
    relu = r1->producer();
    mm2 = logits->producer();
    softmax = probs->producer();
    feeds = {{"x", testing::random_floats({4, 16}, 194)}};
  }

  Status infer_types() {
    MIXQ_ASSIGN_OR_RETURN(auto inferred, ir::infer_shapes(b.model()));
    ir::apply_inferred_types(b.model(), inferred);
    return Status::ok_status();
  }
};

const ir::Node* cast_to(const ir::Model& m, int64_t to, int nth = 0) {
  for (const auto& n : m.graph().nodes()) {
    if (n->op_type() == "Cast" && n->attr_int("to", -1).value() == to && nth-- == 0) {
      return n.get();
    }
  }
  return nullptr;
}

TEST(Fp16Emit, RegionGrowsThroughElementwiseOpsAndStopsAtSoftmax) {
  Fp16Chain c;
  const std::vector<ir::Tensor> before = run(c.b.model(), c.feeds);
  ASSERT_EQ(before.size(), 2u);
  ASSERT_TRUE(c.infer_types().ok());
  std::vector<std::string> log;
  std::vector<const ir::Node*> region;
  const Status s = emit_fp16(c.b.model(), {c.mm1, c.mm2}, {}, log, &region);
  ASSERT_TRUE(s.ok()) << s.to_string();
  const ir::Model& m = c.b.model();

  EXPECT_EQ(region, (std::vector<const ir::Node*>{c.mm1, c.add, c.relu, c.mm2}));
  for (const ir::Node* n : {c.mm1, c.add, c.relu, c.mm2}) {
    EXPECT_EQ(n->output(0)->type().dtype, DType::kFloat16) << n->describe();
  }
  // Softmax stays float32 (it is on the default keep list) and reads the float32 logits.
  EXPECT_EQ(default_fp16_keep_fp32().count("Softmax"), 1u);
  EXPECT_EQ(default_fp16_keep_fp32().count("LayerNormalization"), 1u);
  EXPECT_EQ(c.softmax->input(0), c.logits);
  EXPECT_EQ(c.logits->type().dtype, DType::kFloat32);
  EXPECT_EQ(c.probs->producer(), c.softmax);
  // Two Casts: x to FLOAT16 in front of the region, the logits back to FLOAT behind it.
  EXPECT_EQ(count(m, "Cast"), 2);
  const ir::Node* in_cast = cast_to(m, 10);
  const ir::Node* out_cast = cast_to(m, 1);
  ASSERT_NE(in_cast, nullptr);
  ASSERT_NE(out_cast, nullptr);
  EXPECT_EQ(in_cast->input(0), c.x);
  EXPECT_EQ(c.mm1->input(0), in_cast->output(0));
  EXPECT_EQ(out_cast->input(0), c.mm2->output(0));
  EXPECT_EQ(out_cast->output(0), c.logits) << "cast back under the original name";
  // The interface is unchanged: same output names, float32.
  ASSERT_EQ(m.graph().outputs().size(), 2u);
  EXPECT_EQ(m.graph().outputs()[0]->name(), c.probs->name());
  EXPECT_EQ(m.graph().outputs()[1]->name(), c.logits->name());
  for (const ir::Value* v : m.graph().outputs()) EXPECT_EQ(v->type().dtype, DType::kFloat32);
  EXPECT_EQ(m.graph().inputs()[0]->type().dtype, DType::kFloat32);
  // Weights stored as FLOAT16, the float32 copies gone.
  const std::map<std::string, const ir::Value*> weights = {
      {"w1", c.mm1->input(1)}, {"b1", c.add->input(1)}, {"w2", c.mm2->input(1)}};
  for (const auto& [name, v] : weights) {
    EXPECT_EQ(find_initializer(m, name), nullptr) << name;
    ASSERT_NE(v->initializer(), nullptr) << name;
    EXPECT_EQ(v->initializer()->dtype(), DType::kFloat16) << name;
  }
  EXPECT_EQ(m.graph().initializers().size(), 3u);
  // Stored values are the float32 weights rounded to FP16.
  const ir::Tensor& w1h = *c.mm1->input(1)->initializer();
  const ir::Tensor w1 = testing::random_floats({16, 32}, 191);
  for (int64_t i = 0; i < w1.numel(); ++i) {
    ASSERT_EQ(w1h.data<uint16_t>()[i], float_to_float16(w1.data<float>()[i])) << i;
  }
  EXPECT_TRUE(log_mentions(log,
                           "FP16 region: 4 nodes (Add 1, MatMul 2, Relu 1), 3 initializers "
                           "stored as FLOAT16, 1 Cast to FLOAT16, 1 Cast back to FLOAT"))
      << join(log);

  // Numerics: FP16 unit roundoff is 2^-11; x, the weights, the bias and each of the four
  // results are rounded once (float32 accumulation inside MatMul), about seven roundings of RMS
  // 2^-11 / sqrt 3 each: ~1.5 * 2^-11 relative on the logits, bounded by 4 * 2^-11 = 2^-9. The
  // probabilities, from float32 Softmax of those logits, are off by no more.
  const std::vector<ir::Tensor> after = run(m, c.feeds);
  ASSERT_EQ(after.size(), 2u);
  EXPECT_EQ(after[0].dtype(), DType::kFloat32);
  EXPECT_EQ(after[1].dtype(), DType::kFloat32);
  const double err_logits = rel_l2(doubles(after[1]), doubles(before[1]));
  EXPECT_LT(err_logits, 1.0 / 512);
  EXPECT_GT(err_logits, 0.0) << "the region did not run in FP16";
  EXPECT_LT(rel_l2(doubles(after[0]), doubles(before[0])), 1.0 / 512);

  expect_round_trip(c.b.model(), c.feeds, after);
}

// An observed |x| of 1e5 (beyond FP16's 65504) for the first MatMul's output keeps it, and the
// Add that reads that output, in FP32; the second MatMul and the Relu feeding it still convert.
TEST(Fp16Emit, ValuesBeyondFp16RangeKeepTheirNodesFp32) {
  Fp16Chain c;
  const std::vector<ir::Tensor> before = run(c.b.model(), c.feeds);
  ASSERT_EQ(before.size(), 2u);
  ASSERT_TRUE(c.infer_types().ok());
  const std::string h1 = c.h1->name();
  Fp16Options o;
  o.absmax = [&](const std::string& t) -> std::optional<double> {
    if (t == h1) return 1e5;
    return 3.0;
  };
  std::vector<std::string> log;
  std::vector<const ir::Node*> region;
  ASSERT_TRUE(emit_fp16(c.b.model(), {c.mm1, c.mm2}, o, log, &region).ok());
  const ir::Model& m = c.b.model();
  EXPECT_EQ(region, (std::vector<const ir::Node*>{c.relu, c.mm2}));
  EXPECT_TRUE(
      log_mentions(log, "kept " + c.mm1->describe() + " in FP32: observed values beyond FP16"))
      << join(log);
  EXPECT_EQ(c.mm1->output(0), c.h1);
  EXPECT_EQ(c.h1->type().dtype, DType::kFloat32);
  EXPECT_EQ(c.add->output(0)->type().dtype, DType::kFloat32);
  EXPECT_EQ(c.relu->output(0)->type().dtype, DType::kFloat16);
  ASSERT_NE(find_initializer(m, "w1"), nullptr);
  ASSERT_NE(find_initializer(m, "b1"), nullptr);
  EXPECT_EQ(find_initializer(m, "w1")->initializer()->dtype(), DType::kFloat32);
  EXPECT_EQ(find_initializer(m, "b1")->initializer()->dtype(), DType::kFloat32);
  EXPECT_EQ(find_initializer(m, "w2"), nullptr);
  ASSERT_NE(c.mm2->input(1)->initializer(), nullptr);
  EXPECT_EQ(c.mm2->input(1)->initializer()->dtype(), DType::kFloat16);
  // The Add's output goes into FP16 through a Cast, the logits come back through another.
  ASSERT_NE(cast_to(m, 10), nullptr);
  EXPECT_EQ(cast_to(m, 10)->input(0), c.a1);
  EXPECT_EQ(count(m, "Cast"), 2);
  const std::vector<ir::Tensor> after = run(m, c.feeds);
  ASSERT_EQ(after.size(), 2u);
  const double err = rel_l2(doubles(after[1]), doubles(before[1]));
  EXPECT_LT(err, 1.0 / 512);
  EXPECT_GT(err, 0.0);
  expect_round_trip(c.b.model(), c.feeds, after);
}

// A user keep list: Relu stays FP32, which splits the region in two.
TEST(Fp16Emit, KeepListSplitsTheRegion) {
  Fp16Chain c;
  ASSERT_TRUE(c.infer_types().ok());
  Fp16Options o;
  o.keep_fp32.insert("Relu");
  std::vector<std::string> log;
  std::vector<const ir::Node*> region;
  ASSERT_TRUE(emit_fp16(c.b.model(), {c.mm1, c.mm2}, o, log, &region).ok());
  EXPECT_EQ(region, (std::vector<const ir::Node*>{c.mm1, c.add, c.mm2}));
  // In: x and the Relu output; out: the Add output (for Relu) and the logits.
  EXPECT_EQ(count(c.b.model(), "Cast"), 4);
  EXPECT_EQ(c.relu->input(0), c.a1);
  ASSERT_NE(c.a1->producer(), nullptr);
  EXPECT_EQ(c.a1->producer()->op_type(), "Cast");
  EXPECT_EQ(c.a1->type().dtype, DType::kFloat32);
}

}  // namespace
}  // namespace mixq::quant
