// ONNX MelWeightMatrix-17: a [dft_length / 2 + 1, num_mel_bins] matrix of triangular filters,
// computed in float64 as the ONNX reference implementation does (and written as
// output_datatype, default float32):
//   mel(f) = 2595 log10(1 + f / 700), step = (mel(upper) - mel(lower)) / (num_mel_bins + 2)
//   bin[i] = floor((dft_length + 1) * 700 (10^((mel(lower) + i step) / 2595) - 1) / sample_rate)
//            for i in [0, num_mel_bins + 2)
//   filter i rises linearly from bin[i] to 1 at bin[i+1] and falls to bin[i+2] (exclusive);
//   a filter with bin[i] == bin[i+1] is 1 at bin[i+1].
// Bins outside [0, dft_length / 2] (an upper edge above the Nyquist frequency) are bad input.
#include <cmath>

#include "kernels/common.h"
#include "kernels/signal/signal_kernels.h"

namespace mixq::exec {
namespace {

Expected<double> scalar_float(const KernelContext& ctx, size_t i, std::string_view what) {
  const ir::Tensor& t = ctx.input(i);
  if (t.numel() != 1 || !dtype_is_float(t.dtype()) || element_size(t.dtype()) < 2) {
    return ctx.fail(what, " must be one float value, is ", dtype_name(t.dtype()),
                    ir::dims_to_string(t.dims()));
  }
  return t.element_as_double(0);
}

Status mel_weight_matrix(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(int64_t mels, scalar_int(ctx, 0, "num_mel_bins"));
  MIXQ_ASSIGN_OR_RETURN(int64_t dft_length, scalar_int(ctx, 1, "dft_length"));
  MIXQ_ASSIGN_OR_RETURN(int64_t rate, scalar_int(ctx, 2, "sample_rate"));
  MIXQ_ASSIGN_OR_RETURN(double lower, scalar_float(ctx, 3, "lower_edge_hertz"));
  MIXQ_ASSIGN_OR_RETURN(double upper, scalar_float(ctx, 4, "upper_edge_hertz"));
  if (mels < 1 || dft_length < 1 || rate < 1) {
    return ctx.fail("num_mel_bins ", mels, ", dft_length ", dft_length, " and sample_rate ", rate,
                    " must all be positive");
  }
  const int64_t spec_bins = dft_length / 2 + 1;
  const double low_mel = 2595.0 * std::log10(1.0 + lower / 700.0);
  const double high_mel = 2595.0 * std::log10(1.0 + upper / 700.0);
  const double step = (high_mel - low_mel) / static_cast<double>(mels + 2);
  std::vector<int64_t> bin(static_cast<size_t>(mels + 2));
  for (int64_t i = 0; i < mels + 2; ++i) {
    const double hz =
        700.0 * (std::pow(10.0, (static_cast<double>(i) * step + low_mel) / 2595.0) - 1.0);
    const double b =
        std::floor(static_cast<double>(dft_length + 1) * hz / static_cast<double>(rate));
    if (!(b >= 0.0 && b < static_cast<double>(spec_bins))) {
      return ctx.fail("mel band edge ", i, " falls on spectrogram bin ", b, ", outside [0, ",
                      spec_bins, ") (lower_edge_hertz ", lower, ", upper_edge_hertz ", upper,
                      ", sample_rate ", rate, ")");
    }
    bin[static_cast<size_t>(i)] = static_cast<int64_t>(b);
  }
  std::vector<double> w(static_cast<size_t>(spec_bins * mels), 0.0);
  auto at = [&](int64_t row, int64_t col) -> double& {
    return w[static_cast<size_t>(row * mels + col)];
  };
  for (int64_t i = 0; i < mels; ++i) {
    const int64_t lo = bin[static_cast<size_t>(i)];
    const int64_t mid = bin[static_cast<size_t>(i + 1)];
    const int64_t hi = bin[static_cast<size_t>(i + 2)];
    if (mid == lo) {
      at(mid, i) = 1.0;
    } else {
      for (int64_t j = lo; j <= mid; ++j) {
        at(j, i) = static_cast<double>(j - lo) / static_cast<double>(mid - lo);
      }
    }
    for (int64_t j = mid; j < hi; ++j) {
      at(j, i) = static_cast<double>(hi - j) / static_cast<double>(hi - mid);
    }
  }
  return write_generated(ctx, {spec_bins, mels}, w);
}

}  // namespace

void register_mel_weight_matrix_kernels(std::vector<KernelDef>& out) {
  out.push_back(
      {"", "MelWeightMatrix", 17, 21, TypeSet{DType::kInt32, DType::kInt64}, 0, mel_weight_matrix});
}

}  // namespace mixq::exec
