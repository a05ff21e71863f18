#include "kernels/signal/fft.h"

#include <cmath>
#include <numbers>

namespace mixq::exec {
namespace {

bool is_power_of_two(int64_t n) { return n > 0 && (n & (n - 1)) == 0; }

// a * b without the inf/nan recovery of std::complex's operator* (a library call per product
// under strict IEEE semantics): the transforms only see finite twiddles.
inline std::complex<double> mul(std::complex<double> a, std::complex<double> b) {
  return {a.real() * b.real() - a.imag() * b.imag(), a.real() * b.imag() + a.imag() * b.real()};
}

// e^{-2 pi i j / n} for j in [0, count).
std::vector<std::complex<double>> twiddles(int64_t n, int64_t count) {
  std::vector<std::complex<double>> w(static_cast<size_t>(count));
  for (int64_t j = 0; j < count; ++j) {
    const double a = -2.0 * std::numbers::pi * static_cast<double>(j) / static_cast<double>(n);
    w[static_cast<size_t>(j)] = {std::cos(a), std::sin(a)};
  }
  return w;
}

}  // namespace

FftPlan::FftPlan(int64_t n) : n_(n) {
  if (is_power_of_two(n)) {
    kind_ = Kind::kRadix2;
    twiddle_ = twiddles(n, n / 2);
  } else if (n <= kDirectMax) {
    kind_ = Kind::kDirect;
    twiddle_ = twiddles(n, n);
  } else {
    kind_ = Kind::kBluestein;
    m_ = 1;
    while (m_ < 2 * n - 1) m_ *= 2;
    m_twiddle_ = twiddles(m_, m_ / 2);
    chirp_.resize(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      // j^2 mod 2n keeps the angle small, so the chirp stays accurate for large j.
      const auto jj = static_cast<double>((j * j) % (2 * n));
      const double a = -std::numbers::pi * jj / static_cast<double>(n);
      chirp_[static_cast<size_t>(j)] = {std::cos(a), std::sin(a)};
    }
    filter_.assign(static_cast<size_t>(m_), C(0.0, 0.0));
    filter_[0] = std::conj(chirp_[0]);
    for (int64_t j = 1; j < n; ++j) {
      filter_[static_cast<size_t>(j)] = std::conj(chirp_[static_cast<size_t>(j)]);
      filter_[static_cast<size_t>(m_ - j)] = std::conj(chirp_[static_cast<size_t>(j)]);
    }
    radix2(filter_.data(), m_, m_twiddle_);
  }
}

size_t FftPlan::scratch_size() const {
  switch (kind_) {
    case Kind::kRadix2:
      return 0;
    case Kind::kDirect:
      return static_cast<size_t>(n_);
    case Kind::kBluestein:
      return static_cast<size_t>(m_);
  }
  return 0;
}

void FftPlan::radix2(C* data, int64_t m, const std::vector<C>& w) {
  // Bit-reversal permutation.
  for (int64_t i = 1, j = 0; i < m; ++i) {
    int64_t bit = m >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j |= bit;
    if (i < j) std::swap(data[i], data[j]);
  }
  for (int64_t len = 2; len <= m; len <<= 1) {
    const int64_t half = len / 2;
    const int64_t step = m / len;
    for (int64_t s = 0; s < m; s += len) {
      for (int64_t k = 0; k < half; ++k) {
        const C t = mul(data[s + k + half], w[static_cast<size_t>(k * step)]);
        data[s + k + half] = data[s + k] - t;
        data[s + k] += t;
      }
    }
  }
}

void FftPlan::forward(C* data, C* scratch) const {
  switch (kind_) {
    case Kind::kRadix2:
      radix2(data, n_, twiddle_);
      return;
    case Kind::kDirect: {
      for (int64_t k = 0; k < n_; ++k) {
        C acc(0.0, 0.0);
        int64_t idx = 0;  // k * t mod n, stepped without overflow
        for (int64_t t = 0; t < n_; ++t) {
          acc += mul(data[t], twiddle_[static_cast<size_t>(idx)]);
          idx += k;
          if (idx >= n_) idx -= n_;
        }
        scratch[k] = acc;
      }
      for (int64_t k = 0; k < n_; ++k) data[k] = scratch[k];
      return;
    }
    case Kind::kBluestein: {
      for (int64_t j = 0; j < n_; ++j) scratch[j] = mul(data[j], chirp_[static_cast<size_t>(j)]);
      for (int64_t j = n_; j < m_; ++j) scratch[j] = C(0.0, 0.0);
      radix2(scratch, m_, m_twiddle_);
      for (int64_t j = 0; j < m_; ++j) {
        // Pointwise product, conjugated so the forward FFT below computes the inverse one.
        scratch[j] = std::conj(mul(scratch[j], filter_[static_cast<size_t>(j)]));
      }
      radix2(scratch, m_, m_twiddle_);
      const double inv_m = 1.0 / static_cast<double>(m_);
      for (int64_t k = 0; k < n_; ++k) {
        data[k] = mul(std::conj(scratch[k]) * inv_m, chirp_[static_cast<size_t>(k)]);
      }
      return;
    }
  }
}

void FftPlan::inverse(C* data, C* scratch) const {
  // IDFT(x) = conj(DFT(conj(x))) / n.
  for (int64_t j = 0; j < n_; ++j) data[j] = std::conj(data[j]);
  forward(data, scratch);
  const double inv_n = 1.0 / static_cast<double>(n_);
  for (int64_t j = 0; j < n_; ++j) data[j] = std::conj(data[j]) * inv_n;
}

}  // namespace mixq::exec
