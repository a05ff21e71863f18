// Shared building blocks for CPU kernels: storage types per dtype, float16/bfloat16 computed in
// float32, dtype dispatch, and multidirectional broadcasting. Internal to lib/exec.
#pragma once

#include <cstdint>
#include <cstring>
#include <type_traits>
#include <vector>

#include "mixq/core/float_bits.h"
#include "mixq/exec/kernel.h"

namespace mixq::exec {

// 16-bit float storage types, distinct from uint16_t so dispatch can tell them apart.
struct Float16 {
  uint16_t bits;
};
struct BFloat16 {
  uint16_t bits;
};

// The arithmetic type a storage type is computed in: float for float16/bfloat16/float32,
// double for float64, the type itself for integers and bool.
template <typename S>
struct ComputeOf {
  using type = S;
};
template <>
struct ComputeOf<Float16> {
  using type = float;
};
template <>
struct ComputeOf<BFloat16> {
  using type = float;
};
template <typename S>
using Compute = typename ComputeOf<S>::type;

template <typename S>
inline Compute<S> load(const S& v) {
  if constexpr (std::is_same_v<S, Float16>) {
    return float16_to_float(v.bits);
  } else if constexpr (std::is_same_v<S, BFloat16>) {
    return bfloat16_to_float(v.bits);
  } else {
    return v;
  }
}

template <typename S>
inline S store(Compute<S> v) {
  if constexpr (std::is_same_v<S, Float16>) {
    return Float16{float_to_float16(v)};
  } else if constexpr (std::is_same_v<S, BFloat16>) {
    return BFloat16{float_to_bfloat16(v)};
  } else {
    return static_cast<S>(v);
  }
}

template <typename S>
constexpr bool is_float_storage() {
  return std::is_same_v<S, float> || std::is_same_v<S, double> || std::is_same_v<S, Float16> ||
         std::is_same_v<S, BFloat16>;
}

// Calls fn(S{}) with S the storage type of `t` (one of float, double, Float16, BFloat16,
// int8_t..int64_t, uint8_t..uint64_t, bool) and returns its Status; other dtypes (strings,
// 4-bit, FP8, complex) give an internal error: kernels that take them read bytes directly.
template <typename Fn>
Status visit_dtype(DType t, Fn&& fn) {
  switch (t) {
    case DType::kFloat32:
      return fn(float{});
    case DType::kFloat64:
      return fn(double{});
    case DType::kFloat16:
      return fn(Float16{});
    case DType::kBFloat16:
      return fn(BFloat16{});
    case DType::kInt8:
      return fn(int8_t{});
    case DType::kInt16:
      return fn(int16_t{});
    case DType::kInt32:
      return fn(int32_t{});
    case DType::kInt64:
      return fn(int64_t{});
    case DType::kUint8:
      return fn(uint8_t{});
    case DType::kUint16:
      return fn(uint16_t{});
    case DType::kUint32:
      return fn(uint32_t{});
    case DType::kUint64:
      return fn(uint64_t{});
    case DType::kBool:
      return fn(bool{});
    default:
      return internal_error("no storage type for ", dtype_name(t));
  }
}

// Calls fn(S{}) with S the floating storage type of `t` (float, double, Float16, BFloat16) and
// returns what it returns; any other dtype returns otherwise().
template <typename Fn, typename Otherwise>
decltype(auto) visit_float_dtype(DType t, Fn&& fn, Otherwise&& otherwise) {
  switch (t) {
    case DType::kFloat32:
      return fn(float{});
    case DType::kFloat64:
      return fn(double{});
    case DType::kFloat16:
      return fn(Float16{});
    case DType::kBFloat16:
      return fn(BFloat16{});
    default:
      return otherwise();
  }
}

// Bytes per element for byte-copying kernels (Transpose, Gather, Concat, ...); 0 for strings
// and the packed 4-bit types, which need their own path.
inline size_t element_size(DType t) {
  const int bits = dtype_bits(t);
  return bits >= 8 ? static_cast<size_t>(bits / 8) : 0;
}

// Row-major strides of `dims` (in elements).
std::vector<int64_t> strides_of(const std::vector<int64_t>& dims);

// Multidirectional broadcasting of N inputs to one output, with runs of adjacent dims merged:
// the innermost merged dim of length `inner` is walked with a per-input step of 0 (broadcast)
// or 1 (contiguous), everything outside it by an odometer.
class Broadcast {
 public:
  // Fails (bad input, naming the node through ctx) when the shapes do not broadcast.
  static Expected<Broadcast> make(const KernelContext& ctx,
                                  const std::vector<std::vector<int64_t>>& input_dims);

  const std::vector<int64_t>& out_dims() const { return out_dims_; }
  int64_t out_numel() const { return out_numel_; }
  size_t num_inputs() const { return steps_.size(); }

  // Calls fn(out_offset, in_offsets, inner_steps, length) over contiguous pieces of the output,
  // in parallel, with chunks that depend only on the shapes. in_offsets[k] is input k's element
  // offset for the first element of the piece; inner_steps[k] is 0 or 1.
  template <typename Fn>
  void for_each(ThreadPool& pool, Fn&& fn) const;

 private:
  // Offsets of every input for output piece `row` (outer odometer position).
  void offsets_for_row(int64_t row, int64_t* offs) const;

  std::vector<int64_t> out_dims_;
  int64_t out_numel_ = 0;
  // Merged view: outer dims (odometer) and per-input strides over them, and the inner run.
  std::vector<int64_t> outer_dims_;
  std::vector<std::vector<int64_t>> outer_strides_;  // [input][outer dim]
  std::vector<int64_t> steps_;                       // per input: 0 or 1 within the inner run
  int64_t inner_ = 1;
  int64_t outer_count_ = 1;
};

template <typename Fn>
void Broadcast::for_each(ThreadPool& pool, Fn&& fn) const {
  if (out_numel_ == 0) return;
  // Split long inner runs so that one big row still spreads over threads.
  constexpr int64_t kPiece = 16384;
  const int64_t pieces_per_row = (inner_ + kPiece - 1) / kPiece;
  const int64_t total = outer_count_ * pieces_per_row;
  const size_t n = steps_.size();
  const int64_t grain =
      ThreadPool::grain_for(total, std::max<int64_t>(1, 4096 / std::min(inner_, kPiece)));
  auto body = [&](int64_t begin, int64_t end) {
    std::vector<int64_t> offs(n), piece(n);
    for (int64_t p = begin; p < end; ++p) {
      const int64_t row = p / pieces_per_row;
      const int64_t part = p % pieces_per_row;
      offsets_for_row(row, offs.data());
      const int64_t start = part * kPiece;
      const int64_t len = std::min(kPiece, inner_ - start);
      for (size_t k = 0; k < n; ++k) piece[k] = offs[k] + start * steps_[k];
      fn(row * inner_ + start, piece.data(), steps_.data(), len);
    }
  };
  // Small outputs (a bias add over 128 tokens) finish in microseconds: handing chunks to other
  // threads cost more than it saved (measured on the GPT benchmark). Same chunks, in order.
  constexpr int64_t kSerialElements = int64_t{1} << 17;
  if (out_numel_ <= kSerialElements) {
    for (int64_t b = 0; b < total; b += grain) body(b, std::min(total, b + grain));
  } else {
    pool.parallel_for(total, grain, body);
  }
}

// Elementwise map over one input of storage type S into an output of storage type D, computed
// in Compute<S>: out[i] = store<D>(f(load(in[i]))). Parallel, thread-count independent.
template <typename S, typename D, typename F>
void map_elements(ThreadPool& pool, const ir::Tensor& in, ir::Tensor& out, F&& f) {
  const S* x = in.data<S>();
  D* y = out.mutable_data<D>();
  const int64_t n = in.numel();
  pool.parallel_for(n, ThreadPool::grain_for(n, 16384), [&](int64_t b, int64_t e) {
    // A local copy: through the reference, the functor's parameters would be re-read from
    // memory on every element (the output pointer may alias them).
    const auto fn = f;
    for (int64_t i = b; i < e; ++i) y[i] = store<D>(fn(load(x[i])));
  });
}

}  // namespace mixq::exec
