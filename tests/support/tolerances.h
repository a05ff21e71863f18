// Numeric tolerances for kernel tests, one place for all of them (per dtype).
//
// A value passes when |got - want| <= atol + rtol * |want|, with `want` from a float64 reference
// computed on the same inputs. float16/bfloat16 results are rounded once at the end, so their
// tolerance is their rounding error; float32 kernels accumulate in float32 (Eigen GEMM,
// reductions), so theirs covers summation order over a few thousand terms.
#pragma once

#include "mixq/core/dtype.h"

namespace mixq::testing {

struct Tolerance {
  double rtol;
  double atol;
};

inline Tolerance tolerance_for(DType t) {
  switch (t) {
    case DType::kFloat64:
      return {1e-12, 1e-12};
    case DType::kFloat32:
      return {1e-5, 1e-6};
    case DType::kFloat16:
      return {2e-3, 1e-4};
    case DType::kBFloat16:
      return {1.6e-2, 1e-3};
    default:
      return {0.0, 0.0};  // integers, bool, and the bit-exact formats compare exactly
  }
}

// The conformance suite's tolerance (the ONNX backend test default).
inline constexpr Tolerance kConformance{1e-3, 1e-5};

}  // namespace mixq::testing
