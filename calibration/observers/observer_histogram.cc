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
constexpr int64_t kChunk = int64_t{1} << 16;  // elements per chunk (counts fit in uint32)

// The smallest power of two > a, for a > 0.
double pow2_above(double a) {
  int e = 0;
  std::frexp(a, &e);
  return std::ldexp(1.0, e);
}

// Counts the finite |x| of x[b, e) into nb bins of width range / nb (0 when range is 0: every
// value is zero then). The bin indexes are computed 64 at a time in a loop that vectorises,
// then scattered over four interleaved sub-histograms, so that runs of values in one bin do
// not wait on each other's increments. Scale is a power of two, so |x| * scale is exact.
template <typename T>
void count_chunk(const float* x, int64_t b, int64_t e, T scale, uint32_t* sub, size_t nb) {
  constexpr int64_t kBlock = 64;
  uint32_t idx[kBlock];
  const T sink = static_cast<T>(nb);  // the extra bin that takes NaN and +-Inf
  const size_t stride = nb + 1;
  for (int64_t i = b; i < e; i += kBlock) {
    const int64_t m = std::min(kBlock, e - i);
    for (int64_t j = 0; j < m; ++j) {
      const float a = std::fabs(x[i + j]);
      const T v = a <= kFloatMax ? static_cast<T>(a) * scale : sink;
      idx[j] = static_cast<uint32_t>(v);
    }
    int64_t j = 0;
    for (; j + 4 <= m; j += 4) {
      ++sub[idx[j]];
      ++sub[stride + idx[j + 1]];
      ++sub[2 * stride + idx[j + 2]];
      ++sub[3 * stride + idx[j + 3]];
    }
    for (; j < m; ++j) ++sub[idx[j]];
  }
}

// One chunk's part of a batch: its scan, the range its counts were made at, and the highest
// bin its counts can reach (every bin above is empty).
struct ChunkPart {
  ValueScan scan;
  double range = 0;
  size_t top = 0;
};

// Scans one chunk, then counts it (still in cache) at the larger of the histogram's current
// range and the chunk's own. `sub` holds the four sub-histograms (and their NaN bins) and is
// all zero between calls: only the bins up to the chunk's top are summed and cleared, so a
// small tensor does not pay for the whole bin count.
void do_chunk(const float* x, int64_t b, int64_t e, double current, size_t nb, ChunkPart& part,
              uint32_t* out, std::vector<uint32_t>& sub) {
  part.scan = scan_values(x, b, e);
  const float m = part.scan.absmax();
  part.range = m == 0 ? current : std::max(current, pow2_above(m));
  const double scale = part.range == 0 ? 0.0 : static_cast<double>(nb) / part.range;
  const size_t stride = nb + 1;
  if (sub.size() != 4 * stride) sub.assign(4 * stride, 0);
  // A float scale would overflow for ranges below 2^-100 (denormal-sized tensors).
  if (scale < 0x1p100) {
    const auto f = static_cast<float>(scale);
    count_chunk(x, b, e, f, sub.data(), nb);
    part.top = static_cast<size_t>(m * f);
  } else {
    count_chunk(x, b, e, scale, sub.data(), nb);
    part.top = static_cast<size_t>(static_cast<double>(m) * scale);
  }
  for (size_t k = 0; k <= part.top; ++k) {
    out[k] = sub[k] + sub[stride + k] + sub[2 * stride + k] + sub[3 * stride + k];
    sub[k] = sub[stride + k] = sub[2 * stride + k] = sub[3 * stride + k] = 0;
  }
  for (size_t j = 0; j < 4; ++j) sub[j * stride + nb] = 0;  // the NaN bins
}

}  // namespace

int64_t AbsHistogram::add(const float* x, int64_t n, exec::ThreadPool* pool) {
  return add_batch(x, n, pool).nonfinite;
}

ValueScan AbsHistogram::add_batch(const float* x, int64_t n, exec::ThreadPool* pool) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const size_t nb = counts_.size();
  if (chunks <= 1) return add_small(x, n);
  // Per-chunk counts, kept between calls: allocating them anew between the executor's large
  // buffers fragmented the heap (peak RSS several times the live bytes).
  thread_local std::vector<uint32_t> kept_counts;
  thread_local std::vector<ChunkPart> kept_parts;
  std::vector<uint32_t>& local = kept_counts;  // this thread's, also inside the workers' lambda
  std::vector<ChunkPart>& parts = kept_parts;
  local.resize(static_cast<size_t>(chunks) * nb);
  parts.assign(static_cast<size_t>(chunks), ChunkPart{});
  const double current = range_;
  const auto run = [&](int64_t c0, int64_t c1) {
    thread_local std::vector<uint32_t> sub;
    for (int64_t c = c0; c < c1; ++c) {
      do_chunk(x, c * kChunk, std::min(n, (c + 1) * kChunk), current, nb,
               parts[static_cast<size_t>(c)], local.data() + static_cast<size_t>(c) * nb, sub);
    }
  };
  if (pool != nullptr && pool->size() > 1 && chunks > 1) {
    pool->parallel_for(chunks, 1, run);
  } else {
    run(0, chunks);
  }
  // Bring the histogram to the largest chunk range, then add each chunk's counts: a chunk
  // counted at range r lands in bin k >> log2(R / r) at the final range R (exact).
  ValueScan total;
  double top = range_;
  for (const ChunkPart& p : parts) {
    total.merge(p.scan);
    top = std::max(top, p.range);
  }
  if (top > 0) grow_to(std::nextafter(top, 0.0));
  for (int64_t c = 0; c < chunks; ++c) {
    const ChunkPart& p = parts[static_cast<size_t>(c)];
    const uint32_t* l = local.data() + static_cast<size_t>(c) * nb;
    int shift = 0;  // log2(range_ / p.range): frexp(2^s) gives the exponent s + 1
    if (p.range > 0) {
      std::frexp(range_ / p.range, &shift);
      --shift;
    }
    for (size_t k = 0; k <= p.top; ++k) counts_[k >> shift] += l[k];
  }
  absmax_ = std::max(absmax_, static_cast<double>(total.absmax()));
  total_ += n - total.nonfinite;
  return total;
}

// One chunk: the histogram grows to the chunk's range first and the sub-histograms are added
// straight into it (what add_batch's merge would do, without the per-chunk copy: small tensors
// are most of the calls).
ValueScan AbsHistogram::add_small(const float* x, int64_t n) {
  const size_t nb = counts_.size();
  const ValueScan scan = scan_values(x, 0, n);
  const float m = scan.absmax();
  if (m > 0) grow_to(m);
  thread_local std::vector<uint32_t> sub;
  const size_t stride = nb + 1;
  if (sub.size() != 4 * stride) sub.assign(4 * stride, 0);
  const double scale = range_ == 0 ? 0.0 : static_cast<double>(nb) / range_;
  size_t top = 0;
  if (scale < 0x1p100) {
    const auto f = static_cast<float>(scale);
    count_chunk(x, 0, n, f, sub.data(), nb);
    top = static_cast<size_t>(m * f);
  } else {
    count_chunk(x, 0, n, scale, sub.data(), nb);
    top = static_cast<size_t>(static_cast<double>(m) * scale);
  }
  for (size_t k = 0; k <= top; ++k) {
    counts_[k] += sub[k] + sub[stride + k] + sub[2 * stride + k] + sub[3 * stride + k];
    sub[k] = sub[stride + k] = sub[2 * stride + k] = sub[3 * stride + k] = 0;
  }
  for (size_t j = 0; j < 4; ++j) sub[j * stride + nb] = 0;  // the NaN bins
  absmax_ = std::max(absmax_, static_cast<double>(m));
  total_ += n - scan.nonfinite;
  return scan;
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
