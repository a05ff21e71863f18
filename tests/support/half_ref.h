// IEEE binary16 (float16) references for tests: the compiler's _Float16 where it has one, exact
// float64 arithmetic where it has not (clang before 15 on x86 refuses _Float16, and its __fp16
// conversion from double calls libgcc's helper with a mismatched ABI and returns garbage).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace mixq::testing {

#if defined(__clang__) && __clang_major__ < 15
#define MIXQ_TEST_HALF_ARITHMETIC 1
#endif

// x rounded once to float16 (nearest, ties to even), as bits.
inline uint16_t ref_half_bits(double x) {
#ifndef MIXQ_TEST_HALF_ARITHMETIC
  const _Float16 h = static_cast<_Float16>(x);
  uint16_t u;
  std::memcpy(&u, &h, 2);
  return u;
#else
  const uint16_t sign = std::signbit(x) ? 0x8000 : 0;
  if (std::isnan(x)) return sign | 0x7e00;
  const double a = std::fabs(x);
  if (a >= 65520.0) return sign | 0x7c00;  // at or past the midpoint above 65504: infinity
  int e = 0;
  std::frexp(a, &e);                                   // a = m * 2^e, m in [0.5, 1)
  const int q = std::max(e - 11, -24);                 // the quantum: 11 significant bits, or 2^-24
  const double n = std::nearbyint(std::ldexp(a, -q));  // exact scaling, one rounding
  const double v = std::ldexp(n, q);
  if (v == 0) return sign;
  int ev = 0;
  const double mv = std::frexp(v, &ev);
  if (ev - 1 < -14) return sign | static_cast<uint16_t>(std::ldexp(v, 24));  // subnormal
  return sign | static_cast<uint16_t>((ev - 1 + 15) << 10) |
         static_cast<uint16_t>((std::ldexp(mv, 1) - 1) * 1024);
#endif
}

// The value of float16 bits (exact in float).
inline float ref_half_value(uint16_t u) {
#ifndef MIXQ_TEST_HALF_ARITHMETIC
  _Float16 h;
  std::memcpy(&h, &u, 2);
  return static_cast<float>(h);
#else
  const int e = (u >> 10) & 31;
  const int m = u & 1023;
  double v = 0;
  if (e == 31) {
    v = m != 0 ? std::numeric_limits<double>::quiet_NaN() : std::numeric_limits<double>::infinity();
  } else if (e == 0) {
    v = std::ldexp(m, -24);
  } else {
    v = std::ldexp(1024 + m, e - 25);
  }
  return static_cast<float>((u & 0x8000) != 0 ? -v : v);
#endif
}

}  // namespace mixq::testing
