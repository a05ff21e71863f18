// Building blocks shared by the math kernel files: the broadcasting binary map (with the
// opset < 7 `broadcast`/`axis` rule), axis normalization, and outer/axis/inner views of a tensor
// for kernels that work along one axis. Internal to lib/exec/kernels/math.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "kernels/common.h"

namespace mixq::exec {

// B's dims placed inside A's under the opset < 7 `broadcast`/`axis` attributes (Add, Pow, And,
// Equal, ... before opset 7). With broadcast = 0 the shapes must be equal; with broadcast = 1 B
// must fit inside A at `axis` (default: B is a suffix of A).
Expected<std::vector<int64_t>> legacy_b_dims(const KernelContext& ctx);

// The broadcast of inputs 0 and 1: numpy rules, or the legacy rule when `legacy` (ops that had
// the `broadcast` attribute, at opsets before 7), which never grows A.
Expected<Broadcast> binary_broadcast(const KernelContext& ctx, bool legacy);

// out[o] = f(load(a[i]), load(b[j])) over the broadcast, `f` returning the output's storage
// value. The four step patterns are separate loops so the contiguous ones vectorize.
template <typename SA, typename SB, typename D, typename F>
void binary_map(ThreadPool& pool, const Broadcast& bc, const SA* a, const SB* b, D* out, F f) {
  bc.for_each(pool, [&](int64_t o, const int64_t* in, const int64_t* step, int64_t n) {
    const F g = f;  // a local copy: see map_values
    const SA* pa = a + in[0];
    const SB* pb = b + in[1];
    D* po = out + o;
    if (step[0] == 1 && step[1] == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = g(load(pa[i]), load(pb[i]));
    } else if (step[0] == 1) {
      const auto vb = load(pb[0]);
      for (int64_t i = 0; i < n; ++i) po[i] = g(load(pa[i]), vb);
    } else if (step[1] == 1) {
      const auto va = load(pa[0]);
      for (int64_t i = 0; i < n; ++i) po[i] = g(va, load(pb[i]));
    } else {
      const D v = g(load(pa[0]), load(pb[0]));
      for (int64_t i = 0; i < n; ++i) po[i] = v;
    }
  });
}

// String attribute `name` as a view into the node, `fallback` when absent; refuses other kinds.
// (Comparing the std::string that Node::attr_string returns trips GCC 12's
// -Wmaybe-uninitialized false positive under -O3.)
Expected<std::string_view> string_attr(const KernelContext& ctx, std::string_view name,
                                       std::string_view fallback);

// out[i] = store<D>(f(load(in[i]))) in parallel, like map_elements, but with `f` copied into
// each chunk: the functor's parameters (alpha, bounds, ...) then stay in registers, where a
// reference to them would make every store to `out` a possible write to them, forcing a reload
// per element and keeping the loop from vectorizing.
template <typename S, typename D, typename F>
void map_values(ThreadPool& pool, const ir::Tensor& in, ir::Tensor& out, const F& f) {
  const S* x = in.data<S>();
  D* y = out.mutable_data<D>();
  const int64_t n = in.numel();
  pool.parallel_for(n, ThreadPool::grain_for(n, 16384), [x, y, f](int64_t b, int64_t e) {
    const F g = f;
    for (int64_t i = b; i < e; ++i) y[i] = store<D>(g(load(x[i])));
  });
}

// `axis` in [-rank, rank) mapped to [0, rank); a bad-input Status naming the node otherwise.
Expected<int64_t> normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank);

// A tensor seen as [outer, len, inner] around one axis (inner is the stride of the axis).
struct AxisView {
  int64_t outer = 1;
  int64_t len = 1;
  int64_t inner = 1;
};
// The view around dims[axis]; with `flatten_tail`, everything from `axis` on is the axis (the
// opset < 13 Softmax family coerces its input to 2-D this way).
AxisView axis_view(const std::vector<int64_t>& dims, int64_t axis, bool flatten_tail = false);

// Wrapping integer arithmetic: the result modulo 2^bits, as ONNX Runtime and numpy give, where
// plain signed C++ arithmetic would overflow (undefined behaviour).
template <typename T>
inline T wrap_add(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}
template <typename T>
inline T wrap_sub(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) - static_cast<uint64_t>(b));
}
template <typename T>
inline T wrap_mul(T a, T b) {
  return static_cast<T>(static_cast<uint64_t>(a) * static_cast<uint64_t>(b));
}
template <typename T>
inline T wrap_neg(T a) {
  return static_cast<T>(uint64_t{0} - static_cast<uint64_t>(a));
}

}  // namespace mixq::exec
