#include "mixq/calibration/observers/observer_histogram.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <tuple>
#include <utility>
#include <vector>

namespace mixq::calib {

AbsHistogram::AbsHistogram(int bins) : counts_(static_cast<size_t>(bins), 0) {
  if (bins < 128 || (bins & (bins - 1)) != 0) {
    throw std::invalid_argument("histogram bins must be a power of two >= 128");
  }
}

void AbsHistogram::grow_to(double a) {
  if (a == 0) return;
  int e = 0;
  std::frexp(a, &e);  // a = m * 2^e with m in [0.5, 1): 2^e is the smallest power of two > a
  const double needed = std::ldexp(1.0, e);
  if (range_ == 0) {
    range_ = needed;  // only zeros so far, all in bin 0 at any range
    return;
  }
  const size_t n = counts_.size();
  while (range_ < needed) {
    for (size_t i = 0; i < n / 2; ++i) counts_[i] = counts_[2 * i] + counts_[2 * i + 1];
    std::fill(counts_.begin() + static_cast<std::ptrdiff_t>(n / 2), counts_.end(), 0);
    range_ *= 2;
  }
}

namespace {

constexpr float kFloatMax = std::numeric_limits<float>::max();
constexpr int64_t kChunk = int64_t{1} << 16;  // elements per parallel chunk

// The largest finite |x| in [b, e) and the count of non-finite values (NaN, +-Inf), without
// branches so that it vectorises: |x| <= FLT_MAX is false exactly for NaN and +-Inf.
std::pair<float, int64_t> scan(const float* x, int64_t b, int64_t e) {
  float m = 0;
  int64_t bad = 0;
  for (int64_t i = b; i < e; ++i) {
    const float a = std::fabs(x[i]);
    const bool finite = a <= kFloatMax;
    m = finite && a > m ? a : m;
    bad += !finite;
  }
  return {m, bad};
}

void count(const float* x, int64_t b, int64_t e, float scale, int64_t* counts) {
  for (int64_t i = b; i < e; ++i) {
    const float a = std::fabs(x[i]);
    if (a <= kFloatMax) ++counts[static_cast<size_t>(a * scale)];
  }
}

}  // namespace

int64_t AbsHistogram::add(const float* x, int64_t n, exec::ThreadPool* pool) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const bool parallel = pool != nullptr && pool->size() > 1 && chunks > 1;
  float batch_max = 0;
  int64_t skipped = 0;
  if (parallel) {
    std::vector<std::pair<float, int64_t>> part(static_cast<size_t>(chunks));
    pool->parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        part[static_cast<size_t>(c)] = scan(x, c * kChunk, std::min(n, (c + 1) * kChunk));
      }
    });
    for (const auto& [m, bad] : part) {
      batch_max = std::max(batch_max, m);
      skipped += bad;
    }
  } else {
    std::tie(batch_max, skipped) = scan(x, 0, n);
  }
  add_scanned(x, n, batch_max, skipped, pool);
  return skipped;
}

void AbsHistogram::add_scanned(const float* x, int64_t n, float batch_max, int64_t nonfinite,
                               exec::ThreadPool* pool) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const bool parallel = pool != nullptr && pool->size() > 1 && chunks > 1;
  absmax_ = std::max(absmax_, static_cast<double>(batch_max));
  grow_to(batch_max);
  // bins / range is a power of two, so a * scale is exact and its floor is the exact bin.
  const auto scale =
      range_ == 0 ? 0.0f : static_cast<float>(static_cast<double>(counts_.size()) / range_);
  if (parallel) {
    const size_t nb = counts_.size();
    // Per-chunk counts, kept between calls: allocating them anew between the executor's large
    // buffers fragmented the heap (peak RSS several times the live bytes).
    thread_local std::vector<int64_t> kept;
    std::vector<int64_t>& local = kept;  // this thread's, also inside the workers' lambda
    local.assign(static_cast<size_t>(chunks) * nb, 0);
    pool->parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        count(x, c * kChunk, std::min(n, (c + 1) * kChunk), scale,
              local.data() + static_cast<size_t>(c) * nb);
      }
    });
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t* l = local.data() + static_cast<size_t>(c) * nb;
      for (size_t i = 0; i < nb; ++i) counts_[i] += l[i];
    }
  } else {
    count(x, 0, n, scale, counts_.data());
  }
  total_ += n - nonfinite;
}

void AbsHistogram::merge(const AbsHistogram& other) {
  if (other.counts_.size() != counts_.size()) {
    throw std::invalid_argument("merging histograms of different bin counts");
  }
  AbsHistogram o = other;
  const double r = std::max(range_, o.range_);
  // Bring both to the larger range (exact pairwise merges), then add.
  if (r > 0) {
    grow_to(std::nextafter(r, 0.0));
    o.grow_to(std::nextafter(r, 0.0));
  }
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += o.counts_[i];
  absmax_ = std::max(absmax_, o.absmax_);
  total_ += o.total_;
}

}  // namespace mixq::calib
