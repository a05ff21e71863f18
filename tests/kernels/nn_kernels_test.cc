// Kernel tests for the nn family: inline hand-computed cases, seeded random shapes against
// float64 references written here, float16/bfloat16/float64 variants, bit-identical results
// across thread counts, and rejects_* cases.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "mixq/core/float_bits.h"
#include "tolerances.h"

namespace mixq {
namespace {

using Dims = std::vector<int64_t>;
using Attrs = std::function<void(ir::Node&)>;
using testing::compare_to_reference;
using testing::NodeSpec;
using testing::random_floats;
using testing::run_node;
using testing::set_float;
using testing::set_int;
using testing::set_ints;
using testing::set_string;
using testing::to_doubles;

ir::Tensor f32(const Dims& d, const std::vector<float>& v) { return ir::Tensor::from_floats(d, v); }
ir::Tensor i64(const Dims& d, const std::vector<int64_t>& v) {
  return ir::Tensor::from_int64s(d, v);
}
template <typename T>
ir::Tensor make(DType dtype, const Dims& dims, const std::vector<T>& v) {
  ir::Tensor t = ir::Tensor::zeros(dtype, dims).value();
  std::copy(v.begin(), v.end(), t.mutable_data<T>());
  return t;
}

// float32 -> float16 / bfloat16 / float64 with the same values (rounded for the 16-bit types).
ir::Tensor convert(const ir::Tensor& t, DType to) {
  ir::Tensor out = ir::Tensor::zeros(to, t.dims()).value();
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (to == DType::kFloat16) out.mutable_data<uint16_t>()[i] = float_to_float16(p[i]);
    if (to == DType::kBFloat16) out.mutable_data<uint16_t>()[i] = float_to_bfloat16(p[i]);
    if (to == DType::kFloat64) out.mutable_data<double>()[i] = p[i];
    if (to == DType::kFloat32) out.mutable_data<float>()[i] = p[i];
  }
  return out;
}

int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}

// Row-major odometer: advances idx within dims; false after the last index.
bool next_index(Dims& idx, const Dims& dims) {
  for (size_t d = dims.size(); d-- > 0;) {
    if (++idx[d] < dims[d]) return true;
    idx[d] = 0;
  }
  return false;
}

int64_t flat(const Dims& idx, const Dims& dims) {
  int64_t f = 0;
  for (size_t d = 0; d < dims.size(); ++d) f = f * dims[d] + idx[d];
  return f;
}

#define RUN(var, ...)                                                  \
  auto var##_result = run_node(__VA_ARGS__);                           \
  ASSERT_TRUE(var##_result.ok()) << var##_result.status().to_string(); \
  const ir::Tensor& var = (*var##_result)[0]

// The run failed with `code` and a message naming the node ("<Op>_0" in run_node graphs).
void expect_rejected(const Expected<std::vector<ir::Tensor>>& r, StatusCode code,
                     const std::string& op) {
  ASSERT_FALSE(r.ok()) << op << " unexpectedly succeeded";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_NE(r.status().message().find(op + " '" + op + "_0'"), std::string::npos)
      << r.status().to_string();
}

std::string bytes(const ir::Tensor& t) {
  return std::string(reinterpret_cast<const char*>(t.raw_data()), t.nbytes());
}

// Runs `op` with 1 and 3 threads and expects bit-identical first outputs.
void expect_thread_independent(const std::string& op,
                               const std::vector<std::optional<ir::Tensor>>& in, NodeSpec spec) {
  spec.threads = 1;
  auto one = run_node(op, in, spec);
  spec.threads = 3;
  auto three = run_node(op, in, spec);
  ASSERT_TRUE(one.ok() && three.ok()) << op;
  EXPECT_EQ(bytes((*one)[0]), bytes((*three)[0])) << op << " differs across thread counts";
}

// --- Windows (shared by the conv and pool references) ----------------------------------------

struct Window {
  Dims kernel, strides, dil, pb, pe;
  std::string auto_pad = "NOTSET";
  bool ceil_mode = false;
};

// Output spatial dims, and the pads auto_pad resolves to (ONNX rules).
Dims resolve(const Dims& in, Window& w) {
  Dims out(in.size());
  for (size_t i = 0; i < in.size(); ++i) {
    const int64_t ek = (w.kernel[i] - 1) * w.dil[i] + 1, s = w.strides[i];
    if (w.auto_pad == "SAME_UPPER" || w.auto_pad == "SAME_LOWER") {
      out[i] = (in[i] + s - 1) / s;
      const int64_t total = std::max<int64_t>(0, (out[i] - 1) * s + ek - in[i]);
      w.pb[i] = w.auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
      w.pe[i] = total - w.pb[i];
    } else if (w.auto_pad == "VALID") {
      w.pb[i] = w.pe[i] = 0;
      out[i] = (in[i] - ek) / s + 1;
    } else {
      const int64_t span = in[i] + w.pb[i] + w.pe[i] - ek;
      out[i] = (w.ceil_mode ? (span + s - 1) / s : span / s) + 1;
      if (w.ceil_mode && (out[i] - 1) * s >= in[i] + w.pb[i]) --out[i];
    }
  }
  return out;
}

Attrs window_attrs(const Window& w, bool with_dilations = true, bool kernel_shape = false) {
  return [=](ir::Node& n) {
    set_ints(n, "strides", w.strides);
    if (with_dilations) set_ints(n, "dilations", w.dil);
    if (kernel_shape) set_ints(n, "kernel_shape", w.kernel);
    if (w.auto_pad != "NOTSET") {
      set_string(n, "auto_pad", w.auto_pad);
    } else {
      Dims pads = w.pb;
      pads.insert(pads.end(), w.pe.begin(), w.pe.end());
      set_ints(n, "pads", pads);
    }
    if (w.ceil_mode) set_int(n, "ceil_mode", 1);
  };
}

// --- Conv ------------------------------------------------------------------------------------

// Direct-loop convolution in float64; `mag` gets the sum of |terms| per output.
std::vector<double> conv_ref(const ir::Tensor& x, const ir::Tensor& w, const ir::Tensor* b,
                             int64_t group, const Window& win, const Dims& out,
                             std::vector<double>& mag) {
  const Dims& xd = x.dims();
  const Dims& wd = w.dims();
  const std::vector<double> X = to_doubles(x), W = to_doubles(w);
  const std::vector<double> B = b ? to_doubles(*b) : std::vector<double>();
  const int64_t N = xd[0], M = wd[0], Cg = wd[1], Mg = M / group;
  const size_t n = xd.size() - 2;
  const Dims in(xd.begin() + 2, xd.end()), ker(wd.begin() + 2, wd.end());
  Dims yd{N, M};
  yd.insert(yd.end(), out.begin(), out.end());
  std::vector<double> y(static_cast<size_t>(numel(yd)));
  mag.assign(y.size(), 0.0);
  Dims o(yd.size(), 0);
  do {
    const int64_t bn = o[0], m = o[1], g = m / Mg;
    double acc = B.empty() ? 0 : B[m], mg = std::fabs(acc);
    for (int64_t c = 0; c < Cg; ++c) {
      Dims k(n, 0);
      do {
        Dims xi{bn, g * Cg + c};
        bool inside = true;
        for (size_t d = 0; d < n; ++d) {
          const int64_t p = o[d + 2] * win.strides[d] - win.pb[d] + k[d] * win.dil[d];
          inside &= p >= 0 && p < in[d];
          xi.push_back(p);
        }
        if (!inside) continue;
        Dims wi{m, c};
        wi.insert(wi.end(), k.begin(), k.end());
        const double t = X[flat(xi, xd)] * W[flat(wi, wd)];
        acc += t;
        mg += std::fabs(t);
      } while (next_index(k, ker));
    }
    y[flat(o, yd)] = acc;
    mag[flat(o, yd)] = mg;
  } while (next_index(o, yd));
  return y;
}

TEST(NnKernels, ConvHandComputed) {
  // 1x1x3x3 input 1..9, 2x2 kernel of ones, pad 1 on the end only, stride 2, bias 10.
  const ir::Tensor x = f32({1, 1, 3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  const ir::Tensor w = f32({1, 1, 2, 2}, {1, 1, 1, 1});
  RUN(y, "Conv", {x, w, f32({1}, {10})}, {.attrs = [](ir::Node& n) {
        set_ints(n, "pads", {0, 0, 1, 1});
        set_ints(n, "strides", {2, 2});
      }});
  EXPECT_EQ(y.dims(), (Dims{1, 1, 2, 2}));
  EXPECT_EQ(to_doubles(y), (std::vector<double>{22, 19, 25, 19}));
}

// Random shapes over 1-3 spatial axes, groups (including depthwise and channel multipliers),
// strides, dilations, explicit pads and every auto_pad, against the float64 reference.
TEST(NnKernels, ConvMatchesReferenceOnRandomShapes) {
  std::mt19937 rng(1234);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const char* pads[] = {"NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
  for (int iter = 0; iter < 60; ++iter) {
    const size_t n = static_cast<size_t>(pick(1, 3));
    const int64_t kind = pick(0, 3);  // 0 dense, 1 grouped, 2 depthwise, 3 depthwise x2
    int64_t C = pick(1, 6), group = 1, M = pick(1, 7);
    if (kind == 1) {
      group = pick(2, 3);
      C = group * pick(1, 3);
      M = group * pick(1, 3);
    } else if (kind >= 2) {
      group = C = pick(2, 8);
      M = C * (kind == 2 ? 1 : 2);
    }
    Window win;
    win.auto_pad = pads[pick(0, 3)];
    Dims xd{pick(1, 2), C}, wd{M, C / group};
    for (size_t d = 0; d < n; ++d) {
      win.kernel.push_back(pick(1, n == 3 ? 2 : 4));
      win.strides.push_back(pick(1, 2));
      win.dil.push_back(pick(1, 2));
      win.pb.push_back(pick(0, 2));
      win.pe.push_back(pick(0, 2));
      xd.push_back(pick(win.dil.back() * (win.kernel.back() - 1) + 1, n == 3 ? 7 : 13));
      wd.push_back(win.kernel.back());
    }
    const Dims out = resolve(Dims(xd.begin() + 2, xd.end()), win);
    const ir::Tensor x = random_floats(xd, 10 + iter);
    const ir::Tensor w = random_floats(wd, 20 + iter);
    const ir::Tensor b = random_floats({M}, 30 + iter);
    const bool bias = iter % 3 != 0;
    std::vector<double> mag;
    const auto want = conv_ref(x, w, bias ? &b : nullptr, group, win, out, mag);
    NodeSpec spec{.opset = iter % 2 ? 11 : 1, .attrs = [&, win](ir::Node& nd) {
                    window_attrs(win)(nd);
                    set_int(nd, "group", group);
                  }};
    std::vector<std::optional<ir::Tensor>> in{x, w};
    if (bias) in.push_back(b);
    RUN(y, "Conv", in, spec);
    ASSERT_EQ(y.numel(), static_cast<int64_t>(want.size()));
    EXPECT_EQ(compare_to_reference(y, want, &mag), "")
        << "iter " << iter << " x " << ir::dims_to_string(xd) << " w " << ir::dims_to_string(wd)
        << " group " << group << " auto_pad " << win.auto_pad;
  }
}

// The three paths (pointwise GEMM, im2col GEMM, depthwise) in float16, bfloat16 and float64,
// each against the float64 reference on the same (rounded) inputs.
TEST(NnKernels, ConvHalfAndDoubleTypes) {
  struct Case {
    Dims x, w;
    int64_t group, pad;
  };
  const std::vector<Case> cases = {
      {{1, 8, 9, 9}, {6, 8, 1, 1}, 1, 0},   // pointwise
      {{2, 4, 9, 7}, {6, 4, 3, 3}, 1, 1},   // im2col
      {{1, 6, 10, 9}, {6, 1, 3, 3}, 6, 1},  // depthwise
  };
  for (const Case& c : cases) {
    for (DType dt : {DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
      const ir::Tensor x = convert(random_floats(c.x, 3), dt);
      const ir::Tensor w = convert(random_floats(c.w, 4), dt);
      const ir::Tensor b = convert(random_floats({c.w[0]}, 5), dt);
      Window win{Dims(2, c.w[2]), {1, 1}, {1, 1}, {c.pad, c.pad}, {c.pad, c.pad}};
      const Dims out = resolve({c.x[2], c.x[3]}, win);
      std::vector<double> mag;
      const auto want = conv_ref(x, w, &b, c.group, win, out, mag);
      RUN(y, "Conv", {x, w, b}, {.attrs = [&](ir::Node& n) {
            set_ints(n, "pads", {c.pad, c.pad, c.pad, c.pad});
            set_int(n, "group", c.group);
          }});
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_EQ(compare_to_reference(y, want, &mag), "") << dtype_name(dt) << " group " << c.group;
    }
  }
}

TEST(NnKernels, ConvIsBitIdenticalAcrossThreadCounts) {
  auto pads1 = [](int64_t group) {
    return [=](ir::Node& n) {
      set_ints(n, "pads", {1, 1, 1, 1});
      set_int(n, "group", group);
    };
  };
  const ir::Tensor x = random_floats({2, 16, 23, 21}, 1);
  expect_thread_independent("Conv", {x, random_floats({24, 16, 3, 3}, 2)}, {.attrs = pads1(1)});
  expect_thread_independent("Conv", {x, random_floats({32, 16, 1, 1}, 3)}, {.attrs = pads1(1)});
  expect_thread_independent("Conv", {x, random_floats({16, 1, 3, 3}, 4)}, {.attrs = pads1(16)});
  expect_thread_independent("Conv", {x, random_floats({8, 4, 3, 3}, 5)}, {.attrs = pads1(4)});
}

TEST(NnKernels, rejects_conv_with_bias_of_wrong_length) {
  expect_rejected(run_node("Conv", {random_floats({1, 2, 4, 4}, 1), random_floats({3, 2, 3, 3}, 2),
                                    random_floats({2}, 3)}),
                  StatusCode::kBadInput, "Conv");
}

TEST(NnKernels, rejects_conv_with_mismatched_weight_type) {
  const ir::Tensor x = random_floats({1, 2, 4, 4}, 1);
  const ir::Tensor w = convert(random_floats({3, 2, 3, 3}, 2), DType::kFloat64);
  expect_rejected(run_node("Conv", {x, w}), StatusCode::kBadInput, "Conv");
}

// --- ConvTranspose ---------------------------------------------------------------------------

std::vector<double> conv_transpose_ref(const ir::Tensor& x, const ir::Tensor& w,
                                       const ir::Tensor* b, int64_t group, const Dims& strides,
                                       const Dims& dil, const Dims& pb, const Dims& out) {
  const Dims& xd = x.dims();
  const Dims& wd = w.dims();
  const std::vector<double> X = to_doubles(x), W = to_doubles(w);
  const int64_t C = xd[1], Cg = C / group, Mg = wd[1], M = Mg * group;
  const size_t n = xd.size() - 2;
  Dims yd{xd[0], M};
  yd.insert(yd.end(), out.begin(), out.end());
  std::vector<double> y(static_cast<size_t>(numel(yd)), 0.0);
  if (b) {
    const auto B = to_doubles(*b);
    Dims o(yd.size(), 0);
    do y[flat(o, yd)] = B[o[1]];
    while (next_index(o, yd));
  }
  const Dims ker(wd.begin() + 2, wd.end());
  Dims i(xd.size(), 0);
  do {
    const int64_t g = i[1] / Cg;
    for (int64_t m = 0; m < Mg; ++m) {
      Dims k(n, 0);
      do {
        Dims yi{i[0], g * Mg + m};
        bool inside = true;
        for (size_t d = 0; d < n; ++d) {
          const int64_t o = i[d + 2] * strides[d] - pb[d] + k[d] * dil[d];
          inside &= o >= 0 && o < out[d];
          yi.push_back(o);
        }
        if (!inside) continue;
        Dims wi{i[1], m};
        wi.insert(wi.end(), k.begin(), k.end());
        y[flat(yi, yd)] += X[flat(i, xd)] * W[flat(wi, wd)];
      } while (next_index(k, ker));
    }
  } while (next_index(i, xd));
  return y;
}

TEST(NnKernels, ConvTransposeMatchesReference) {
  std::mt19937 rng(77);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  for (int iter = 0; iter < 30; ++iter) {
    const size_t n = static_cast<size_t>(pick(1, 3));
    const int64_t group = pick(1, 2);
    const int64_t C = group * pick(1, 3), Mg = pick(1, 3);
    Dims xd{pick(1, 2), C}, wd{C, Mg}, s, d, pb, pe, op, out;
    for (size_t a = 0; a < n; ++a) {
      xd.push_back(pick(1, n == 3 ? 4 : 7));
      wd.push_back(pick(1, 3));
      s.push_back(pick(1, 3));
      d.push_back(pick(1, 2));
      pb.push_back(pick(0, 1));
      pe.push_back(pick(0, 1));
      op.push_back(pick(0, std::max(s.back(), d.back()) - 1));
      out.push_back(s.back() * (xd.back() - 1) + op.back() + (wd.back() - 1) * d.back() + 1 -
                    pb.back() - pe.back());
      if (out.back() < 1) {  // pads may not eat the whole output
        out.back() += pb.back() + pe.back();
        pb.back() = pe.back() = 0;
      }
    }
    const ir::Tensor x = random_floats(xd, 100 + iter), w = random_floats(wd, 200 + iter);
    const ir::Tensor b = random_floats({Mg * group}, 300 + iter);
    const auto want = conv_transpose_ref(x, w, &b, group, s, d, pb, out);
    Dims pads = pb;
    pads.insert(pads.end(), pe.begin(), pe.end());
    RUN(y, "ConvTranspose", {x, w, b}, {.attrs = [&](ir::Node& nd) {
          set_ints(nd, "strides", s);
          set_ints(nd, "dilations", d);
          set_ints(nd, "pads", pads);
          set_ints(nd, "output_padding", op);
          set_int(nd, "group", group);
        }});
    EXPECT_EQ(compare_to_reference(y, want), "") << "iter " << iter;
  }
}

// output_shape fixes the output and the pads: total = s * (in - 1) + output_padding +
// effective kernel - output_shape, begin = total - total / 2 (NOTSET) or total / 2 (SAME_UPPER).
TEST(NnKernels, ConvTransposeOutputShapeAndAutoPad) {
  const ir::Tensor x = random_floats({1, 2, 3, 4}, 8), w = random_floats({2, 3, 3, 3}, 9);
  for (const char* mode : {"NOTSET", "SAME_UPPER", "SAME_LOWER"}) {
    RUN(y, "ConvTranspose", {x, w}, {.attrs = [&](ir::Node& n) {
          set_ints(n, "strides", {2, 2});
          if (std::string(mode) == "NOTSET") {
            set_ints(n, "output_shape", {6, 9});
          } else {
            set_string(n, "auto_pad", mode);
          }
        }});
    const Dims out = std::string(mode) == "NOTSET" ? Dims{6, 9} : Dims{6, 8};
    Dims pb(2);
    for (size_t a = 0; a < 2; ++a) {
      const int64_t total = 2 * (x.dims()[a + 2] - 1) + 3 - out[a];
      pb[a] = std::string(mode) == "SAME_UPPER" ? total / 2 : total - total / 2;
    }
    EXPECT_EQ(y.dims(), (Dims{1, 3, out[0], out[1]}));
    EXPECT_EQ(
        compare_to_reference(y, conv_transpose_ref(x, w, nullptr, 1, {2, 2}, {1, 1}, pb, out)), "")
        << mode;
  }
  expect_thread_independent("ConvTranspose",
                            {random_floats({2, 8, 9, 9}, 1), random_floats({8, 6, 4, 4}, 2)},
                            {.attrs = [](ir::Node& n) {
                              set_ints(n, "strides", {2, 2});
                            }});
}

// --- Pools -----------------------------------------------------------------------------------

enum class PoolKind { kMax, kAverage, kLp };

// Direct-loop pooling in float64; `indices` gets MaxPool's flat indices (row-major).
std::vector<double> pool_ref(const ir::Tensor& x, PoolKind kind, const Window& w, const Dims& out,
                             bool count_include_pad, double p, std::vector<double>* indices) {
  const Dims& xd = x.dims();
  const std::vector<double> X = to_doubles(x);
  const size_t n = xd.size() - 2;
  Dims yd{xd[0], xd[1]};
  yd.insert(yd.end(), out.begin(), out.end());
  std::vector<double> y(static_cast<size_t>(numel(yd)));
  if (indices) indices->assign(y.size(), -1);
  Dims o(yd.size(), 0);
  do {
    double best = -INFINITY, sum = 0;
    int64_t best_at = -1, inside_count = 0, padded_count = 0;
    Dims k(n, 0);
    do {
      Dims xi{o[0], o[1]};
      bool inside = true, padded = true;
      for (size_t d = 0; d < n; ++d) {
        const int64_t pos = o[d + 2] * w.strides[d] - w.pb[d] + k[d] * w.dil[d];
        inside &= pos >= 0 && pos < xd[d + 2];
        padded &= pos < xd[d + 2] + w.pe[d];
        xi.push_back(pos);
      }
      padded_count += padded;
      if (!inside) continue;
      const double v = X[flat(xi, xd)];
      ++inside_count;
      if (v > best) best = v, best_at = flat(xi, xd);
      sum += kind == PoolKind::kLp ? std::pow(std::fabs(v), p) : v;
    } while (next_index(k, w.kernel));
    const size_t at = static_cast<size_t>(flat(o, yd));
    if (kind == PoolKind::kMax) y[at] = best;
    if (kind == PoolKind::kAverage) {
      y[at] = sum / static_cast<double>(count_include_pad ? padded_count : inside_count);
    }
    if (kind == PoolKind::kLp) y[at] = std::pow(sum, 1 / p);
    if (indices) (*indices)[at] = static_cast<double>(best_at);
  } while (next_index(o, yd));
  return y;
}

TEST(NnKernels, PoolsMatchReferenceOnRandomShapes) {
  std::mt19937 rng(99);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const char* pads[] = {"NOTSET", "NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID"};
  for (int iter = 0; iter < 90; ++iter) {
    const auto kind = static_cast<PoolKind>(iter % 3);
    const size_t n = static_cast<size_t>(pick(1, 3));
    Window win;
    win.auto_pad = pads[pick(0, 4)];
    win.ceil_mode = win.auto_pad == "NOTSET" && pick(0, 1);
    Dims xd{pick(1, 2), pick(1, 3)};
    for (size_t d = 0; d < n; ++d) {
      win.kernel.push_back(pick(1, 3));
      win.strides.push_back(pick(1, 3));
      win.dil.push_back(pick(1, 2));
      win.pb.push_back(pick(0, win.kernel.back() - 1));
      win.pe.push_back(pick(0, win.kernel.back() - 1));
      xd.push_back(pick(win.dil.back() * (win.kernel.back() - 1) + 1, n == 3 ? 6 : 11));
    }
    const Dims out = resolve(Dims(xd.begin() + 2, xd.end()), win);
    const ir::Tensor x = random_floats(xd, 500 + iter);
    const bool cip = pick(0, 1);
    const int64_t p = pick(1, 3);
    std::vector<double> idx;
    const auto want = pool_ref(x, kind, win, out, cip, static_cast<double>(p),
                               kind == PoolKind::kMax ? &idx : nullptr);
    const char* op = kind == PoolKind::kMax       ? "MaxPool"
                     : kind == PoolKind::kAverage ? "AveragePool"
                                                  : "LpPool";
    NodeSpec spec{.opset = kind == PoolKind::kMax       ? 12
                           : kind == PoolKind::kAverage ? 19
                                                        : 18,
                  .attrs =
                      [&, win](ir::Node& nd) {
                        window_attrs(win, true, true)(nd);
                        if (kind == PoolKind::kAverage) set_int(nd, "count_include_pad", cip);
                        if (kind == PoolKind::kLp) set_int(nd, "p", p);
                      },
                  .num_outputs = kind == PoolKind::kMax ? 2u : 1u};
    auto r = run_node(op, {x}, spec);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(compare_to_reference((*r)[0], want), "") << op << " iter " << iter;
    if (kind == PoolKind::kMax) {
      EXPECT_EQ(to_doubles((*r)[1]), idx) << "iter " << iter;
    }
  }
}

TEST(NnKernels, MaxPoolIndicesStorageOrderAndIntegerTypes) {
  const ir::Tensor x = f32({1, 1, 2, 3}, {1, 6, 7, 4, 5, 2});
  for (int64_t order : {0, 1}) {
    auto r = run_node("MaxPool", {x},
                      {.opset = 12,
                       .attrs =
                           [&](ir::Node& n) {
                             set_ints(n, "kernel_shape", {2, 2});
                             set_int(n, "storage_order", order);
                           },
                       .num_outputs = 2});
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{6, 7}));
    EXPECT_EQ(to_doubles((*r)[1]),
              order == 0 ? (std::vector<double>{1, 2}) : (std::vector<double>{2, 4}));
  }
  const auto k2 = [](ir::Node& n) { set_ints(n, "kernel_shape", {2}); };
  RUN(i8, "MaxPool", {make<int8_t>(DType::kInt8, {1, 1, 4}, {-128, -100, 5, -7})},
      {.opset = 12, .attrs = k2});
  EXPECT_EQ(to_doubles(i8), (std::vector<double>{-100, 5, 5}));
  RUN(u8, "MaxPool", {make<uint8_t>(DType::kUint8, {1, 1, 3}, {0, 255, 3})},
      {.opset = 12, .attrs = k2});
  EXPECT_EQ(to_doubles(u8), (std::vector<double>{255, 255}));
  // NaN propagates, also when it is not the first value of the window.
  RUN(nan, "MaxPool", {f32({1, 1, 4}, {1, NAN, 2, 3})}, {.opset = 12, .attrs = k2});
  EXPECT_TRUE(std::isnan(to_doubles(nan)[0]) && std::isnan(to_doubles(nan)[1]));
  EXPECT_EQ(to_doubles(nan)[2], 3);
}

// A ceil_mode window that runs past the end pad: count_include_pad counts the end pad but not
// the positions beyond it.
TEST(NnKernels, AveragePoolCeilModeCountIncludePad) {
  const ir::Tensor x = f32({1, 1, 6}, {1, 2, 3, 4, 5, 6});
  for (int64_t cip : {0, 1}) {
    RUN(y, "AveragePool", {x}, {.opset = 11, .attrs = [&](ir::Node& n) {
                                  set_ints(n, "kernel_shape", {3});
                                  set_ints(n, "strides", {2});
                                  set_ints(n, "pads", {1, 1});
                                  set_int(n, "ceil_mode", 1);
                                  set_int(n, "count_include_pad", cip);
                                }});
    EXPECT_EQ(to_doubles(y),
              cip ? (std::vector<double>{1, 3, 5, 3}) : (std::vector<double>{1.5, 3, 5, 6}));
  }
  // LpPool-1 takes p as a float; AveragePool-1 has no count_include_pad (pads never count).
  RUN(lp, "LpPool", {f32({1, 1, 3}, {-1, 2, -3})}, {.opset = 1, .attrs = [](ir::Node& n) {
                                                      set_ints(n, "kernel_shape", {2});
                                                      set_float(n, "p", 1.0f);
                                                    }});
  EXPECT_EQ(to_doubles(lp), (std::vector<double>{3, 5}));
}

TEST(NnKernels, PoolsInHalfTypesAndAcrossThreadCounts) {
  Window win{{3, 3}, {2, 2}, {1, 1}, {1, 1}, {1, 1}};
  const ir::Tensor x32 = random_floats({2, 3, 11, 12}, 5);
  const Dims out = resolve({11, 12}, win);
  for (DType dt : {DType::kFloat16, DType::kBFloat16}) {
    const ir::Tensor x = convert(x32, dt);
    for (auto [op, kind] :
         {std::pair{"MaxPool", PoolKind::kMax}, std::pair{"AveragePool", PoolKind::kAverage}}) {
      RUN(y, op, {x}, {.opset = 11, .attrs = window_attrs(win, false, true)});
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_EQ(compare_to_reference(y, pool_ref(x, kind, win, out, false, 2, nullptr)), "")
          << op << " " << dtype_name(dt);
    }
  }
  for (const char* op : {"MaxPool", "AveragePool", "LpPool"}) {
    expect_thread_independent(op, {random_floats({2, 8, 33, 31}, 6)},
                              {.opset = 18, .attrs = window_attrs(win, false, true)});
  }
}

TEST(NnKernels, GlobalPoolsMatchReference) {
  const ir::Tensor x = random_floats({2, 3, 5, 7}, 11);
  const std::vector<double> v = to_doubles(x);
  for (DType dt : {DType::kFloat32, DType::kFloat16}) {
    const ir::Tensor xt = convert(x, dt);
    const std::vector<double> vt = to_doubles(xt);
    std::vector<double> avg(6), mx(6, -INFINITY), lp(6), mag(6);
    for (size_t pl = 0; pl < 6; ++pl) {
      for (size_t i = 0; i < 35; ++i) {
        const double e = vt[pl * 35 + i];
        avg[pl] += e / 35;
        mx[pl] = std::max(mx[pl], e);
        lp[pl] += e * e * e * (e < 0 ? -1 : 1);
        mag[pl] += std::fabs(e) / 35;
      }
      lp[pl] = std::cbrt(lp[pl]);
    }
    RUN(ga, "GlobalAveragePool", {xt});
    RUN(gm, "GlobalMaxPool", {xt});
    RUN(gl, "GlobalLpPool", {xt}, {.attrs = [](ir::Node& n) { set_int(n, "p", 3); }});
    EXPECT_EQ(ga.dims(), (Dims{2, 3, 1, 1}));
    EXPECT_EQ(compare_to_reference(ga, avg, &mag), "");
    EXPECT_EQ(compare_to_reference(gm, mx), "");
    EXPECT_EQ(compare_to_reference(gl, lp), "");
  }
}

// MaxUnpool scatters into the default unpooled shape; a larger output_shape holds that result
// at its start (the ONNX backend test's reading).
TEST(NnKernels, MaxUnpoolWithAndWithoutOutputShape) {
  const ir::Tensor x = f32({1, 1, 2, 2}, {5, 6, 7, 8});
  const ir::Tensor idx = i64({1, 1, 2, 2}, {5, 7, 13, 15});
  const auto attrs = [](ir::Node& n) {
    set_ints(n, "kernel_shape", {2, 2});
    set_ints(n, "strides", {2, 2});
  };
  RUN(y, "MaxUnpool", {x, idx}, {.opset = 11, .attrs = attrs});
  std::vector<double> want(16, 0.0);
  want[5] = 5, want[7] = 6, want[13] = 7, want[15] = 8;
  EXPECT_EQ(to_doubles(y), want);
  RUN(y5, "MaxUnpool", {x, idx, i64({4}, {1, 1, 5, 5})},
      {.opset = 11, .attrs = attrs, .constant_inputs = {2}});
  std::vector<double> want5(25, 0.0);
  want5[6] = 5, want5[8] = 6, want5[16] = 7, want5[18] = 8;
  EXPECT_EQ(to_doubles(y5), want5);
}

TEST(NnKernels, rejects_maxunpool_index_outside_output) {
  expect_rejected(run_node("MaxUnpool", {f32({1, 1, 1, 2}, {1, 2}), i64({1, 1, 1, 2}, {0, 9})},
                           {.opset = 11,
                            .attrs =
                                [](ir::Node& n) {
                                  set_ints(n, "kernel_shape", {2, 2});
                                  set_ints(n, "strides", {2, 2});
                                }}),
                  StatusCode::kBadInput, "MaxUnpool");
}

// --- Normalizations --------------------------------------------------------------------------

// (x - mean) / sqrt(var + eps) * scale + bias per channel c = index / inner % C.
std::vector<double> affine_norm_ref(const std::vector<double>& x, int64_t C, int64_t inner,
                                    const std::vector<double>& mean, const std::vector<double>& var,
                                    const std::vector<double>& scale,
                                    const std::vector<double>& bias, double eps) {
  std::vector<double> y(x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const size_t c = static_cast<size_t>(static_cast<int64_t>(i) / inner % C);
    y[i] = (x[i] - mean[c]) / std::sqrt(var[c] + eps) * scale[c] + bias[c];
  }
  return y;
}

// Mean and population variance of v[begin + k * stride + j], k < count, j < len.
std::pair<double, double> stats_ref(const std::vector<double>& v, size_t begin, size_t count,
                                    size_t stride, size_t len) {
  double s = 0, q = 0;
  for (size_t k = 0; k < count; ++k) {
    for (size_t j = 0; j < len; ++j) s += v[begin + k * stride + j];
  }
  const double m = s / static_cast<double>(count * len);
  for (size_t k = 0; k < count; ++k) {
    for (size_t j = 0; j < len; ++j) q += std::pow(v[begin + k * stride + j] - m, 2);
  }
  return {m, q / static_cast<double>(count * len)};
}

TEST(NnKernels, BatchNormalizationInferenceInEveryFloatType) {
  const ir::Tensor x32 = random_floats({2, 3, 4, 5}, 1, -3, 3);
  const ir::Tensor scale = random_floats({3}, 2), bias = random_floats({3}, 3);
  const ir::Tensor mean = random_floats({3}, 4), var = random_floats({3}, 5, 0.5f, 2.0f);
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    const ir::Tensor x = convert(x32, dt);
    auto c = [&](const ir::Tensor& t) { return convert(t, dt); };
    const auto want = affine_norm_ref(to_doubles(x), 3, 20, to_doubles(c(mean)), to_doubles(c(var)),
                                      to_doubles(c(scale)), to_doubles(c(bias)), double(1e-3f));
    for (int64_t opset : {7, 9, 15}) {
      RUN(y, "BatchNormalization", {x, c(scale), c(bias), c(mean), c(var)},
          {.opset = opset, .attrs = [](ir::Node& n) { set_float(n, "epsilon", 1e-3f); }});
      EXPECT_EQ(compare_to_reference(y, want), "") << dtype_name(dt) << " opset " << opset;
    }
  }
}

// |mean| >> std: y = (x - mean) * a + B keeps float32 precision where x * a + (B - mean * a)
// would not.
TEST(NnKernels, BatchNormalizationKeepsPrecisionWithLargeMean) {
  const ir::Tensor x = f32({1, 1, 4}, {1000.01f, 999.99f, 1000.005f, 1000.0f});
  RUN(y, "BatchNormalization",
      {x, f32({1}, {1}), f32({1}, {0}), f32({1}, {1000}), f32({1}, {1e-4f})},
      {.attrs = [](ir::Node& n) { set_float(n, "epsilon", 0.0f); }});
  std::vector<double> want;
  for (double v : to_doubles(x)) want.push_back((v - 1000) / std::sqrt(double(1e-4f)));
  EXPECT_EQ(compare_to_reference(y, want), "");
}

// training_mode = 1 (14+): Y uses the batch statistics; running stats blend with momentum.
// Before 9, spatial = 0 keeps statistics per (channel, position).
TEST(NnKernels, BatchNormalizationTrainingModeAndSpatial) {
  const ir::Tensor x = random_floats({3, 2, 4}, 7, -2, 2);
  const std::vector<double> xv = to_doubles(x);
  const ir::Tensor scale = f32({2}, {1.5f, -0.5f}), bias = f32({2}, {0.1f, 0.2f});
  const ir::Tensor mean = f32({2}, {0.3f, -0.2f}), var = f32({2}, {1.1f, 0.9f});
  auto r = run_node("BatchNormalization", {x, scale, bias, mean, var},
                    {.opset = 15,
                     .attrs =
                         [](ir::Node& n) {
                           set_int(n, "training_mode", 1);
                           set_float(n, "momentum", 0.8f);
                         },
                     .num_outputs = 3});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  std::vector<double> bm, bv, rm, rv;
  for (size_t c = 0; c < 2; ++c) {
    const auto [m, v] = stats_ref(xv, c * 4, 3, 8, 4);
    bm.push_back(m);
    bv.push_back(v);
    rm.push_back(to_doubles(mean)[c] * double(0.8f) + m * (1 - double(0.8f)));
    rv.push_back(to_doubles(var)[c] * double(0.8f) + v * (1 - double(0.8f)));
  }
  EXPECT_EQ(compare_to_reference((*r)[0], affine_norm_ref(xv, 2, 4, bm, bv, to_doubles(scale),
                                                          to_doubles(bias), 1e-5)),
            "");
  EXPECT_EQ(compare_to_reference((*r)[1], rm), "");
  EXPECT_EQ(compare_to_reference((*r)[2], rv), "");

  const ir::Tensor s8 = random_floats({8}, 8), b8 = random_floats({8}, 9);
  const ir::Tensor m8 = random_floats({8}, 10), v8 = random_floats({8}, 11, 0.5f, 1.5f);
  RUN(y, "BatchNormalization", {x, s8, b8, m8, v8},
      {.opset = 7, .attrs = [](ir::Node& n) { set_int(n, "spatial", 0); }});
  EXPECT_EQ(compare_to_reference(y, affine_norm_ref(xv, 8, 1, to_doubles(m8), to_doubles(v8),
                                                    to_doubles(s8), to_doubles(b8), 1e-5)),
            "");
  expect_thread_independent(
      "BatchNormalization",
      {random_floats({4, 16, 9, 9}, 1), random_floats({16}, 2), random_floats({16}, 3),
       random_floats({16}, 4), random_floats({16}, 5, 0.5f, 1.0f)},
      {.opset = 15});
}

TEST(NnKernels, InstanceAndGroupNormalizationMatchReference) {
  const ir::Tensor x = random_floats({2, 6, 3, 5}, 21, -2, 4);
  const std::vector<double> xv = to_doubles(x);
  const ir::Tensor s6 = random_floats({6}, 22), b6 = random_floats({6}, 23);
  const ir::Tensor s3 = random_floats({3}, 24), b3 = random_floats({3}, 25);
  std::vector<double> inst(xv.size()), g18(xv.size()), g21(xv.size());
  for (size_t n = 0; n < 2; ++n) {
    for (size_t c = 0; c < 6; ++c) {
      const auto [m, v] = stats_ref(xv, (n * 6 + c) * 15, 1, 0, 15);
      const auto [gm, gv] = stats_ref(xv, (n * 6 + c / 2 * 2) * 15, 1, 0, 30);
      for (size_t i = 0; i < 15; ++i) {
        const size_t at = (n * 6 + c) * 15 + i;
        inst[at] = (xv[at] - m) / std::sqrt(v + 1e-5) * to_doubles(s6)[c] + to_doubles(b6)[c];
        const double z = (xv[at] - gm) / std::sqrt(gv + 1e-5);
        g18[at] = z * to_doubles(s3)[c / 2] + to_doubles(b3)[c / 2];
        g21[at] = z * to_doubles(s6)[c] + to_doubles(b6)[c];
      }
    }
  }
  RUN(yi, "InstanceNormalization", {x, s6, b6});
  EXPECT_EQ(compare_to_reference(yi, inst), "");
  const auto groups = [](ir::Node& n) { set_int(n, "num_groups", 3); };
  RUN(y18, "GroupNormalization", {x, s3, b3}, {.opset = 18, .attrs = groups});
  EXPECT_EQ(compare_to_reference(y18, g18), "");
  RUN(y21, "GroupNormalization", {x, s6, b6}, {.opset = 21, .attrs = groups});
  EXPECT_EQ(compare_to_reference(y21, g21), "");
}

TEST(NnKernels, LayerNormalizationAxesOutputsAndTypes) {
  const Dims xd{2, 3, 4, 5};
  const ir::Tensor x32 = random_floats(xd, 31, -2, 3);
  for (int64_t axis : {-1, 1, 2, 0, -3}) {
    const int64_t a = axis < 0 ? axis + 4 : axis;
    const int64_t outer = numel(Dims(xd.begin(), xd.begin() + a));
    const int64_t inner = numel(xd) / outer;
    // Scale has the normalized shape; B only its last dim (broadcast).
    Dims sd(xd.begin() + a, xd.end());
    const ir::Tensor scale = random_floats(sd, 32), bias = random_floats({5}, 33);
    for (DType dt : {DType::kFloat32, DType::kBFloat16}) {
      const ir::Tensor x = convert(x32, dt);
      const std::vector<double> xv = to_doubles(x), sv = to_doubles(convert(scale, dt));
      const std::vector<double> bv = to_doubles(convert(bias, dt));
      std::vector<double> y(xv.size()), mean, inv;
      for (int64_t r = 0; r < outer; ++r) {
        const auto [m, v] =
            stats_ref(xv, static_cast<size_t>(r * inner), 1, 0, static_cast<size_t>(inner));
        mean.push_back(m);
        inv.push_back(1 / std::sqrt(v + 1e-5));
        for (int64_t i = 0; i < inner; ++i) {
          const size_t at = static_cast<size_t>(r * inner + i);
          y[at] = (xv[at] - m) * inv.back() * sv[static_cast<size_t>(i)] + bv[i % 5];
        }
      }
      auto r = run_node(
          "LayerNormalization", {x, convert(scale, dt), convert(bias, dt)},
          {.opset = 17, .attrs = [&](ir::Node& n) { set_int(n, "axis", axis); }, .num_outputs = 3});
      ASSERT_TRUE(r.ok()) << r.status().to_string();
      EXPECT_EQ(compare_to_reference((*r)[0], y), "") << "axis " << axis;
      EXPECT_EQ((*r)[1].dtype(), DType::kFloat32);  // stash_type default
      EXPECT_EQ(compare_to_reference((*r)[1], mean), "") << "axis " << axis;
      EXPECT_EQ(compare_to_reference((*r)[2], inv), "") << "axis " << axis;
    }
  }
  expect_thread_independent("LayerNormalization",
                            {random_floats({64, 96}, 1), random_floats({96}, 2)}, {.opset = 17});
}

TEST(NnKernels, rejects_layer_norm_scale_that_does_not_broadcast) {
  expect_rejected(run_node("LayerNormalization", {random_floats({2, 6}, 1), random_floats({4}, 2)},
                           {.opset = 17}),
                  StatusCode::kBadInput, "LayerNormalization");
}

TEST(NnKernels, LrnAndMeanVarianceNormalizationMatchReference) {
  const ir::Tensor x = random_floats({2, 5, 3, 2}, 41, -2, 2);
  const std::vector<double> xv = to_doubles(x);
  for (int64_t size : {3, 4}) {
    const float beta = size == 3 ? 0.75f : 0.6f;  // 0.75 has its own path
    std::vector<double> want(xv.size());
    for (size_t i = 0; i < xv.size(); ++i) {
      const int64_t c = static_cast<int64_t>(i / 6 % 5), base = static_cast<int64_t>(i) - c * 6;
      double sq = 0;
      for (int64_t k = std::max<int64_t>(0, c - (size - 1) / 2);
           k <= std::min<int64_t>(4, c + size / 2); ++k) {
        sq += xv[static_cast<size_t>(base + k * 6)] * xv[static_cast<size_t>(base + k * 6)];
      }
      want[i] =
          xv[i] / std::pow(2.0 + double(1e-2f) / static_cast<double>(size) * sq, double(beta));
    }
    RUN(y, "LRN", {x}, {.opset = 13, .attrs = [&](ir::Node& n) {
                          set_int(n, "size", size);
                          set_float(n, "alpha", 1e-2f);
                          set_float(n, "beta", beta);
                          set_float(n, "bias", 2.0f);
                        }});
    EXPECT_EQ(compare_to_reference(y, want), "") << "size " << size;
  }
  // MVN over the default axes [0, 2, 3] (per channel) and over [1].
  std::vector<double> per_channel(xv.size()), per_position(xv.size());
  for (size_t c = 0; c < 5; ++c) {
    std::vector<double> vals;
    for (size_t n = 0; n < 2; ++n) {
      for (size_t i = 0; i < 6; ++i) vals.push_back(xv[(n * 5 + c) * 6 + i]);
    }
    const auto [m, v] = stats_ref(vals, 0, 1, 0, vals.size());
    for (size_t n = 0; n < 2; ++n) {
      for (size_t i = 0; i < 6; ++i) {
        const size_t at = (n * 5 + c) * 6 + i;
        per_channel[at] = (xv[at] - m) / (std::sqrt(v) + 1e-9);
      }
    }
  }
  for (size_t n = 0; n < 2; ++n) {
    for (size_t i = 0; i < 6; ++i) {
      const auto [m, v] = stats_ref(xv, n * 30 + i, 5, 6, 1);
      for (size_t c = 0; c < 5; ++c) {
        const size_t at = (n * 5 + c) * 6 + i;
        per_position[at] = (xv[at] - m) / (std::sqrt(v) + 1e-9);
      }
    }
  }
  RUN(mvn, "MeanVarianceNormalization", {x}, {.opset = 13});
  EXPECT_EQ(compare_to_reference(mvn, per_channel), "");
  RUN(mvn1, "MeanVarianceNormalization", {x},
      {.opset = 13, .attrs = [](ir::Node& n) { set_ints(n, "axes", {1}); }});
  EXPECT_EQ(compare_to_reference(mvn1, per_position), "");
}

// --- Pad, DepthToSpace, SpaceToDepth ---------------------------------------------------------

// numpy.pad semantics per axis after cropping negative pads.
std::vector<double> pad_ref(const std::vector<double>& x, const Dims& xd, const Dims& pads,
                            const std::string& mode, double value, Dims& yd) {
  const size_t r = xd.size();
  Dims crop(r), len(r), lead(r);
  yd.assign(r, 0);
  for (size_t d = 0; d < r; ++d) {
    crop[d] = std::max<int64_t>(0, -pads[d]);
    len[d] = xd[d] - crop[d] - std::max<int64_t>(0, -pads[d + r]);
    lead[d] = std::max<int64_t>(0, pads[d]);
    yd[d] = len[d] + lead[d] + std::max<int64_t>(0, pads[d + r]);
  }
  std::vector<double> y;
  Dims o(r, 0);
  if (numel(yd) == 0) return y;
  do {
    Dims xi(r);
    bool constant = false;
    for (size_t d = 0; d < r; ++d) {
      int64_t i = o[d] - lead[d];
      const int64_t n = len[d];
      if (mode == "edge") i = std::clamp<int64_t>(i, 0, n - 1);
      if (mode == "wrap") i = ((i % n) + n) % n;
      while (mode == "reflect" && n > 1 && (i < 0 || i >= n)) i = i < 0 ? -i : 2 * (n - 1) - i;
      if (mode == "reflect" && n == 1) i = 0;
      constant |= i < 0 || i >= n;
      xi[d] = i + crop[d];
    }
    y.push_back(constant ? value : x[flat(xi, xd)]);
  } while (next_index(o, yd));
  return y;
}

TEST(NnKernels, PadModesInEveryOpsetForm) {
  const ir::Tensor x = f32({4}, {1, 2, 3, 4});
  const std::vector<std::pair<std::string, std::vector<double>>> cases = {
      {"constant", {9, 9, 9, 1, 2, 3, 4, 9, 9}},
      {"reflect", {4, 3, 2, 1, 2, 3, 4, 3, 2}},
      {"edge", {1, 1, 1, 1, 2, 3, 4, 4, 4}},
      {"wrap", {2, 3, 4, 1, 2, 3, 4, 1, 2}}};
  for (const auto& [mode, want] : cases) {
    const auto m = [mode = mode](ir::Node& n) { set_string(n, "mode", mode); };
    RUN(y19, "Pad", {x, i64({2}, {3, 2}), f32({}, {9})}, {.opset = 19, .attrs = m});
    EXPECT_EQ(to_doubles(y19), want) << mode;
    if (mode == "wrap") continue;
    RUN(y2, "Pad", {x}, {.opset = 2, .attrs = [&](ir::Node& n) {
                           m(n);
                           set_ints(n, "pads", {3, 2});
                           set_float(n, "value", 9);
                         }});
    EXPECT_EQ(to_doubles(y2), want) << mode;
    RUN(y1, "Pad", {x}, {.opset = 1, .attrs = [&](ir::Node& n) {
                           m(n);
                           set_ints(n, "paddings", {3, 2});
                           set_float(n, "value", 9);
                         }});
    EXPECT_EQ(to_doubles(y1), want) << mode;
  }
  // Negative pads crop first; Pad-18 pads only the listed axes.
  RUN(neg, "Pad", {x, i64({2}, {-1, 2})},
      {.opset = 11, .attrs = [](ir::Node& n) { set_string(n, "mode", "reflect"); }});
  EXPECT_EQ(to_doubles(neg), (std::vector<double>{2, 3, 4, 3, 2}));
  RUN(ax, "Pad", {f32({2, 2}, {1, 2, 3, 4}), i64({2}, {1, 1}), std::nullopt, i64({1}, {-1})},
      {.opset = 18, .constant_inputs = {1, 3}});
  EXPECT_EQ(ax.dims(), (Dims{2, 4}));
  EXPECT_EQ(to_doubles(ax), (std::vector<double>{0, 1, 2, 0, 0, 3, 4, 0}));
}

TEST(NnKernels, PadMatchesReferenceOnRandomShapes) {
  std::mt19937 rng(5);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const char* modes[] = {"constant", "reflect", "edge", "wrap"};
  for (int iter = 0; iter < 40; ++iter) {
    const size_t r = static_cast<size_t>(pick(1, 4));
    const std::string mode = modes[iter % 4];
    Dims xd, pads(2 * r);
    for (size_t d = 0; d < r; ++d) xd.push_back(pick(2, 6));
    for (size_t d = 0; d < r; ++d) {
      pads[d] = pick(-1, 3);
      pads[d + r] = pick(-1, 3);
    }
    const DType dt = iter % 3 == 0   ? DType::kInt32
                     : iter % 3 == 1 ? DType::kFloat16
                                     : DType::kFloat32;
    ir::Tensor x =
        convert(random_floats(xd, 600 + iter, -50, 50), dt == DType::kInt32 ? DType::kFloat32 : dt);
    ir::Tensor cv = convert(f32({}, {7}), dt == DType::kInt32 ? DType::kFloat32 : dt);
    if (dt == DType::kInt32) {
      std::vector<int32_t> v;
      for (double e : to_doubles(x)) v.push_back(static_cast<int32_t>(e));
      x = make<int32_t>(DType::kInt32, xd, v);
      cv = make<int32_t>(DType::kInt32, {}, {7});
    }
    Dims yd;
    const auto want = pad_ref(to_doubles(x), xd, pads, mode, 7, yd);
    RUN(y, "Pad", {x, i64({static_cast<int64_t>(2 * r)}, pads), cv},
        {.opset = 21,
         .attrs = [&](ir::Node& n) { set_string(n, "mode", mode); },
         .constant_inputs = {1}});
    EXPECT_EQ(y.dims(), yd) << "iter " << iter;
    EXPECT_EQ(to_doubles(y), want) << "iter " << iter << " mode " << mode;
  }
}

TEST(NnKernels, rejects_pad_reflect_of_an_axis_cropped_to_nothing) {
  expect_rejected(run_node("Pad", {f32({2}, {1, 2}), i64({2}, {-2, 1})},
                           {.opset = 13,
                            .attrs = [](ir::Node& n) { set_string(n, "mode", "reflect"); },
                            .constant_inputs = {1}}),
                  StatusCode::kBadInput, "Pad");
}

TEST(NnKernels, DepthToSpaceModesAndSpaceToDepth) {
  std::vector<float> v(48);
  for (size_t i = 0; i < 48; ++i) v[i] = static_cast<float>(i);
  const ir::Tensor x = f32({1, 8, 2, 3}, v);
  const auto mode = [](const char* m) {
    return [=](ir::Node& n) {
      set_int(n, "blocksize", 2);
      set_string(n, "mode", m);
    };
  };
  RUN(dcr, "DepthToSpace", {x}, {.opset = 13, .attrs = mode("DCR")});
  EXPECT_EQ(dcr.dims(), (Dims{1, 2, 4, 6}));
  EXPECT_EQ(to_doubles(dcr),
            (std::vector<double>{0,  12, 1,  13, 2,  14, 24, 36, 25, 37, 26, 38, 3,  15, 4,  16,
                                 5,  17, 27, 39, 28, 40, 29, 41, 6,  18, 7,  19, 8,  20, 30, 42,
                                 31, 43, 32, 44, 9,  21, 10, 22, 11, 23, 33, 45, 34, 46, 35, 47}));
  RUN(crd, "DepthToSpace", {x}, {.opset = 13, .attrs = mode("CRD")});
  EXPECT_EQ(to_doubles(crd),
            (std::vector<double>{0,  6,  1,  7,  2,  8,  12, 18, 13, 19, 14, 20, 3,  9,  4,  10,
                                 5,  11, 15, 21, 16, 22, 17, 23, 24, 30, 25, 31, 26, 32, 36, 42,
                                 37, 43, 38, 44, 27, 33, 28, 34, 29, 35, 39, 45, 40, 46, 41, 47}));
  RUN(back, "SpaceToDepth", {dcr},
      {.opset = 13, .attrs = [](ir::Node& n) { set_int(n, "blocksize", 2); }});
  EXPECT_EQ(to_doubles(back), to_doubles(x));
  std::vector<uint8_t> u(48);
  for (size_t i = 0; i < 48; ++i) u[i] = static_cast<uint8_t>(i);
  RUN(u8, "DepthToSpace", {make<uint8_t>(DType::kUint8, {1, 8, 2, 3}, u)},
      {.opset = 1, .attrs = [](ir::Node& n) { set_int(n, "blocksize", 2); }});
  EXPECT_EQ(to_doubles(u8), to_doubles(dcr));
}

// --- Resize ----------------------------------------------------------------------------------

struct ResizeOpts {
  std::string mode = "nearest", coord = "half_pixel", nearest = "round_prefer_floor";
  double a = -0.75;
  bool exclude = false;
  double extrapolation = 0;
};

// Taps (index, weight) of every output index of one axis, written from the spec formulas.
std::vector<std::vector<std::pair<int64_t, double>>> resize_axis_ref(const ResizeOpts& o,
                                                                     int64_t in, int64_t out,
                                                                     double scale, double rs,
                                                                     double re,
                                                                     std::vector<bool>& outside) {
  std::vector<std::vector<std::pair<int64_t, double>>> taps(static_cast<size_t>(out));
  outside.assign(static_cast<size_t>(out), false);
  const double width = scale * static_cast<double>(in), L = static_cast<double>(in);
  for (int64_t y = 0; y < out; ++y) {
    const double yd = static_cast<double>(y);
    double x = (yd + 0.5) / scale - 0.5;
    if (o.coord == "pytorch_half_pixel" && out == 1) x = 0;
    if (o.coord == "align_corners") x = width == 1 ? 0 : yd * (L - 1) / (width - 1);
    if (o.coord == "asymmetric") x = yd / scale;
    if (o.coord == "half_pixel_symmetric") {
      x = L / 2 * (1 - static_cast<double>(out) / width) + (yd + 0.5) / scale - 0.5;
    }
    if (o.coord == "tf_crop_and_resize") {
      x = width == 1 ? (re - rs) * (L - 1) / 2 : yd * (re - rs) * (L - 1) / (width - 1);
      x += rs * (L - 1);
      outside[static_cast<size_t>(y)] = x < 0 || x > L - 1;
    }
    auto clampi = [&](double v) { return std::clamp<int64_t>(static_cast<int64_t>(v), 0, in - 1); };
    const double fl = std::floor(x), t = x - fl;
    auto& tv = taps[static_cast<size_t>(y)];
    if (o.mode == "nearest") {
      double i = fl + 1;
      if (o.nearest == "round_prefer_floor" && t <= 0.5) i = fl;
      if (o.nearest == "round_prefer_ceil" && t < 0.5) i = fl;
      if (o.nearest == "floor") i = fl;
      if (o.nearest == "ceil") i = std::ceil(x);
      tv.push_back({clampi(std::clamp(i, -1.0, L)), 1.0});
    } else if (o.mode == "linear") {
      tv.push_back({clampi(fl), 1 - t});
      tv.push_back({clampi(fl + 1), t});
    } else {
      double sum = 0;
      for (int k = -1; k <= 2; ++k) {
        const double d = std::fabs(x - (fl + k)), a = o.a;
        double w = d <= 1  ? ((a + 2) * d - (a + 3)) * d * d + 1
                   : d < 2 ? ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
                           : 0;
        if (o.exclude && (fl + k < 0 || fl + k > L - 1)) w = 0;
        sum += w;
        tv.push_back({clampi(std::clamp(fl + k, -1.0, L)), w});
      }
      if (o.exclude) {
        for (auto& p : tv) p.second /= sum;
      }
    }
  }
  return taps;
}

// Resize of the last two axes of an [N, C, H, W] tensor.
std::vector<double> resize_ref(const ir::Tensor& x, const ResizeOpts& o, const Dims& out, double sh,
                               double sw, const std::vector<double>& roi = {}) {
  const Dims& xd = x.dims();
  const std::vector<double> X = to_doubles(x);
  std::vector<bool> oh, ow;
  const auto th =
      resize_axis_ref(o, xd[2], out[0], sh, roi.empty() ? 0 : roi[2], roi.empty() ? 1 : roi[6], oh);
  const auto tw =
      resize_axis_ref(o, xd[3], out[1], sw, roi.empty() ? 0 : roi[3], roi.empty() ? 1 : roi[7], ow);
  std::vector<double> y;
  for (int64_t p = 0; p < xd[0] * xd[1]; ++p) {
    for (int64_t h = 0; h < out[0]; ++h) {
      for (int64_t w = 0; w < out[1]; ++w) {
        double acc = 0;
        for (auto [hi, hw] : th[static_cast<size_t>(h)]) {
          for (auto [wi, ww] : tw[static_cast<size_t>(w)]) {
            acc += hw * ww * X[static_cast<size_t>((p * xd[2] + hi) * xd[3] + wi)];
          }
        }
        y.push_back(oh[static_cast<size_t>(h)] || ow[static_cast<size_t>(w)] ? o.extrapolation
                                                                             : acc);
      }
    }
  }
  return y;
}

Attrs resize_attrs(const ResizeOpts& o) {
  return [=](ir::Node& n) {
    set_string(n, "mode", o.mode);
    set_string(n, "coordinate_transformation_mode", o.coord);
    set_string(n, "nearest_mode", o.nearest);
    set_float(n, "cubic_coeff_a", static_cast<float>(o.a));
    set_int(n, "exclude_outside", o.exclude);
    set_float(n, "extrapolation_value", static_cast<float>(o.extrapolation));
  };
}

TEST(NnKernels, ResizeHandComputed) {
  const ir::Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  RUN(lin, "Resize", {x, std::nullopt, f32({4}, {1, 1, 2, 2})},
      {.opset = 13,
       .attrs = [](ir::Node& n) { set_string(n, "mode", "linear"); },
       .constant_inputs = {2}});
  EXPECT_EQ(to_doubles(lin), (std::vector<double>{1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75,
                                                  3.25, 3.5, 3, 3.25, 3.75, 4}));
  // Upsample-9: nearest with integer scales repeats elements.
  RUN(up, "Upsample", {x, f32({4}, {1, 1, 2, 3})}, {.opset = 9, .constant_inputs = {1}});
  EXPECT_EQ(to_doubles(up), (std::vector<double>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                                 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
  // Upsample-7 linear: asymmetric coordinates, edge clamped.
  RUN(up7, "Upsample", {f32({1, 2}, {1, 2})}, {.opset = 7, .attrs = [](ir::Node& n) {
                                                 set_string(n, "mode", "linear");
                                                 testing::set_floats(n, "scales", {1, 2});
                                               }});
  EXPECT_EQ(to_doubles(up7), (std::vector<double>{1, 1.5, 2, 2}));
  // Resize-10 nearest downscaling takes ceil(y / scale): 0, 1.67, 3.33 -> 0, 2, 4.
  RUN(r10, "Resize", {f32({5}, {1, 2, 3, 4, 5}), f32({1}, {0.6f})},
      {.opset = 10, .constant_inputs = {1}});
  EXPECT_EQ(to_doubles(r10), (std::vector<double>{1, 3, 5}));
  // Antialiased linear downscaling by 2: a 4-tap triangle (1, 3, 3, 1) / 8, edge clamped.
  RUN(aa, "Resize", {f32({4}, {0, 1, 2, 3}), std::nullopt, f32({1}, {0.5f})},
      {.opset = 18,
       .attrs =
           [](ir::Node& n) {
             set_string(n, "mode", "linear");
             set_int(n, "antialias", 1);
           },
       .constant_inputs = {2}});
  EXPECT_EQ(compare_to_reference(aa, {0.625, 2.375}), "");
}

// Every mode and coordinate transformation against the spec-formula reference, with scales
// (up and down) and sizes.
TEST(NnKernels, ResizeModesMatchReference) {
  const ir::Tensor x = random_floats({2, 3, 5, 6}, 71, -4, 4);
  const std::vector<std::pair<double, double>> scales = {{2, 1.5}, {0.6, 0.5}, {1.6, 0.8}};
  int iter = 0;
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    for (const char* coord : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                              "half_pixel_symmetric", "tf_crop_and_resize"}) {
      for (const auto& [sh, sw] : scales) {
        ResizeOpts o;
        o.mode = mode;
        o.coord = coord;
        o.nearest = std::vector<std::string>{"round_prefer_floor", "round_prefer_ceil", "floor",
                                             "ceil"}[iter % 4];
        o.exclude = iter % 2;
        o.a = iter % 3 ? -0.75 : -0.5;
        o.extrapolation = -9;
        ++iter;
        const bool by_sizes = iter % 2;
        const Dims out{static_cast<int64_t>(5 * sh), static_cast<int64_t>(6 * sw)};
        // With sizes the coordinate scale is out / in.
        const double eh = by_sizes ? out[0] / 5.0 : static_cast<double>(static_cast<float>(sh));
        const double ew = by_sizes ? out[1] / 6.0 : static_cast<double>(static_cast<float>(sw));
        const std::vector<float> roi = {0, 0, 0.2f, -0.1f, 1, 1, 0.9f, 1.2f};
        const std::vector<double> roid(roi.begin(), roi.end());
        const auto want = resize_ref(x, o, out, eh, ew, roid);
        std::vector<std::optional<ir::Tensor>> in{x, f32({8}, roi)};
        if (by_sizes) {
          in.push_back(std::nullopt);
          in.push_back(i64({4}, {2, 3, out[0], out[1]}));
        } else {
          in.push_back(f32({4}, {1, 1, static_cast<float>(sh), static_cast<float>(sw)}));
        }
        RUN(y, "Resize", in, {.opset = 19, .attrs = resize_attrs(o), .constant_inputs = {1, 2, 3}});
        EXPECT_EQ(y.dims(), (Dims{2, 3, out[0], out[1]}));
        EXPECT_EQ(compare_to_reference(y, want), "")
            << mode << " " << coord << " " << o.nearest << " exclude " << o.exclude << " scales "
            << sh << "x" << sw << (by_sizes ? " (sizes)" : "");
      }
    }
  }
}

// axes (18+) with keep_aspect_ratio_policy; float16, rounding integer types, threads.
TEST(NnKernels, ResizeAxesPolicyTypesAndThreads) {
  const ir::Tensor x = random_floats({1, 2, 4, 6}, 72);
  ResizeOpts o;
  o.mode = "linear";
  for (const char* policy : {"not_larger", "not_smaller"}) {
    RUN(y, "Resize", {x, std::nullopt, std::nullopt, i64({2}, {3, 3})},
        {.opset = 18,
         .attrs =
             [&](ir::Node& n) {
               resize_attrs(o)(n);
               set_ints(n, "axes", {3, 2});
               set_string(n, "keep_aspect_ratio_policy", policy);
             },
         .constant_inputs = {3}});
    // sizes [3, 3] on axes [3, 2]: scale min(3/6, 3/4) = 0.5 or max = 0.75.
    const double s = std::string(policy) == "not_larger" ? 0.5 : 0.75;
    const Dims out{static_cast<int64_t>(4 * s + 0.5), static_cast<int64_t>(6 * s + 0.5)};
    EXPECT_EQ(y.dims(), (Dims{1, 2, out[0], out[1]}));
    EXPECT_EQ(compare_to_reference(y, resize_ref(x, o, out, s, s)), "") << policy;
  }
  o.mode = "cubic";
  const ir::Tensor sc = f32({4}, {1, 1, 1.75f, 2.5f});
  const ir::Tensor h = convert(x, DType::kFloat16);
  RUN(yh, "Resize", {h, std::nullopt, sc},
      {.opset = 13, .attrs = resize_attrs(o), .constant_inputs = {2}});
  EXPECT_EQ(yh.dtype(), DType::kFloat16);
  EXPECT_EQ(compare_to_reference(yh, resize_ref(h, o, {7, 15}, 1.75, 2.5)), "");
  // uint8 linear: rounded and saturated; scales as a graph input (known only at run time).
  o.mode = "linear";
  const ir::Tensor u = make<uint8_t>(DType::kUint8, {1, 1, 1, 3}, {0, 3, 255});
  RUN(yu, "Resize", {u, std::nullopt, f32({4}, {1, 1, 1, 2})},
      {.opset = 13, .attrs = resize_attrs(o)});
  EXPECT_EQ(to_doubles(yu), (std::vector<double>{0, 1, 2, 66, 192, 255}));
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    o.mode = mode;
    expect_thread_independent(
        "Resize", {random_floats({2, 8, 37, 29}, 3), std::nullopt, f32({4}, {1, 1, 1.5f, 2})},
        {.opset = 13, .attrs = resize_attrs(o), .constant_inputs = {2}});
  }
}

TEST(NnKernels, rejects_resize_tf_crop_and_resize_without_roi) {
  ResizeOpts o;
  o.coord = "tf_crop_and_resize";
  expect_rejected(
      run_node("Resize", {random_floats({1, 1, 2, 2}, 1), std::nullopt, f32({4}, {1, 1, 2, 2})},
               {.opset = 13, .attrs = resize_attrs(o), .constant_inputs = {2}}),
      StatusCode::kBadInput, "Resize");
}

// --- GridSample ------------------------------------------------------------------------------

// PyTorch grid_sample on one [H, W] plane for zeros and border padding (cubic border clamps
// the taps, not the coordinate).
double grid_sample_ref(const std::vector<double>& X, int64_t H, int64_t W, double gx, double gy,
                       const std::string& mode, const std::string& padding, bool align) {
  auto denorm = [&](double g, int64_t L) {
    return align ? (g + 1) / 2 * static_cast<double>(L - 1)
                 : ((g + 1) * static_cast<double>(L) - 1) / 2;
  };
  double x = denorm(gx, W), y = denorm(gy, H);
  if (mode == "nearest") x = std::nearbyint(x), y = std::nearbyint(y);
  // Padding applies to each tap (PyTorch's rule): border clamps the tap indices.
  auto at = [&](int64_t i, int64_t j) {
    if (padding == "border")
      i = std::clamp<int64_t>(i, 0, H - 1), j = std::clamp<int64_t>(j, 0, W - 1);
    return i < 0 || i >= H || j < 0 || j >= W ? 0.0 : X[static_cast<size_t>(i * W + j)];
  };
  if (mode == "nearest") return at(static_cast<int64_t>(y), static_cast<int64_t>(x));
  const double x0 = std::floor(x), y0 = std::floor(y), tx = x - x0, ty = y - y0;
  auto cubic = [](double d) {
    const double a = -0.75;
    d = std::fabs(d);
    return d <= 1  ? ((a + 2) * d - (a + 3)) * d * d + 1
           : d < 2 ? ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
                   : 0;
  };
  const int first = mode == "linear" ? 0 : -1, last = mode == "linear" ? 1 : 2;
  double acc = 0;
  for (int i = first; i <= last; ++i) {
    for (int j = first; j <= last; ++j) {
      const double wy = mode == "linear" ? (i ? ty : 1 - ty) : cubic(ty - i);
      const double wx = mode == "linear" ? (j ? tx : 1 - tx) : cubic(tx - j);
      acc += wy * wx * at(static_cast<int64_t>(y0) + i, static_cast<int64_t>(x0) + j);
    }
  }
  return acc;
}

TEST(NnKernels, GridSampleMatchesReference) {
  const ir::Tensor x = random_floats({2, 3, 5, 7}, 81);
  const ir::Tensor grid = random_floats({2, 4, 6, 2}, 82, -1.3f, 1.3f);
  const std::vector<double> X = to_doubles(x), G = to_doubles(grid);
  for (const char* mode : {"linear", "nearest", "cubic"}) {
    for (const char* padding : {"zeros", "border"}) {
      for (int64_t align : {0, 1}) {
        std::vector<double> want;
        for (size_t n = 0; n < 2; ++n) {
          for (size_t c = 0; c < 3; ++c) {
            const std::vector<double> plane(X.begin() + (n * 3 + c) * 35,
                                            X.begin() + (n * 3 + c + 1) * 35);
            for (size_t p = 0; p < 24; ++p) {
              want.push_back(grid_sample_ref(plane, 5, 7, G[(n * 24 + p) * 2],
                                             G[(n * 24 + p) * 2 + 1], mode, padding, align));
            }
          }
        }
        const Attrs attrs = [&](ir::Node& nd) {
          set_string(nd, "mode", mode);
          set_string(nd, "padding_mode", padding);
          set_int(nd, "align_corners", align);
        };
        RUN(y, "GridSample", {x, grid}, {.opset = 20, .attrs = attrs});
        EXPECT_EQ(y.dims(), (Dims{2, 3, 4, 6}));
        EXPECT_EQ(compare_to_reference(y, want), "") << mode << " " << padding << " " << align;
      }
    }
  }
  // GridSample-16 spells the modes bilinear / bicubic.
  RUN(y16, "GridSample", {x, grid},
      {.opset = 16, .attrs = [](ir::Node& n) { set_string(n, "mode", "bicubic"); }});
  RUN(y20, "GridSample", {x, grid},
      {.opset = 20, .attrs = [](ir::Node& n) { set_string(n, "mode", "cubic"); }});
  EXPECT_EQ(bytes(y16), bytes(y20));
  expect_thread_independent(
      "GridSample",
      {random_floats({2, 16, 20, 20}, 1), random_floats({2, 33, 31, 2}, 2, -1.1f, 1.1f)},
      {.opset = 16});
}

// Reflection folds coordinates at [-0.5, L - 0.5]; nearest rounds half to even; GridSample-20
// takes 3 spatial axes (grid components innermost axis first).
TEST(NnKernels, GridSampleReflectionNearestAndVolumes) {
  const ir::Tensor row = f32({1, 1, 1, 4}, {0, 1, 2, 3});
  RUN(refl, "GridSample", {row, f32({1, 1, 2, 2}, {-1.5f, 0, 1.375f, 0})},
      {.opset = 16, .attrs = [](ir::Node& n) { set_string(n, "padding_mode", "reflection"); }});
  EXPECT_EQ(compare_to_reference(refl, {0.5, 2.75}), "");
  // x = ((g + 1) * 4 - 1) / 2 = 0.5 and 2.5 round to the even indices 0 and 2.
  RUN(near, "GridSample", {row, f32({1, 1, 2, 2}, {-0.5f, 0, 0.5f, 0})},
      {.opset = 16, .attrs = [](ir::Node& n) { set_string(n, "mode", "nearest"); }});
  EXPECT_EQ(to_doubles(near), (std::vector<double>{0, 2}));
  const ir::Tensor vol = f32({1, 1, 2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  RUN(v, "GridSample", {vol, f32({1, 1, 1, 3, 3}, {-1, -1, -1, 1, -1, -1, 0, 0, 0})},
      {.opset = 20, .attrs = [](ir::Node& n) { set_int(n, "align_corners", 1); }});
  EXPECT_EQ(compare_to_reference(v, {0, 1, 3.5}), "");
}

TEST(NnKernels, rejects_grid_sample_with_unknown_padding_mode) {
  expect_rejected(
      run_node(
          "GridSample", {random_floats({1, 1, 2, 2}, 1), random_floats({1, 2, 2, 2}, 2)},
          {.opset = 16, .attrs = [](ir::Node& n) { set_string(n, "padding_mode", "mirror"); }}),
      StatusCode::kBadInput, "GridSample");
}

// --- RoiAlign, NonMaxSuppression -------------------------------------------------------------

TEST(NnKernels, RoiAlignAverageMaxAndCoordinateModes) {
  std::vector<float> v(16);
  for (size_t i = 0; i < 16; ++i) v[i] = static_cast<float>(i);  // X[y][x] = 4y + x
  const ir::Tensor x = f32({1, 1, 4, 4}, v);
  const ir::Tensor rois = f32({1, 4}, {0, 0, 2, 2});
  const ir::Tensor batch = i64({1}, {0});
  auto attrs = [](const char* mode, const char* ctm) {
    return [=](ir::Node& n) {
      set_string(n, "mode", mode);
      set_int(n, "sampling_ratio", 2);
      if (ctm) set_string(n, "coordinate_transformation_mode", ctm);
    };
  };
  // Legacy coordinates: samples at 0.5 and 1.5 per axis, bilinear = 4y + x.
  RUN(avg, "RoiAlign", {x, rois, batch}, {.opset = 10, .attrs = attrs("avg", nullptr)});
  EXPECT_EQ(compare_to_reference(avg, {5}), "");
  RUN(avg16, "RoiAlign", {x, rois, batch},
      {.opset = 16, .attrs = attrs("avg", "output_half_pixel")});
  EXPECT_EQ(compare_to_reference(avg16, {5}), "");
  // half_pixel shifts the roi by -0.5: samples at 0 and 1.
  RUN(half, "RoiAlign", {x, rois, batch}, {.opset = 16, .attrs = attrs("avg", "half_pixel")});
  EXPECT_EQ(compare_to_reference(half, {2.5}), "");
  // max: the largest weighted corner term, 0.25 * 10 at sample (1.5, 1.5).
  RUN(mx, "RoiAlign", {x, rois, batch}, {.opset = 10, .attrs = attrs("max", nullptr)});
  EXPECT_EQ(compare_to_reference(mx, {2.5}), "");
  // Several rois, bins and batches, across thread counts.
  expect_thread_independent(
      "RoiAlign",
      {random_floats({2, 20, 16, 16}, 3), f32({3, 4}, {1, 1, 9, 12, 0, 3, 15, 15, 4, 4, 6, 5}),
       i64({3}, {1, 0, 1})},
      {.opset = 16, .attrs = [](ir::Node& n) {
         set_int(n, "output_height", 3);
         set_int(n, "output_width", 2);
       }});
}

TEST(NnKernels, rejects_roi_align_batch_index_out_of_range) {
  expect_rejected(
      run_node("RoiAlign",
               {random_floats({1, 1, 4, 4}, 1), f32({1, 4}, {0, 0, 2, 2}), i64({1}, {1})},
               {.opset = 16}),
      StatusCode::kBadInput, "RoiAlign");
}

Expected<std::vector<ir::Tensor>> nms(const ir::Tensor& boxes, const ir::Tensor& scores,
                                      int64_t max_boxes, float iou,
                                      std::optional<float> score_threshold, int64_t center) {
  std::vector<std::optional<ir::Tensor>> in{boxes, scores, i64({1}, {max_boxes}), f32({1}, {iou})};
  if (score_threshold) in.push_back(f32({1}, {*score_threshold}));
  return run_node("NonMaxSuppression", in, {.opset = 11, .attrs = [=](ir::Node& n) {
                                              set_int(n, "center_point_box", center);
                                            }});
}

TEST(NnKernels, NonMaxSuppressionSelectsGreedilyPerClass) {
  const ir::Tensor boxes = f32({1, 6, 4}, {0, 0,  1, 1,  0, 0.1f,  1, 1.1f,  0, -0.1f, 1, 0.9f,
                                           0, 10, 1, 11, 0, 10.1f, 1, 11.1f, 0, 100,   1, 101});
  const ir::Tensor scores = f32({1, 1, 6}, {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f});
  auto r = nms(boxes, scores, 3, 0.5f, 0.0f, 0);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{0, 0, 3, 0, 0, 0, 0, 0, 5}));
  // Score threshold 0.4 drops box 5; a limit of 2 keeps the two best survivors.
  r = nms(boxes, scores, 2, 0.5f, 0.4f, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{0, 0, 3, 0, 0, 0}));
  // Flipped corners and center-form boxes select the same.
  const ir::Tensor centers =
      f32({1, 6, 4}, {0.5f, 0.5f,  1, 1, 0.5f, 0.6f,  1, 1, 0.5f, 0.4f,   1, 1,
                      0.5f, 10.5f, 1, 1, 0.5f, 10.6f, 1, 1, 0.5f, 100.5f, 1, 1});
  r = nms(centers, scores, 3, 0.5f, std::nullopt, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{0, 0, 3, 0, 0, 0, 0, 0, 5}));
  // Two batches x two classes come out in batch, class order; a 0 limit selects nothing.
  std::vector<float> b2;
  for (int i = 0; i < 2; ++i) b2.insert(b2.end(), boxes.data<float>(), boxes.data<float>() + 24);
  std::vector<float> s4;
  for (int i = 0; i < 4; ++i) s4.insert(s4.end(), scores.data<float>(), scores.data<float>() + 6);
  s4[6 + 5] = 0.99f;  // batch 0, class 1: box 5 first
  r = nms(f32({2, 6, 4}, b2), f32({2, 2, 6}, s4), 1, 0.5f, std::nullopt, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{0, 0, 3, 0, 1, 5, 1, 0, 3, 1, 1, 3}));
  r = nms(boxes, scores, 0, 0.5f, std::nullopt, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{0, 3}));
}

TEST(NnKernels, rejects_nms_with_mismatched_box_count) {
  expect_rejected(
      nms(random_floats({1, 3, 4}, 1), random_floats({1, 1, 4}, 2), 1, 0.5f, std::nullopt, 0),
      StatusCode::kBadInput, "NonMaxSuppression");
}

}  // namespace
}  // namespace mixq
