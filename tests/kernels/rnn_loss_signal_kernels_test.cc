// Kernel tests for RNN/GRU/LSTM, the losses, and the signal ops.
// (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss) and signal (DFT, STFT, windows,
// MelWeightMatrix) families: inline cases, seeded random shapes against float64 references
// written here, float16/float64 variants, thread-count independence, and rejects_* cases.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstring>
#include <numbers>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "kernel_test_util.h"
#include "mixq/core/float_bits.h"
#include "mixq/exec/executor.h"
#include "tolerances.h"

namespace mixq {
namespace {

using namespace testing::kt;  // NOLINT(google-build-using-namespace)

// --- RNN, GRU, LSTM ----------------------------------------------------------------------------

enum class Cell { kRnn, kGru, kLstm };

struct RnnCase {
  Cell cell = Cell::kRnn;
  int64_t seq = 4, batch = 3, input = 5, hidden = 4;
  std::string direction = "forward";
  int64_t layout = 0;
  bool bias = true, initial = true, peephole = false, lens = false;
  bool linear_before_reset = false, input_forget = false;
  std::optional<float> clip = std::nullopt;
  std::vector<std::string> acts = {};  // one direction; empty: defaults
  std::vector<float> alphas = {};
  DType dtype = DType::kFloat32;
  int threads = 2;
};

int64_t gates_of(Cell c) { return c == Cell::kRnn ? 1 : c == Cell::kGru ? 3 : 4; }

double act(const std::string& name, double x, double alpha) {
  if (name == "Tanh") return std::tanh(x);
  if (name == "Sigmoid") return 1.0 / (1.0 + std::exp(-x));
  if (name == "Relu") return std::max(x, 0.0);
  if (name == "LeakyRelu") return x >= 0 ? x : alpha * x;
  ADD_FAILURE() << "no reference for " << name;
  return 0;
}

struct RnnInputs {
  ir::Tensor x, w, r, b, h0, c0, p, lens;
};

RnnInputs rnn_inputs(const RnnCase& c) {
  const int64_t d = c.direction == "bidirectional" ? 2 : 1, g = gates_of(c.cell), h = c.hidden;
  const std::vector<int64_t> state =
      c.layout ? std::vector<int64_t>{c.batch, d, h} : std::vector<int64_t>{d, c.batch, h};
  return {c.layout ? random_floats({c.batch, c.seq, c.input}, 11)
                   : random_floats({c.seq, c.batch, c.input}, 11),
          random_floats({d, g * h, c.input}, 12, -0.6f, 0.6f),
          random_floats({d, g * h, h}, 13, -0.6f, 0.6f),
          random_floats({d, 2 * g * h}, 14, -0.5f, 0.5f),
          random_floats(state, 15),
          random_floats(state, 16),
          random_floats({d, 3 * h}, 17, -0.5f, 0.5f),
          i32({c.batch}, {int32_t(c.seq), std::max(int32_t(c.seq) - 2, 0), 1})};
}

// Float64 step-by-step reference: Y [seq, dirs, batch, hidden] (layout 0), Y_h, Y_c.
std::vector<std::vector<double>> rnn_reference(const RnnCase& c, const RnnInputs& in) {
  const int64_t D = c.direction == "bidirectional" ? 2 : 1, G = gates_of(c.cell);
  const int64_t S = c.seq, B = c.batch, I = c.input, H = c.hidden;
  const auto X = to_doubles(in.x), W = to_doubles(in.w), R = to_doubles(in.r);
  const auto Bv = to_doubles(in.b), H0 = to_doubles(in.h0), C0 = to_doubles(in.c0);
  const auto P = to_doubles(in.p);
  std::vector<std::string> acts = c.acts;
  if (acts.empty()) acts = {c.cell == Cell::kRnn ? "Tanh" : "Sigmoid", "Tanh", "Tanh"};
  auto f = [&](size_t k, double v) {
    if (c.clip) v = std::clamp(v, -double(*c.clip), double(*c.clip));
    return act(acts[k], v, k < c.alphas.size() ? c.alphas[k] : 0.01);
  };
  std::vector<double> y(S * D * B * H, 0.0), yh(D * B * H), yc(D * B * H);
  for (int64_t d = 0; d < D; ++d) {
    for (int64_t b = 0; b < B; ++b) {
      const int64_t len = c.lens ? in.lens.data<int32_t>()[b] : S;
      const int64_t st = c.layout ? (b * D + d) * H : (d * B + b) * H;
      std::vector<double> h(H, 0.0), cs(H, 0.0);
      for (int64_t j = 0; j < H && c.initial; ++j) h[j] = H0[st + j], cs[j] = C0[st + j];
      for (int64_t k = 0; k < len; ++k) {
        const int64_t t = c.direction == "reverse" || d == 1 ? len - 1 - k : k;
        const double* x = X.data() + (c.layout ? b * S + t : t * B + b) * I;
        // xw = x·W^T + Wb and hr = h·R^T + Rb, gate by gate.
        std::vector<double> xw(G * H, 0.0), hr(G * H, 0.0);
        for (int64_t r = 0; r < G * H; ++r) {
          for (int64_t i = 0; i < I; ++i) xw[r] += x[i] * W[(d * G * H + r) * I + i];
          for (int64_t i = 0; i < H; ++i) hr[r] += h[i] * R[(d * G * H + r) * H + i];
          xw[r] += c.bias ? Bv[d * 2 * G * H + r] : 0.0;
          hr[r] += c.bias ? Bv[d * 2 * G * H + G * H + r] : 0.0;
        }
        auto pre = [&](int64_t g, int64_t j) { return xw[g * H + j] + hr[g * H + j]; };
        std::vector<double> hn(H), z(H), rg(H);
        for (int64_t j = 0; j < H; ++j) z[j] = f(0, pre(0, j)), rg[j] = G > 1 ? f(0, pre(1, j)) : 0;
        for (int64_t j = 0; j < H; ++j) {
          if (c.cell == Cell::kRnn) {
            hn[j] = f(0, pre(0, j));
          } else if (c.cell == Cell::kGru) {
            double a = xw[2 * H + j];
            if (c.linear_before_reset) {
              a += rg[j] * hr[2 * H + j];  // hr includes Rbh
            } else {
              a += c.bias ? Bv[d * 6 * H + 5 * H + j] : 0.0;
              for (int64_t i = 0; i < H; ++i)
                a += rg[i] * h[i] * R[(d * 3 * H + 2 * H + j) * H + i];
            }
            hn[j] = (1 - z[j]) * f(1, a) + z[j] * h[j];
          } else {
            const double* p = P.data() + d * 3 * H;
            const bool pp = c.peephole;
            const double ig = f(0, pre(0, j) + (pp ? p[j] * cs[j] : 0));
            const double fg =
                c.input_forget ? 1 - ig : f(0, pre(2, j) + (pp ? p[2 * H + j] * cs[j] : 0));
            cs[j] = fg * cs[j] + ig * f(1, pre(3, j));
            hn[j] = f(0, pre(1, j) + (pp ? p[H + j] * cs[j] : 0)) * f(2, cs[j]);
          }
        }
        h = hn;
        for (int64_t j = 0; j < H; ++j) y[((t * D + d) * B + b) * H + j] = h[j];
      }
      for (int64_t j = 0; j < H; ++j) {  // an empty sequence has zero final states
        yh[(d * B + b) * H + j] = len ? h[j] : 0.0;
        yc[(d * B + b) * H + j] = len ? cs[j] : 0.0;
      }
    }
  }
  return {y, yh, yc};
}

Expected<std::vector<ir::Tensor>> run_rnn(const RnnCase& c, const RnnInputs& in) {
  const char* op = c.cell == Cell::kRnn ? "RNN" : c.cell == Cell::kGru ? "GRU" : "LSTM";
  std::vector<std::optional<ir::Tensor>> inputs = {convert(in.x, c.dtype), convert(in.w, c.dtype),
                                                   convert(in.r, c.dtype)};
  inputs.push_back(c.bias ? std::optional(convert(in.b, c.dtype)) : std::nullopt);
  inputs.push_back(c.lens ? std::optional(in.lens) : std::nullopt);
  inputs.push_back(c.initial ? std::optional(convert(in.h0, c.dtype)) : std::nullopt);
  if (c.cell == Cell::kLstm) {
    inputs.push_back(c.initial ? std::optional(convert(in.c0, c.dtype)) : std::nullopt);
    inputs.push_back(c.peephole ? std::optional(convert(in.p, c.dtype)) : std::nullopt);
  }
  testing::NodeSpec spec;
  spec.opset = 14;
  spec.num_outputs = c.cell == Cell::kLstm ? 3 : 2;
  spec.threads = c.threads;
  spec.attrs = [&](ir::Node& n) {
    set_int(n, "hidden_size", c.hidden);
    set_string(n, "direction", c.direction);
    set_int(n, "layout", c.layout);
    if (c.cell == Cell::kGru) set_int(n, "linear_before_reset", c.linear_before_reset);
    if (c.cell == Cell::kLstm) set_int(n, "input_forget", c.input_forget);
    if (c.clip) set_float(n, "clip", *c.clip);
    if (!c.acts.empty()) n.add_attribute("activations", ir::AttrType::kStrings).strings = c.acts;
    if (!c.alphas.empty()) testing::set_floats(n, "activation_alpha", c.alphas);
  };
  return run_node(op, inputs, spec);
}

// `v` (row-major, `dims`) transposed so that output dim k is input dim perm[k].
std::vector<double> permute(const std::vector<double>& v, const std::vector<int64_t>& dims,
                            const std::vector<size_t>& perm) {
  std::vector<int64_t> in_strides(dims.size(), 1), idx(dims.size(), 0);
  for (size_t k = dims.size() - 1; k > 0; --k) in_strides[k - 1] = in_strides[k] * dims[k];
  std::vector<double> out;
  for (size_t n = 0; n < v.size(); ++n) {
    int64_t at = 0;
    for (size_t k = 0; k < perm.size(); ++k) at += idx[k] * in_strides[perm[k]];
    out.push_back(v[size_t(at)]);
    for (size_t k = perm.size(); k-- > 0 && ++idx[k] == dims[perm[k]];) idx[k] = 0;
  }
  return out;
}

void check_rnn(const RnnCase& c) {
  SCOPED_TRACE(::testing::Message()
               << "cell " << int(c.cell) << " " << c.direction << " layout " << c.layout << " lens "
               << c.lens << " clip " << c.clip.value_or(0) << " dtype " << dtype_name(c.dtype));
  const RnnInputs in = rnn_inputs(c);
  auto r = run_rnn(c, in);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  auto want = rnn_reference(c, in);
  const int64_t D = c.direction == "bidirectional" ? 2 : 1;
  if (c.layout) {  // the reference in batch-first order
    want[0] = permute(want[0], {c.seq, D, c.batch, c.hidden}, {2, 0, 1, 3});
    for (size_t o = 1; o < 3; ++o) want[o] = permute(want[o], {D, c.batch, c.hidden}, {1, 0, 2});
  }
  // Rounding grows with the gate sums (input + hidden terms) and through the steps.
  const std::vector<double> mag(want[0].size(), double(4 * (c.input + c.hidden)));
  for (size_t o = 0; o < r->size(); ++o) {
    EXPECT_EQ(compare_to_reference((*r)[o], want[o], &mag), "") << "output " << o;
  }
}

TEST(RnnKernel, SimpleRnnAgainstReference) {
  check_rnn({});
  check_rnn({.direction = "bidirectional", .lens = true});
  check_rnn({.direction = "reverse", .layout = 1, .bias = false, .initial = false, .lens = true});
  check_rnn({.clip = 0.3f, .acts = {"LeakyRelu"}, .alphas = {0.2f}});
}

TEST(RnnKernel, GruAgainstReference) {
  check_rnn({.cell = Cell::kGru});
  check_rnn({.cell = Cell::kGru, .linear_before_reset = true});
  check_rnn({.cell = Cell::kGru, .direction = "bidirectional", .layout = 1, .lens = true});
  check_rnn({.cell = Cell::kGru, .direction = "reverse", .lens = true, .clip = 0.5f});
}

TEST(RnnKernel, LstmAgainstReference) {
  check_rnn({.cell = Cell::kLstm});
  check_rnn({.cell = Cell::kLstm, .peephole = true});
  check_rnn({.cell = Cell::kLstm, .direction = "bidirectional", .peephole = true, .lens = true});
  check_rnn({.cell = Cell::kLstm, .layout = 1, .input_forget = true, .clip = 0.4f});
  check_rnn({.cell = Cell::kLstm,
             .direction = "reverse",
             .lens = true,
             .acts = {"Sigmoid", "Relu", "Tanh"}});
  // seq 2: lengths (2, 0, 1), an empty sequence included.
  check_rnn({.cell = Cell::kLstm, .seq = 2, .direction = "bidirectional", .lens = true});
}

TEST(RnnKernel, Float16AndFloat64) {
  check_rnn({.cell = Cell::kLstm, .peephole = true, .dtype = DType::kFloat64});
  check_rnn({.cell = Cell::kGru, .direction = "bidirectional", .dtype = DType::kFloat16});
}

TEST(RnnKernel, BitIdenticalAcrossThreadCounts) {
  for (Cell cell : {Cell::kRnn, Cell::kGru, Cell::kLstm}) {
    RnnCase c{.cell = cell,
              .seq = 5,
              .batch = 64,
              .input = 48,
              .hidden = 64,
              .direction = "bidirectional",
              .peephole = true,
              .lens = true};
    const RnnInputs in = rnn_inputs(c);
    c.threads = 1;
    auto one = run_rnn(c, in);
    c.threads = 3;
    auto three = run_rnn(c, in);
    ASSERT_TRUE(one.ok() && three.ok());
    for (size_t o = 0; o < one->size(); ++o) EXPECT_TRUE(same_bytes((*one)[o], (*three)[o]));
  }
}

TEST(RnnKernel, rejects_wrong_gate_weight_shape) {
  RnnCase c{.cell = Cell::kLstm};
  RnnInputs in = rnn_inputs(c);
  in.w = random_floats({1, 3 * c.hidden, c.input}, 3);  // 3 gates instead of 4
  expect_bad_input(run_rnn(c, in), "LSTM_0", "W has shape");
}

TEST(RnnKernel, rejects_unknown_activation) {
  RnnCase c{.cell = Cell::kGru, .acts = {"Sigmoid", "Cube"}};
  expect_bad_input(run_rnn(c, rnn_inputs(c)), "GRU_0", "Cube");
}

// --- NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss -----------------------------------------

struct LossCase {
  std::vector<int64_t> dims;  // [N, C, d...]
  std::string reduction = "mean";
  bool weight = false;
  std::optional<int64_t> ignore_index = std::nullopt;
  DType dtype = DType::kFloat32;
  DType target_dtype = DType::kInt64;
};

// Float64 reference from log-probabilities `lp`: the per-sample losses or their reduction.
std::vector<double> loss_reference(const LossCase& c, const std::vector<double>& lp,
                                   const std::vector<int64_t>& target,
                                   const std::vector<double>& w) {
  const int64_t C = c.dims[1], D = int64_t(target.size()) / c.dims[0];
  std::vector<double> loss;
  double sum = 0, wsum = 0;
  for (size_t i = 0; i < target.size(); ++i) {
    const int64_t n = int64_t(i) / D, d = int64_t(i) % D, cls = target[i];
    const bool ignored = c.ignore_index && cls == *c.ignore_index;
    const double wi = ignored ? 0.0 : c.weight ? w[size_t(cls)] : 1.0;
    loss.push_back(ignored ? 0.0 : -lp[size_t((n * C + cls) * D + d)] * wi);
    sum += loss.back();
    wsum += wi;
  }
  if (c.reduction == "none") return loss;
  return {c.reduction == "sum" ? sum : sum / wsum};
}

void check_loss(const LossCase& c, bool softmax) {
  SCOPED_TRACE(::testing::Message() << (softmax ? "SCE " : "NLL ") << ir::dims_to_string(c.dims)
                                    << " " << c.reduction << " " << dtype_name(c.dtype));
  const ir::Tensor x = random_floats(c.dims, 21, -3, 1);
  std::vector<int64_t> tdims = c.dims;
  tdims.erase(tdims.begin() + 1);
  ir::Tensor target = testing::random_int64s(tdims, 22, 0, c.dims[1] - 1);
  if (c.ignore_index) target.mutable_data<int64_t>()[1] = *c.ignore_index;
  const ir::Tensor w = random_floats({c.dims[1]}, 23, 0.2f, 2);
  std::vector<int64_t> tv(target.data<int64_t>(), target.data<int64_t>() + target.numel());
  ir::Tensor t_in = target;
  if (c.target_dtype == DType::kInt32)
    t_in = i32(tdims, std::vector<int32_t>(tv.begin(), tv.end()));
  auto r = run_node(
      softmax ? "SoftmaxCrossEntropyLoss" : "NegativeLogLikelihoodLoss",
      {convert(x, c.dtype), t_in, c.weight ? std::optional(convert(w, c.dtype)) : std::nullopt},
      spec(
          13,
          [&](ir::Node& n) {
            set_string(n, "reduction", c.reduction);
            if (c.ignore_index) set_int(n, "ignore_index", *c.ignore_index);
          },
          softmax ? 2 : 1));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  std::vector<double> lp = to_doubles(x);
  if (c.dtype == DType::kFloat16) lp = to_doubles(convert(x, c.dtype));
  const std::vector<double> wv = to_doubles(c.dtype == DType::kFloat16 ? convert(w, c.dtype) : w);
  if (softmax) {  // log_softmax over axis 1
    const int64_t N = c.dims[0], C = c.dims[1], D = x.numel() / (N * C);
    for (int64_t n = 0; n < N; ++n) {
      for (int64_t d = 0; d < D; ++d) {
        double mx = -INFINITY, se = 0;
        for (int64_t k = 0; k < C; ++k) mx = std::max(mx, lp[size_t((n * C + k) * D + d)]);
        for (int64_t k = 0; k < C; ++k) se += std::exp(lp[size_t((n * C + k) * D + d)] - mx);
        for (int64_t k = 0; k < C; ++k) lp[size_t((n * C + k) * D + d)] -= mx + std::log(se);
      }
    }
    EXPECT_EQ((*r)[1].dims(), c.dims);
    EXPECT_EQ(compare_to_reference((*r)[1], lp), "") << "log_prob";
  }
  const std::vector<double> want = loss_reference(c, lp, tv, wv);
  EXPECT_EQ((*r)[0].dtype(), c.dtype);
  EXPECT_EQ((*r)[0].dims(), c.reduction == "none" ? tdims : std::vector<int64_t>{});
  // Sums of many terms: scale the tolerance by the sum of their magnitudes.
  double mag = 0;
  for (double v : loss_reference({c.dims, "none", c.weight, c.ignore_index}, lp, tv, wv)) {
    mag += std::fabs(v);
  }
  const std::vector<double> m(want.size(), std::fabs(mag) + 1);
  EXPECT_EQ(compare_to_reference((*r)[0], want, c.reduction == "none" ? nullptr : &m), "");
}

TEST(LossKernel, SpecExamples) {
  const ir::Tensor x = ir::Tensor::from_floats({2, 3, 2}, {1, 2, 2, 2, 3, 2, 0, 1, 2, 2, 1, 2});
  const ir::Tensor t = ir::Tensor::from_int64s({2, 2}, {2, 1, 0, 2});
  const ir::Tensor w = ir::Tensor::from_floats({3}, {0.2f, 0.3f, 0.1f});
  auto run = [&](const std::string& red, bool weighted) {
    return run_node("NegativeLogLikelihoodLoss", {x, t, weighted ? std::optional(w) : std::nullopt},
                    spec(13, [&](ir::Node& n) { set_string(n, "reduction", red); }));
  };
  auto none = run("none", false), sum = run("sum", true), mean = run("mean", true);
  ASSERT_TRUE(none.ok() && sum.ok() && mean.ok());
  EXPECT_EQ(to_doubles((*none)[0]), (std::vector<double>{-3, -2, 0, -2}));
  EXPECT_NEAR(to_doubles((*sum)[0])[0], -1.1, 1e-6);
  EXPECT_NEAR(to_doubles((*mean)[0])[0], -1.57142857, 1e-6);  // -1.1 / 0.7
}

TEST(LossKernel, AgainstReference) {
  for (bool softmax : {false, true}) {
    check_loss({.dims = {4, 5}, .reduction = "sum", .weight = true}, softmax);
    check_loss({.dims = {3, 4, 2, 3}, .weight = true, .ignore_index = 1}, softmax);
    check_loss({.dims = {3, 4, 5}, .ignore_index = -1}, softmax);
    check_loss({.dims = {2, 3, 2, 1, 2},
                .reduction = "none",
                .weight = true,
                .ignore_index = 7,
                .target_dtype = DType::kInt32},
               softmax);
    check_loss({.dims = {3, 4, 5}, .weight = true, .dtype = DType::kFloat16}, softmax);
    check_loss({.dims = {3, 4, 5}, .weight = true, .ignore_index = 2, .dtype = DType::kFloat64},
               softmax);
  }
}

TEST(LossKernel, BitIdenticalAcrossThreadCounts) {
  const ir::Tensor x = random_floats({16, 10, 40, 40}, 31);
  const ir::Tensor t = testing::random_int64s({16, 40, 40}, 32, 0, 9);
  std::vector<ir::Tensor> outs;
  for (int threads : {1, 3}) {
    auto r = run_node("SoftmaxCrossEntropyLoss", {x, t}, spec(13, nullptr, 2, threads));
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    outs.insert(outs.end(), r->begin(), r->end());
  }
  EXPECT_TRUE(same_bytes(outs[0], outs[2]));
  EXPECT_TRUE(same_bytes(outs[1], outs[3]));
}

TEST(LossKernel, rejects_class_out_of_range_without_ignore_index) {
  const ir::Tensor x = random_floats({2, 3}, 1);
  expect_bad_input(
      run_node("NegativeLogLikelihoodLoss", {x, ir::Tensor::from_int64s({2}, {1, 3})}, spec(13)),
      "NegativeLogLikelihoodLoss_0", "target[1] is 3");
  // -1 is fine once it is the ignore_index, not otherwise.
  expect_bad_input(
      run_node("SoftmaxCrossEntropyLoss", {x, ir::Tensor::from_int64s({2}, {-1, 0})}, spec(13)),
      "SoftmaxCrossEntropyLoss_0", "outside [0, 3)");
}

// --- DFT, STFT, windows, MelWeightMatrix -------------------------------------------------------

using Cplx = std::complex<double>;

// Direct float64 DFT of `x` (zero-padded or truncated to n), sign -1 forward, +1 inverse.
std::vector<Cplx> dft_ref(const std::vector<Cplx>& x, int64_t n, bool inverse) {
  std::vector<Cplx> y(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    for (int64_t t = 0; t < n && t < int64_t(x.size()); ++t) {
      const double a = (inverse ? 2 : -2) * std::numbers::pi * double((k * t) % n) / double(n);
      y[size_t(k)] += x[size_t(t)] * Cplx(std::cos(a), std::sin(a));
    }
    if (inverse) y[size_t(k)] /= double(n);
  }
  return y;
}

// DFT of x [batch, len, inner, cin] along axis 1 against the reference.
void check_dft(int64_t len, int64_t cin, bool inverse, bool onesided, std::optional<int64_t> n,
               int64_t opset) {
  SCOPED_TRACE(::testing::Message() << "len " << len << " cin " << cin << " inverse " << inverse
                                    << " onesided " << onesided << " opset " << opset);
  const int64_t B = 2, inner = 3;
  const ir::Tensor x = random_floats({B, len, inner, cin}, 41);
  std::vector<std::optional<ir::Tensor>> in = {x};
  in.push_back(n ? std::optional(ir::Tensor::from_int64s({}, {*n})) : std::nullopt);
  if (opset >= 20) in.push_back(i64(1));
  auto r = run_node("DFT", in, spec(opset, [&](ir::Node& nd) {
                      set_int(nd, "inverse", inverse);
                      set_int(nd, "onesided", onesided);
                      if (opset < 20) set_int(nd, "axis", 1);
                    }));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const int64_t N = n.value_or(len), bins = onesided ? N / 2 + 1 : N;
  EXPECT_EQ((*r)[0].dims(), (std::vector<int64_t>{B, bins, inner, 2}));
  const auto xv = to_doubles(x);
  std::vector<double> want(size_t(B * bins * inner * 2));
  for (int64_t b = 0; b < B; ++b) {
    for (int64_t i = 0; i < inner; ++i) {
      std::vector<Cplx> sig;
      for (int64_t t = 0; t < len; ++t) {
        const size_t at = size_t(((b * len + t) * inner + i) * cin);
        sig.emplace_back(xv[at], cin == 2 ? xv[at + 1] : 0.0);
      }
      const auto y = dft_ref(sig, N, inverse);
      for (int64_t k = 0; k < bins; ++k) {
        want[size_t(((b * bins + k) * inner + i) * 2)] = y[size_t(k)].real();
        want[size_t(((b * bins + k) * inner + i) * 2 + 1)] = y[size_t(k)].imag();
      }
    }
  }
  const std::vector<double> mag(want.size(), double(N));  // sums of N unit-size terms
  EXPECT_EQ(compare_to_reference((*r)[0], want, &mag), "");
}

TEST(SignalKernel, DftAgainstReference) {
  for (int64_t len : {8, 10, 100, 128}) {  // radix-2, direct and Bluestein plans
    check_dft(len, 1, false, false, std::nullopt, 20);
    check_dft(len, 2, true, false, std::nullopt, 17);
  }
  check_dft(10, 1, false, true, std::nullopt, 20);  // one-sided real FFT
  check_dft(10, 2, false, false, 16, 17);           // zero-padded
  check_dft(100, 2, false, true, 70, 20);           // truncated, one-sided
}

TEST(SignalKernel, IrfftInvertsOnesidedDft) {
  for (int64_t n : {8, 9, 96}) {
    const ir::Tensor x = random_floats({1, n, 1}, 42);
    auto f = run_node("DFT", {x}, spec(20, [](ir::Node& nd) { set_int(nd, "onesided", 1); }));
    ASSERT_TRUE(f.ok()) << f.status().to_string();
    auto b =
        run_node("DFT", {(*f)[0], ir::Tensor::from_int64s({}, {n})}, spec(20, [](ir::Node& nd) {
                   set_int(nd, "onesided", 1);
                   set_int(nd, "inverse", 1);
                 }));
    ASSERT_TRUE(b.ok()) << b.status().to_string();
    EXPECT_EQ((*b)[0].dims(), x.dims());
    const std::vector<double> mag(size_t(n), 4.0);
    EXPECT_EQ(compare_to_reference((*b)[0], to_doubles(x), &mag), "") << n;
  }
}

TEST(SignalKernel, StftAgainstReference) {
  const int64_t len = 50, frame = 16, step = 6;
  const ir::Tensor x = random_floats({2, len, 1}, 43);
  const ir::Tensor win = random_floats({frame}, 44, 0, 1);
  auto r = run_node("STFT", {x, ir::Tensor::from_int64s({}, {step}), win}, spec(17));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  const int64_t frames = 1 + (len - frame) / step, bins = frame / 2 + 1;
  EXPECT_EQ((*r)[0].dims(), (std::vector<int64_t>{2, frames, bins, 2}));
  const auto xv = to_doubles(x), wv = to_doubles(win);
  std::vector<double> want;
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t f = 0; f < frames; ++f) {
      std::vector<Cplx> sig;
      for (int64_t t = 0; t < frame; ++t)
        sig.emplace_back(xv[size_t(b * len + f * step + t)] * wv[size_t(t)]);
      const auto y = dft_ref(sig, frame, false);
      for (int64_t k = 0; k < bins; ++k) {
        want.push_back(y[size_t(k)].real());
        want.push_back(y[size_t(k)].imag());
      }
    }
  }
  const std::vector<double> mag(want.size(), double(frame));
  EXPECT_EQ(compare_to_reference((*r)[0], want, &mag), "");
}

TEST(SignalKernel, WindowsMatchFormulas) {
  const double pi = std::numbers::pi;
  for (int periodic : {0, 1}) {
    const int64_t size = 10, N = periodic ? size : size - 1;
    for (const std::string op : {"HannWindow", "HammingWindow", "BlackmanWindow"}) {
      auto r = run_node(op, {ir::Tensor::from_int64s({}, {size})}, spec(17, [&](ir::Node& n) {
                          set_int(n, "periodic", periodic);
                          set_int(n, "output_datatype", 11);  // double
                        }));
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      ASSERT_EQ((*r)[0].dtype(), DType::kFloat64);
      std::vector<double> want;
      for (int64_t n = 0; n < size; ++n) {
        const double a = 2 * pi * double(n) / double(N);
        want.push_back(op == "HannWindow"      ? std::pow(std::sin(pi * double(n) / double(N)), 2)
                       : op == "HammingWindow" ? 25.0 / 46 - 21.0 / 46 * std::cos(a)
                                               : 0.42 - 0.5 * std::cos(a) + 0.08 * std::cos(2 * a));
      }
      EXPECT_EQ(compare_to_reference((*r)[0], want), "") << op << " periodic " << periodic;
    }
  }
}

TEST(SignalKernel, MelWeightMatrixSmallCase) {
  // Edges 0, 427, 1114, 2221 Hz fall on bins 0, 0, 1, 2 of a 9-point DFT at 8 kHz.
  auto r = run_node(
      "MelWeightMatrix",
      {i64(2), i64(8), i64(8000), ir::Tensor::scalar_float(0), ir::Tensor::scalar_float(4000)},
      spec(17));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ((*r)[0].dims(), (std::vector<int64_t>{5, 2}));
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{1, 0, 0, 1, 0, 0, 0, 0, 0, 0}));
}

TEST(SignalKernel, BitIdenticalAcrossThreadCounts) {
  const ir::Tensor x = random_floats({64, 300, 2}, 45);
  auto one = run_node("DFT", {x}, spec(20, nullptr, 1, 1));
  auto three = run_node("DFT", {x}, spec(20, nullptr, 1, 3));
  ASSERT_TRUE(one.ok() && three.ok());
  EXPECT_TRUE(same_bytes((*one)[0], (*three)[0]));
}

TEST(SignalKernel, rejects_bad_axis_and_frames) {
  const ir::Tensor x = random_floats({2, 8, 1}, 46);
  expect_bad_input(run_node("DFT", {x, std::nullopt, i64(-1)}, spec(20)), "DFT_0", "axis -1");
  expect_bad_input(run_node("STFT", {x, i64(2), std::nullopt, i64(9)}, spec(17)), "STFT_0",
                   "frame length 9");
  expect_bad_input(run_node("MelWeightMatrix",
                            {i64(4), i64(8), i64(8000), ir::Tensor::scalar_float(0),
                             ir::Tensor::scalar_float(8000)},
                            spec(17)),
                   "MelWeightMatrix_0", "outside [0, 5)");
}

}  // namespace
}  // namespace mixq
