// cuBLASLt and cuDNN, opened at run time with dlopen instead of linked.
//
// Loading libcublasLt.so costs about 135 ms at every process start, and most mixq commands never
// touch a GPU; so mixq_gpu does not link either library. The first GEMM (or convolution) opens
// the library once per process (std::call_once, thread-safe) and resolves exactly the functions
// lib/gpu/gemm calls into a table of pointers typed from the real headers
// (decltype(&::cublasLtMatmul) ...): a signature change in a new toolkit is a compile error, not
// a crash. Each member has the name of the C function it points to, so `lt.cublasLtMatmul(...)`
// reads (and greps) like the direct call. Internal to lib/gpu: only gemm/*.cc include it.
//
// Library names: libcublasLt.so.13 (the CUDA 13 soname mixq is built against), then the
// unversioned libcublasLt.so, then the toolkit's /usr/local/cuda/lib64/libcublasLt.so.13; the
// same for libcudnn.so.9. cuDNN 9's libcudnn.so.9 is a shim that opens its sub-libraries
// (libcudnn_cnn, _ops, _graph, engines) on demand; they must be on the loader's path too. Where
// the libraries come from pip wheels (nvidia-cublas, nvidia-cudnn-cu13), LD_LIBRARY_PATH must
// name their lib folders.
#pragma once

#include <cublasLt.h>
#include <cudnn.h>

#include <string>

#include "mixq/core/status.h"

namespace mixq::gpu::dyn {

// The cuBLASLt functions lib/gpu/gemm calls.
#define MIXQ_CUBLASLT_FUNCTIONS(X)        \
  X(cublasLtGetVersion)                   \
  X(cublasLtGetStatusName)                \
  X(cublasLtGetStatusString)              \
  X(cublasLtCreate)                       \
  X(cublasLtDestroy)                      \
  X(cublasLtMatmulDescCreate)             \
  X(cublasLtMatmulDescDestroy)            \
  X(cublasLtMatmulDescSetAttribute)       \
  X(cublasLtMatrixLayoutCreate)           \
  X(cublasLtMatrixLayoutDestroy)          \
  X(cublasLtMatrixLayoutSetAttribute)     \
  X(cublasLtMatmulPreferenceCreate)       \
  X(cublasLtMatmulPreferenceDestroy)      \
  X(cublasLtMatmulPreferenceSetAttribute) \
  X(cublasLtMatmulAlgoGetHeuristic)       \
  X(cublasLtMatmul)

// The cuDNN functions lib/gpu/gemm calls: the cuDNN 9 "legacy" convolution API (marked
// deprecated in 9.x, still shipped and supported through the 9 series).
#define MIXQ_CUDNN_FUNCTIONS(X)                  \
  X(cudnnGetVersion)                             \
  X(cudnnGetErrorString)                         \
  X(cudnnCreate)                                 \
  X(cudnnDestroy)                                \
  X(cudnnSetStream)                              \
  X(cudnnCreateTensorDescriptor)                 \
  X(cudnnDestroyTensorDescriptor)                \
  X(cudnnSetTensor4dDescriptor)                  \
  X(cudnnCreateFilterDescriptor)                 \
  X(cudnnDestroyFilterDescriptor)                \
  X(cudnnSetFilter4dDescriptor)                  \
  X(cudnnCreateConvolutionDescriptor)            \
  X(cudnnDestroyConvolutionDescriptor)           \
  X(cudnnSetConvolution2dDescriptor)             \
  X(cudnnSetConvolutionGroupCount)               \
  X(cudnnSetConvolutionMathType)                 \
  X(cudnnGetConvolution2dForwardOutputDim)       \
  X(cudnnGetConvolutionForwardAlgorithmMaxCount) \
  X(cudnnGetConvolutionForwardAlgorithm_v7)      \
  X(cudnnGetConvolutionForwardWorkspaceSize)     \
  X(cudnnConvolutionForward)

#define MIXQ_DYN_MEMBER_(name) decltype(&::name) name = nullptr;
struct CublasLt {
  MIXQ_CUBLASLT_FUNCTIONS(MIXQ_DYN_MEMBER_)
};
struct Cudnn {
  MIXQ_CUDNN_FUNCTIONS(MIXQ_DYN_MEMBER_)
};
#undef MIXQ_DYN_MEMBER_

// The loaded table, opening the library on the first call; never null on success. The library
// stays loaded for the life of the process. Errors, kept and returned again by later calls:
// kNoDevice naming the library and dlerror() when it cannot be opened or lacks a function.
Expected<const CublasLt*> cublaslt();
Expected<const Cudnn*> cudnn();

// "CUBLAS_STATUS_NOT_SUPPORTED (the functionality requested is not supported)": the library's
// own name and description of a status, for error messages.
std::string cublas_status_text(const CublasLt& lt, cublasStatus_t s);
std::string cudnn_status_text(const Cudnn& dnn, cudnnStatus_t s);

}  // namespace mixq::gpu::dyn
