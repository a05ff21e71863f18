// Float32 matrix products with the constant operand (a weight) packed once, ahead of the runs.
//
// Eigen repacks both operands on every call; for inference-sized products (128 tokens × a
// 256×768 weight, a 64×576 convolution weight against 3136 positions) that repacking and a
// separate im2col copy cost a third of the time. Here the weight is laid out once into the
// order the register-blocked inner kernel reads it, and the other operand is read in place:
//
//   PackedRight: C[M, N] = A[M, K] · B      (MatMul/Gemm: activations times a weight B[K, N])
//   PackedLeft:  C[M, N] = W · X[K, N]      (Conv: weight W[M, K] times im2col or input rows)
//
// Every output element is one fused multiply-add chain over k = 0..K-1 in order, computed by
// one tile, so results do not depend on the thread count or on how tiles are scheduled.
// Built for AVX-512 and for AVX2 with FMA (MIXQ_NATIVE on such a machine), both with the same
// chain of fused multiply-adds per output. Otherwise packed_gemm_available() is false and
// callers use gemm() (Eigen), whose sums depend on the product's width. Internal.
#pragma once

#include <cstdint>
#include <memory>
#include <new>
#include <vector>

#include "mixq/exec/thread_pool.h"

namespace mixq::exec {

bool packed_gemm_available();

// Float storage on 64-byte boundaries, so that the tiles' 64-byte loads of packed rows never
// straddle two cache lines.
template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) {}  // NOLINT(google-explicit-constructor)
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{64}));
  }
  void deallocate(T* p, size_t) { ::operator delete (p, std::align_val_t{64}); }
  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const {
    return true;
  }
};
using AlignedFloats = std::vector<float, CacheLineAllocator<float>>;

struct PackedRight {
  int64_t K = 0, N = 0;
  AlignedFloats data;  // panels of kPanel columns: [N / kPanel][K][kPanel], zero padded
};

struct PackedLeft {
  int64_t M = 0, K = 0;
  AlignedFloats data;  // blocks of kBlock rows: [M / kBlock][K][kBlock], zero padded
};

// B is [K, N] with leading dimension ldb, or with trans_b the transpose of B[N, K].
std::unique_ptr<PackedRight> pack_right(const float* B, int64_t K, int64_t N, int64_t ldb,
                                        bool trans_b);
// W is [M, K] with leading dimension ldw.
std::unique_ptr<PackedLeft> pack_left(const float* W, int64_t M, int64_t K, int64_t ldw);

// C = A · B, A row-major [M, K] with leading dimension lda; C is overwritten.
void gemm_packed_right(ThreadPool* pool, int64_t M, const float* A, int64_t lda,
                       const PackedRight& b, float* C, int64_t ldc);
// C = W · X, X row-major [K, N] with leading dimension ldx; C is overwritten.
void gemm_packed_left(ThreadPool* pool, const PackedLeft& w, int64_t N, const float* X, int64_t ldx,
                      float* C, int64_t ldc);

// C = W · X' with X'[k][j] = X[koff[k] + j]: the rows of X are read at any offsets (a
// convolution reads shifted rows of its padded input this way instead of an im2col copy).
void gemm_packed_left_offsets(ThreadPool* pool, const PackedLeft& w, int64_t N, const float* X,
                              const int64_t* koff, float* C, int64_t ldc);

}  // namespace mixq::exec
