// ONNX elementwise ops on the device (see elementwise.h): unary math and activations
// (Relu-14, Sigmoid-13, Tanh-13, Erf-13, Gelu-20, Exp/Log/Sqrt/Reciprocal/Neg/Abs-13,
// LeakyRelu-16, Clip-13, HardSigmoid-6, HardSwish-14, Softplus-1, Elu-6, Identity, Not-1,
// Floor/Ceil-13, Sin/Cos-7), Add/Sub/Mul/Div-14, Pow-15, Max/Min-13, Mod-13, Equal/Less/
// LessOrEqual/Greater/GreaterOrEqual, And/Or/Xor-7 with numpy broadcasting, Where-16, Cast-21 and
// Expand-13. The formulas follow the CPU kernels in lib/exec/kernels/math and quant/cast.cc
// element for element, so the two executors differ only by the last-ulp error of CUDA's libm.
//
// Broadcasting: the host aligns every input to the output's rank, drops size-1 output dims and
// merges neighbouring dims that every input treats alike (all broadcast or all present), which
// leaves rank 1 for same-shape and scalar operands. The kernels then turn the output index into
// input offsets with one div/mod per merged dim, in 32-bit arithmetic when the output has fewer
// than 2^31 elements.
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

// nvcc's front end reports Expected<T>'s `status_ = Status(...)` as discarding a [[nodiscard]]
// value (diagnostic 2810); it is an assignment, so the warning is a false positive there.
#pragma nv_diagnostic push
#pragma nv_diag_suppress 2810
#include "mixq/gpu/kernels/elementwise.h"
#include "mixq/gpu/memory.h"
#pragma nv_diagnostic pop

namespace mixq::gpu {
namespace {

constexpr int kMaxRank = 8;
constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65536;  // grid-stride loops cover the rest

cudaStream_t raw(StreamHandle s) { return static_cast<cudaStream_t>(s); }

unsigned blocks_for(int64_t n) {
  const int64_t b = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(b < kMaxBlocks ? b : kMaxBlocks);
}

// Output dims and per-input element strides after merging (strides are 0 along broadcast dims).
// Passed to kernels by value.
template <int N>
struct BroadcastPlan {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[N][kMaxRank] = {};
};

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

// Aligns each input's dims to `out` (numpy rules: right-aligned, 1 stretches) and merges dims.
// bad_input names `what` when an input does not broadcast to `out`.
template <int N>
Expected<BroadcastPlan<N>> plan_broadcast(const char* what,
                                          const std::vector<int64_t>* const (&in)[N],
                                          const std::vector<int64_t>& out) {
  const size_t rank = out.size();
  std::vector<std::vector<int64_t>> aligned(N, std::vector<int64_t>(rank, 1));
  for (int k = 0; k < N; ++k) {
    const std::vector<int64_t>& d = *in[k];
    if (d.size() > rank) {
      return bad_input(what, ": input ", k, " of shape ", dims_text(d),
                       " has a higher rank than the output ", dims_text(out));
    }
    const size_t lead = rank - d.size();
    for (size_t i = 0; i < d.size(); ++i) {
      if (d[i] != out[lead + i] && d[i] != 1) {
        return bad_input(what, ": input ", k, " of shape ", dims_text(d),
                         " does not broadcast to the output shape ", dims_text(out));
      }
      aligned[static_cast<size_t>(k)][lead + i] = d[i];
    }
  }
  // Merged dims: size and, per input, whether the input has the dim (true) or broadcasts it.
  std::vector<int64_t> sizes;
  std::vector<std::vector<bool>> present;
  for (size_t i = 0; i < rank; ++i) {
    if (out[i] == 1) continue;  // every input has 1 here too
    std::vector<bool> p(N);
    for (int k = 0; k < N; ++k) p[static_cast<size_t>(k)] = aligned[static_cast<size_t>(k)][i] != 1;
    if (!sizes.empty() && present.back() == p) {
      sizes.back() *= out[i];
    } else {
      sizes.push_back(out[i]);
      present.push_back(p);
    }
  }
  if (sizes.size() > static_cast<size_t>(kMaxRank)) {
    return unsupported(what, ": output shape ", dims_text(out), " needs ", sizes.size(),
                       " dimensions after merging; the device kernels take at most ", kMaxRank);
  }
  BroadcastPlan<N> plan;
  plan.rank = static_cast<int>(sizes.size());
  for (int d = 0; d < plan.rank; ++d) plan.dims[d] = sizes[static_cast<size_t>(d)];
  for (int k = 0; k < N; ++k) {
    int64_t stride = 1;
    for (int d = plan.rank - 1; d >= 0; --d) {
      if (present[static_cast<size_t>(d)][static_cast<size_t>(k)]) {
        plan.strides[k][d] = stride;
        stride *= plan.dims[d];
      }
    }
  }
  return plan;
}

// Input offsets of output element i.
template <int N, typename I>
__device__ __forceinline__ void offsets_of(const BroadcastPlan<N>& p, I i, I (&off)[N]) {
#pragma unroll
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = p.rank - 1; d >= 0; --d) {
    const I dim = static_cast<I>(p.dims[d]);
    const I c = i % dim;
    i /= dim;
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] += c * static_cast<I>(p.strides[k][d]);
  }
}

// --- Element types ---------------------------------------------------------------------------

// bool tensors are one byte per element; read as "nonzero", written as 0 or 1.
struct Bool8 {
  uint8_t v;
};

template <typename T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<__half> {
  using type = float;
};
template <>
struct ComputeOf<__nv_bfloat16> {
  using type = float;
};
template <typename T>
using Compute = typename ComputeOf<T>::type;

template <typename T>
__device__ __forceinline__ Compute<T> load(const T& v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __half2float(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __bfloat162float(v);
  } else {
    return v;
  }
}

template <typename T>
__device__ __forceinline__ T store(Compute<T> v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(v);
  } else if constexpr (std::is_same_v<T, __nv_bfloat16>) {
    return __float2bfloat16_rn(v);
  } else {
    return static_cast<T>(v);
  }
}

// Wrapping integer arithmetic (two's complement), as the CPU kernels' wrap_* helpers.
template <typename T>
__device__ __forceinline__ T wrap_add(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
template <typename T>
__device__ __forceinline__ T wrap_sub(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
template <typename T>
__device__ __forceinline__ T wrap_mul(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
template <typename T>
__device__ __forceinline__ T wrap_neg(T a) {
  return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(a));
}

// --- Unary -----------------------------------------------------------------------------------

// std::max / std::min as the CPU kernels use them (the first argument wins ties and NaN in the
// first argument passes through), not fmaxf / fminf, which drop NaN.
__device__ __forceinline__ float std_max(float a, float b) { return a < b ? b : a; }
__device__ __forceinline__ float std_min(float a, float b) { return b < a ? b : a; }

__device__ __forceinline__ float unary_apply(UnaryOp op, float v, float alpha, float beta) {
  switch (op) {
    case UnaryOp::kRelu:
      return v > 0.0f ? v : 0.0f;
    case UnaryOp::kSigmoid:
      // Both branches keep the relative precision of small results.
      return v >= 0.0f ? 1.0f / (1.0f + expf(-v)) : expf(v) / (1.0f + expf(v));
    case UnaryOp::kTanh:
      return tanhf(v);
    case UnaryOp::kErf:
      return erff(v);
    case UnaryOp::kGeluErf:
      return 0.5f * v * (1.0f + erff(v * 0.7071067811865476f));
    case UnaryOp::kGeluTanh:
      return 0.5f * v * (1.0f + tanhf(0.7978845608028654f * (v + 0.044715f * (v * v * v))));
    case UnaryOp::kExp:
      return expf(v);
    case UnaryOp::kLog:
      return logf(v);
    case UnaryOp::kSqrt:
      return sqrtf(v);  // correctly rounded (nvcc's default -prec-sqrt=true)
    case UnaryOp::kReciprocal:
      return 1.0f / v;
    case UnaryOp::kNeg:
      return -v;
    case UnaryOp::kAbs:
      return fabsf(v);
    case UnaryOp::kLeakyRelu:
      return std_max(v, 0.0f) + alpha * std_min(v, 0.0f);
    case UnaryOp::kClip: {
      const float t = v < alpha ? alpha : v;
      return t > beta ? beta : t;
    }
    case UnaryOp::kHardSigmoid:
      return std_max(std_min(alpha * v + beta, 1.0f), 0.0f);
    case UnaryOp::kHardSwish:
      return v * std_max(std_min(v / 6.0f + 0.5f, 1.0f), 0.0f);
    case UnaryOp::kSoftplus:
      return v > 0.0f ? v + log1pf(expf(-v)) : log1pf(expf(v));
    case UnaryOp::kElu:
      return v < 0.0f ? alpha * expm1f(v) : v;
    case UnaryOp::kIdentity:
      return v;
    case UnaryOp::kFloor:
      return floorf(v);
    case UnaryOp::kCeil:
      return ceilf(v);
    case UnaryOp::kSin:
      return sinf(v);
    case UnaryOp::kCos:
      return cosf(v);
    case UnaryOp::kNot:
      break;  // bool only: its own kernel
  }
  return v;
}

template <typename T, typename I>
__global__ void unary_kernel(UnaryOp op, const T* __restrict__ x, T* __restrict__ y, I n,
                             float alpha, float beta) {
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    y[i] = store<T>(unary_apply(op, load(x[i]), alpha, beta));
  }
}

template <typename I>
__global__ void not_kernel(const uint8_t* __restrict__ x, uint8_t* __restrict__ y, I n) {
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    y[i] = x[i] == 0 ? 1 : 0;
  }
}

// Launches kernel<uint32_t> when n fits 31 bits, else kernel<uint64_t>; then checks the launch.
// `launch32(blocks)` / `launch64(blocks)` enqueue the two instantiations.
template <typename L32, typename L64>
Status launch_indexed(const char* name, int64_t n, L32 launch32, L64 launch64) {
  if (n <= 0) return Status::ok_status();
  if (n < (int64_t{1} << 31)) {
    launch32(blocks_for(n));
  } else {
    launch64(blocks_for(n));
  }
  return last_launch_error(name);
}

Status check_data(const char* what, const DeviceTensor& t, const char* role) {
  if (t.data == nullptr && t.numel() > 0) {
    return bad_input(what, ": ", role, " has no device memory");
  }
  for (int64_t d : t.dims) {
    if (d < 0) return bad_input(what, ": ", role, " has a negative dimension");
  }
  return Status::ok_status();
}

// --- Binary ----------------------------------------------------------------------------------

__device__ __forceinline__ float pow_float(float u, float e) {
  // The CPU kernel computes scalar exponents 2, 3 and 0.5 as products and sqrt (correctly
  // rounded, or within an ulp); do the same per element so the two agree bit for bit there.
  if (e == 2.0f) return u * u;
  if (e == 3.0f) return u * u * u;
  if (e == 0.5f && u > 0.0f) return sqrtf(u);
  return powf(u, e);
}

// x^e by squaring, wrapping; e < 0 gives the truncated 1 / x^-e (0 for x = 0, which the CPU
// executor refuses).
template <typename T>
__device__ __forceinline__ T int_pow(T x, T e) {
  if (e < 0) {
    if (x == T(1)) return T(1);
    if (x == T(-1)) return (e % 2 == 0) ? T(1) : T(-1);
    return T(0);
  }
  T result = T(1);
  T base = x;
  auto n = static_cast<uint64_t>(e);
  while (n != 0) {
    if (n & 1u) result = wrap_mul(result, base);
    base = wrap_mul(base, base);
    n >>= 1;
  }
  return result;
}

template <typename C>
__device__ __forceinline__ C arith_apply(BinaryOp op, C u, C v) {
  if constexpr (std::is_floating_point_v<C>) {
    switch (op) {
      case BinaryOp::kAdd:
        return u + v;
      case BinaryOp::kSub:
        return u - v;
      case BinaryOp::kMul:
        return u * v;
      case BinaryOp::kDiv:
        return u / v;
      case BinaryOp::kPow:
        return pow_float(u, v);
      case BinaryOp::kMax:
        return (u != u || u >= v) ? u : v;  // u != u: NaN stays
      case BinaryOp::kMin:
        return (u != u || u <= v) ? u : v;
      case BinaryOp::kFmod:
        return fmodf(u, v);
      default:
        return C(0);  // refused on the host
    }
  } else {
    switch (op) {
      case BinaryOp::kAdd:
        return wrap_add(u, v);
      case BinaryOp::kSub:
        return wrap_sub(u, v);
      case BinaryOp::kMul:
        return wrap_mul(u, v);
      case BinaryOp::kDiv:
        if (v == C(0)) return C(0);
        if (v == C(-1)) return wrap_neg(u);  // INT_MIN / -1 wraps to INT_MIN
        return static_cast<C>(u / v);
      case BinaryOp::kPow:
        return int_pow(u, v);
      case BinaryOp::kMax:
        return u >= v ? u : v;
      case BinaryOp::kMin:
        return u <= v ? u : v;
      case BinaryOp::kMod:
      case BinaryOp::kFmod: {
        if (v == C(0) || v == C(-1)) return C(0);  // x % -1 is 0 (INT_MIN % -1 would trap)
        C r = static_cast<C>(u % v);
        if (op == BinaryOp::kMod && r != 0 && ((r < 0) != (v < 0))) r = static_cast<C>(r + v);
        return r;
      }
      default:
        return C(0);  // refused on the host
    }
  }
}

template <typename C>
__device__ __forceinline__ uint8_t compare_apply(BinaryOp op, C u, C v) {
  switch (op) {
    case BinaryOp::kEqual:
      return u == v;
    case BinaryOp::kLess:
      return u < v;
    case BinaryOp::kLessOrEqual:
      return u <= v;
    case BinaryOp::kGreater:
      return u > v;
    case BinaryOp::kGreaterOrEqual:
      return u >= v;
    default:
      return 0;
  }
}

template <typename T, typename I>
__global__ void arith_kernel(BinaryOp op, const T* __restrict__ a, const T* __restrict__ b,
                             T* __restrict__ y, BroadcastPlan<2> p, I n) {
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    I off[2];
    offsets_of(p, i, off);
    y[i] = store<T>(arith_apply<Compute<T>>(op, load(a[off[0]]), load(b[off[1]])));
  }
}

// Comparisons; bool operands arrive as Bool8 and compare as 0 / 1.
template <typename T, typename I>
__global__ void compare_kernel(BinaryOp op, const T* __restrict__ a, const T* __restrict__ b,
                               uint8_t* __restrict__ y, BroadcastPlan<2> p, I n) {
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    I off[2];
    offsets_of(p, i, off);
    if constexpr (std::is_same_v<T, Bool8>) {
      y[i] = compare_apply<int>(op, a[off[0]].v != 0, b[off[1]].v != 0);
    } else {
      y[i] = compare_apply<Compute<T>>(op, load(a[off[0]]), load(b[off[1]]));
    }
  }
}

template <typename I>
__global__ void logic_kernel(BinaryOp op, const uint8_t* __restrict__ a,
                             const uint8_t* __restrict__ b, uint8_t* __restrict__ y,
                             BroadcastPlan<2> p, I n) {
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    I off[2];
    offsets_of(p, i, off);
    const bool u = a[off[0]] != 0, v = b[off[1]] != 0;
    bool r = false;
    if (op == BinaryOp::kAnd) r = u && v;
    if (op == BinaryOp::kOr) r = u || v;
    if (op == BinaryOp::kXor) r = u != v;
    y[i] = r ? 1 : 0;
  }
}

// Op names for messages, in enum order.
constexpr const char* kUnaryNames[] = {
    "Relu",      "Sigmoid", "Tanh",        "Erf",        "Gelu",     "Gelu(tanh)",
    "Exp",       "Log",     "Sqrt",        "Reciprocal", "Neg",      "Abs",
    "LeakyRelu", "Clip",    "HardSigmoid", "HardSwish",  "Softplus", "Elu",
    "Identity",  "Not",     "Floor",       "Ceil",       "Sin",      "Cos"};
constexpr const char* kBinaryNames[] = {"Add",
                                        "Sub",
                                        "Mul",
                                        "Div",
                                        "Pow",
                                        "Max",
                                        "Min",
                                        "Mod",
                                        "Equal",
                                        "Less",
                                        "LessOrEqual",
                                        "Greater",
                                        "GreaterOrEqual",
                                        "And",
                                        "Or",
                                        "Xor",
                                        "Mod(fmod=1)"};
static_assert(std::size(kUnaryNames) == static_cast<size_t>(UnaryOp::kCos) + 1);
static_assert(std::size(kBinaryNames) == static_cast<size_t>(BinaryOp::kFmod) + 1);

const char* unary_name(UnaryOp op) {
  const auto i = static_cast<size_t>(op);
  return i < std::size(kUnaryNames) ? kUnaryNames[i] : "unary op";
}
const char* binary_name(BinaryOp op) {
  const auto i = static_cast<size_t>(op);
  return i < std::size(kBinaryNames) ? kBinaryNames[i] : "binary op";
}

bool is_comparison(BinaryOp op) {
  return op == BinaryOp::kEqual || op == BinaryOp::kLess || op == BinaryOp::kLessOrEqual ||
         op == BinaryOp::kGreater || op == BinaryOp::kGreaterOrEqual;
}
bool is_logic(BinaryOp op) {
  return op == BinaryOp::kAnd || op == BinaryOp::kOr || op == BinaryOp::kXor;
}

template <typename T>
Status launch_arith(BinaryOp op, const DeviceTensor& a, const DeviceTensor& b,
                    const DeviceTensor& y, const BroadcastPlan<2>& p, StreamHandle s) {
  const auto* pa = static_cast<const T*>(a.data);
  const auto* pb = static_cast<const T*>(b.data);
  auto* py = static_cast<T*>(y.data);
  const int64_t n = y.numel();
  return launch_indexed(
      "elementwise binary arithmetic kernel", n,
      [&](unsigned g) {
        arith_kernel<T, uint32_t>
            <<<g, kThreads, 0, raw(s)>>>(op, pa, pb, py, p, static_cast<uint32_t>(n));
      },
      [&](unsigned g) {
        arith_kernel<T, uint64_t>
            <<<g, kThreads, 0, raw(s)>>>(op, pa, pb, py, p, static_cast<uint64_t>(n));
      });
}

template <typename T>
Status launch_compare(BinaryOp op, const DeviceTensor& a, const DeviceTensor& b,
                      const DeviceTensor& y, const BroadcastPlan<2>& p, StreamHandle s) {
  const auto* pa = static_cast<const T*>(a.data);
  const auto* pb = static_cast<const T*>(b.data);
  auto* py = static_cast<uint8_t*>(y.data);
  const int64_t n = y.numel();
  return launch_indexed(
      "elementwise comparison kernel", n,
      [&](unsigned g) {
        compare_kernel<T, uint32_t>
            <<<g, kThreads, 0, raw(s)>>>(op, pa, pb, py, p, static_cast<uint32_t>(n));
      },
      [&](unsigned g) {
        compare_kernel<T, uint64_t>
            <<<g, kThreads, 0, raw(s)>>>(op, pa, pb, py, p, static_cast<uint64_t>(n));
      });
}

// --- Where and Expand: byte copies ------------------------------------------------------------

template <typename E, typename I>
__global__ void where_kernel(const uint8_t* __restrict__ c, const E* __restrict__ x,
                             const E* __restrict__ y, E* __restrict__ out, BroadcastPlan<3> p,
                             I n) {
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    I off[3];
    offsets_of(p, i, off);
    out[i] = c[off[0]] != 0 ? x[off[1]] : y[off[2]];
  }
}

template <typename E, typename I>
__global__ void expand_kernel(const E* __restrict__ x, E* __restrict__ y, BroadcastPlan<1> p, I n) {
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    I off[1];
    offsets_of(p, i, off);
    y[i] = x[off[0]];
  }
}

template <typename E>
Status launch_where(const DeviceTensor& cond, const DeviceTensor& x, const DeviceTensor& y,
                    const DeviceTensor& out, const BroadcastPlan<3>& p, StreamHandle s) {
  const auto* pc = static_cast<const uint8_t*>(cond.data);
  const auto* px = static_cast<const E*>(x.data);
  const auto* py = static_cast<const E*>(y.data);
  auto* po = static_cast<E*>(out.data);
  const int64_t n = out.numel();
  return launch_indexed(
      "Where kernel", n,
      [&](unsigned g) {
        where_kernel<E, uint32_t>
            <<<g, kThreads, 0, raw(s)>>>(pc, px, py, po, p, static_cast<uint32_t>(n));
      },
      [&](unsigned g) {
        where_kernel<E, uint64_t>
            <<<g, kThreads, 0, raw(s)>>>(pc, px, py, po, p, static_cast<uint64_t>(n));
      });
}

template <typename E>
Status launch_expand(const DeviceTensor& x, const DeviceTensor& y, const BroadcastPlan<1>& p,
                     StreamHandle s) {
  const auto* px = static_cast<const E*>(x.data);
  auto* py = static_cast<E*>(y.data);
  const int64_t n = y.numel();
  return launch_indexed(
      "Expand kernel", n,
      [&](unsigned g) {
        expand_kernel<E, uint32_t><<<g, kThreads, 0, raw(s)>>>(px, py, p, static_cast<uint32_t>(n));
      },
      [&](unsigned g) {
        expand_kernel<E, uint64_t><<<g, kThreads, 0, raw(s)>>>(px, py, p, static_cast<uint64_t>(n));
      });
}

// Bytes per element for the byte-copying kernels; 0 for types they do not take.
int element_bytes(DType t) {
  if (t == DType::kString || t == DType::kUndefined || t == DType::kInt4 || t == DType::kUint4 ||
      t == DType::kFloat4E2M1) {
    return 0;
  }
  const int bits = dtype_bits(t);
  return bits == 8 || bits == 16 || bits == 32 || bits == 64 ? bits / 8 : 0;
}

// --- Cast ------------------------------------------------------------------------------------

template <typename D>
struct IntLimits;
template <>
struct IntLimits<int8_t> {
  static constexpr int8_t kMin = -128, kMax = 127;
};
template <>
struct IntLimits<uint8_t> {
  static constexpr uint8_t kMin = 0, kMax = 255;
};
template <>
struct IntLimits<int32_t> {
  static constexpr int32_t kMin = INT32_MIN, kMax = INT32_MAX;
};
template <>
struct IntLimits<int64_t> {
  static constexpr int64_t kMin = INT64_MIN, kMax = INT64_MAX;
};

// Float to integer as the CPU Cast: toward zero; wraps within the int64 range, saturates
// beyond it, NaN gives 0.
template <typename D>
__device__ __forceinline__ D float_to_int(double v) {
  if (v != v) return D(0);
  v = trunc(v);
  if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
    return static_cast<D>(static_cast<int64_t>(v));
  }
  return v > 0 ? IntLimits<D>::kMax : IntLimits<D>::kMin;
}

// Integer to float16 / bfloat16, rounded once. float16: past 65520 (halfway above the largest
// finite value, 65504) the result is +-Inf; below, the integer is exact in float32, so one
// float32 -> float16 rounding is the only one. bfloat16: NVIDIA's *_rn integer conversions,
// which round once (through round-to-odd where the integer does not fit float32).
template <typename D, typename S>
__device__ __forceinline__ D int_to_16bit_float(S v) {
  if constexpr (std::is_same_v<D, __half>) {
    if constexpr (sizeof(S) >= 4) {  // int8 / uint8 are always in range
      if (v >= S(65520)) return __float2half_rn(INFINITY);
      if (v <= S(-65520)) return __float2half_rn(-INFINITY);
    }
    return __float2half_rn(static_cast<float>(v));
  } else {
    if constexpr (std::is_same_v<S, int64_t>) {
      return __ll2bfloat16_rn(static_cast<long long>(v));
    } else if constexpr (std::is_same_v<S, int32_t>) {
      return __int2bfloat16_rn(v);
    } else {
      return __float2bfloat16_rn(static_cast<float>(v));  // int8 / uint8: exact in float32
    }
  }
}

template <typename D, typename S>
__device__ __forceinline__ D convert(S s) {
  constexpr bool kFloatDst =
      std::is_same_v<D, float> || std::is_same_v<D, __half> || std::is_same_v<D, __nv_bfloat16>;
  constexpr bool kFloatSrc =
      std::is_same_v<S, float> || std::is_same_v<S, __half> || std::is_same_v<S, __nv_bfloat16>;
  if constexpr (std::is_same_v<S, Bool8>) {
    const bool b = s.v != 0;
    if constexpr (std::is_same_v<D, Bool8>) {
      return Bool8{static_cast<uint8_t>(b ? 1 : 0)};
    } else if constexpr (kFloatDst) {
      return store<D>(b ? 1.0f : 0.0f);
    } else {
      return static_cast<D>(b ? 1 : 0);
    }
  } else if constexpr (kFloatSrc) {
    const float v = load(s);
    if constexpr (std::is_same_v<D, Bool8>) {
      return Bool8{static_cast<uint8_t>(v != 0.0f ? 1 : 0)};  // NaN != 0: true
    } else if constexpr (kFloatDst) {
      return store<D>(v);
    } else {
      return float_to_int<D>(static_cast<double>(v));
    }
  } else {  // integer source
    if constexpr (std::is_same_v<D, Bool8>) {
      return Bool8{static_cast<uint8_t>(s != 0 ? 1 : 0)};
    } else if constexpr (std::is_same_v<D, float>) {
      return static_cast<float>(s);  // one rounding (cvt.rn)
    } else if constexpr (kFloatDst) {
      return int_to_16bit_float<D>(s);
    } else {
      return static_cast<D>(s);  // two's complement: the low bits
    }
  }
}

template <typename S, typename D, typename I>
__global__ void cast_kernel(const S* __restrict__ x, D* __restrict__ y, I n) {
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    y[i] = convert<D>(x[i]);
  }
}

// fn(T{}) with T the device storage type of a Cast dtype; `otherwise` for other dtypes.
template <typename Fn>
Status visit_cast_type(DType t, const Status& otherwise, Fn&& fn) {
  switch (t) {
    case DType::kFloat32:
      return fn(float{});
    case DType::kFloat16:
      return fn(__half{});
    case DType::kBFloat16:
      return fn(__nv_bfloat16{});
    case DType::kInt32:
      return fn(int32_t{});
    case DType::kInt64:
      return fn(int64_t{});
    case DType::kInt8:
      return fn(int8_t{});
    case DType::kUint8:
      return fn(uint8_t{});
    case DType::kBool:
      return fn(Bool8{});
    default:
      return otherwise;
  }
}

}  // namespace

// --- Entry points --------------------------------------------------------------------------------

Status unary(UnaryOp op, const DeviceTensor& x, const DeviceTensor& y, const UnaryParams& p,
             StreamHandle s) {
  const std::string name = std::string("device ") + unary_name(op);
  const char* what = name.c_str();
  MIXQ_RETURN_IF_ERROR(check_data(what, x, "input"));
  MIXQ_RETURN_IF_ERROR(check_data(what, y, "output"));
  if (x.dtype != y.dtype) {
    return bad_input(what, ": input is ", dtype_name(x.dtype), ", output ", dtype_name(y.dtype));
  }
  const int64_t n = x.numel();
  if (y.numel() != n) {
    return bad_input(what, ": input has ", n, " elements, output ", y.numel());
  }
  if (op == UnaryOp::kNot) {
    if (x.dtype != DType::kBool) {
      return unsupported(what, ": ", dtype_name(x.dtype), " input; Not takes bool");
    }
    const auto* px = static_cast<const uint8_t*>(x.data);
    auto* py = static_cast<uint8_t*>(y.data);
    return launch_indexed(
        "Not kernel", n,
        [&](unsigned g) {
          not_kernel<uint32_t><<<g, kThreads, 0, raw(s)>>>(px, py, static_cast<uint32_t>(n));
        },
        [&](unsigned g) {
          not_kernel<uint64_t><<<g, kThreads, 0, raw(s)>>>(px, py, static_cast<uint64_t>(n));
        });
  }
  auto run = [&](auto tag) -> Status {
    using T = decltype(tag);
    const auto* px = static_cast<const T*>(x.data);
    auto* py = static_cast<T*>(y.data);
    return launch_indexed(
        "elementwise unary kernel", n,
        [&](unsigned g) {
          unary_kernel<T, uint32_t>
              <<<g, kThreads, 0, raw(s)>>>(op, px, py, static_cast<uint32_t>(n), p.alpha, p.beta);
        },
        [&](unsigned g) {
          unary_kernel<T, uint64_t>
              <<<g, kThreads, 0, raw(s)>>>(op, px, py, static_cast<uint64_t>(n), p.alpha, p.beta);
        });
  };
  switch (x.dtype) {
    case DType::kFloat32:
      return run(float{});
    case DType::kFloat16:
      return run(__half{});
    default:
      return unsupported(what, ": ", dtype_name(x.dtype),
                         " input; the device takes float32 and float16");
  }
}

Status binary(BinaryOp op, const DeviceTensor& a, const DeviceTensor& b, const DeviceTensor& y,
              StreamHandle s) {
  const std::string name = std::string("device ") + binary_name(op);
  const char* what = name.c_str();
  MIXQ_RETURN_IF_ERROR(check_data(what, a, "input A"));
  MIXQ_RETURN_IF_ERROR(check_data(what, b, "input B"));
  MIXQ_RETURN_IF_ERROR(check_data(what, y, "output"));
  if (a.dtype != b.dtype) {
    return bad_input(what, ": input types differ: ", dtype_name(a.dtype), " and ",
                     dtype_name(b.dtype));
  }
  const bool compare = is_comparison(op);
  const bool logic = is_logic(op);
  const DType want_y = compare || logic ? DType::kBool : a.dtype;
  if (y.dtype != want_y) {
    return bad_input(what, ": output is ", dtype_name(y.dtype), ", expected ", dtype_name(want_y));
  }
  const std::vector<int64_t>* const in[2] = {&a.dims, &b.dims};
  MIXQ_ASSIGN_OR_RETURN(const BroadcastPlan<2> plan, plan_broadcast<2>(what, in, y.dims));
  const DType t = a.dtype;
  if (logic) {
    if (t != DType::kBool) {
      return unsupported(what, ": ", dtype_name(t), " inputs; the op takes bool");
    }
    const auto* pa = static_cast<const uint8_t*>(a.data);
    const auto* pb = static_cast<const uint8_t*>(b.data);
    auto* py = static_cast<uint8_t*>(y.data);
    const int64_t n = y.numel();
    return launch_indexed(
        "elementwise logic kernel", n,
        [&](unsigned g) {
          logic_kernel<uint32_t>
              <<<g, kThreads, 0, raw(s)>>>(op, pa, pb, py, plan, static_cast<uint32_t>(n));
        },
        [&](unsigned g) {
          logic_kernel<uint64_t>
              <<<g, kThreads, 0, raw(s)>>>(op, pa, pb, py, plan, static_cast<uint64_t>(n));
        });
  }
  if (compare) {
    switch (t) {
      case DType::kFloat32:
        return launch_compare<float>(op, a, b, y, plan, s);
      case DType::kFloat16:
        return launch_compare<__half>(op, a, b, y, plan, s);
      case DType::kInt32:
        return launch_compare<int32_t>(op, a, b, y, plan, s);
      case DType::kInt64:
        return launch_compare<int64_t>(op, a, b, y, plan, s);
      case DType::kBool:
        return launch_compare<Bool8>(op, a, b, y, plan, s);
      default:
        return unsupported(what, ": ", dtype_name(t),
                           " inputs; the device takes float32, float16, int32, int64 and bool");
    }
  }
  const bool is_float = t == DType::kFloat32 || t == DType::kFloat16;
  if (op == BinaryOp::kMod && is_float) {
    return unsupported(what, ": ", dtype_name(t),
                       " inputs need fmod = 1 (BinaryOp::kFmod), as ONNX Mod requires");
  }
  switch (t) {
    case DType::kFloat32:
      return launch_arith<float>(op, a, b, y, plan, s);
    case DType::kFloat16:
      return launch_arith<__half>(op, a, b, y, plan, s);
    case DType::kInt32:
      return launch_arith<int32_t>(op, a, b, y, plan, s);
    case DType::kInt64:
      return launch_arith<int64_t>(op, a, b, y, plan, s);
    default:
      return unsupported(what, ": ", dtype_name(t),
                         " inputs; the device takes float32, float16, int32 and int64");
  }
}

Status where(const DeviceTensor& cond, const DeviceTensor& x, const DeviceTensor& y,
             const DeviceTensor& out, StreamHandle s) {
  const char* what = "device Where";
  MIXQ_RETURN_IF_ERROR(check_data(what, cond, "condition"));
  MIXQ_RETURN_IF_ERROR(check_data(what, x, "input X"));
  MIXQ_RETURN_IF_ERROR(check_data(what, y, "input Y"));
  MIXQ_RETURN_IF_ERROR(check_data(what, out, "output"));
  if (cond.dtype != DType::kBool) {
    return bad_input(what, ": condition is ", dtype_name(cond.dtype), ", expected bool");
  }
  if (x.dtype != y.dtype || x.dtype != out.dtype) {
    return bad_input(what, ": X is ", dtype_name(x.dtype), ", Y ", dtype_name(y.dtype),
                     " and the output ", dtype_name(out.dtype), "; they must agree");
  }
  const std::vector<int64_t>* const in[3] = {&cond.dims, &x.dims, &y.dims};
  MIXQ_ASSIGN_OR_RETURN(const BroadcastPlan<3> plan, plan_broadcast<3>(what, in, out.dims));
  switch (element_bytes(x.dtype)) {
    case 1:
      return launch_where<uint8_t>(cond, x, y, out, plan, s);
    case 2:
      return launch_where<uint16_t>(cond, x, y, out, plan, s);
    case 4:
      return launch_where<uint32_t>(cond, x, y, out, plan, s);
    case 8:
      return launch_where<uint64_t>(cond, x, y, out, plan, s);
    default:
      return unsupported(what, ": ", dtype_name(x.dtype), " inputs are not supported");
  }
}

Status cast(const DeviceTensor& x, const DeviceTensor& y, StreamHandle s) {
  const char* what = "device Cast";
  MIXQ_RETURN_IF_ERROR(check_data(what, x, "input"));
  MIXQ_RETURN_IF_ERROR(check_data(what, y, "output"));
  const int64_t n = x.numel();
  if (y.numel() != n) {
    return bad_input(what, ": input has ", n, " elements, output ", y.numel());
  }
  if (x.dtype == y.dtype) {
    const int bytes = element_bytes(x.dtype);
    if (bytes == 0) return unsupported(what, ": ", dtype_name(x.dtype), " is not supported");
    if (n == 0 || x.data == y.data) return Status::ok_status();
    return copy_device_to_device(y.data, x.data, static_cast<size_t>(n) * bytes, s);
  }
  const Status refused =
      unsupported(what, " from ", dtype_name(x.dtype), " to ", dtype_name(y.dtype),
                  ": the device casts among float32, float16, bfloat16, int32, "
                  "int64, int8, uint8 and bool");
  return visit_cast_type(x.dtype, refused, [&](auto stag) -> Status {
    using S = decltype(stag);
    return visit_cast_type(y.dtype, refused, [&](auto dtag) -> Status {
      using D = decltype(dtag);
      const auto* px = static_cast<const S*>(x.data);
      auto* py = static_cast<D*>(y.data);
      return launch_indexed(
          "Cast kernel", n,
          [&](unsigned g) {
            cast_kernel<S, D, uint32_t>
                <<<g, kThreads, 0, raw(s)>>>(px, py, static_cast<uint32_t>(n));
          },
          [&](unsigned g) {
            cast_kernel<S, D, uint64_t>
                <<<g, kThreads, 0, raw(s)>>>(px, py, static_cast<uint64_t>(n));
          });
    });
  });
}

Status expand(const DeviceTensor& x, const DeviceTensor& y, StreamHandle s) {
  const char* what = "device Expand";
  MIXQ_RETURN_IF_ERROR(check_data(what, x, "input"));
  MIXQ_RETURN_IF_ERROR(check_data(what, y, "output"));
  if (x.dtype != y.dtype) {
    return bad_input(what, ": input is ", dtype_name(x.dtype), ", output ", dtype_name(y.dtype));
  }
  const std::vector<int64_t>* const in[1] = {&x.dims};
  MIXQ_ASSIGN_OR_RETURN(const BroadcastPlan<1> plan, plan_broadcast<1>(what, in, y.dims));
  switch (element_bytes(x.dtype)) {
    case 1:
      return launch_expand<uint8_t>(x, y, plan, s);
    case 2:
      return launch_expand<uint16_t>(x, y, plan, s);
    case 4:
      return launch_expand<uint32_t>(x, y, plan, s);
    case 8:
      return launch_expand<uint64_t>(x, y, plan, s);
    default:
      return unsupported(what, ": ", dtype_name(x.dtype), " inputs are not supported");
  }
}

}  // namespace mixq::gpu
