// ONNX Transpose-21, Gather-13, Concat-13 and Slice-13 on the device: byte copies, any dtype
// with whole-byte elements.
//
// Transpose, Concat and Slice are one strided copy: element i (row-major over the copied dims)
// moves from src + sum c_k * src_stride[k] to dst + sum c_k * dst_stride[k]. Before launching,
// the host drops size-1 dims, appends the element's bytes as an innermost dim, merges dims that
// are contiguous in both source and destination, and picks the widest copy unit (up to 16 bytes)
// that divides the innermost run, every stride and both base addresses. So a concat of rows,
// a slice of whole rows or a transpose that keeps the last dim copies 4 to 16 bytes per thread
// whatever the dtype. Gather copies whole inner runs the same way.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "launch.cuh"
#include "mixq/gpu/kernels/movement.h"
#include "mixq/gpu/memory.h"

namespace mixq::gpu {
namespace {

constexpr int kMaxRank = 8;
// A copy's dims after the element bytes became the innermost one.
constexpr int kMaxCopyRank = kMaxRank + 1;
using launch::blocks_for;
using launch::kMaxInt32;
using launch::kThreads;
using launch::raw;

Status cuda_check(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::ok_status();
  if (e == cudaErrorMemoryAllocation) {
    return Status(StatusCode::kNoDevice, str_cat(what, ": out of device memory"));
  }
  return internal_error(what, ": CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e),
                        ")");
}

// Bytes per element of a dtype these copies can move, or 0 (strings, packed 4-bit types).
int64_t element_bytes(DType t) {
  const int bits = dtype_bits(t);
  return bits > 0 && bits % 8 == 0 ? bits / 8 : 0;
}

std::vector<int64_t> strides_of(const std::vector<int64_t>& dims) {
  std::vector<int64_t> st(dims.size(), 1);
  for (size_t k = dims.size(); k-- > 1;) st[k - 1] = st[k] * dims[k];
  return st;
}

Status check_dtype(const char* op, DType t) {
  if (element_bytes(t) == 0) return unsupported(op, ": dtype ", dtype_name(t), " on the GPU");
  return Status::ok_status();
}

Status check_rank(const char* op, const char* what, const std::vector<int64_t>& dims) {
  if (dims.size() > static_cast<size_t>(kMaxRank)) {
    return unsupported(op, ": ", what, " has rank ", dims.size(), ", the GPU kernels take at most ",
                       kMaxRank);
  }
  for (int64_t d : dims) {
    if (d < 0) return bad_input(op, ": ", what, " has a negative dim ", ir::dims_to_string(dims));
  }
  return Status::ok_status();
}

Status check_dims(const char* op, const char* what, const std::vector<int64_t>& got,
                  const std::vector<int64_t>& want) {
  if (got != want) {
    return bad_input(op, ": ", what, " has shape ", ir::dims_to_string(got), ", expected ",
                     ir::dims_to_string(want));
  }
  return Status::ok_status();
}

Status check_same_dtype(const char* op, const DeviceTensor& x, const DeviceTensor& y) {
  if (x.dtype != y.dtype) {
    return bad_input(op, ": y is ", dtype_name(y.dtype), " but the input is ", dtype_name(x.dtype));
  }
  return Status::ok_status();
}

// --- The strided copy ---------------------------------------------------------------------------

// A copy unit of 16 bytes (uint4's size and alignment, without CUDA's vector header here).
struct alignas(16) Bytes16 {
  uint64_t lo, hi;
};

// The copy handed to the kernel, by value: dims and strides in copy units.
struct CopyShape {
  int rank = 0;
  int64_t dims[kMaxCopyRank] = {};
  int64_t src_strides[kMaxCopyRank] = {};
  int64_t dst_strides[kMaxCopyRank] = {};
};

// I: the type of the linear index (32-bit divisions are several times cheaper than 64-bit).
template <typename U, typename I>
__global__ void strided_copy_kernel(const U* __restrict__ src, U* __restrict__ dst, CopyShape sh,
                                    I total) {
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    I rest = i;
    int64_t so = 0, d_off = 0;
    for (int k = sh.rank - 1; k > 0; --k) {
      const I d = static_cast<I>(sh.dims[k]);
      const auto c = static_cast<int64_t>(rest % d);
      rest /= d;
      so += c * sh.src_strides[k];
      d_off += c * sh.dst_strides[k];
    }
    so += static_cast<int64_t>(rest) * sh.src_strides[0];
    d_off += static_cast<int64_t>(rest) * sh.dst_strides[0];
    dst[d_off] = src[so];
  }
}

// One dim of a copy on the host: its size and its source and destination strides in bytes.
struct CopyAxis {
  int64_t dim;
  int64_t src;
  int64_t dst;
};

template <typename U>
Status launch_copy(const char* op, const void* src, void* dst, const CopyShape& sh, int64_t total,
                   StreamHandle s) {
  const auto* from = static_cast<const U*>(src);
  auto* to = static_cast<U*>(dst);
  if (total <= kMaxInt32) {
    strided_copy_kernel<U, uint32_t>
        <<<blocks_for(total), kThreads, 0, raw(s)>>>(from, to, sh, static_cast<uint32_t>(total));
  } else {
    strided_copy_kernel<U, uint64_t>
        <<<blocks_for(total), kThreads, 0, raw(s)>>>(from, to, sh, static_cast<uint64_t>(total));
  }
  return last_launch_error(op);
}

// The widest unit (16, 8, 4, 2 or 1 bytes) dividing every value and both addresses.
int64_t widest_unit(const std::vector<int64_t>& values, const void* a, const void* b) {
  for (int64_t u = 16; u > 1; u /= 2) {
    bool fits = reinterpret_cast<uintptr_t>(a) % static_cast<uintptr_t>(u) == 0 &&
                reinterpret_cast<uintptr_t>(b) % static_cast<uintptr_t>(u) == 0;
    for (int64_t v : values) fits = fits && std::llabs(v) % u == 0;
    if (fits) return u;
  }
  return 1;
}

// Copies the elements of `axes` (outermost first; strides in bytes, possibly negative for the
// source) of `elem` bytes each from `src` (the address of element 0...0) to `dst`.
Status strided_copy(const char* op, const void* src, void* dst, const std::vector<CopyAxis>& axes,
                    int64_t elem, StreamHandle s) {
  std::vector<CopyAxis> in;
  for (const CopyAxis& a : axes) {
    if (a.dim == 0) return Status::ok_status();
    if (a.dim != 1) in.push_back(a);
  }
  in.push_back({elem, 1, 1});
  // Merge an outer dim into the inner one when both sides step over the inner one exactly.
  std::vector<CopyAxis> merged;
  for (const CopyAxis& a : in) {
    if (!merged.empty() && merged.back().src == a.src * a.dim &&
        merged.back().dst == a.dst * a.dim) {
      merged.back() = {merged.back().dim * a.dim, a.src, a.dst};
    } else {
      merged.push_back(a);
    }
  }
  // The innermost dim has unit strides on both sides (the element bytes are always innermost).
  std::vector<int64_t> must_divide{merged.back().dim};
  for (size_t k = 0; k + 1 < merged.size(); ++k) {
    must_divide.push_back(merged[k].src);
    must_divide.push_back(merged[k].dst);
  }
  const int64_t u = widest_unit(must_divide, src, dst);
  CopyShape sh;
  int64_t total = 1;
  for (size_t k = 0; k < merged.size(); ++k) {
    const bool last = k + 1 == merged.size();
    const int64_t dim = last ? merged[k].dim / u : merged[k].dim;
    if (dim == 1) continue;
    if (sh.rank == kMaxCopyRank) return internal_error(op, ": copy of rank > ", kMaxCopyRank);
    sh.dims[sh.rank] = dim;
    sh.src_strides[sh.rank] = last ? 1 : merged[k].src / u;
    sh.dst_strides[sh.rank] = last ? 1 : merged[k].dst / u;
    ++sh.rank;
    total *= dim;
  }
  if (sh.rank == 0) {
    sh.rank = 1;
    sh.dims[0] = 1;
    sh.src_strides[0] = sh.dst_strides[0] = 1;
  }
  switch (u) {
    case 16:
      return launch_copy<Bytes16>(op, src, dst, sh, total, s);
    case 8:
      return launch_copy<uint64_t>(op, src, dst, sh, total, s);
    case 4:
      return launch_copy<uint32_t>(op, src, dst, sh, total, s);
    case 2:
      return launch_copy<uint16_t>(op, src, dst, sh, total, s);
    default:
      return launch_copy<uint8_t>(op, src, dst, sh, total, s);
  }
}

// --- Gather -------------------------------------------------------------------------------------

// Records in *first_bad the smallest position j whose index lies outside [-n, n).
template <typename Ind>
__global__ void check_indices_kernel(const Ind* __restrict__ idx, int64_t m, int64_t n,
                                     unsigned long long* first_bad) {
  const int64_t step = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t j = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < m; j += step) {
    const auto v = static_cast<int64_t>(idx[j]);
    if (v < -n || v >= n) atomicMin(first_bad, static_cast<unsigned long long>(j));
  }
}

// y viewed as [outer, m, inner] units; data as [outer, n, inner]. Indices are wrapped and then
// clamped to [0, n) (n > 0 here), so a bad index reads a valid row instead of foreign memory.
template <typename U, typename Ind, typename I>
__global__ void gather_kernel(const U* __restrict__ src, const Ind* __restrict__ idx,
                              U* __restrict__ dst, I m, int64_t n, I inner, I total) {
  const I step = static_cast<I>(gridDim.x) * blockDim.x;
  for (I i = static_cast<I>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const I c = i % inner;
    const I t = i / inner;
    const I j = t % m;
    const I o = t / m;
    auto v = static_cast<int64_t>(idx[j]);
    if (v < 0) v += n;
    v = v < 0 ? 0 : (v >= n ? n - 1 : v);
    dst[i] = src[(static_cast<int64_t>(o) * n + v) * static_cast<int64_t>(inner) +
                 static_cast<int64_t>(c)];
  }
}

template <typename U, typename Ind>
Status launch_gather(const void* data, const void* idx, void* y, int64_t m, int64_t n,
                     int64_t inner, int64_t total, StreamHandle s) {
  const auto* src = static_cast<const U*>(data);
  const auto* ix = static_cast<const Ind*>(idx);
  auto* dst = static_cast<U*>(y);
  if (total <= kMaxInt32) {
    gather_kernel<U, Ind, uint32_t><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        src, ix, dst, static_cast<uint32_t>(m), n, static_cast<uint32_t>(inner),
        static_cast<uint32_t>(total));
  } else {
    gather_kernel<U, Ind, uint64_t><<<blocks_for(total), kThreads, 0, raw(s)>>>(
        src, ix, dst, static_cast<uint64_t>(m), n, static_cast<uint64_t>(inner),
        static_cast<uint64_t>(total));
  }
  return last_launch_error("Gather");
}

template <typename Ind>
Status gather_typed(const void* data, const void* idx, void* y, int64_t m, int64_t n,
                    int64_t inner_bytes, int64_t total_bytes, StreamHandle s) {
  const int64_t u = widest_unit({inner_bytes}, data, y);
  const int64_t inner = inner_bytes / u, total = total_bytes / u;
  switch (u) {
    case 16:
      return launch_gather<Bytes16, Ind>(data, idx, y, m, n, inner, total, s);
    case 8:
      return launch_gather<uint64_t, Ind>(data, idx, y, m, n, inner, total, s);
    case 4:
      return launch_gather<uint32_t, Ind>(data, idx, y, m, n, inner, total, s);
    case 2:
      return launch_gather<uint16_t, Ind>(data, idx, y, m, n, inner, total, s);
    default:
      return launch_gather<uint8_t, Ind>(data, idx, y, m, n, inner, total, s);
  }
}

// The first out-of-range position found by check_indices_kernel, or -1. Synchronizes `s`.
template <typename Ind>
Expected<int64_t> first_bad_index(const void* idx, int64_t m, int64_t n, StreamHandle s) {
  void* flag = nullptr;
  MIXQ_RETURN_IF_ERROR(
      cuda_check(cudaMallocAsync(&flag, sizeof(unsigned long long), raw(s)), "Gather"));
  unsigned long long bad = ~0ull;
  const Status st = [&]() -> Status {
    MIXQ_RETURN_IF_ERROR(memset_device(flag, 0xff, sizeof(unsigned long long), s));
    check_indices_kernel<Ind><<<blocks_for(m), kThreads, 0, raw(s)>>>(
        static_cast<const Ind*>(idx), m, n, static_cast<unsigned long long*>(flag));
    MIXQ_RETURN_IF_ERROR(last_launch_error("Gather index check"));
    return copy_to_host(&bad, flag, sizeof(bad), s);
  }();
  const Status freed = cuda_check(cudaFreeAsync(flag, raw(s)), "Gather");
  MIXQ_RETURN_IF_ERROR(st);
  MIXQ_RETURN_IF_ERROR(freed);
  return bad == ~0ull ? int64_t{-1} : static_cast<int64_t>(bad);
}

}  // namespace

Status transpose(const DeviceTensor& x, const std::vector<int64_t>& perm, const DeviceTensor& y,
                 StreamHandle s) {
  constexpr const char* kOp = "Transpose";
  MIXQ_RETURN_IF_ERROR(check_dtype(kOp, x.dtype));
  MIXQ_RETURN_IF_ERROR(check_same_dtype(kOp, x, y));
  MIXQ_RETURN_IF_ERROR(check_rank(kOp, "x", x.dims));
  const size_t rank = x.dims.size();
  if (perm.size() != rank) {
    return bad_input(kOp, ": perm has ", perm.size(), " entries for x of rank ", rank);
  }
  std::vector<bool> seen(rank, false);
  std::vector<int64_t> want(rank);
  for (size_t k = 0; k < rank; ++k) {
    const int64_t p = perm[k];
    if (p < 0 || p >= static_cast<int64_t>(rank) || seen[static_cast<size_t>(p)]) {
      return bad_input(kOp, ": perm ", ir::dims_to_string(perm), " is not a permutation of [0, ",
                       rank, ")");
    }
    seen[static_cast<size_t>(p)] = true;
    want[k] = x.dims[static_cast<size_t>(p)];
  }
  MIXQ_RETURN_IF_ERROR(check_dims(kOp, "y", y.dims, want));
  const int64_t es = element_bytes(x.dtype);
  const std::vector<int64_t> xs = strides_of(x.dims), ys = strides_of(y.dims);
  std::vector<CopyAxis> axes;
  for (size_t k = 0; k < rank; ++k) {
    axes.push_back({y.dims[k], xs[static_cast<size_t>(perm[k])] * es, ys[k] * es});
  }
  return strided_copy(kOp, x.data, y.data, axes, es, s);
}

Status gather(const DeviceTensor& data, const DeviceTensor& indices, int64_t axis,
              const DeviceTensor& y, StreamHandle s) {
  constexpr const char* kOp = "Gather";
  MIXQ_RETURN_IF_ERROR(check_dtype(kOp, data.dtype));
  MIXQ_RETURN_IF_ERROR(check_same_dtype(kOp, data, y));
  MIXQ_RETURN_IF_ERROR(check_rank(kOp, "data", data.dims));
  for (int64_t d : indices.dims) {
    if (d < 0) return bad_input(kOp, ": indices have a negative dim");
  }
  if (indices.dtype != DType::kInt32 && indices.dtype != DType::kInt64) {
    return bad_input(kOp, ": indices are ", dtype_name(indices.dtype), ", expected int32 or int64");
  }
  const auto rank = static_cast<int64_t>(data.dims.size());
  if (rank == 0) return bad_input(kOp, ": data must have rank >= 1");
  if (axis < -rank || axis >= rank) {
    return bad_input(kOp, ": axis ", axis, " is out of range for data of rank ", rank);
  }
  if (axis < 0) axis += rank;
  const auto ax = static_cast<size_t>(axis);
  std::vector<int64_t> want(data.dims.begin(), data.dims.begin() + axis);
  want.insert(want.end(), indices.dims.begin(), indices.dims.end());
  want.insert(want.end(), data.dims.begin() + axis + 1, data.dims.end());
  MIXQ_RETURN_IF_ERROR(check_dims(kOp, "y", y.dims, want));

  const int64_t n = data.dims[ax];
  const int64_t m = indices.numel();
  int64_t outer = 1, inner = 1;
  for (size_t k = 0; k < ax; ++k) outer *= data.dims[k];
  for (size_t k = ax + 1; k < data.dims.size(); ++k) inner *= data.dims[k];
  const bool wide = indices.dtype == DType::kInt64;
  if (m > 0) {
    MIXQ_ASSIGN_OR_RETURN(const int64_t bad, wide
                                                 ? first_bad_index<int64_t>(indices.data, m, n, s)
                                                 : first_bad_index<int32_t>(indices.data, m, n, s));
    if (bad >= 0) {
      int64_t value = 0;
      if (wide) {
        MIXQ_RETURN_IF_ERROR(copy_to_host(&value, static_cast<const int64_t*>(indices.data) + bad,
                                          sizeof(int64_t), s));
      } else {
        int32_t v32 = 0;
        MIXQ_RETURN_IF_ERROR(copy_to_host(&v32, static_cast<const int32_t*>(indices.data) + bad,
                                          sizeof(int32_t), s));
        value = v32;
      }
      return bad_input(kOp, ": index ", value, " at position ", bad, " is out of range for axis ",
                       axis, " of size ", n);
    }
  }
  if (y.numel() == 0) return Status::ok_status();
  const int64_t es = element_bytes(data.dtype);
  const int64_t inner_bytes = inner * es, total_bytes = outer * m * inner_bytes;
  return wide ? gather_typed<int64_t>(data.data, indices.data, y.data, m, n, inner_bytes,
                                      total_bytes, s)
              : gather_typed<int32_t>(data.data, indices.data, y.data, m, n, inner_bytes,
                                      total_bytes, s);
}

Status concat(const std::vector<DeviceTensor>& xs, int64_t axis, const DeviceTensor& y,
              StreamHandle s) {
  constexpr const char* kOp = "Concat";
  if (xs.empty()) return bad_input(kOp, ": no inputs");
  MIXQ_RETURN_IF_ERROR(check_dtype(kOp, y.dtype));
  MIXQ_RETURN_IF_ERROR(check_rank(kOp, "y", y.dims));
  const auto rank = static_cast<int64_t>(y.dims.size());
  if (rank == 0) return bad_input(kOp, ": inputs must have rank >= 1");
  if (axis < -rank || axis >= rank) {
    return bad_input(kOp, ": axis ", axis, " is out of range for rank ", rank);
  }
  if (axis < 0) axis += rank;
  const auto ax = static_cast<size_t>(axis);
  int64_t sum = 0;
  for (size_t i = 0; i < xs.size(); ++i) {
    const DeviceTensor& x = xs[i];
    MIXQ_RETURN_IF_ERROR(check_same_dtype(kOp, x, y));
    std::vector<int64_t> want = y.dims;
    if (x.dims.size() == want.size()) want[ax] = x.dims[ax];
    if (x.dims != want || x.dims[ax] < 0) {
      return bad_input(kOp, ": input ", i, " has shape ", ir::dims_to_string(x.dims),
                       ", which does not fit y ", ir::dims_to_string(y.dims), " on axis ", axis);
    }
    sum += x.dims[ax];
  }
  if (sum != y.dims[ax]) {
    return bad_input(kOp, ": the inputs add up to ", sum, " on axis ", axis, ", y has ",
                     y.dims[ax]);
  }
  const int64_t es = element_bytes(y.dtype);
  const std::vector<int64_t> ys = strides_of(y.dims);
  int64_t offset = 0;  // y elements before this input's block in each outer row
  for (const DeviceTensor& x : xs) {
    const std::vector<int64_t> st = strides_of(x.dims);
    std::vector<CopyAxis> axes;
    for (size_t k = 0; k < x.dims.size(); ++k) axes.push_back({x.dims[k], st[k] * es, ys[k] * es});
    void* dst = static_cast<char*>(y.data) + offset * es;
    MIXQ_RETURN_IF_ERROR(strided_copy(kOp, x.data, dst, axes, es, s));
    offset += x.dims[ax] * ys[ax];
  }
  return Status::ok_status();
}

Status slice(const DeviceTensor& x, const std::vector<int64_t>& starts,
             const std::vector<int64_t>& steps, const DeviceTensor& y, StreamHandle s) {
  constexpr const char* kOp = "Slice";
  MIXQ_RETURN_IF_ERROR(check_dtype(kOp, x.dtype));
  MIXQ_RETURN_IF_ERROR(check_same_dtype(kOp, x, y));
  MIXQ_RETURN_IF_ERROR(check_rank(kOp, "x", x.dims));
  MIXQ_RETURN_IF_ERROR(check_rank(kOp, "y", y.dims));
  const size_t rank = x.dims.size();
  if (starts.size() != rank || steps.size() != rank || y.dims.size() != rank) {
    return bad_input(kOp, ": x has rank ", rank, " but starts, steps and y have ", starts.size(),
                     ", ", steps.size(), " and ", y.dims.size(), " entries");
  }
  if (y.numel() == 0) return Status::ok_status();
  const int64_t es = element_bytes(x.dtype);
  const std::vector<int64_t> xs = strides_of(x.dims), ys = strides_of(y.dims);
  std::vector<CopyAxis> axes;
  int64_t offset = 0;
  for (size_t k = 0; k < rank; ++k) {
    const int64_t start = starts[k], step = steps[k], dim = x.dims[k], count = y.dims[k];
    // In 64 bits without overflow: count <= dim here unless the slice is already out of range.
    const bool fits =
        step != 0 && start >= 0 && start < dim &&
        (step > 0 ? (dim - 1 - start) / step >= count - 1 : start / (-step) >= count - 1);
    if (!fits) {
      return bad_input(kOp, ": dim ", k, " of size ", dim, ": start ", start, ", step ", step,
                       " and ", count, " elements reach outside x");
    }
    offset += start * xs[k];
    // A single element's step is never taken (and may be huge): leave it out of the product.
    axes.push_back({count, count > 1 ? step * xs[k] * es : 0, ys[k] * es});
  }
  return strided_copy(kOp, static_cast<const char*>(x.data) + offset * es, y.data, axes, es, s);
}

}  // namespace mixq::gpu
