// Kernel tests for the math family: inline cases plus seeded random shapes against a float64
// reference, float16/bfloat16 variants, thread-count determinism, and rejects_* cases.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "kernel_test_util.h"
#include "mixq/core/float_bits.h"
#include "tolerances.h"

namespace mixq {
namespace {

using namespace testing::kt;  // NOLINT(google-build-using-namespace)

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// --- Elementwise arithmetic on integers (existing kernels, integer types) -------------------

TEST(MathKernels, IntegerArithmeticWrapsAndTruncates) {
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  const int32_t kMax = std::numeric_limits<int32_t>::max();
  const ir::Tensor a = i32({4}, {kMax, kMin, -7, 7});
  const ir::Tensor b = i32({4}, {1, -1, 2, -2});
  RUN(add, "Add", {a, b});
  EXPECT_EQ(values<int32_t>(add), (std::vector<int32_t>{kMin, kMax, -5, 5}));
  RUN(mul, "Mul", {a, b});
  EXPECT_EQ(values<int32_t>(mul), (std::vector<int32_t>{kMax, kMin, -14, -14}));
  RUN(div, "Div", {a, b});  // INT_MIN / -1 wraps to INT_MIN; -7 / 2 truncates to -3
  EXPECT_EQ(values<int32_t>(div), (std::vector<int32_t>{kMax, kMin, -3, -3}));
  RUN(sub, "Sub", {u8({3}, {0, 5, 255}), u8({1}, {1})});
  EXPECT_EQ(values<uint8_t>(sub), (std::vector<uint8_t>{255, 4, 254}));
  RUN(neg, "Neg", {i8({3}, {-128, 5, 0})});
  EXPECT_EQ(values<int8_t>(neg), (std::vector<int8_t>{-128, -5, 0}));
  RUN(abs, "Abs", {i32({3}, {kMin, -3, 4})});
  EXPECT_EQ(values<int32_t>(abs), (std::vector<int32_t>{kMin, 3, 4}));
  RUN(sign, "Sign", {i64({3}, {-9, 0, 4})});
  EXPECT_EQ(values<int64_t>(sign), (std::vector<int64_t>{-1, 0, 1}));
}

TEST(MathKernels, rejects_integer_division_by_zero) {
  expect_rejected(run_node("Div", {i32({2}, {1, 2}), i32({2}, {1, 0})}), StatusCode::kBadInput,
                  "Div");
}

// Exp, Log, Sqrt, Sigmoid, Tanh and Erf have Eigen packet paths for float32 (the other types
// go through libm): both must match float64 over wide ranges, tails included.
TEST(MathKernels, TranscendentalUnariesMatchFloat64InFloat32AndFloat16) {
  struct Case {
    std::string op;
    float lo, hi;
    double (*ref)(double);
  };
  const std::vector<Case> cases = {
      {"Exp", -80.0f, 80.0f, [](double x) { return std::exp(x); }},
      {"Log", 1e-6f, 1e6f, [](double x) { return std::log(x); }},
      {"Sqrt", 0.0f, 1e4f, [](double x) { return std::sqrt(x); }},
      {"Sigmoid", -30.0f, 30.0f, [](double x) { return 1 / (1 + std::exp(-x)); }},
      {"Tanh", -10.0f, 10.0f, [](double x) { return std::tanh(x); }},
      {"Erf", -5.0f, 5.0f, [](double x) { return std::erf(x); }},
  };
  for (const Case& c : cases) {
    // 1003 elements: not a multiple of any packet size, so the scalar tail runs too.
    for (DType dt : {DType::kFloat32, DType::kFloat16}) {
      // exp overflows float16 above ~11.
      const float hi = dt == DType::kFloat16 && c.op == "Exp" ? 10.0f : c.hi;
      const ir::Tensor x = random_floats({1003}, 7, c.lo, hi);
      const ir::Tensor in = dt == DType::kFloat32 ? x : convert(x, dt);
      RUN(y, c.op, {in});
      std::vector<double> want;
      for (double v : to_doubles(in)) want.push_back(c.ref(v));
      EXPECT_EQ(compare_to_reference(y, want), "") << c.op << " " << dtype_name(dt);
    }
  }
}

// IEEE special values come out exactly as libm gives them on the packet paths too (Eigen's exp
// clamps its argument, which left e^-inf at 3e-39 instead of 0).
TEST(MathKernels, TranscendentalUnariesKeepSpecialValues) {
  const std::vector<float> in = {-kInf, kInf, NAN, 0.0f, -0.0f, -1.0f, -100.0f, 100.0f};
  const std::map<std::string, float (*)(float)> ops = {
      {"Exp", [](float v) { return std::exp(v); }},
      {"Log", [](float v) { return std::log(v); }},
      {"Sqrt", [](float v) { return std::sqrt(v); }},
      {"Tanh", [](float v) { return std::tanh(v); }},
      {"Erf", [](float v) { return std::erf(v); }},
      {"Sigmoid", [](float v) { return v == -kInf ? 0.0f : 1 / (1 + std::exp(-v)); }}};
  // 9 copies, so every value lands in full packets as well as in the scalar tail.
  std::vector<float> x;
  for (int k = 0; k < 9; ++k) x.insert(x.end(), in.begin(), in.end());
  for (const auto& [op, f] : ops) {
    RUN(y, op, {f32({static_cast<int64_t>(x.size())}, x)});
    for (size_t i = 0; i < x.size(); ++i) {
      const float want = f(x[i]), got = y.data<float>()[i];
      if (std::isnan(want) || std::isinf(want) || want == 0.0f || std::fabs(want) == 1.0f) {
        EXPECT_TRUE((std::isnan(want) && std::isnan(got)) || want == got)
            << op << "(" << x[i] << ") = " << got << ", want " << want;
      }
    }
  }
  RUN(masked, "Softmax", {f32({2, 3}, {0.0f, -kInf, 1.0f, -kInf, 2.0f, -kInf})});
  EXPECT_EQ(masked.data<float>()[1], 0.0f);
  EXPECT_EQ(masked.data<float>()[3], 0.0f);
  EXPECT_EQ(masked.data<float>()[4], 1.0f);
}

// Relu keeps NaN (ONNX Runtime gives NaN for Relu(NaN), as the spec's np.maximum does) and
// takes the infinities and signed zeros to max(0, x); float16 as well.
TEST(MathKernels, ReluKeepsNaN) {
  const std::vector<float> in = {NAN, -1.0f, 0.0f, -0.0f, 2.0f, -kInf, kInf, -NAN};
  std::vector<float> x;
  for (int k = 0; k < 9; ++k) x.insert(x.end(), in.begin(), in.end());
  RUN(y, "Relu", {f32({static_cast<int64_t>(x.size())}, x)});
  for (size_t i = 0; i < x.size(); ++i) {
    const float got = y.data<float>()[i];
    if (std::isnan(x[i])) {
      EXPECT_TRUE(std::isnan(got)) << i;
    } else {
      EXPECT_EQ(got, x[i] > 0 ? x[i] : 0.0f) << x[i];
    }
  }
  RUN(h, "Relu", {convert(f32({3}, {NAN, -3.0f, 1.5f}), DType::kFloat16)});
  const std::vector<double> got = to_doubles(h);
  EXPECT_TRUE(std::isnan(got[0]));
  EXPECT_EQ(got[1], 0.0);
  EXPECT_EQ(got[2], 1.5);
}

// --- Parametrized activations ------------------------------------------------------------

// Attributes are float32, so references use their float32 values (double{0.1f}).
struct ActivationCase {
  std::string op;
  int64_t opset;
  std::function<void(ir::Node&)> attrs;
  std::function<double(double)> ref;
};

std::vector<ActivationCase> activation_cases() {
  const double selu_a = 1.67326319217681884765625, selu_g = 1.05070102214813232421875;
  auto softplus = [](double x) { return std::log1p(std::exp(x)); };
  return {
      {"LeakyRelu", 16, float_attr("alpha", 0.1f),
       [](double x) { return x < 0 ? double{0.1f} * x : x; }},
      {"Elu", 6, float_attr("alpha", 0.5f),
       [](double x) { return x < 0 ? 0.5 * (std::exp(x) - 1) : x; }},
      {"Selu", 6, nullptr,
       [=](double x) { return selu_g * (x > 0 ? x : selu_a * (std::exp(x) - 1)); }},
      {"HardSigmoid", 6,
       [](ir::Node& n) {
         set_float(n, "alpha", 0.3f);
         set_float(n, "beta", 0.4f);
       },
       [](double x) { return std::max(0.0, std::min(1.0, double{0.3f} * x + double{0.4f})); }},
      {"HardSwish", 14, nullptr,
       [](double x) { return x * std::max(0.0, std::min(1.0, x / 6 + 0.5)); }},
      {"Celu", 12, float_attr("alpha", 2.0f),
       [](double x) { return std::max(0.0, x) + std::min(0.0, 2 * (std::exp(x / 2) - 1)); }},
      {"ThresholdedRelu", 10, float_attr("alpha", 0.2f),
       [](double x) { return x > double{0.2f} ? x : 0.0; }},
      {"Shrink", 9,
       [](ir::Node& n) {
         set_float(n, "bias", 0.1f);
         set_float(n, "lambd", 0.3f);
       },
       [](double x) {
         const double l = 0.3f, b = 0.1f;  // float attributes
         return x < -l ? x + b : (x > l ? x - b : 0.0);
       }},
      {"Mish", 18, nullptr, [=](double x) { return x * std::tanh(softplus(x)); }},
      {"Gelu", 20, nullptr, [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }},
      {"Gelu", 20, [](ir::Node& n) { set_string(n, "approximate", "tanh"); },
       [](double x) {
         return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
       }},
  };
}

TEST(MathKernels, ActivationsMatchFloat64ReferenceInEveryFloatType) {
  const ir::Tensor x = random_floats({3, 17, 5}, 11, -4.0f, 4.0f);
  for (const auto& c : activation_cases()) {
    for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
      const ir::Tensor in = dt == DType::kFloat32 ? x : convert(x, dt);
      auto out = run_node(c.op, {in}, {.opset = c.opset, .attrs = c.attrs});
      ASSERT_TRUE(out.ok()) << c.op << ": " << out.status().to_string();
      std::vector<double> want;
      for (double v : to_doubles(in)) want.push_back(c.ref(v));
      EXPECT_EQ((*out)[0].dtype(), dt);
      EXPECT_EQ(compare_to_reference((*out)[0], want), "") << c.op << " " << dtype_name(dt);
    }
  }
}

TEST(MathKernels, ActivationDefaultsAndIntegerShrink) {
  RUN(leaky, "LeakyRelu", {f32({2}, {-1.0f, 2.0f})});
  EXPECT_EQ(values<float>(leaky), (std::vector<float>{-0.01f, 2.0f}));
  RUN(hs, "HardSigmoid", {f32({3}, {-10.0f, 0.0f, 1.0f})});
  EXPECT_EQ(values<float>(hs), (std::vector<float>{0.0f, 0.5f, 0.7f}));
  RUN(shrink, "Shrink", {i8({5}, {-5, -1, 0, 1, 5})}, {.attrs = [](ir::Node& n) {
        set_float(n, "lambd", 1.5f);
        set_float(n, "bias", 1.0f);
      }});
  EXPECT_EQ(values<int8_t>(shrink), (std::vector<int8_t>{-4, 0, 0, 0, 4}));
}

TEST(MathKernels, ActivationsPropagateNaN) {
  const ir::Tensor x = f32({5}, {NAN, -1.0f, NAN, 2.0f, NAN});
  for (const auto& c : activation_cases()) {
    // The spec's references for these are np.where on a comparison, which maps NaN to 0.
    if (c.op == "ThresholdedRelu" || c.op == "Shrink") continue;
    RUN(y, c.op, {x}, {.opset = c.opset, .attrs = c.attrs});
    for (int i : {0, 2, 4}) EXPECT_TRUE(std::isnan(y.data<float>()[i])) << c.op << " " << i;
  }
}

TEST(MathKernels, rejects_gelu_with_unknown_approximation) {
  expect_rejected(run_node("Gelu", {f32({1}, {1.0f})},
                           {.attrs = [](ir::Node& n) { set_string(n, "approximate", "erf"); }}),
                  StatusCode::kBadInput, "Gelu");
}

// --- Clip ------------------------------------------------------------------------------------

TEST(MathKernels, ClipBoundsAsAttributesAndInputs) {
  const ir::Tensor x = f32({5}, {-2.0f, -0.25f, 0.0f, 0.75f, kInf});
  RUN(v6, "Clip", {x}, {.opset = 6, .attrs = [](ir::Node& n) {
                          set_float(n, "min", -0.5f);
                          set_float(n, "max", 0.5f);
                        }});
  EXPECT_EQ(values<float>(v6), (std::vector<float>{-0.5f, -0.25f, 0.0f, 0.5f, 0.5f}));
  // Clip-6's default max is FLT_MAX, which inf is clipped to.
  RUN(v6d, "Clip", {x}, {.opset = 6});
  EXPECT_EQ(values<float>(v6d)[4], FLT_MAX);
  // From opset 11 an omitted bound is numeric_limits<T>::max(): inf is clipped to it too.
  RUN(v11, "Clip", {x, f32({}, {-1.0f}), std::nullopt}, {.opset = 11});
  EXPECT_EQ(values<float>(v11), (std::vector<float>{-1.0f, -0.25f, 0.0f, 0.75f, FLT_MAX}));
  // min > max: everything becomes max.
  RUN(inv, "Clip", {x, f32({}, {1.0f}), f32({}, {-1.0f})}, {.opset = 13});
  EXPECT_EQ(values<float>(inv), std::vector<float>(5, -1.0f));
  RUN(nan, "Clip", {f32({1}, {NAN}), f32({}, {0.0f}), f32({}, {1.0f})});
  EXPECT_TRUE(std::isnan(values<float>(nan)[0]));
  RUN(ints, "Clip", {i8({4}, {-100, -3, 3, 100}), std::nullopt, i8({}, {5})}, {.opset = 12});
  EXPECT_EQ(values<int8_t>(ints), (std::vector<int8_t>{-100, -3, 3, 5}));
  RUN(half, "Clip", {convert(x, DType::kFloat16), convert(f32({}, {0.0f}), DType::kFloat16)});
  EXPECT_EQ(to_doubles(half), (std::vector<double>{0, 0, 0, 0.75, 65504}));
  RUN(u, "Clip", {u8({3}, {0, 7, 255}), u8({}, {5})});
  EXPECT_EQ(values<uint8_t>(u), (std::vector<uint8_t>{5, 7, 255}));
}

TEST(MathKernels, rejects_clip_with_non_scalar_bound) {
  expect_rejected(run_node("Clip", {f32({2}, {1, 2}), f32({2}, {0, 1})}), StatusCode::kBadInput,
                  "Clip");
}

// --- PRelu -----------------------------------------------------------------------------------

TEST(MathKernels, PReluBroadcastsSlopeToX) {
  const ir::Tensor x = random_floats({2, 3, 4, 4}, 21);
  const ir::Tensor slope = f32({3, 1, 1}, {0.1f, 0.2f, 0.3f});
  RUN(y, "PRelu", {x, slope});
  std::vector<double> want = to_doubles(x);
  for (size_t i = 0; i < want.size(); ++i) {
    if (want[i] < 0) want[i] *= 0.1 * static_cast<double>(1 + (i / 16) % 3);
  }
  EXPECT_EQ(compare_to_reference(y, want), "");
  // Before opset 7 a 1-D slope of the channel count is per channel (Caffe2).
  RUN(legacy, "PRelu", {x, f32({3}, {0.1f, 0.2f, 0.3f})}, {.opset = 6});
  EXPECT_EQ(bytes(legacy), bytes(y));
  RUN(ints, "PRelu", {i32({4}, {-4, -2, 0, 3}), i32({1}, {3})}, {.opset = 9});
  EXPECT_EQ(values<int32_t>(ints), (std::vector<int32_t>{-12, -6, 0, 3}));
}

TEST(MathKernels, rejects_prelu_slope_that_grows_x) {
  expect_rejected(run_node("PRelu", {f32({3}, {1, 2, 3}), f32({2, 3}, {1, 1, 1, 1, 1, 1})}),
                  StatusCode::kBadInput, "PRelu");
}

// --- Pow -------------------------------------------------------------------------------------

TEST(MathKernels, PowFloatMatchesReferenceWithBroadcasting) {
  const ir::Tensor x = random_floats({4, 1, 6}, 31, 0.1f, 3.0f);
  const ir::Tensor e = random_floats({5, 1}, 32, -2.0f, 2.0f);
  RUN(y, "Pow", {x, e});
  ASSERT_EQ(y.dims(), (Dims{4, 5, 6}));
  const auto xv = to_doubles(x), ev = to_doubles(e);
  std::vector<double> want;
  for (int a = 0; a < 4; ++a)
    for (int b = 0; b < 5; ++b)
      for (int c = 0; c < 6; ++c) want.push_back(std::pow(xv[a * 6 + c], ev[b]));
  EXPECT_EQ(compare_to_reference(y, want), "");
  // The scalar fast paths give pow's results exactly.
  for (float ex : {2.0f, 0.5f}) {
    const ir::Tensor s = f32({5}, {-1.5f, -0.0f, 0.0f, 2.25f, kInf});
    RUN(p, "Pow", {s, f32({}, {ex})});
    for (int i = 0; i < 5; ++i) {
      const float want_v = std::pow(s.data<float>()[i], ex);
      const float got = p.data<float>()[i];
      EXPECT_TRUE((std::isnan(want_v) && std::isnan(got)) || want_v == got) << ex << " " << i;
      EXPECT_EQ(std::signbit(want_v), std::signbit(got)) << ex << " " << i;
    }
  }
}

TEST(MathKernels, PowMixedAndIntegerTypes) {
  RUN(ii, "Pow", {i32({5}, {2, -3, 2, 1, -1}), i32({5}, {10, 3, 31, -4, -3})});
  EXPECT_EQ(values<int32_t>(ii),
            (std::vector<int32_t>{1024, -27, std::numeric_limits<int32_t>::min(), 1, -1}));
  RUN(neg, "Pow", {i64({2}, {2, 5}), i64({2}, {-1, 0})});
  EXPECT_EQ(values<int64_t>(neg), (std::vector<int64_t>{0, 1}));
  RUN(int_float, "Pow", {i32({3}, {2, 3, 9}), f32({3}, {2.0f, 0.5f, 0.5f})});
  EXPECT_EQ(values<int32_t>(int_float), (std::vector<int32_t>{4, 1, 3}));
  RUN(float_int, "Pow", {f32({3}, {2.0f, 0.5f, -3.0f}), i64({3}, {3, -2, 3})});
  EXPECT_EQ(values<float>(float_int), (std::vector<float>{8.0f, 4.0f, -27.0f}));
  RUN(half, "Pow", {convert(f32({2}, {3.0f, 0.5f}), DType::kFloat16), u8({1}, {3})});
  EXPECT_EQ(to_doubles(half), (std::vector<double>{27.0, 0.125}));
  // Opset 1: B placed inside A at `axis` by the legacy broadcast attribute.
  RUN(legacy, "Pow", {f32({2, 3}, {1, 2, 3, 4, 5, 6}), f32({2}, {2, 1})},
      {.opset = 1, .attrs = [](ir::Node& n) {
         set_int(n, "broadcast", 1);
         set_int(n, "axis", 0);
       }});
  EXPECT_EQ(values<float>(legacy), (std::vector<float>{1, 4, 9, 4, 5, 6}));
}

TEST(MathKernels, rejects_integer_zero_to_negative_power) {
  expect_rejected(run_node("Pow", {i32({2}, {0, 2}), i32({1}, {-1})}), StatusCode::kBadInput,
                  "Pow");
}

// --- Mod -------------------------------------------------------------------------------------

TEST(MathKernels, ModSignRules) {
  const ir::Tensor a = i32({6}, {-4, 7, 5, 4, -7, 8});
  const ir::Tensor b = i32({6}, {2, -3, 8, -2, 3, 5});
  RUN(py, "Mod", {a, b});  // sign of the divisor
  EXPECT_EQ(values<int32_t>(py), (std::vector<int32_t>{0, -2, 5, 0, 2, 3}));
  RUN(c, "Mod", {a, b}, {.attrs = int_attr("fmod", 1)});  // sign of the dividend
  EXPECT_EQ(values<int32_t>(c), (std::vector<int32_t>{0, 1, 5, 0, -1, 3}));
  RUN(minv, "Mod", {i32({1}, {std::numeric_limits<int32_t>::min()}), i32({1}, {-1})});
  EXPECT_EQ(values<int32_t>(minv), (std::vector<int32_t>{0}));
  const ir::Tensor x = random_floats({3, 8}, 41, -10.0f, 10.0f);
  const ir::Tensor y = random_floats({8}, 42, 0.5f, 3.0f);
  RUN(f, "Mod", {x, y}, {.attrs = int_attr("fmod", 1)});
  std::vector<double> want;
  const auto xv = to_doubles(x), yv = to_doubles(y);
  for (size_t i = 0; i < xv.size(); ++i) want.push_back(std::fmod(xv[i], yv[i % 8]));
  EXPECT_EQ(compare_to_reference(f, want), "");
}

TEST(MathKernels, rejects_float_mod_without_fmod_and_modulo_by_zero) {
  expect_rejected(run_node("Mod", {f32({1}, {1}), f32({1}, {2})}), StatusCode::kBadInput, "Mod");
  expect_rejected(run_node("Mod", {i64({2}, {1, 2}), i64({2}, {0, 1})}), StatusCode::kBadInput,
                  "Mod");
}

// --- Bit operations ------------------------------------------------------------------------

TEST(MathKernels, BitShiftAndBitwiseOps) {
  auto dir = [](const char* d) { return [d](ir::Node& n) { set_string(n, "direction", d); }; };
  RUN(l, "BitShift", {u8({4}, {16, 4, 1, 1}), u8({4}, {1, 2, 3, 8})}, {.attrs = dir("LEFT")});
  EXPECT_EQ(values<uint8_t>(l), (std::vector<uint8_t>{32, 16, 8, 0}));
  RUN(r, "BitShift",
      {make<uint64_t>(DType::kUint64, {2}, {1ull << 63, 5}),
       make<uint64_t>(DType::kUint64, {1}, {1})},
      {.attrs = dir("RIGHT")});
  EXPECT_EQ(values<uint64_t>(r), (std::vector<uint64_t>{1ull << 62, 2}));
  const ir::Tensor a = i32({2, 2}, {0b1100, -1, 7, 0});
  const ir::Tensor b = i32({2}, {0b1010, 3});
  RUN(band, "BitwiseAnd", {a, b}, {.opset = 18});
  EXPECT_EQ(values<int32_t>(band), (std::vector<int32_t>{0b1000, 3, 2, 0}));
  RUN(bor, "BitwiseOr", {a, b}, {.opset = 18});
  EXPECT_EQ(values<int32_t>(bor), (std::vector<int32_t>{0b1110, -1, 15, 3}));
  RUN(bxor, "BitwiseXor", {a, b}, {.opset = 18});
  EXPECT_EQ(values<int32_t>(bxor), (std::vector<int32_t>{0b0110, -4, 13, 3}));
  RUN(bnot, "BitwiseNot", {u8({2}, {0, 0xf0})}, {.opset = 18});
  EXPECT_EQ(values<uint8_t>(bnot), (std::vector<uint8_t>{0xff, 0x0f}));
}

TEST(MathKernels, rejects_bitshift_without_direction) {
  expect_rejected(run_node("BitShift", {u8({1}, {1}), u8({1}, {1})}), StatusCode::kBadInput,
                  "BitShift");
}

// --- Comparisons and logic ---------------------------------------------------------------

TEST(MathKernels, ComparisonsMatchReferenceIncludingNaN) {
  const ir::Tensor a = f32({2, 4}, {1, 2, NAN, 4, -1, 0, 3, 3});
  const ir::Tensor b = f32({4}, {1, 3, NAN, 2});
  const std::map<std::string, std::function<bool(float, float)>> ops = {
      {"Equal", [](float x, float y) { return x == y; }},
      {"Less", [](float x, float y) { return x < y; }},
      {"LessOrEqual", [](float x, float y) { return x <= y; }},
      {"Greater", [](float x, float y) { return x > y; }},
      {"GreaterOrEqual", [](float x, float y) { return x >= y; }}};
  for (const auto& [op, f] : ops) {
    for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kFloat64}) {
      const ir::Tensor ca = dt == DType::kFloat32 ? a : convert(a, dt);
      const ir::Tensor cb = dt == DType::kFloat32 ? b : convert(b, dt);
      RUN(y, op, {ca, cb});
      ASSERT_EQ(y.dtype(), DType::kBool);
      for (int i = 0; i < 8; ++i) {
        EXPECT_EQ(y.data<bool>()[i], f(a.data<float>()[i], b.data<float>()[i % 4])) << op << i;
      }
    }
  }
  RUN(ints, "Less", {i64({3}, {-5, 0, 5}), i64({}, {0})});
  EXPECT_EQ(values<uint8_t>(ints), (std::vector<uint8_t>{1, 0, 0}));
  RUN(bools, "Equal", {boolean({2}, {1, 0}), boolean({2}, {1, 1})});
  EXPECT_EQ(values<uint8_t>(bools), (std::vector<uint8_t>{1, 0}));
  RUN(strs, "Equal",
      {ir::Tensor::from_strings({3}, {"a", "b", "c"}).value(),
       ir::Tensor::from_strings({1}, {"b"}).value()},
      {.opset = 19});
  EXPECT_EQ(values<uint8_t>(strs), (std::vector<uint8_t>{0, 1, 0}));
  // Opset 1 legacy broadcast: B [2] at axis 0 of A [2, 2].
  RUN(legacy, "Greater", {f32({2, 2}, {1, 5, 1, 5}), f32({2}, {2, 0})},
      {.opset = 1, .attrs = [](ir::Node& n) {
         set_int(n, "broadcast", 1);
         set_int(n, "axis", 0);
       }});
  EXPECT_EQ(values<uint8_t>(legacy), (std::vector<uint8_t>{0, 1, 1, 1}));
}

TEST(MathKernels, rejects_legacy_broadcast_that_grows_a) {
  expect_rejected(run_node("Add", {f32({1}, {1}), f32({3}, {1, 2, 3})},
                           {.opset = 6, .attrs = int_attr("broadcast", 1)}),
                  StatusCode::kBadInput, "Add");
}

TEST(MathKernels, LogicOpsBroadcast) {
  const ir::Tensor a = boolean({2, 2}, {0, 0, 1, 1});
  const ir::Tensor b = boolean({2}, {0, 1});
  RUN(land, "And", {a, b});
  EXPECT_EQ(values<uint8_t>(land), (std::vector<uint8_t>{0, 0, 0, 1}));
  RUN(lor, "Or", {a, b});
  EXPECT_EQ(values<uint8_t>(lor), (std::vector<uint8_t>{0, 1, 1, 1}));
  RUN(lxor, "Xor", {a, b});
  EXPECT_EQ(values<uint8_t>(lxor), (std::vector<uint8_t>{0, 1, 1, 0}));
  RUN(lnot, "Not", {b});
  EXPECT_EQ(values<uint8_t>(lnot), (std::vector<uint8_t>{1, 0}));
}

TEST(MathKernels, IsNaNAndIsInf) {
  const ir::Tensor x = f32({5}, {1.0f, NAN, kInf, -kInf, 0.0f});
  for (DType dt : {DType::kFloat32, DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    const ir::Tensor in = dt == DType::kFloat32 ? x : convert(x, dt);
    RUN(nan, "IsNaN", {in}, {.opset = 20});
    EXPECT_EQ(values<uint8_t>(nan), (std::vector<uint8_t>{0, 1, 0, 0, 0})) << dtype_name(dt);
    RUN(inf, "IsInf", {in}, {.opset = 20});
    EXPECT_EQ(values<uint8_t>(inf), (std::vector<uint8_t>{0, 0, 1, 1, 0})) << dtype_name(dt);
  }
  RUN(pos, "IsInf", {x}, {.attrs = int_attr("detect_negative", 0)});
  EXPECT_EQ(values<uint8_t>(pos), (std::vector<uint8_t>{0, 0, 1, 0, 0}));
  RUN(neg, "IsInf", {x}, {.attrs = int_attr("detect_positive", 0)});
  EXPECT_EQ(values<uint8_t>(neg), (std::vector<uint8_t>{0, 0, 0, 1, 0}));
  // float8e5m2: 0x7c is +inf, 0x7e NaN, 0x3c 1.0.
  RUN(fp8, "IsInf", {make<uint8_t>(DType::kFloat8E5M2, {3}, {0x7c, 0x7e, 0x3c})}, {.opset = 20});
  EXPECT_EQ(values<uint8_t>(fp8), (std::vector<uint8_t>{1, 0, 0}));
}

TEST(MathKernels, WhereBroadcastsAllThreeInputs) {
  const ir::Tensor cond = boolean({2, 1}, {1, 0});
  const ir::Tensor x = f32({3}, {1, 2, 3});
  const ir::Tensor y = f32({2, 3}, {-1, -2, -3, -4, -5, -6});
  RUN(w, "Where", {cond, x, y});
  EXPECT_EQ(values<float>(w), (std::vector<float>{1, 2, 3, -4, -5, -6}));
  RUN(wi, "Where", {boolean({3}, {0, 1, 0}), i64({}, {7}), i64({3}, {1, 2, 3})});
  EXPECT_EQ(values<int64_t>(wi), (std::vector<int64_t>{1, 7, 3}));
  RUN(ws, "Where",
      {boolean({2}, {1, 0}), ir::Tensor::from_strings({2}, {"a", "b"}).value(),
       ir::Tensor::from_strings({1}, {"z"}).value()});
  EXPECT_EQ(ws.strings(), (std::vector<std::string>{"a", "z"}));
  RUN(wh, "Where", {cond, convert(x, DType::kFloat16), convert(y, DType::kFloat16)});
  EXPECT_EQ(to_doubles(wh), (std::vector<double>{1, 2, 3, -4, -5, -6}));
}

// --- Variadic ------------------------------------------------------------------------------

TEST(MathKernels, VariadicOpsBroadcastManyInputs) {
  const ir::Tensor a = random_floats({2, 3, 4}, 51);
  const ir::Tensor b = random_floats({3, 1}, 52);
  const ir::Tensor c = random_floats({4}, 53);
  const auto av = to_doubles(a), bv = to_doubles(b), cv = to_doubles(c);
  const std::map<std::string, std::function<double(double, double, double)>> ops = {
      {"Min",
       [](double x, double y, double z) {
         return std::min({x, y, z});
       }},
      {"Max",
       [](double x, double y, double z) {
         return std::max({x, y, z});
       }},
      {"Sum", [](double x, double y, double z) { return x + y + z; }},
      {"Mean", [](double x, double y, double z) { return (x + y + z) / 3; }}};
  for (const auto& [op, f] : ops) {
    for (DType dt : {DType::kFloat32, DType::kFloat16}) {
      auto cv_ = [&](const ir::Tensor& t) { return dt == DType::kFloat32 ? t : convert(t, dt); };
      RUN(y, op, {cv_(a), cv_(b), cv_(c)});
      ASSERT_EQ(y.dims(), (Dims{2, 3, 4}));
      std::vector<double> want;
      const auto a2 = to_doubles(cv_(a)), b2 = to_doubles(cv_(b)), c2 = to_doubles(cv_(c));
      for (int i = 0; i < 24; ++i) want.push_back(f(a2[i], b2[(i / 4) % 3], c2[i % 4]));
      EXPECT_EQ(compare_to_reference(y, want), "") << op << " " << dtype_name(dt);
    }
  }
  RUN(one, "Sum", {a});
  EXPECT_EQ(bytes(one), bytes(a));
  RUN(nan, "Max", {f32({3}, {NAN, 1, 2}), f32({3}, {0, NAN, 1})});
  EXPECT_TRUE(std::isnan(nan.data<float>()[0]) && std::isnan(nan.data<float>()[1]));
  EXPECT_EQ(nan.data<float>()[2], 2.0f);
  RUN(ints, "Min", {i32({3}, {5, -2, 9}), i32({1}, {3})}, {.opset = 12});
  EXPECT_EQ(values<int32_t>(ints), (std::vector<int32_t>{3, -2, 3}));
}

TEST(MathKernels, rejects_variadic_shape_mismatch_before_opset_8) {
  expect_rejected(run_node("Max", {f32({2}, {1, 2}), f32({1}, {1})}, {.opset = 6}),
                  StatusCode::kBadInput, "Max");
}

}  // namespace
}  // namespace mixq
