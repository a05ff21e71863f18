// ONNX GRU-1/3/7/14 (opset 1's output_sequence is ignored; linear_before_reset from 3). Gates
// z, r, h in that order; per direction, with f, g = activations (default Sigmoid, Tanh):
//   zt = f(Xt·Wz^T + Ht-1·Rz^T + Wbz + Rbz)
//   rt = f(Xt·Wr^T + Ht-1·Rr^T + Wbr + Rbr)
//   ht = g(Xt·Wh^T + (rt (.) Ht-1)·Rh^T + Rbh + Wbh)        linear_before_reset = 0
//   ht = g(Xt·Wh^T + rt (.) (Ht-1·Rh^T + Rbh) + Wbh)        linear_before_reset != 0
//   Ht = (1 - zt) (.) ht + zt (.) Ht-1
// X·W^T for all timesteps is one GEMM; per step Ht-1·R^T is one GEMM (two with
// linear_before_reset = 0: z/r first, then (rt (.) Ht-1)·Rh^T). sequence_lens, layout and the
// outputs as in rnn.cc.
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/rnn/rnn_common.h"
#include "kernels/rnn/rnn_kernels.h"

namespace mixq::exec {
namespace {

template <typename S>
Status gru_typed(KernelContext& ctx, const RnnShape& s, bool linear_before_reset) {
  using T = Compute<S>;
  const auto x = x_seq_major<S>(ctx, s);
  const auto w = convert_input<S>(ctx, 1);
  const auto r = convert_input<S>(ctx, 2);
  const auto bias = convert_input<S>(ctx, 3);
  const auto h0 = state_dir_major<S>(ctx, s, 5);
  const int64_t H = s.hidden, B = s.batch, G = 3 * H;
  const int64_t steps = s.lens.empty() ? 0 : *std::max_element(s.lens.begin(), s.lens.end());
  const bool want_y = ctx.has_output(0);
  std::vector<DirectionResult<T>> res(static_cast<size_t>(s.dirs));
  std::vector<T> hr(static_cast<size_t>(B * G));  // Ht-1·R^T (z, r and, with lbr, h)
  std::vector<T> rh(static_cast<size_t>(B * H));  // rt (.) Ht-1, then its product with Rh^T
  std::vector<T> hh(static_cast<size_t>(B * H));
  std::vector<T> bsum(static_cast<size_t>(G));
  std::vector<T> rbh(static_cast<size_t>(H), T(0));  // Rbh, kept apart with lbr
  const int64_t grain = ThreadPool::grain_for(B, std::max<int64_t>(1, 4096 / G));
  for (size_t d = 0; d < res.size(); ++d) {
    const auto di = static_cast<int64_t>(d);
    const T* bias_d = nullptr;
    if (bias.data) {
      const T* wb = bias.data + di * 2 * G;
      const T* rb = wb + G;
      for (int64_t j = 0; j < G; ++j) {
        const bool apart = linear_before_reset && j >= 2 * H;
        bsum[static_cast<size_t>(j)] = wb[j] + (apart ? T(0) : rb[j]);
      }
      if (linear_before_reset) std::copy(rb + 2 * H, rb + G, rbh.begin());
      bias_d = bsum.data();
    }
    const std::vector<T> xw =
        project_inputs<T>(ctx.pool(), s, x.data, w.data + di * G * s.input, bias_d);
    const T* r_d = r.data + di * G * H;
    const Activation& f = s.acts[2 * d];
    const Activation& g = s.acts[2 * d + 1];
    DirectionResult<T>& out = res[d];
    out.y.assign(want_y ? static_cast<size_t>(s.seq * B * H) : 0, T(0));
    if (h0.data) {
      out.h.assign(h0.data + di * B * H, h0.data + (di + 1) * B * H);
    } else {
      out.h.assign(static_cast<size_t>(B * H), T(0));
    }
    T* hp = out.h.data();
    for (int64_t k = 0; k < steps; ++k) {
      // z and r (and h with lbr) recurrences in one product.
      const int64_t n_first = linear_before_reset ? G : 2 * H;
      gemm<T>(&ctx.pool(), B, n_first, H, T(1), hp, H, false, r_d, H, true, T(0), hr.data(), G);
      ctx.pool().parallel_for(B, grain, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t t = time_of(s, d, b, k);
          T* gz = hr.data() + b * G;
          if (t < 0) continue;
          const T* xr = xw.data() + (t * B + b) * G;
          for (int64_t j = 0; j < 2 * H; ++j) gz[j] += xr[j];
          clip_values(s.clip, gz, 2 * H);
          apply_activation(f, gz, 2 * H);
          const T* rt = gz + H;
          T* rhb = rh.data() + b * H;
          if (linear_before_reset) {
            T* hb = hh.data() + b * H;
            const T* hrh = gz + 2 * H;
            for (int64_t j = 0; j < H; ++j) hb[j] = xr[2 * H + j] + rt[j] * (hrh[j] + rbh[j]);
          } else {
            for (int64_t j = 0; j < H; ++j) rhb[j] = rt[j] * hp[b * H + j];
          }
        }
      });
      if (!linear_before_reset) {
        // (rt (.) Ht-1)·Rh^T; rows of finished entries are computed and ignored.
        gemm<T>(&ctx.pool(), B, H, H, T(1), rh.data(), H, false, r_d + 2 * H * H, H, true, T(0),
                hh.data(), H);
      }
      ctx.pool().parallel_for(B, grain, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t t = time_of(s, d, b, k);
          if (t < 0) continue;
          T* hb = hh.data() + b * H;
          if (!linear_before_reset) {
            const T* xr = xw.data() + (t * B + b) * G + 2 * H;
            for (int64_t j = 0; j < H; ++j) hb[j] += xr[j];
          }
          clip_values(s.clip, hb, H);
          apply_activation(g, hb, H);
          const T* zt = hr.data() + b * G;
          T* hcur = hp + b * H;
          for (int64_t j = 0; j < H; ++j) hcur[j] = (T(1) - zt[j]) * hb[j] + zt[j] * hcur[j];
          if (want_y) std::copy(hcur, hcur + H, out.y.data() + (t * B + b) * H);
        }
      });
    }
  }
  return write_rnn_outputs<S>(ctx, s, res, false);
}

Status gru_kernel(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(RnnShape s, read_rnn_shape(ctx, 3, {ActKind::kSigmoid, ActKind::kTanh}));
  MIXQ_ASSIGN_OR_RETURN(int64_t lbr, ctx.node().attr_int("linear_before_reset", 0));
  return visit_float_dtype(
      ctx.input(0).dtype(),
      [&](auto tag) -> Status {
        using S = decltype(tag);
        return gru_typed<S>(ctx, s, lbr != 0);
      },
      [&] {
        return ctx.fail("X is ", dtype_name(ctx.input(0).dtype()), ", expected a float type");
      });
}

}  // namespace

void register_gru_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "GRU", 1, 21, types::kFloats, 0, gru_kernel});
}

}  // namespace mixq::exec
