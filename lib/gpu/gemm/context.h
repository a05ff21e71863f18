// GemmContext's state, shared by gemm.cc (cuBLASLt) and conv_cudnn.cc (cuDNN). Internal to
// lib/gpu/gemm: includes the CUDA, cuBLASLt and cuDNN headers.
#pragma once

#include <cuda_runtime_api.h>

#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>

#include "mixq/core/status.h"
#include "mixq/gpu/gemm/dynload.h"
#include "mixq/gpu/gemm/gemm.h"
#include "mixq/gpu/memory.h"

namespace mixq::gpu {

namespace gemm_detail {

// The matmul flavours; part of the plan key.
enum class Format : uint8_t { kF32, kF16, kFp8, kInt8 };

// What one cached matmul plan depends on: the shape, the types written, whether cuBLASLt adds
// the bias, and the pointer alignments the heuristic was told about (it picks kernels that need
// the alignment it is promised; see CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_*_BYTES).
struct PlanKey {
  Format format = Format::kF32;
  int32_t d_type = 0;  // cudaDataType of what cuBLASLt writes
  int64_t m = 0, n = 0, k = 0;
  bool fused_bias = false;
  int32_t bias_type = -1;  // cudaDataType of a fused bias
  uint32_t align_a = 0, align_b = 0, align_d = 0, align_bias = 0;
  int32_t batch = 1;  // strided batched products: count and per-matrix element strides
  int64_t stride_a = 0, stride_b = 0, stride_d = 0;
  auto operator<=>(const PlanKey&) const = default;
};

// Descriptors and the chosen algorithm for one PlanKey; `status` is not ok when cuBLASLt has no
// algorithm for it (cached too, so that the heuristic is not asked again).
struct MatmulPlan {
  const dyn::CublasLt* lt = nullptr;
  cublasLtMatmulDesc_t desc = nullptr;
  cublasLtMatrixLayout_t a = nullptr, b = nullptr, d = nullptr;
  cublasLtMatmulAlgo_t algo{};
  size_t workspace = 0;
  Status status;
  MatmulPlan() = default;
  MatmulPlan(const MatmulPlan&) = delete;
  MatmulPlan& operator=(const MatmulPlan&) = delete;
  ~MatmulPlan();
};

// Everything a convolution plan depends on (all of ConvArgs but the pointers).
struct ConvKey {
  int64_t n, c, h, w, out_c, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, pad_bottom,
      pad_right, dilation_h, dilation_w, group, out_h, out_w;
  DType dtype;
  auto operator<=>(const ConvKey&) const = default;
};

struct ConvPlan;  // conv_cudnn.cc
struct ConvPlanDeleter {
  void operator()(ConvPlan* p) const;  // conv_cudnn.cc
};

}  // namespace gemm_detail

struct GemmContext::Impl {
  const dyn::CublasLt* lt = nullptr;
  cublasLtHandle_t handle = nullptr;
  cudaStream_t stream = nullptr;
  int device = 0;
  int compute_capability = 0;  // major * 10 + minor
  DeviceBuffer workspace;      // cuBLASLt's, fixed size
  // Accumulators (int8: int32; FP8/FP16 with a scaled or 16-bit output: float32) and padded
  // convolution inputs; grows on demand, reused by every call (the stream orders the uses).
  DeviceBuffer scratch;
  DeviceBuffer bias_half;   // gemm_f16's float16 copy of a bias, for cuBLASLt's fused epilogue
  DeviceBuffer fp8_scales;  // 16-byte aligned copies of gemm_fp8's scales (two slots)
  std::map<gemm_detail::PlanKey, std::unique_ptr<gemm_detail::MatmulPlan>> plans;

  // cuDNN: opened and created on the first convolution.
  const dyn::Cudnn* dnn = nullptr;
  cudnnHandle_t dnn_handle = nullptr;
  DeviceBuffer conv_workspace;
  std::map<gemm_detail::ConvKey,
           std::unique_ptr<gemm_detail::ConvPlan, gemm_detail::ConvPlanDeleter>>
      conv_plans;

  ~Impl();

  // A device buffer of at least `bytes`, reallocated (after the stream drains, since queued work
  // may still read the old one) when it is smaller.
  Expected<void*> ensure(DeviceBuffer& buffer, size_t bytes);
};

namespace gemm_detail {

// CUDA runtime errors as Status (kInternal naming the call and the CUDA error).
Status cuda_check(cudaError_t e, const char* what);

// The largest power of two (at most 256) that divides the address: the alignment cuBLASLt is
// promised for a buffer.
uint32_t pointer_alignment(const void* p);

}  // namespace gemm_detail

}  // namespace mixq::gpu
