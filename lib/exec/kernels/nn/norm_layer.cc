// Normalizations over groups of axes.
// ONNX LayerNormalization-17: for each index over the axes before `axis`, normalize the values
//   of the axes from `axis` on: Y = (X - mean) * inv_std_dev * Scale + B, inv_std_dev =
//   1 / sqrt(var + epsilon); Scale and B broadcast (numpy-style, right-aligned) to the
//   normalized shape. Optional outputs Mean and InvStdDev (type stash_type, X's dims before
//   `axis` then 1s).
// ONNX GroupNormalization-18/21: X [N, C, D...] split into num_groups groups of C / num_groups
//   channels; each (n, group) is normalized over its channels and positions; scale and bias
//   have one value per group (18) or per channel (21).
// ONNX LRN-1/13: Y = X / (bias + alpha / size * sum of X^2 over the channels
//   [c - floor((size - 1) / 2), c + ceil((size - 1) / 2)]) ^ beta.
// ONNX MeanVarianceNormalization-9/13: Y = (X - mean) / (sqrt(var) + 1e-9) over `axes`
//   (default [0, 2, 3]), as in the function body of the spec.
// Statistics are computed in float64 within one chunk each; float16/bfloat16 in float32.
#include <algorithm>
#include <cmath>

#include "kernels/nn/nn_kernels.h"
#include "kernels/nn/nn_util.h"

namespace mixq::exec {
namespace {

// `t` broadcast (right-aligned, numpy rules) to `shape`, as a flat vector in compute type T.
template <typename T>
Expected<std::vector<T>> broadcast_to(const KernelContext& ctx, ThreadPool& pool,
                                      const ir::Tensor& t, const std::vector<int64_t>& shape,
                                      const char* what) {
  const auto& td = t.dims();
  if (td.size() > shape.size()) {
    return ctx.fail(what, " has shape ", ir::dims_to_string(td), ", not broadcastable to ",
                    ir::dims_to_string(shape));
  }
  const size_t lead = shape.size() - td.size();
  for (size_t i = 0; i < td.size(); ++i) {
    if (td[i] != 1 && td[i] != shape[lead + i]) {
      return ctx.fail(what, " has shape ", ir::dims_to_string(td), ", not broadcastable to ",
                      ir::dims_to_string(shape));
    }
  }
  std::vector<T> scratch;
  const T* src = nn::compute_view<T>(pool, t, scratch);
  const int64_t total = nn::product(shape, 0, shape.size());
  std::vector<T> out(static_cast<size_t>(total));
  const std::vector<int64_t> ts = strides_of(td);
  for (int64_t i = 0; i < total; ++i) {
    int64_t rem = i, off = 0;
    for (size_t d = shape.size(); d-- > 0;) {
      const int64_t c = rem % shape[d];
      rem /= shape[d];
      if (d >= lead && td[d - lead] != 1) off += c * ts[d - lead];
    }
    out[static_cast<size_t>(i)] = src[off];
  }
  return out;
}

template <typename T>
Status layer_norm_typed(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const auto& xd = xt.dims();
  const auto rank = static_cast<int64_t>(xd.size());
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", -1));
  MIXQ_ASSIGN_OR_RETURN(const float epsilon, ctx.node().attr_float("epsilon", 1e-5f));
  if (axis < -rank || axis >= rank) {
    return ctx.fail("axis ", axis, " is out of range for rank ", rank);
  }
  if (axis < 0) axis += rank;
  const std::vector<int64_t> norm_shape(xd.begin() + axis, xd.end());
  const int64_t outer = nn::product(xd, 0, static_cast<size_t>(axis));
  const int64_t inner = nn::product(norm_shape, 0, norm_shape.size());
  ThreadPool& pool = ctx.pool();
  MIXQ_ASSIGN_OR_RETURN(const std::vector<T> scale,
                        broadcast_to<T>(ctx, pool, ctx.input(1), norm_shape, "Scale"));
  std::vector<T> bias;
  if (ctx.has_input(2)) {
    MIXQ_ASSIGN_OR_RETURN(bias, broadcast_to<T>(ctx, pool, ctx.input(2), norm_shape, "B"));
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  ir::Tensor* mean_t = nullptr;
  ir::Tensor* inv_t = nullptr;
  if (ctx.has_output(1)) {
    MIXQ_ASSIGN_OR_RETURN(mean_t, ctx.output(1));
  }
  if (ctx.has_output(2)) {
    MIXQ_ASSIGN_OR_RETURN(inv_t, ctx.output(2));
  }
  std::vector<T> xs, ys;
  const T* x = nn::compute_view<T>(pool, xt, xs);
  T* y = nn::compute_out<T>(*yt, ys);
  std::vector<double> means(static_cast<size_t>(outer)), invs(static_cast<size_t>(outer));
  const int64_t grain =
      ThreadPool::grain_for(outer, std::max<int64_t>(1, 8192 / std::max<int64_t>(inner, 1)));
  pool.parallel_for(outer, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double m, v;
      nn::run_stats(x + r * inner, 1, inner, inner, m, v);
      const double inv = 1.0 / std::sqrt(v + static_cast<double>(epsilon));
      means[static_cast<size_t>(r)] = m;
      invs[static_cast<size_t>(r)] = inv;
      const T* xr = x + r * inner;
      T* yr = y + r * inner;
      const T mt = static_cast<T>(m), it = static_cast<T>(inv);
      for (int64_t i = 0; i < inner; ++i) {
        const T v0 = (xr[i] - mt) * it * scale[static_cast<size_t>(i)];
        yr[i] = bias.empty() ? v0 : v0 + bias[static_cast<size_t>(i)];
      }
    }
  });
  nn::finish_output(pool, *yt, ys);
  for (auto [t, src] : {std::pair{mean_t, &means}, std::pair{inv_t, &invs}}) {
    if (t == nullptr) continue;
    if (t->numel() != outer) return ctx.fail("statistics output has the wrong size");
    std::vector<double> scratch;
    double* out = nn::compute_out<double>(*t, scratch);
    std::copy(src->begin(), src->end(), out);
    nn::finish_output(pool, *t, scratch);
  }
  return Status::ok_status();
}

template <typename T>
Status group_norm_typed(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const auto& xd = xt.dims();
  if (xd.size() < 2) return ctx.fail("input must have rank >= 2");
  MIXQ_ASSIGN_OR_RETURN(const int64_t groups, ctx.node().attr_int("num_groups", 0));
  MIXQ_ASSIGN_OR_RETURN(const float epsilon, ctx.node().attr_float("epsilon", 1e-5f));
  const int64_t C = xd[1];
  if (groups < 1 || C % groups != 0) {
    return ctx.fail("num_groups ", groups, " does not divide the ", C, " channels");
  }
  const bool per_channel = ctx.opset() >= 21;
  const int64_t params = per_channel ? C : groups;
  if (ctx.input(1).numel() != params || ctx.input(2).numel() != params) {
    return ctx.fail("scale and bias must have ", params, " values");
  }
  const int64_t S = nn::product(xd, 2, xd.size());
  const int64_t cg = C / groups;
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  ThreadPool& pool = ctx.pool();
  std::vector<T> xs, ss, bs, ys;
  const T* x = nn::compute_view<T>(pool, xt, xs);
  const T* scale = nn::compute_view<T>(pool, ctx.input(1), ss);
  const T* bias = nn::compute_view<T>(pool, ctx.input(2), bs);
  T* y = nn::compute_out<T>(*yt, ys);
  const int64_t items = xd[0] * groups;
  const int64_t len = cg * S;
  pool.parallel_for(
      items, ThreadPool::grain_for(items, std::max<int64_t>(1, 8192 / std::max<int64_t>(len, 1))),
      [&](int64_t i0, int64_t i1) {
        for (int64_t it = i0; it < i1; ++it) {
          const int64_t g = it % groups;
          double m, v;
          nn::run_stats(x + it * len, 1, len, len, m, v);
          const double inv = 1.0 / std::sqrt(v + static_cast<double>(epsilon));
          for (int64_t c = 0; c < cg; ++c) {
            const int64_t pi = per_channel ? g * cg + c : g;
            const T a = static_cast<T>(static_cast<double>(scale[pi]) * inv);
            const T mt = static_cast<T>(m), b = bias[pi];
            const T* xp = x + it * len + c * S;
            T* yp = y + it * len + c * S;
            for (int64_t i = 0; i < S; ++i) yp[i] = (xp[i] - mt) * a + b;
          }
        }
      });
  nn::finish_output(pool, *yt, ys);
  return Status::ok_status();
}

template <typename T>
Status lrn_typed(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const auto& xd = xt.dims();
  if (xd.size() < 2) return ctx.fail("input must have rank >= 2");
  MIXQ_ASSIGN_OR_RETURN(const int64_t size, ctx.node().attr_int("size", 0));
  if (size < 1) return ctx.fail("attribute size is ", size, ", must be >= 1");
  MIXQ_ASSIGN_OR_RETURN(const float alpha, ctx.node().attr_float("alpha", 1e-4f));
  MIXQ_ASSIGN_OR_RETURN(const float beta, ctx.node().attr_float("beta", 0.75f));
  MIXQ_ASSIGN_OR_RETURN(const float kbias, ctx.node().attr_float("bias", 1.0f));
  const int64_t C = xd[1];
  const int64_t S = nn::product(xd, 2, xd.size());
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  ThreadPool& pool = ctx.pool();
  std::vector<T> xs, ys;
  const T* x = nn::compute_view<T>(pool, xt, xs);
  T* y = nn::compute_out<T>(*yt, ys);
  const int64_t before = (size - 1) / 2;
  const int64_t after = size - 1 - before;
  const T scale = static_cast<T>(alpha) / static_cast<T>(size);
  const int64_t planes = xd[0] * C;
  pool.parallel_for(
      planes,
      ThreadPool::grain_for(planes, std::max<int64_t>(1, 4096 / std::max<int64_t>(S * size, 1))),
      [&](int64_t p0, int64_t p1) {
        std::vector<T> sq(static_cast<size_t>(S));
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t c = p % C;
          const int64_t n = p / C;
          std::fill(sq.begin(), sq.end(), T(0));
          const int64_t lo = std::max<int64_t>(0, c - before);
          const int64_t hi = std::min<int64_t>(C - 1, c + after);
          for (int64_t k = lo; k <= hi; ++k) {
            const T* xk = x + (n * C + k) * S;
            for (int64_t i = 0; i < S; ++i) sq[static_cast<size_t>(i)] += xk[i] * xk[i];
          }
          const T* xp = x + p * S;
          T* yp = y + p * S;
          const T* sp = sq.data();
          const T kb = static_cast<T>(kbias);
          if (beta == 0.75f) {
            // The common AlexNet/GoogLeNet setting, without pow: d^0.75 = sqrt(d * sqrt(d)).
            for (int64_t i = 0; i < S; ++i) {
              const T d = kb + scale * sp[i];
              yp[i] = xp[i] / std::sqrt(d * std::sqrt(d));
            }
          } else {
            for (int64_t i = 0; i < S; ++i) {
              yp[i] = xp[i] / std::pow(kb + scale * sp[i], static_cast<T>(beta));
            }
          }
        }
      });
  nn::finish_output(pool, *yt, ys);
  return Status::ok_status();
}

template <typename T>
Status mvn_typed(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const auto& xd = xt.dims();
  const auto rank = static_cast<int64_t>(xd.size());
  MIXQ_ASSIGN_OR_RETURN(auto axes_attr, ctx.node().attr_ints("axes"));
  std::vector<int64_t> axes = axes_attr ? *axes_attr : std::vector<int64_t>{0, 2, 3};
  std::vector<bool> reduced(xd.size(), false);
  for (int64_t& a : axes) {
    if (a < -rank || a >= rank)
      return ctx.fail("axes entry ", a, " is out of range for rank ", rank);
    if (a < 0) a += rank;
    reduced[static_cast<size_t>(a)] = true;
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  ThreadPool& pool = ctx.pool();
  std::vector<T> xs, ys;
  const T* x = nn::compute_view<T>(pool, xt, xs);
  T* y = nn::compute_out<T>(*yt, ys);
  // Kept axes index the groups; reduced axes the members. Offsets of every member of group 0
  // and of the first member of every group.
  std::vector<int64_t> kept_dims, red_dims, kept_strides, red_strides;
  const std::vector<int64_t> st = strides_of(xd);
  for (size_t d = 0; d < xd.size(); ++d) {
    (reduced[d] ? red_dims : kept_dims).push_back(xd[d]);
    (reduced[d] ? red_strides : kept_strides).push_back(st[d]);
  }
  auto offsets = [](const std::vector<int64_t>& dims, const std::vector<int64_t>& strides) {
    const int64_t n = nn::product(dims, 0, dims.size());
    std::vector<int64_t> out(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) {
      int64_t rem = i, off = 0;
      for (size_t d = dims.size(); d-- > 0;) {
        off += (rem % dims[d]) * strides[d];
        rem /= dims[d];
      }
      out[static_cast<size_t>(i)] = off;
    }
    return out;
  };
  const std::vector<int64_t> members = offsets(red_dims, red_strides);
  const std::vector<int64_t> groups = offsets(kept_dims, kept_strides);
  const auto gcount = static_cast<int64_t>(groups.size());
  const auto mcount = static_cast<int64_t>(members.size());
  pool.parallel_for(
      gcount,
      ThreadPool::grain_for(gcount, std::max<int64_t>(1, 8192 / std::max<int64_t>(mcount, 1))),
      [&](int64_t g0, int64_t g1) {
        for (int64_t g = g0; g < g1; ++g) {
          const int64_t base = groups[static_cast<size_t>(g)];
          double s = 0;
          for (int64_t m : members) s += static_cast<double>(x[base + m]);
          const double mean = mcount ? s / static_cast<double>(mcount) : 0;
          double q = 0;
          for (int64_t m : members) {
            const double d = static_cast<double>(x[base + m]) - mean;
            q += d * d;
          }
          const double sd = std::sqrt(mcount ? q / static_cast<double>(mcount) : 0);
          const double inv = 1.0 / (sd + 1e-9);
          for (int64_t m : members) {
            y[base + m] = static_cast<T>((static_cast<double>(x[base + m]) - mean) * inv);
          }
        }
      });
  nn::finish_output(pool, *yt, ys);
  return Status::ok_status();
}

template <template <typename> class F>
Status dispatch(KernelContext& ctx) {
  return nn::with_compute_type(ctx, ctx.input(0).dtype(),
                               [&](auto tag) -> Status { return F<decltype(tag)>::run(ctx); });
}
template <typename T>
struct LayerNormOp {
  static Status run(KernelContext& ctx) { return layer_norm_typed<T>(ctx); }
};
template <typename T>
struct GroupNormOp {
  static Status run(KernelContext& ctx) { return group_norm_typed<T>(ctx); }
};
template <typename T>
struct LrnOp {
  static Status run(KernelContext& ctx) { return lrn_typed<T>(ctx); }
};
template <typename T>
struct MvnOp {
  static Status run(KernelContext& ctx) { return mvn_typed<T>(ctx); }
};

}  // namespace

void register_norm_layer_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "LayerNormalization", 17, 21, kFloats, 0, dispatch<LayerNormOp>});
  out.push_back({"", "GroupNormalization", 18, 21, kFloats, 0, dispatch<GroupNormOp>});
  out.push_back({"", "LRN", 1, 21, kFloats, 0, dispatch<LrnOp>});
  out.push_back({"", "MeanVarianceNormalization", 9, 21, kFloats, 0, dispatch<MvnOp>});
}

}  // namespace mixq::exec
