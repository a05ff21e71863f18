// A streaming histogram of |x| for one tensor; observer_percentile, observer_entropy and
// observer_mse derive clipping ranges from it.
//
// The histogram covers [0, R) with a fixed number of equal bins (a power of two, default 2048).
// R is always the smallest power of two > the largest |x| seen so far; when a larger value
// arrives, R doubles as often as needed and bins merge pairwise (new bin i = old bins 2i, 2i+1).
// Because R and the bin width are powers of two, a value's bin, floor(|x| * bins / R), is
// computed exactly, and merging gives exactly the bins a histogram built at the final R would
// have: the result depends only on the multiset of values, not on how they were batched or in
// what order they came. Memory is bins counters per tensor, whatever the number of samples.
//
// NaN and +-Inf are not counted (the caller reports them); zeros are counted in bin 0.
#pragma once

#include <cstdint>
#include <vector>

#include "mixq/calibration/observers/observer_minmax.h"
#include "mixq/core/dtype.h"
#include "mixq/exec/thread_pool.h"

namespace mixq::calib {

// Where AbsHistogram::add_batch also takes the per-channel absmax of x along its last axis
// (`channels` values per row): acc[k] is raised to the largest finite |x[i]| with
// i % channels == k.
struct ChannelMaxima {
  float* acc = nullptr;  // none
  int64_t channels = 0;
};

class AbsHistogram {
 public:
  explicit AbsHistogram(int bins = 2048);

  // Values per chunk of add()/add_batch(): at most this many are counted as one chunk, on the
  // calling thread (a quarter of them fits the 16-bit counters of each of its four
  // sub-histograms, twice over).
  static constexpr int64_t kChunkValues = int64_t{1} << 16;

  // Adds finite values; returns how many non-finite values were skipped. With a pool, large
  // inputs are counted in fixed chunks in parallel (integer counts: the result is the same).
  int64_t add(const float* x, int64_t n, exec::ThreadPool* pool = nullptr);
  // Whether add_batch takes this channel count: a multiple of the vector width, at most a chunk.
  static bool can_take_channels(int64_t channels);
  // As add(), and also returns the batch's finite min and max (what MinMax needs) from the same
  // pass over x: each chunk is scanned and then counted while it is still in cache. With
  // `channels`, the channel maxima come from that pass too (instead of a second one over x,
  // which for a large tensor reads it from memory again).
  ValueScan add_batch(const float* x, int64_t n, exec::ThreadPool* pool = nullptr,
                      ChannelMaxima channels = {});

  int bins() const { return static_cast<int>(counts_.size()); }
  // The covered range [0, R): 0 until a non-zero value has been seen.
  double range() const { return range_; }
  double bin_width() const { return range_ / static_cast<double>(counts_.size()); }
  const std::vector<int64_t>& counts() const { return counts_; }
  int64_t total() const { return total_; }
  double absmax() const { return absmax_; }
  // The bin that holds absmax (the last with data), or -1 when every value was zero or none came.
  int64_t last_used_bin() const {
    return absmax_ == 0 ? -1 : static_cast<int64_t>(absmax_ / bin_width());
  }

  // Merges another histogram of the same bin count (exact, as above).
  void merge(const AbsHistogram& other);
  // This histogram less `earlier`, a histogram of some of its values (itself at an earlier
  // point, say): the counts of the other values, at this one's range (exact, as above). Their
  // absmax is not known: it is left at this one's.
  AbsHistogram minus(const AbsHistogram& earlier) const;
  // Makes this the histogram of the values times 2^k: the same counts over the range times
  // 2^k, and `absmax` the new values' largest |x| (0: every value is zero, and the range
  // becomes 0). Exact when that range is still a power of two above absmax and the values
  // times 2^k were computed exactly or fall in bin 0 (StatsCollector's derived tensors).
  void scale_range(int k, double absmax);

 private:
  void grow_to(double range);
  ValueScan add_small(const float* x, int64_t n, ChannelMaxima channels);  // for a single chunk

  std::vector<int64_t> counts_;
  double range_ = 0;  // power of two, or 0 while every value seen is zero
  double absmax_ = 0;
  int64_t total_ = 0;
  // Whether a chunk counted at a guessed range has turned out to hold +-Inf (attention masks
  // put -inf in every run): the later chunks then take their finite min/max in the counting
  // pass, instead of in a second pass when one holds an infinity. (A chunk scanned before it is
  // counted, the first of a histogram, does not tell: its scan leaves NaN and +-Inf apart
  // together.) Either way gives the same results.
  bool infinities_ = false;
};

}  // namespace mixq::calib
