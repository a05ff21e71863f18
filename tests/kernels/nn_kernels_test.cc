// Kernel tests for the nn family: inline hand-computed cases, seeded random shapes against
// float64 references written here, float16/bfloat16/float64 variants, bit-identical results
// across thread counts, and rejects_* cases.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <tuple>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "kernel_test_util.h"
#include "mixq/core/float_bits.h"
#include "tolerances.h"

namespace mixq {
namespace {

using namespace testing::kt;  // NOLINT(google-build-using-namespace)

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

// Outputs of at most 128 positions take the path that puts several images side by side in
// one GEMM (also a single input channel with 8+ outputs, instead of the depthwise loop): a grey
// 8x8 first layer on a batch that does not divide into the images per item, a grouped,
// strided and dilated layer, a 1-D and a 3-D window, each against the float64 reference and
// bit-identical across thread counts.
TEST(NnKernels, ConvOnManySmallImagesMatchesReference) {
  struct Case {
    Dims x, w;
    int64_t group;
    Window win;
  };
  const std::vector<Case> cases = {
      {{37, 1, 8, 8}, {16, 1, 3, 3}, 1, {{3, 3}, {1, 1}, {1, 1}, {1, 1}, {1, 1}}},
      // Stride-1 outputs 4 and 8 wide take im2col rows of a fixed width; several channels and
      // uneven pads check that each image's padded copy keeps its zero border (the buffer is
      // reused for the images of one GEMM).
      {{21, 5, 4, 4}, {6, 5, 3, 3}, 1, {{3, 3}, {1, 1}, {1, 1}, {1, 0}, {1, 2}}},
      {{19, 4, 6, 6}, {8, 2, 3, 2}, 2, {{3, 2}, {1, 1}, {1, 1}, {2, 2}, {0, 1}}},
      // ... also with a row stride of 1 but a vertical stride and a dilation.
      {{11, 3, 9, 8}, {4, 3, 3, 3}, 1, {{3, 3}, {2, 1}, {1, 2}, {1, 2}, {1, 2}}},
      {{9, 4, 9, 7}, {6, 2, 3, 2}, 2, {{3, 2}, {2, 2}, {1, 2}, {1, 0}, {2, 1}}},
      {{6, 3, 40}, {10, 3, 5}, 1, {{5}, {2}, {1}, {2}, {2}}},
      {{4, 2, 4, 5, 3},
       {8, 2, 2, 3, 2},
       1,
       {{2, 3, 2}, {1, 1, 1}, {1, 1, 1}, {0, 1, 1}, {1, 1, 0}}},
  };
  for (const Case& c : cases) {
    const ir::Tensor x = random_floats(c.x, 41);
    const ir::Tensor w = random_floats(c.w, 42);
    const ir::Tensor b = random_floats({c.w[0]}, 43);
    Window win = c.win;
    const Dims out = resolve(Dims(c.x.begin() + 2, c.x.end()), win);
    std::vector<double> mag;
    const auto want = conv_ref(x, w, &b, c.group, win, out, mag);
    const NodeSpec spec{.attrs = [&](ir::Node& nd) {
      window_attrs(win)(nd);
      set_int(nd, "group", c.group);
    }};
    RUN(y, "Conv", {x, w, b}, spec);
    EXPECT_EQ(compare_to_reference(y, want, &mag), "") << ir::dims_to_string(c.x);
    expect_thread_independent("Conv", {x, w, b}, spec);
    // With the weights an initializer (a model's case: packed once), an image's outputs do not
    // depend on the batch it comes in (how many images share a GEMM): the first and the last
    // image run alone give the same bytes as in the batch.
    NodeSpec packed = spec;
    packed.constant_inputs = {1, 2};
    expect_rows_independent("Conv", {x, w, b}, packed);
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

// 2-D windows that lie wholly inside the input (no pads; 2x2 stride 2 on 8x8 planes, 3x3
// stride 1, 3x2 with strides 2 and 3) take a per-plane path when MaxPool's indices are not
// asked for: against the float64 reference in float32 and float16, NaN at a window's later
// taps, MaxPool's values bit-identical to the row path (taken when indices are asked for),
// and bit-identical across thread counts.
TEST(NnKernels, PoolsOfWindowsInsideTheInput) {
  const std::vector<Window> wins = {{{2, 2}, {2, 2}, {1, 1}, {0, 0}, {0, 0}},
                                    {{3, 3}, {1, 1}, {1, 1}, {0, 0}, {0, 0}},
                                    {{3, 2}, {2, 3}, {1, 1}, {0, 0}, {0, 0}}};
  // Width 9 and width 10 (even planes take MaxPool 2x2 stride 2's own path).
  for (const int64_t width : {9, 10}) {
    const ir::Tensor clean = random_floats({5, 7, 8, width}, 71);
    ir::Tensor nan = random_floats({5, 7, 8, width}, 71);
    float* v = nan.mutable_data<float>();
    v[1 * width + 1] = NAN;  // plane 0, row 1, column 1: in output 0's window
    v[3 * 8 * width + 4 * width + 5] = NAN;
    // Plane 1: two NaNs of different payloads in one 2x2 window (the first one wins, with or
    // without indices), and equal maxima -0 and +0 in the next (the first, -0, wins).
    float* p1 = v + 8 * width;
    p1[0] = std::bit_cast<float>(0x7fc00123u);
    p1[width + 1] = NAN;
    std::tie(p1[2], p1[3], p1[width + 2], p1[width + 3]) = std::tuple(-1.0f, -0.0f, 0.0f, -1.0f);
    for (Window win : wins) {
      const Dims out = resolve({8, width}, win);
      const NodeSpec spec{.opset = 12, .attrs = window_attrs(win, false, true)};
      for (DType dt : {DType::kFloat32, DType::kFloat16}) {
        const ir::Tensor x = dt == DType::kFloat32 ? clean : convert(clean, dt);
        for (auto [op, kind] :
             {std::pair{"MaxPool", PoolKind::kMax}, std::pair{"AveragePool", PoolKind::kAverage}}) {
          RUN(y, op, {x}, spec);
          EXPECT_EQ(compare_to_reference(y, pool_ref(x, kind, win, out, false, 2, nullptr)), "")
              << op << " " << dtype_name(dt) << " kernel " << win.kernel[0] << "x" << win.kernel[1];
        }
        // MaxPool with NaN (which the reference does not propagate): the same bytes as the row
        // path, and NaN where a window holds one.
        const ir::Tensor xn = dt == DType::kFloat32 ? nan : convert(nan, dt);
        RUN(y, "MaxPool", {xn}, spec);
        NodeSpec with_indices = spec;
        with_indices.num_outputs = 2;
        auto rows = run_node("MaxPool", {xn}, with_indices);
        ASSERT_TRUE(rows.ok()) << rows.status().to_string();
        ASSERT_EQ((*rows)[0].nbytes(), y.nbytes());
        EXPECT_EQ(std::memcmp((*rows)[0].raw_data(), y.raw_data(), y.nbytes()), 0);
        EXPECT_TRUE(std::isnan(to_doubles(y)[0])) << "kernel " << win.kernel[0];
        if (win.kernel[0] == 2 && win.strides[0] == 2 && dt == DType::kFloat32) {
          const float* o = y.data<float>() + out[0] * out[1];  // plane 1
          EXPECT_EQ(std::bit_cast<uint32_t>(o[0]), 0x7fc00123u) << "width " << width;
          EXPECT_TRUE(o[1] == 0 && std::signbit(o[1])) << "width " << width;
        }
      }
      for (const char* op : {"MaxPool", "AveragePool"}) {
        expect_thread_independent(op, {random_floats({4, 64, 16, 16}, 72)}, spec);
      }
    }
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

}  // namespace
}  // namespace mixq
