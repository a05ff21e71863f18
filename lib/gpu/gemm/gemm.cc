// cuBLASLt GEMMs: FP32, FP16, FP8 (E4M3) and INT8; contracts in gemm.h.
//
// One layout mapping serves every format. cuBLASLt is column-major; a row-major [r, c] buffer
// with row stride c is, read column-major, the [c, r] matrix (its transpose) with ld = c. So
//   row-major Y[m,n] = A[m,k] · B[n,k]^T   <=>   column-major Y^T[n,m] = B · A^T
// and with B's buffer read column-major as B^T [k,n] (ld k) and A's as A^T [k,m] (ld k):
//   cuBLASLt "A" = our B (the weights): layout [k, n], ld k, transa = T   (op(A) = B,   n x k)
//   cuBLASLt "B" = our A (activations): layout [k, m], ld k, transb = N   (op(B) = A^T, k x m)
//   cuBLASLt "C" = "D" = our Y:         layout [n, m], ld n               (D = Y^T,     n x m)
// cuBLASLt's (m, n, k) are our (n, m, k). Both operands are K-major: this is the "TN" layout
// that the FP8 kernels on sm_89/sm_90 and the int8 IMMA kernels require (transa = T,
// transb = N), so no format needs a transposed copy. A bias of length n is a vector over D's
// rows, which is what CUBLASLT_EPILOGUE_BIAS adds.
//
// Alignment: the heuristic is told each pointer's actual alignment (by default it assumes 256
// bytes and may pick kernels that fault on less), and the alignments are part of the plan key.
#include "mixq/gpu/gemm/gemm.h"

#include <cuda_runtime_api.h>
#include <limits>

#include <algorithm>
#include <functional>
#include <limits>
#include <vector>

#include "mixq/gpu/gemm/context.h"
#include "mixq/gpu/gemm/epilogue.h"

namespace mixq::gpu {

using gemm_detail::Format;
using gemm_detail::MatmulPlan;
using gemm_detail::PlanKey;

namespace gemm_detail {

Status cuda_check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::ok_status();
  if (e == cudaErrorMemoryAllocation) {
    return Status(StatusCode::kNoDevice, str_cat(what, ": out of device memory"));
  }
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
    return Status(StatusCode::kNoDevice, str_cat(what, ": ", cudaGetErrorString(e)));
  }
  return internal_error(what, ": CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e),
                        ")");
}

uint32_t pointer_alignment(const void* p) {
  const auto v = reinterpret_cast<uintptr_t>(p);
  if (v == 0) return 256;
  const uintptr_t lowest_bit = v & (~v + 1);
  return static_cast<uint32_t>(std::min<uintptr_t>(lowest_bit, 256));
}

MatmulPlan::~MatmulPlan() {
  if (lt == nullptr) return;
  if (d != nullptr) lt->cublasLtMatrixLayoutDestroy(d);
  if (b != nullptr) lt->cublasLtMatrixLayoutDestroy(b);
  if (a != nullptr) lt->cublasLtMatrixLayoutDestroy(a);
  if (desc != nullptr) lt->cublasLtMatmulDescDestroy(desc);
}

}  // namespace gemm_detail

namespace {

// Row blocks of the GEMMs that go through an accumulator in scratch are sized so that the
// accumulator stays under this (a [4096, 50257] float32 logits matrix would need 800 MiB).
constexpr size_t kScratchChunkBytes = size_t{128} << 20;
// Plans are cheap, but a run over many sequence lengths would add one per m; start over past this.
constexpr size_t kMaxPlans = 4096;
// int8: |acc| <= k * 128 * 128 = k * 2^14 stays below 2^31 for k <= 2^17.
constexpr int64_t kMaxInt8K = int64_t{1} << 17;

Status lt_check(const dyn::CublasLt& lt, cublasStatus_t s, const char* what) {
  if (s == CUBLAS_STATUS_SUCCESS) return Status::ok_status();
  if (s == CUBLAS_STATUS_NOT_SUPPORTED) {
    return unsupported(what, ": ", dyn::cublas_status_text(lt, s));
  }
  if (s == CUBLAS_STATUS_ALLOC_FAILED) {
    return Status(StatusCode::kNoDevice, str_cat(what, ": ", dyn::cublas_status_text(lt, s)));
  }
  return internal_error(what, ": ", dyn::cublas_status_text(lt, s));
}

const char* format_name(Format f) {
  switch (f) {
    case Format::kF32:
      return "gemm_f32";
    case Format::kF16:
      return "gemm_f16";
    case Format::kFp8:
      return "gemm_fp8";
    case Format::kInt8:
      return "gemm_int8";
  }
  return "gemm";
}

std::string shape_text(int64_t m, int64_t n, int64_t k) {
  return str_cat("m=", m, " n=", n, " k=", k);
}

size_t dtype_bytes(DType t) { return static_cast<size_t>(dtype_bits(t) / 8); }

cudaDataType_t cuda_type(DType t) {
  switch (t) {
    case DType::kFloat16:
      return CUDA_R_16F;
    case DType::kBFloat16:
      return CUDA_R_16BF;
    default:
      return CUDA_R_32F;
  }
}

// One cublasLtMatmul, in our row-major terms (see the file comment for the mapping).
struct MatmulCall {
  Format format = Format::kF32;
  cudaDataType_t ab_type = CUDA_R_32F;
  cudaDataType_t d_type = CUDA_R_32F;
  int64_t m = 0, n = 0, k = 0;
  const void* a = nullptr;     // activations [m, k]
  const void* b = nullptr;     // weights [n, k]
  void* d = nullptr;           // [m, n]
  const void* bias = nullptr;  // non-null: fused CUBLASLT_EPILOGUE_BIAS, a vector of bias_type
  cudaDataType_t bias_type = CUDA_R_32F;
  const float* a_scale = nullptr;  // FP8 only
  const float* b_scale = nullptr;
  int32_t batch = 1;  // > 1: strided batched, per-matrix strides in elements
  int64_t stride_a = 0, stride_b = 0, stride_d = 0;
};

// A call on g's operands (a, b, y and bias) in `format`.
MatmulCall call_for(Format format, cudaDataType_t ab_type, cudaDataType_t d_type,
                    const GemmArgs& g) {
  MatmulCall call;
  call.format = format;
  call.ab_type = ab_type;
  call.d_type = d_type;
  call.m = g.m;
  call.n = g.n;
  call.k = g.k;
  call.a = g.a;
  call.b = g.b;
  call.d = g.y;
  call.bias = g.bias;
  return call;
}

cublasComputeType_t compute_type(Format f) {
  return f == Format::kInt8 ? CUBLAS_COMPUTE_32I : CUBLAS_COMPUTE_32F;
}
cudaDataType_t scale_type(Format f) { return f == Format::kInt8 ? CUDA_R_32I : CUDA_R_32F; }

template <typename T>
Status set_desc(const dyn::CublasLt& lt, cublasLtMatmulDesc_t desc,
                cublasLtMatmulDescAttributes_t attr, const T& value, const char* name) {
  return lt_check(lt, lt.cublasLtMatmulDescSetAttribute(desc, attr, &value, sizeof(value)), name);
}

template <typename T>
Status set_pref(const dyn::CublasLt& lt, cublasLtMatmulPreference_t pref,
                cublasLtMatmulPreferenceAttributes_t attr, const T& value) {
  return lt_check(lt, lt.cublasLtMatmulPreferenceSetAttribute(pref, attr, &value, sizeof(value)),
                  "cublasLtMatmulPreferenceSetAttribute");
}

// The attributes that change from call to call on a cached descriptor: pointers.
Status set_call_pointers(const dyn::CublasLt& lt, const MatmulPlan& p, const MatmulCall& call) {
  if (call.bias != nullptr) {
    const void* bias = call.bias;
    MIXQ_RETURN_IF_ERROR(set_desc(lt, p.desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, bias,
                                  "cublasLtMatmulDescSetAttribute(BIAS_POINTER)"));
  }
  if (call.format == Format::kFp8) {
    // cuBLASLt's A is our B (the weights) and its B our A: the scales swap with the operands.
    const void* lt_a_scale = call.b_scale;
    const void* lt_b_scale = call.a_scale;
    MIXQ_RETURN_IF_ERROR(set_desc(lt, p.desc, CUBLASLT_MATMUL_DESC_A_SCALE_POINTER, lt_a_scale,
                                  "cublasLtMatmulDescSetAttribute(A_SCALE_POINTER)"));
    MIXQ_RETURN_IF_ERROR(set_desc(lt, p.desc, CUBLASLT_MATMUL_DESC_B_SCALE_POINTER, lt_b_scale,
                                  "cublasLtMatmulDescSetAttribute(B_SCALE_POINTER)"));
  }
  return Status::ok_status();
}

// Descriptors, layouts and the heuristic's first algorithm for `call`. A missing algorithm is
// kUnsupported naming the shape; other failures are kInternal.
Status build_plan(GemmContext::Impl& c, const MatmulCall& call, MatmulPlan& p) {
  const dyn::CublasLt& lt = *c.lt;
  MIXQ_RETURN_IF_ERROR(lt_check(
      lt, lt.cublasLtMatmulDescCreate(&p.desc, compute_type(call.format), scale_type(call.format)),
      "cublasLtMatmulDescCreate"));
  const int32_t transa = CUBLAS_OP_T;
  const int32_t transb = CUBLAS_OP_N;
  MIXQ_RETURN_IF_ERROR(
      set_desc(lt, p.desc, CUBLASLT_MATMUL_DESC_TRANSA, transa, "cublasLtMatmulDescSetAttribute"));
  MIXQ_RETURN_IF_ERROR(
      set_desc(lt, p.desc, CUBLASLT_MATMUL_DESC_TRANSB, transb, "cublasLtMatmulDescSetAttribute"));
  if (call.bias != nullptr) {
    const uint32_t epilogue = CUBLASLT_EPILOGUE_BIAS;
    const int32_t bias_type = call.bias_type;
    MIXQ_RETURN_IF_ERROR(set_desc(lt, p.desc, CUBLASLT_MATMUL_DESC_EPILOGUE, epilogue,
                                  "cublasLtMatmulDescSetAttribute(EPILOGUE)"));
    MIXQ_RETURN_IF_ERROR(set_desc(lt, p.desc, CUBLASLT_MATMUL_DESC_BIAS_DATA_TYPE, bias_type,
                                  "cublasLtMatmulDescSetAttribute(BIAS_DATA_TYPE)"));
  }
  if (call.format == Format::kFp8) {
    // Precise mode (the default, stated): partial sums are promoted to FP32 regularly instead
    // of staying in the tensor cores' narrower accumulator for the whole k loop.
    const int8_t fast_accum = 0;
    MIXQ_RETURN_IF_ERROR(set_desc(lt, p.desc, CUBLASLT_MATMUL_DESC_FAST_ACCUM, fast_accum,
                                  "cublasLtMatmulDescSetAttribute(FAST_ACCUM)"));
  }
  // The heuristic may look at the pointers set on the descriptor (bias alignment).
  MIXQ_RETURN_IF_ERROR(set_call_pointers(lt, p, call));

  const auto k = static_cast<uint64_t>(call.k);
  const auto m = static_cast<uint64_t>(call.m);
  const auto n = static_cast<uint64_t>(call.n);
  MIXQ_RETURN_IF_ERROR(lt_check(lt, lt.cublasLtMatrixLayoutCreate(&p.a, call.ab_type, k, n, call.k),
                                "cublasLtMatrixLayoutCreate(A)"));
  MIXQ_RETURN_IF_ERROR(lt_check(lt, lt.cublasLtMatrixLayoutCreate(&p.b, call.ab_type, k, m, call.k),
                                "cublasLtMatrixLayoutCreate(B)"));
  MIXQ_RETURN_IF_ERROR(lt_check(lt, lt.cublasLtMatrixLayoutCreate(&p.d, call.d_type, n, m, call.n),
                                "cublasLtMatrixLayoutCreate(D)"));
  if (call.batch > 1) {
    // cuBLASLt's A is our B (weights side), its B our A.
    const std::pair<cublasLtMatrixLayout_t, int64_t> layouts[] = {
        {p.a, call.stride_b}, {p.b, call.stride_a}, {p.d, call.stride_d}};
    for (const auto& [layout, stride] : layouts) {
      const int32_t count = call.batch;
      MIXQ_RETURN_IF_ERROR(
          lt_check(lt,
                   lt.cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_BATCH_COUNT,
                                                       &count, sizeof(count)),
                   "cublasLtMatrixLayoutSetAttribute(BATCH_COUNT)"));
      MIXQ_RETURN_IF_ERROR(lt_check(
          lt,
          lt.cublasLtMatrixLayoutSetAttribute(layout, CUBLASLT_MATRIX_LAYOUT_STRIDED_BATCH_OFFSET,
                                              &stride, sizeof(stride)),
          "cublasLtMatrixLayoutSetAttribute(STRIDED_BATCH_OFFSET)"));
    }
  }

  cublasLtMatmulPreference_t pref = nullptr;
  MIXQ_RETURN_IF_ERROR(
      lt_check(lt, lt.cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate"));
  struct PrefGuard {
    const dyn::CublasLt& lt;
    cublasLtMatmulPreference_t pref;
    ~PrefGuard() { lt.cublasLtMatmulPreferenceDestroy(pref); }
  } guard{lt, pref};
  const uint64_t workspace = c.workspace.bytes();
  MIXQ_RETURN_IF_ERROR(set_pref(lt, pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, workspace));
  // A 16-bit D must not hold split-k partial sums (in place, or out of place in the output
  // type): each would add a float16/bfloat16 rounding. Partial sums in the compute type are fine.
  const uint32_t reduction = (call.d_type == CUDA_R_16F || call.d_type == CUDA_R_16BF)
                                 ? static_cast<uint32_t>(CUBLASLT_REDUCTION_SCHEME_COMPUTE_TYPE)
                                 : static_cast<uint32_t>(CUBLASLT_REDUCTION_SCHEME_MASK);
  MIXQ_RETURN_IF_ERROR(set_pref(lt, pref, CUBLASLT_MATMUL_PREF_REDUCTION_SCHEME_MASK, reduction));
  MIXQ_RETURN_IF_ERROR(set_pref(lt, pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES,
                                gemm_detail::pointer_alignment(call.b)));
  MIXQ_RETURN_IF_ERROR(set_pref(lt, pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                                gemm_detail::pointer_alignment(call.a)));
  MIXQ_RETURN_IF_ERROR(set_pref(lt, pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES,
                                gemm_detail::pointer_alignment(call.d)));
  MIXQ_RETURN_IF_ERROR(set_pref(lt, pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES,
                                gemm_detail::pointer_alignment(call.d)));

  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  const cublasStatus_t s = lt.cublasLtMatmulAlgoGetHeuristic(c.handle, p.desc, p.a, p.b, p.d, p.d,
                                                             pref, 1, &result, &found);
  // A fused bias of a type cuBLASLt does not take here is reported as an invalid value.
  const bool refused = s == CUBLAS_STATUS_NOT_SUPPORTED ||
                       (s == CUBLAS_STATUS_INVALID_VALUE && call.bias != nullptr);
  if (refused || (s == CUBLAS_STATUS_SUCCESS && found == 0)) {
    return unsupported(format_name(call.format), " ", shape_text(call.m, call.n, call.k),
                       ": cuBLASLt has no algorithm for this shape and alignment (operands ",
                       gemm_detail::pointer_alignment(call.a), "/",
                       gemm_detail::pointer_alignment(call.b), "-byte aligned, output ",
                       gemm_detail::pointer_alignment(call.d), ")");
  }
  MIXQ_RETURN_IF_ERROR(lt_check(lt, s, "cublasLtMatmulAlgoGetHeuristic"));
  p.algo = result.algo;
  p.workspace = result.workspaceSize;
  return Status::ok_status();
}

// The cached plan for `call`, built on first use. Unsupported shapes are cached as such.
Expected<MatmulPlan*> plan_for(GemmContext::Impl& c, const MatmulCall& call) {
  PlanKey key;
  key.format = call.format;
  key.d_type = call.d_type;
  key.m = call.m;
  key.n = call.n;
  key.k = call.k;
  key.fused_bias = call.bias != nullptr;
  key.bias_type = call.bias != nullptr ? call.bias_type : -1;
  key.align_a = gemm_detail::pointer_alignment(call.a);
  key.align_b = gemm_detail::pointer_alignment(call.b);
  key.align_d = gemm_detail::pointer_alignment(call.d);
  key.align_bias = call.bias != nullptr ? gemm_detail::pointer_alignment(call.bias) : 0;
  key.batch = call.batch;
  key.stride_a = call.stride_a;
  key.stride_b = call.stride_b;
  key.stride_d = call.stride_d;
  auto it = c.plans.find(key);
  if (it == c.plans.end()) {
    if (c.plans.size() >= kMaxPlans) c.plans.clear();
    auto plan = std::make_unique<MatmulPlan>();
    plan->lt = c.lt;
    plan->status = build_plan(c, call, *plan);
    // Only "no algorithm" is a property of the key; keep other failures out of the cache.
    if (!plan->status.ok() && plan->status.code() != StatusCode::kUnsupported) {
      return plan->status;
    }
    it = c.plans.emplace(key, std::move(plan)).first;
  }
  if (!it->second->status.ok()) return it->second->status;
  return it->second.get();
}

Status run_plan(GemmContext::Impl& c, const MatmulPlan& p, const MatmulCall& call) {
  const dyn::CublasLt& lt = *c.lt;
  MIXQ_RETURN_IF_ERROR(set_call_pointers(lt, p, call));
  const float alpha_f = 1.0f, beta_f = 0.0f;
  const int32_t alpha_i = 1, beta_i = 0;
  const bool int_scale = call.format == Format::kInt8;
  const void* alpha = int_scale ? static_cast<const void*>(&alpha_i) : &alpha_f;
  const void* beta = int_scale ? static_cast<const void*>(&beta_i) : &beta_f;
  // beta = 0: C is not read; it names D's buffer and layout, as in-place use allows.
  return lt_check(
      lt,
      lt.cublasLtMatmul(c.handle, p.desc, alpha, call.b, p.a, call.a, p.b, beta, call.d, p.d,
                        call.d, p.d, &p.algo, c.workspace.data(), p.workspace, c.stream),
      "cublasLtMatmul");
}

Status matmul(GemmContext::Impl& c, const MatmulCall& call) {
  MIXQ_ASSIGN_OR_RETURN(MatmulPlan * p, plan_for(c, call));
  return run_plan(c, *p, call);
}

// `call` (whose bias is set) with the bias fused into cuBLASLt's epilogue when cuBLASLt has
// such a kernel for it; otherwise `unfused()`, which must compute the whole result itself.
Status matmul_fused_bias(GemmContext::Impl& c, const MatmulCall& call,
                         const std::function<Status()>& unfused) {
  auto plan = plan_for(c, call);
  if (plan.ok()) return run_plan(c, **plan, call);
  if (plan.status().code() != StatusCode::kUnsupported) return plan.status();
  return unfused();
}

// Float32 D written into y, the bias fused or added in place after.
Status matmul_f32_out(GemmContext::Impl& c, MatmulCall call) {
  if (call.bias == nullptr) return matmul(c, call);
  return matmul_fused_bias(c, call, [&] {
    const void* bias = call.bias;
    call.bias = nullptr;
    MIXQ_RETURN_IF_ERROR(matmul(c, call));
    return gemm_detail::finish_f32(static_cast<const float*>(call.d), 1.0f, nullptr,
                                   static_cast<const float*>(bias), call.d, DType::kFloat32, call.m,
                                   call.n, c.stream);
  });
}

// Runs `step(row0, rows, scratch)` over row blocks of the [m, n] result whose accumulator of
// `acc_bytes` per element fits in kScratchChunkBytes (at least one row per block).
Status for_row_blocks(GemmContext::Impl& c, int64_t m, int64_t n, size_t acc_bytes,
                      const std::function<Status(int64_t, int64_t, void*)>& step) {
  const size_t row_bytes = static_cast<size_t>(n) * acc_bytes;
  const int64_t rows =
      std::clamp<int64_t>(static_cast<int64_t>(kScratchChunkBytes / row_bytes), 1, m);
  MIXQ_ASSIGN_OR_RETURN(void* scratch, c.ensure(c.scratch, static_cast<size_t>(rows) * row_bytes));
  for (int64_t row0 = 0; row0 < m; row0 += rows) {
    MIXQ_RETURN_IF_ERROR(step(row0, std::min(rows, m - row0), scratch));
  }
  return Status::ok_status();
}

// Shapes and pointers every GEMM needs; `done` is set when there is nothing (more) to do.
Status validate(GemmContext::Impl& c, const char* name, const GemmArgs& g, DType out, bool* done) {
  *done = false;
  if (g.m < 0 || g.n < 0 || g.k < 0) {
    return bad_input(name, ": negative size ", shape_text(g.m, g.n, g.k));
  }
  if (g.m == 0 || g.n == 0) {
    *done = true;
    return Status::ok_status();
  }
  if (g.y == nullptr) return bad_input(name, " ", shape_text(g.m, g.n, g.k), ": null output");
  if (g.k == 0) {
    // An empty sum: y is the bias (or zeros).
    *done = true;
    return gemm_detail::finish_f32(nullptr, 1.0f, nullptr, g.bias, g.y, out, g.m, g.n, c.stream);
  }
  if (g.a == nullptr || g.b == nullptr) {
    return bad_input(name, " ", shape_text(g.m, g.n, g.k), ": null operand");
  }
  return Status::ok_status();
}

char* byte_offset(void* p, int64_t elements, size_t elem_bytes) {
  return static_cast<char*>(p) + static_cast<size_t>(elements) * elem_bytes;
}
const char* byte_offset(const void* p, int64_t elements, size_t elem_bytes) {
  return static_cast<const char*>(p) + static_cast<size_t>(elements) * elem_bytes;
}

}  // namespace

// --- GemmContext ----------------------------------------------------------------------------

GemmContext::Impl::~Impl() {
  // Queued work may still use the workspace and scratch freed below.
  if (stream != nullptr || handle != nullptr) cudaStreamSynchronize(stream);
  plans.clear();
  conv_plans.clear();
  if (dnn_handle != nullptr) dnn->cudnnDestroy(dnn_handle);
  if (handle != nullptr) lt->cublasLtDestroy(handle);
}

Expected<void*> GemmContext::Impl::ensure(DeviceBuffer& buffer, size_t bytes) {
  if (buffer.bytes() >= bytes && buffer.data() != nullptr) return buffer.data();
  MIXQ_RETURN_IF_ERROR(gemm_detail::cuda_check(cudaStreamSynchronize(stream),
                                               "cudaStreamSynchronize (growing GEMM scratch)"));
  buffer = DeviceBuffer();  // free first: the old and new blocks need not fit together
  constexpr size_t kGranule = size_t{1} << 20;
  const size_t rounded = (std::max<size_t>(bytes, 1) + kGranule - 1) / kGranule * kGranule;
  MIXQ_ASSIGN_OR_RETURN(buffer, DeviceBuffer::allocate(rounded));
  return buffer.data();
}

GemmContext::GemmContext(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
GemmContext::~GemmContext() = default;

Expected<std::unique_ptr<GemmContext>> GemmContext::create(StreamHandle stream,
                                                           size_t workspace_bytes) {
  auto impl = std::make_unique<Impl>();
  impl->stream = static_cast<cudaStream_t>(stream);
  MIXQ_RETURN_IF_ERROR(gemm_detail::cuda_check(cudaGetDevice(&impl->device), "cudaGetDevice"));
  int major = 0, minor = 0;
  MIXQ_RETURN_IF_ERROR(gemm_detail::cuda_check(
      cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, impl->device),
      "cudaDeviceGetAttribute"));
  MIXQ_RETURN_IF_ERROR(gemm_detail::cuda_check(
      cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, impl->device),
      "cudaDeviceGetAttribute"));
  impl->compute_capability = major * 10 + minor;
  MIXQ_ASSIGN_OR_RETURN(impl->lt, dyn::cublaslt());
  MIXQ_RETURN_IF_ERROR(
      lt_check(*impl->lt, impl->lt->cublasLtCreate(&impl->handle), "cublasLtCreate"));
  if (workspace_bytes > 0) {
    MIXQ_ASSIGN_OR_RETURN(impl->workspace, DeviceBuffer::allocate(workspace_bytes));
  }
  return std::unique_ptr<GemmContext>(new GemmContext(std::move(impl)));
}

StreamHandle GemmContext::stream() const { return impl_->stream; }
int GemmContext::compute_capability() const { return impl_->compute_capability; }
void GemmContext::limit_compute_capability_for_testing(int cc) {
  impl_->compute_capability = std::min(impl_->compute_capability, cc);
}

// --- The formats ----------------------------------------------------------------------------

Status gemm_f32(GemmContext& ctx, const GemmArgs& g) {
  GemmContext::Impl& c = ctx.impl();
  bool done = false;
  MIXQ_RETURN_IF_ERROR(validate(c, "gemm_f32", g, DType::kFloat32, &done));
  if (done) return Status::ok_status();
  MatmulCall call = call_for(Format::kF32, CUDA_R_32F, CUDA_R_32F, g);
  return matmul_f32_out(c, call);
}

Status gemm_batched(GemmContext& ctx, const GemmArgs& g, int64_t batch, int64_t stride_a,
                    int64_t stride_b, int64_t stride_y, DType in, DType out) {
  GemmContext::Impl& c = ctx.impl();
  if ((in != DType::kFloat32 && in != DType::kFloat16) ||
      (out != DType::kFloat32 && out != DType::kFloat16) ||
      (in == DType::kFloat32 && out != DType::kFloat32)) {
    return unsupported("gemm_batched ", shape_text(g.m, g.n, g.k), ": ", dtype_name(in), " to ",
                       dtype_name(out), " (float32 to float32, float16 to float16/float32)");
  }
  if (g.bias != nullptr || g.k == 0 || batch < 1 || batch > std::numeric_limits<int32_t>::max()) {
    return unsupported("gemm_batched ", shape_text(g.m, g.n, g.k),
                       ": takes no bias, k > 0 and 1..2^31-1 matrices");
  }
  bool done = false;
  MIXQ_RETURN_IF_ERROR(validate(c, "gemm_batched", g, out, &done));
  if (done) return Status::ok_status();
  // (g.bias is null: refused above.)
  MatmulCall call = call_for(in == DType::kFloat32 ? Format::kF32 : Format::kF16, cuda_type(in),
                             cuda_type(out), g);
  call.batch = static_cast<int32_t>(batch);
  call.stride_a = stride_a;
  call.stride_b = stride_b;
  call.stride_d = stride_y;
  return matmul(c, call);
}

Status gemm_f16(GemmContext& ctx, const GemmArgs& g, DType out) {
  GemmContext::Impl& c = ctx.impl();
  if (out != DType::kFloat16 && out != DType::kFloat32) {
    return unsupported("gemm_f16 ", shape_text(g.m, g.n, g.k), ": no ", dtype_name(out),
                       " output (float16 or float32)");
  }
  bool done = false;
  MIXQ_RETURN_IF_ERROR(validate(c, "gemm_f16", g, out, &done));
  if (done) return Status::ok_status();
  MatmulCall call = call_for(Format::kF16, CUDA_R_16F, cuda_type(out), g);
  if (out == DType::kFloat32) return matmul_f32_out(c, call);
  if (g.bias == nullptr) return matmul(c, call);
  // cuBLASLt's fused bias has D's type here: a float16 copy of the bias, added in float32 before
  // the one rounding of y. Should cuBLASLt refuse even that: float32 accumulators in scratch,
  // the float32 bias, then one rounding (adding it to a float16 y would round twice).
  MIXQ_ASSIGN_OR_RETURN(void* bias16,
                        c.ensure(c.bias_half, static_cast<size_t>(g.n) * sizeof(uint16_t)));
  MIXQ_RETURN_IF_ERROR(gemm_detail::floats_to_half(g.bias, bias16, g.n, c.stream));
  call.bias = bias16;
  call.bias_type = CUDA_R_16F;
  return matmul_fused_bias(c, call, [&] {
    return for_row_blocks(c, g.m, g.n, sizeof(float), [&](int64_t row0, int64_t rows, void* acc) {
      MatmulCall block = call;
      block.bias = nullptr;
      block.d_type = CUDA_R_32F;
      block.m = rows;
      block.a = byte_offset(g.a, row0 * g.k, 2);
      block.d = acc;
      MIXQ_RETURN_IF_ERROR(matmul(c, block));
      return gemm_detail::finish_f32(static_cast<const float*>(acc), 1.0f, nullptr, g.bias,
                                     byte_offset(g.y, row0 * g.n, 2), out, rows, g.n, c.stream);
    });
  });
}

Status gemm_fp8(GemmContext& ctx, const GemmArgs& g, const float* a_scale, const float* b_scale,
                const float* channel_scale, DType out) {
  GemmContext::Impl& c = ctx.impl();
  const std::string where = str_cat("gemm_fp8 ", shape_text(g.m, g.n, g.k));
  if (c.compute_capability < 89) {
    return unsupported(where, ": FP8 tensor cores need sm_89 or newer; this device is sm_",
                       c.compute_capability);
  }
  if (out != DType::kFloat32 && out != DType::kFloat16 && out != DType::kBFloat16) {
    return unsupported(where, ": no ", dtype_name(out), " output (float32, float16 or bfloat16)");
  }
  bool done = false;
  MIXQ_RETURN_IF_ERROR(validate(c, "gemm_fp8", g, out, &done));
  if (done) return Status::ok_status();
  // cuBLASLt's FP8 rules: k-major operands ("TN", see the file comment), 16-byte aligned
  // pointers and leading dimensions that are multiples of 16 bytes: ld(A) = ld(B) = k bytes,
  // ld(D) = n * sizeof(D). The float32 accumulator used for 16-bit outputs with channel scales
  // only needs n % 4, which n * 2 % 16 == 0 implies.
  const size_t out_bytes = dtype_bytes(out);
  if (g.k % 16 != 0 || (static_cast<size_t>(g.n) * out_bytes) % 16 != 0) {
    return unsupported(where, ": cuBLASLt FP8 needs k a multiple of 16 and n * ", out_bytes,
                       " bytes a multiple of 16");
  }
  if (gemm_detail::pointer_alignment(g.a) < 16 || gemm_detail::pointer_alignment(g.b) < 16 ||
      gemm_detail::pointer_alignment(g.y) < 16) {
    return unsupported(where, ": cuBLASLt FP8 needs 16-byte aligned a, b and y");
  }
  // Per-output-channel scales: cuBLASLt's B scale is one float on sm_89 (its vector scale mode,
  // CUBLASLT_MATMUL_MATRIX_SCALE_OUTER_VEC_32F, is for sm_90 only), and its FP8 bias epilogue
  // takes a bfloat16 bias with a float32 output. So cuBLASLt applies the scalar a_scale *
  // b_scale, and one epilogue kernel applies channel_scale and the float32 bias, the same on
  // every FP8 device: in place on a float32 y, or from float32 accumulators (row blocks in
  // scratch) for 16-bit outputs, which are then rounded once. The price is one pass over y
  // (an H100 at m = n = k = 8192: 1.01 ms with it, 0.75 ms without); an sm_90-only path through
  // OUTER_VEC_32F could fuse it.
  //
  // cuBLASLt (13.1, H100) answers CUBLAS_STATUS_NOT_SUPPORTED from cublasLtMatmul, after a
  // successful heuristic, when a scale pointer is not 16-byte aligned; misaligned scales (one
  // float inside a larger allocation) are first copied into the context's aligned slots.
  const float* scale_in[2] = {a_scale, b_scale};
  for (int i = 0; i < 2; ++i) {
    if (scale_in[i] == nullptr || gemm_detail::pointer_alignment(scale_in[i]) >= 16) continue;
    MIXQ_ASSIGN_OR_RETURN(void* slots, c.ensure(c.fp8_scales, 32));
    float* slot = static_cast<float*>(slots) + 4 * i;
    MIXQ_RETURN_IF_ERROR(gemm_detail::cuda_check(
        cudaMemcpyAsync(slot, scale_in[i], sizeof(float), cudaMemcpyDeviceToDevice, c.stream),
        "cudaMemcpyAsync (FP8 scale)"));
    scale_in[i] = slot;
  }
  MatmulCall call;
  call.format = Format::kFp8;
  call.ab_type = CUDA_R_8F_E4M3;
  call.m = g.m;
  call.n = g.n;
  call.k = g.k;
  call.a = g.a;
  call.b = g.b;
  call.a_scale = scale_in[0];
  call.b_scale = scale_in[1];
  const bool epilogue = channel_scale != nullptr || g.bias != nullptr;
  if (!epilogue || out == DType::kFloat32) {
    call.d_type = cuda_type(out);
    call.d = g.y;
    MIXQ_RETURN_IF_ERROR(matmul(c, call));
    if (!epilogue) return Status::ok_status();
    return gemm_detail::finish_f32(static_cast<float*>(g.y), 1.0f, channel_scale, g.bias, g.y,
                                   DType::kFloat32, g.m, g.n, c.stream);
  }
  return for_row_blocks(c, g.m, g.n, sizeof(float), [&](int64_t row0, int64_t rows, void* acc) {
    MatmulCall block = call;
    block.d_type = CUDA_R_32F;
    block.m = rows;
    block.a = byte_offset(g.a, row0 * g.k, 1);
    block.d = acc;
    MIXQ_RETURN_IF_ERROR(matmul(c, block));
    return gemm_detail::finish_f32(static_cast<const float*>(acc), 1.0f, channel_scale, g.bias,
                                   byte_offset(g.y, row0 * g.n, out_bytes), out, rows, g.n,
                                   c.stream);
  });
}

Status gemm_int8(GemmContext& ctx, const GemmArgs& g, float a_scale, const float* channel_scale,
                 DType out) {
  GemmContext::Impl& c = ctx.impl();
  const std::string where = str_cat("gemm_int8 ", shape_text(g.m, g.n, g.k));
  if (out != DType::kFloat32 && out != DType::kFloat16) {
    return unsupported(where, ": no ", dtype_name(out), " output (float32 or float16)");
  }
  bool done = false;
  MIXQ_RETURN_IF_ERROR(validate(c, "gemm_int8", g, out, &done));
  if (done) return Status::ok_status();
  // cuBLASLt's int8 kernels (IMMA, regular row/column order): "TN" operands, k and the leading
  // dimensions (k for both operands, n for the int32 D) multiples of 4, 4-byte aligned pointers.
  if (g.k % 4 != 0 || g.n % 4 != 0) {
    return unsupported(where, ": cuBLASLt int8 needs n and k multiples of 4");
  }
  if (gemm_detail::pointer_alignment(g.a) < 4 || gemm_detail::pointer_alignment(g.b) < 4) {
    return unsupported(where, ": cuBLASLt int8 needs 4-byte aligned a and b");
  }
  if (g.k > kMaxInt8K) {
    return unsupported(where, ": int32 accumulation can overflow past k = ", kMaxInt8K);
  }
  MatmulCall call;
  call.format = Format::kInt8;
  call.ab_type = CUDA_R_8I;
  call.d_type = CUDA_R_32I;
  call.n = g.n;
  call.k = g.k;
  call.b = g.b;
  const size_t out_bytes = dtype_bytes(out);
  return for_row_blocks(c, g.m, g.n, sizeof(int32_t), [&](int64_t row0, int64_t rows, void* acc) {
    MatmulCall block = call;
    block.m = rows;
    block.a = byte_offset(g.a, row0 * g.k, 1);
    block.d = acc;
    MIXQ_RETURN_IF_ERROR(matmul(c, block));
    return gemm_detail::finish_i32(static_cast<const int32_t*>(acc), a_scale, channel_scale, g.bias,
                                   byte_offset(g.y, row0 * g.n, out_bytes), out, rows, g.n,
                                   c.stream);
  });
}

// --- Timing ---------------------------------------------------------------------------------

Expected<double> time_ms(StreamHandle stream, const std::function<Status()>& fn, int warmup,
                         int iters) {
  if (warmup < 0 || iters <= 0) {
    return bad_input("time_ms: need warmup >= 0 and iters > 0, got ", warmup, " and ", iters);
  }
  const auto s = static_cast<cudaStream_t>(stream);
  for (int i = 0; i < warmup; ++i) MIXQ_RETURN_IF_ERROR(fn());
  // Event i is recorded before call i and event i + 1 after it; calls are enqueued back to back,
  // so each interval is one call's time on the device.
  struct Events {
    std::vector<cudaEvent_t> e;
    ~Events() {
      for (cudaEvent_t x : e) cudaEventDestroy(x);
    }
  } events;
  for (int i = 0; i <= iters; ++i) {
    cudaEvent_t e = nullptr;
    MIXQ_RETURN_IF_ERROR(gemm_detail::cuda_check(cudaEventCreate(&e), "cudaEventCreate"));
    events.e.push_back(e);
  }
  for (int i = 0; i < iters; ++i) {
    MIXQ_RETURN_IF_ERROR(
        gemm_detail::cuda_check(cudaEventRecord(events.e[i], s), "cudaEventRecord"));
    MIXQ_RETURN_IF_ERROR(fn());
  }
  MIXQ_RETURN_IF_ERROR(
      gemm_detail::cuda_check(cudaEventRecord(events.e[iters], s), "cudaEventRecord"));
  MIXQ_RETURN_IF_ERROR(
      gemm_detail::cuda_check(cudaEventSynchronize(events.e[iters]), "cudaEventSynchronize"));
  std::vector<double> times;
  for (int i = 0; i < iters; ++i) {
    float ms = 0.0f;
    MIXQ_RETURN_IF_ERROR(gemm_detail::cuda_check(
        cudaEventElapsedTime(&ms, events.e[i], events.e[i + 1]), "cudaEventElapsedTime"));
    times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  const size_t mid = times.size() / 2;
  return times.size() % 2 == 1 ? times[mid] : 0.5 * (times[mid - 1] + times[mid]);
}

}  // namespace mixq::gpu
