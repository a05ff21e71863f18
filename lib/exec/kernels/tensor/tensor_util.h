// Building blocks shared by the tensor (data-movement) kernels: copying elements by their size
// whatever the dtype, strided copies, axis and index helpers, and running a kernel on string
// tensors through int64 codes. Internal to lib/exec/kernels.
#pragma once

#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/common.h"

namespace mixq::exec {

// A 16-byte element (complex128) for copies by element size.
struct Bytes16 {
  uint64_t lo, hi;
};

// Calls fn(T{}) with T an unsigned integer (or Bytes16) as wide as one element of `size` bytes
// (1, 2, 4, 8 or 16; the caller checked it with check_copyable).
template <typename Fn>
void visit_size(size_t size, Fn&& fn) {
  switch (size) {
    case 1:
      fn(uint8_t{});
      break;
    case 2:
      fn(uint16_t{});
      break;
    case 4:
      fn(uint32_t{});
      break;
    case 8:
      fn(uint64_t{});
      break;
    default:
      fn(Bytes16{});
      break;
  }
}

// Walks the multi-index of `dims` in row-major order, keeping the element offset under `strides`.
class Odometer {
 public:
  Odometer(const int64_t* dims, const int64_t* strides, size_t rank)
      : dims_(dims), strides_(strides), idx_(rank, 0) {}
  void seek(int64_t linear) {
    offset_ = 0;
    for (size_t k = idx_.size(); k-- > 0;) {
      idx_[k] = linear % dims_[k];
      linear /= dims_[k];
      offset_ += idx_[k] * strides_[k];
    }
  }
  void next() {
    for (size_t k = idx_.size(); k-- > 0;) {
      offset_ += strides_[k];
      if (++idx_[k] < dims_[k]) return;
      offset_ -= strides_[k] * dims_[k];
      idx_[k] = 0;
    }
  }
  int64_t offset() const { return offset_; }

 private:
  const int64_t* dims_;
  const int64_t* strides_;
  std::vector<int64_t> idx_;
  int64_t offset_ = 0;
};

// Ok when kernels can move elements of `t` by element size: every dtype but strings (handled by
// with_string_codes) and the packed 4-bit types (refused as not supported).
Status check_copyable(const KernelContext& ctx, DType t);

// Maps `axis` into [0, rank); a bad-input error naming the node when it is out of range.
Expected<int64_t> normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank,
                                 const char* what = "axis");

// The values of a small integer tensor (axes, shapes, starts, ...) as int64.
std::vector<int64_t> read_ints(const ir::Tensor& t);

// The dims the shape function inferred for output i; an internal error when it could not.
Expected<std::vector<int64_t>> inferred_dims(const KernelContext& ctx, size_t i);

// Copies the strided view of `src` with `dims` and per-dim element strides `strides` (0 for a
// broadcast dim, negative for reversed ones) into the contiguous `dst`, in parallel. `src` points
// at the element of index (0, ..., 0). Adjacent dims that form one stride are merged; contiguous
// inner runs are memcpy'd.
void strided_copy(ThreadPool& pool, size_t elem_size, const std::byte* src,
                  std::vector<int64_t> dims, std::vector<int64_t> strides, std::byte* dst);

// Copies `rows` blocks of `row_elems` elements from src (rows `src_stride` elements apart) to dst
// (rows `dst_stride` elements apart), in parallel (Concat, Split).
void copy_rows(ThreadPool& pool, size_t elem_size, int64_t rows, int64_t row_elems,
               const std::byte* src, int64_t src_stride, std::byte* dst, int64_t dst_stride);

// Runs kernel `fn` on string tensors: every string input becomes an int64 tensor of codes and
// every output the shape function typed as string is computed as codes and turned back into
// strings. Codes are positions into the concatenation of all string inputs (data movement), or,
// with `by_rank`, the rank of the string among the sorted distinct strings of the inputs, so that
// codes compare and test equal as the strings do (Unique).
Status with_string_codes(KernelContext& ctx, KernelFn fn, bool by_rank = false);

// Copies `count` elements; memcpy for long runs, a plain loop for short ones.
template <typename T>
inline void copy_run(T* to, const T* from, int64_t count) {
  if (count * static_cast<int64_t>(sizeof(T)) >= 64) {
    std::memcpy(to, from, static_cast<size_t>(count) * sizeof(T));
  } else {
    for (int64_t i = 0; i < count; ++i) to[i] = from[i];
  }
}

// Reads index `idx` of a dim of size n (negative counts from the back); false when out of range.
inline bool fix_index(int64_t& idx, int64_t n) {
  if (idx < 0) idx += n;
  return idx >= 0 && idx < n;
}

// Ok when every one of the m indices is in [-n, n) (a bad-input error naming the first that is
// not, and the axis it indexes).
Status check_indices(const KernelContext& ctx, const int64_t* idx, int64_t m, int64_t n,
                     int64_t axis);

// The values of an index tensor (int32 or int64) as int64: the tensor's own data when it is
// int64, else converted into `storage`.
const int64_t* indices_as_int64(const ir::Tensor& t, std::vector<int64_t>& storage);

}  // namespace mixq::exec
