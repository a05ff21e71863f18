#include "mixq/calibration/observers/observer_histogram.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <utility>
#include <vector>

#include "mixq/core/simd.h"

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

constexpr int64_t kChunk = AbsHistogram::kChunkValues;

// A sub-histogram's counter. 16 bits keep the four sub-histograms of 2048 bins in 16 KiB, half
// an L1 data cache, where 32-bit ones filled it: counting a GELU-like 16 MB tensor on one thread
// took 0.44 instead of 0.49-0.52 ns per value, one spread evenly over the bins 0.38-0.43 instead
// of 0.72-0.74 (Zen 4, AVX-512, best of 15). They cannot overflow: each sub-histogram takes a
// quarter of a chunk's values (the last up to 3 more), and at most as many again when
// recount_above counts the values above a guess a second time, round-robin over the four.
using SubCount = uint16_t;
// How many sub-histograms a chunk is counted into (scatter4's four).
constexpr size_t kSubs = 4;
static_assert(kChunk / kSubs * 2 + 3 <= std::numeric_limits<SubCount>::max());

// The smallest power of two > a, for a > 0.
double pow2_above(double a) {
  int e = 0;
  std::frexp(a, &e);
  return std::ldexp(1.0, e);
}

// Increments the bins idx[0..m) (m a multiple of 4) over four interleaved sub-histograms,
// stride apart, so that runs of values in one bin do not wait on each other's increments.
// The indexes are read two at a time as one 64-bit word: one load for two increments (the
// scatter is bound by loads and stores; 11 % faster in a micro-benchmark on an AVX2 EPYC). Which
// half is which index depends on the byte order, but the sub-histograms are summed, so the counts
// do not.
template <typename Index>
inline void scatter4(const Index* idx, int64_t m, SubCount* sub, size_t stride) {
  static_assert(sizeof(Index) == 4 && kSubs == 4);
  for (int64_t j = 0; j + 4 <= m; j += 4) {
    uint64_t pair[2];
    std::memcpy(pair, idx + j, sizeof(pair));
    ++sub[static_cast<uint32_t>(pair[0])];
    ++sub[stride + (pair[0] >> 32)];
    ++sub[2 * stride + static_cast<uint32_t>(pair[1])];
    ++sub[3 * stride + (pair[1] >> 32)];
  }
}

// Counts the finite |x| of x[b, e) into nb bins of width range / nb (range > 0), NaN and +-Inf
// into the extra bin nb (values at or above the range too). The bin indexes are computed 64 at a
// time in a loop that vectorises (branch-free, and through int32 as they are at most nb: AVX2 has
// no unsigned conversion), then scattered. Scale is a power of two, so |x| * scale is exact.
template <typename T>
void count_chunk(const float* x, int64_t b, int64_t e, T scale, SubCount* sub, size_t nb) {
  constexpr int64_t kBlock = 64;
  uint32_t idx[kBlock];
  const T sink = static_cast<T>(nb);  // the extra bin that takes NaN and +-Inf
  const size_t stride = nb + 1;
  for (int64_t i = b; i < e; i += kBlock) {
    const int64_t m = std::min(kBlock, e - i);
    for (int64_t j = 0; j < m; ++j) {
      const T v = static_cast<T>(std::fabs(x[i + j])) * scale;
      idx[j] = static_cast<uint32_t>(static_cast<int32_t>(v < sink ? v : sink));  // NaN: sink
    }
    const int64_t whole = m / 4 * 4;
    scatter4(idx, whole, sub, stride);
    for (int64_t j = whole; j < m; ++j) ++sub[idx[j]];
  }
}

// Raises cmax[i % channels] to the finite |x[i]| for i in [b, e) (NaN and +-Inf fail a <= max).
void raise_channel_absmax(const float* x, int64_t b, int64_t e, float* cmax, int64_t channels) {
  int64_t c = b % channels;
  for (int64_t i = b; i < e; ++i) {
    const float a = std::fabs(x[i]);
    cmax[c] = a <= std::numeric_limits<float>::max() && a > cmax[c] ? a : cmax[c];
    if (++c == channels) c = 0;
  }
}

// count_chunk and scan_values in one pass, for when the range to count at is already known to
// be probably large enough: the indexes come from the same vectors (kFloatLanes) as the min/max.
// Values at or above the range (|x| * scale >= nb), NaN and +-Inf land in the extra bin; the
// caller counts again at a larger range when the scan's absmax is not below the range.
// Unlike scan_values, the min/max here take +-Inf in (NaN drops out of `v < lo ? v : lo`), which
// saves the finiteness masks: an infinity makes the absmax infinite, so the caller scans such a
// chunk again for its finite min/max (the counts stand). With kFiniteOnly they take only the
// finite values (the masks cost less than that second scan where infinities are expected).
// Either way, unless the absmax is infinite, `nonfinite` is the extra bin's count: the NaN and
// +-Inf and the values at or above the range.
//
// With `cmax`, it also raises cmax[i % channels] to the finite |x[i]| (channels a multiple of
// kFloatLanes): the per-channel absmax of a layer's input along its last axis, from the same
// vectors.
template <bool kFiniteOnly = false>
ValueScan count_scan_chunk(const float* x, int64_t b, int64_t e, float scale, SubCount* sub,
                           size_t nb, float* cmax = nullptr, int64_t channels = 0) {
  constexpr int kLanes = kFloatLanes;
  constexpr int64_t kBlock = 64;
  using F = float __attribute__((vector_size(kLanes * sizeof(float))));
  using I = int32_t __attribute__((vector_size(kLanes * sizeof(int32_t))));
  constexpr float kInf = std::numeric_limits<float>::infinity();
  F lo = F{} + kInf, hi = F{} - kInf;
  const F sink = F{} + static_cast<float>(nb), sc = F{} + scale;
  const size_t stride = nb + 1;
  const F big = F{} + std::numeric_limits<float>::max();
  alignas(64) int32_t idx[kBlock];
  int64_t i = b;
  int64_t channel = channels > 0 ? b % channels : 0;  // of x[i], a multiple of kLanes
  for (; i + kBlock <= e; i += kBlock) {
    for (int k = 0; k < kBlock / kLanes; ++k) {
      F v;
      std::memcpy(&v, x + i + k * kLanes, sizeof(v));
      const F a = std::bit_cast<F>(std::bit_cast<I>(v) & 0x7fffffff);  // |v|, one AND
      if constexpr (kFiniteOnly) {
        const I finite = a <= big;  // false for NaN and +-Inf
        lo = (finite & (v < lo)) ? v : lo;
        hi = (finite & (v > hi)) ? v : hi;
      } else {
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
      }
      if (cmax != nullptr) {
        F c;
        std::memcpy(&c, cmax + channel, sizeof(c));
        c = a <= big && a > c ? a : c;  // NaN and +-Inf fail a <= big
        std::memcpy(cmax + channel, &c, sizeof(c));
        channel += kLanes;
        if (channel == channels) channel = 0;
      }
      F f = a * sc;
      f = f < sink ? f : sink;  // NaN compares false: the extra bin
      const I q = __builtin_convertvector(f, I);
      std::memcpy(idx + k * kLanes, &q, sizeof(q));
    }
    scatter4(idx, kBlock, sub, stride);
  }
  ValueScan s;
  for (int j = 0; j < kLanes; ++j) {
    s.lo = lo[j] < s.lo ? lo[j] : s.lo;
    s.hi = hi[j] > s.hi ? hi[j] : s.hi;
  }
  for (int64_t j = i; j < e; ++j) {
    if (kFiniteOnly && !(std::fabs(x[j]) <= std::numeric_limits<float>::max())) continue;
    s.lo = x[j] < s.lo ? x[j] : s.lo;
    s.hi = x[j] > s.hi ? x[j] : s.hi;
  }
  if (cmax != nullptr) raise_channel_absmax(x, i, e, cmax, channels);
  count_chunk(x, i, e, scale, sub, nb);  // the tail
  for (size_t j = 0; j < kSubs; ++j) s.nonfinite += sub[j * stride + nb];
  return s;
}

// log2(hi / lo) for powers of two hi >= lo > 0 (frexp(2^s) gives the exponent s + 1).
int shift_between(double hi, double lo) {
  int e = 0;
  std::frexp(hi / lo, &e);
  return e - 1;
}

// For count_scan_chunk's counts made at a range too small by 2^shift (shift >= 1): merges the
// sub-histograms' bins down to the range 2^shift times larger (bin k -> k >> shift, exact as
// in grow_to), then counts the finite values of x[b, e) at or above `guess`, which went to the
// extra bin, at the new scale (a power of two). Returns how many there were (the extra bins
// still hold them; drain clears those), counted round-robin over the four sub-histograms. They
// are few, a chunk's extremes: a vector compare finds the blocks of kFloatLanes values that
// hold any.
int64_t recount_above(const float* x, int64_t b, int64_t e, float guess, int shift, float scale,
                      SubCount* sub, size_t nb) {
  // Each new bin sums `width` old ones; past a shift of log2(nb) every value below the guess
  // lands in bin 0.
  const size_t stride = nb + 1;
  const size_t width = shift >= std::countr_zero(nb) ? nb : size_t{1} << shift;
  const size_t kept = nb / width;
  for (size_t j = 0; j < kSubs; ++j) {
    SubCount* row = sub + j * stride;
    for (size_t i = 0; i < kept; ++i) {  // reads row[i * width, ...) >= i: in place is safe
      uint32_t sum = 0;
      for (size_t k = i * width; k < (i + 1) * width; ++k) sum += row[k];
      row[i] = sum;
    }
    std::fill(row + kept, row + nb, SubCount{0});
  }
  constexpr int kLanes = kFloatLanes;
  using F = float __attribute__((vector_size(kLanes * sizeof(float))));
  using I = int32_t __attribute__((vector_size(kLanes * sizeof(int32_t))));
  const F g = F{} + guess, big = F{} + std::numeric_limits<float>::max();
  int64_t again = 0;
  const auto count = [&](int64_t i) {
    const float a = std::fabs(x[i]);
    if (a >= guess && a <= std::numeric_limits<float>::max()) {
      ++sub[static_cast<size_t>(again) % kSubs * stride + static_cast<size_t>(a * scale)];
      ++again;
    }
  };
  int64_t i = b;
  for (; i + kLanes <= e; i += kLanes) {
    F v;
    std::memcpy(&v, x + i, sizeof(v));
    const F a = std::bit_cast<F>(std::bit_cast<I>(v) & 0x7fffffff);
    const I hit = (a >= g) & (a <= big);
    bool any = false;
    for (int k = 0; k < kLanes; ++k) any |= hit[k] != 0;
    if (any) {
      for (int64_t k = i; k < i + kLanes; ++k) count(k);
    }
  }
  for (; i < e; ++i) count(i);
  return again;
}

// Counts x[b, e) into the (all zero) sub-histograms and scans it. `guess` is a power-of-two
// range the values probably fit below (0: none known); when they do, one fused pass does both,
// else the chunk is scanned and counted at the larger of `floor` and its own range. Returns
// the range the counts were made at in `range` and the highest bin they can reach in `top`.
// With `infinities` (expected: an earlier chunk had some), the fused pass takes the finite
// min/max itself; without, a chunk that has some is scanned a second time and `infinities` set.
ValueScan count_and_scan(const float* x, int64_t b, int64_t e, double guess, double floor,
                         SubCount* sub, size_t nb, double& range, size_t& top, float* cmax,
                         int64_t channels, bool& infinities) {
  if (guess > 0 && static_cast<double>(nb) / guess < 0x1p100) {
    const auto f = static_cast<float>(static_cast<double>(nb) / guess);
    // (Its channel maxima are right whatever comes next: they do not depend on the range.)
    ValueScan scan = infinities ? count_scan_chunk<true>(x, b, e, f, sub, nb, cmax, channels)
                                : count_scan_chunk<false>(x, b, e, f, sub, nb, cmax, channels);
    float m = scan.absmax();
    // An infinity (an attention mask's -inf, say) took the min/max in: a second, read-only scan
    // finds the finite ones. The counts stand: the infinities went to the extra bins, like NaN,
    // and so did any finite values at or above the guess, which are counted again below.
    const bool rescanned = !(m <= std::numeric_limits<float>::max());
    if (rescanned) {
      scan = scan_values(x, b, e);
      m = scan.absmax();
      infinities = true;
    }
    if (m < guess) {
      range = guess;
      top = static_cast<size_t>(m * f);
      return scan;
    }
    // Finite values at or above the guess: the counts below it are moved to the larger range
    // and only those values are counted again.
    range = std::max(floor, pow2_above(m));
    const auto g = static_cast<float>(guess);
    const auto fr = static_cast<float>(static_cast<double>(nb) / range);
    const int64_t again = recount_above(x, b, e, g, shift_between(range, guess), fr, sub, nb);
    // (The fused scan's count of non-finite values is the extra bins', which held them too.)
    if (!rescanned) scan.nonfinite -= again;
    top = static_cast<size_t>(m * fr);
    return scan;
  }
  // (A maximum taken twice is the same maximum: the channels may be raised again below.)
  const ValueScan scan = scan_values(x, b, e);
  const float m = scan.absmax();
  range = m == 0 ? floor : std::max(floor, pow2_above(m));
  const double scale = range == 0 ? 0 : static_cast<double>(nb) / range;
  if (range > 0 && scale < 0x1p100) {
    const auto f = static_cast<float>(scale);
    // (Its own scan is not needed: the one above leaves the infinities out.)
    count_scan_chunk(x, b, e, f, sub, nb, cmax, channels);
    top = static_cast<size_t>(m * f);
    return scan;
  }
  if (cmax != nullptr) raise_channel_absmax(x, b, e, cmax, channels);
  if (range == 0) {  // only zeros (and non-finite values) so far: all in bin 0 at any range
    // (Spread over the four sub-histograms, as counting would; drain clears the NaN bins.)
    const auto zeros = static_cast<size_t>(e - b - scan.nonfinite);
    for (size_t j = 0; j < kSubs; ++j) {
      sub[j * (nb + 1)] = static_cast<SubCount>(zeros / kSubs + (j < zeros % kSubs));
    }
    top = 0;
    return scan;
  }
  // A float scale would overflow for ranges below 2^-100 (denormal-sized tensors).
  count_chunk(x, b, e, scale, sub, nb);
  top = static_cast<size_t>(static_cast<double>(m) * scale);
  return scan;
}

// This thread's four sub-histograms of nb + 1 bins (the last takes NaN and +-Inf), all zero
// between uses.
SubCount* thread_sub_histograms(size_t nb) {
  thread_local std::vector<SubCount> sub;
  if (sub.size() != kSubs * (nb + 1)) sub.assign(kSubs * (nb + 1), 0);
  return sub.data();
}

// Adds the sums of the sub-histograms' bins 0..top into counts[k >> shift] and clears them (and
// the NaN bins) again: only the bins up to the top are touched, so a small tensor does not pay
// for the whole bin count. With no shift (the common case) the loop vectorises.
void drain(SubCount* sub, size_t nb, size_t top, int shift, int64_t* counts) {
  static_assert(kSubs == 4);
  const size_t stride = nb + 1, n = top + 1;
  const SubCount* s0 = sub;
  const SubCount* s1 = sub + stride;
  const SubCount* s2 = sub + 2 * stride;
  const SubCount* s3 = sub + 3 * stride;
  if (shift == 0) {
    for (size_t k = 0; k < n; ++k) counts[k] += static_cast<int64_t>(s0[k] + s1[k] + s2[k] + s3[k]);
  } else {
    // Ranges far apart (a chunk of values near 1e-30 into a histogram at 1e30's) shift by more
    // than an index has bits: every bin goes to bin 0.
    const int s = std::min(shift, 63);
    for (size_t k = 0; k < n; ++k) {
      counts[k >> s] += static_cast<int64_t>(s0[k] + s1[k] + s2[k] + s3[k]);
    }
  }
  for (size_t j = 0; j < kSubs; ++j) {
    std::memset(sub + j * stride, 0, n * sizeof(SubCount));
    sub[j * stride + nb] = 0;
  }
}

}  // namespace

int64_t AbsHistogram::add(const float* x, int64_t n, exec::ThreadPool* pool) {
  return add_batch(x, n, pool).nonfinite;
}

bool AbsHistogram::can_take_channels(int64_t channels) {
  return channels > 0 && channels % kFloatLanes == 0 && channels <= kChunk;
}

ValueScan AbsHistogram::add_batch(const float* x, int64_t n, exec::ThreadPool* pool,
                                  ChannelMaxima channels) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  const size_t nb = counts_.size();
  if (channels.acc != nullptr && !can_take_channels(channels.channels)) {
    throw std::invalid_argument("channel maxima need a channel count that can_take_channels takes");
  }
  if (chunks <= 1) return add_small(x, n, channels);
  // Each chunk's scan, kept between calls (its size grows with the largest tensor seen).
  thread_local std::vector<ValueScan> kept_scans;
  std::vector<ValueScan>& scans = kept_scans;  // this thread's, also inside the workers' lambda
  scans.assign(static_cast<size_t>(chunks), ValueScan{});
  // A chunk guesses that it fits the largest range a chunk of this batch has been counted at
  // so far (the histogram's before the first). Any range at least the chunk's own gives the
  // same final bins (see the header), so which chunk saw what when does not change the result.
  const double current = range_;
  std::atomic<double> seen{current};
  // Each chunk's counts are added into the histogram as soon as they are made, under a lock:
  // the histogram first grows to the chunk's range, or the chunk's bins are merged down to the
  // histogram's (both exact), and integer sums do not depend on the order. No per-chunk copy
  // of the counts is kept: growing one with the largest tensor seen put blocks between the
  // executor's freed activations, and the next activations then took fresh pages.
  // The channel maxima likewise: each chunk's are taken into the caller's under the lock (a
  // maximum does not depend on the order either).
  std::mutex merge;
  // Once a chunk has had an infinity, the later ones take their finite min/max in the counting
  // pass (see infinities_; which of the two ways a chunk is scanned does not change its results).
  std::atomic<bool> infinities{infinities_};
  const int64_t nc = channels.acc != nullptr ? channels.channels : 0;
  const auto run = [&](int64_t c0, int64_t c1) {
    SubCount* sub = thread_sub_histograms(nb);
    thread_local std::vector<float> chunk_channels;
    for (int64_t c = c0; c < c1; ++c) {
      double range = 0;
      size_t top = 0;
      chunk_channels.assign(static_cast<size_t>(nc), 0.0f);
      bool inf = infinities.load(std::memory_order_relaxed);
      scans[static_cast<size_t>(c)] =
          count_and_scan(x, c * kChunk, std::min(n, (c + 1) * kChunk), seen.load(), current, sub,
                         nb, range, top, nc > 0 ? chunk_channels.data() : nullptr, nc, inf);
      if (inf) infinities.store(true, std::memory_order_relaxed);
      double r = seen.load();
      while (range > r && !seen.compare_exchange_weak(r, range)) {
      }
      const std::lock_guard<std::mutex> lock(merge);
      if (range > range_) grow_to(std::nextafter(range, 0.0));  // range_ becomes `range`
      const int shift = range > 0 ? shift_between(range_, range) : 0;
      drain(sub, nb, top, shift, counts_.data());
      for (int64_t k = 0; k < nc; ++k) {
        float& m = channels.acc[k];
        m = chunk_channels[static_cast<size_t>(k)] > m ? chunk_channels[static_cast<size_t>(k)] : m;
      }
    }
  };
  if (pool != nullptr && pool->size() > 1) {
    pool->parallel_for(chunks, 1, run);
  } else {
    run(0, chunks);
  }
  infinities_ = infinities.load();
  ValueScan total;
  for (const ValueScan& s : scans) total.merge(s);  // in chunk order: -0 and +0 ties stay put
  absmax_ = std::max(absmax_, static_cast<double>(total.absmax()));
  total_ += n - total.nonfinite;
  return total;
}

// One chunk: the histogram grows to the chunk's range first and the sub-histograms are added
// straight into it (what add_batch's merge would do, without the per-chunk copy: small tensors
// are most of the calls).
ValueScan AbsHistogram::add_small(const float* x, int64_t n, ChannelMaxima channels) {
  const size_t nb = counts_.size();
  SubCount* sub = thread_sub_histograms(nb);
  // Guess the histogram's range: after the first runs a tensor's values mostly fit in it.
  double range = 0;
  size_t top = 0;
  const ValueScan scan = count_and_scan(x, 0, n, range_, range_, sub, nb, range, top, channels.acc,
                                        channels.channels, infinities_);
  const float m = scan.absmax();
  if (range > range_) grow_to(std::nextafter(range, 0.0));  // range_ becomes `range`
  drain(sub, nb, top, 0, counts_.data());
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

AbsHistogram AbsHistogram::minus(const AbsHistogram& earlier) const {
  if (earlier.counts_.size() != counts_.size() || earlier.range_ > range_ ||
      earlier.total_ > total_) {
    throw std::invalid_argument("subtracting a histogram that is not part of this one");
  }
  AbsHistogram e = earlier;
  if (range_ > 0) e.grow_to(std::nextafter(range_, 0.0));  // e's range becomes range_
  AbsHistogram out = *this;
  for (size_t i = 0; i < counts_.size(); ++i) {
    if (e.counts_[i] > counts_[i]) {
      throw std::invalid_argument("subtracting a histogram that is not part of this one");
    }
    out.counts_[i] -= e.counts_[i];
  }
  out.total_ -= e.total_;
  return out;
}

void AbsHistogram::scale_range(int k, double absmax) {
  range_ = absmax == 0 ? 0 : std::ldexp(range_, k);
  absmax_ = absmax;
}

}  // namespace mixq::calib
