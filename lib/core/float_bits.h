// Scalar conversions between float32 and the 16-bit and 8-bit float formats.
//
// Decoding is exact. Encoding float32 -> float16 / bfloat16 rounds to nearest even, keeps NaN
// (quiet) and -0, and overflows to +-Inf, as IEEE 754 and the ONNX Cast spec require; float64
// sources are rounded once, through float_round_to_odd. The FP8 and 4-bit encoders with the ONNX
// `saturate` rules are in float8.h.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace mixq {

inline float float16_to_float(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  const uint32_t exp = (h >> 10) & 0x1fu;
  const uint32_t man = h & 0x3ffu;
  uint32_t bits;
  if (exp == 0) {
    if (man == 0) {
      bits = sign;
    } else {  // subnormal: value = man * 2^-24
      const float v = std::ldexp(static_cast<float>(man), -24);
      return sign ? -v : v;
    }
  } else if (exp == 0x1f) {
    bits = sign | 0x7f800000u | (man << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (man << 13);
  }
  return std::bit_cast<float>(bits);
}

inline uint16_t float_to_float16(float f) {
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const uint16_t sign = static_cast<uint16_t>((x >> 16) & 0x8000u);
  const uint32_t absx = x & 0x7fffffffu;
  if (absx > 0x7f800000u) return static_cast<uint16_t>(sign | 0x7e00u | ((absx >> 13) & 0x3ffu));
  if (absx >= 0x477ff000u) return static_cast<uint16_t>(sign | 0x7c00u);  // rounds to >= 65520
  if (absx < 0x38800000u) {
    // Result is subnormal or zero: value / 2^-24 rounded to nearest even.
    const float a = std::bit_cast<float>(absx);
    const float scaled = a * 16777216.0f;    // exact: a < 2^-14, scaled < 2^10
    const float r = std::nearbyint(scaled);  // default rounding mode is nearest-even
    return static_cast<uint16_t>(sign | static_cast<uint16_t>(r));
  }
  // Normal: rebias exponent, round mantissa from 23 to 10 bits, nearest even.
  uint32_t m = absx - 0x38000000u;  // exponent bias 127 -> 15
  const uint32_t lsb = (m >> 13) & 1u;
  m += 0xfffu + lsb;
  return static_cast<uint16_t>(sign | static_cast<uint16_t>(m >> 13));
}

// float64 -> float32 rounded to odd: the float next to d toward zero, with its last significand
// bit set when the conversion is inexact. Rounding that float once more, to nearest even, into a
// format with at least two fewer significand bits (float16, bfloat16, FP8) gives the correctly
// rounded value of d itself: no double-rounding error. NaN stays NaN; +-Inf stay; finite values
// never become Inf (they stop at +-FLT_MAX, which every narrower format then treats as overflow).
inline float float_round_to_odd(double d) {
  const float f = static_cast<float>(d);
  if (static_cast<double>(f) == d || std::isnan(d)) return f;
  uint32_t bits = std::bit_cast<uint32_t>(f);
  // Rounded away from zero (including to Inf): step one ulp back toward zero.
  if (std::fabs(static_cast<double>(f)) > std::fabs(d)) bits -= 1u;
  return std::bit_cast<float>(bits | 1u);
}

inline float bfloat16_to_float(uint16_t b) {
  return std::bit_cast<float>(static_cast<uint32_t>(b) << 16);
}

inline uint16_t float_to_bfloat16(float f) {
  uint32_t x = std::bit_cast<uint32_t>(f);
  if ((x & 0x7fffffffu) > 0x7f800000u)
    return static_cast<uint16_t>((x >> 16) | 0x40u);  // quiet NaN
  const uint32_t lsb = (x >> 16) & 1u;
  x += 0x7fffu + lsb;
  return static_cast<uint16_t>(x >> 16);
}

// float64 -> float16 / bfloat16, rounded once (nearest even) from the float64 value.
inline uint16_t double_to_float16(double d) { return float_to_float16(float_round_to_odd(d)); }
inline uint16_t double_to_bfloat16(double d) { return float_to_bfloat16(float_round_to_odd(d)); }

// FP8 decoders. E4M3FN: bias 7, no Inf, NaN = S.1111.111. E4M3FNUZ: bias 8, NaN = 0x80 only,
// no -0. E5M2: bias 15, IEEE-like Inf/NaN. E5M2FNUZ: bias 16, NaN = 0x80 only.
inline float float8_decode(uint8_t v, int exp_bits, int bias, bool fn, bool uz) {
  const int man_bits = 7 - exp_bits;
  if (uz && v == 0x80) return std::nanf("");
  const bool neg = (v & 0x80) != 0;
  const int e = (v >> man_bits) & ((1 << exp_bits) - 1);
  const int m = v & ((1 << man_bits) - 1);
  const int emax = (1 << exp_bits) - 1;
  float r;
  if (!fn && !uz && e == emax) {  // E5M2 IEEE specials
    r = m == 0 ? INFINITY : std::nanf("");
  } else if (fn && !uz && e == emax && m == (1 << man_bits) - 1) {
    r = std::nanf("");
  } else if (e == 0) {
    r = std::ldexp(static_cast<float>(m), 1 - bias - man_bits);
  } else {
    r = std::ldexp(static_cast<float>(m + (1 << man_bits)), e - bias - man_bits);
  }
  return neg ? -r : r;
}
inline float float8e4m3fn_to_float(uint8_t v) { return float8_decode(v, 4, 7, true, false); }
inline float float8e4m3fnuz_to_float(uint8_t v) { return float8_decode(v, 4, 8, true, true); }
inline float float8e5m2_to_float(uint8_t v) { return float8_decode(v, 5, 15, false, false); }
inline float float8e5m2fnuz_to_float(uint8_t v) { return float8_decode(v, 5, 16, true, true); }

}  // namespace mixq
