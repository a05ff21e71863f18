#include "mixq/calibration/observers/observer_minmax.h"

#include "mixq/core/float_bits.h"

#include <algorithm>
#include <cmath>
#include <vector>

namespace mixq::calib {

namespace {

constexpr float kFloatMax = std::numeric_limits<float>::max();
constexpr int64_t kChunk = int64_t{1} << 16;

struct Scan {
  float lo = std::numeric_limits<float>::infinity(), hi = -std::numeric_limits<float>::infinity();
  int64_t bad = 0;
};

// Branch-free so that it vectorises: |x| <= FLT_MAX is false exactly for NaN and +-Inf.
Scan scan(const float* x, int64_t b, int64_t e) {
  Scan s;
  for (int64_t i = b; i < e; ++i) {
    const float v = x[i];
    const bool finite = std::fabs(v) <= kFloatMax;
    s.lo = finite && v < s.lo ? v : s.lo;
    s.hi = finite && v > s.hi ? v : s.hi;
    s.bad += !finite;
  }
  return s;
}

}  // namespace

float MinMax::add(const float* x, int64_t n, int64_t run, exec::ThreadPool* pool) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  Scan total;
  if (pool != nullptr && pool->size() > 1 && chunks > 1) {
    std::vector<Scan> part(static_cast<size_t>(chunks));
    pool->parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        part[static_cast<size_t>(c)] = scan(x, c * kChunk, std::min(n, (c + 1) * kChunk));
      }
    });
    for (const Scan& s : part) {
      total.lo = std::min(total.lo, s.lo);
      total.hi = std::max(total.hi, s.hi);
      total.bad += s.bad;
    }
  } else {
    total = scan(x, 0, n);
  }
  const float lo = total.lo, hi = total.hi;
  const int64_t bad = total.bad;
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
  const float batch_absmax = std::max(std::fabs(lo), std::fabs(hi));
  min = std::min(min, static_cast<double>(lo));
  max = std::max(max, static_cast<double>(hi));
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
