#include "mixq/calibration/observers/observer_minmax.h"

#include "mixq/core/float_bits.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace mixq::calib {

namespace {

constexpr float kFloatMax = std::numeric_limits<float>::max();
constexpr int64_t kChunk = int64_t{1} << 16;

}  // namespace

float ValueScan::absmax() const {
  if (!(lo <= hi)) return 0.0f;  // no finite value
  return std::max(std::fabs(lo), std::fabs(hi));
}

// Over 16 independent lanes held in vector registers (a single running min/max is a reduction
// the compiler leaves scalar), branch-free: |x| <= FLT_MAX is false exactly for NaN and +-Inf.
ValueScan scan_values(const float* x, int64_t b, int64_t e) {
  constexpr int kLanes = 16;
  using F = float __attribute__((vector_size(kLanes * sizeof(float))));
  using I = int32_t __attribute__((vector_size(kLanes * sizeof(int32_t))));
  constexpr float kInf = std::numeric_limits<float>::infinity();
  F lo = F{} + kInf, hi = F{} - kInf;
  I bad = I{};
  const F big = F{} + kFloatMax;
  int64_t i = b;
  // Counts per lane stay below 2^31: blocks of at most 2^30 elements.
  int64_t bad_total = 0;
  while (i + kLanes <= e) {
    const int64_t stop = std::min(e - kLanes, i + (int64_t{1} << 30));
    for (; i <= stop; i += kLanes) {
      F v;
      std::memcpy(&v, x + i, sizeof(v));
      const F a = v < F{} ? -v : v;
      const I finite = a <= big;  // all ones where finite
      lo = (finite & (v < lo)) ? v : lo;
      hi = (finite & (v > hi)) ? v : hi;
      bad += ~finite & 1;
    }
    for (int j = 0; j < kLanes; ++j) bad_total += bad[j];
    bad = I{};
  }
  ValueScan s;
  for (int j = 0; j < kLanes; ++j) {
    s.lo = lo[j] < s.lo ? lo[j] : s.lo;
    s.hi = hi[j] > s.hi ? hi[j] : s.hi;
  }
  for (; i < e; ++i) {
    const float v = x[i];
    const bool finite = std::fabs(v) <= kFloatMax;
    s.lo = finite && v < s.lo ? v : s.lo;
    s.hi = finite && v > s.hi ? v : s.hi;
    bad_total += !finite;
  }
  s.nonfinite = bad_total;
  return s;
}

float MinMax::add(const float* x, int64_t n, int64_t run, exec::ThreadPool* pool) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  ValueScan total;
  if (pool != nullptr && pool->size() > 1 && chunks > 1) {
    std::vector<ValueScan> part(static_cast<size_t>(chunks));
    pool->parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        part[static_cast<size_t>(c)] = scan_values(x, c * kChunk, std::min(n, (c + 1) * kChunk));
      }
    });
    for (const ValueScan& s : part) total.merge(s);
  } else {
    total = scan_values(x, 0, n);
  }
  return absorb(total, x, n, run);
}

float MinMax::absorb(const ValueScan& s, const float* x, int64_t n, int64_t run) {
  const int64_t bad = s.nonfinite;
  if (bad > 0 && nonfinite == 0) {
    first_nonfinite_run = run;
    for (int64_t i = 0; i < n; ++i) {
      if (!(std::fabs(x[i]) <= kFloatMax)) {
        first_nonfinite_index = i;
        break;
      }
    }
  }
  nonfinite += bad;
  count += n - bad;
  if (n - bad == 0) return 0.0f;
  const float batch_absmax = s.absmax();
  min = std::min(min, static_cast<double>(s.lo));
  max = std::max(max, static_cast<double>(s.hi));
  absmax = std::max(absmax, static_cast<double>(batch_absmax));
  return batch_absmax;
}

const float* float_values(const ir::Tensor& t, std::vector<float>& scratch) {
  const DType d = t.dtype();
  if (d == DType::kFloat32) return t.data<float>();
  if (d != DType::kFloat16 && d != DType::kBFloat16) return nullptr;
  const auto n = static_cast<size_t>(t.numel());
  scratch.resize(n);
  const auto* h = t.data<uint16_t>();
  for (size_t i = 0; i < n; ++i) {
    scratch[i] = d == DType::kFloat16 ? float16_to_float(h[i]) : bfloat16_to_float(h[i]);
  }
  return scratch.data();
}

void channel_absmax(const float* x, const std::vector<int64_t>& dims, int64_t axis,
                    std::vector<float>& acc) {
  const auto rank = static_cast<int64_t>(dims.size());
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= dims[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= dims[static_cast<size_t>(d)];
  const int64_t channels = dims[static_cast<size_t>(axis)];
  if (acc.size() != static_cast<size_t>(channels)) acc.assign(static_cast<size_t>(channels), 0.0f);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* p = x + (o * channels + c) * inner;
      float m = acc[static_cast<size_t>(c)];
      for (int64_t i = 0; i < inner; ++i) {
        const float a = std::fabs(p[i]);
        if (std::isfinite(a)) m = std::max(m, a);
      }
      acc[static_cast<size_t>(c)] = m;
    }
  }
}

}  // namespace mixq::calib
