// Shape functions for the signal ops.
// ONNX Operators.md / Changelog.md: DFT-17/20, STFT-17, HannWindow-17, HammingWindow-17,
// BlackmanWindow-17, MelWeightMatrix-17.
//   DFT: input [..., L, ..., 1 or 2] transformed along `axis` (17: attribute, default 1; 20:
//        input, default -2) over n = dft_length (default L, or 2 (L - 1) for the inverse
//        one-sided IRFFT): the axis dim becomes n / 2 + 1 (forward one-sided) or n, the last
//        dim 2 (1 for IRFFT).
//   STFT: [batch, 1 + (length - frame_length) / frame_step, bins, 2], bins = frame_length / 2 + 1
//        when onesided (default) else frame_length; frame_length defaults to the window's size.
//   Windows: [size]; MelWeightMatrix: [dft_length / 2 + 1, num_mel_bins]; both output_datatype
//        (default float32).
#include "mixq/ir/op_schema.h"

namespace mixq::ir {
namespace {

// A one-element integer input's value when known.
std::optional<int64_t> scalar_value(const InferContext& ctx, size_t i) {
  const auto v = ctx.input_ints(i);
  if (!v || v->size() != 1) return std::nullopt;
  return (*v)[0];
}

Expected<DType> output_datatype(const InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(int64_t code, ctx.attr_int("output_datatype", 1));
  const auto t = dtype_from_onnx(static_cast<int32_t>(code));
  if (!t || !(dtype_is_float(*t) || dtype_is_integer(*t)) || dtype_bits(*t) < 8) {
    return ctx.fail("output_datatype ", code, " is not a numeric type");
  }
  return *t;
}

Status infer_dft(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* x = ctx.input_shape(0);
  if (x == nullptr) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  const auto rank = static_cast<int64_t>(x->size());
  if (rank < 2) return ctx.fail("input has shape ", shape_to_string(*x), ", needs rank >= 2");
  std::optional<int64_t> axis;
  if (ctx.opset() >= 20) {
    axis = ctx.has_input(2) ? scalar_value(ctx, 2) : std::optional<int64_t>(-2);
  } else {
    MIXQ_ASSIGN_OR_RETURN(int64_t a, ctx.attr_int("axis", 1));
    axis = a;
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t inverse, ctx.attr_int("inverse", 0));
  MIXQ_ASSIGN_OR_RETURN(int64_t onesided, ctx.attr_int("onesided", 0));
  const bool irfft = inverse && onesided;
  Shape out = *x;
  out.back() = Dim::known(irfft ? 1 : 2);
  if (!axis) {
    for (size_t k = 0; k + 1 < out.size(); ++k) out[k] = Dim();  // which dim changes is unknown
    ctx.set_output(0, dtype, std::move(out));
    return Status::ok_status();
  }
  if (*axis < -rank || *axis >= rank - 1 || *axis == -1) {
    return ctx.fail("axis ", *axis, " is outside [", -rank, ", -2] and [0, ", rank - 2, "]");
  }
  const auto ax = static_cast<size_t>(*axis < 0 ? *axis + rank : *axis);
  Dim n = (*x)[ax];
  if (irfft) n = n.is_known() ? Dim::known(2 * (n.value() - 1)) : Dim();
  if (ctx.has_input(1)) {
    const auto len = scalar_value(ctx, 1);
    n = len ? Dim::known(*len) : Dim();
  }
  if (onesided && !inverse) n = n.is_known() ? Dim::known(n.value() / 2 + 1) : Dim();
  out[ax] = n;
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

Status infer_stft(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* x = ctx.input_shape(0);
  if (x && x->size() != 3) {
    return ctx.fail("signal has shape ", shape_to_string(*x), ", expected [batch, length, 1|2]");
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t onesided, ctx.attr_int("onesided", 1));
  std::optional<int64_t> frame;
  if (ctx.has_input(3)) {
    frame = scalar_value(ctx, 3);
  } else if (const Shape* w = ctx.input_shape(2); w && w->size() == 1 && (*w)[0].is_known()) {
    frame = (*w)[0].value();
  } else if (!ctx.has_input(2) && x && (*x)[1].is_known()) {
    frame = (*x)[1].value();
  }
  const std::optional<int64_t> step = scalar_value(ctx, 1);
  Dim frames, bins;
  if (frame) bins = Dim::known(onesided ? *frame / 2 + 1 : *frame);
  if (frame && step && *step > 0 && x && (*x)[1].is_known() && (*x)[1].value() >= *frame) {
    frames = Dim::known(1 + ((*x)[1].value() - *frame) / *step);
  }
  ctx.set_output(0, dtype, Shape{x ? (*x)[0] : Dim(), frames, bins, Dim::known(2)});
  return Status::ok_status();
}

Status infer_window(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(DType dtype, output_datatype(ctx));
  const auto size = scalar_value(ctx, 0);
  ctx.set_output(0, dtype, Shape{size ? Dim::known(*size) : Dim()});
  return Status::ok_status();
}

Status infer_mel_weight_matrix(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(DType dtype, output_datatype(ctx));
  const auto mels = scalar_value(ctx, 0);
  const auto dft_length = scalar_value(ctx, 1);
  ctx.set_output(0, dtype,
                 Shape{dft_length ? Dim::known(*dft_length / 2 + 1) : Dim(),
                       mels ? Dim::known(*mels) : Dim()});
  return Status::ok_status();
}

}  // namespace

void register_signal_schemas(std::vector<OpSchema>& out) {
  out.push_back({"", "DFT", 17, infer_dft});
  out.push_back({"", "STFT", 17, infer_stft});
  out.push_back({"", "HannWindow", 17, infer_window});
  out.push_back({"", "HammingWindow", 17, infer_window});
  out.push_back({"", "BlackmanWindow", 17, infer_window});
  out.push_back({"", "MelWeightMatrix", 17, infer_mel_weight_matrix});
}

}  // namespace mixq::ir
