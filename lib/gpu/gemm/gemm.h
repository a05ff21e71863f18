// GEMMs on the GPU through cuBLASLt (FP32, FP16, FP8 E4M3, INT8) and convolution through cuDNN,
// for the device executor and the gpu-labelled tests. No CUDA header here (streams travel as
// StreamHandle); cuBLASLt and cuDNN are opened with dlopen on first use (gemm/dynload.h).
//
// Layout: every GEMM is row-major Y[m,n] = A[m,k] · B[n,k]^T + bias[n]. A holds the activations,
// B the weights stored [out, in] (ONNX Gemm with transB=1; the executor transposes MatMul weights
// once at upload). All pointers are device memory; y must not overlap a, b, bias or the scales.
// Work is enqueued on the context's stream and not waited for.
//
// Errors: kBadInput for negative sizes or null pointers; kUnsupported for what the library
// cannot do here (an output dtype, a shape or an alignment cuBLASLt has no kernel for, FP8 on a
// device older than sm_89), naming m, n and k, so that the caller can fall back to another
// format; kNoDevice when the library cannot be loaded; kInternal for any other CUDA, cuBLASLt or
// cuDNN failure, with the function's name and the library's status string.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>

#include "mixq/core/dtype.h"
#include "mixq/core/status.h"
#include "mixq/gpu/device_tensor.h"

namespace mixq::gpu {

inline constexpr size_t kDefaultGemmWorkspaceBytes = size_t{32} << 20;

// The cuBLASLt handle, its workspace and the stream, bound to the device current at create().
// Also holds the matmul descriptors and algorithm chosen per shape (cublasLtMatmulAlgoGetHeuristic
// runs once per (format, m, n, k, output dtype, pointer alignments)), a scratch buffer for
// accumulators that grows on demand, and the cuDNN handle, created on the first convolution.
// Not thread-safe: use one context per thread (and stream).
class GemmContext {
 public:
  // Loads cuBLASLt (kNoDevice when it is missing), creates the handle and allocates the
  // workspace; `stream` is the stream every call of this context runs on (nullptr: the legacy
  // default stream).
  static Expected<std::unique_ptr<GemmContext>> create(
      StreamHandle stream, size_t workspace_bytes = kDefaultGemmWorkspaceBytes);
  ~GemmContext();
  GemmContext(const GemmContext&) = delete;
  GemmContext& operator=(const GemmContext&) = delete;

  StreamHandle stream() const;
  // The device's compute capability as major * 10 + minor (90 on an H100).
  int compute_capability() const;
  // For tests: behave as a device of compute capability `cc` (only ever lower than the real
  // one), so that the FP8 refusal on pre-sm_89 devices can be checked on any GPU.
  void limit_compute_capability_for_testing(int cc);

  struct Impl;  // gemm/context.h
  Impl& impl() { return *impl_; }

 private:
  explicit GemmContext(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Row-major Y[m,n] = A[m,k] · B[n,k]^T (+ bias[n]); see the file comment.
struct GemmArgs {
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;
  const void* b = nullptr;
  void* y = nullptr;
  const float* bias = nullptr;  // device, n floats, optional
};

// float32 in and out, reference grade: CUBLAS_COMPUTE_32F (FP32 FMA, no TF32, no reduced
// precision anywhere). Any m, n, k.
Status gemm_f32(GemmContext& c, const GemmArgs& g);

// A and B float16, FP32 accumulation; y float16 or float32 (`out`). With a float16 output the
// bias is rounded to float16 (cuBLASLt's fused bias epilogue takes D's type) and added in FP32
// before the one rounding of y.
Status gemm_f16(GemmContext& c, const GemmArgs& g, DType out);

// A and B float8e4m3fn codes; FP32 accumulation (cuBLASLt's precise mode: no fast accumulation);
// y[i,j] = (sum_l A[i,l] B[j,l]) * a_scale * b_scale * channel_scale[j] + bias[j], as float32,
// float16 or bfloat16 (`out`), rounded once. a_scale and b_scale are device pointers to one float
// each (nullptr: 1; any alignment: cuBLASLt needs 16 bytes, so others are copied to an aligned
// slot first); channel_scale is device, n floats, optional (per-output-channel weight scales).
// Needs sm_89 or newer (kUnsupported before, so that the caller can fall back to FP16), k a
// multiple of 16, n * sizeof(out) a multiple of 16 bytes and 16-byte aligned a, b and y
// (kUnsupported otherwise, naming m, n and k).
Status gemm_fp8(GemmContext& c, const GemmArgs& g, const float* a_scale, const float* b_scale,
                const float* channel_scale, DType out);

// A and B int8, exact int32 accumulation (CUBLAS_COMPUTE_32I), then
// y[i,j] = float(acc[i,j]) * (a_scale * channel_scale[j]) + bias[j] in one fused multiply-add,
// as float32 or float16 (`out`). a_scale is a host float; channel_scale is device, n floats
// (nullptr: 1). Needs n and k multiples of 4 and 4-byte aligned a and b (cuBLASLt's int8 "TN"
// kernels; kUnsupported otherwise). The int32 accumulator lives in the context's scratch.
Status gemm_int8(GemmContext& c, const GemmArgs& g, float a_scale, const float* channel_scale,
                 DType out);

// Strided batched products of activations (attention's Q·Kᵀ and P·V): for i < batch,
// Y_i[m, n] = A_i[m, k] · B_i[n, k]ᵀ with A_i at a + i·stride_a elements (likewise B and Y), in
// one cuBLASLt call. float32 inputs (TF32 off) to float32, or float16 inputs (FP32
// accumulation) to float16 or float32. No bias (unsupported).
Status gemm_batched(GemmContext& c, const GemmArgs& g, int64_t batch, int64_t stride_a,
                    int64_t stride_b, int64_t stride_y, DType in, DType out);

// A 2-D convolution (ONNX Conv, NCHW, cross-correlation) through cuDNN.
struct ConvArgs {
  int64_t n = 0, c = 0, h = 0, w = 0;  // input
  int64_t out_c = 0, kernel_h = 0, kernel_w = 0;
  int64_t stride_h = 1, stride_w = 1;
  int64_t pad_top = 0, pad_left = 0, pad_bottom = 0, pad_right = 0;
  int64_t dilation_h = 1, dilation_w = 1;
  int64_t group = 1;
  int64_t out_h = 0, out_w = 0;   // must match what the other fields give
  const void* x = nullptr;        // [n, c, h, w]
  const void* weight = nullptr;   // [out_c, c / group, kernel_h, kernel_w] ("w" is the width)
  const float* bias = nullptr;    // [out_c], optional
  void* y = nullptr;              // [n, out_c, out_h, out_w]
  DType dtype = DType::kFloat32;  // of x, w and y: float32 or float16
};

// float32: FMA math only (CUDNN_FMA_MATH: no TF32, which cuDNN's default math type would allow
// on sm_80+); float16: tensor cores, FP32 accumulation. The algorithm is the fastest that
// cudnnGetConvolutionForwardAlgorithm_v7 proposes among the GEMM-like ones (implicit GEMM,
// precomputed implicit GEMM, GEMM, direct): FFT and Winograd transforms add their own rounding
// error. The bias is added by a separate kernel (float16: a second rounding). Asymmetric pads
// are applied by copying x into a zero-padded buffer in the context's scratch first.
Status conv2d_cudnn(GemmContext& c, const ConvArgs& a);

// Times `fn` (which enqueues work on `stream`) with CUDA events: `warmup` untimed calls, then
// `iters` timed ones; returns the median time of one call in milliseconds.
Expected<double> time_ms(StreamHandle stream, const std::function<Status()>& fn, int warmup,
                         int iters);

}  // namespace mixq::gpu
