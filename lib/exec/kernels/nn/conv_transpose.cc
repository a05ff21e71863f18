// ONNX ConvTranspose-1/11: the gradient of Conv with respect to its input. Each input value
// X[n, c, i...] scatters X * W[c, m, k...] to Y[n, g * Mg + m, i * stride - pad_begin +
// k * dilation], plus the bias; group, strides, dilations, output_padding, pads, auto_pad and
// output_shape. float16/bfloat16 are computed in float32.
//
// Pads: explicit `pads`, unless output_shape is given or auto_pad is SAME_*: then
// total = stride * (in - 1) + output_padding + effective kernel - out (out = output_shape, or
// in * stride for SAME_*), split as pad_begin = total / 2 for SAME_UPPER and
// total - total / 2 otherwise. A negative total (an output larger than the natural size)
// counts as 0, leaving the extra positions at the end as output_padding does (ONNX Runtime's
// and PyTorch's reading; the spec's formula would split them over both ends).
//
// Per (batch, group): col [Mg * kernel, in positions] = W_g^T [Mg * kernel, Cg] x X_g [Cg, in
// positions] (Eigen GEMM), then col2im adds each column into the output. Each output channel is
// accumulated by one chunk in a fixed order, so results do not depend on the thread count.
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/nn/nn_kernels.h"
#include "kernels/nn/nn_util.h"

namespace mixq::exec {
namespace {

struct TransposeGeometry {
  size_t n = 0;
  std::vector<int64_t> in, out, kernel, strides, dilations, pad_begin;
  int64_t ksize = 1, P_in = 1, P_out = 1;
};

// col2im of one output channel: y[o] = bias + sum over kernel offsets k and input positions i
// with o = i * s - pad + k * d of col[k, i]. `col` holds ksize rows of P_in values.
template <typename T>
void col2im_channel(const TransposeGeometry& g, const T* col, T bias, T* y) {
  const size_t n = g.n;
  std::fill(y, y + g.P_out, bias);
  const int64_t in_last = g.in[n - 1];
  const int64_t out_last = g.out[n - 1];
  const int64_t s = g.strides[n - 1];
  const int64_t lines = g.P_in / in_last;
  const std::vector<int64_t> out_strides = strides_of(g.out);
  std::vector<int64_t> k(n), icoord(n);
  for (int64_t kidx = 0; kidx < g.ksize; ++kidx) {
    int64_t rem = kidx;
    for (size_t d = n; d-- > 0;) {
      k[d] = rem % g.kernel[d];
      rem /= g.kernel[d];
    }
    const T* row = col + kidx * g.P_in;
    const int64_t off = k[n - 1] * g.dilations[n - 1] - g.pad_begin[n - 1];
    // Input positions i on the last axis whose output i * s + off lies in [0, out_last).
    const int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
    const int64_t hi = std::min(in_last, out_last - off <= 0 ? 0 : (out_last - off + s - 1) / s);
    for (int64_t line = 0; line < lines; ++line) {
      int64_t q = line;
      int64_t base = 0;
      bool inside = true;
      for (size_t d = n - 1; d-- > 0;) {
        const int64_t i = q % g.in[d];
        q /= g.in[d];
        const int64_t o = i * g.strides[d] - g.pad_begin[d] + k[d] * g.dilations[d];
        if (o < 0 || o >= g.out[d]) {
          inside = false;
          break;
        }
        base += o * out_strides[d];
      }
      if (!inside) continue;
      // Input i of the line adds to y[base + i * s + off].
      const T* src = row + line * in_last;
      T* dst = y + base;
      if (s == 1) {
        for (int64_t i = lo; i < hi; ++i) dst[i + off] += src[i];
      } else {
        for (int64_t i = lo; i < hi; ++i) dst[i * s + off] += src[i];
      }
    }
  }
}

template <typename T>
Status conv_transpose_typed(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const ir::Tensor& wt = ctx.input(1);
  const auto& xd = xt.dims();
  const auto& wd = wt.dims();
  if (xd.size() < 3 || wd.size() != xd.size()) {
    return ctx.fail("input ", ir::dims_to_string(xd), " and weight ", ir::dims_to_string(wd),
                    " must both have rank >= 3 and the same rank");
  }
  if (wt.dtype() != xt.dtype() || (ctx.has_input(2) && ctx.input(2).dtype() != xt.dtype())) {
    return ctx.fail("input, weight and bias types differ");
  }
  MIXQ_ASSIGN_OR_RETURN(const int64_t group, ctx.node().attr_int("group", 1));
  const int64_t N = xd[0], C = xd[1];
  if (group < 1 || C % group != 0 || wd[0] != C) {
    return ctx.fail("input ", ir::dims_to_string(xd), ", weight ", ir::dims_to_string(wd),
                    " and group ", group, " do not match");
  }
  const int64_t Cg = C / group;
  const int64_t Mg = wd[1];
  const int64_t M = Mg * group;
  if (ctx.has_input(2) && ctx.input(2).numel() != M) {
    return ctx.fail("bias has ", ctx.input(2).numel(), " values, expected ", M);
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  TransposeGeometry g;
  g.n = xd.size() - 2;
  g.in.assign(xd.begin() + 2, xd.end());
  g.out.assign(yt->dims().begin() + 2, yt->dims().end());
  g.kernel.assign(wd.begin() + 2, wd.end());
  MIXQ_ASSIGN_OR_RETURN(g.strides, nn::ints_attr(ctx, "strides", g.n, 1, 1));
  MIXQ_ASSIGN_OR_RETURN(g.dilations, nn::ints_attr(ctx, "dilations", g.n, 1, 1));
  MIXQ_ASSIGN_OR_RETURN(const auto pads, nn::ints_attr(ctx, "pads", 2 * g.n, 0, 0));
  MIXQ_ASSIGN_OR_RETURN(const auto out_pad, nn::ints_attr(ctx, "output_padding", g.n, 0, 0));
  MIXQ_ASSIGN_OR_RETURN(const auto output_shape, ctx.node().attr_ints("output_shape"));
  auto auto_pad = ctx.node().attr_string("auto_pad", "NOTSET");
  if (!auto_pad.ok()) return auto_pad.status();
  const bool same = *auto_pad == "SAME_UPPER" || *auto_pad == "SAME_LOWER";
  g.pad_begin.assign(g.n, 0);
  for (size_t i = 0; i < g.n; ++i) {
    const int64_t ek = (g.kernel[i] - 1) * g.dilations[i] + 1;
    if (output_shape || same) {
      const int64_t total =
          std::max<int64_t>(0, g.strides[i] * (g.in[i] - 1) + out_pad[i] + ek - g.out[i]);
      const int64_t half = total / 2;
      g.pad_begin[i] = *auto_pad == "SAME_UPPER" ? half : total - half;
    } else if (*auto_pad != "VALID") {
      g.pad_begin[i] = pads[i];
    }
  }
  g.ksize = nn::product(g.kernel, 0, g.n);
  g.P_in = nn::product(g.in, 0, g.n);
  g.P_out = nn::product(g.out, 0, g.n);
  if (yt->numel() == 0) return Status::ok_status();

  ThreadPool& pool = ctx.pool();
  std::vector<T> xs, ws, bs, ys;
  const T* x = nn::compute_view<T>(pool, xt, xs);
  const T* w = nn::compute_view<T>(pool, wt, ws);
  const T* bias = ctx.has_input(2) ? nn::compute_view<T>(pool, ctx.input(2), bs) : nullptr;
  T* y = nn::compute_out<T>(*yt, ys);
  const int64_t rows = Mg * g.ksize;  // col rows per group
  // col for batch n, group gi: W_g is [Cg, Mg * ksize] at w + gi * Cg * rows.
  auto make_col = [&](ThreadPool* gp, int64_t n, int64_t gi, T* col) {
    gemm<T>(gp, rows, g.P_in, Cg, T(1), w + gi * Cg * rows, rows, true,
            x + (n * C + gi * Cg) * g.P_in, g.P_in, false, T(0), col, g.P_in);
  };
  auto scatter = [&](int64_t n, int64_t gi, int64_t m, const T* col) {
    const int64_t oc = gi * Mg + m;
    col2im_channel(g, col + m * g.ksize * g.P_in, bias ? bias[oc] : T(0),
                   y + (n * M + oc) * g.P_out);
  };
  const int64_t items = N * group;
  if (items >= 4) {
    pool.parallel_for(items, 1, [&](int64_t i0, int64_t i1) {
      std::vector<T> col(static_cast<size_t>(rows * g.P_in));
      for (int64_t it = i0; it < i1; ++it) {
        const int64_t n = it / group, gi = it % group;
        make_col(nullptr, n, gi, col.data());
        for (int64_t m = 0; m < Mg; ++m) scatter(n, gi, m, col.data());
      }
    });
  } else {
    std::vector<T> col(static_cast<size_t>(rows * g.P_in));
    for (int64_t it = 0; it < items; ++it) {
      const int64_t n = it / group, gi = it % group;
      make_col(&pool, n, gi, col.data());
      pool.parallel_for(Mg, 1, [&](int64_t m0, int64_t m1) {
        for (int64_t m = m0; m < m1; ++m) scatter(n, gi, m, col.data());
      });
    }
  }
  nn::finish_output(pool, *yt, ys);
  return Status::ok_status();
}

Status conv_transpose(KernelContext& ctx) {
  return nn::with_compute_type(ctx, ctx.input(0).dtype(), [&](auto tag) -> Status {
    return conv_transpose_typed<decltype(tag)>(ctx);
  });
}

}  // namespace

void register_conv_transpose_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "ConvTranspose", 1, 21, types::kFloats, 0, conv_transpose});
}

}  // namespace mixq::exec
