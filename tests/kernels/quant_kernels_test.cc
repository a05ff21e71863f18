// Quantization kernels: Cast/CastLike, QuantizeLinear, DequantizeLinear, DynamicQuantizeLinear,
// MatMulInteger, QLinearMatMul, ConvInteger, QLinearConv. Inline spec vectors per version, seeded
// random cases against references computed here in float64 (long double for int32 products),
// saturate on/off at every FP8 boundary, thread-count independence, and rejected inputs.
//
// Where the ONNX spec and ONNX Runtime differ, the spec wins and the test says so: with
// saturate=0, E4M3FN values above 464 round past 448 and are NaN by the spec, while ORT's CPU
// encoder (and onnx's pre-ml_dtypes helper) gives 448 for |x| in [480, 496).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <random>

#include "graph_builder.h"
#include "half_ref.h"
#include "kernel_runner.h"
#include "mixq/core/float8.h"

namespace mixq {
namespace {

using ir::Tensor;
using testing::run_node;
using testing::set_int;
using testing::set_ints;
using Attrs = std::function<void(ir::Node&)>;
using Inputs = std::vector<std::optional<Tensor>>;
using Dims = std::vector<int64_t>;
using V = std::vector<double>;
using B = std::vector<uint8_t>;
constexpr DType kF32 = DType::kFloat32, kF16 = DType::kFloat16, kBF16 = DType::kBFloat16;
constexpr DType kI8 = DType::kInt8, kU8 = DType::kUint8, kI32 = DType::kInt32;
constexpr DType kI4 = DType::kInt4, kU4 = DType::kUint4, kI16 = DType::kInt16,
                kU16 = DType::kUint16;
constexpr DType kE4 = DType::kFloat8E4M3FN, kE4uz = DType::kFloat8E4M3FNUZ;
constexpr DType kE5 = DType::kFloat8E5M2, kE5uz = DType::kFloat8E5M2FNUZ;

bool is_fp8(DType t) { return t >= kE4 && t <= kE5uz; }

// A tensor of type t holding the values v (exactly representable ones, or rounded by the codecs).
Tensor make(DType t, const Dims& dims, const V& v) {
  Tensor out = Tensor::zeros(t, dims).value();
  std::byte* p = out.mutable_raw_data();
  auto fill = [&](auto conv) {
    for (size_t i = 0; i < v.size(); ++i) {
      const auto e = conv(v[i]);
      std::memcpy(p + i * sizeof(e), &e, sizeof(e));
    }
  };
  auto f = [](double x) { return static_cast<float>(x); };
  if (is_fp8(t)) {
    fill([&](double x) {
      return t == kE4     ? float_to_float8e4m3fn(f(x))
             : t == kE4uz ? float_to_float8e4m3fnuz(f(x))
             : t == kE5   ? float_to_float8e5m2(f(x))
                          : float_to_float8e5m2fnuz(f(x));
    });
  } else if (t == kI4 || t == kU4) {
    for (size_t i = 0; i < v.size(); ++i) {
      set_4bit(reinterpret_cast<uint8_t*>(p), static_cast<int64_t>(i),
               static_cast<uint8_t>(static_cast<int>(v[i]) & 0xf));
    }
  } else if (t == kF16 || t == kBF16) {
    fill([&](double x) { return t == kF16 ? float_to_float16(f(x)) : float_to_bfloat16(f(x)); });
  } else if (t == kF32) {
    fill(f);
  } else if (t == DType::kFloat64) {
    fill([](double x) { return x; });
  } else {  // integers and bool: the low bytes of the two's complement int64 (little endian)
    const auto bytes = static_cast<size_t>(dtype_bits(t) / 8);
    for (size_t i = 0; i < v.size(); ++i) {
      const auto e = t == DType::kBool ? int64_t{v[i] != 0} : static_cast<int64_t>(v[i]);
      std::memcpy(p + i * bytes, &e, bytes);
    }
  }
  return out;
}
Tensor f32(const Dims& d, const V& v) { return make(kF32, d, v); }
Tensor f16(const Dims& d, const V& v) { return make(kF16, d, v); }
Tensor u8(const Dims& d, const V& v) { return make(kU8, d, v); }
Tensor i8(const Dims& d, const V& v) { return make(kI8, d, v); }
Tensor i32(const Dims& d, const V& v) { return make(kI32, d, v); }
Tensor raw(DType t, const Dims& dims, const B& bytes) {
  Tensor out = Tensor::zeros(t, dims).value();
  std::memcpy(out.mutable_raw_data(), bytes.data(), bytes.size());
  return out;
}

B bytes_of(const Tensor& t) {
  const auto* p = reinterpret_cast<const uint8_t*>(t.raw_data());
  return B(p, p + t.nbytes());
}
uint16_t u16_at(const B& b, size_t i) {
  return static_cast<uint16_t>(b[2 * i] | b[2 * i + 1] << 8);
}
float f32_at(const B& b, size_t i) {
  return std::bit_cast<float>(uint32_t{u16_at(b, 2 * i)} | uint32_t{u16_at(b, 2 * i + 1)} << 16);
}
V vals(const Tensor& t) { return testing::to_doubles(t); }

testing::NodeSpec spec(int64_t opset, const Attrs& attrs, int threads = 2, size_t outputs = 1) {
  return {opset, attrs, outputs, {}, threads, ""};
}

// Runs a one-output node; fails the test when the run fails.
Tensor run1(const std::string& op, const Inputs& in, int64_t opset, const Attrs& attrs = nullptr,
            int threads = 2) {
  auto out = run_node(op, in, spec(opset, attrs, threads));
  EXPECT_TRUE(out.ok()) << op << "-" << opset << ": " << out.status().to_string();
  return out.ok() ? (*out)[0] : Tensor();
}
V run_v(const std::string& op, const Inputs& in, int64_t opset, const Attrs& a = nullptr) {
  return vals(run1(op, in, opset, a));
}
B run_b(const std::string& op, const Inputs& in, int64_t opset, const Attrs& a = nullptr) {
  return bytes_of(run1(op, in, opset, a));
}
// Runs on 1 and 3 threads, expects identical bytes, returns the 3-thread result.
Tensor run_threads(const std::string& op, const Inputs& in, int64_t opset,
                   const Attrs& a = nullptr) {
  const Tensor y1 = run1(op, in, opset, a, 1);
  const Tensor y3 = run1(op, in, opset, a, 3);
  EXPECT_EQ(bytes_of(y1), bytes_of(y3)) << op << ": results depend on the thread count";
  return y3;
}

// Asserts a rejected run: the code and the node's name ("<op>_0") in the message.
void expect_rejected(const std::string& op, const Inputs& in, int64_t opset,
                     const Attrs& attrs = nullptr, StatusCode code = StatusCode::kBadInput) {
  auto out = run_node(op, in, spec(opset, attrs));
  ASSERT_FALSE(out.ok()) << op << " should fail";
  EXPECT_EQ(out.status().code(), code) << out.status().to_string();
  EXPECT_NE(out.status().message().find(op + "_0"), std::string::npos) << out.status().message();
}

Attrs int_attr(const std::string& name, int64_t v) {
  return [=](ir::Node& n) { set_int(n, name, v); };
}
Attrs int_attrs(const std::string& a, int64_t va, const std::string& b, int64_t vb) {
  return [=](ir::Node& n) { set_int(n, a, va), set_int(n, b, vb); };
}

// Expects ok(i) for every i < n; reports the first mismatches, labelled with `what`.
template <typename F>
void expect_all(size_t n, const std::string& what, F&& ok) {
  size_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!ok(i) && ++bad < 5) ADD_FAILURE() << what << ": mismatch at element " << i;
  }
  EXPECT_EQ(bad, 0u) << what;
}

// ---- Independent references (float64) ----

// FP8: nearest point of the grid of decoded codes (plus the step past max), ties to the even code,
// then the ONNX saturate tables. NaN results are compared as "some NaN" (same_fp8).
uint8_t ref_fp8(DType t, double x, bool sat) {
  float (*dec)(uint8_t) = t == kE4     ? float8e4m3fn_to_float
                          : t == kE4uz ? float8e4m3fnuz_to_float
                          : t == kE5   ? float8e5m2_to_float
                                       : float8e5m2fnuz_to_float;
  const int max = t == kE4 ? 0x7e : (t == kE5 ? 0x7b : 0x7f);
  const bool uz = t == kE4uz || t == kE5uz;
  if (std::isnan(x)) return uz ? 0x80 : 0x7f;
  const int sign = std::signbit(x) ? 0x80 : 0;
  const double a = std::fabs(x), top = dec(static_cast<uint8_t>(max));
  const double past = top + (top - dec(static_cast<uint8_t>(max - 1)));
  int code = max + 1;
  if (a < past) {
    int i = 0;
    while (i < max && dec(static_cast<uint8_t>(i + 1)) <= a) ++i;
    const double lo = dec(static_cast<uint8_t>(i)), hi = i == max ? past : dec(uint8_t(i + 1));
    code = a - lo < hi - a ? i : (hi - a < a - lo ? i + 1 : (i % 2 ? i + 1 : i));
  }
  if (code > max) {
    if (sat) return static_cast<uint8_t>(sign | max);
    if (t == kE5) return static_cast<uint8_t>(sign | 0x7c);
    return uz ? 0x80 : static_cast<uint8_t>(sign | 0x7f);
  }
  return static_cast<uint8_t>(uz && code == 0 ? 0 : sign | code);
}
bool same_fp8(DType t, uint8_t got, uint8_t want) {
  return got == want ||
         (std::isnan(vals(raw(t, {1}, {got}))[0]) && std::isnan(vals(raw(t, {1}, {want}))[0]));
}

// float64 -> bfloat16 / float16 bits, one rounding (bfloat16: values in the normal range).
uint16_t ref_bf16(double x) {
  int e;
  const double m = std::frexp(x, &e);
  const auto f = static_cast<float>(std::ldexp(std::nearbyint(std::ldexp(m, 8)), e - 8));
  return static_cast<uint16_t>(std::bit_cast<uint32_t>(f) >> 16);
}
uint16_t ref_f16(double x) { return testing::ref_half_bits(x); }

// Integer quantization of one element: x / s as the float32 quotient, rounded half to even.
int64_t ref_quant(double x, double s, double zp, int64_t lo, int64_t hi) {
  const double q = std::nearbyint(static_cast<double>(static_cast<float>(x / s)));
  return std::clamp<int64_t>(static_cast<int64_t>(q + zp), lo, hi);
}

std::pair<int64_t, int64_t> range_of(DType t) {
  const int64_t bits = t == kI32 ? 32 : dtype_bits(t);
  if (dtype_is_signed_int(t)) return {-(int64_t{1} << (bits - 1)), (int64_t{1} << (bits - 1)) - 1};
  return {0, (int64_t{1} << bits) - 1};
}

// Scale index of element i for x dims / axis / block (block 0: per axis; axis -1: per tensor).
size_t param_index(const Dims& d, int64_t axis, int64_t block, size_t i) {
  if (axis < 0) return 0;
  size_t inner = 1;
  for (size_t k = static_cast<size_t>(axis) + 1; k < d.size(); ++k) inner *= d[k];
  const auto len = static_cast<size_t>(d[static_cast<size_t>(axis)]);
  const size_t a = (i / inner) % len;
  if (block == 0) return a;
  const auto b = static_cast<size_t>(block);
  return ((i / (inner * len)) * ((len + b - 1) / b) + a / b) * inner + i % inner;
}

V uniform(size_t n, uint32_t seed, double lo, double hi, bool integral = false) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> d(lo, hi);
  V v(n);
  for (double& x : v) x = integral ? std::floor(d(rng)) : static_cast<float>(d(rng));
  return v;
}
size_t numel(const Dims& d) {
  size_t n = 1;
  for (int64_t x : d) n *= static_cast<size_t>(x);
  return n;
}

// ======================================== Cast ========================================

TEST(Cast, FloatToFloat8FollowsSaturateTables) {
  const V x = {0, -0.0, 1, 448, 464, 470, 490, 1e9, INFINITY, -INFINITY, NAN, 0x1p-10};
  // 470 and 490 round past 448: NaN without saturate (ORT gives 448 for 490, NaN for 470).
  // clang-format off
  const std::vector<std::tuple<DType, B, B>> cases = {
      {kE4, {0x00, 0x80, 0x38, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0x7e, 0xfe, 0x7f, 0x00},
            {0x00, 0x80, 0x38, 0x7e, 0x7e, 0x7f, 0x7f, 0x7f, 0x7f, 0xff, 0x7f, 0x00}},
      {kE5, {0x00, 0x80, 0x3c, 0x5f, 0x5f, 0x5f, 0x60, 0x7b, 0x7b, 0xfb, 0x7f, 0x14},
            {0x00, 0x80, 0x3c, 0x5f, 0x5f, 0x5f, 0x60, 0x7c, 0x7c, 0xfc, 0x7f, 0x14}},
      {kE4uz, {0x00, 0x00, 0x40, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0x7f, 0xff, 0x80, 0x01},
              {0x00, 0x00, 0x40, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01}},
      {kE5uz, {0x00, 0x00, 0x40, 0x63, 0x63, 0x63, 0x64, 0x7f, 0x7f, 0xff, 0x80, 0x18},
              {0x00, 0x00, 0x40, 0x63, 0x63, 0x63, 0x64, 0x80, 0x80, 0x80, 0x80, 0x18}}};
  // clang-format on
  for (const auto& [t, sat, nosat] : cases) {
    const auto to = static_cast<int64_t>(t);
    EXPECT_EQ(run_b("Cast", {f32({12}, x)}, 19, int_attr("to", to)), sat) << dtype_name(t);
    EXPECT_EQ(run_b("Cast", {f32({12}, x)}, 21, int_attrs("to", to, "saturate", 0)), nosat);
  }
}

TEST(Cast, VersionsAndTypePairs) {
  // Cast-1 names the type with a string.
  EXPECT_EQ(run_b("Cast", {f32({3}, {1.0, 65520.0, -0.1})}, 1,
                  [](ir::Node& n) { testing::set_string(n, "to", "FLOAT16"); }),
            (B{0x00, 0x3c, 0x00, 0x7c, 0x66, 0xae}));
  // Float to integer: toward zero; out of range wraps (int16 200 -> int8 -56 in the spec).
  EXPECT_EQ(run_v("Cast", {f32({4}, {-2.7, 2.7, 300, -129.5})}, 6, int_attr("to", 3)),
            (V{-2, 2, 44, 127}));
  EXPECT_EQ(run_v("Cast", {make(kI16, {2}, {200, -1})}, 9, int_attr("to", 3)), (V{-56, -1}));
  EXPECT_EQ(run_v("Cast", {f32({4}, {0, -0.0, 0.5, NAN})}, 9, int_attr("to", 9)), (V{0, 0, 1, 1}));
  EXPECT_EQ(run_v("Cast", {make(DType::kBool, {2}, {1, 0})}, 13, int_attr("to", 1)), (V{1, 0}));
  // float32 -> bfloat16 rounds to nearest even (onnx 1.12's test data truncated: 0x3ef5).
  EXPECT_EQ(run_b("Cast", {f32({1}, {0.48033667})}, 13, int_attr("to", 16)), (B{0xf6, 0x3e}));
  // float64 and int64 sources round once: no double rounding through float32 / float64.
  EXPECT_EQ(
      run_b("Cast", {make(DType::kFloat64, {1}, {1 + 0x1p-11 + 0x1p-40})}, 13, int_attr("to", 10)),
      (B{0x01, 0x3c}));
  const Tensor big = raw(DType::kInt64, {1}, {1, 0, 0, 0, 0, 0, 0x10, 0x10});  // 2^60 + 2^52 + 1
  EXPECT_EQ(run_b("Cast", {big}, 13, int_attr("to", 16)), (B{0x81, 0x5d}));
  // Cast-21 to int4: round half to even, keep the low four bits; odd count pads with 0.
  const Tensor i4 = run1("Cast", {f32({5}, {-9, -8.5, 7.5, 15, 2.5})}, 21, int_attr("to", 22));
  EXPECT_EQ(bytes_of(i4), (B{0x87, 0xf8, 0x02}));
  EXPECT_EQ(run_v("Cast", {i4}, 21, int_attr("to", 1)), (V{7, -8, -8, -1, 2}));
  EXPECT_EQ(run_v("Cast", {raw(kU4, {3}, {0xf0, 0x07})}, 21, int_attr("to", 2)), (V{0, 15, 7}));
  // FP8 to FP8 and to float16: decoded exactly, then encoded.
  const Tensor e5 = raw(kE5, {3}, {0x7b, 0xbc, 0x01});  // 57344, -1, 2^-16
  EXPECT_EQ(run_b("Cast", {e5}, 19, int_attr("to", 17)), (B{0x7e, 0xb8, 0x00}));
  EXPECT_EQ(run_b("Cast", {e5}, 19, int_attrs("to", 17, "saturate", 0)), (B{0x7f, 0xb8, 0x00}));
  EXPECT_EQ(run_v("Cast", {e5}, 19, int_attr("to", 10)), (V{57344, -1, 0x1p-16}));
  // CastLike-15/19/21.
  EXPECT_EQ(run1("CastLike", {f32({1}, {0.1}), make(DType::kFloat64, {0}, {})}, 15).dtype(),
            DType::kFloat64);
  EXPECT_EQ(
      run_b("CastLike", {f32({2}, {490, -1e6}), raw(kE4, {1}, {0})}, 19, int_attr("saturate", 0)),
      (B{0x7f, 0xff}));
  EXPECT_EQ(run_v("CastLike", {i32({3}, {17, -1, 3}), make(kU4, {1}, {0})}, 21), (V{1, 15, 3}));
}

TEST(Cast, RandomMatchesReferenceForAnyThreadCount) {
  std::mt19937 rng(5);
  V x(40001);
  for (double& v : x) {  // magnitudes 2^-20 .. 2^20, both signs
    const double m = (rng() & 1 ? -1 : 1) * (1 + static_cast<double>(rng() & 0x7fffff) * 0x1p-23);
    v = static_cast<float>(std::ldexp(m, static_cast<int>(rng() % 41) - 20));
  }
  for (int64_t to : {10, 16, 3, 17, 18, 19, 20}) {
    for (int64_t sat : {1, 0}) {
      const B got = bytes_of(
          run_threads("Cast", {f32({40001}, x)}, 21, int_attrs("to", to, "saturate", sat)));
      const auto t = static_cast<DType>(to);
      expect_all(x.size(), str_cat("to ", to, " saturate ", sat), [&](size_t i) {
        if (to == 10) return u16_at(got, i) == ref_f16(x[i]);
        if (to == 16) return u16_at(got, i) == ref_bf16(x[i]);
        if (to != 3) return same_fp8(t, got[i], ref_fp8(t, x[i], sat == 1));
        return static_cast<int8_t>(got[i]) ==
               static_cast<int8_t>(static_cast<int64_t>(std::trunc(x[i])));
      });
    }
  }
}

TEST(Cast, rejects_targets_the_version_lacks_and_strings) {
  expect_rejected("Cast", {f32({1}, {1})}, 13, int_attr("to", 17));  // float8 needs 19
  expect_rejected("Cast", {f32({1}, {1})}, 19, int_attr("to", 22));  // int4 needs 21
  expect_rejected("Cast", {f32({1}, {1})}, 13, int_attr("to", 8), StatusCode::kUnsupported);
}

// ==================================== QuantizeLinear ====================================

TEST(QuantizeLinear, SpecVectorsPerVersion) {
  const std::string q = "QuantizeLinear";
  // 10 (Operators.md example), per tensor uint8 and int32 x.
  EXPECT_EQ(run_v(q, {f32({6}, {0, 2, 3, 1000, -254, -1000}), f32({}, {2}), u8({}, {128})}, 10),
            (V{128, 129, 130, 255, 1, 0}));
  EXPECT_EQ(run_v(q, {i32({4}, {0, 3, -3, 1000}), f32({}, {2}), i8({}, {0})}, 10),
            (V{0, 2, -2, 127}));
  // 13 per axis (the quantizelinear_axis example).
  const V xa = {-162, 10, -100, 232, -20,  -50,  -76,  0,    0,
                252,  32, -44,  245, -485, -960, -270, -375, -470};
  const V qa = {3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13, 245, 99, 4, 142, 121, 102};
  EXPECT_EQ(run_v(q, {f32({1, 3, 3, 2}, xa), f32({3}, {2, 4, 5}), u8({3}, {84, 24, 196})}, 13), qa);
  // 19 float8 (the e4m3fn / e5m2 examples); 980 / 2 = 490 rounds past 448: NaN without saturate
  // (ORT: 448).
  const Tensor x8 = f32({5}, {0, 1, 2, 100000, 200});
  const Tensor two = f32({}, {2});
  EXPECT_EQ(run_v(q, {x8, two, raw(kE4, {}, {0})}, 19), (V{0, 0.5, 1, 448, 96}));
  EXPECT_EQ(run_v(q, {x8, two, raw(kE5, {}, {0})}, 19), (V{0, 0.5, 1, 49152, 96}));
  EXPECT_EQ(
      run_b(q, {f32({3}, {928, 980, -1e9}), two, raw(kE4, {}, {0})}, 19, int_attr("saturate", 0)),
      (B{0x7e, 0x7f, 0xff}));
  // 19: float16 x with a float16 scale.
  EXPECT_EQ(run_v(q, {f16({3}, {1, 2.5, -3.5}), f16({}, {1}), i8({}, {0})}, 19), (V{1, 2, -4}));
  // 21: int4 per axis (the quantizelinear_int4 example), blocked uint8, int16, output_dtype.
  EXPECT_EQ(run_v(q,
                  {f32({3, 4}, {0, 2.5, 4.8, 8.6, -30, -20, 6, 9, 12, 15, 16, 40}),
                   f32({3}, {2, 3, 4}), make(kI4, {3}, {1, 1, 1})},
                  21, int_attr("axis", 0)),
            (V{1, 2, 3, 5, -8, -6, 3, 4, 4, 5, 5, 7}));
  EXPECT_EQ(run_v(q,
                  {f32({3, 4}, {6, 12, 50, 5, 1, 8, 4, 5, 0, 20, 10, 4}),
                   f32({3, 2}, {1.5, 2.5, 3, 4.9, 5.1, 6.9}), u8({3, 2}, {0, 1, 1, 0, 2, 3})},
                  21, int_attr("block_size", 2)),
            (V{4, 8, 21, 3, 1, 4, 1, 1, 2, 6, 4, 4}));
  EXPECT_EQ(run_v(q, {f32({3}, {1e5, -3, 32768}), f32({}, {1}), make(kI16, {}, {0})}, 21),
            (V{32767, -3, 32767}));
  const Tensor u16 =
      run1(q, {f32({2}, {70000, 2.5}), f32({}, {1})}, 21, int_attr("output_dtype", 4));
  EXPECT_EQ(u16.dtype(), kU16);
  EXPECT_EQ(vals(u16), (V{65535, 2}));
  // NaN quantizes to the zero point; +-Inf saturate.
  EXPECT_EQ(run_v(q, {f32({3}, {NAN, INFINITY, -INFINITY}), two, u8({}, {10})}, 13),
            (V{10, 255, 0}));
}

struct QCase {  // axis -1: per tensor; block 0: per axis
  int64_t opset;
  Dims dims;
  int64_t axis, block;
  DType out;
};

// Random x (float32 in +-spread), scales in [0.01, 0.1] and zero points (0 for float8).
struct QInputs {
  Tensor x, scale, zp;
  V xs, ss, zs;
};
QInputs random_q(const QCase& c, uint32_t seed, DType zp_type, double spread) {
  QInputs q;
  Dims sd;
  if (c.axis >= 0) {
    const auto ax = static_cast<size_t>(c.axis);
    sd = c.block ? c.dims : Dims{c.dims[ax]};
    if (c.block) sd[ax] = (sd[ax] + c.block - 1) / c.block;
  }
  const size_t np = numel(sd);
  const auto [lo, hi] = range_of(zp_type);
  q.ss = uniform(np, seed + 1, 0.01, 0.1);
  q.zs = is_fp8(zp_type) ? V(np, 0.0) : uniform(np, seed + 2, double(lo), double(hi) + 1, true);
  q.xs = uniform(numel(c.dims), seed, -spread, spread);
  q.x = f32(c.dims, q.xs);
  q.scale = f32(sd, q.ss);
  q.zp = make(zp_type, sd, q.zs);
  return q;
}

// Attributes for a case; saturate -1 leaves it out (DequantizeLinear has none).
Attrs q_attrs(const QCase& c, int64_t saturate = 1) {
  return [=](ir::Node& n) {
    if (c.axis >= 0 && c.opset >= 13) set_int(n, "axis", c.axis);
    if (c.block) set_int(n, "block_size", c.block);
    if (c.opset >= 19 && saturate >= 0) set_int(n, "saturate", saturate);
  };
}

TEST(QuantizeLinear, RandomPerTensorPerAxisBlockedMatchReference) {
  // clang-format off
  const std::vector<QCase> cases = {
      {10, {1000}, -1, 0, kU8},          {13, {2, 3, 40}, 1, 0, kI8},
      {13, {5, 70}, 1, 0, kU8},          {21, {4, 6, 30}, 1, 4, kI4},  // 6 = 4 + a partial block
      {21, {3, 9}, 0, 2, kU4},           {21, {2, 5, 6}, 2, 3, kI16},
      {21, {6, 41}, 0, 6, kU16}, {21, {64, 301}, 1, 32, kI4}};
  // clang-format on
  uint32_t seed = 100;
  for (const QCase& c : cases) {
    // (Plain variables, not a structured binding: clang before 16 cannot capture bindings in
    // the lambda below.)
    const int64_t lo = range_of(c.out).first, hi = range_of(c.out).second;
    const QInputs q = random_q(c, seed++, c.out, 0.1 * std::max<double>(16, double(hi - lo)));
    const Tensor y = run_threads("QuantizeLinear", {q.x, q.scale, q.zp}, c.opset, q_attrs(c));
    ASSERT_EQ(y.dtype(), c.out);
    const V got = vals(y);
    size_t clamped = 0;
    expect_all(got.size(), str_cat(dtype_name(c.out)), [&](size_t i) {
      const size_t p = param_index(c.dims, c.axis, c.block, i);
      const int64_t want = ref_quant(q.xs[i], q.ss[p], q.zs[p], lo, hi);
      clamped += want == lo || want == hi;
      return got[i] == static_cast<double>(want);
    });
    EXPECT_GT(clamped, 0u) << "the case should reach saturation";
  }
}

TEST(QuantizeLinear, Float8RandomSaturateOnOffAndBFloat16) {
  for (DType t : {kE4, kE4uz, kE5, kE5uz}) {
    const QCase c{19, {3, 4000}, 0, 0, t};
    const QInputs q = random_q(c, 7, t, t == kE5 || t == kE5uz ? 8000 : 40);
    for (int64_t sat : {1, 0}) {
      const B got = run_b("QuantizeLinear", {q.x, q.scale, q.zp}, 19, q_attrs(c, sat));
      expect_all(got.size(), str_cat(dtype_name(t), " saturate ", sat), [&](size_t i) {
        const double quot = static_cast<float>(q.xs[i] / q.ss[i / 4000]);
        return same_fp8(t, got[i], ref_fp8(t, quot, sat == 1));
      });
    }
  }
  // bfloat16 x and scale (opset 19): the integers the exact quotient gives.
  const V x = vals(make(kBF16, {300}, uniform(300, 9, -40, 40)));
  const V got =
      run_v("QuantizeLinear", {make(kBF16, {300}, x), make(kBF16, {}, {0.375}), i8({}, {3})}, 19);
  expect_all(x.size(), "bfloat16",
             [&](size_t i) { return got[i] == double(ref_quant(x[i], 0.375, 3, -128, 127)); });
}

TEST(QuantizeLinear, RoundTripErrorIsBounded) {
  const QCase c{13, {4, 500}, 0, 0, kI8};
  QInputs q = random_q(c, 21, kI8, 1.0);
  q.zp = i8({4}, {0, 0, 0, 0});
  const Tensor y = run1("QuantizeLinear", {q.x, q.scale, q.zp}, 13, q_attrs(c));
  const V back = run_v("DequantizeLinear", {y, q.scale, q.zp}, 13, int_attr("axis", 0));
  for (size_t i = 0; i < back.size(); ++i) {
    const double s = q.ss[i / 500];
    const double x = std::clamp(q.xs[i], -128 * s, 127 * s);
    EXPECT_LE(std::fabs(back[i] - x), s / 2 * (1 + 1e-6)) << i;
  }
  // FP8 E4M3FN: relative error at most 2^-4 in the normal range.
  const V xs = uniform(1000, 22, -400, 400);
  const Tensor one = f32({}, {1});
  const Tensor q8 = run1("QuantizeLinear", {f32({1000}, xs), one, raw(kE4, {}, {0})}, 19);
  const V b8 = run_v("DequantizeLinear", {q8, one}, 19);
  for (size_t i = 0; i < xs.size(); ++i) {
    EXPECT_TRUE(std::fabs(xs[i]) < 0x1p-6 || std::fabs(b8[i] - xs[i]) <= std::fabs(xs[i]) / 16);
  }
}

TEST(QuantizeLinear, rejects_bad_zero_points) {
  const Tensor x = f32({2}, {1, 2}), one = f32({}, {1});
  expect_rejected("QuantizeLinear", {x, one, raw(kE4, {}, {0x38})}, 19);  // float8 zp must be 0
  expect_rejected("QuantizeLinear", {x, one, make(kI16, {}, {0})}, 13);   // int16 at 13
  const Tensor x23 = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_rejected("QuantizeLinear", {x23, f32({3}, {1, 1, 1}), u8({2}, {0, 0})}, 13);  // shapes
}

TEST(QuantizeLinear, rejects_bad_scales_and_block_sizes) {
  const Tensor x23 = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  expect_rejected("QuantizeLinear", {x23, f32({2}, {1, 1}), u8({2}, {0, 0})}, 13);  // axis 1 is 3
  expect_rejected("QuantizeLinear", {x23, f32({3}, {1, 1, 1}), u8({3}, {0, 0, 0})}, 10);  // < 13
  expect_rejected("QuantizeLinear", {f16({2}, {1, 2}), f32({}, {1}), u8({}, {0})}, 19);   // type
  expect_rejected("QuantizeLinear", {f32({2}, {1, 2}), f32({}, {1}), raw(kE5, {}, {0})}, 19,
                  int_attr("saturate", 2));
  // x [2, 6], block 4 on axis 1 needs scale [2, 2] (the last block is partial); [2, 3] is wrong.
  expect_rejected("QuantizeLinear",
                  {f32({2, 6}, V(12, 1)), f32({2, 3}, V(6, 1)), i8({2, 3}, V(6, 0))}, 21,
                  int_attr("block_size", 4));
}

// =================================== DequantizeLinear ===================================

TEST(DequantizeLinear, SpecVectorsPerVersion) {
  const std::string dq = "DequantizeLinear";
  EXPECT_EQ(run_v(dq, {u8({4}, {0, 3, 128, 255}), f32({}, {2}), u8({}, {128})}, 10),
            (V{-256, -250, 0, 254}));
  const V qa = {3, 89, 34, 200, 74, 59, 5, 24, 24, 87, 32, 13, 245, 99, 4, 142, 121, 102};
  EXPECT_EQ(run_v(dq, {u8({1, 3, 3, 2}, qa), f32({3}, {2, 4, 5}), u8({3}, {84, 24, 196})}, 13),
            (V{-162, 10, -100, 232, -20, -50, -76, 0, 0, 252, 32, -44, 245, -485, -960, -270, -375,
               -470}));
  // 19: float8 x; a float16 scale gives float16 y.
  const Tensor e4 = raw(kE4, {5}, {0x00, 0x30, 0x38, 0x7e, 0xed});
  EXPECT_EQ(run_v(dq, {e4, f32({}, {2})}, 19), (V{0, 1, 2, 896, -208}));
  const Tensor h = run1(dq, {e4, f16({}, {0.5})}, 19);
  EXPECT_EQ(h.dtype(), kF16);
  EXPECT_EQ(vals(h), (V{0, 0.25, 0.5, 224, -52}));
  // int32 x: the exact product rounded once. Through float32 first, 16785409 * 2^-14 would land
  // on the float16 tie 1024.5 (-> 1024) and 16777217 * (1 + 2^-23) on 16777218.
  EXPECT_EQ(run_v(dq, {i32({1}, {16785409}), f16({}, {0x1p-14})}, 19), (V{1025}));
  EXPECT_EQ(run_v(dq, {i32({1}, {16777217}), f32({}, {1 + 0x1p-23})}, 19), (V{16777220}));
  // 21: int4 per axis, uint16, blocked uint4.
  EXPECT_EQ(run_v(dq,
                  {make(kI4, {3, 2}, {1, -8, 7, 3, 0, -1}), f32({3}, {2, 3, 4}),
                   make(kI4, {3}, {1, 1, -1})},
                  21, int_attr("axis", 0)),
            (V{0, -18, 18, 6, 4, 0}));
  EXPECT_EQ(run_v(dq, {make(kU16, {2}, {65535, 0}), f32({}, {0.5}), make(kU16, {}, {32768})}, 21),
            (V{16383.5, -16384}));
  EXPECT_EQ(run_v(dq,
                  {make(kU4, {2, 3}, {15, 0, 7, 1, 2, 3}), f32({2, 2}, {1, 10, 100, 1000}),
                   make(kU4, {2, 2}, {1, 0, 0, 3})},
                  21, int_attr("block_size", 2)),
            (V{14, -1, 70, 100, 200, 0}));
}

TEST(DequantizeLinear, RandomMatchesExactProductRoundedOnce) {
  // clang-format off
  const std::vector<std::pair<QCase, DType>> cases = {
      {{13, {3, 50, 7}, 1, 0, kI8}, kF32},  {{21, {6, 33}, 1, 8, kU4}, kF16},
      {{21, {4, 30}, 0, 0, kI16}, kBF16}, {{21, {64, 300}, 1, 32, kI4}, kF32},
      {{19, {2, 500}, -1, 0, kI32}, kF32},  {{19, {2, 500}, -1, 0, kI32}, kF16}};
  // clang-format on
  uint32_t seed = 300;
  for (const auto& entry : cases) {
    // (Plain variables, not structured bindings: clang before 16 cannot capture bindings in the
    // lambda below.)
    const QCase& c = entry.first;
    const DType st = entry.second;
    const int64_t lo = range_of(c.out).first, hi = range_of(c.out).second;
    QInputs q = random_q(c, seed++, c.out == kI32 ? kI8 : c.out, 1);
    const V scales = vals(make(st, q.scale.dims(), q.ss));  // as stored
    q.xs = uniform(q.xs.size(), seed++, double(lo), double(hi) + (c.out == kI32 ? 0 : 1), true);
    Inputs in = {make(c.out, c.dims, q.xs), make(st, q.scale.dims(), scales)};
    if (c.out == kI32) q.zs.assign(q.zs.size(), 0);  // int32 x takes no zero point
    if (c.out != kI32) in.push_back(q.zp);
    const Tensor y = run_threads("DequantizeLinear", in, c.opset, q_attrs(c, -1));
    ASSERT_EQ(y.dtype(), st);
    const B got = bytes_of(y);
    expect_all(q.xs.size(), str_cat(dtype_name(c.out), " -> ", dtype_name(st)), [&](size_t i) {
      const size_t p = param_index(c.dims, c.axis, c.block, i);
      // The exact product (long double: 64 significant bits), rounded once;
      // for the 16-bit outputs it has at most 43 bits, exact in double.
      const long double e = (q.xs[i] - q.zs[p]) * (long double)scales[p];
      if (st == kF32) return f32_at(got, i) == static_cast<float>(e);
      const auto d = static_cast<double>(e);
      return u16_at(got, i) == (st == kF16 ? ref_f16(d) : ref_bf16(d));
    });
  }
}

TEST(DequantizeLinear, rejects_bad_zero_points) {
  const std::string dq = "DequantizeLinear";
  const Tensor one = f32({}, {1});
  expect_rejected(dq, {raw(kE5, {2}, {1, 2}), one, raw(kE5, {}, {0x3c})}, 19);  // float8 zp 1
  expect_rejected(dq, {i32({2}, {1, 2}), one, i32({}, {5})}, 13);  // int32 takes no zero point
  expect_rejected(dq, {u8({2}, {1, 2}), one, i8({}, {0})}, 13);    // zp type differs from x
}

// ================================ DynamicQuantizeLinear ================================

TEST(DynamicQuantizeLinear, SpecVectorsAndZeros) {
  const std::vector<std::tuple<V, double, double, V>> cases = {
      {{0, 2, -3, -2.5, 1.34, 0.5}, 5.0 / 255, 153, {153, 255, 0, 26, 221, 179}},
      {{-1.0, -2.1, -1.3, -2.5, -3.34, -4.0}, 4.0 / 255, 255, {191, 121, 172, 96, 42, 0}},
      {{1, 2.1, 1.3, 2.5, 3.34, 4.0, 1.5, 2.6, 3.9, 4.0, 3.0, 2.345},
       4.0 / 255,
       0,
       {64, 134, 83, 159, 213, 255, 96, 166, 249, 255, 191, 149}},  // clang-format: keep
      {{0, 0, 0}, 0, 0, {0, 0, 0}}};  // scale 0 by the function body; y and zp 0
  for (const auto& [x, scale, zp, y] : cases) {
    for (int threads : {1, 3}) {
      auto out = run_node("DynamicQuantizeLinear", {f32({int64_t(x.size())}, x)},
                          spec(11, nullptr, threads, 3));
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      EXPECT_EQ(vals((*out)[0]), y);
      EXPECT_FLOAT_EQ(static_cast<float>(vals((*out)[1])[0]), static_cast<float>(scale));
      EXPECT_EQ(vals((*out)[2])[0], zp);
    }
  }
}

// ============================= MatMulInteger, QLinearMatMul =============================

// Reference in int64: (A - za) @ (B - zb) for A [batches, M, K] and B [K, N]; za per (batch, row)
// cycling over its length (za[m] or za[batch * M + m]), zb per column, or one value each.
std::vector<int64_t> ref_matmul(const V& a, const V& b, size_t batches, size_t M, size_t K,
                                size_t N, const V& za, const V& zb) {
  std::vector<int64_t> c(batches * M * N);
  for (size_t r = 0; r < batches * M; ++r) {
    for (size_t n = 0; n < N; ++n) {
      for (size_t k = 0; k < K; ++k) {
        const double w = b[k * N + n] - zb[zb.size() == 1 ? 0 : n];
        c[r * N + n] += static_cast<int64_t>((a[r * K + k] - za[r % za.size()]) * w);
      }
    }
  }
  return c;
}

TEST(MatMulInteger, SpecVectorAndRandomPerRowColumn) {
  const Tensor a = u8({4, 3}, {11, 7, 3, 10, 6, 2, 9, 5, 1, 8, 4, 0});
  EXPECT_EQ(
      run_v("MatMulInteger", {a, u8({3, 2}, {1, 4, 2, 5, 3, 6}), u8({}, {12}), u8({}, {0})}, 10),
      (V{-38, -83, -44, -98, -50, -113, -56, -128}));
  // int8 A [2, 3, 37, 50] with zero points per (batch, row) [2, 3, 37, 1]; uint8 B [50, 29] with
  // zero points per column.
  const size_t M = 37, K = 50, N = 29;
  const V av = uniform(6 * M * K, 1, -128, 128, true), bv = uniform(K * N, 2, 0, 256, true);
  const V za = uniform(6 * M, 3, -128, 128, true), zb = uniform(N, 4, 0, 256, true);
  const int64_t m = M, k = K, n = N;
  const Tensor y =
      run_threads("MatMulInteger",
                  {i8({2, 3, m, k}, av), u8({k, n}, bv), i8({2, 3, m, 1}, za), u8({n}, zb)}, 10);
  const auto want = ref_matmul(av, bv, 6, M, K, N, za, zb);
  const V got = vals(y);
  expect_all(want.size(), "MatMulInteger", [&](size_t i) { return got[i] == double(want[i]); });
}

TEST(QLinearMatMul, SpecVectorsAndRandomRequantization) {
  // The qlinearmatmul_2D examples (uint8; int8 is the same shifted by 127); 3-D runs in the
  // conformance suite.
  for (bool is_i8 : {false, true}) {
    const DType t = is_i8 ? kI8 : kU8;
    const double d = is_i8 ? 127 : 0;
    V a = {208, 236, 0, 238, 3, 214, 255, 29},
      b = {152, 51, 244, 60, 26, 255, 0, 127, 246, 127, 254, 247};
    for (double& x : a) x -= d;
    for (double& x : b) x -= d;
    EXPECT_EQ(run_v("QLinearMatMul",
                    {make(t, {2, 4}, a), f32({1}, {0.0066}), make(t, {1}, {113 - d}),
                     make(t, {4, 3}, b), f32({1}, {0.00705}), make(t, {1}, {114 - d}),
                     f32({1}, {0.0107}), make(t, {1}, {118 - d})},
                    10),
              (is_i8 ? V{41, -12, -9, 1, -75, -128} : V{168, 115, 255, 1, 66, 151}));
  }
  // Random: per-row A scale / zero point, per-column B, float16 scales at 21, batch broadcast.
  const size_t M = 19, K = 64, N = 23;
  const int64_t m = M, k = K, n = N;
  const V av = uniform(3 * M * K, 11, 0, 256, true), bv = uniform(K * N, 12, -128, 128, true);
  const V za = uniform(M, 13, 100, 156, true), zb = uniform(N, 14, -5, 5, true);
  const V sa = vals(f16({m}, uniform(M, 15, 0.01, 0.02)));
  const V sb = vals(f16({n}, uniform(N, 16, 0.01, 0.02)));
  const V got =
      vals(run_threads("QLinearMatMul",
                       {u8({3, m, k}, av), f16({1, m, 1}, sa), u8({1, m, 1}, za), i8({k, n}, bv),
                        f16({n}, sb), i8({n}, zb), f16({}, {0.25}), i8({}, {-3})},
                       21));
  const auto acc = ref_matmul(av, bv, 3, M, K, N, za, zb);
  size_t clamped = 0;
  expect_all(acc.size(), "QLinearMatMul", [&](size_t i) {
    const float mult = (float(sa[(i / N) % M]) * float(sb[i % N])) / 0.25f;
    const double want =
        std::clamp(std::nearbyint(double(acc[i]) * double(mult)) - 3, -128.0, 127.0);
    clamped += want == -128 || want == 127;
    return got[i] == want;
  });
  EXPECT_GT(clamped, 0u);
  EXPECT_LT(clamped, acc.size() / 2);
}

TEST(QLinearMatMul, rejects_bad_scale_and_zero_point_shapes_and_types) {
  const Tensor a = u8({2, 2}, {1, 2, 3, 4}), s = f32({}, {1}), z = u8({}, {0});
  expect_rejected("QLinearMatMul", {a, s, z, a, s, z, f32({2}, {1, 1}), z}, 10);  // y per row
  expect_rejected("QLinearMatMul", {a, s, i8({}, {0}), a, s, z, s, z}, 10);       // a_zp type
  expect_rejected("MatMulInteger", {a, a, u8({3}, {0, 0, 0})}, 10);  // 3 zero points, 2 rows
}

// ================================ ConvInteger, QLinearConv ================================

struct ConvCase {
  Dims x, w;  // [N, C, spatial...] and [M, C / group, kernel...]
  int64_t group;
  Dims strides, dilations, pads;
  std::string auto_pad;
};

// Naive int64 reference: y[n][m][o...] = sum over (c, k...) of (x - xz) * (w - wz[m]).
std::vector<int64_t> ref_conv(const ConvCase& c, const V& x, const V& w, double xz, const V& wz,
                              const Dims& yd) {
  const size_t nd = c.x.size() - 2, cg = size_t(c.w[1]), mg = size_t(c.w[0] / c.group);
  const size_t in_sz = numel(Dims(c.x.begin() + 2, c.x.end()));
  const size_t osz = numel(Dims(yd.begin() + 2, yd.end())),
               ksz = numel(Dims(c.w.begin() + 2, c.w.end()));
  Dims pb(nd);
  for (size_t d = 0; d < nd; ++d) {
    const int64_t ek = (c.w[d + 2] - 1) * c.dilations[d] + 1;
    const int64_t total = std::max<int64_t>(0, (yd[d + 2] - 1) * c.strides[d] + ek - c.x[d + 2]);
    pb[d] = c.auto_pad == "SAME_UPPER"   ? total / 2
            : c.auto_pad == "SAME_LOWER" ? total - total / 2
                                         : c.pads[d];
  }
  std::vector<int64_t> y(numel(yd));
  for (size_t i = 0; i < y.size(); ++i) {
    const size_t n = i / (size_t(yd[1]) * osz), m = (i / osz) % size_t(yd[1]);
    for (size_t kk = 0; kk < cg * ksz; ++kk) {
      int64_t ro = int64_t(i % osz), rk = int64_t(kk % ksz), pos = 0, scale = 1;
      bool inside = true;
      for (size_t d = nd; d-- > 0;) {  // innermost spatial axis first
        const int64_t at =
            (ro % yd[d + 2]) * c.strides[d] + (rk % c.w[d + 2]) * c.dilations[d] - pb[d];
        inside &= at >= 0 && at < c.x[d + 2];
        pos += at * scale;
        scale *= c.x[d + 2];
        ro /= yd[d + 2];
        rk /= c.w[d + 2];
      }
      if (!inside) continue;
      const size_t chan = (m / mg) * cg + kk / ksz;
      const double xv = x[(n * size_t(c.x[1]) + chan) * in_sz + size_t(pos)] - xz;
      y[i] += int64_t(xv * (w[m * cg * ksz + kk] - wz[wz.size() > 1 ? m : 0]));
    }
  }
  return y;
}

Attrs conv_attrs(const ConvCase& c) {
  return [c](ir::Node& n) {
    set_int(n, "group", c.group);
    set_ints(n, "strides", c.strides);
    set_ints(n, "dilations", c.dilations);
    if (c.auto_pad.empty()) set_ints(n, "pads", c.pads);
    if (!c.auto_pad.empty()) testing::set_string(n, "auto_pad", c.auto_pad);
  };
}

TEST(ConvInteger, SpecVectorsAndRandomGeometries) {
  const Tensor x = u8({1, 1, 3, 3}, {2, 3, 4, 5, 6, 7, 8, 9, 10});
  const Tensor w = u8({1, 1, 2, 2}, {1, 1, 1, 1}), xz = u8({}, {1});
  EXPECT_EQ(run_v("ConvInteger", {x, w, xz}, 10), (V{12, 16, 24, 28}));
  EXPECT_EQ(run_v("ConvInteger", {x, w, xz}, 10,
                  [](ir::Node& n) {
                    set_ints(n, "pads", {1, 1, 1, 1});
                  }),
            (V{1, 3, 5, 3, 5, 12, 16, 9, 11, 24, 28, 15, 7, 15, 17, 9}));
  // clang-format off
  const std::vector<ConvCase> cases = {
      {{2, 6, 11, 9}, {4, 3, 3, 2}, 2, {2, 1}, {1, 2}, {1, 0, 2, 1}, ""},
      {{1, 3, 17}, {5, 3, 4}, 1, {3}, {2}, {0, 0}, "SAME_UPPER"},
      {{1, 4, 5, 6, 7}, {4, 1, 2, 3, 2}, 4, {1, 2, 2}, {1, 1, 1}, {0, 0, 0, 0, 0, 0}, "SAME_LOWER"},
      {{2, 2, 8, 8}, {3, 2, 3, 3}, 1, {1, 1}, {1, 1}, {0, 0, 0, 0}, "VALID"}};
  // clang-format on
  uint32_t seed = 40;
  for (const ConvCase& c : cases) {
    const V xv = uniform(numel(c.x), seed++, -128, 128, true);
    const V wv = uniform(numel(c.w), seed++, 0, 256, true);
    const V wz = uniform(size_t(c.w[0]), seed++, 0, 256, true);
    const Tensor y =
        run_threads("ConvInteger", {i8(c.x, xv), u8(c.w, wv), i8({}, {-7}), u8({c.w[0]}, wz)}, 10,
                    conv_attrs(c));
    const auto want = ref_conv(c, xv, wv, -7, wz, y.dims());
    const V got = vals(y);
    ASSERT_EQ(got.size(), want.size());
    expect_all(want.size(), "ConvInteger", [&](size_t i) { return got[i] == double(want[i]); });
  }
}

TEST(QLinearConv, RandomPerChannelWithBias) {
  const ConvCase c{{2, 4, 9, 10}, {6, 2, 3, 3}, 2, {1, 2}, {1, 1}, {1, 1, 1, 1}, ""};
  const V xv = uniform(numel(c.x), 50, 0, 256, true), wv = uniform(numel(c.w), 51, -128, 128, true);
  const V wz = {0, 1, -2, 3, 0, -1}, ws = uniform(6, 52, 0.002, 0.004);
  const V bias = uniform(6, 53, -2000, 2000, true);
  const Tensor y =
      run_threads("QLinearConv",
                  {u8(c.x, xv), f32({}, {0.02}), u8({}, {120}), i8(c.w, wv), f32({6}, ws),
                   i8({6}, wz), f32({}, {0.05}), u8({}, {128}), i32({6}, bias)},
                  10, conv_attrs(c));
  const auto acc = ref_conv(c, xv, wv, 120, wz, y.dims());
  const V got = vals(y);
  const auto osz = size_t(y.dims()[2] * y.dims()[3]);
  expect_all(acc.size(), "QLinearConv", [&](size_t i) {
    const size_t m = (i / osz) % 6;
    const float mult = (0.02f * float(ws[m])) / 0.05f;
    const double v = double(acc[i] + int64_t(bias[m])) * double(mult);
    return got[i] == std::clamp(std::nearbyint(v) + 128, 0.0, 255.0);
  });
}

TEST(QLinearConv, rejects_per_channel_input_scale_and_bad_weight_zero_point) {
  const Tensor x = u8({1, 2, 3, 3}, V(18, 1)), w = u8({2, 2, 1, 1}, {1, 1, 1, 1});
  const Tensor s = f32({}, {1}), z = u8({}, {0});
  expect_rejected("QLinearConv", {x, f32({2}, {1, 1}), z, w, s, z, s, z}, 10);
  expect_rejected("ConvInteger", {x, w, z, u8({3}, {0, 0, 0})}, 10);
}

}  // namespace
}  // namespace mixq
