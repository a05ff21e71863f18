// ONNX CumSum-11/14: running sums of x along the axis given by the scalar `axis` input (int32 or
// int64, negative counts from the back). exclusive = 1 leaves out the current element (the
// first sum is 0); reverse = 1 sums from the end. float32 accumulates in double, float16/
// bfloat16 in float32, integers wrap in their own type.
#include <algorithm>

#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

template <typename C>
struct AccOf {
  using type = C;
};
template <>
struct AccOf<float> {
  using type = double;
};

// Adds x to the running sum `a` and returns the value to store (the old sum when exclusive).
template <typename A>
inline A step(A& a, A x, bool exclusive) {
  A next;
  if constexpr (std::is_integral_v<A>) {
    next = wrap_add(a, x);
  } else {
    next = a + x;
  }
  const A out = exclusive ? a : next;
  a = next;
  return out;
}

template <typename S>
void cumsum_typed(ThreadPool& pool, const S* x, S* y, const AxisView& v, bool exclusive,
                  bool reverse) {
  using A = typename AccOf<Compute<S>>::type;
  using C = Compute<S>;
  if (v.inner == 1) {
    // The axis is innermost: one contiguous row per item.
    pool.parallel_for(
        v.outer, ThreadPool::grain_for(v.outer, std::max<int64_t>(1, 16384 / v.len)),
        [&](int64_t b, int64_t e) {
          for (int64_t o = b; o < e; ++o) {
            const S* xr = x + o * v.len;
            S* yr = y + o * v.len;
            A a = A(0);
            for (int64_t k = 0; k < v.len; ++k) {
              const int64_t j = reverse ? v.len - 1 - k : k;
              yr[j] = store<S>(static_cast<C>(step(a, static_cast<A>(load(xr[j])), exclusive)));
            }
          }
        });
    return;
  }
  // Work items: (outer index, block of columns); each item runs its columns in lockstep, so
  // the inner loop walks contiguous memory.
  constexpr int64_t kCols = 1024;
  const int64_t blocks = (v.inner + kCols - 1) / kCols;
  const int64_t items = v.outer * blocks;
  const int64_t per_item = v.len * std::min(v.inner, kCols);
  pool.parallel_for(
      items, ThreadPool::grain_for(items, std::max<int64_t>(1, 16384 / per_item)),
      [&](int64_t b, int64_t e) {
        std::vector<A> acc;
        for (int64_t it = b; it < e; ++it) {
          const int64_t o = it / blocks;
          const int64_t c0 = (it % blocks) * kCols;
          const int64_t w = std::min(kCols, v.inner - c0);
          acc.assign(static_cast<size_t>(w), A(0));
          const int64_t base = o * v.len * v.inner + c0;
          for (int64_t k = 0; k < v.len; ++k) {
            const int64_t j = reverse ? v.len - 1 - k : k;
            const S* xr = x + base + j * v.inner;
            S* yr = y + base + j * v.inner;
            for (int64_t c = 0; c < w; ++c) {
              yr[c] = store<S>(static_cast<C>(
                  step(acc[static_cast<size_t>(c)], static_cast<A>(load(xr[c])), exclusive)));
            }
          }
        }
      });
}

Status cumsum(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const ir::Tensor& axis_t = ctx.input(1);
  if (axis_t.dtype() != DType::kInt32 && axis_t.dtype() != DType::kInt64) {
    return ctx.fail("axis must be int32 or int64, got ", dtype_name(axis_t.dtype()));
  }
  if (axis_t.numel() != 1) {
    return ctx.fail("axis must be a scalar, got shape ", ir::dims_to_string(axis_t.dims()));
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t exclusive, ctx.node().attr_int("exclusive", 0));
  MIXQ_ASSIGN_OR_RETURN(int64_t reverse, ctx.node().attr_int("reverse", 0));
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, axis_t.element_as_int64(0),
                                                     static_cast<int64_t>(x.rank())));
  const AxisView v = axis_view(x.dims(), axis);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  if (x.numel() == 0) return Status::ok_status();
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool input is not supported");
    } else {
      cumsum_typed<S>(ctx.pool(), x.data<S>(), y->mutable_data<S>(), v, exclusive != 0,
                      reverse != 0);
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_cumsum_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "CumSum", 11, 21, types::kNumeric, 0, cumsum});
}

}  // namespace mixq::exec
