#include "mixq/core/float8.h"

#include <array>
#include <cstring>

namespace mixq {
namespace {

// The scalar encoder of float8.h (float8_detail::encode) for the formats with -0 and a sign on
// NaN (E4M3FN, E5M2), restated with selects instead of branches: both rounding paths are
// computed and one is chosen, so a loop over it vectorises.
template <int kManBits, int kBias, uint32_t kMaxCode, bool kHasInf>
void encode_all(const float* in, uint8_t* out, size_t n, bool saturate) {
  constexpr int kShift = 23 - kManBits;
  constexpr int kMinExp = 1 - kBias;
  constexpr uint32_t kMinNormal = static_cast<uint32_t>(127 + kMinExp) << 23;
  // Subnormals in units of the smallest subnormal: |x| * 2^(kManBits - kMinExp) < 2^kManBits,
  // rounded to nearest even by adding 2^23 in float arithmetic (exact below 2^23).
  const float units = std::bit_cast<float>(static_cast<uint32_t>(127 + kManBits - kMinExp) << 23);
  const uint32_t overflow_code = saturate ? kMaxCode : (kHasInf ? kMaxCode + 1 : 0x7fu);
  for (size_t i = 0; i < n; ++i) {
    const uint32_t x = std::bit_cast<uint32_t>(in[i]);
    const uint32_t sign = (x >> 24) & 0x80u;
    const uint32_t a = x & 0x7fffffffu;
    uint32_t m = a - (static_cast<uint32_t>(127 - kBias) << 23);
    m += (1u << (kShift - 1)) - 1u + ((m >> kShift) & 1u);
    const uint32_t normal = m >> kShift;
    const float scaled = std::bit_cast<float>(a) * units + 8388608.0f;
    const uint32_t sub = std::bit_cast<uint32_t>(scaled) - 0x4b000000u;
    uint32_t code = a < kMinNormal ? sub : normal;
    // Inf and everything rounding past the largest finite value overflow.
    code = ((a >= 0x7f800000u) | (code > kMaxCode)) ? overflow_code : code;
    code = a > 0x7f800000u ? 0x7fu : code;  // NaN keeps its sign
    out[i] = static_cast<uint8_t>(sign | code);
  }
}

template <float (*kDecode)(uint8_t)>
void decode_all(const uint8_t* in, float* out, size_t n) {
  static const std::array<float, 256> table = [] {
    std::array<float, 256> t{};
    for (int c = 0; c < 256; ++c) t[static_cast<size_t>(c)] = kDecode(static_cast<uint8_t>(c));
    return t;
  }();
  for (size_t i = 0; i < n; ++i) out[i] = table[in[i]];
}

}  // namespace

void floats_to_float8e4m3fn(const float* in, uint8_t* out, size_t n, bool saturate) {
  encode_all<3, 7, 0x7e, false>(in, out, n, saturate);
}
void floats_to_float8e5m2(const float* in, uint8_t* out, size_t n, bool saturate) {
  encode_all<2, 15, 0x7b, true>(in, out, n, saturate);
}
void float8e4m3fn_to_floats(const uint8_t* in, float* out, size_t n) {
  decode_all<float8e4m3fn_to_float>(in, out, n);
}
void float8e5m2_to_floats(const uint8_t* in, float* out, size_t n) {
  decode_all<float8e5m2_to_float>(in, out, n);
}

}  // namespace mixq
