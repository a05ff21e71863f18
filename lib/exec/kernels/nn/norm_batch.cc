// Per-channel normalizations of [N, C, D...] tensors.
// ONNX BatchNormalization-1/6/7/9/14/15:
//   inference: Y = scale * (X - mean) / sqrt(var + epsilon) + B with the given running stats;
//   training (training_mode = 1 from 14; before 14 whenever the optional statistics outputs are
//   requested, unless BatchNormalization-1/6's is_test = 1): Y uses the batch mean and
//   (population) variance over N and D..., and the outputs are
//     running_mean = mean * momentum + batch_mean * (1 - momentum), likewise running_var,
//   then (before 14) saved_mean = batch_mean and saved_var = batch_var.
//   spatial = 0 (before 9) normalizes every (c, d...) position separately: its statistics have
//   shape [C, D...]. consumed_inputs (1) is a legacy attribute and ignored. From 14 the stats
//   (and from 15 scale/B) may have another floating type than X; each is converted.
// ONNX InstanceNormalization-1/6: Y = scale[c] * (X - mean_nc) / sqrt(var_nc + epsilon) + B[c],
//   statistics over the spatial positions of each (n, c).
// Statistics are accumulated in float64, each channel (or plane) within one chunk.
#include <cmath>

#include "kernels/nn/nn_kernels.h"
#include "kernels/nn/nn_util.h"

namespace mixq::exec {
namespace {

template <typename T>
Status batch_norm_typed(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const auto& xd = xt.dims();
  if (xd.empty()) return ctx.fail("input must have rank >= 1");
  const int64_t opset = ctx.opset();
  MIXQ_ASSIGN_OR_RETURN(const float epsilon, ctx.node().attr_float("epsilon", 1e-5f));
  MIXQ_ASSIGN_OR_RETURN(const float momentum, ctx.node().attr_float("momentum", 0.9f));
  bool spatial = true;
  if (opset < 9) {
    MIXQ_ASSIGN_OR_RETURN(const int64_t s, ctx.node().attr_int("spatial", 1));
    spatial = s != 0;
  }
  bool extra_outputs = false;
  for (size_t o = 1; o < ctx.num_outputs(); ++o) extra_outputs |= ctx.has_output(o);
  bool training = false;
  if (opset >= 14) {
    MIXQ_ASSIGN_OR_RETURN(const int64_t tm, ctx.node().attr_int("training_mode", 0));
    training = tm != 0;
  } else if (opset < 7) {
    MIXQ_ASSIGN_OR_RETURN(const int64_t is_test, ctx.node().attr_int("is_test", 0));
    training = extra_outputs && is_test == 0;
  } else {
    training = extra_outputs;
  }
  // X viewed as [N, C, S]: C the channels (every position after N with spatial = 0).
  const int64_t N = xd[0];
  const int64_t C = spatial ? (xd.size() >= 2 ? xd[1] : 1) : nn::product(xd, 1, xd.size());
  const int64_t S = spatial ? nn::product(xd, 2, xd.size()) : 1;
  const char* names[] = {"scale", "B", "mean", "var"};
  for (size_t i = 1; i <= 4; ++i) {
    if (!ctx.has_input(i)) return ctx.fail("input ", names[i - 1], " is missing");
    if (ctx.input(i).numel() != C) {
      return ctx.fail(names[i - 1], " has ", ctx.input(i).numel(), " values, expected ", C);
    }
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  ThreadPool& pool = ctx.pool();
  std::vector<T> xs, ss, bs, ms, vs, ys;
  const T* x = nn::compute_view<T>(pool, xt, xs);
  const T* scale = nn::compute_view<T>(pool, ctx.input(1), ss);
  const T* bias = nn::compute_view<T>(pool, ctx.input(2), bs);
  const T* mean = nn::compute_view<T>(pool, ctx.input(3), ms);
  const T* var = nn::compute_view<T>(pool, ctx.input(4), vs);
  T* y = nn::compute_out<T>(*yt, ys);

  // Per channel: the statistics Y uses, folded into y = x * a + b.
  std::vector<double> use_mean(static_cast<size_t>(C)), use_var(static_cast<size_t>(C));
  const int64_t cgrain =
      ThreadPool::grain_for(C, std::max<int64_t>(1, 16384 / std::max<int64_t>(N * S, 1)));
  pool.parallel_for(C, cgrain, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      if (training) {
        nn::run_stats(x + c * S, N, S, C * S, use_mean[c], use_var[c]);
      } else {
        use_mean[c] = static_cast<double>(mean[c]);
        use_var[c] = static_cast<double>(var[c]);
      }
    }
  });
  // y = (x - mean) * a + B with a = scale / sqrt(var + epsilon): subtracting the mean first
  // keeps the precision that folding it into one offset would lose when |mean| >> std.
  std::vector<T> a(static_cast<size_t>(C)), m(static_cast<size_t>(C));
  for (int64_t c = 0; c < C; ++c) {
    const double inv = 1.0 / std::sqrt(use_var[c] + static_cast<double>(epsilon));
    a[c] = static_cast<T>(static_cast<double>(scale[c]) * inv);
    m[c] = static_cast<T>(use_mean[c]);
  }
  const int64_t planes = N * C;
  pool.parallel_for(
      planes, ThreadPool::grain_for(planes, std::max<int64_t>(1, 16384 / std::max<int64_t>(S, 1))),
      [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t c = p % C;
          const T ac = a[c], mc = m[c], bc = bias[c];
          const T* xp = x + p * S;
          T* yp = y + p * S;
          for (int64_t i = 0; i < S; ++i) yp[i] = (xp[i] - mc) * ac + bc;
        }
      });
  nn::finish_output(pool, *yt, ys);

  // Statistics outputs: running mean/var (1, 2), then saved mean/var (3, 4) before opset 14.
  const size_t last = std::min<size_t>(ctx.num_outputs(), opset >= 14 ? 3 : 5);
  for (size_t o = 1; o < last; ++o) {
    if (!ctx.has_output(o)) continue;
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor * st, ctx.output(o));
    if (st->numel() != C) {
      return ctx.fail("statistics output ", o, " has ", st->numel(), " values, expected ", C);
    }
    std::vector<T> scratch;
    T* out = nn::compute_out<T>(*st, scratch);
    const bool is_mean = o % 2 == 1;
    const T* running = is_mean ? mean : var;
    const std::vector<double>& batch = is_mean ? use_mean : use_var;
    for (int64_t c = 0; c < C; ++c) {
      if (!training) {
        out[c] = running[c];
      } else if (o <= 2) {
        out[c] = static_cast<T>(static_cast<double>(running[c]) * momentum +
                                batch[c] * (1.0 - static_cast<double>(momentum)));
      } else {
        out[c] = static_cast<T>(batch[c]);
      }
    }
    nn::finish_output(pool, *st, scratch);
  }
  return Status::ok_status();
}

Status batch_norm(KernelContext& ctx) {
  return nn::with_compute_type(ctx, ctx.input(0).dtype(), [&](auto tag) -> Status {
    return batch_norm_typed<decltype(tag)>(ctx);
  });
}

template <typename T>
Status instance_norm_typed(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const auto& xd = xt.dims();
  if (xd.size() < 2) return ctx.fail("input must have rank >= 2");
  MIXQ_ASSIGN_OR_RETURN(const float epsilon, ctx.node().attr_float("epsilon", 1e-5f));
  const int64_t C = xd[1];
  const int64_t S = nn::product(xd, 2, xd.size());
  if (!ctx.has_input(1) || !ctx.has_input(2) || ctx.input(1).numel() != C ||
      ctx.input(2).numel() != C) {
    return ctx.fail("scale and B must have ", C, " values");
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  ThreadPool& pool = ctx.pool();
  std::vector<T> xs, ss, bs, ys;
  const T* x = nn::compute_view<T>(pool, xt, xs);
  const T* scale = nn::compute_view<T>(pool, ctx.input(1), ss);
  const T* bias = nn::compute_view<T>(pool, ctx.input(2), bs);
  T* y = nn::compute_out<T>(*yt, ys);
  const int64_t planes = xd[0] * C;
  pool.parallel_for(
      planes, ThreadPool::grain_for(planes, std::max<int64_t>(1, 8192 / std::max<int64_t>(S, 1))),
      [&](int64_t p0, int64_t p1) {
        for (int64_t p = p0; p < p1; ++p) {
          const int64_t c = p % C;
          double m, v;
          nn::run_stats(x + p * S, 1, S, S, m, v);
          const double inv = 1.0 / std::sqrt(v + static_cast<double>(epsilon));
          const T a = static_cast<T>(static_cast<double>(scale[c]) * inv);
          const T mt = static_cast<T>(m), b = bias[c];
          const T* xp = x + p * S;
          T* yp = y + p * S;
          for (int64_t i = 0; i < S; ++i) yp[i] = (xp[i] - mt) * a + b;
        }
      });
  nn::finish_output(pool, *yt, ys);
  return Status::ok_status();
}

Status instance_norm(KernelContext& ctx) {
  return nn::with_compute_type(ctx, ctx.input(0).dtype(), [&](auto tag) -> Status {
    return instance_norm_typed<decltype(tag)>(ctx);
  });
}

}  // namespace

void register_norm_batch_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "BatchNormalization", 1, 21, kFloats, 0, batch_norm, /*in_place=*/true});
  out.push_back({"", "InstanceNormalization", 1, 21, kFloats, 0, instance_norm});
}

}  // namespace mixq::exec
