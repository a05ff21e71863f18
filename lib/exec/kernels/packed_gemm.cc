#include "kernels/packed_gemm.h"

#include <algorithm>
#include <array>
#include <utility>

#if defined(__AVX512F__) || (defined(__AVX2__) && defined(__FMA__))
#define MIXQ_PACKED_GEMM 1
#include <immintrin.h>
#endif

namespace mixq::exec {
namespace {

constexpr int64_t kBlock = 12;  // rows per tile: 12 × 2 accumulators of 16 floats
constexpr int64_t kPanel = 32;  // columns per tile

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Runs task(t) for t in [0, tasks) on the pool, or in order without one. `group` consecutive
// tasks share an operand panel; a chunk of work stays within a group so that each panel is read
// into as few cores' caches as possible. (Every output is computed by one task
// in the same order whatever the split, so this affects speed only.)
template <typename F>
void for_tasks(ThreadPool* pool, int64_t tasks, int64_t group, const F& task) {
  if (pool == nullptr) {
    for (int64_t t = 0; t < tasks; ++t) task(t);
    return;
  }
  // At least 16 chunks (balance), each within one group: groups are halved, thirded, ... as
  // needed, so a panel is shared by at most that many threads.
  const int64_t groups = std::max<int64_t>(1, tasks / group);
  const int64_t split = std::min(group, (16 + groups - 1) / groups);
  const int64_t grain = (group + split - 1) / split;
  pool->parallel_for(tasks, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) task(t);
  });
}

#if defined(__AVX512F__)

// Masks for the first `cols` (0..32) columns of a tile, split over the two vectors.
__mmask16 low_mask(int64_t cols) {
  return cols >= 16 ? __mmask16(0xFFFF) : __mmask16((1u << cols) - 1);
}
__mmask16 high_mask(int64_t cols) {
  return cols >= 32   ? __mmask16(0xFFFF)
         : cols <= 16 ? __mmask16(0)
                      : __mmask16((1u << (cols - 16)) - 1);
}

// R rows × the first `cols` of 32 columns of C. Row i, step k multiplies the scalar
// a[k * kBlock + i] (a block of rows packed k-major) with the 32 floats at row_k = b + k * b_k,
// or b + koff[k] with kOffsets (masked to the tile's columns), and accumulates in order of k.
template <int R, bool kOffsets>
void tile(const float* a, const float* b, int64_t b_k, const int64_t* koff, int64_t K, int64_t cols,
          float* c, int64_t ldc) {
  const __mmask16 m0 = low_mask(cols), m1 = high_mask(cols);
  // Every loop over the R rows is unrolled so that the accumulators live in registers.
  __m512 acc0[R], acc1[R];
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) acc0[i] = acc1[i] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* row = kOffsets ? b + koff[k] : b + k * b_k;
    const __m512 b0 = _mm512_maskz_loadu_ps(m0, row);
    const __m512 b1 = _mm512_maskz_loadu_ps(m1, row + 16);
    const float* ak = a + k * kBlock;
#pragma GCC unroll 16
    for (int i = 0; i < R; ++i) {
      const __m512 s = _mm512_set1_ps(ak[i]);
      acc0[i] = _mm512_fmadd_ps(s, b0, acc0[i]);
      acc1[i] = _mm512_fmadd_ps(s, b1, acc1[i]);
    }
  }
#pragma GCC unroll 16
  for (int i = 0; i < R; ++i) {
    _mm512_mask_storeu_ps(c + i * ldc, m0, acc0[i]);
    _mm512_mask_storeu_ps(c + i * ldc + 16, m1, acc1[i]);
  }
}

#elif defined(MIXQ_PACKED_GEMM)

// AVX2 with FMA: 8-lane registers. A tile's R × 32 outputs would need 4R accumulators, more
// than the 16 registers, so it is computed in pieces of at most kPieceRows rows × 16 columns
// (12 accumulators, 2 loads of b and a broadcast), each over the whole k range: every output
// is still one fused multiply-add chain over k in order from zero, the same operations in the
// same order as in the AVX-512 tile.
constexpr int kPieceRows = 6;

// All ones in the lanes j < n (n may be below 0 or above 8).
__m256i lane_mask(int64_t n) {
  const auto m = static_cast<int>(std::clamp<int64_t>(n, 0, 8));
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(m), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

// R (<= kPieceRows) rows × 16 columns, masked by m0 (columns 0..7) and m1 (8..15); masked
// lanes are neither read nor written.
template <int R, bool kOffsets, bool kFull>
void piece(const float* a, const float* b, int64_t b_k, const int64_t* koff, int64_t K, __m256i m0,
           __m256i m1, float* c, int64_t ldc) {
  __m256 acc0[R], acc1[R];
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) acc0[i] = acc1[i] = _mm256_setzero_ps();
  for (int64_t k = 0; k < K; ++k) {
    const float* row = kOffsets ? b + koff[k] : b + k * b_k;
    const __m256 b0 = kFull ? _mm256_loadu_ps(row) : _mm256_maskload_ps(row, m0);
    const __m256 b1 = kFull ? _mm256_loadu_ps(row + 8) : _mm256_maskload_ps(row + 8, m1);
    const float* ak = a + k * kBlock;
#pragma GCC unroll 8
    for (int i = 0; i < R; ++i) {
      const __m256 s = _mm256_broadcast_ss(ak + i);
      acc0[i] = _mm256_fmadd_ps(s, b0, acc0[i]);
      acc1[i] = _mm256_fmadd_ps(s, b1, acc1[i]);
    }
  }
#pragma GCC unroll 8
  for (int i = 0; i < R; ++i) {
    if constexpr (kFull) {
      _mm256_storeu_ps(c + i * ldc, acc0[i]);
      _mm256_storeu_ps(c + i * ldc + 8, acc1[i]);
    } else {
      _mm256_maskstore_ps(c + i * ldc, m0, acc0[i]);
      _mm256_maskstore_ps(c + i * ldc + 8, m1, acc1[i]);
    }
  }
}

// Rows [0, R) of one 16-column half, kPieceRows at a time (a's rows are its lanes k-major);
// kFull: all 16 columns, plain loads and stores.
template <int R, bool kOffsets, bool kFull>
void half_rows(const float* a, const float* b, int64_t b_k, const int64_t* koff, int64_t K,
               __m256i m0, __m256i m1, float* c, int64_t ldc) {
  if constexpr (R > kPieceRows) {
    piece<kPieceRows, kOffsets, kFull>(a, b, b_k, koff, K, m0, m1, c, ldc);
    half_rows<R - kPieceRows, kOffsets, kFull>(a + kPieceRows, b, b_k, koff, K, m0, m1,
                                               c + kPieceRows * ldc, ldc);
  } else {
    piece<R, kOffsets, kFull>(a, b, b_k, koff, K, m0, m1, c, ldc);
  }
}

// The same contract as the AVX-512 tile above: R rows × the first `cols` of 32 columns.
template <int R, bool kOffsets>
void tile(const float* a, const float* b, int64_t b_k, const int64_t* koff, int64_t K, int64_t cols,
          float* c, int64_t ldc) {
  const __m256i all = lane_mask(8);
  if (cols >= 16) {
    half_rows<R, kOffsets, true>(a, b, b_k, koff, K, all, all, c, ldc);
  } else {
    half_rows<R, kOffsets, false>(a, b, b_k, koff, K, lane_mask(cols), lane_mask(cols - 8), c, ldc);
  }
  if (cols >= 32) {
    half_rows<R, kOffsets, true>(a, b + 16, b_k, koff, K, all, all, c + 16, ldc);
  } else if (cols > 16) {
    half_rows<R, kOffsets, false>(a, b + 16, b_k, koff, K, lane_mask(cols - 16),
                                  lane_mask(cols - 24), c + 16, ldc);
  }
}

#endif

#if defined(MIXQ_PACKED_GEMM)
using TileFn = void (*)(const float*, const float*, int64_t, const int64_t*, int64_t, int64_t,
                        float*, int64_t);
template <bool kOffsets, int... R>
constexpr std::array<TileFn, sizeof...(R) + 1> make_tiles(std::integer_sequence<int, R...>) {
  return {nullptr, &tile<R + 1, kOffsets>...};
}
constexpr auto kTiles = make_tiles<false>(std::make_integer_sequence<int, kBlock>{});
constexpr auto kOffsetTiles = make_tiles<true>(std::make_integer_sequence<int, kBlock>{});
#endif  // MIXQ_PACKED_GEMM

// Rows of A [M, K] (leading dimension lda) packed k-major in blocks of kBlock rows:
// out[(i / kBlock) * K * kBlock + k * kBlock + i % kBlock], zero padded to whole blocks.
void pack_rows(const float* A, int64_t M, int64_t K, int64_t lda, float* out) {
  const int64_t blocks = ceil_div(M, kBlock);
  for (int64_t blk = 0; blk < blocks; ++blk) {
    float* dst = out + blk * K * kBlock;
    const int64_t rows = std::min(kBlock, M - blk * kBlock);
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t r = 0; r < kBlock; ++r) {
        dst[k * kBlock + r] = r < rows ? A[(blk * kBlock + r) * lda + k] : 0.0f;
      }
    }
  }
}

}  // namespace

bool packed_gemm_available() {
#if defined(MIXQ_PACKED_GEMM)
  return true;
#else
  return false;
#endif
}

std::unique_ptr<PackedRight> pack_right(const float* B, int64_t K, int64_t N, int64_t ldb,
                                        bool trans_b) {
  auto p = std::make_unique<PackedRight>();
  p->K = K;
  p->N = N;
  p->data.assign(static_cast<size_t>(ceil_div(N, kPanel) * K * kPanel), 0.0f);
  // B is read along its rows (a column-by-column walk of a large [K, N] weight missed the
  // cache on every element): panel rows of kPanel floats are written whole.
  float* out = p->data.data();
  if (trans_b) {
    for (int64_t j = 0; j < N; ++j) {
      float* dst = out + (j / kPanel) * K * kPanel + j % kPanel;
      for (int64_t k = 0; k < K; ++k) dst[k * kPanel] = B[j * ldb + k];
    }
  } else {
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t j0 = 0; j0 < N; j0 += kPanel) {
        const int64_t w = std::min(kPanel, N - j0);
        std::copy(B + k * ldb + j0, B + k * ldb + j0 + w,
                  out + (j0 / kPanel) * K * kPanel + k * kPanel);
      }
    }
  }
  return p;
}

std::unique_ptr<PackedLeft> pack_left(const float* W, int64_t M, int64_t K, int64_t ldw) {
  auto p = std::make_unique<PackedLeft>();
  p->M = M;
  p->K = K;
  p->data.resize(static_cast<size_t>(ceil_div(M, kBlock) * K * kBlock));
  pack_rows(W, M, K, ldw, p->data.data());
  return p;
}

void gemm_packed_right(ThreadPool* pool, int64_t M, const float* A, int64_t lda,
                       const PackedRight& b, float* C, int64_t ldc) {
#if defined(MIXQ_PACKED_GEMM)
  const int64_t K = b.K, N = b.N;
  if (M <= 0 || N <= 0) return;  // nothing to write (and no task grain of 0 blocks below)
  const int64_t blocks = ceil_div(M, kBlock);
  // A is packed like a left weight (M x K copied once; the product reads it N / 32 times).
  AlignedFloats ap(static_cast<size_t>(blocks * K * kBlock));
  for_tasks(pool, blocks, 1, [&](int64_t blk) {
    pack_rows(A + blk * kBlock * lda, std::min(kBlock, M - blk * kBlock), K, lda,
              ap.data() + blk * K * kBlock);
  });
  // Consecutive tasks share a weight panel, which stays in cache while row blocks pass.
  for_tasks(pool, blocks * ceil_div(N, kPanel), blocks, [&](int64_t t) {
    const int64_t blk = t % blocks;
    const int64_t j0 = (t / blocks) * kPanel;
    const int64_t rows = std::min(kBlock, M - blk * kBlock);
    const int64_t cols = std::min(kPanel, N - j0);
    kTiles[static_cast<size_t>(rows)](ap.data() + blk * K * kBlock, b.data.data() + j0 * K, kPanel,
                                      nullptr, K, cols, C + blk * kBlock * ldc + j0, ldc);
  });
#else
  (void)pool, (void)M, (void)A, (void)lda, (void)b, (void)C, (void)ldc;
#endif
}

namespace {

// C = W · X with X's row k at X + k * ldx, or at X + koff[k] when koff is given.
void left_product(ThreadPool* pool, const PackedLeft& w, int64_t N, const float* X, int64_t ldx,
                  const int64_t* koff, float* C, int64_t ldc) {
#if defined(MIXQ_PACKED_GEMM)
  const int64_t M = w.M, K = w.K;
  if (M <= 0 || N <= 0) return;  // nothing to write (and no task grain of 0 blocks below)
  const int64_t blocks = ceil_div(M, kBlock);
  const auto& tiles = koff == nullptr ? kTiles : kOffsetTiles;
  // Consecutive tasks share a column panel of X, which stays in cache while weight blocks pass.
  for_tasks(pool, blocks * ceil_div(N, kPanel), blocks, [&](int64_t t) {
    const int64_t i0 = (t % blocks) * kBlock;
    const int64_t j0 = (t / blocks) * kPanel;
    const int64_t rows = std::min(kBlock, M - i0);
    const int64_t cols = std::min(kPanel, N - j0);
    tiles[static_cast<size_t>(rows)](w.data.data() + i0 * K, X + j0, ldx, koff, K, cols,
                                     C + i0 * ldc + j0, ldc);
  });
#else
  (void)pool, (void)w, (void)N, (void)X, (void)ldx, (void)koff, (void)C, (void)ldc;
#endif
}

}  // namespace

void gemm_packed_left(ThreadPool* pool, const PackedLeft& w, int64_t N, const float* X, int64_t ldx,
                      float* C, int64_t ldc) {
  left_product(pool, w, N, X, ldx, nullptr, C, ldc);
}

void gemm_packed_left_offsets(ThreadPool* pool, const PackedLeft& w, int64_t N, const float* X,
                              const int64_t* koff, float* C, int64_t ldc) {
  left_product(pool, w, N, X, 0, koff, C, ldc);
}

}  // namespace mixq::exec
