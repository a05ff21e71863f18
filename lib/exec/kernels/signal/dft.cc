// ONNX DFT-17/20 and STFT-17, computed in float64 with FftPlan (fft.h).
//
// DFT: input [..., L, ..., 1 or 2] (real, or complex as (re, im)); the transform runs along
// `axis` (DFT-17: attribute, default 1; DFT-20: optional int64 input, default -2; either way in
// [-r, -2] or [0, r-2]) over n = dft_length points (the signal zero-padded or truncated):
//   forward:            y[k] = sum_t x[t] e^{-2 pi i k t / n}, k < n (onesided: k <= n/2)
//   inverse:            x[t] = 1/n sum_k y[k] e^{+2 pi i k t / n}, t < n
//   inverse + onesided: IRFFT: the n/2+1 given bins extended by conjugate symmetry, real output
//                       [..., n, ..., 1]; dft_length defaults to 2 * (L - 1)
// STFT: signal [batch, length, 1 or 2], frame_step, optional window [w], optional frame_length
// (default: w, else length): frames = 1 + (length - frame_length) / frame_step, each frame
// multiplied by the window and transformed; output [batch, frames, bins, 2] with bins =
// frame_length / 2 + 1 when onesided (the default), frame_length otherwise.
#include <algorithm>

#include "kernels/common.h"
#include "kernels/signal/fft.h"
#include "kernels/signal/signal_kernels.h"

namespace mixq::exec {
namespace {

using C = std::complex<double>;

struct DftArgs {
  int64_t axis = 0;
  int64_t n = 0;      // transform length
  int64_t outer = 1;  // product of the dims before the axis
  int64_t len = 0;    // input length along the axis
  int64_t inner = 1;  // product of the dims between the axis and the (re, im) dim
  int64_t cin = 1;    // 1 (real) or 2 (complex) input
  bool inverse = false;
  bool onesided = false;
  int64_t out_len = 0;  // output length along the axis
  int64_t cout = 2;
  std::vector<int64_t> out_dims;
};

Expected<DftArgs> dft_args(const KernelContext& ctx) {
  DftArgs a;
  const ir::Tensor& x = ctx.input(0);
  const auto rank = static_cast<int64_t>(x.rank());
  if (rank < 2 || (x.dims().back() != 1 && x.dims().back() != 2)) {
    return ctx.fail("input has shape ", ir::dims_to_string(x.dims()),
                    ", expected [..., signal dims, 1 or 2]");
  }
  int64_t axis = 1;
  if (ctx.opset() >= 20) {
    axis = -2;
    if (ctx.has_input(2)) {
      const ir::Tensor& t = ctx.input(2);
      if (t.dtype() != DType::kInt64 || t.numel() != 1) {
        return ctx.fail("axis must be one int64, is ", dtype_name(t.dtype()),
                        ir::dims_to_string(t.dims()));
      }
      axis = t.data<int64_t>()[0];
    }
  } else {
    MIXQ_ASSIGN_OR_RETURN(axis, ctx.node().attr_int("axis", 1));
  }
  if (axis < -rank || axis >= rank - 1 || axis == -1) {
    return ctx.fail("axis ", axis, " is outside [", -rank, ", -2] and [0, ", rank - 2,
                    "] for input rank ", rank);
  }
  a.axis = axis < 0 ? axis + rank : axis;
  MIXQ_ASSIGN_OR_RETURN(int64_t inv, ctx.node().attr_int("inverse", 0));
  MIXQ_ASSIGN_OR_RETURN(int64_t one, ctx.node().attr_int("onesided", 0));
  a.inverse = inv != 0;
  a.onesided = one != 0;
  const auto ax = static_cast<size_t>(a.axis);
  for (size_t k = 0; k < ax; ++k) a.outer *= x.dims()[k];
  a.len = x.dims()[ax];
  for (size_t k = ax + 1; k + 1 < x.rank(); ++k) a.inner *= x.dims()[k];
  a.cin = x.dims().back();
  const bool irfft = a.inverse && a.onesided;
  a.n = irfft ? 2 * (a.len - 1) : a.len;
  if (ctx.has_input(1)) {
    MIXQ_ASSIGN_OR_RETURN(a.n, scalar_int(ctx, 1, "dft_length"));
  }
  if (a.n < 1) return ctx.fail("dft_length is ", a.n, ", must be at least 1");
  a.out_len = a.onesided && !a.inverse ? a.n / 2 + 1 : a.n;
  a.cout = irfft ? 1 : 2;
  a.out_dims = x.dims();
  a.out_dims[ax] = a.out_len;
  a.out_dims.back() = a.cout;
  return a;
}

// Transforms one line: `in` points at element t = 0 of the line, `stride` elements (of S)
// between consecutive t; `out` likewise with `out_stride`.
template <typename S>
void dft_line(const DftArgs& a, const FftPlan& plan, const S* in, int64_t stride, S* out,
              int64_t out_stride, C* buf, C* scratch) {
  const bool irfft = a.inverse && a.onesided;
  const int64_t take = std::min(a.len, irfft ? a.n / 2 + 1 : a.n);
  for (int64_t t = 0; t < take; ++t) {
    const S* p = in + t * stride;
    buf[t] = C(static_cast<double>(load(p[0])), a.cin == 2 ? static_cast<double>(load(p[1])) : 0.0);
  }
  for (int64_t t = take; t < a.n; ++t) buf[t] = C(0.0, 0.0);
  if (irfft) {
    // Hermitian extension: imaginary parts of the DC and Nyquist bins do not exist in a real
    // signal's spectrum and are dropped, as numpy.fft.irfft does.
    buf[0].imag(0.0);
    if (a.n % 2 == 0) buf[a.n / 2].imag(0.0);
    for (int64_t k = 1; k < (a.n + 1) / 2; ++k) buf[a.n - k] = std::conj(buf[k]);
    plan.inverse(buf, scratch);
    for (int64_t t = 0; t < a.out_len; ++t) {
      out[t * out_stride] = store<S>(static_cast<Compute<S>>(buf[t].real()));
    }
    return;
  }
  if (a.inverse) {
    plan.inverse(buf, scratch);
  } else {
    plan.forward(buf, scratch);
  }
  for (int64_t k = 0; k < a.out_len; ++k) {
    out[k * out_stride] = store<S>(static_cast<Compute<S>>(buf[k].real()));
    out[k * out_stride + 1] = store<S>(static_cast<Compute<S>>(buf[k].imag()));
  }
}

Status dft_kernel(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(DftArgs a, dft_args(ctx));
  const ir::Tensor& x = ctx.input(0);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), a.out_dims));
  const FftPlan plan(a.n);
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (is_float_storage<S>()) {
      const S* xp = x.data<S>();
      S* yp = y->mutable_data<S>();
      const int64_t lines = a.outer * a.inner;
      const int64_t grain = ThreadPool::grain_for(lines, std::max<int64_t>(1, 4096 / a.n));
      ctx.pool().parallel_for(lines, grain, [&](int64_t b, int64_t e) {
        std::vector<C> buf(static_cast<size_t>(a.n));
        std::vector<C> scratch(plan.scratch_size());
        for (int64_t line = b; line < e; ++line) {
          const int64_t o = line / a.inner;
          const int64_t i = line % a.inner;
          dft_line<S>(a, plan, xp + (o * a.len * a.inner + i) * a.cin, a.inner * a.cin,
                      yp + (o * a.out_len * a.inner + i) * a.cout, a.inner * a.cout, buf.data(),
                      scratch.data());
        }
      });
      return Status::ok_status();
    } else {
      return ctx.fail("input is ", dtype_name(x.dtype()), ", expected a float type");
    }
  });
}

Status stft_kernel(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.rank() != 3 || (x.dims()[2] != 1 && x.dims()[2] != 2)) {
    return ctx.fail("signal has shape ", ir::dims_to_string(x.dims()),
                    ", expected [batch, length, 1 or 2]");
  }
  const int64_t batch = x.dims()[0];
  const int64_t length = x.dims()[1];
  const int64_t cin = x.dims()[2];
  MIXQ_ASSIGN_OR_RETURN(int64_t step, scalar_int(ctx, 1, "frame_step"));
  if (step < 1) return ctx.fail("frame_step is ", step, ", must be at least 1");
  const ir::Tensor* window = ctx.input_or_null(2);
  if (window && (window->rank() != 1 || window->dtype() != x.dtype())) {
    return ctx.fail("window is ", dtype_name(window->dtype()), ir::dims_to_string(window->dims()),
                    ", expected a 1-D ", dtype_name(x.dtype()), " tensor");
  }
  int64_t frame = window ? window->dims()[0] : length;
  if (ctx.has_input(3)) {
    MIXQ_ASSIGN_OR_RETURN(frame, scalar_int(ctx, 3, "frame_length"));
    if (window && window->dims()[0] != frame) {
      return ctx.fail("window has ", window->dims()[0], " points, frame_length is ", frame);
    }
  }
  if (frame < 1 || frame > length) {
    return ctx.fail("frame length ", frame, " must be in [1, ", length, "] (the signal length)");
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t onesided, ctx.node().attr_int("onesided", 1));
  const int64_t frames = 1 + (length - frame) / step;
  const int64_t bins = onesided ? frame / 2 + 1 : frame;
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), {batch, frames, bins, 2}));
  const FftPlan plan(frame);
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (is_float_storage<S>()) {
      const S* xp = x.data<S>();
      const S* wp = window ? window->data<S>() : nullptr;
      S* yp = y->mutable_data<S>();
      const int64_t lines = batch * frames;
      const int64_t grain = ThreadPool::grain_for(lines, std::max<int64_t>(1, 4096 / frame));
      ctx.pool().parallel_for(lines, grain, [&](int64_t b, int64_t e) {
        std::vector<C> buf(static_cast<size_t>(frame));
        std::vector<C> scratch(plan.scratch_size());
        for (int64_t line = b; line < e; ++line) {
          const int64_t bb = line / frames;
          const int64_t f = line % frames;
          const S* in = xp + (bb * length + f * step) * cin;
          for (int64_t t = 0; t < frame; ++t) {
            const double w = wp ? static_cast<double>(load(wp[t])) : 1.0;
            const double re = static_cast<double>(load(in[t * cin]));
            const double im = cin == 2 ? static_cast<double>(load(in[t * cin + 1])) : 0.0;
            buf[static_cast<size_t>(t)] = C(re * w, im * w);
          }
          plan.forward(buf.data(), scratch.data());
          S* out = yp + line * bins * 2;
          for (int64_t k = 0; k < bins; ++k) {
            out[2 * k] = store<S>(static_cast<Compute<S>>(buf[static_cast<size_t>(k)].real()));
            out[2 * k + 1] = store<S>(static_cast<Compute<S>>(buf[static_cast<size_t>(k)].imag()));
          }
        }
      });
      return Status::ok_status();
    } else {
      return ctx.fail("signal is ", dtype_name(x.dtype()), ", expected a float type");
    }
  });
}

}  // namespace

Expected<int64_t> scalar_int(const KernelContext& ctx, size_t i, std::string_view what) {
  const ir::Tensor& t = ctx.input(i);
  if (t.numel() != 1 || (t.dtype() != DType::kInt32 && t.dtype() != DType::kInt64)) {
    return ctx.fail(what, " must be one int32 or int64 value, is ", dtype_name(t.dtype()),
                    ir::dims_to_string(t.dims()));
  }
  return t.dtype() == DType::kInt32 ? int64_t{t.data<int32_t>()[0]} : t.data<int64_t>()[0];
}

void register_dft_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "DFT", 17, 21, types::kFloats, 0, dft_kernel});
  out.push_back({"", "STFT", 17, 21, types::kFloats, 0, stft_kernel});
}

}  // namespace mixq::exec
