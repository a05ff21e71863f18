// The 8-bit float encoders and decoders (lib/core/float8.h, float_bits.h) against an
// independent reference written here from the format definitions (ONNX
// docs/docsgen/source/technical/float8.md): every code's value from its bit fields, and rounding
// as a nearest-code search in float64 with ties to the even code. Every one of the 256 codes of
// each format round-trips; a million seeded float32 values (normals, FP8 subnormals, exact ties,
// out of range, +-Inf, NaN, -0) encode bit for bit as the reference says, with and without
// saturation; and the ONNX spec's QuantizeLinear vectors hold.
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "mixq/core/float8.h"
#include "mixq/core/float_bits.h"

namespace mixq {
namespace {

struct Format {
  const char* name;
  int exp_bits, man_bits, bias;
  bool fn;  // no infinities: E4M3FN's S.1111.111 is NaN; FNUZ: 0x80 is the only NaN
  bool uz;  // FNUZ: no -0, single NaN 0x80
  uint8_t (*encode)(float, bool);
  float (*decode)(uint8_t);
};

const Format kFormats[] = {
    {"E4M3FN", 4, 3, 7, true, false, float_to_float8e4m3fn, float8e4m3fn_to_float},
    {"E4M3FNUZ", 4, 3, 8, true, true, float_to_float8e4m3fnuz, float8e4m3fnuz_to_float},
    {"E5M2", 5, 2, 15, false, false, float_to_float8e5m2, float8e5m2_to_float},
    {"E5M2FNUZ", 5, 2, 16, true, true, float_to_float8e5m2fnuz, float8e5m2fnuz_to_float},
};

const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

// The value of a code from its fields: NaN and Inf per the format's rules, else
// (-1)^s * 2^(e - bias) * (1 + m / 2^M) for e > 0 and 2^(1 - bias) * m / 2^M for e == 0.
double reference_value(const Format& f, uint8_t code) {
  const int s = code >> 7;
  const int e = (code >> f.man_bits) & ((1 << f.exp_bits) - 1);
  const int m = code & ((1 << f.man_bits) - 1);
  const int e_max = (1 << f.exp_bits) - 1;
  if (f.uz) {
    if (code == 0x80) return kNaN;
  } else if (f.fn) {
    if (e == e_max && m == (1 << f.man_bits) - 1) return kNaN;
  } else if (e == e_max) {
    if (m != 0) return kNaN;
    return s ? -kInf : kInf;
  }
  const double mag = e == 0 ? std::ldexp(m, 1 - f.bias - f.man_bits)
                            : std::ldexp((1 << f.man_bits) + m, e - f.bias - f.man_bits);
  return s ? -mag : mag;
}

// Largest finite magnitude's code (positive), and the step above it: the grid continued.
uint8_t max_code(const Format& f) {
  uint8_t best = 0;
  for (int c = 0; c < 128; ++c) {
    const double v = reference_value(f, static_cast<uint8_t>(c));
    if (std::isfinite(v) && v > reference_value(f, best)) best = static_cast<uint8_t>(c);
  }
  return best;
}

// Expected code of x per the spec: NaN -> the format's NaN; otherwise the nearest value of the
// grid continued one step past the largest finite value (ties to the even code); landing on
// that extra step, or |x| = Inf, is overflow: +-max with saturate, else NaN (FN formats) or
// +-Inf (E5M2). FNUZ gives +0 for results that are zero.
bool is_reference_nan(const Format& f, uint8_t code) {
  return std::isnan(reference_value(f, code));
}

// The magnitudes of codes 0..max_code and the continued step after it, increasing with the code.
std::vector<double> positive_grid(const Format& f) {
  const uint8_t mc = max_code(f);
  std::vector<double> g;
  for (int c = 0; c <= mc; ++c) g.push_back(reference_value(f, static_cast<uint8_t>(c)));
  g.push_back(g[mc] + (g[mc] - g[mc - 1]));
  return g;
}

uint8_t reference_encode(const Format& f, const std::vector<double>& grid, double x,
                         bool saturate) {
  const auto mc = static_cast<uint8_t>(grid.size() - 2);
  const uint8_t sign = std::signbit(x) ? 0x80 : 0;
  const double a = std::fabs(x);
  // At or past the continued step (and Inf) is overflow; below it, the two grid neighbours.
  bool overflow = a >= grid.back();
  uint8_t code = 0;
  if (!overflow) {
    const size_t hi = static_cast<size_t>(std::upper_bound(grid.begin(), grid.end(), a) -
                                          grid.begin());  // grid[hi - 1] <= a < grid[hi]
    const size_t lo = hi - 1;
    const double d_lo = a - grid[lo], d_hi = grid[hi] - a;
    code = static_cast<uint8_t>(d_lo < d_hi || (d_lo == d_hi && lo % 2 == 0) ? lo : hi);
    overflow = code == mc + 1;
  }
  if (overflow) {
    if (saturate) return static_cast<uint8_t>(sign | mc);
    if (f.uz) return 0x80;
    if (f.fn) return static_cast<uint8_t>(sign | 0x7f);
    return static_cast<uint8_t>(sign | (mc + 1));  // E5M2: Inf is the code after max
  }
  if (f.uz && code == 0) return 0;
  return static_cast<uint8_t>(sign | code);
}

TEST(NumberFormats, EveryCodeDecodesAsItsFieldsSayAndRoundTrips) {
  for (const auto& f : kFormats) {
    for (int c = 0; c < 256; ++c) {
      const auto code = static_cast<uint8_t>(c);
      const double want = reference_value(f, code);
      const float got = f.decode(code);
      if (std::isnan(want)) {
        EXPECT_TRUE(std::isnan(got)) << f.name << " code " << c;
        EXPECT_TRUE(is_reference_nan(f, f.encode(got, true))) << f.name << " NaN stays NaN";
        continue;
      }
      EXPECT_EQ(static_cast<double>(got), want) << f.name << " code " << c;
      EXPECT_EQ(std::signbit(got), std::signbit(want)) << f.name << " code " << c << " sign";
      if (std::isinf(want)) {
        EXPECT_EQ(f.encode(got, false), code) << f.name << " Inf without saturation";
        continue;
      }
      // FNUZ has no -0: 0x80 is NaN, so every other code round-trips exactly.
      EXPECT_EQ(f.encode(got, true), code) << f.name << " code " << c;
      EXPECT_EQ(f.encode(got, false), code) << f.name << " code " << c;
    }
  }
}

// A million float32 values that hit every region: uniform bits, values near the FP8 grid
// (including exact midpoints between neighbouring codes), subnormals, out of range, specials.
std::vector<float> test_values(const Format& f, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<float> v = {0.0f,
                          -0.0f,
                          std::numeric_limits<float>::infinity(),
                          -std::numeric_limits<float>::infinity(),
                          std::numeric_limits<float>::quiet_NaN(),
                          -std::numeric_limits<float>::quiet_NaN(),
                          std::numeric_limits<float>::denorm_min(),
                          std::numeric_limits<float>::max()};
  std::vector<double> grid;
  for (int c = 0; c < 128; ++c) {
    const double x = reference_value(f, static_cast<uint8_t>(c));
    if (std::isfinite(x)) grid.push_back(x);
  }
  std::sort(grid.begin(), grid.end());
  const double top = grid.back() + (grid.back() - grid[grid.size() - 2]);
  grid.push_back(top);
  std::uniform_int_distribution<uint32_t> bits;
  std::uniform_int_distribution<size_t> pick(0, grid.size() - 2);
  std::uniform_real_distribution<double> frac(-0.25, 1.25);
  while (v.size() < 1000000) {
    switch (v.size() % 4) {
      case 0:  // any float32 bit pattern (mostly huge or tiny values, some NaN)
        v.push_back(std::bit_cast<float>(bits(rng)));
        break;
      case 1: {  // exact midpoint between neighbouring grid values (a tie), either sign
        const size_t i = pick(rng);
        const double mid = (grid[i] + grid[i + 1]) / 2;
        v.push_back(static_cast<float>((bits(rng) & 1) ? -mid : mid));
        break;
      }
      case 2: {  // anywhere between (and a little beyond) neighbouring grid values
        const size_t i = pick(rng);
        const double x = grid[i] + frac(rng) * (grid[i + 1] - grid[i]);
        v.push_back(static_cast<float>((bits(rng) & 1) ? -x : x));
        break;
      }
      default: {  // log-uniform magnitudes from far below the subnormals to far above max
        std::uniform_real_distribution<double> e(-30.0, 20.0);
        const double x = std::exp2(e(rng));
        v.push_back(static_cast<float>((bits(rng) & 1) ? -x : x));
      }
    }
  }
  return v;
}

TEST(NumberFormats, MillionValuesEncodeAsTheReferenceSays) {
  for (const auto& f : kFormats) {
    const auto values = test_values(f, 20261122);
    const auto grid = positive_grid(f);
    int64_t mismatches = 0;
    for (bool saturate : {true, false}) {
      for (float x : values) {
        const uint8_t got = f.encode(x, saturate);
        if (std::isnan(x)) {
          if (!is_reference_nan(f, got) && ++mismatches <= 5) {
            ADD_FAILURE() << f.name << ": NaN encoded as " << int(got);
          }
          continue;
        }
        const uint8_t want = reference_encode(f, grid, x, saturate);
        const bool nan_ok = is_reference_nan(f, want) && is_reference_nan(f, got);
        if (got != want && !nan_ok && ++mismatches <= 5) {
          ADD_FAILURE() << f.name << (saturate ? " saturate" : " no saturate") << ": "
                        << std::hexfloat << x << " -> " << std::dec << int(got) << ", want "
                        << int(want);
        }
      }
    }
    EXPECT_EQ(mismatches, 0) << f.name;
  }
}

// The bulk (vectorised) conversions give the scalar functions' codes for every test value.
TEST(NumberFormats, BulkConversionsMatchScalar) {
  struct Bulk {
    const Format* f;
    void (*encode)(const float*, uint8_t*, size_t, bool);
    void (*decode)(const uint8_t*, float*, size_t);
  };
  const Bulk bulks[] = {{&kFormats[0], floats_to_float8e4m3fn, float8e4m3fn_to_floats},
                        {&kFormats[2], floats_to_float8e5m2, float8e5m2_to_floats}};
  for (const auto& b : bulks) {
    const auto values = test_values(*b.f, 99);
    std::vector<uint8_t> codes(values.size());
    for (bool saturate : {true, false}) {
      // An odd length and an offset start, so no lane count divides it.
      b.encode(values.data() + 1, codes.data() + 1, values.size() - 2, saturate);
      int64_t bad = 0;
      for (size_t i = 1; i + 1 < values.size(); ++i) {
        bad += codes[i] != b.f->encode(values[i], saturate);
      }
      EXPECT_EQ(bad, 0) << b.f->name << " saturate " << saturate;
    }
    std::vector<uint8_t> all(256);
    for (int c = 0; c < 256; ++c) all[size_t(c)] = static_cast<uint8_t>(c);
    std::vector<float> decoded(256);
    b.decode(all.data(), decoded.data(), all.size());
    for (int c = 0; c < 256; ++c) {
      const float want = b.f->decode(static_cast<uint8_t>(c));
      EXPECT_EQ(std::bit_cast<uint32_t>(decoded[size_t(c)]), std::bit_cast<uint32_t>(want))
          << b.f->name << " code " << c;
    }
  }
}

// ONNX QuantizeLinear spec vectors (Operators.md, QuantizeLinear-19 examples): x / 2 rounded.
TEST(NumberFormats, OnnxSpecQuantizeLinearVectors) {
  const float x[] = {0, 1, 2, 100000, 200};
  const float e4m3[] = {0, 0.5f, 1, 448, 96};
  const float e5m2[] = {0, 0.5f, 1, 49152, 96};
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(float8e4m3fn_to_float(float_to_float8e4m3fn(x[i] / 2)), e4m3[i]) << x[i];
    EXPECT_EQ(float8e5m2_to_float(float_to_float8e5m2(x[i] / 2)), e5m2[i]) << x[i];
  }
  // Saturation edges: E4M3FN 464 is the tie between 448 and the continued step 480 and rounds
  // to 448 (even code); just above it overflows. E5M2 61440 is the tie between 57344 and 65536.
  EXPECT_EQ(float_to_float8e4m3fn(464.0f, false), 0x7e);
  EXPECT_EQ(float_to_float8e4m3fn(std::nextafter(464.0f, 1e9f), false), 0x7f);  // NaN
  EXPECT_EQ(float_to_float8e4m3fn(std::nextafter(464.0f, 1e9f), true), 0x7e);
  EXPECT_EQ(float_to_float8e5m2(61440.0f, false), 0x7c);                        // +Inf
  EXPECT_EQ(float_to_float8e5m2(std::nextafter(61440.0f, 0.0f), false), 0x7b);  // 57344
  EXPECT_EQ(float_to_float8e5m2(-std::numeric_limits<float>::infinity(), true), 0xfb);
  EXPECT_EQ(float_to_float8e4m3fn(-0.0f), 0x80);  // -0 kept
  EXPECT_EQ(float_to_float8e4m3fnuz(-0.0f), 0x00);
}

// Where ONNX Runtime 1.30 departs from the spec (found and pinned against ORT itself in
// tests/oracle/formats_oracle_test.cc), mixq follows the spec: without saturation, E4M3FN values
// that round past 448 are NaN (ORT: +-448 for 480 <= |x| < 496) and E5M2 values that round past
// 57344 are +-Inf (ORT: NaN for 61440 <= |x| < 65536).
TEST(NumberFormats, SpecWinsWhereOnnxRuntimeDeparts) {
  for (float x : {480.0f, 485.5f, std::nextafter(496.0f, 0.0f)}) {
    EXPECT_EQ(float_to_float8e4m3fn(x, false), 0x7f) << x;   // NaN
    EXPECT_EQ(float_to_float8e4m3fn(-x, false), 0xff) << x;  // NaN, sign kept
    EXPECT_EQ(float_to_float8e4m3fn(x, true), 0x7e) << x;    // saturate: 448
  }
  for (float x : {61440.0f, 63000.0f, std::nextafter(65536.0f, 0.0f)}) {
    EXPECT_EQ(float_to_float8e5m2(x, false), 0x7c) << x;   // +Inf
    EXPECT_EQ(float_to_float8e5m2(-x, false), 0xfc) << x;  // -Inf
    EXPECT_EQ(float_to_float8e5m2(x, true), 0x7b) << x;    // saturate: 57344
  }
}

// The integer encoders against a rounding written from its definition: the nearest integer,
// and at an exact half the even one; then the range rules. A million seeded values: halves,
// values near them, the range ends, out of range, +-Inf and NaN.
double reference_round(double x) {
  const double lo = std::floor(x), frac = x - lo;
  if (frac < 0.5) return lo;
  if (frac > 0.5) return lo + 1;
  return std::fmod(lo, 2.0) == 0 ? lo : lo + 1;
}

TEST(NumberFormats, IntegerEncodersRoundHalfToEvenAndFollowTheRangeRules) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> k(-300, 300);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> xs = {kNaN, kInf, -kInf, -0.0, 0.0, 127.5, -128.5, 255.5, 7.5, -8.5, 15.5};
  while (xs.size() < 1000000) {
    const double base = k(rng) + 0.5;
    xs.push_back(xs.size() % 2 ? base : base + u(rng) * 0.75);  // exact halves, and near them
  }
  int64_t bad = 0;
  for (double x : xs) {
    const bool nan = std::isnan(x);
    const double r = nan ? 0 : (std::isinf(x) ? x : reference_round(x));
    const auto clamp = [&](double lo, double hi) {
      return nan ? 0.0 : std::min(hi, std::max(lo, r));
    };
    bad += double_to_int8(x) != static_cast<int8_t>(clamp(-128, 127));
    bad += double_to_uint8(x) != static_cast<uint8_t>(clamp(0, 255));
    bad += double_to_int4(x, true) != (static_cast<int>(clamp(-8, 7)) & 0xf);
    bad += double_to_uint4(x, true) != static_cast<int>(clamp(0, 15));
    // Without saturation (Cast to INT4/UINT4): the low four bits of the rounded integer;
    // +-Inf and NaN give 0.
    const int wrapped = nan || std::isinf(x) ? 0 : static_cast<int>(static_cast<int64_t>(r) & 0xf);
    bad += double_to_int4(x, false) != wrapped;
    bad += double_to_uint4(x, false) != wrapped;
  }
  EXPECT_EQ(bad, 0);
  // Spot checks that say the rules in numbers.
  EXPECT_EQ(double_to_int8(2.5), 2);
  EXPECT_EQ(double_to_int8(-2.5), -2);
  EXPECT_EQ(double_to_int8(3.5), 4);
  EXPECT_EQ(double_to_int8(127.5), 127);
  EXPECT_EQ(double_to_int8(-1e9), -128);
  EXPECT_EQ(double_to_uint8(-3.0), 0);
  EXPECT_EQ(double_to_int4(8.0, false), 0x8);  // 8 wraps to -8
  EXPECT_EQ(double_to_int4(-9.0, true), 0x8);  // saturates to -8
}

// FLOAT16 and BFLOAT16: every float32 whose value the 16-bit format holds round-trips, and
// rounding is to nearest even, checked against float64 arithmetic on the two neighbours.
TEST(NumberFormats, Float16AndBFloat16RoundToNearestEven) {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f16 = float16_to_float(static_cast<uint16_t>(h));
    if (!std::isnan(f16)) {
      EXPECT_EQ(float_to_float16(f16), h) << h;
    }
    const float bf = bfloat16_to_float(static_cast<uint16_t>(h));
    if (!std::isnan(bf)) {
      EXPECT_EQ(float_to_bfloat16(bf), h) << h;
    }
  }
  std::mt19937 rng(7);
  std::uniform_int_distribution<uint32_t> bits;
  int64_t bad = 0;
  for (int i = 0; i < 1000000; ++i) {
    const float x = std::bit_cast<float>(bits(rng));
    if (std::isnan(x)) {
      bad += !std::isnan(bfloat16_to_float(float_to_bfloat16(x)));
      continue;
    }
    if (std::isinf(x)) {
      bad += float_to_bfloat16(x) != static_cast<uint16_t>(std::bit_cast<uint32_t>(x) >> 16);
      continue;
    }
    // bfloat16: the two neighbours are the truncation and the next code up.
    const uint32_t u = std::bit_cast<uint32_t>(x);
    const uint16_t lo = static_cast<uint16_t>(u >> 16);
    const double vlo = bfloat16_to_float(lo);
    const double vhi = bfloat16_to_float(static_cast<uint16_t>(lo + 1));
    const double d_lo = std::fabs(double(x) - vlo), d_hi = std::fabs(vhi - double(x));
    const uint16_t want = d_lo < d_hi || (d_lo == d_hi && (lo & 1) == 0) ? lo : lo + 1;
    // (Rounding up into Inf is left out: the neighbour "above" is then not a value.)
    if (std::isfinite(vhi)) bad += float_to_bfloat16(x) != want;
  }
  EXPECT_EQ(bad, 0);
}

}  // namespace
}  // namespace mixq
