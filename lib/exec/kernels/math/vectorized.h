// Vectorized float32 elementwise paths on Eigen arrays, for the transcendental functions that
// dominate activations (exp, log, tanh, erf, ...): libm evaluates them one element at a time,
// Eigen's packet versions four to eight at once, within a couple of ulps. Internal.
#pragma once

#include <Eigen/Core>
#include <type_traits>
#include <unsupported/Eigen/SpecialFunctions>

#include "kernels/common.h"

namespace mixq::exec {

using FloatArrayIn = Eigen::Map<const Eigen::ArrayXf>;
using FloatArrayOut = Eigen::Map<Eigen::ArrayXf>;

// True when the functor F has `void array(const FloatArrayIn&, FloatArrayOut&) const`.
template <typename F>
concept HasFloatArrayPath = requires(const F& f, const FloatArrayIn& in, FloatArrayOut& out) {
  f.array(in, out);
};

// y = f(x) over float32 tensors in parallel chunks (boundaries from the size only, so results
// do not depend on the thread count).
template <typename F>
void map_float_arrays(ThreadPool& pool, const ir::Tensor& x, ir::Tensor& y, const F& f) {
  const float* in = x.data<float>();
  float* out = y.mutable_data<float>();
  const int64_t n = x.numel();
  pool.parallel_for(n, ThreadPool::grain_for(n, 16384), [&](int64_t b, int64_t e) {
    const FloatArrayIn xa(in + b, e - b);
    FloatArrayOut ya(out + b, e - b);
    f.array(xa, ya);
  });
}

// Eigen's packet exp clamps its argument from below (float: -88.723, double: -709.784), so e^x
// for anything smaller, -inf included, comes out as ~3e-39 (float) instead of a denormal or 0.
// Such results are set to 0: exact for -inf (masked attention logits), within 3e-39 otherwise.
template <typename T>
constexpr T kExpClamp = std::is_same_v<T, float> ? T(-88.723) : T(-709.784);

// y[i] = 0 where the exponent arg(i) was below the clamp. `arg` gives the exponent of element i;
// the loop is a select of loaded values, so it vectorizes.
template <typename T, typename Arg>
inline void flush_exp_underflow(T* y, int64_t n, Arg arg) {
  for (int64_t i = 0; i < n; ++i) {
    const T e = arg(i);
    y[i] = e < kExpClamp<T> ? T(0) : y[i];
  }
}

inline void exp_array(const FloatArrayIn& x, FloatArrayOut& y) {
  y = x.exp();
  const float* px = x.data();
  flush_exp_underflow(y.data(), x.size(), [px](int64_t i) { return px[i]; });
}

// 1 / (1 + e^-x): Eigen's logistic() approximates the shifted function in absolute terms, which
// loses the relative precision of small results; this form keeps it down to e^-x overflowing
// (x < -88, where the result is a float32 denormal and becomes 0).
inline void sigmoid_array(const FloatArrayIn& x, FloatArrayOut& y) {
  y = (1.0f + (-x).exp()).inverse();
}

}  // namespace mixq::exec
