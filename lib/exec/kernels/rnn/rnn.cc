// ONNX RNN-1/7/14 (simple RNN; opset 1's output_sequence is ignored: Y is produced whenever the
// model names it). Per direction, with f = activations[0] (default Tanh):
//   Ht = f(Xt·Wi^T + Ht-1·Ri^T + Wbi + Rbi)
// X·W^T for all timesteps is one GEMM, Ht-1·R^T one GEMM per step (gemm.h). sequence_lens
// stops each batch entry early (reverse runs from its own last step); Y is zero past the end
// and Y_h holds the state after the last step. layout 1 (14+) is batch-first.
#include <algorithm>

#include "kernels/gemm.h"
#include "kernels/rnn/rnn_common.h"
#include "kernels/rnn/rnn_kernels.h"

namespace mixq::exec {
namespace {

template <typename S>
Status rnn_typed(KernelContext& ctx, const RnnShape& s) {
  using T = Compute<S>;
  const auto x = x_seq_major<S>(ctx, s);
  const auto w = convert_input<S>(ctx, 1);
  const auto r = convert_input<S>(ctx, 2);
  const auto bias = convert_input<S>(ctx, 3);
  const auto h0 = state_dir_major<S>(ctx, s, 5);
  const int64_t H = s.hidden, B = s.batch;
  const int64_t steps = s.lens.empty() ? 0 : *std::max_element(s.lens.begin(), s.lens.end());
  const bool want_y = ctx.has_output(0);
  std::vector<DirectionResult<T>> res(static_cast<size_t>(s.dirs));
  std::vector<T> hr(static_cast<size_t>(B * H));
  std::vector<T> bsum(static_cast<size_t>(H));
  for (size_t d = 0; d < res.size(); ++d) {
    const auto di = static_cast<int64_t>(d);
    const T* bias_d = nullptr;
    if (bias.data) {
      const T* bd = bias.data + di * 2 * H;
      for (int64_t j = 0; j < H; ++j) bsum[static_cast<size_t>(j)] = bd[j] + bd[H + j];
      bias_d = bsum.data();
    }
    const std::vector<T> xw =
        project_inputs<T>(ctx.pool(), s, x.data, w.data + di * H * s.input, bias_d);
    const T* r_d = r.data + di * H * H;
    DirectionResult<T>& out = res[d];
    out.y.assign(want_y ? static_cast<size_t>(s.seq * B * H) : 0, T(0));
    if (h0.data) {
      out.h.assign(h0.data + di * B * H, h0.data + (di + 1) * B * H);
    } else {
      out.h.assign(static_cast<size_t>(B * H), T(0));
    }
    for (int64_t k = 0; k < steps; ++k) {
      gemm<T>(&ctx.pool(), B, H, H, T(1), out.h.data(), H, false, r_d, H, true, T(0), hr.data(), H);
      ctx.pool().parallel_for(B, ThreadPool::grain_for(B, std::max<int64_t>(1, 4096 / H)),
                              [&](int64_t b0, int64_t b1) {
                                for (int64_t b = b0; b < b1; ++b) {
                                  const int64_t t = time_of(s, d, b, k);
                                  if (t < 0) continue;
                                  T* g = hr.data() + b * H;
                                  const T* xr = xw.data() + (t * B + b) * H;
                                  for (int64_t j = 0; j < H; ++j) g[j] += xr[j];
                                  clip_values(s.clip, g, H);
                                  apply_activation(s.acts[d], g, H);
                                  std::copy(g, g + H, out.h.data() + b * H);
                                  if (want_y) std::copy(g, g + H, out.y.data() + (t * B + b) * H);
                                }
                              });
    }
  }
  return write_rnn_outputs<S>(ctx, s, res, false);
}

Status rnn_kernel(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(RnnShape s, read_rnn_shape(ctx, 1, {ActKind::kTanh}));
  return visit_float_dtype(
      ctx.input(0).dtype(),
      [&](auto tag) -> Status {
        using S = decltype(tag);
        return rnn_typed<S>(ctx, s);
      },
      [&] {
        return ctx.fail("X is ", dtype_name(ctx.input(0).dtype()), ", expected a float type");
      });
}

}  // namespace

void register_simple_rnn_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "RNN", 1, 21, types::kFloats, 0, rnn_kernel});
}

}  // namespace mixq::exec
