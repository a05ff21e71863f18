// Dense matrix products on Eigen's blocked GEMM, parallelized by splitting the output into
// blocks whose sizes depend only on the matrix shapes (so results are identical for any thread
// count). Used by MatMul, Gemm, Conv (im2col), ConvTranspose, Einsum, attention. Internal.
#pragma once

#include <cstdint>

#include "mixq/exec/thread_pool.h"

namespace mixq::exec {

// C[M,N] = alpha * op(A) * op(B) + beta * C, row-major with leading dimensions lda/ldb/ldc
// (elements between rows). op(A) is A[M,K] or, with trans_a, the transpose of A[K,M]; likewise B.
// beta == 0 ignores C's previous contents (it may be uninitialized). Runs on the pool unless
// `pool` is null (callers already parallel over batches pass nullptr).
template <typename T>
void gemm(ThreadPool* pool, int64_t M, int64_t N, int64_t K, T alpha, const T* A, int64_t lda,
          bool trans_a, const T* B, int64_t ldb, bool trans_b, T beta, T* C, int64_t ldc);

}  // namespace mixq::exec
