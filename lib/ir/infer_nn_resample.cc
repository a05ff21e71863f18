// Shape functions for the resampling and layout ops of the nn family.
// ONNX Operators.md: Resize-10/11/13/18/19, Upsample-7/9 (deprecated in 10 with the same
// rule), Pad-1/2/11/13/18/19/21, DepthToSpace-1/11/13, SpaceToDepth-1/13, GridSample-16/20,
// RoiAlign-10/16, NonMaxSuppression-10/11.
//
// Resize and Upsample with scales: out = floor(in * scale), computed in double from the float32
// scale as the ONNX reference implementation does (the roi factor in the Resize-18 text is not
// applied by the reference implementation or ONNX Runtime). Resize with sizes: the sizes, or
// with keep_aspect_ratio_policy not_larger/not_smaller one scale = min/max(sizes[i] / in[d])
// for all resized axes and out = round_half_up(scale * in).
#include <algorithm>
#include <cmath>
#include <limits>

#include "mixq/ir/op_schema.h"

namespace mixq::ir {
namespace {

bool known_mismatch(const Dim& a, const Dim& b) {
  return a.is_known() && b.is_known() && a.value() != b.value();
}

// floor(in * scale); symbolic sizes survive integral scales.
Dim scaled_dim(const Dim& in, double scale) {
  if (in.is_known()) {
    const double v = std::floor(static_cast<double>(in.value()) * scale);
    if (!(v >= 0 && v < static_cast<double>(std::numeric_limits<int64_t>::max()))) return Dim();
    return Dim::known(static_cast<int64_t>(v));
  }
  if (scale >= 1 && scale == std::floor(scale) && scale < 1e9) {
    return Dim::known(static_cast<int64_t>(scale)) * in;
  }
  return Dim();
}

Status check_scale(const InferContext& ctx, double scale) {
  if (!(scale > 0) || !std::isfinite(scale)) return ctx.fail("scales has value ", scale);
  return Status::ok_status();
}

// Number of elements of a 1-D input: 0 when omitted, nullopt when not known.
std::optional<int64_t> input_length(const InferContext& ctx, size_t i) {
  if (!ctx.has_input(i)) return 0;
  if (const Tensor* t = ctx.input_constant(i)) return t->numel();
  if (const auto* d = ctx.input_data(i)) return static_cast<int64_t>(d->size());
  if (const Shape* s = ctx.input_shape(i); s && s->size() == 1 && (*s)[0].is_known()) {
    return (*s)[0].value();
  }
  return std::nullopt;
}

// Axes for an op that resizes or pads a subset of dims: `given` normalized (no repeats), or
// every axis.
Expected<std::vector<int64_t>> subset_axes(const InferContext& ctx,
                                           const std::optional<std::vector<int64_t>>& given,
                                           size_t rank) {
  std::vector<int64_t> axes;
  if (!given) {
    for (size_t k = 0; k < rank; ++k) axes.push_back(static_cast<int64_t>(k));
    return axes;
  }
  for (int64_t a : *given) {
    MIXQ_ASSIGN_OR_RETURN(int64_t ax,
                          normalize_axis(ctx, a, static_cast<int64_t>(rank), "axes entry"));
    if (std::find(axes.begin(), axes.end(), ax) != axes.end()) {
      return ctx.fail("axes has ", a, " twice");
    }
    axes.push_back(ax);
  }
  return axes;
}

// Resize sizes with keep_aspect_ratio_policy not_larger / not_smaller: one scale for all axes.
void keep_aspect(const Shape& in, const std::vector<int64_t>& axes, const std::vector<Dim>& sizes,
                 bool not_larger, Shape& out) {
  std::optional<double> scale;
  for (size_t i = 0; i < axes.size(); ++i) {
    const Dim& d = in[static_cast<size_t>(axes[i])];
    if (!d.is_known() || !sizes[i].is_known() || d.value() == 0) {
      scale.reset();
      break;
    }
    const double r = static_cast<double>(sizes[i].value()) / static_cast<double>(d.value());
    scale = !scale ? r : (not_larger ? std::min(*scale, r) : std::max(*scale, r));
  }
  for (int64_t a : axes) {
    const Dim& d = in[static_cast<size_t>(a)];
    out[static_cast<size_t>(a)] =
        scale ? Dim::known(
                    static_cast<int64_t>(std::floor(*scale * static_cast<double>(d.value()) + 0.5)))
              : Dim();
  }
}

// Resize-10(X, scales); Resize-11(X, roi, scales, sizes) with scales empty when sizes is used;
// Resize-13+ with roi and scales optional; Resize-18+ `axes` and keep_aspect_ratio_policy.
Status infer_resize(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const int64_t opset = ctx.opset();
  const size_t scales_i = opset >= 11 ? 2 : 1;
  const size_t sizes_i = 3;
  std::optional<std::vector<int64_t>> axes_attr;
  std::string policy = "stretch";
  if (opset >= 18) {
    MIXQ_ASSIGN_OR_RETURN(axes_attr, ctx.attr_ints("axes"));
    MIXQ_ASSIGN_OR_RETURN(policy, ctx.attr_string("keep_aspect_ratio_policy", "stretch"));
    if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller") {
      return ctx.fail("attribute keep_aspect_ratio_policy is '", policy,
                      "', expected stretch, not_larger or not_smaller");
    }
  }
  const std::optional<int64_t> n_scales = input_length(ctx, scales_i);
  const std::optional<int64_t> n_sizes =
      opset >= 11 ? input_length(ctx, sizes_i) : std::optional<int64_t>(0);
  const bool use_scales = n_scales && *n_scales > 0;
  const bool use_sizes = n_sizes && *n_sizes > 0;
  if (use_scales && use_sizes) return ctx.fail("scales and sizes are both given; use one");
  if (n_scales && n_sizes && !use_scales && !use_sizes) {
    return ctx.fail("neither scales nor sizes is given");
  }

  const Shape* x = ctx.input_shape(0);
  if (x == nullptr) {
    std::optional<Shape> out;
    if (!axes_attr && (use_scales || use_sizes)) {
      out = unknown_shape(static_cast<size_t>(use_scales ? *n_scales : *n_sizes));
    }
    ctx.set_output(0, dtype, std::move(out));
    return Status::ok_status();
  }
  MIXQ_ASSIGN_OR_RETURN(const auto axes, subset_axes(ctx, axes_attr, x->size()));
  const auto n_axes = static_cast<int64_t>(axes.size());
  Shape out = *x;
  if (use_scales) {
    if (*n_scales != n_axes) {
      return ctx.fail("scales has ", *n_scales, " values, expected ", n_axes);
    }
    const Tensor* t = ctx.input_constant(scales_i);
    for (size_t i = 0; i < axes.size(); ++i) {
      Dim& d = out[static_cast<size_t>(axes[i])];
      if (t == nullptr) {
        d = Dim();
        continue;
      }
      const double scale = t->element_as_double(static_cast<int64_t>(i));
      MIXQ_RETURN_IF_ERROR(check_scale(ctx, scale));
      d = scaled_dim(d, scale);
    }
  } else if (use_sizes) {
    if (*n_sizes != n_axes) return ctx.fail("sizes has ", *n_sizes, " values, expected ", n_axes);
    const std::vector<Dim>* sizes = ctx.input_data(sizes_i);
    if (sizes) {
      for (const Dim& s : *sizes) {
        if (s.is_known() && s.value() < 0) return ctx.fail("sizes has negative value ", s.value());
      }
    }
    if (sizes == nullptr) {
      for (int64_t a : axes) out[static_cast<size_t>(a)] = Dim();
    } else if (policy == "stretch") {
      for (size_t i = 0; i < axes.size(); ++i) out[static_cast<size_t>(axes[i])] = (*sizes)[i];
    } else {
      keep_aspect(*x, axes, *sizes, policy == "not_larger", out);
    }
  } else {
    // Which of scales and sizes applies is not known yet.
    for (int64_t a : axes) out[static_cast<size_t>(a)] = Dim();
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

// Upsample-7 (scales attribute), Upsample-9 (scales input): floor(in * scale) on every axis.
Status infer_upsample(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  std::optional<std::vector<double>> scales;
  if (ctx.opset() < 9) {
    MIXQ_ASSIGN_OR_RETURN(auto attr, ctx.node().attr_floats("scales"));
    if (!attr) return ctx.fail("required attribute 'scales' is missing");
    scales = std::vector<double>(attr->begin(), attr->end());
  } else if (const Tensor* t = ctx.input_constant(1)) {
    scales = std::vector<double>();
    for (int64_t i = 0; i < t->numel(); ++i) scales->push_back(t->element_as_double(i));
  }
  const Shape* x = ctx.input_shape(0);
  if (x == nullptr) {
    ctx.set_output(0, dtype,
                   scales ? std::optional<Shape>(unknown_shape(scales->size())) : std::nullopt);
    return Status::ok_status();
  }
  if (!scales) {
    ctx.set_output(0, dtype, unknown_shape(x->size()));
    return Status::ok_status();
  }
  if (scales->size() != x->size()) {
    return ctx.fail("scales has ", scales->size(), " values, expected ", x->size(),
                    " (the rank of the input)");
  }
  Shape out(x->size());
  for (size_t k = 0; k < out.size(); ++k) {
    // The spec allows only scales >= 1 (upsampling).
    if (!((*scales)[k] >= 1) || !std::isfinite((*scales)[k])) {
      return ctx.fail("scales has value ", (*scales)[k], ", must be >= 1");
    }
    out[k] = scaled_dim((*x)[k], (*scales)[k]);
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

// Pad-1 (`paddings` attribute), Pad-2 (`pads`), Pad-11+ (pads input), Pad-18+ (axes input).
// Negative pads remove elements; the mode does not change the shape.
Status infer_pad(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  MIXQ_ASSIGN_OR_RETURN(std::string mode, ctx.attr_string("mode", "constant"));
  if (mode != "constant" && mode != "reflect" && mode != "edge" &&
      !(mode == "wrap" && ctx.opset() >= 19)) {
    return ctx.fail("attribute mode is '", mode, "'");
  }
  std::optional<std::vector<Dim>> pads;
  if (ctx.opset() < 11) {
    const char* name = ctx.opset() < 2 ? "paddings" : "pads";
    MIXQ_ASSIGN_OR_RETURN(auto attr, ctx.attr_ints(name));
    if (!attr) return ctx.fail("required attribute '", name, "' is missing");
    pads = shape_from_ints(*attr);
  } else if (const auto* d = ctx.input_data(1)) {
    pads = *d;
  }
  const bool has_axes = ctx.opset() >= 18 && ctx.has_input(3);
  std::optional<std::vector<int64_t>> axes_in;
  if (has_axes) axes_in = ctx.input_ints(3);

  const Shape* x = ctx.input_shape(0);
  if (x == nullptr) {
    std::optional<Shape> out;
    if (!has_axes && pads) out = unknown_shape(pads->size() / 2);
    ctx.set_output(0, dtype, std::move(out));
    return Status::ok_status();
  }
  if (has_axes && !axes_in) {
    ctx.set_output(0, dtype, unknown_shape(x->size()));
    return Status::ok_status();
  }
  MIXQ_ASSIGN_OR_RETURN(const auto axes, subset_axes(ctx, axes_in, x->size()));
  Shape out = *x;
  if (!pads) {
    for (int64_t a : axes) out[static_cast<size_t>(a)] = Dim();
    ctx.set_output(0, dtype, std::move(out));
    return Status::ok_status();
  }
  if (pads->size() != 2 * axes.size()) {
    return ctx.fail("pads has ", pads->size(), " values, expected ", 2 * axes.size());
  }
  for (size_t i = 0; i < axes.size(); ++i) {
    Dim& d = out[static_cast<size_t>(axes[i])];
    d = d + (*pads)[i] + (*pads)[i + axes.size()];
    if (d.is_known() && d.value() < 0) {
      return ctx.fail("pads remove more than the size of axis ", axes[i], " of ",
                      shape_to_string(*x));
    }
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

// DepthToSpace and SpaceToDepth take [N, C, H, W] and a blocksize b.
Expected<int64_t> read_blocksize(const InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(const int64_t b, ctx.required_int("blocksize"));
  if (b < 1) return ctx.fail("attribute blocksize is ", b, ", must be >= 1");
  return b;
}

Expected<const Shape*> nchw_input(const InferContext& ctx) {
  const Shape* x = ctx.input_shape(0);
  if (x && x->size() != 4) {
    return ctx.fail("input has shape ", shape_to_string(*x), ", expected rank 4 (N, C, H, W)");
  }
  return x;
}

// [N, C, H, W] -> [N, C / b^2, H * b, W * b].
Status infer_depth_to_space(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(const int64_t b, read_blocksize(ctx));
  if (ctx.opset() >= 11) {
    MIXQ_ASSIGN_OR_RETURN(std::string mode, ctx.attr_string("mode", "DCR"));
    if (mode != "DCR" && mode != "CRD") {
      return ctx.fail("attribute mode is '", mode, "', expected DCR or CRD");
    }
  }
  MIXQ_ASSIGN_OR_RETURN(const Shape* x, nchw_input(ctx));
  if (x == nullptr) {
    ctx.set_output(0, ctx.input_dtype(0), unknown_shape(4));
    return Status::ok_status();
  }
  const Dim bb = Dim::known(b * b);
  const Dim& c = (*x)[1];
  if (c.is_known() && c.value() % (b * b) != 0) {
    return ctx.fail("input has ", c.value(), " channels, not a multiple of blocksize^2 = ", b * b);
  }
  const Dim c_out = c.exact_div(bb).value_or(Dim());
  ctx.set_output(0, ctx.input_dtype(0),
                 Shape{(*x)[0], c_out, (*x)[2] * Dim::known(b), (*x)[3] * Dim::known(b)});
  return Status::ok_status();
}

// [N, C, H, W] -> [N, C * b^2, H / b, W / b].
Status infer_space_to_depth(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(const int64_t b, read_blocksize(ctx));
  MIXQ_ASSIGN_OR_RETURN(const Shape* x, nchw_input(ctx));
  if (x == nullptr) {
    ctx.set_output(0, ctx.input_dtype(0), unknown_shape(4));
    return Status::ok_status();
  }
  Shape out{(*x)[0], (*x)[1] * Dim::known(b * b)};
  for (size_t k = 2; k < 4; ++k) {
    const Dim& d = (*x)[k];
    if (d.is_known() && d.value() % b != 0) {
      return ctx.fail("input has shape ", shape_to_string(*x), ", spatial dims must be multiples",
                      " of blocksize ", b);
    }
    out.push_back(d.exact_div(Dim::known(b)).value_or(Dim()));
  }
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  return Status::ok_status();
}

// GridSample-16: X [N, C, H, W], grid [N, Ho, Wo, 2] -> [N, C, Ho, Wo]; GridSample-20 extends
// this to r spatial dims with grid [N, D1o, ..., Dro, r].
Status infer_grid_sample(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  const Shape* x = ctx.input_shape(0);
  const Shape* g = ctx.input_shape(1);
  const bool only_2d = ctx.opset() < 20;
  for (const Shape* s : {x, g}) {
    if (s && (only_2d ? s->size() != 4 : s->size() < 3)) {
      return ctx.fail(s == x ? "input X" : "grid", " has shape ", shape_to_string(*s),
                      only_2d ? ", expected rank 4" : ", expected rank >= 3");
    }
  }
  if (x && g && x->size() != g->size()) {
    return ctx.fail("grid ", shape_to_string(*g), " and input ", shape_to_string(*x),
                    " differ in rank");
  }
  if (g == nullptr) {
    ctx.set_output(0, dtype, x ? std::optional<Shape>(unknown_shape(x->size())) : std::nullopt);
    return Status::ok_status();
  }
  const size_t r = g->size() - 2;
  if (known_mismatch(g->back(), Dim::known(static_cast<int64_t>(r)))) {
    return ctx.fail("grid has shape ", shape_to_string(*g), ", its last dim must be ", r);
  }
  if (x && known_mismatch((*x)[0], (*g)[0])) {
    return ctx.fail("grid batch ", (*g)[0].value(), " differs from input batch ", (*x)[0].value());
  }
  Shape out{x && !(*x)[0].is_unknown() ? (*x)[0] : (*g)[0], x ? (*x)[1] : Dim()};
  out.insert(out.end(), g->begin() + 1, g->end() - 1);
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

// RoiAlign(X [N, C, H, W], rois [R, 4], batch_indices [R]) -> [R, C, output_height,
// output_width].
Status infer_roi_align(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  MIXQ_ASSIGN_OR_RETURN(const int64_t oh, ctx.attr_int("output_height", 1));
  MIXQ_ASSIGN_OR_RETURN(const int64_t ow, ctx.attr_int("output_width", 1));
  if (oh < 1 || ow < 1) {
    return ctx.fail("output_height ", oh, " and output_width ", ow, " must be >= 1");
  }
  MIXQ_ASSIGN_OR_RETURN(const Shape* x, nchw_input(ctx));
  const Shape* rois = ctx.input_shape(1);
  const Shape* idx = ctx.input_shape(2);
  if (rois && (rois->size() != 2 || known_mismatch((*rois)[1], Dim::known(4)))) {
    return ctx.fail("rois has shape ", shape_to_string(*rois), ", expected [num_rois, 4]");
  }
  if (idx && idx->size() != 1) {
    return ctx.fail("batch_indices has shape ", shape_to_string(*idx), ", expected [num_rois]");
  }
  if (rois && idx && known_mismatch((*rois)[0], (*idx)[0])) {
    return ctx.fail("rois ", shape_to_string(*rois), " and batch_indices ", shape_to_string(*idx),
                    " differ in num_rois");
  }
  Dim num = rois ? (*rois)[0] : Dim();
  if (num.is_unknown() && idx) num = (*idx)[0];
  ctx.set_output(0, dtype, Shape{num, x ? (*x)[1] : Dim(), Dim::known(oh), Dim::known(ow)});
  return Status::ok_status();
}

// selected_indices [num_selected, 3]: (batch, class, box), num_selected known only at run time.
Status infer_nms(InferContext& ctx) {
  ctx.set_output(0, DType::kInt64, Shape{Dim(), Dim::known(3)});
  return Status::ok_status();
}

}  // namespace

// Called from register_nn_schemas (infer_nn.cc).
void register_nn_resample_schemas(std::vector<OpSchema>& out) {
  out.push_back({"", "Resize", 10, infer_resize});
  out.push_back({"", "Upsample", 7, infer_upsample});
  out.push_back({"", "Pad", 1, infer_pad});
  out.push_back({"", "DepthToSpace", 1, infer_depth_to_space});
  out.push_back({"", "SpaceToDepth", 1, infer_space_to_depth});
  out.push_back({"", "GridSample", 16, infer_grid_sample});
  out.push_back({"", "RoiAlign", 10, infer_roi_align});
  out.push_back({"", "NonMaxSuppression", 10, infer_nms});
}

}  // namespace mixq::ir
