// Encoders for the 8-bit float and 4-bit integer formats, with the ONNX `saturate` rules.
//
// FP8 (ONNX Cast-19/21, QuantizeLinear-19/21; docs/docsgen/source/technical/float8.md): round to
// nearest even over the format's grid. With saturate (the default), values whose rounding lies
// beyond the largest finite value, and +-Inf, become +-max. Without it they become NaN
// (E4M3FN: sign kept; FNUZ: the single NaN 0x80) or +-Inf (E5M2). "Beyond" is decided after
// rounding: a value that rounds down to max stays max (E4M3FN: x <= 464 -> 448, since 464 is the
// tie between 448 and the would-be 480, and 448 has the even code). NaN stays NaN (E4M3FN and
// E5M2: S.1111111; FNUZ: 0x80). -0 is kept by E4M3FN and E5M2; the FNUZ formats have no -0 and
// give +0 for -0 and for negative values that round to zero.
//
// Cast-19/21's tables listed Inf -> NaN under saturate for the FNUZ formats; ONNX corrected the
// table to +-max in Cast-24 (onnx/onnx#7130, issue #6220), which is what the ONNX reference
// implementation and ONNX Runtime always did. mixq gives +-max for every opset.
//
// 4-bit (docs/docsgen/source/technical/int4.md): round to nearest even, then either clamp to the
// type's range (saturate: QuantizeLinear) or keep the low four bits, two's complement (Cast:
// "rounding ... and truncating"). Two elements per byte, the first in the low nibble.
#pragma once

#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "mixq/core/float_bits.h"

namespace mixq {

namespace float8_detail {

// One FP8 format: exponent bits, significand bits, exponent bias, the code of the largest finite
// magnitude, whether it is an FNUZ format (one NaN 0x80, no -0) and whether it has IEEE Inf.
template <int kExpBits, int kManBits, int kBias, uint32_t kMaxCode, bool kUz, bool kHasInf>
inline uint8_t encode(float f, bool saturate) {
  static_assert(kExpBits + kManBits == 7);
  const uint32_t x = std::bit_cast<uint32_t>(f);
  const auto sign = static_cast<uint32_t>((x >> 24) & 0x80u);
  const uint32_t a = x & 0x7fffffffu;
  if (a > 0x7f800000u) return kUz ? uint8_t{0x80} : static_cast<uint8_t>(sign | 0x7fu);
  // The magnitude code: positive codes are contiguous and increase with the value, so rounding to
  // the grid is rounding to an integer code; codes past kMaxCode mean overflow.
  uint32_t code;
  if (a == 0x7f800000u) {
    code = kMaxCode + 1;
  } else {
    constexpr int kMinExp = 1 - kBias;  // exponent of the smallest normal value
    constexpr uint32_t kMinNormal = static_cast<uint32_t>(127 + kMinExp) << 23;
    if (a < kMinNormal) {
      // Zero or subnormal: the value in units of the smallest subnormal (exact: a power-of-two
      // scaling to below 2^kManBits), rounded to nearest even. A result of 2^kManBits is the
      // smallest normal's code, as it should be.
      constexpr float kUnits =
          std::bit_cast<float>(static_cast<uint32_t>(127 + kManBits - kMinExp) << 23);
      code = static_cast<uint32_t>(std::nearbyint(std::bit_cast<float>(a) * kUnits));
    } else {
      // Normal: rebias the exponent and round the significand from 23 bits to kManBits, nearest
      // even; a carry moves into the exponent, as it should.
      constexpr int kShift = 23 - kManBits;
      uint32_t m = a - (static_cast<uint32_t>(127 - kBias) << 23);
      m += (1u << (kShift - 1)) - 1u + ((m >> kShift) & 1u);
      code = m >> kShift;
    }
  }
  if (code > kMaxCode) {
    if (saturate) return static_cast<uint8_t>(sign | kMaxCode);
    if constexpr (kHasInf) return static_cast<uint8_t>(sign | (kMaxCode + 1));
    return kUz ? uint8_t{0x80} : static_cast<uint8_t>(sign | 0x7fu);
  }
  if (kUz && code == 0) return 0;
  return static_cast<uint8_t>(sign | code);
}

}  // namespace float8_detail

// float32 -> FP8 code. Exact for every value the format holds; see the file comment for rounding,
// saturation and the special values.
inline uint8_t float_to_float8e4m3fn(float f, bool saturate = true) {
  return float8_detail::encode<4, 3, 7, 0x7e, false, false>(f, saturate);
}
inline uint8_t float_to_float8e4m3fnuz(float f, bool saturate = true) {
  return float8_detail::encode<4, 3, 8, 0x7f, true, false>(f, saturate);
}
inline uint8_t float_to_float8e5m2(float f, bool saturate = true) {
  return float8_detail::encode<5, 2, 15, 0x7b, false, true>(f, saturate);
}
inline uint8_t float_to_float8e5m2fnuz(float f, bool saturate = true) {
  return float8_detail::encode<5, 2, 16, 0x7f, true, false>(f, saturate);
}

// float64 -> FP8, rounded once from the float64 value (through float_round_to_odd).
inline uint8_t double_to_float8e4m3fn(double d, bool saturate = true) {
  return float_to_float8e4m3fn(float_round_to_odd(d), saturate);
}
inline uint8_t double_to_float8e4m3fnuz(double d, bool saturate = true) {
  return float_to_float8e4m3fnuz(float_round_to_odd(d), saturate);
}
inline uint8_t double_to_float8e5m2(double d, bool saturate = true) {
  return float_to_float8e5m2(float_round_to_odd(d), saturate);
}
inline uint8_t double_to_float8e5m2fnuz(double d, bool saturate = true) {
  return float_to_float8e5m2fnuz(float_round_to_odd(d), saturate);
}

// float -> 4-bit nibble (in the low four bits): round to nearest even; `saturate` clamps to
// [-8, 7] / [0, 15], otherwise the low four bits of the two's complement integer are kept.
// NaN gives 0; +-Inf give the range ends with saturate, else 0. Exact for float64 input too.
inline uint8_t double_to_int4(double d, bool saturate) {
  if (std::isnan(d)) return 0;
  const double r = std::nearbyint(d);
  if (saturate) {
    const double c = r < -8.0 ? -8.0 : (r > 7.0 ? 7.0 : r);
    return static_cast<uint8_t>(static_cast<int>(c) & 0xf);
  }
  if (std::isinf(r)) return 0;
  return static_cast<uint8_t>(static_cast<int>(std::fmod(r, 16.0)) & 0xf);
}
inline uint8_t double_to_uint4(double d, bool saturate) {
  if (std::isnan(d)) return 0;
  const double r = std::nearbyint(d);
  if (saturate) {
    const double c = r < 0.0 ? 0.0 : (r > 15.0 ? 15.0 : r);
    return static_cast<uint8_t>(static_cast<int>(c));
  }
  if (std::isinf(r)) return 0;
  return static_cast<uint8_t>(static_cast<int>(std::fmod(r, 16.0)) & 0xf);
}
inline uint8_t float_to_int4(float f, bool saturate) { return double_to_int4(f, saturate); }

// float -> INT8 / UINT8 as QuantizeLinear stores them: round to nearest even, then clamp to
// [-128, 127] / [0, 255] (QuantizeLinear always saturates; +-Inf go to the ends). NaN gives 0.
inline int8_t double_to_int8(double d) {
  if (std::isnan(d)) return 0;
  const double r = std::nearbyint(d);
  return static_cast<int8_t>(r < -128.0 ? -128.0 : (r > 127.0 ? 127.0 : r));
}
inline uint8_t double_to_uint8(double d) {
  if (std::isnan(d)) return 0;
  const double r = std::nearbyint(d);
  return static_cast<uint8_t>(r < 0.0 ? 0.0 : (r > 255.0 ? 255.0 : r));
}
inline uint8_t float_to_uint4(float f, bool saturate) { return double_to_uint4(f, saturate); }

// Bulk conversions, bit-identical to the scalar functions above for every input. The encoders
// are written without branches so that the compiler vectorises them (16 lanes per AVX-512
// instruction on MIXQ_NATIVE builds); the decoders read a 256-entry table.
void floats_to_float8e4m3fn(const float* in, uint8_t* out, size_t n, bool saturate = true);
void floats_to_float8e5m2(const float* in, uint8_t* out, size_t n, bool saturate = true);
void float8e4m3fn_to_floats(const uint8_t* in, float* out, size_t n);
void float8e5m2_to_floats(const uint8_t* in, float* out, size_t n);

// 4-bit decoders: the nibble's value (int4 sign-extended).
inline int int4_to_int(uint8_t nibble) {
  const int v = nibble & 0xf;
  return v >= 8 ? v - 16 : v;
}
inline int uint4_to_int(uint8_t nibble) { return nibble & 0xf; }

// Packing: element i of a packed 4-bit array lives in byte i / 2, the low nibble for even i.
inline uint8_t pack_4bit(uint8_t first, uint8_t second) {
  return static_cast<uint8_t>((first & 0xf) | ((second & 0xf) << 4));
}
inline uint8_t get_4bit(const uint8_t* packed, int64_t i) {
  const uint8_t b = packed[i >> 1];
  return (i & 1) ? static_cast<uint8_t>(b >> 4) : static_cast<uint8_t>(b & 0xf);
}
// Sets element i's nibble, leaving the other nibble of its byte as it was.
inline void set_4bit(uint8_t* packed, int64_t i, uint8_t v) {
  uint8_t& b = packed[i >> 1];
  b = (i & 1) ? static_cast<uint8_t>((b & 0x0f) | ((v & 0xf) << 4))
              : static_cast<uint8_t>((b & 0xf0) | (v & 0xf));
}

}  // namespace mixq
