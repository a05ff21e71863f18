// ONNX LpNormalization-1: y = x / ||x||_p along `axis` (default -1), p = 1 or 2 (default 2).
// Norms are accumulated in double after scaling by the largest magnitude, so no finite input
// overflows; an all-zero vector gives zeros (as ONNX Runtime does) instead of 0/0 = NaN.
#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

template <typename S>
void normalize(ThreadPool& pool, const S* x, S* y, const AxisView& v, int64_t p) {
  using C = Compute<S>;
  const int64_t vectors = v.outer * v.inner;
  pool.parallel_for(vectors, ThreadPool::grain_for(vectors, std::max<int64_t>(1, 4096 / v.len)),
                    [&](int64_t b, int64_t e) {
                      for (int64_t k = b; k < e; ++k) {
                        const int64_t base = (k / v.inner) * v.len * v.inner + k % v.inner;
                        double scale = 0;
                        bool nan = false;
                        for (int64_t j = 0; j < v.len; ++j) {
                          const double a =
                              std::fabs(static_cast<double>(load(x[base + j * v.inner])));
                          nan |= std::isnan(a);
                          scale = std::max(scale, a);
                        }
                        if (scale == 0 && !nan) {
                          for (int64_t j = 0; j < v.len; ++j)
                            y[base + j * v.inner] = store<S>(C(0));
                          continue;
                        }
                        // Infinite or NaN entries: the plain formula (inf/inf = NaN, NaN spreads).
                        const bool finite = !nan && std::isfinite(scale);
                        const double s = finite ? scale : 1.0;
                        double acc = 0;
                        for (int64_t j = 0; j < v.len; ++j) {
                          const double a = static_cast<double>(load(x[base + j * v.inner])) / s;
                          acc += p == 1 ? std::fabs(a) : a * a;
                        }
                        const double norm = (p == 1 ? acc : std::sqrt(acc)) * s;
                        for (int64_t j = 0; j < v.len; ++j) {
                          const int64_t i = base + j * v.inner;
                          y[i] = store<S>(static_cast<C>(static_cast<double>(load(x[i])) / norm));
                        }
                      }
                    });
}

Status lp_normalization(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  MIXQ_ASSIGN_OR_RETURN(int64_t p, ctx.node().attr_int("p", 2));
  if (p != 1 && p != 2) return ctx.fail("attribute p is ", p, ", expected 1 or 2");
  MIXQ_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node().attr_int("axis", -1));
  MIXQ_ASSIGN_OR_RETURN(int64_t axis,
                        normalize_axis(ctx, axis_attr, static_cast<int64_t>(x.rank())));
  const AxisView v = axis_view(x.dims(), axis);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  if (x.numel() == 0) return Status::ok_status();
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (is_float_storage<S>()) {
      normalize<S>(ctx.pool(), x.data<S>(), y->mutable_data<S>(), v, p);
      return Status::ok_status();
    } else {
      return ctx.fail(dtype_name(x.dtype()), " input is not supported");
    }
  });
}

}  // namespace

void register_lp_normalization_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "LpNormalization", 1, 21, types::kFloats, 0, lp_normalization});
}

}  // namespace mixq::exec
