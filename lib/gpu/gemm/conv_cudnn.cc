// ONNX Conv (2-D, NCHW, groups, pads, strides, dilations) through cuDNN's convolution API;
// contract in gemm.h (conv2d_cudnn).
//
// cuDNN pads symmetrically only; asymmetric ONNX pads (auto_pad SAME_UPPER, or explicit pads)
// are applied by copying x into a zero-padded buffer and convolving that with no padding.
#include <algorithm>
#include <climits>
#include <string>
#include <vector>

#include "mixq/gpu/gemm/context.h"
#include "mixq/gpu/gemm/epilogue.h"
#include "mixq/gpu/gemm/gemm.h"

namespace mixq::gpu {

namespace gemm_detail {

// Descriptors and the algorithm for one ConvKey; `status` not ok when cuDNN cannot run it.
struct ConvPlan {
  const dyn::Cudnn* dnn = nullptr;
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t algo = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
  size_t workspace = 0;
  bool explicit_pad = false;  // x goes through a zero-padded copy
  int64_t padded_h = 0, padded_w = 0;
  Status status;

  ~ConvPlan() {
    if (dnn == nullptr) return;
    if (conv != nullptr) dnn->cudnnDestroyConvolutionDescriptor(conv);
    if (w != nullptr) dnn->cudnnDestroyFilterDescriptor(w);
    if (y != nullptr) dnn->cudnnDestroyTensorDescriptor(y);
    if (x != nullptr) dnn->cudnnDestroyTensorDescriptor(x);
  }
};

void ConvPlanDeleter::operator()(ConvPlan* p) const { delete p; }

}  // namespace gemm_detail

namespace {

using gemm_detail::ConvKey;
using gemm_detail::ConvPlan;

// Algorithms that need more workspace than this are passed over.
constexpr size_t kMaxConvWorkspaceBytes = size_t{512} << 20;

Status dnn_check(const dyn::Cudnn& dnn, cudnnStatus_t s, const char* what) {
  if (s == CUDNN_STATUS_SUCCESS) return Status::ok_status();
  const int category = CUDNN_STATUS_CATEGORY(static_cast<int>(s));
  if (category == CUDNN_STATUS_NOT_SUPPORTED) {
    return unsupported(what, ": ", dyn::cudnn_status_text(dnn, s));
  }
  if (s == CUDNN_STATUS_INTERNAL_ERROR_DEVICE_ALLOCATION_FAILED) {
    return Status(StatusCode::kNoDevice, str_cat(what, ": ", dyn::cudnn_status_text(dnn, s)));
  }
  return internal_error(what, ": ", dyn::cudnn_status_text(dnn, s));
}

std::string conv_text(const ConvArgs& a) {
  return str_cat("conv2d_cudnn x=[", a.n, ",", a.c, ",", a.h, ",", a.w, "] w=[", a.out_c, ",",
                 a.group > 0 ? a.c / a.group : 0, ",", a.kernel_h, ",", a.kernel_w, "] ",
                 dtype_name(a.dtype));
}

const char* algo_name(cudnnConvolutionFwdAlgo_t a) {
  switch (a) {
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM:
      return "IMPLICIT_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM:
      return "IMPLICIT_PRECOMP_GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_GEMM:
      return "GEMM";
    case CUDNN_CONVOLUTION_FWD_ALGO_DIRECT:
      return "DIRECT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT:
      return "FFT";
    case CUDNN_CONVOLUTION_FWD_ALGO_FFT_TILING:
      return "FFT_TILING";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD:
      return "WINOGRAD";
    case CUDNN_CONVOLUTION_FWD_ALGO_WINOGRAD_NONFUSED:
      return "WINOGRAD_NONFUSED";
    default:
      return "?";
  }
}

// Algorithms that trade extra rounding (FFT, Winograd transforms) for speed are never used:
// mixq measures quantization error against these results.
bool gemm_like(cudnnConvolutionFwdAlgo_t a) {
  return a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ||
         a == CUDNN_CONVOLUTION_FWD_ALGO_GEMM || a == CUDNN_CONVOLUTION_FWD_ALGO_DIRECT;
}

Status validate(const ConvArgs& a) {
  const std::string where = conv_text(a);
  if (a.dtype != DType::kFloat32 && a.dtype != DType::kFloat16) {
    return unsupported(where, ": no ", dtype_name(a.dtype), " convolution (float32 or float16)");
  }
  if (a.n < 0 || a.c <= 0 || a.h <= 0 || a.w <= 0 || a.out_c <= 0 || a.kernel_h <= 0 ||
      a.kernel_w <= 0 || a.out_h < 0 || a.out_w < 0) {
    return bad_input(where, ": sizes must be positive");
  }
  if (a.stride_h < 1 || a.stride_w < 1 || a.dilation_h < 1 || a.dilation_w < 1) {
    return bad_input(where, ": strides and dilations must be at least 1");
  }
  if (a.pad_top < 0 || a.pad_left < 0 || a.pad_bottom < 0 || a.pad_right < 0) {
    return bad_input(where, ": negative pads");
  }
  if (a.group < 1 || a.c % a.group != 0 || a.out_c % a.group != 0) {
    return bad_input(where, ": group ", a.group, " must divide channels ", a.c, " and ", a.out_c);
  }
  const int64_t span_h = a.dilation_h * (a.kernel_h - 1) + 1;
  const int64_t span_w = a.dilation_w * (a.kernel_w - 1) + 1;
  const int64_t full_h = a.h + a.pad_top + a.pad_bottom;
  const int64_t full_w = a.w + a.pad_left + a.pad_right;
  const int64_t want_h = full_h >= span_h ? (full_h - span_h) / a.stride_h + 1 : 0;
  const int64_t want_w = full_w >= span_w ? (full_w - span_w) / a.stride_w + 1 : 0;
  if (want_h != a.out_h || want_w != a.out_w) {
    return bad_input(where, ": output ", a.out_h, "x", a.out_w, " but pads, strides and ",
                     "dilations give ", want_h, "x", want_w);
  }
  // The legacy cuDNN API takes int dimensions and tensors of fewer than 2^31 elements.
  for (int64_t v : {a.n * a.c * full_h * full_w, a.n * a.out_c * a.out_h * a.out_w,
                    a.out_c * (a.c / a.group) * a.kernel_h * a.kernel_w}) {
    if (v > INT_MAX) return unsupported(where, ": tensor of 2^31 or more elements");
  }
  return Status::ok_status();
}

int as_int(int64_t v) { return static_cast<int>(v); }

Status build_plan(GemmContext::Impl& c, const ConvArgs& a, ConvPlan& p) {
  const dyn::Cudnn& dnn = *c.dnn;
  const std::string where = conv_text(a);
  const cudnnDataType_t type = a.dtype == DType::kFloat16 ? CUDNN_DATA_HALF : CUDNN_DATA_FLOAT;
  p.explicit_pad = a.pad_top != a.pad_bottom || a.pad_left != a.pad_right;
  p.padded_h = a.h + a.pad_top + a.pad_bottom;
  p.padded_w = a.w + a.pad_left + a.pad_right;
  const int64_t in_h = p.explicit_pad ? p.padded_h : a.h;
  const int64_t in_w = p.explicit_pad ? p.padded_w : a.w;
  const int64_t pad_h = p.explicit_pad ? 0 : a.pad_top;
  const int64_t pad_w = p.explicit_pad ? 0 : a.pad_left;

  MIXQ_RETURN_IF_ERROR(
      dnn_check(dnn, dnn.cudnnCreateTensorDescriptor(&p.x), "cudnnCreateTensorDescriptor"));
  MIXQ_RETURN_IF_ERROR(
      dnn_check(dnn,
                dnn.cudnnSetTensor4dDescriptor(p.x, CUDNN_TENSOR_NCHW, type, as_int(a.n),
                                               as_int(a.c), as_int(in_h), as_int(in_w)),
                "cudnnSetTensor4dDescriptor(x)"));
  MIXQ_RETURN_IF_ERROR(
      dnn_check(dnn, dnn.cudnnCreateFilterDescriptor(&p.w), "cudnnCreateFilterDescriptor"));
  MIXQ_RETURN_IF_ERROR(dnn_check(
      dnn,
      dnn.cudnnSetFilter4dDescriptor(p.w, type, CUDNN_TENSOR_NCHW, as_int(a.out_c),
                                     as_int(a.c / a.group), as_int(a.kernel_h), as_int(a.kernel_w)),
      "cudnnSetFilter4dDescriptor"));
  MIXQ_RETURN_IF_ERROR(dnn_check(dnn, dnn.cudnnCreateConvolutionDescriptor(&p.conv),
                                 "cudnnCreateConvolutionDescriptor"));
  // Accumulation in float32 for both data types (float16 data: cuDNN's "pseudo half" config).
  MIXQ_RETURN_IF_ERROR(dnn_check(
      dnn,
      dnn.cudnnSetConvolution2dDescriptor(
          p.conv, as_int(pad_h), as_int(pad_w), as_int(a.stride_h), as_int(a.stride_w),
          as_int(a.dilation_h), as_int(a.dilation_w), CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT),
      "cudnnSetConvolution2dDescriptor"));
  MIXQ_RETURN_IF_ERROR(dnn_check(dnn, dnn.cudnnSetConvolutionGroupCount(p.conv, as_int(a.group)),
                                 "cudnnSetConvolutionGroupCount"));
  // float32: CUDNN_FMA_MATH, not CUDNN_DEFAULT_MATH, which permits TF32 tensor cores on sm_80+
  // (10-bit significands) unless NVIDIA_TF32_OVERRIDE=0 is set.
  const cudnnMathType_t math = a.dtype == DType::kFloat16 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH;
  MIXQ_RETURN_IF_ERROR(
      dnn_check(dnn, dnn.cudnnSetConvolutionMathType(p.conv, math), "cudnnSetConvolutionMathType"));
  int on = 0, oc = 0, oh = 0, ow = 0;
  MIXQ_RETURN_IF_ERROR(dnn_check(
      dnn, dnn.cudnnGetConvolution2dForwardOutputDim(p.conv, p.x, p.w, &on, &oc, &oh, &ow),
      "cudnnGetConvolution2dForwardOutputDim"));
  if (on != a.n || oc != a.out_c || oh != a.out_h || ow != a.out_w) {
    return internal_error(where, ": cuDNN computes output [", on, ",", oc, ",", oh, ",", ow,
                          "], expected [", a.n, ",", a.out_c, ",", a.out_h, ",", a.out_w, "]");
  }
  MIXQ_RETURN_IF_ERROR(
      dnn_check(dnn, dnn.cudnnCreateTensorDescriptor(&p.y), "cudnnCreateTensorDescriptor"));
  MIXQ_RETURN_IF_ERROR(
      dnn_check(dnn, dnn.cudnnSetTensor4dDescriptor(p.y, CUDNN_TENSOR_NCHW, type, on, oc, oh, ow),
                "cudnnSetTensor4dDescriptor(y)"));

  int max_algos = 0;
  MIXQ_RETURN_IF_ERROR(
      dnn_check(dnn, dnn.cudnnGetConvolutionForwardAlgorithmMaxCount(c.dnn_handle, &max_algos),
                "cudnnGetConvolutionForwardAlgorithmMaxCount"));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> perf(static_cast<size_t>(std::max(max_algos, 1)));
  int returned = 0;
  MIXQ_RETURN_IF_ERROR(dnn_check(dnn,
                                 dnn.cudnnGetConvolutionForwardAlgorithm_v7(
                                     c.dnn_handle, p.x, p.w, p.conv, p.y,
                                     static_cast<int>(perf.size()), &returned, perf.data()),
                                 "cudnnGetConvolutionForwardAlgorithm_v7"));
  // The results come fastest first; take the first usable GEMM-like one.
  std::string rejected;
  for (int i = 0; i < returned; ++i) {
    const cudnnConvolutionFwdAlgoPerf_t& r = perf[static_cast<size_t>(i)];
    const bool math_ok = a.dtype == DType::kFloat16 || r.mathType == CUDNN_FMA_MATH;
    if (r.status == CUDNN_STATUS_SUCCESS && gemm_like(r.algo) && math_ok &&
        r.memory <= kMaxConvWorkspaceBytes) {
      // cuDNN asks that the math type it reports for the algorithm be set before running it.
      MIXQ_RETURN_IF_ERROR(dnn_check(dnn, dnn.cudnnSetConvolutionMathType(p.conv, r.mathType),
                                     "cudnnSetConvolutionMathType"));
      size_t bytes = 0;
      MIXQ_RETURN_IF_ERROR(dnn_check(dnn,
                                     dnn.cudnnGetConvolutionForwardWorkspaceSize(
                                         c.dnn_handle, p.x, p.w, p.conv, p.y, r.algo, &bytes),
                                     "cudnnGetConvolutionForwardWorkspaceSize"));
      p.algo = r.algo;
      p.workspace = std::max(bytes, r.memory);
      return Status::ok_status();
    }
    rejected += str_cat(rejected.empty() ? "" : ", ", algo_name(r.algo), "(status ",
                        static_cast<int>(r.status), ", math ", static_cast<int>(r.mathType), ", ",
                        r.memory, " bytes)");
  }
  return unsupported(where, ": cuDNN proposes no usable GEMM-like algorithm; it offered: ",
                     rejected.empty() ? "nothing" : rejected);
}

Status ensure_cudnn(GemmContext::Impl& c) {
  if (c.dnn_handle != nullptr) return Status::ok_status();
  MIXQ_ASSIGN_OR_RETURN(c.dnn, dyn::cudnn());
  cudnnHandle_t h = nullptr;
  MIXQ_RETURN_IF_ERROR(dnn_check(*c.dnn, c.dnn->cudnnCreate(&h), "cudnnCreate"));
  const Status s = dnn_check(*c.dnn, c.dnn->cudnnSetStream(h, c.stream), "cudnnSetStream");
  if (!s.ok()) {
    c.dnn->cudnnDestroy(h);
    return s;
  }
  c.dnn_handle = h;
  return Status::ok_status();
}

}  // namespace

Status conv2d_cudnn(GemmContext& ctx, const ConvArgs& a) {
  GemmContext::Impl& c = ctx.impl();
  MIXQ_RETURN_IF_ERROR(validate(a));
  if (a.n == 0 || a.out_h == 0 || a.out_w == 0) return Status::ok_status();
  if (a.x == nullptr || a.weight == nullptr || a.y == nullptr) {
    return bad_input(conv_text(a), ": null pointer");
  }
  MIXQ_RETURN_IF_ERROR(ensure_cudnn(c));

  const ConvKey key{a.n,        a.c,          a.h,         a.w,          a.out_c,
                    a.kernel_h, a.kernel_w,   a.stride_h,  a.stride_w,   a.pad_top,
                    a.pad_left, a.pad_bottom, a.pad_right, a.dilation_h, a.dilation_w,
                    a.group,    a.out_h,      a.out_w,     a.dtype};
  auto it = c.conv_plans.find(key);
  if (it == c.conv_plans.end()) {
    std::unique_ptr<ConvPlan, gemm_detail::ConvPlanDeleter> plan(new ConvPlan);
    plan->dnn = c.dnn;
    plan->status = build_plan(c, a, *plan);
    if (!plan->status.ok() && plan->status.code() != StatusCode::kUnsupported) {
      return plan->status;
    }
    it = c.conv_plans.emplace(key, std::move(plan)).first;
  }
  const ConvPlan& p = *it->second;
  MIXQ_RETURN_IF_ERROR(p.status);

  const int elem_bytes = a.dtype == DType::kFloat16 ? 2 : 4;
  const void* x = a.x;
  if (p.explicit_pad) {
    const size_t bytes =
        static_cast<size_t>(a.n * a.c * p.padded_h * p.padded_w) * static_cast<size_t>(elem_bytes);
    MIXQ_ASSIGN_OR_RETURN(void* padded, c.ensure(c.scratch, bytes));
    MIXQ_RETURN_IF_ERROR(gemm_detail::pad_nchw(a.x, padded, elem_bytes, a.n, a.c, a.h, a.w,
                                               a.pad_top, a.pad_left, p.padded_h, p.padded_w,
                                               c.stream));
    x = padded;
  }
  void* workspace = nullptr;
  if (p.workspace > 0) {
    MIXQ_ASSIGN_OR_RETURN(workspace, c.ensure(c.conv_workspace, p.workspace));
  }
  // float alpha/beta for both data types (float16 data with float32 compute).
  const float alpha = 1.0f, beta = 0.0f;
  MIXQ_RETURN_IF_ERROR(
      dnn_check(*c.dnn,
                c.dnn->cudnnConvolutionForward(c.dnn_handle, &alpha, p.x, x, p.w, a.weight, p.conv,
                                               p.algo, workspace, p.workspace, &beta, p.y, a.y),
                "cudnnConvolutionForward"));
  if (a.bias != nullptr) {
    MIXQ_RETURN_IF_ERROR(gemm_detail::add_channel_bias(a.y, a.dtype, a.bias, a.n, a.out_c,
                                                       a.out_h * a.out_w, c.stream));
  }
  return Status::ok_status();
}

}  // namespace mixq::gpu
