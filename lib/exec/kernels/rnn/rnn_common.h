// What RNN, GRU and LSTM share: attribute and input validation, activation functions, inputs
// converted to the compute type and the [seq, batch, input] layout, the input projection X·W^T
// for all timesteps in one GEMM, and writing Y / Y_h / Y_c in the node's layout and dtype.
// Internal to the rnn kernels.
#pragma once

#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include "kernels/common.h"

namespace mixq::exec {

enum class ActKind {
  kRelu,
  kTanh,
  kSigmoid,
  kAffine,
  kLeakyRelu,
  kThresholdedRelu,
  kScaledTanh,
  kHardSigmoid,
  kElu,
  kSoftsign,
  kSoftplus
};

struct Activation {
  ActKind kind = ActKind::kTanh;
  double alpha = 0.0;
  double beta = 0.0;
};

// x[i] = act(x[i]) for i < n, the kind dispatched once per call.
template <typename T>
void apply_activation(const Activation& a, T* x, int64_t n) {
  const T alpha = static_cast<T>(a.alpha);
  const T beta = static_cast<T>(a.beta);
  switch (a.kind) {
    case ActKind::kRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] > T(0) ? x[i] : T(0);
      return;
    case ActKind::kTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = std::tanh(x[i]);
      return;
    case ActKind::kSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = T(1) / (T(1) + std::exp(-x[i]));
      return;
    case ActKind::kAffine:
      for (int64_t i = 0; i < n; ++i) x[i] = alpha * x[i] + beta;
      return;
    case ActKind::kLeakyRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= T(0) ? x[i] : alpha * x[i];
      return;
    case ActKind::kThresholdedRelu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= alpha ? x[i] : T(0);
      return;
    case ActKind::kScaledTanh:
      for (int64_t i = 0; i < n; ++i) x[i] = alpha * std::tanh(beta * x[i]);
      return;
    case ActKind::kHardSigmoid:
      for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(alpha * x[i] + beta, T(0)), T(1));
      return;
    case ActKind::kElu:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] >= T(0) ? x[i] : alpha * (std::exp(x[i]) - T(1));
      return;
    case ActKind::kSoftsign:
      for (int64_t i = 0; i < n; ++i) x[i] = x[i] / (T(1) + std::fabs(x[i]));
      return;
    case ActKind::kSoftplus:
      for (int64_t i = 0; i < n; ++i) x[i] = std::log1p(std::exp(x[i]));
      return;
  }
}

// Clamps x[0..n) to [-clip, clip] (the `clip` attribute, applied before activations).
template <typename T>
void clip_values(std::optional<double> clip, T* x, int64_t n) {
  if (!clip) return;
  const T c = static_cast<T>(*clip);
  for (int64_t i = 0; i < n; ++i) x[i] = std::min(std::max(x[i], -c), c);
}

// Shapes and attributes of one RNN/GRU/LSTM node, validated.
struct RnnShape {
  int64_t seq = 0, batch = 0, input = 0, hidden = 0, dirs = 1;
  int64_t gates = 1;                // 1 (RNN), 3 (GRU), 4 (LSTM)
  bool layout_batch_first = false;  // layout = 1 (opset 14+)
  std::vector<bool> reverse;        // per direction
  std::vector<Activation> acts;     // acts_per_dir per direction
  std::optional<double> clip;
  std::vector<int64_t> lens;  // per batch entry, in [0, seq]
};

// Reads and checks X, W, R, B, sequence_lens, initial_h (and, for LSTM, initial_c and P through
// the input count) against each other and the attributes. `default_acts` are the activations
// of one direction when the attribute is absent.
Expected<RnnShape> read_rnn_shape(const KernelContext& ctx, int64_t gates,
                                  const std::vector<ActKind>& default_acts);

// An input converted to the compute type T (a view when no conversion is needed).
template <typename T>
struct Converted {
  const T* data = nullptr;
  std::vector<T> buf;
};

// Input i (storage type S, checked by read_rnn_shape) as Compute<S> values; empty when absent.
template <typename S>
Converted<Compute<S>> convert_input(const KernelContext& ctx, size_t i) {
  Converted<Compute<S>> c;
  if (!ctx.has_input(i)) return c;
  const ir::Tensor& t = ctx.input(i);
  if constexpr (std::is_same_v<S, Compute<S>>) {
    c.data = t.data<S>();
  } else {
    const S* p = t.data<S>();
    c.buf.resize(static_cast<size_t>(t.numel()));
    for (size_t k = 0; k < c.buf.size(); ++k) c.buf[k] = load(p[k]);
    c.data = c.buf.data();
  }
  return c;
}

// A [d0, d1, inner] tensor's data with its first two dims swapped, as a new buffer.
template <typename T>
std::vector<T> swap_leading(const T* p, int64_t d0, int64_t d1, int64_t inner) {
  std::vector<T> out(static_cast<size_t>(d0 * d1 * inner));
  for (int64_t a = 0; a < d0; ++a) {
    for (int64_t b = 0; b < d1; ++b) {
      std::copy(p + (a * d1 + b) * inner, p + (a * d1 + b + 1) * inner,
                out.data() + (b * d0 + a) * inner);
    }
  }
  return out;
}

// X in [seq, batch, input] order and input i (initial_h / initial_c) in [dirs, batch, hidden]
// order, converted to the compute type; nullptr data for an absent state.
template <typename S>
Converted<Compute<S>> x_seq_major(const KernelContext& ctx, const RnnShape& s) {
  Converted<Compute<S>> x = convert_input<S>(ctx, 0);
  if (s.layout_batch_first) {
    x.buf = swap_leading(x.data, s.batch, s.seq, s.input);
    x.data = x.buf.data();
  }
  return x;
}
template <typename S>
Converted<Compute<S>> state_dir_major(const KernelContext& ctx, const RnnShape& s, size_t i) {
  Converted<Compute<S>> h = convert_input<S>(ctx, i);
  if (h.data && s.layout_batch_first) {
    h.buf = swap_leading(h.data, s.batch, s.dirs, s.hidden);
    h.data = h.buf.data();
  }
  return h;
}

// XW[t, b, :] = X[t, b, :] · W_d^T + bias for every timestep: one GEMM of [seq*batch, input]
// by [input, gates*hidden]. `bias` ([gates*hidden]) may be null.
template <typename T>
std::vector<T> project_inputs(ThreadPool& pool, const RnnShape& s, const T* x, const T* w_d,
                              const T* bias);

// Outputs of one direction, in compute type, [seq, batch, hidden] for Y (zero at padded
// steps) and [batch, hidden] for the last hidden and cell states.
template <typename T>
struct DirectionResult {
  std::vector<T> y, h, c;
};

// Writes Y (output 0), Y_h (1) and, when `with_c`, Y_c (2) from the per-direction results, in
// the node's layout and storage type S; outputs the model leaves out are skipped. Batch entries
// with sequence length 0 get zero Y_h and Y_c (they produced no output), as ONNX Runtime does.
template <typename S>
Status write_rnn_outputs(KernelContext& ctx, const RnnShape& s,
                         const std::vector<DirectionResult<Compute<S>>>& dirs, bool with_c);

// The timestep batch entry b processes at step k of direction d, or -1 when its sequence has
// ended (forward: k; reverse: len - 1 - k).
inline int64_t time_of(const RnnShape& s, size_t d, int64_t b, int64_t k) {
  const int64_t len = s.lens[static_cast<size_t>(b)];
  if (k >= len) return -1;
  return s.reverse[d] ? len - 1 - k : k;
}

}  // namespace mixq::exec
