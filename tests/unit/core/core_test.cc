// lib/core: dtypes, Status/Expected, and the float16/bfloat16/float8 bit conversions, checked
// against independent references (the compiler's IEEE _Float16 or, where it has none, exact
// float64 arithmetic: half_ref.h; float64 arithmetic; and the FP8 values tabulated in the ONNX
// spec).
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include "half_ref.h"
#include "mixq/core/dtype.h"
#include "mixq/core/float8.h"
#include "mixq/core/float_bits.h"
#include "mixq/core/status.h"

namespace mixq {
namespace {

TEST(DType, NumbersAndNamesFollowOnnx) {
  EXPECT_EQ(dtype_from_onnx(1), DType::kFloat32);
  EXPECT_EQ(dtype_from_onnx(16), DType::kBFloat16);
  EXPECT_EQ(dtype_from_onnx(17), DType::kFloat8E4M3FN);
  EXPECT_EQ(dtype_from_onnx(19), DType::kFloat8E5M2);
  EXPECT_EQ(dtype_from_onnx(21), DType::kUint4);
  EXPECT_EQ(dtype_from_onnx(22), DType::kInt4);
  EXPECT_FALSE(dtype_from_onnx(0).has_value());
  EXPECT_FALSE(dtype_from_onnx(99).has_value());
  EXPECT_EQ(dtype_name(DType::kFloat8E4M3FN), "float8e4m3fn");
  EXPECT_EQ(dtype_from_name("int4"), DType::kInt4);
  EXPECT_EQ(dtype_from_onnx_name("FLOAT"), DType::kFloat32);
  EXPECT_EQ(dtype_from_onnx_name("DOUBLE"), DType::kFloat64);
  EXPECT_FALSE(dtype_from_onnx_name("float").has_value());
  for (int32_t i = 1; i <= 23; ++i) {
    auto t = dtype_from_onnx(i);
    ASSERT_TRUE(t.has_value()) << i;
    EXPECT_EQ(dtype_to_onnx(*t), i);
    EXPECT_EQ(dtype_from_name(dtype_name(*t)), t);
  }
}

TEST(DType, StorageBytesPackFourBitTypesAndRefuseOverflow) {
  EXPECT_EQ(dtype_storage_bytes(DType::kFloat32, 10), 40u);
  EXPECT_EQ(dtype_storage_bytes(DType::kInt4, 3), 2u);
  EXPECT_EQ(dtype_storage_bytes(DType::kUint4, 4), 2u);
  EXPECT_EQ(dtype_storage_bytes(DType::kFloat8E5M2, 7), 7u);
  EXPECT_FALSE(dtype_storage_bytes(DType::kString, 1).has_value());
  EXPECT_FALSE(dtype_storage_bytes(DType::kFloat64, std::numeric_limits<uint64_t>::max() / 4));
  EXPECT_TRUE(dtype_is_float(DType::kFloat8E4M3FN));
  EXPECT_TRUE(dtype_is_integer(DType::kInt4));
  EXPECT_TRUE(dtype_is_signed_int(DType::kInt4));
  EXPECT_FALSE(dtype_is_signed_int(DType::kUint4));
  EXPECT_FALSE(dtype_is_integer(DType::kBool));
}

TEST(Status, CarriesCodeMessageAndContext) {
  Status ok;
  EXPECT_TRUE(ok.ok());
  Status s = bad_input("node 'x': ", 3, " inputs");
  EXPECT_EQ(s.code(), StatusCode::kBadInput);
  EXPECT_EQ(s.message(), "node 'x': 3 inputs");
  EXPECT_EQ(s.with_context("m.onnx").message(), "m.onnx: node 'x': 3 inputs");
  EXPECT_EQ(s.to_string(), "bad input: node 'x': 3 inputs");
  EXPECT_EQ(static_cast<int>(StatusCode::kUnsupported), 3);
  Expected<int> e = unsupported("no");
  EXPECT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), StatusCode::kUnsupported);
  Expected<int> v = 5;
  EXPECT_EQ(*v, 5);
  Expected<int> bad_ok = Status();  // an ok Status is not a value
  EXPECT_EQ(bad_ok.status().code(), StatusCode::kInternal);
}

uint16_t ref_float16_bits(float f) { return testing::ref_half_bits(f); }

bool both_nan16(uint16_t a, uint16_t b) {
  return (a & 0x7c00) == 0x7c00 && (a & 0x3ff) && (b & 0x7c00) == 0x7c00 && (b & 0x3ff);
}

TEST(FloatBits, Float16DecodesEveryCodeExactly) {
  for (uint32_t c = 0; c < 65536; ++c) {
    const auto u = static_cast<uint16_t>(c);
    const float want = testing::ref_half_value(u);
    const float got = float16_to_float(u);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << c;
    } else {
      EXPECT_EQ(std::bit_cast<uint32_t>(got), std::bit_cast<uint32_t>(want)) << c;
    }
  }
}

TEST(FloatBits, Float16EncodeRoundsToNearestEvenLikeIeee) {
  std::vector<float> probes;
  // Every half value, the midpoints between neighbours (the ties), and one float ulp either
  // side of each midpoint.
  for (uint32_t c = 0; c < 0x7c00; ++c) {
    const float a = float16_to_float(static_cast<uint16_t>(c));
    const float b = float16_to_float(static_cast<uint16_t>(c + 1));
    const float mid = (a + b) / 2;  // exact in float
    for (float f : {a, mid, std::nextafter(mid, 0.0f), std::nextafter(mid, 1e9f)}) {
      probes.push_back(f);
      probes.push_back(-f);
    }
  }
  std::mt19937 rng(7);
  for (int i = 0; i < 2'000'000; ++i)
    probes.push_back(std::bit_cast<float>(static_cast<uint32_t>(rng())));
  for (float f : {INFINITY, -INFINITY, 65504.0f, 65519.99f, 65520.0f, 1e30f, -0.0f, 5.96e-8f,
                  2.98e-8f, 2.9802322e-08f, 1e-10f}) {
    probes.push_back(f);
  }
  size_t mismatches = 0;
  for (float f : probes) {
    const uint16_t want = ref_float16_bits(f);
    const uint16_t got = float_to_float16(f);
    if (want != got && !both_nan16(want, got)) {
      if (++mismatches < 10) ADD_FAILURE() << f << ": want " << want << " got " << got;
    }
  }
  EXPECT_EQ(mismatches, 0u);
}

// bfloat16 reference in float64: round the value to 8 significant bits, nearest even.
uint16_t ref_bfloat16_bits(float f) {
  if (std::isnan(f)) return 0x7fc0;
  if (std::isinf(f)) return f > 0 ? 0x7f80 : 0xff80;
  const double x = f;
  double r;
  if (std::fabs(x) < std::ldexp(1.0, -126)) {
    r = std::nearbyint(x / std::ldexp(1.0, -133)) * std::ldexp(1.0, -133);
  } else {
    int e;
    const double m = std::frexp(x, &e);  // x = m * 2^e, 0.5 <= |m| < 1
    r = std::ldexp(std::nearbyint(std::ldexp(m, 8)), e - 8);
  }
  if (std::fabs(r) > 3.3895313892515355e38) return std::signbit(x) ? 0xff80 : 0x7f80;
  const float rf = static_cast<float>(r);
  uint16_t out = static_cast<uint16_t>(std::bit_cast<uint32_t>(rf) >> 16);
  if (r == 0 && std::signbit(x)) out = 0x8000;
  return out;
}

TEST(FloatBits, BFloat16EncodeMatchesFloat64Reference) {
  std::mt19937 rng(11);
  size_t mismatches = 0;
  for (int i = 0; i < 3'000'000; ++i) {
    const float f = std::bit_cast<float>(static_cast<uint32_t>(rng()));
    const uint16_t want = ref_bfloat16_bits(f);
    const uint16_t got = float_to_bfloat16(f);
    const bool nan = std::isnan(f) && (got & 0x7f80) == 0x7f80 && (got & 0x7f);
    if (want != got && !nan) {
      if (++mismatches < 10) ADD_FAILURE() << f << ": want " << want << " got " << got;
    }
  }
  EXPECT_EQ(mismatches, 0u);
  // Ties: 1 + 2^-8 is halfway between 1 and 1 + 2^-7: even (1.0) wins; 1 + 3*2^-8 rounds up.
  EXPECT_EQ(float_to_bfloat16(1.0f + std::ldexp(1.0f, -8)), 0x3f80);
  EXPECT_EQ(float_to_bfloat16(1.0f + 3 * std::ldexp(1.0f, -8)), 0x3f82);
  for (uint32_t c = 0; c < 65536; ++c) {
    const auto u = static_cast<uint16_t>(c);
    EXPECT_EQ(std::bit_cast<uint32_t>(bfloat16_to_float(u)), c << 16);
  }
}

TEST(FloatBits, Float8DecodeMatchesSpecTables) {
  // Values from the ONNX spec's FP8 tables (docs/Operators.md, "Float 8 types").
  EXPECT_EQ(float8e4m3fn_to_float(0x7e), 448.0f);
  EXPECT_EQ(float8e4m3fn_to_float(0x38), 1.0f);
  EXPECT_EQ(float8e4m3fn_to_float(0x01), std::ldexp(1.0f, -9));
  EXPECT_EQ(float8e4m3fn_to_float(0x08), std::ldexp(1.0f, -6));
  EXPECT_TRUE(std::isnan(float8e4m3fn_to_float(0x7f)));
  EXPECT_TRUE(std::isnan(float8e4m3fn_to_float(0xff)));
  EXPECT_TRUE(std::signbit(float8e4m3fn_to_float(0x80)));
  EXPECT_EQ(float8e5m2_to_float(0x7b), 57344.0f);
  EXPECT_EQ(float8e5m2_to_float(0x3c), 1.0f);
  EXPECT_EQ(float8e5m2_to_float(0x01), std::ldexp(1.0f, -16));
  EXPECT_EQ(float8e5m2_to_float(0x7c), INFINITY);
  EXPECT_EQ(float8e5m2_to_float(0xfc), -INFINITY);
  EXPECT_TRUE(std::isnan(float8e5m2_to_float(0x7d)));
  EXPECT_EQ(float8e4m3fnuz_to_float(0x7f), 240.0f);
  EXPECT_EQ(float8e4m3fnuz_to_float(0x40), 1.0f);
  EXPECT_TRUE(std::isnan(float8e4m3fnuz_to_float(0x80)));
  EXPECT_EQ(float8e5m2fnuz_to_float(0x7f), 57344.0f);
  EXPECT_EQ(float8e5m2fnuz_to_float(0x40), 1.0f);
  EXPECT_TRUE(std::isnan(float8e5m2fnuz_to_float(0x80)));
  // Positive codes increase strictly up to the largest finite value.
  using Decode = float (*)(uint8_t);
  const std::pair<Decode, int> formats[] = {{float8e4m3fn_to_float, 0x7e},
                                            {float8e5m2_to_float, 0x7b},
                                            {float8e4m3fnuz_to_float, 0x7f},
                                            {float8e5m2fnuz_to_float, 0x7f}};
  for (auto [decode, last] : formats) {
    for (int c = 1; c <= last; ++c) {
      EXPECT_LT(decode(static_cast<uint8_t>(c - 1)), decode(static_cast<uint8_t>(c))) << c;
    }
  }
}

// ---- FP8 and 4-bit encoders (float8.h) ----

struct Fp8Format {
  const char* name;
  float (*decode)(uint8_t);
  uint8_t (*encode)(float, bool);
  uint8_t (*encode_double)(double, bool);
  int max_code;  // the largest finite magnitude
  bool uz;       // FNUZ: one NaN (0x80), no -0
  bool has_inf;  // E5M2
};

const Fp8Format kFp8Formats[] = {
    {"e4m3fn", float8e4m3fn_to_float, float_to_float8e4m3fn, double_to_float8e4m3fn, 0x7e, false,
     false},
    {"e4m3fnuz", float8e4m3fnuz_to_float, float_to_float8e4m3fnuz, double_to_float8e4m3fnuz, 0x7f,
     true, false},
    {"e5m2", float8e5m2_to_float, float_to_float8e5m2, double_to_float8e5m2, 0x7b, false, true},
    {"e5m2fnuz", float8e5m2fnuz_to_float, float_to_float8e5m2fnuz, double_to_float8e5m2fnuz, 0x7f,
     true, false},
};

// Independent float64 reference: the positive grid is the decoded codes 0..max plus the value one
// step past max (where rounding up would go); x is rounded to the nearest grid point, ties to the
// even code, then the ONNX saturate tables are applied to anything that lands past max (and to
// +-Inf, which lands there too).
std::vector<double> float8_grid(const Fp8Format& f) {
  std::vector<double> grid;
  for (int c = 0; c <= f.max_code; ++c) grid.push_back(f.decode(static_cast<uint8_t>(c)));
  grid.push_back(grid.back() + (grid.back() - grid[grid.size() - 2]));
  return grid;
}

uint8_t ref_float8(const Fp8Format& f, double x, bool saturate) {
  if (std::isnan(x)) return f.uz ? 0x80 : 0x7f;  // compared as "some NaN" below
  static const std::vector<double> grids[] = {
      float8_grid(kFp8Formats[0]), float8_grid(kFp8Formats[1]), float8_grid(kFp8Formats[2]),
      float8_grid(kFp8Formats[3])};
  const std::vector<double>& grid = grids[&f - kFp8Formats];
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  const double a = std::fabs(x);
  int code;
  if (a >= grid.back()) {
    code = f.max_code + 1;
  } else {
    const auto it = std::upper_bound(grid.begin(), grid.end(), a);
    const int i = static_cast<int>(it - grid.begin()) - 1;
    const double below = a - grid[static_cast<size_t>(i)];
    const double above = grid[static_cast<size_t>(i) + 1] - a;
    code = below < above ? i : (above < below ? i + 1 : (i % 2 == 0 ? i : i + 1));
  }
  if (code > f.max_code) {
    if (saturate) return static_cast<uint8_t>(sign | f.max_code);
    if (f.has_inf) return static_cast<uint8_t>(sign | (f.max_code + 1));
    return f.uz ? 0x80 : static_cast<uint8_t>(sign | 0x7f);
  }
  if (f.uz && code == 0) return 0;
  return static_cast<uint8_t>(sign | code);
}

bool is_nan_code(const Fp8Format& f, uint8_t c) { return std::isnan(f.decode(c)); }

// got == want, or both NaN codes of the format.
bool same_code(const Fp8Format& f, uint8_t got, uint8_t want) {
  return got == want || (is_nan_code(f, got) && is_nan_code(f, want));
}

TEST(Float8, EveryCodeRoundTripsDecodeEncode) {
  for (const Fp8Format& f : kFp8Formats) {
    for (int c = 0; c < 256; ++c) {
      const auto code = static_cast<uint8_t>(c);
      const float v = f.decode(code);
      for (bool sat : {true, false}) {
        const uint8_t back = f.encode(v, sat);
        if (std::isnan(v)) {
          EXPECT_TRUE(is_nan_code(f, back)) << f.name << " code " << c;
        } else if (std::isinf(v)) {  // E5M2 only: Inf saturates to max, else stays Inf
          EXPECT_EQ(back, sat ? (code & 0x80) | f.max_code : code) << f.name << " code " << c;
        } else {
          EXPECT_EQ(back, code) << f.name << " code " << c << " value " << v << " sat " << sat;
        }
      }
    }
  }
}

TEST(Float8, TiesRoundToEvenCodeAndNeighboursRoundToNearest) {
  for (const Fp8Format& f : kFp8Formats) {
    for (int c = 0; c < f.max_code; ++c) {
      const float lo = f.decode(static_cast<uint8_t>(c));
      const float hi = f.decode(static_cast<uint8_t>(c + 1));
      const float mid = (lo + hi) / 2;  // exact: at most 5 significant bits
      const int even = c % 2 == 0 ? c : c + 1;
      for (float s : {1.0f, -1.0f}) {
        const uint8_t sign = s < 0 ? 0x80 : 0;
        auto expect = [&](int code) {
          return static_cast<uint8_t>((f.uz && code == 0) ? 0 : (sign | code));
        };
        EXPECT_EQ(f.encode(s * mid, true), expect(even)) << f.name << " tie above code " << c;
        EXPECT_EQ(f.encode(s * std::nextafter(mid, 0.0f), true), expect(c)) << f.name << " " << c;
        EXPECT_EQ(f.encode(s * std::nextafter(mid, 1e9f), true), expect(c + 1))
            << f.name << " " << c;
      }
    }
  }
}

TEST(Float8, BoundariesAboveTheLargestFiniteValue) {
  const float inf = INFINITY;
  // E4M3FN, max 448 (0x7e); the next step would be 480. 464 is the tie and goes to 448 (even code);
  // anything above 464 rounds past max: NaN without saturate. ONNX Runtime's CPU encoder (and
  // onnx's own pre-ml_dtypes helper) return 448 for |x| in [480, 496) with saturate=0; the spec
  // says NaN.
  EXPECT_EQ(float_to_float8e4m3fn(448.0f, false), 0x7e);
  EXPECT_EQ(float_to_float8e4m3fn(464.0f, false), 0x7e);
  EXPECT_EQ(float_to_float8e4m3fn(-464.0f, false), 0xfe);
  EXPECT_EQ(float_to_float8e4m3fn(std::nextafter(464.0f, 1e9f), false), 0x7f);
  EXPECT_EQ(float_to_float8e4m3fn(std::nextafter(464.0f, 1e9f), true), 0x7e);
  EXPECT_EQ(float_to_float8e4m3fn(480.0f, false), 0x7f);
  EXPECT_EQ(float_to_float8e4m3fn(500.0f, false), 0x7f);
  EXPECT_EQ(float_to_float8e4m3fn(std::nextafter(496.0f, 0.0f), false), 0x7f);  // ORT: 448
  EXPECT_EQ(float_to_float8e4m3fn(-490.0f, false), 0xff);                       // ORT: -448
  EXPECT_EQ(float_to_float8e4m3fn(-500.0f, false), 0xff);
  EXPECT_EQ(float_to_float8e4m3fn(1e30f, true), 0x7e);
  EXPECT_EQ(float_to_float8e4m3fn(inf, true), 0x7e);
  EXPECT_EQ(float_to_float8e4m3fn(-inf, true), 0xfe);
  EXPECT_EQ(float_to_float8e4m3fn(inf, false), 0x7f);
  EXPECT_EQ(float_to_float8e4m3fn(-inf, false), 0xff);
  // E5M2, max 57344 (0x7b); 61440 is the tie with 65536 (Inf, even code 0x7c).
  EXPECT_EQ(float_to_float8e5m2(std::nextafter(61440.0f, 0.0f), false), 0x7b);
  EXPECT_EQ(float_to_float8e5m2(61440.0f, false), 0x7c);
  EXPECT_EQ(float_to_float8e5m2(61440.0f, true), 0x7b);
  EXPECT_EQ(float_to_float8e5m2(-61440.0f, false), 0xfc);
  EXPECT_EQ(float_to_float8e5m2(inf, true), 0x7b);
  EXPECT_EQ(float_to_float8e5m2(-inf, true), 0xfb);
  EXPECT_EQ(float_to_float8e5m2(inf, false), 0x7c);
  EXPECT_EQ(float_to_float8e5m2(-inf, false), 0xfc);
  // E4M3FNUZ, max 240 (0x7f); 248 is the tie with 256 (even): NaN (0x80) without saturate.
  EXPECT_EQ(float_to_float8e4m3fnuz(std::nextafter(248.0f, 0.0f), false), 0x7f);
  EXPECT_EQ(float_to_float8e4m3fnuz(248.0f, false), 0x80);
  EXPECT_EQ(float_to_float8e4m3fnuz(248.0f, true), 0x7f);
  EXPECT_EQ(float_to_float8e4m3fnuz(-248.0f, true), 0xff);
  EXPECT_EQ(float_to_float8e4m3fnuz(inf, true), 0x7f);  // Cast-24's corrected table: +-max
  EXPECT_EQ(float_to_float8e4m3fnuz(-inf, true), 0xff);
  EXPECT_EQ(float_to_float8e4m3fnuz(-inf, false), 0x80);
  // E5M2FNUZ, max 57344 (0x7f).
  EXPECT_EQ(float_to_float8e5m2fnuz(std::nextafter(61440.0f, 0.0f), false), 0x7f);
  EXPECT_EQ(float_to_float8e5m2fnuz(61440.0f, false), 0x80);
  EXPECT_EQ(float_to_float8e5m2fnuz(61440.0f, true), 0x7f);
  EXPECT_EQ(float_to_float8e5m2fnuz(inf, true), 0x7f);
  EXPECT_EQ(float_to_float8e5m2fnuz(inf, false), 0x80);
  // Zeros and NaN: -0 is kept where the format has one.
  EXPECT_EQ(float_to_float8e4m3fn(-0.0f), 0x80);
  EXPECT_EQ(float_to_float8e5m2(-0.0f), 0x80);
  EXPECT_EQ(float_to_float8e4m3fnuz(-0.0f), 0x00);
  EXPECT_EQ(float_to_float8e5m2fnuz(-0.0f), 0x00);
  EXPECT_EQ(float_to_float8e4m3fnuz(-1e-30f), 0x00);  // rounds to zero: no -0
  EXPECT_EQ(float_to_float8e4m3fn(-1e-30f), 0x80);
  EXPECT_EQ(float_to_float8e4m3fn(NAN) & 0x7f, 0x7f);
  EXPECT_EQ(float_to_float8e4m3fn(-NAN, false), 0xff);
  EXPECT_TRUE(std::isnan(float8e5m2_to_float(float_to_float8e5m2(NAN))));
  EXPECT_EQ(float_to_float8e4m3fnuz(NAN), 0x80);
  EXPECT_EQ(float_to_float8e5m2fnuz(-NAN, false), 0x80);
  // Subnormals: E4M3FN's smallest is 2^-9; half of it is a tie with 0 (even).
  EXPECT_EQ(float_to_float8e4m3fn(std::ldexp(1.0f, -10)), 0x00);
  EXPECT_EQ(float_to_float8e4m3fn(std::nextafter(std::ldexp(1.0f, -10), 1.0f)), 0x01);
  EXPECT_EQ(float_to_float8e4m3fn(1.5f * std::ldexp(1.0f, -9)), 0x02);
  EXPECT_EQ(float_to_float8e4m3fn(7.5f * std::ldexp(1.0f, -9)), 0x08);  // carries into normals
  EXPECT_EQ(float_to_float8e5m2(std::ldexp(1.0f, -17)), 0x00);
  EXPECT_EQ(float_to_float8e5m2(std::ldexp(3.0f, -17)), 0x02);  // tie 1.5 * 2^-16
}

TEST(Float8, SpecQuantizeLinearVectors) {
  // QuantizeLinear-19 examples (docs/Operators.md): x = [0, 1, 2, 100000, 200], scale 2.
  const float x[] = {0, 1, 2, 100000, 200};
  const float e4m3fn[] = {0, 0.5f, 1, 448, 96};
  const float e5m2[] = {0, 0.5f, 1, 49152, 96};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(float8e4m3fn_to_float(float_to_float8e4m3fn(x[i] / 2)), e4m3fn[i]) << i;
    EXPECT_EQ(float8e5m2_to_float(float_to_float8e5m2(x[i] / 2)), e5m2[i]) << i;
  }
}

TEST(Float8, MillionRandomFloatsMatchFloat64Reference) {
  std::mt19937 rng(20240521);
  std::vector<float> probes;
  for (int i = 0; i < 1'000'000; ++i) {
    const uint32_t r = static_cast<uint32_t>(rng());
    if (i % 4 == 0) {
      probes.push_back(std::bit_cast<float>(r));  // anything: NaN, Inf, float subnormals, huge
    } else {
      // Exponents from below FP8's subnormals to above its range, random significand.
      const int e = static_cast<int>(rng() % 52) - 26;  // 2^-26 .. 2^25
      const float m = 1.0f + static_cast<float>(r & 0x7fffff) / 8388608.0f;
      probes.push_back(((r >> 31) ? -1.0f : 1.0f) * std::ldexp(m, e));
    }
  }
  for (float v : {0.0f, -0.0f, INFINITY, -INFINITY, NAN, 1e-45f, -1e-45f, 3.4e38f})
    probes.push_back(v);
  for (const Fp8Format& f : kFp8Formats) {
    for (bool sat : {true, false}) {
      size_t mismatches = 0;
      for (float v : probes) {
        const uint8_t want = ref_float8(f, v, sat);
        const uint8_t got = f.encode(v, sat);
        if (!same_code(f, got, want) && ++mismatches < 10) {
          ADD_FAILURE() << f.name << " sat " << sat << " x " << v << ": want " << int(want)
                        << " got " << int(got);
        }
      }
      EXPECT_EQ(mismatches, 0u) << f.name << " sat " << sat;
    }
  }
}

TEST(Float8, DoubleInputsRoundOnce) {
  // 1.0625 is the E4M3FN tie between 1.0 and 1.125; a float64 a hair above it must round up,
  // although converting it to float32 first would land on the tie and round to 1.0.
  const double above = 1.0625 + std::ldexp(1.0, -40);
  EXPECT_EQ(float_to_float8e4m3fn(static_cast<float>(above)), 0x38);
  EXPECT_EQ(double_to_float8e4m3fn(above), 0x39);
  EXPECT_EQ(double_to_float8e4m3fn(1.0625 - std::ldexp(1.0, -40)), 0x38);
  EXPECT_EQ(double_to_float8e5m2(1e300, false), 0x7c);
  EXPECT_EQ(double_to_float8e4m3fn(-1e300, true), 0xfe);
  EXPECT_EQ(double_to_float16(1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)), 0x3c01);
  EXPECT_EQ(float_to_float16(static_cast<float>(1.0 + std::ldexp(1.0, -11) + 0x1p-40)), 0x3c00);
  EXPECT_EQ(double_to_bfloat16(1.0 + std::ldexp(1.0, -8) + std::ldexp(1.0, -40)), 0x3f81);
  EXPECT_EQ(double_to_float16(1e300), 0x7c00);
  EXPECT_EQ(double_to_float16(-1e300), 0xfc00);
  EXPECT_EQ(float_round_to_odd(1e300), std::numeric_limits<float>::max());
  EXPECT_EQ(std::bit_cast<uint32_t>(float_round_to_odd(-1e-300)), 0x80000001u);
  EXPECT_EQ(float_round_to_odd(0.75), 0.75f);
  EXPECT_TRUE(std::isnan(float_round_to_odd(NAN)));
  // Random float64 values: the FP8 result equals the float64 reference's.
  std::mt19937_64 rng(99);
  for (const Fp8Format& f : kFp8Formats) {
    size_t mismatches = 0;
    for (int i = 0; i < 200'000; ++i) {
      const double d =
          std::ldexp(static_cast<double>(rng() >> 11), -53 + static_cast<int>(rng() % 40) - 20);
      const double x = (rng() & 1) ? -d : d;
      for (bool sat : {true, false}) {
        if (!same_code(f, f.encode_double(x, sat), ref_float8(f, x, sat)) && ++mismatches < 5)
          ADD_FAILURE() << f.name << " x " << x;
      }
    }
    EXPECT_EQ(mismatches, 0u) << f.name;
  }
}

TEST(Int4, EncodeRoundsToEvenThenSaturatesOrWraps) {
  for (int k = -80; k <= 80; ++k) {
    const double x = k / 4.0;  // quarters: exact ties at .5
    const double r = std::nearbyint(x);
    const int sat_s = static_cast<int>(std::clamp(r, -8.0, 7.0));
    const int sat_u = static_cast<int>(std::clamp(r, 0.0, 15.0));
    EXPECT_EQ(int4_to_int(double_to_int4(x, true)), sat_s) << x;
    EXPECT_EQ(uint4_to_int(double_to_uint4(x, true)), sat_u) << x;
    EXPECT_EQ(double_to_int4(x, false), static_cast<int>(r) & 0xf) << x;
    EXPECT_EQ(double_to_uint4(x, false), static_cast<int>(r) & 0xf) << x;
  }
  EXPECT_EQ(float_to_int4(2.5f, true), 2);
  EXPECT_EQ(float_to_int4(-2.5f, true), 0xe);  // -2
  EXPECT_EQ(float_to_int4(3.5f, true), 4);
  EXPECT_EQ(float_to_int4(15.0f, false), 0xf);  // -1 after truncation
  EXPECT_EQ(int4_to_int(float_to_int4(15.0f, false)), -1);
  EXPECT_EQ(float_to_uint4(-1.0f, false), 0xf);
  EXPECT_EQ(float_to_int4(NAN, true), 0);
  EXPECT_EQ(float_to_uint4(INFINITY, true), 15);
  EXPECT_EQ(int4_to_int(float_to_int4(-INFINITY, true)), -8);
  EXPECT_EQ(float_to_int4(INFINITY, false), 0);
  EXPECT_EQ(double_to_uint4(1e30, false), 0);
}

TEST(Int4, PacksTwoPerByteLowNibbleFirst) {
  for (int a = 0; a < 16; ++a) {
    for (int b = 0; b < 16; ++b) {
      const uint8_t packed[1] = {pack_4bit(static_cast<uint8_t>(a), static_cast<uint8_t>(b))};
      EXPECT_EQ(packed[0], a | (b << 4));
      EXPECT_EQ(get_4bit(packed, 0), a);
      EXPECT_EQ(get_4bit(packed, 1), b);
    }
  }
  uint8_t buf[2] = {0, 0};
  set_4bit(buf, 0, 0x3);
  set_4bit(buf, 1, 0xa);
  set_4bit(buf, 2, 0xf);
  EXPECT_EQ(buf[0], 0xa3);
  EXPECT_EQ(buf[1], 0x0f);
  set_4bit(buf, 0, 0x5);
  EXPECT_EQ(buf[0], 0xa5);
  EXPECT_EQ(int4_to_int(0x8), -8);
  EXPECT_EQ(int4_to_int(0x7), 7);
  EXPECT_EQ(uint4_to_int(0xf), 15);
}

}  // namespace
}  // namespace mixq
