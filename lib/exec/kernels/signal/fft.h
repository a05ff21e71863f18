// Complex discrete Fourier transforms of one length, in float64, for DFT and STFT:
//   X[k] = sum_{t=0}^{n-1} x[t] e^{-2 pi i k t / n}
// Powers of two use an iterative radix-2 FFT; other lengths up to kDirectMax a direct O(n^2)
// sum over an exact twiddle table (index k*t mod n); longer ones Bluestein's chirp-z transform
// through a power-of-two FFT. Internal to the signal kernels.
#pragma once

#include <complex>
#include <cstdint>
#include <vector>

namespace mixq::exec {

class FftPlan {
 public:
  using C = std::complex<double>;
  static constexpr int64_t kDirectMax = 64;

  explicit FftPlan(int64_t n);

  int64_t size() const { return n_; }
  // Scratch elements forward() needs.
  size_t scratch_size() const;
  // In-place forward transform of data[0..n) (unscaled). `scratch` holds scratch_size()
  // elements. Const and reentrant: one plan serves every thread.
  void forward(C* data, C* scratch) const;
  // In-place inverse transform, scaled by 1/n.
  void inverse(C* data, C* scratch) const;

 private:
  enum class Kind { kRadix2, kDirect, kBluestein };
  // Radix-2 FFT of length m (a power of two) with twiddles w[j] = e^{-2 pi i j / m}, j < m/2.
  static void radix2(C* data, int64_t m, const std::vector<C>& w);

  int64_t n_;
  Kind kind_;
  std::vector<C> twiddle_;  // radix-2: size n/2; direct: size n (e^{-2 pi i j / n})
  // Bluestein: power-of-two length m >= 2n-1, its twiddles, chirp c_j = e^{-pi i j^2 / n},
  // and the transformed conjugate-chirp filter.
  int64_t m_ = 0;
  std::vector<C> m_twiddle_;
  std::vector<C> chirp_;
  std::vector<C> filter_;
};

}  // namespace mixq::exec
