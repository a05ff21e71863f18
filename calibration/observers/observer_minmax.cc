#include "mixq/calibration/observers/observer_minmax.h"

#include "mixq/core/float_bits.h"
#include "mixq/core/simd.h"

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

// Over kFloatLanes independent lanes held in vector registers (a single running min/max is a
// reduction the compiler leaves scalar), branch-free: |x| <= FLT_MAX is false exactly for NaN and
// +-Inf.
ValueScan scan_values(const float* x, int64_t b, int64_t e) {
  constexpr int kLanes = kFloatLanes;
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

namespace {

// acc[c] = max(acc[c], finite |x| of channel c) over rows [o0, o1) of x viewed as
// [outer, channels, inner]. Both loops are elementwise over contiguous values (16 partial
// maxima across `inner`), so they vectorise; NaN and +-Inf fail a <= FLT_MAX and are skipped.
void channel_absmax_rows(const float* x, int64_t o0, int64_t o1, int64_t channels, int64_t inner,
                         float* acc) {
  if (inner == 1) {  // MatMul/Gemm: the channel axis is the last one
    for (int64_t o = o0; o < o1; ++o) {
      const float* p = x + o * channels;
      for (int64_t c = 0; c < channels; ++c) {
        const float a = std::fabs(p[c]);
        acc[c] = a <= kFloatMax && a > acc[c] ? a : acc[c];
      }
    }
    return;
  }
  constexpr int64_t kLanes = 16;
  for (int64_t o = o0; o < o1; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* p = x + (o * channels + c) * inner;
      float m[kLanes] = {};
      int64_t i = 0;
      for (; i + kLanes <= inner; i += kLanes) {
        for (int64_t j = 0; j < kLanes; ++j) {
          const float a = std::fabs(p[i + j]);
          m[j] = a <= kFloatMax && a > m[j] ? a : m[j];
        }
      }
      float best = acc[c];
      for (; i < inner; ++i) {
        const float a = std::fabs(p[i]);
        best = a <= kFloatMax && a > best ? a : best;
      }
      for (int64_t j = 0; j < kLanes; ++j) best = m[j] > best ? m[j] : best;
      acc[c] = best;
    }
  }
}

}  // namespace

void channel_absmax(const float* x, const std::vector<int64_t>& dims, int64_t axis,
                    std::vector<float>& acc, exec::ThreadPool* pool) {
  const auto rank = static_cast<int64_t>(dims.size());
  if (axis < 0) axis += rank;
  int64_t outer = 1, inner = 1;
  for (int64_t d = 0; d < axis; ++d) outer *= dims[static_cast<size_t>(d)];
  for (int64_t d = axis + 1; d < rank; ++d) inner *= dims[static_cast<size_t>(d)];
  const int64_t channels = dims[static_cast<size_t>(axis)];
  if (acc.size() != static_cast<size_t>(channels)) acc.assign(static_cast<size_t>(channels), 0.0f);
  const int64_t per_row = channels * inner;
  if (pool == nullptr || pool->size() <= 1 || per_row == 0 || outer * per_row < 2 * kChunk) {
    channel_absmax_rows(x, 0, outer, channels, inner, acc.data());
    return;
  }
  // Blocks of about a chunk's worth of rows, each into its own maxima; a maximum does not
  // depend on the order it is taken in, so the result is the same as the serial loop's.
  const int64_t rows = std::max<int64_t>(1, kChunk / per_row);
  const int64_t blocks = (outer + rows - 1) / rows;
  std::vector<float> part(static_cast<size_t>(blocks * channels), 0.0f);
  pool->parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      channel_absmax_rows(x, b * rows, std::min(outer, (b + 1) * rows), channels, inner,
                          part.data() + b * channels);
    }
  });
  for (int64_t b = 0; b < blocks; ++b) {
    const float* p = part.data() + b * channels;
    for (int64_t c = 0; c < channels; ++c)
      acc[static_cast<size_t>(c)] = std::max(acc[static_cast<size_t>(c)], p[c]);
  }
}

}  // namespace mixq::calib
