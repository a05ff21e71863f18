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
#include "mixq/core/float_bits.h"
#include "tolerances.h"

namespace mixq {
namespace {

using Dims = std::vector<int64_t>;
using testing::compare_to_reference;
using testing::NodeSpec;
using testing::random_floats;
using testing::run_node;
using testing::set_float;
using testing::set_int;
using testing::set_string;
using testing::to_doubles;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

template <typename T>
ir::Tensor make(DType dtype, const Dims& dims, const std::vector<T>& v) {
  ir::Tensor t = ir::Tensor::zeros(dtype, dims).value();
  std::copy(v.begin(), v.end(), t.mutable_data<T>());
  return t;
}
ir::Tensor f32(const Dims& d, const std::vector<float>& v) { return ir::Tensor::from_floats(d, v); }
ir::Tensor i32(const Dims& d, const std::vector<int32_t>& v) { return make(DType::kInt32, d, v); }
ir::Tensor i64(const Dims& d, const std::vector<int64_t>& v) {
  return ir::Tensor::from_int64s(d, v);
}
ir::Tensor u8(const Dims& d, const std::vector<uint8_t>& v) { return make(DType::kUint8, d, v); }
ir::Tensor i8(const Dims& d, const std::vector<int8_t>& v) { return make(DType::kInt8, d, v); }
ir::Tensor boolean(const Dims& d, const std::vector<uint8_t>& v) {
  return make(DType::kBool, d, v);
}

// float32 -> float16 / bfloat16 / float64 with the same values (rounded for the 16-bit types).
ir::Tensor convert(const ir::Tensor& t, DType to) {
  ir::Tensor out = ir::Tensor::zeros(to, t.dims()).value();
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    if (to == DType::kFloat16) out.mutable_data<uint16_t>()[i] = float_to_float16(p[i]);
    if (to == DType::kBFloat16) out.mutable_data<uint16_t>()[i] = float_to_bfloat16(p[i]);
    if (to == DType::kFloat64) out.mutable_data<double>()[i] = p[i];
  }
  return out;
}

template <typename T>
std::vector<T> values(const ir::Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

// Runs `op` and binds its first output to `var` (asserting success).
#define RUN(var, ...)                                                  \
  auto var##_result = run_node(__VA_ARGS__);                           \
  ASSERT_TRUE(var##_result.ok()) << var##_result.status().to_string(); \
  const ir::Tensor& var = (*var##_result)[0]

// The run failed with `code` and a message naming the node ("<Op>_0" in run_node graphs).
void expect_rejected(const Expected<std::vector<ir::Tensor>>& r, StatusCode code,
                     const std::string& op) {
  ASSERT_FALSE(r.ok()) << op << " unexpectedly succeeded";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_NE(r.status().message().find(op + "_0"), std::string::npos) << r.status().to_string();
}

std::function<void(ir::Node&)> float_attr(std::string name, float v) {
  return [=](ir::Node& n) { set_float(n, name, v); };
}
std::function<void(ir::Node&)> int_attr(std::string name, int64_t v) {
  return [=](ir::Node& n) { set_int(n, name, v); };
}

// Output bytes, for bit-identity across thread counts.
std::string bytes(const ir::Tensor& t) {
  return std::string(reinterpret_cast<const char*>(t.raw_data()), t.nbytes());
}

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

// --- Softmax family ------------------------------------------------------------------------

// Reference over [outer, len, inner].
std::vector<double> softmax_ref(const std::vector<double>& x, int64_t outer, int64_t len,
                                int64_t inner, const std::string& op) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t j) { return static_cast<size_t>((o * len + j) * inner + i); };
      double mx = -INFINITY, sum = 0;
      int64_t best = 0;
      for (int64_t j = 0; j < len; ++j) {
        if (x[at(j)] > mx) {
          mx = x[at(j)];
          best = j;
        }
      }
      for (int64_t j = 0; j < len; ++j) sum += std::exp(x[at(j)] - mx);
      for (int64_t j = 0; j < len; ++j) {
        if (op == "Softmax") y[at(j)] = std::exp(x[at(j)] - mx) / sum;
        if (op == "LogSoftmax") y[at(j)] = x[at(j)] - mx - std::log(sum);
        if (op == "Hardmax") y[at(j)] = j == best ? 1 : 0;
      }
    }
  }
  return y;
}

TEST(MathKernels, SoftmaxFamilyAxisRulesPerOpset) {
  const ir::Tensor x = random_floats({3, 4, 5}, 61, -5.0f, 5.0f);
  const auto xv = to_doubles(x);
  for (const std::string op : {"Softmax", "LogSoftmax", "Hardmax"}) {
    // Opset 11, axis 1: coerced to [3, 20].
    RUN(v11, op, {x}, {.opset = 11});
    EXPECT_EQ(compare_to_reference(v11, softmax_ref(xv, 3, 20, 1, op)), "") << op;
    // Opset 13, axis 1: only the middle dim.
    RUN(v13, op, {x}, {.opset = 13, .attrs = int_attr("axis", 1)});
    EXPECT_EQ(compare_to_reference(v13, softmax_ref(xv, 3, 4, 5, op)), "") << op;
    RUN(last, op, {x}, {.opset = 13});
    EXPECT_EQ(compare_to_reference(last, softmax_ref(xv, 12, 5, 1, op)), "") << op;
    RUN(first, op, {x}, {.opset = 13, .attrs = int_attr("axis", -3)});
    EXPECT_EQ(compare_to_reference(first, softmax_ref(xv, 1, 3, 20, op)), "") << op;
    const ir::Tensor xh = convert(x, DType::kFloat16);
    RUN(half, op, {xh}, {.opset = 13});
    EXPECT_EQ(compare_to_reference(half, softmax_ref(to_doubles(xh), 12, 5, 1, op)), "") << op;
  }
  // Large inputs: the max is subtracted first; Hardmax takes the first of equal maxima.
  RUN(big, "LogSoftmax", {f32({3}, {10000.0f, 10001.0f, 10002.0f})});
  EXPECT_EQ(compare_to_reference(big, softmax_ref({10000, 10001, 10002}, 1, 3, 1, "LogSoftmax")),
            "");
  RUN(tie, "Hardmax", {f32({4}, {1, 3, 3, 0})});
  EXPECT_EQ(values<float>(tie), (std::vector<float>{0, 1, 0, 0}));
}

TEST(MathKernels, SoftmaxIsBitIdenticalAcrossThreadCounts) {
  const ir::Tensor x = random_floats({64, 300, 7}, 62, -3.0f, 3.0f);
  for (int64_t axis : {1, 2}) {
    std::string first;
    for (int threads : {1, 2, 5}) {
      RUN(y, "Softmax", {x}, {.opset = 13, .attrs = int_attr("axis", axis), .threads = threads});
      if (first.empty()) {
        first = bytes(y);
      } else {
        EXPECT_TRUE(bytes(y) == first) << "axis " << axis << " threads " << threads;
      }
    }
  }
}

// Every parallel math kernel gives the same bits for any thread count (chunks depend on sizes
// only). Inputs are large enough to split into many chunks.
TEST(MathKernels, ParallelKernelsAreBitIdenticalAcrossThreadCounts) {
  const ir::Tensor x = random_floats({8, 64, 300}, 63, -3.0f, 3.0f);
  const ir::Tensor z = random_floats({64, 1}, 64, 0.5f, 2.0f);
  const ir::Tensor cond = run_node("Greater", {x, f32({}, {0.0f})}).value()[0];
  struct Case {
    std::string op;
    std::vector<std::optional<ir::Tensor>> in;
    std::function<void(ir::Node&)> attrs;
  };
  const std::vector<Case> cases = {
      {"Add", {x, z}, nullptr},
      {"Pow", {x, z}, nullptr},
      {"Gelu", {x}, nullptr},
      {"Sigmoid", {x}, nullptr},
      {"PRelu", {x, z}, nullptr},
      {"Where", {cond, x, z}, nullptr},
      {"Mean", {x, z, x}, nullptr},
      {"CumSum", {x, i64({}, {1})}, nullptr},
      {"LpNormalization", {x}, int_attr("axis", 1)},
      {"LogSoftmax", {x}, int_attr("axis", 1)},
      {"Gemm", {random_floats({300, 200}, 65), random_floats({200, 250}, 66)}, nullptr},
      {"Einsum",
       {x, random_floats({8, 300, 40}, 67)},
       [](ir::Node& n) { set_string(n, "equation", "bij,bjk->bik"); }},
  };
  for (const Case& c : cases) {
    std::string first;
    for (int threads : {1, 4}) {
      RUN(y, c.op, c.in, {.attrs = c.attrs, .threads = threads});
      if (threads == 1) {
        first = bytes(y);
      } else {
        EXPECT_TRUE(bytes(y) == first) << c.op;
      }
    }
  }
}

// --- CumSum, LpNormalization -------------------------------------------------------------

TEST(MathKernels, CumSumSpecExamples) {
  const ir::Tensor x = f32({5}, {1, 2, 3, 4, 5});
  const ir::Tensor axis = i32({}, {0});
  auto attrs = [](int64_t exclusive, int64_t reverse) {
    return [=](ir::Node& n) {
      set_int(n, "exclusive", exclusive);
      set_int(n, "reverse", reverse);
    };
  };
  RUN(plain, "CumSum", {x, axis});
  EXPECT_EQ(values<float>(plain), (std::vector<float>{1, 3, 6, 10, 15}));
  RUN(excl, "CumSum", {x, axis}, {.attrs = attrs(1, 0)});
  EXPECT_EQ(values<float>(excl), (std::vector<float>{0, 1, 3, 6, 10}));
  RUN(rev, "CumSum", {x, axis}, {.attrs = attrs(0, 1)});
  EXPECT_EQ(values<float>(rev), (std::vector<float>{15, 14, 12, 9, 5}));
  RUN(both, "CumSum", {x, axis}, {.attrs = attrs(1, 1)});
  EXPECT_EQ(values<float>(both), (std::vector<float>{14, 12, 9, 5, 0}));
  RUN(rows, "CumSum", {i32({2, 3}, {1, 2, 3, 4, 5, 6}), i64({}, {-1})});
  EXPECT_EQ(values<int32_t>(rows), (std::vector<int32_t>{1, 3, 6, 4, 9, 15}));
  RUN(cols, "CumSum", {i64({2, 3}, {1, 2, 3, 4, 5, 6}), i32({1}, {0})});
  EXPECT_EQ(values<int64_t>(cols), (std::vector<int64_t>{1, 2, 3, 5, 7, 9}));
}

TEST(MathKernels, CumSumMatchesReferenceOnEveryAxis) {
  const ir::Tensor x = random_floats({4, 50, 30}, 71);
  const auto xv = to_doubles(x);
  const Dims d{4, 50, 30};
  for (int64_t axis = 0; axis < 3; ++axis) {
    for (DType dt : {DType::kFloat32, DType::kFloat16}) {
      const ir::Tensor in = dt == DType::kFloat32 ? x : convert(x, dt);
      RUN(y, "CumSum", {in, i64({}, {axis})}, {.attrs = int_attr("reverse", 1)});
      int64_t outer = 1, inner = 1;
      for (int64_t k = 0; k < axis; ++k) outer *= d[k];
      for (int64_t k = axis + 1; k < 3; ++k) inner *= d[k];
      const auto iv = to_doubles(in);
      std::vector<double> want(iv.size()), mag(iv.size());
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          double s = 0, m = 0;
          for (int64_t j = d[axis] - 1; j >= 0; --j) {
            const auto at = static_cast<size_t>((o * d[axis] + j) * inner + i);
            s += iv[at];
            m += std::fabs(iv[at]);
            want[at] = s;
            mag[at] = m;
          }
        }
      }
      EXPECT_EQ(compare_to_reference(y, want, &mag), "") << axis << " " << dtype_name(dt);
    }
  }
}

TEST(MathKernels, LpNormalizationAlongAxis) {
  const ir::Tensor x = f32({2, 3}, {3, 0, -4, 0, 0, 0});
  RUN(l2, "LpNormalization", {x});
  EXPECT_EQ(compare_to_reference(l2, {0.6, 0, -0.8, 0, 0, 0}), "");
  RUN(l1, "LpNormalization", {x}, {.attrs = int_attr("p", 1)});
  EXPECT_EQ(compare_to_reference(l1, {3.0 / 7, 0, -4.0 / 7, 0, 0, 0}), "");
  RUN(a0, "LpNormalization", {x}, {.attrs = int_attr("axis", 0)});
  EXPECT_EQ(compare_to_reference(a0, {1, 0, -1, 0, 0, 0}), "");
  // Values near float32's limits do not overflow the norm.
  RUN(huge, "LpNormalization", {f32({2}, {1.8e38f, 2.4e38f})});
  EXPECT_EQ(compare_to_reference(huge, {0.6, 0.8}), "");
}

TEST(MathKernels, rejects_lp_normalization_with_p_3) {
  expect_rejected(run_node("LpNormalization", {f32({2}, {1, 2})}, {.attrs = int_attr("p", 3)}),
                  StatusCode::kBadInput, "LpNormalization");
}

// --- Gemm --------------------------------------------------------------------------------

TEST(MathKernels, GemmAttributesAndBiasShapes) {
  const int64_t m = 37, n = 29, k = 41;
  const ir::Tensor a = random_floats({k, m}, 81);  // transA
  const ir::Tensor b = random_floats({n, k}, 82);  // transB
  const auto av = to_doubles(a), bv = to_doubles(b);
  const std::vector<Dims> c_shapes = {{m, n}, {n}, {m, 1}, {}, {1, n}};
  for (const Dims& cd : c_shapes) {
    const ir::Tensor c = random_floats(cd, 83);
    const auto cv = to_doubles(c);
    RUN(y, "Gemm", {a, b, c}, {.opset = 13, .attrs = [](ir::Node& nd) {
                                 set_int(nd, "transA", 1);
                                 set_int(nd, "transB", 1);
                                 set_float(nd, "alpha", 0.5f);
                                 set_float(nd, "beta", -2.0f);
                               }});
    std::vector<double> want, mag;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, sm = 0;
        for (int64_t p = 0; p < k; ++p) {
          s += av[p * m + i] * bv[j * k + p];
          sm += std::fabs(av[p * m + i] * bv[j * k + p]);
        }
        const int64_t ci = (cd.size() == 2 ? (cd[0] == 1 ? 0 : i) * cd[1] : 0) +
                           (cd.empty() || cd.back() == 1 ? 0 : j);
        const double cval = cv[static_cast<size_t>(ci)];
        want.push_back(0.5 * s - 2.0 * cval);
        mag.push_back(0.5 * sm + 2.0 * std::fabs(cval));
      }
    }
    EXPECT_EQ(compare_to_reference(y, want, &mag), "") << ir::dims_to_string(cd);
  }
}

TEST(MathKernels, GemmOptionalCIntegerAndHalfTypes) {
  const ir::Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  const ir::Tensor b = f32({3, 2}, {1, 0, 0, 1, 1, 1});
  RUN(noc, "Gemm", {a, b}, {.opset = 11});
  EXPECT_EQ(values<float>(noc), (std::vector<float>{4, 5, 10, 11}));
  RUN(half, "Gemm",
      {convert(a, DType::kFloat16), convert(b, DType::kFloat16),
       convert(f32({1}, {0.5f}), DType::kFloat16)});
  EXPECT_EQ(to_doubles(half), (std::vector<double>{4.5, 5.5, 10.5, 11.5}));
  RUN(ints, "Gemm",
      {i32({2, 3}, {1, 2, 3, 4, 5, 6}), i32({3, 2}, {1, 0, 0, 1, 1, 1}), i32({2}, {10, 20})},
      {.attrs = float_attr("alpha", 2.0f)});
  EXPECT_EQ(values<int32_t>(ints), (std::vector<int32_t>{18, 30, 30, 42}));
  // Opset 6 with broadcast = 1 takes a vector C.
  RUN(v6, "Gemm", {a, b, f32({2}, {1, 2})}, {.opset = 6, .attrs = int_attr("broadcast", 1)});
  EXPECT_EQ(values<float>(v6), (std::vector<float>{5, 7, 11, 13}));
}

TEST(MathKernels, rejects_gemm_vector_c_without_broadcast_before_opset_7) {
  expect_rejected(
      run_node("Gemm", {f32({1, 1}, {1}), f32({1, 2}, {1, 2}), f32({2}, {1, 2})}, {.opset = 6}),
      StatusCode::kBadInput, "Gemm");
}

// --- Einsum ------------------------------------------------------------------------------

// A naive evaluation of an explicit letters-only equation ("ij,jk->ik") over every label
// assignment.
std::vector<double> einsum_ref(const std::string& eq, const std::vector<ir::Tensor>& ins) {
  const size_t arrow = eq.find("->");
  std::vector<std::string> terms;
  for (size_t s = 0, c;; s = c + 1) {
    c = eq.find(',', s);
    terms.push_back(eq.substr(s, std::min(c, arrow) - s));
    if (c > arrow) break;
  }
  const std::string out = eq.substr(arrow + 2);
  std::map<char, int64_t> size;
  for (size_t i = 0; i < terms.size(); ++i)
    for (size_t p = 0; p < terms[i].size(); ++p)
      size[terms[i][p]] = std::max(size[terms[i][p]], ins[i].dims()[p]);
  std::vector<std::vector<double>> v;
  for (const auto& t : ins) v.push_back(to_doubles(t));
  int64_t out_n = 1;
  for (char c : out) out_n *= size[c];
  std::vector<double> y(static_cast<size_t>(out_n), 0.0);
  std::vector<char> labels;
  int64_t total = 1;
  for (auto [c, s] : size) {
    labels.push_back(c);
    total *= s;
  }
  std::map<char, int64_t> idx;
  for (int64_t combo = 0; combo < total; ++combo) {
    for (int64_t r = combo, k = static_cast<int64_t>(labels.size()) - 1; k >= 0; --k) {
      idx[labels[k]] = r % size[labels[k]];
      r /= size[labels[k]];
    }
    double prod = 1;
    for (size_t i = 0; i < terms.size(); ++i) {
      int64_t off = 0;
      for (size_t p = 0; p < terms[i].size(); ++p) {
        const int64_t d = ins[i].dims()[p];
        off = off * d + (d == 1 ? 0 : idx[terms[i][p]]);  // size-1 dims broadcast
      }
      prod *= v[i][static_cast<size_t>(off)];
    }
    int64_t o = 0;
    for (char c : out) o = o * size[c] + idx[c];
    y[static_cast<size_t>(o)] += prod;
  }
  return y;
}

TEST(MathKernels, EinsumMatchesNaiveReference) {
  struct Case {
    std::string eq, ref_eq;  // ref_eq: the explicit letters-only form for the reference
    std::vector<Dims> shapes;
  };
  const std::vector<Case> cases = {
      {"ij,jk->ik", "ij,jk->ik", {{5, 7}, {7, 3}}},
      {"ij,kj->ik", "ij,kj->ik", {{5, 7}, {4, 7}}},
      {"ji,jk", "ji,jk->ik", {{7, 5}, {7, 3}}},  // implicit output: ik
      {"bhqd,bhkd->bhqk", "bhqd,bhkd->bhqk", {{2, 3, 5, 8}, {2, 3, 6, 8}}},
      {"bqd,bkd->bkq", "bqd,bkd->bkq", {{2, 5, 8}, {2, 6, 8}}},
      {"ii->i", "ii->i", {{4, 4}}},
      {"ii", "ii->", {{4, 4}}},
      {"bii->bi", "bii->bi", {{3, 4, 4}}},
      {"ij->ji", "ij->ji", {{3, 5}}},
      {"ij->", "ij->", {{3, 5}}},
      {"i,i", "i,i->", {{6}, {6}}},
      {"i,j->ij", "i,j->ij", {{3}, {4}}},
      {"ij,jk,kl->il", "ij,jk,kl->il", {{3, 4}, {4, 5}, {5, 2}}},
      {"ijk,ikl->jl", "ijk,ikl->jl", {{2, 3, 4}, {2, 4, 5}}},
      {"ij,ij->ij", "ij,ij->ij", {{1, 3}, {4, 3}}},  // size-1 broadcast
      {"...ij,...jk->...ik", "aij,ajk->aik", {{2, 3, 4}, {1, 4, 5}}},
      {"...ii->...i", "aii->ai", {{3, 4, 4}}},
      {"i...,i...", "ia,ia->a", {{3, 2}, {3, 2}}},  // implicit: the ellipsis dims stay
      {"ab,bc->", "ab,bc->", {{3, 4}, {4, 2}}},
  };
  uint32_t seed = 90;
  for (const Case& c : cases) {
    std::vector<std::optional<ir::Tensor>> ins;
    std::vector<ir::Tensor> plain;
    for (const Dims& d : c.shapes) {
      plain.push_back(random_floats(d, seed++));
      ins.push_back(plain.back());
    }
    auto out =
        run_node("Einsum", ins, {.attrs = [&](ir::Node& n) { set_string(n, "equation", c.eq); }});
    ASSERT_TRUE(out.ok()) << c.eq << ": " << out.status().to_string();
    const std::vector<double> want = einsum_ref(c.ref_eq, plain);
    std::vector<double> mag(want.size(), 10.0);  // sums of at most ~10 unit-sized terms
    EXPECT_EQ(compare_to_reference((*out)[0], want, &mag), "") << c.eq;
  }
}

TEST(MathKernels, EinsumIntegerHalfAndThreads) {
  auto eq = [](const char* e) { return [e](ir::Node& n) { set_string(n, "equation", e); }; };
  RUN(ints, "Einsum", {i32({2, 2}, {1, 2, 3, 4}), i32({2, 2}, {5, 6, 7, 8})},
      {.attrs = eq("ij,jk->ik")});
  EXPECT_EQ(values<int32_t>(ints), (std::vector<int32_t>{19, 22, 43, 50}));
  RUN(small, "Einsum", {i8({3}, {100, 100, 100}), i8({3}, {2, 1, 1})}, {.attrs = eq("i,i")});
  EXPECT_EQ(values<int8_t>(small), (std::vector<int8_t>{static_cast<int8_t>(400 - 256)}));
  RUN(half, "Einsum", {convert(f32({2, 2}, {1, 2, 3, 4}), DType::kFloat16)},
      {.attrs = eq("ij->j")});
  EXPECT_EQ(to_doubles(half), (std::vector<double>{4, 6}));
  const ir::Tensor q = random_floats({4, 8, 33, 16}, 97), k = random_floats({4, 8, 40, 16}, 98);
  std::string first;
  for (int threads : {1, 3}) {
    RUN(y, "Einsum", {q, k}, {.attrs = eq("bhqd,bhkd->bhqk"), .threads = threads});
    if (first.empty()) first = bytes(y);
    EXPECT_TRUE(bytes(y) == first);
  }
}

TEST(MathKernels, rejects_einsum_with_wrong_term_count) {
  expect_rejected(run_node("Einsum", {f32({2}, {1, 2})},
                           {.attrs = [](ir::Node& n) { set_string(n, "equation", "i,i->i"); }}),
                  StatusCode::kBadInput, "Einsum");
}

// --- Det, Dropout -----------------------------------------------------------------------

double det_ref(std::vector<double> a, int64_t n) {
  double d = 1;
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r)
      if (std::fabs(a[r * n + c]) > std::fabs(a[p * n + c])) p = r;
    if (a[p * n + c] == 0) return 0;
    if (p != c) {
      for (int64_t k = 0; k < n; ++k) std::swap(a[p * n + k], a[c * n + k]);
      d = -d;
    }
    d *= a[c * n + c];
    for (int64_t r = c + 1; r < n; ++r) {
      const double f = a[r * n + c] / a[c * n + c];
      for (int64_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
    }
  }
  return d;
}

TEST(MathKernels, DetOfBatchedMatrices) {
  RUN(two, "Det", {f32({2, 2}, {1, 2, 3, 4})});
  EXPECT_EQ(two.dims(), Dims{});
  EXPECT_EQ(compare_to_reference(two, {-2.0}), "");
  const ir::Tensor x = random_floats({2, 3, 5, 5}, 99);
  RUN(y, "Det", {x});
  ASSERT_EQ(y.dims(), (Dims{2, 3}));
  const auto xv = to_doubles(x);
  std::vector<double> want;
  for (int b = 0; b < 6; ++b) {
    want.push_back(det_ref(std::vector<double>(xv.begin() + b * 25, xv.begin() + b * 25 + 25), 5));
  }
  EXPECT_EQ(compare_to_reference(y, want), "");
  RUN(singular, "Det", {f32({2, 2}, {1, 2, 2, 4})});
  EXPECT_EQ(values<float>(singular)[0], 0.0f);
}

TEST(MathKernels, DropoutIsIdentityWithAllTrueMask) {
  const ir::Tensor x = random_floats({3, 4}, 100);
  auto out = run_node("Dropout", {x, f32({}, {0.3f})}, {.opset = 13, .num_outputs = 2});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(bytes((*out)[0]), bytes(x));
  EXPECT_EQ(values<uint8_t>((*out)[1]), std::vector<uint8_t>(12, 1));
  auto old = run_node("Dropout", {x}, {.opset = 7, .num_outputs = 2});
  ASSERT_TRUE(old.ok()) << old.status().to_string();
  EXPECT_EQ(values<float>((*old)[1]), std::vector<float>(12, 1.0f));
  // Training with ratio 0 keeps every element.
  RUN(train0, "Dropout", {x, f32({}, {0.0f}), boolean({}, {1})}, {.opset = 13});
  EXPECT_EQ(bytes(train0), bytes(x));
}

TEST(MathKernels, rejects_dropout_in_training_mode) {
  expect_rejected(
      run_node("Dropout", {f32({2}, {1, 2}), f32({}, {0.5f}), boolean({}, {1})}, {.opset = 13}),
      StatusCode::kUnsupported, "Dropout");
}

}  // namespace
}  // namespace mixq
