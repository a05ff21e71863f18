// ONNX ReduceSum-13, ReduceMean/ReduceMax/ReduceMin/ReduceProd/ReduceSumSquare/ReduceL1/
// ReduceL2/ReduceLogSumExp-18 on the device: y = reduce(x) over `axes`, with the CPU kernel's
// accumulators (lib/exec/kernels/reduce/reduce.cc): float sums and products in float64 rounded
// once, NaN-propagating Max / Min, wrapping integer Sum / Prod, LogSumExp as max + log(sum(exp(x
// - max))) in two passes.
//
// Layout: size-1 dims are dropped and neighbouring dims that are both kept or both reduced are
// merged, leaving at most 8 alternating groups. Outputs run over the kept groups in row-major
// order, so y's order is x's order with the reduced dims taken out (keepdims does not matter).
//
// Kernels (every choice depends on the shapes only, so results repeat bit for bit):
//   rows:    the innermost dim is reduced and each output has more than 64 terms: one block per
//            output (or per fixed chunk of its terms), threads striding over contiguous terms,
//            then a fixed shared-memory tree;
//   columns: otherwise: 32 neighbouring outputs per block along x, 8 fixed strided slices of the
//            terms along y, combined in slice order;
//   finish:  when an output's terms are split into chunks (few outputs, many terms), a second
//            kernel combines the chunk partials of each output in chunk order.
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <iterator>
#include <string>
#include <type_traits>
#include <vector>

// nvcc's front end reports Expected<T>'s `status_ = Status(...)` as discarding a [[nodiscard]]
// value (diagnostic 2810); it is an assignment, so the warning is a false positive there.
#pragma nv_diagnostic push
#pragma nv_diag_suppress 2810
#include "mixq/gpu/kernels/reduce.h"
#include "mixq/gpu/memory.h"
#pragma nv_diagnostic pop

namespace mixq::gpu {
namespace {

constexpr int kMaxRank = 8;
constexpr int kMaxThreads = 512;
constexpr int64_t kMaxBlocks = 65536;  // grid-stride loops cover the rest
constexpr int64_t kRowMinTerms = 64;   // shorter reductions take the column kernel
constexpr int kColX = 32;              // column kernel: outputs per block
constexpr int kColY = 8;               //                slices of the terms per block
constexpr int64_t kMaxParts = 1024;    // most chunks one output's terms are split into

cudaStream_t raw(StreamHandle s) { return static_cast<cudaStream_t>(s); }

unsigned capped(int64_t blocks) {
  return static_cast<unsigned>(blocks < kMaxBlocks ? (blocks > 0 ? blocks : 1) : kMaxBlocks);
}

// A group of merged dims with their strides in x.
struct DimGroup {
  int rank = 0;
  int64_t dims[kMaxRank] = {};
  int64_t strides[kMaxRank] = {};
};

// Element offset in x of index i within the group (row-major over its dims).
__device__ __forceinline__ int64_t offset_of(const DimGroup& g, int64_t i) {
  if (g.rank == 1) return i * g.strides[0];
  int64_t off = 0;
  for (int d = g.rank - 1; d >= 0; --d) {
    off += (i % g.dims[d]) * g.strides[d];
    i /= g.dims[d];
  }
  return off;
}

// --- Accumulation policies -----------------------------------------------------------------------

template <typename T>
struct ComputeOf {
  using type = T;
};
template <>
struct ComputeOf<__half> {
  using type = float;
};
template <typename T>
using Compute = typename ComputeOf<T>::type;

__device__ __forceinline__ float load(float v) { return v; }
__device__ __forceinline__ float load(__half v) { return __half2float(v); }
__device__ __forceinline__ int32_t load(int32_t v) { return v; }
__device__ __forceinline__ int64_t load(int64_t v) { return v; }

template <typename T, typename C>
__device__ __forceinline__ T store(C v) {
  if constexpr (std::is_same_v<T, __half>) {
    return __float2half_rn(v);
  } else {
    return static_cast<T>(v);
  }
}

template <typename C>
__device__ __forceinline__ C max_value() {
  if constexpr (std::is_same_v<C, float>) {
    return INFINITY;
  } else if constexpr (std::is_same_v<C, int32_t>) {
    return INT32_MAX;
  } else {
    return INT64_MAX;
  }
}
template <typename C>
__device__ __forceinline__ C lowest_value() {
  if constexpr (std::is_same_v<C, float>) {
    return -INFINITY;
  } else if constexpr (std::is_same_v<C, int32_t>) {
    return INT32_MIN;
  } else {
    return INT64_MIN;
  }
}

// Policy<O, C>: the accumulator of op O over compute type C (float, int32_t or int64_t):
//   Acc init(); Acc map(C v, float shift); Acc combine(Acc, Acc); C finish(Acc, count, shift).
// `shift` is LogSumExp's per-output maximum, unused by the other ops.
template <ReduceOp O, typename C>
struct Policy {
  static constexpr bool kFloat = std::is_same_v<C, float>;
  // Floats accumulate in double; integer Sum / Prod wrap in 64 bits and are cast back.
  using Acc = std::conditional_t<kFloat, double, uint64_t>;

  __device__ static Acc init() { return O == ReduceOp::kProd ? Acc(1) : Acc(0); }
  __device__ static Acc map(C v, float shift) {
    if constexpr (kFloat) {
      const auto d = static_cast<double>(v);
      if constexpr (O == ReduceOp::kL1) return fabs(d);
      if constexpr (O == ReduceOp::kL2 || O == ReduceOp::kSumSquare) return d * d;
      // exp in float (exact to an ulp of a term in (0, 1]), as the CPU kernel.
      if constexpr (O == ReduceOp::kLogSumExp) return static_cast<double>(expf(v - shift));
      return d;
    } else {
      return static_cast<uint64_t>(static_cast<int64_t>(v));
    }
  }
  __device__ static Acc combine(Acc a, Acc b) { return O == ReduceOp::kProd ? a * b : a + b; }
  __device__ static C finish(Acc a, int64_t count, float shift) {
    if constexpr (kFloat) {
      double r = a;
      if constexpr (O == ReduceOp::kMean) r = a / static_cast<double>(count);  // 0 / 0: NaN
      if constexpr (O == ReduceOp::kL2) r = sqrt(a);
      if constexpr (O == ReduceOp::kLogSumExp) {
        if (!isfinite(shift)) return shift;  // all -inf or empty: -inf; +inf; NaN
        r = static_cast<double>(shift) + log(a);
      }
      return static_cast<float>(r);
    } else {
      return static_cast<C>(static_cast<int64_t>(a));
    }
  }
};

// Max / Min: NaN, once seen, stays (whichever side it comes from).
template <bool kMax, typename C>
struct ExtremePolicy {
  using Acc = C;
  __device__ static Acc init() { return kMax ? lowest_value<C>() : max_value<C>(); }
  __device__ static Acc map(C v, float) { return v; }
  __device__ static Acc combine(Acc a, Acc b) {
    if constexpr (kMax) {
      return (a != a || a >= b) ? a : b;
    } else {
      return (a != a || a <= b) ? a : b;
    }
  }
  __device__ static C finish(Acc a, int64_t, float) { return a; }
};

template <ReduceOp O, typename C>
using PolicyFor = std::conditional_t<
    O == ReduceOp::kMax, ExtremePolicy<true, C>,
    std::conditional_t<O == ReduceOp::kMin, ExtremePolicy<false, C>, Policy<O, C>>>;

// --- Kernels -------------------------------------------------------------------------------------

// What every kernel needs to know about the reduction.
struct Geometry {
  DimGroup kept;          // output index -> x offset
  DimGroup red;           // term index -> x offset (relative)
  int64_t out_numel = 0;  // outputs
  int64_t count = 0;      // terms per output
  int64_t parts = 1;      // chunks per output (1: no partials)
  int64_t chunk = 0;      // terms per chunk
};

// Writes output o (parts == 1) or partial w = o * parts + p.
template <typename P, typename Out>
__device__ __forceinline__ void emit(const Geometry& g, int64_t o, int64_t p, typename P::Acc acc,
                                     Out* y, typename P::Acc* partials, const float* shift) {
  if (g.parts == 1) {
    y[o] = store<Out>(P::finish(acc, g.count, shift ? shift[o] : 0.0f));
  } else {
    partials[o * g.parts + p] = acc;
  }
}

template <typename P, typename T, typename Out>
__global__ void reduce_rows(const T* __restrict__ x, Out* __restrict__ y,
                            typename P::Acc* __restrict__ partials, const float* __restrict__ shift,
                            Geometry g) {
  using Acc = typename P::Acc;
  __shared__ Acc smem[kMaxThreads];
  const unsigned tid = threadIdx.x;
  const int64_t items = g.out_numel * g.parts;
  for (int64_t w = blockIdx.x; w < items; w += gridDim.x) {
    const int64_t o = w / g.parts, p = w % g.parts;
    const T* base = x + offset_of(g.kept, o);
    const float m = shift ? shift[o] : 0.0f;
    const int64_t lo = p * g.chunk;
    const int64_t hi = lo + g.chunk < g.count ? lo + g.chunk : g.count;
    Acc acc = P::init();
    for (int64_t r = lo + tid; r < hi; r += blockDim.x) {
      acc = P::combine(acc, P::map(load(base[offset_of(g.red, r)]), m));
    }
    smem[tid] = acc;
    __syncthreads();
    for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
      if (tid < s) smem[tid] = P::combine(smem[tid], smem[tid + s]);
      __syncthreads();
    }
    if (tid == 0) emit<P>(g, o, p, smem[0], y, partials, shift);
    __syncthreads();  // smem is reused by the next item
  }
}

// blockDim = (kColX, kColY); blockIdx.y is the chunk.
template <typename P, typename T, typename Out>
__global__ void reduce_columns(const T* __restrict__ x, Out* __restrict__ y,
                               typename P::Acc* __restrict__ partials,
                               const float* __restrict__ shift, Geometry g) {
  using Acc = typename P::Acc;
  __shared__ Acc smem[kColY][kColX];
  const int64_t tiles = (g.out_numel + kColX - 1) / kColX;
  const int64_t p = blockIdx.y;
  const int64_t lo = p * g.chunk;
  const int64_t hi = lo + g.chunk < g.count ? lo + g.chunk : g.count;
  for (int64_t t = blockIdx.x; t < tiles; t += gridDim.x) {
    const int64_t o = t * kColX + threadIdx.x;
    Acc acc = P::init();
    if (o < g.out_numel) {
      const T* base = x + offset_of(g.kept, o);
      const float m = shift ? shift[o] : 0.0f;
      for (int64_t r = lo + threadIdx.y; r < hi; r += kColY) {
        acc = P::combine(acc, P::map(load(base[offset_of(g.red, r)]), m));
      }
    }
    smem[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && o < g.out_numel) {
      for (int k = 1; k < kColY; ++k) acc = P::combine(acc, smem[k][threadIdx.x]);
      emit<P>(g, o, p, acc, y, partials, shift);
    }
    __syncthreads();
  }
}

// Output o = the chunk partials of o combined in chunk order.
template <typename P, typename Out>
__global__ void reduce_finish(const typename P::Acc* __restrict__ partials, Out* __restrict__ y,
                              const float* __restrict__ shift, Geometry g) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < g.out_numel;
       o += step) {
    typename P::Acc acc = partials[o * g.parts];
    for (int64_t p = 1; p < g.parts; ++p) acc = P::combine(acc, partials[o * g.parts + p]);
    y[o] = store<Out>(P::finish(acc, g.count, shift ? shift[o] : 0.0f));
  }
}

// Empty reductions: every output is the op's identity.
template <typename P, typename Out>
__global__ void reduce_identity(Out* __restrict__ y, int64_t n, float shift) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t o = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < n; o += step) {
    y[o] = store<Out>(P::finish(P::init(), 0, shift));
  }
}

// --- Host side -----------------------------------------------------------------------------------

Status cuda_check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::ok_status();
  if (e == cudaErrorMemoryAllocation) {
    return Status(StatusCode::kNoDevice, std::string(what) + ": out of device memory");
  }
  return internal_error(what, ": CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e),
                        ")");
}

// Stream-ordered scratch memory, released in stream order (after the kernels that use it).
class Scratch {
 public:
  Scratch() = default;
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  ~Scratch() {
    if (p_ != nullptr) (void)cudaFreeAsync(p_, s_);
  }
  Status allocate(size_t bytes, cudaStream_t s) {
    s_ = s;
    return cuda_check(cudaMallocAsync(&p_, bytes, s), "device reduction scratch");
  }
  void* get() const { return p_; }

 private:
  void* p_ = nullptr;
  cudaStream_t s_ = nullptr;
};

// Splits and kernel choice for one pass.
struct Launch {
  Geometry g;
  bool rows = false;
  unsigned threads = 0;  // rows: threads per block
};

Launch plan_launch(Geometry g, bool inner_reduced) {
  Launch l;
  l.rows = inner_reduced && g.count > kRowMinTerms;
  int64_t parts = 1;
  if (l.rows) {
    unsigned t = 32;
    while (t < kMaxThreads && static_cast<int64_t>(t) * 2 < g.count) t *= 2;
    l.threads = t;
    // Few outputs with many terms: split each into chunks of about 8192 terms.
    if (g.out_numel < 512 && g.count > 8192) parts = (g.count + 8191) / 8192;
  } else {
    const int64_t tiles = (g.out_numel + kColX - 1) / kColX;
    if (tiles < 256 && g.count > 2048) parts = (g.count + 2047) / 2048;
  }
  if (parts > kMaxParts) parts = kMaxParts;
  g.parts = parts;
  g.chunk = (g.count + parts - 1) / parts;
  l.g = g;
  return l;
}

// One pass of policy P: x (T) -> y (Out), with `shift` for LogSumExp.
template <typename P, typename T, typename Out>
Status run_pass(const char* what, const T* x, Out* y, const float* shift, const Geometry& geom,
                bool inner_reduced, StreamHandle s) {
  using Acc = typename P::Acc;
  const Launch l = plan_launch(geom, inner_reduced);
  const Geometry& g = l.g;
  Scratch scratch;
  Acc* partials = nullptr;
  if (g.parts > 1) {
    MIXQ_RETURN_IF_ERROR(
        scratch.allocate(static_cast<size_t>(g.out_numel * g.parts) * sizeof(Acc), raw(s)));
    partials = static_cast<Acc*>(scratch.get());
  }
  if (l.rows) {
    reduce_rows<P, T, Out>
        <<<capped(g.out_numel * g.parts), l.threads, 0, raw(s)>>>(x, y, partials, shift, g);
  } else {
    const dim3 grid(capped((g.out_numel + kColX - 1) / kColX), static_cast<unsigned>(g.parts));
    reduce_columns<P, T, Out><<<grid, dim3(kColX, kColY), 0, raw(s)>>>(x, y, partials, shift, g);
  }
  MIXQ_RETURN_IF_ERROR(last_launch_error(what));
  if (g.parts > 1) {
    reduce_finish<P, Out>
        <<<capped((g.out_numel + 255) / 256), 256, 0, raw(s)>>>(partials, y, shift, g);
    MIXQ_RETURN_IF_ERROR(last_launch_error(what));
  }
  return Status::ok_status();
}

template <ReduceOp O, typename T>
Status run_typed(const char* what, const DeviceTensor& x, const DeviceTensor& y, const Geometry& g,
                 bool inner_reduced, StreamHandle s) {
  using C = Compute<T>;
  using P = PolicyFor<O, C>;
  const auto* px = static_cast<const T*>(x.data);
  auto* py = static_cast<T*>(y.data);
  if (g.count == 0) {
    const float shift = O == ReduceOp::kLogSumExp ? -INFINITY : 0.0f;
    reduce_identity<P, T>
        <<<capped((g.out_numel + 255) / 256), 256, 0, raw(s)>>>(py, g.out_numel, shift);
    return last_launch_error(what);
  }
  if constexpr (O == ReduceOp::kLogSumExp) {
    // The maximum first (exact), then the shifted sum.
    Scratch max;
    MIXQ_RETURN_IF_ERROR(max.allocate(static_cast<size_t>(g.out_numel) * sizeof(float), raw(s)));
    auto* pm = static_cast<float*>(max.get());
    MIXQ_RETURN_IF_ERROR(
        (run_pass<ExtremePolicy<true, C>, T, float>(what, px, pm, nullptr, g, inner_reduced, s)));
    return run_pass<P, T, T>(what, px, py, pm, g, inner_reduced, s);
  } else {
    return run_pass<P, T, T>(what, px, py, nullptr, g, inner_reduced, s);
  }
}

template <ReduceOp O>
Status dispatch(const char* what, const DeviceTensor& x, const DeviceTensor& y, const Geometry& g,
                bool inner_reduced, StreamHandle s) {
  constexpr bool kIntegerOk =
      O == ReduceOp::kSum || O == ReduceOp::kProd || O == ReduceOp::kMax || O == ReduceOp::kMin;
  switch (x.dtype) {
    case DType::kFloat32:
      return run_typed<O, float>(what, x, y, g, inner_reduced, s);
    case DType::kFloat16:
      return run_typed<O, __half>(what, x, y, g, inner_reduced, s);
    case DType::kInt32:
    case DType::kInt64:
      if constexpr (kIntegerOk) {
        if (x.dtype == DType::kInt32) return run_typed<O, int32_t>(what, x, y, g, inner_reduced, s);
        return run_typed<O, int64_t>(what, x, y, g, inner_reduced, s);
      } else {
        return unsupported(what, ": ", dtype_name(x.dtype),
                           " input; the device reduces integers with Sum, Prod, Max and Min");
      }
    default:
      return unsupported(what, ": ", dtype_name(x.dtype),
                         " input; the device takes float32, float16, int32 and int64");
  }
}

constexpr const char* kOpNames[] = {
    "device ReduceSum", "device ReduceMean", "device ReduceMax",
    "device ReduceMin", "device ReduceProd", "device ReduceSumSquare",
    "device ReduceL1",  "device ReduceL2",   "device ReduceLogSumExp"};

static_assert(std::size(kOpNames) == static_cast<size_t>(ReduceOp::kLogSumExp) + 1);

std::string dims_text(const std::vector<int64_t>& d) {
  std::string s = "[";
  for (size_t i = 0; i < d.size(); ++i) s += (i ? ", " : "") + std::to_string(d[i]);
  return s + "]";
}

}  // namespace

Status reduce(ReduceOp op, const DeviceTensor& x, const std::vector<int64_t>& axes,
              const DeviceTensor& y, StreamHandle s) {
  const auto op_index = static_cast<size_t>(op);
  const char* what = op_index < std::size(kOpNames) ? kOpNames[op_index] : "device Reduce";
  const auto rank = static_cast<int64_t>(x.dims.size());
  if (y.dtype != x.dtype) {
    return bad_input(what, ": output is ", dtype_name(y.dtype), ", input ", dtype_name(x.dtype));
  }
  for (int64_t d : x.dims) {
    if (d < 0) return bad_input(what, ": negative dimension in ", dims_text(x.dims));
  }
  std::vector<bool> reduced(x.dims.size(), axes.empty());
  for (size_t i = 0; i < axes.size(); ++i) {
    if (axes[i] < 0 || axes[i] >= rank || (i > 0 && axes[i] <= axes[i - 1])) {
      return bad_input(what, ": axes ", dims_text(axes), " are not sorted, unique and in [0, ",
                       rank, ")");
    }
    reduced[static_cast<size_t>(axes[i])] = true;
  }
  Geometry g;
  g.out_numel = 1;
  g.count = 1;
  for (size_t d = 0; d < x.dims.size(); ++d) (reduced[d] ? g.count : g.out_numel) *= x.dims[d];
  if (y.numel() != g.out_numel) {
    return bad_input(what, ": output has ", y.numel(), " elements; reducing ", dims_text(x.dims),
                     " over ", dims_text(axes), " gives ", g.out_numel);
  }
  if (g.out_numel == 0) return Status::ok_status();
  if (x.data == nullptr || y.data == nullptr) {
    if (g.count > 0) return bad_input(what, ": a tensor has no device memory");
  }
  // Merge: drop size-1 dims, join neighbours of the same role; strides are x's row-major ones.
  std::vector<int64_t> sizes, strides;
  std::vector<bool> roles;
  int64_t stride = 1;
  std::vector<int64_t> x_strides(x.dims.size());
  for (size_t d = x.dims.size(); d-- > 0;) {
    x_strides[d] = stride;
    stride *= x.dims[d];
  }
  for (size_t d = 0; d < x.dims.size(); ++d) {
    if (x.dims[d] == 1) continue;
    if (!sizes.empty() && roles.back() == reduced[d]) {
      sizes.back() *= x.dims[d];
      strides.back() = x_strides[d];
    } else {
      sizes.push_back(x.dims[d]);
      strides.push_back(x_strides[d]);
      roles.push_back(reduced[d]);
    }
  }
  if (sizes.size() > static_cast<size_t>(kMaxRank)) {
    return unsupported(what, ": reducing ", dims_text(x.dims), " over ", dims_text(axes), " needs ",
                       sizes.size(), " alternating dimension groups; the device takes ", kMaxRank);
  }
  for (size_t i = 0; i < sizes.size(); ++i) {
    DimGroup& grp = roles[i] ? g.red : g.kept;
    grp.dims[grp.rank] = sizes[i];
    grp.strides[grp.rank] = strides[i];
    ++grp.rank;
  }
  const bool inner_reduced = !roles.empty() && roles.back();
  switch (op) {
    case ReduceOp::kSum:
      return dispatch<ReduceOp::kSum>(what, x, y, g, inner_reduced, s);
    case ReduceOp::kMean:
      return dispatch<ReduceOp::kMean>(what, x, y, g, inner_reduced, s);
    case ReduceOp::kMax:
      return dispatch<ReduceOp::kMax>(what, x, y, g, inner_reduced, s);
    case ReduceOp::kMin:
      return dispatch<ReduceOp::kMin>(what, x, y, g, inner_reduced, s);
    case ReduceOp::kProd:
      return dispatch<ReduceOp::kProd>(what, x, y, g, inner_reduced, s);
    case ReduceOp::kSumSquare:
      return dispatch<ReduceOp::kSumSquare>(what, x, y, g, inner_reduced, s);
    case ReduceOp::kL1:
      return dispatch<ReduceOp::kL1>(what, x, y, g, inner_reduced, s);
    case ReduceOp::kL2:
      return dispatch<ReduceOp::kL2>(what, x, y, g, inner_reduced, s);
    case ReduceOp::kLogSumExp:
      return dispatch<ReduceOp::kLogSumExp>(what, x, y, g, inner_reduced, s);
  }
  return unsupported(what, ": unknown reduction");
}

}  // namespace mixq::gpu
