// ONNX Softmax, LogSoftmax, Hardmax (-1/11/13). Before opset 13 the input is coerced to 2-D at
// `axis` (default 1): each row [prod(dims[axis:])] is normalized as one. From 13 the op works
// along the single axis `axis` (default -1). Softmax: exp(x - max) / sum; LogSoftmax:
// x - max - log(sum(exp(x - max))); Hardmax: 1 at the first maximum, 0 elsewhere.
// float16/bfloat16 are computed in float32; exp runs vectorized through Eigen arrays.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"
#include "kernels/math/vectorized.h"

namespace mixq::exec {
namespace {

enum class Mode { kSoftmax, kLogSoftmax, kHardmax };

template <typename C>
using Vec = Eigen::Array<C, Eigen::Dynamic, 1>;
template <typename C>
using ConstMap = Eigen::Map<const Vec<C>>;
template <typename C>
using MutMap = Eigen::Map<Vec<C>>;

// One contiguous row of `n` elements (the axis is innermost).
template <typename C>
void normalize_row(const C* x, C* y, int64_t n, Mode mode) {
  ConstMap<C> xa(x, n);
  MutMap<C> ya(y, n);
  if (mode == Mode::kHardmax) {
    int64_t best = 0;
    for (int64_t j = 1; j < n; ++j) {
      if (x[j] > x[best]) best = j;
    }
    ya.setZero();
    y[best] = C(1);
    return;
  }
  const C mx = xa.maxCoeff();
  ya = (xa - mx).exp();
  flush_exp_underflow(y, n, [x, mx](int64_t j) { return x[j] - mx; });
  const C sum = ya.sum();
  if (mode == Mode::kSoftmax) {
    ya /= sum;
  } else {
    // (x - max) first: it is exact near the maximum, where large inputs need the precision.
    ya = (xa - mx) - std::log(sum);
  }
}

// Columns [0, w) of a [n, stride] panel: the axis has stride `stride` and each column is one
// normalization; rows of the panel are contiguous, so every step is a vector operation.
template <typename C>
void normalize_columns(const C* x, C* y, int64_t n, int64_t stride, int64_t w, Mode mode) {
  Vec<C> mx = ConstMap<C>(x, w);
  if (mode == Mode::kHardmax) {
    std::vector<int64_t> best(static_cast<size_t>(w), 0);
    for (int64_t j = 1; j < n; ++j) {
      const C* row = x + j * stride;
      for (int64_t c = 0; c < w; ++c) {
        if (row[c] > mx[c]) {
          mx[c] = row[c];
          best[static_cast<size_t>(c)] = j;
        }
      }
    }
    for (int64_t j = 0; j < n; ++j) MutMap<C>(y + j * stride, w).setZero();
    for (int64_t c = 0; c < w; ++c) y[best[static_cast<size_t>(c)] * stride + c] = C(1);
    return;
  }
  for (int64_t j = 1; j < n; ++j) mx = mx.max(ConstMap<C>(x + j * stride, w));
  Vec<C> sum = Vec<C>::Zero(w);
  for (int64_t j = 0; j < n; ++j) {
    MutMap<C> yr(y + j * stride, w);
    yr = (ConstMap<C>(x + j * stride, w) - mx).exp();
    const C* xr = x + j * stride;
    const C* pm = mx.data();
    flush_exp_underflow(yr.data(), w, [xr, pm](int64_t c) { return xr[c] - pm[c]; });
    sum += yr;
  }
  if (mode == Mode::kSoftmax) {
    for (int64_t j = 0; j < n; ++j) MutMap<C>(y + j * stride, w) /= sum;
  } else {
    const Vec<C> log_sum = sum.log();
    for (int64_t j = 0; j < n; ++j) {
      MutMap<C>(y + j * stride, w) = (ConstMap<C>(x + j * stride, w) - mx) - log_sum;
    }
  }
}

template <typename C>
void normalize_all(ThreadPool& pool, const C* x, C* y, const AxisView& v, Mode mode) {
  // Work items: (outer index, block of up to kCols columns); a row when the axis is innermost.
  constexpr int64_t kCols = 256;
  const int64_t blocks = (v.inner + kCols - 1) / kCols;
  const int64_t items = v.outer * blocks;
  const int64_t per_item = v.len * std::min(v.inner, kCols);
  pool.parallel_for(items, ThreadPool::grain_for(items, std::max<int64_t>(1, 16384 / per_item)),
                    [&](int64_t b, int64_t e) {
                      for (int64_t it = b; it < e; ++it) {
                        const int64_t o = it / blocks;
                        const int64_t c0 = (it % blocks) * kCols;
                        const int64_t base = o * v.len * v.inner + c0;
                        if (v.inner == 1) {
                          normalize_row(x + base, y + base, v.len, mode);
                        } else {
                          normalize_columns(x + base, y + base, v.len, v.inner,
                                            std::min(kCols, v.inner - c0), mode);
                        }
                      }
                    });
}

template <Mode mode>
Status softmax_family(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const bool legacy = ctx.opset() < 13;
  const auto rank = static_cast<int64_t>(x.rank());
  MIXQ_ASSIGN_OR_RETURN(int64_t axis_attr, ctx.node().attr_int("axis", legacy ? 1 : -1));
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, axis_attr, rank));
  const AxisView v = axis_view(x.dims(), axis, /*flatten_tail=*/legacy);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  if (x.numel() == 0) return Status::ok_status();
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    using C = Compute<S>;
    if constexpr (!is_float_storage<S>()) {
      return ctx.fail(dtype_name(x.dtype()), " input is not supported");
    } else if constexpr (std::is_same_v<S, C>) {
      normalize_all<C>(ctx.pool(), x.data<C>(), y->mutable_data<C>(), v, mode);
      return Status::ok_status();
    } else {
      // float16/bfloat16: widen once, normalize in float32, round once.
      std::vector<C> xf(static_cast<size_t>(x.numel())), yf(xf.size());
      const S* px = x.data<S>();
      for (size_t i = 0; i < xf.size(); ++i) xf[i] = load(px[i]);
      normalize_all<C>(ctx.pool(), xf.data(), yf.data(), v, mode);
      S* py = y->mutable_data<S>();
      for (size_t i = 0; i < yf.size(); ++i) py[i] = store<S>(yf[i]);
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_softmax_kernels(std::vector<KernelDef>& out) {
  using types::kFloats;
  out.push_back({"", "Softmax", 1, 21, kFloats, 0, softmax_family<Mode::kSoftmax>});
  out.push_back({"", "LogSoftmax", 1, 21, kFloats, 0, softmax_family<Mode::kLogSoftmax>});
  out.push_back({"", "Hardmax", 1, 21, kFloats, 0, softmax_family<Mode::kHardmax>});
}

}  // namespace mixq::exec
