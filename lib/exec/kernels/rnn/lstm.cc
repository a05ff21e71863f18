// ONNX LSTM-1/7/14 (opset 1's output_sequence is ignored). Gates i, o, f, c in that order;
// peepholes P = [Pi, Po, Pf]; per direction, with f, g, h = activations (default Sigmoid, Tanh,
// Tanh):
//   it = f(Xt·Wi^T + Ht-1·Ri^T + Pi (.) Ct-1 + Wbi + Rbi)
//   ft = f(Xt·Wf^T + Ht-1·Rf^T + Pf (.) Ct-1 + Wbf + Rbf)     (input_forget: ft = 1 - it)
//   ct = g(Xt·Wc^T + Ht-1·Rc^T + Wbc + Rbc)
//   Ct = ft (.) Ct-1 + it (.) ct
//   ot = f(Xt·Wo^T + Ht-1·Ro^T + Po (.) Ct + Wbo + Rbo)
//   Ht = ot (.) h(Ct)
// clip bounds every activation's input, h's included (Ct itself is kept unclipped).
// X·W^T for all timesteps is one GEMM, Ht-1·R^T one GEMM per step (gemm.h). sequence_lens,
// layout and the outputs (Y, Y_h, Y_c) as in rnn.cc.
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/rnn/rnn_common.h"
#include "kernels/rnn/rnn_kernels.h"

namespace mixq::exec {
namespace {

template <typename S>
Status lstm_typed(KernelContext& ctx, const RnnShape& s, bool input_forget) {
  using T = Compute<S>;
  const auto x = x_seq_major<S>(ctx, s);
  const auto w = convert_input<S>(ctx, 1);
  const auto r = convert_input<S>(ctx, 2);
  const auto bias = convert_input<S>(ctx, 3);
  const auto h0 = state_dir_major<S>(ctx, s, 5);
  const auto c0 = state_dir_major<S>(ctx, s, 6);
  const auto peep = convert_input<S>(ctx, 7);
  const int64_t H = s.hidden, B = s.batch, G = 4 * H;
  const int64_t steps = s.lens.empty() ? 0 : *std::max_element(s.lens.begin(), s.lens.end());
  const bool want_y = ctx.has_output(0);
  std::vector<DirectionResult<T>> res(static_cast<size_t>(s.dirs));
  std::vector<T> hr(static_cast<size_t>(B * G));
  std::vector<T> bsum(static_cast<size_t>(G));
  const int64_t grain = ThreadPool::grain_for(B, std::max<int64_t>(1, 4096 / G));
  for (size_t d = 0; d < res.size(); ++d) {
    const auto di = static_cast<int64_t>(d);
    const T* bias_d = nullptr;
    if (bias.data) {
      const T* wb = bias.data + di * 2 * G;
      for (int64_t j = 0; j < G; ++j) bsum[static_cast<size_t>(j)] = wb[j] + wb[G + j];
      bias_d = bsum.data();
    }
    const std::vector<T> xw =
        project_inputs<T>(ctx.pool(), s, x.data, w.data + di * G * s.input, bias_d);
    const T* r_d = r.data + di * G * H;
    const T* p_d = peep.data ? peep.data + di * 3 * H : nullptr;
    const Activation& f = s.acts[3 * d];
    const Activation& g = s.acts[3 * d + 1];
    const Activation& h = s.acts[3 * d + 2];
    DirectionResult<T>& out = res[d];
    out.y.assign(want_y ? static_cast<size_t>(s.seq * B * H) : 0, T(0));
    auto init = [&](const Converted<T>& from, std::vector<T>& to) {
      if (from.data) {
        to.assign(from.data + di * B * H, from.data + (di + 1) * B * H);
      } else {
        to.assign(static_cast<size_t>(B * H), T(0));
      }
    };
    init(h0, out.h);
    init(c0, out.c);
    for (int64_t k = 0; k < steps; ++k) {
      gemm<T>(&ctx.pool(), B, G, H, T(1), out.h.data(), H, false, r_d, H, true, T(0), hr.data(), G);
      ctx.pool().parallel_for(B, grain, [&](int64_t b0, int64_t b1) {
        for (int64_t b = b0; b < b1; ++b) {
          const int64_t t = time_of(s, d, b, k);
          if (t < 0) continue;
          T* gi = hr.data() + b * G;
          T* go = gi + H;
          T* gf = gi + 2 * H;
          T* gc = gi + 3 * H;
          const T* xr = xw.data() + (t * B + b) * G;
          for (int64_t j = 0; j < G; ++j) gi[j] += xr[j];
          T* cb = out.c.data() + b * H;
          if (p_d) {
            for (int64_t j = 0; j < H; ++j) {
              gi[j] += p_d[j] * cb[j];
              gf[j] += p_d[2 * H + j] * cb[j];
            }
          }
          clip_values(s.clip, gi, H);
          apply_activation(f, gi, H);
          if (input_forget) {
            for (int64_t j = 0; j < H; ++j) gf[j] = T(1) - gi[j];
          } else {
            clip_values(s.clip, gf, H);
            apply_activation(f, gf, H);
          }
          clip_values(s.clip, gc, H);
          apply_activation(g, gc, H);
          for (int64_t j = 0; j < H; ++j) cb[j] = gf[j] * cb[j] + gi[j] * gc[j];
          if (p_d) {
            for (int64_t j = 0; j < H; ++j) go[j] += p_d[H + j] * cb[j];
          }
          clip_values(s.clip, go, H);
          apply_activation(f, go, H);
          // h(Ct) into the spent cell-gate slot (clipped there: the state itself is not),
          // then Ht = ot (.) h(Ct).
          std::copy(cb, cb + H, gc);
          clip_values(s.clip, gc, H);
          apply_activation(h, gc, H);
          T* hb = out.h.data() + b * H;
          for (int64_t j = 0; j < H; ++j) hb[j] = go[j] * gc[j];
          if (want_y) std::copy(hb, hb + H, out.y.data() + (t * B + b) * H);
        }
      });
    }
  }
  return write_rnn_outputs<S>(ctx, s, res, true);
}

Status lstm_kernel(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(
      RnnShape s, read_rnn_shape(ctx, 4, {ActKind::kSigmoid, ActKind::kTanh, ActKind::kTanh}));
  MIXQ_ASSIGN_OR_RETURN(int64_t input_forget, ctx.node().attr_int("input_forget", 0));
  return visit_float_dtype(
      ctx.input(0).dtype(),
      [&](auto tag) -> Status {
        using S = decltype(tag);
        return lstm_typed<S>(ctx, s, input_forget != 0);
      },
      [&] {
        return ctx.fail("X is ", dtype_name(ctx.input(0).dtype()), ", expected a float type");
      });
}

}  // namespace

void register_lstm_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "LSTM", 1, 21, types::kFloats, 0, lstm_kernel});
}

}  // namespace mixq::exec
