#pragma once

// Vector width for the kernels written with GCC's vector extensions
// (`float __attribute__((vector_size(kFloatLanes * sizeof(float))))`).

namespace mixq {

// Lanes of the widest float vector register the build targets: 16 with AVX-512, else 8 (AVX2;
// a narrower target splits 8 lanes in two, which GCC does well). A vector wider than the
// target's registers is not just split: GCC lowered the selects and compare masks of 16-lane
// loops to one lane at a time through the stack on an AVX2 CPU (calibration's histogram scan
// ran about ten times slower than on 8 lanes).
#if defined(__AVX512F__)
inline constexpr int kFloatLanes = 16;
#else
inline constexpr int kFloatLanes = 8;
#endif

}  // namespace mixq
