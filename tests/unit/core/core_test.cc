// lib/core: dtypes, Status/Expected, and the float16/bfloat16/float8 bit conversions, checked
// against independent references (the compiler's IEEE _Float16, float64 arithmetic, and the
// FP8 values tabulated in the ONNX spec).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>

#include "mixq/core/dtype.h"
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

uint16_t ref_float16_bits(float f) {
  const _Float16 h = static_cast<_Float16>(f);
  uint16_t u;
  std::memcpy(&u, &h, 2);
  return u;
}

bool both_nan16(uint16_t a, uint16_t b) {
  return (a & 0x7c00) == 0x7c00 && (a & 0x3ff) && (b & 0x7c00) == 0x7c00 && (b & 0x3ff);
}

TEST(FloatBits, Float16DecodesEveryCodeExactly) {
  for (uint32_t c = 0; c < 65536; ++c) {
    _Float16 h;
    const auto u = static_cast<uint16_t>(c);
    std::memcpy(&h, &u, 2);
    const float want = static_cast<float>(h);
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

}  // namespace
}  // namespace mixq
