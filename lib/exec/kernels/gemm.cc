#include "kernels/gemm.h"

#include <Eigen/Core>
#include <algorithm>

namespace mixq::exec {
namespace {

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using ConstMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using MutMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// One block of C: rows [r0, r1), cols [c0, c1), computed by Eigen on this thread.
template <typename T>
void gemm_block(int64_t r0, int64_t r1, int64_t c0, int64_t c1, int64_t K, T alpha, const T* A,
                int64_t lda, bool trans_a, const T* B, int64_t ldb, bool trans_b, T beta, T* C,
                int64_t ldc) {
  const int64_t m = r1 - r0;
  const int64_t n = c1 - c0;
  MutMap<T> c(C + r0 * ldc + c0, m, n, Eigen::OuterStride<>(ldc));
  // op(A) rows r0..r1: A[r0:r1, :] or (A^T)[r0:r1, :] = A[:, r0:r1]^T.
  auto run = [&](const auto& a) {
    auto product = [&](const auto& b) {
      if (beta == T(0)) {
        if (alpha == T(1)) {
          c.noalias() = a * b;
        } else {
          c.noalias() = alpha * (a * b);
        }
      } else {
        if (beta != T(1)) c *= beta;
        c.noalias() += alpha * (a * b);
      }
    };
    if (trans_b) {
      ConstMap<T> b(B + c0 * ldb, n, K, Eigen::OuterStride<>(ldb));
      product(b.transpose());
    } else {
      ConstMap<T> b(B + c0, K, n, Eigen::OuterStride<>(ldb));
      product(b);
    }
  };
  if (trans_a) {
    ConstMap<T> a(A + r0, K, m, Eigen::OuterStride<>(lda));
    run(a.transpose());
  } else {
    ConstMap<T> a(A + r0 * lda, m, K, Eigen::OuterStride<>(lda));
    run(a);
  }
}

int64_t round_up(int64_t v, int64_t m) { return (v + m - 1) / m * m; }

}  // namespace

template <typename T>
void gemm(ThreadPool* pool, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          bool trans_a, const T* B, int64_t ldb, bool trans_b, T beta, T* C, int64_t ldc) {
  if (M <= 0 || N <= 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) {
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == T(0) ? T(0) : beta * C[i * ldc + j];
    }
    return;
  }
  // The output is cut into blocks along one dimension, with sizes that depend only on the
  // shape (so results are identical for any thread count): at least ~2M multiply-adds per block,
  // at most 16 blocks. Every block packs its slice of one operand and the whole of the other, so
  // the cut runs along the dimension whose whole operand is smaller to pack again: cutting rows
  // (M) repacks all of op(B) (K x N) per block, cutting columns (N) repacks op(A) (M x K).
  const int64_t work = M * N * K;
  const int64_t blocks_wanted = std::min<int64_t>(16, work >> 21);
  if (pool == nullptr || blocks_wanted < 2) {
    gemm_block(0, M, 0, N, K, alpha, A, lda, trans_a, B, ldb, trans_b, beta, C, ldc);
    return;
  }
  const bool cut_rows = M > N;
  const int64_t extent = cut_rows ? M : N;
  const int64_t align = cut_rows ? 8 : 16;  // multiples of Eigen's register block
  const int64_t size =
      std::max(align, round_up((extent + blocks_wanted - 1) / blocks_wanted, align));
  const int64_t blocks = (extent + size - 1) / size;
  pool->parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t lo = b * size;
      const int64_t hi = std::min(extent, lo + size);
      if (cut_rows) {
        gemm_block(lo, hi, 0, N, K, alpha, A, lda, trans_a, B, ldb, trans_b, beta, C, ldc);
      } else {
        gemm_block(0, M, lo, hi, K, alpha, A, lda, trans_a, B, ldb, trans_b, beta, C, ldc);
      }
    }
  });
}

template void gemm<float>(ThreadPool*, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          bool, const float*, int64_t, bool, float, float*, int64_t);
template void gemm<double>(ThreadPool*, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           bool, const double*, int64_t, bool, double, double*, int64_t);
template void gemm<int32_t>(ThreadPool*, int64_t, int64_t, int64_t, int32_t, const int32_t*,
                            int64_t, bool, const int32_t*, int64_t, bool, int32_t, int32_t*,
                            int64_t);
template void gemm<int64_t>(ThreadPool*, int64_t, int64_t, int64_t, int64_t, const int64_t*,
                            int64_t, bool, const int64_t*, int64_t, bool, int64_t, int64_t*,
                            int64_t);
template void gemm<uint32_t>(ThreadPool*, int64_t, int64_t, int64_t, uint32_t, const uint32_t*,
                             int64_t, bool, const uint32_t*, int64_t, bool, uint32_t, uint32_t*,
                             int64_t);
template void gemm<uint64_t>(ThreadPool*, int64_t, int64_t, int64_t, uint64_t, const uint64_t*,
                             int64_t, bool, const uint64_t*, int64_t, bool, uint64_t, uint64_t*,
                             int64_t);

}  // namespace mixq::exec
