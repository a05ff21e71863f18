// Shape functions for the sliding-window ops (convolutions, pooling, unpooling) and the
// normalizations. The resampling and layout ops are in infer_nn_resample.cc.
// ONNX Operators.md: Conv-1/11, ConvTranspose-1/11, ConvInteger-10, QLinearConv-10,
// MaxPool-1/8/10/11/12, AveragePool-1/7/10/11/19, LpPool-1/2/11/18, GlobalAveragePool-1,
// GlobalMaxPool-1, GlobalLpPool-1/2, MaxUnpool-9/11, BatchNormalization-1/6/7/9/14/15,
// InstanceNormalization-1/6, LayerNormalization-17, GroupNormalization-18/21.
//
// Output size of a window along one spatial axis (input size in, kernel k, dilation d, stride s,
// pads b and e, effective kernel ek = (k - 1) * d + 1):
//   explicit pads:  floor((in + b + e - ek) / s) + 1; with ceil_mode, ceil instead of floor, and a
//                   last window that would start in the end padding is dropped (PyTorch's rule,
//                   spelled out in the MaxPool/AveragePool-22 text and applied by ONNX's own
//                   inference to every version);
//   SAME_UPPER/SAME_LOWER: ceil(in / s);
//   VALID:          floor((in - ek) / s) + 1, which equals the spec's ceil-mode form
//                   ceil((in - ek + 1) / s), so ceil_mode does not change it.
// ConvTranspose: s * (in - 1) + output_padding + ek - b - e, or in * s with SAME_*, or the
// output_shape attribute.
#include <algorithm>

#include "mixq/ir/op_schema.h"

namespace mixq::ir {

// Resize, Upsample, Pad, DepthToSpace, SpaceToDepth, GridSample, RoiAlign, NonMaxSuppression
// (infer_nn_resample.cc).
void register_nn_resample_schemas(std::vector<OpSchema>& out);

namespace {

bool known_mismatch(const Dim& a, const Dim& b) {
  return a.is_known() && b.is_known() && a.value() != b.value();
}

int64_t ceil_div(int64_t a, int64_t b) { return a / b + (a % b != 0 ? 1 : 0); }  // a >= 0, b > 0

// a * b + c, or an error for absurd attribute values that overflow int64.
Expected<int64_t> mul_add(const InferContext& ctx, int64_t a, int64_t b, int64_t c) {
  int64_t p = 0;
  int64_t r = 0;
  if (__builtin_mul_overflow(a, b, &p) || __builtin_add_overflow(p, c, &r)) {
    return ctx.fail("window size arithmetic overflows (", a, " * ", b, " + ", c, ")");
  }
  return r;
}

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

Expected<AutoPad> read_auto_pad(const InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(std::string s, ctx.attr_string("auto_pad", "NOTSET"));
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  if (s == "VALID") return AutoPad::kValid;
  return ctx.fail("attribute auto_pad is '", s,
                  "', expected NOTSET, SAME_UPPER, SAME_LOWER or VALID");
}

// A list attribute with `count` values, each >= min_value; `fallback` repeated when absent.
Expected<std::vector<int64_t>> axis_ints(const InferContext& ctx, std::string_view name,
                                         size_t count, int64_t fallback, int64_t min_value) {
  MIXQ_ASSIGN_OR_RETURN(auto v, ctx.attr_ints(name));
  if (!v) return std::vector<int64_t>(count, fallback);
  if (v->size() != count) {
    return ctx.fail("attribute ", name, " has ", v->size(), " values, expected ", count);
  }
  for (int64_t x : *v) {
    if (x < min_value) {
      return ctx.fail("attribute ", name, " has value ", x, ", must be >= ", min_value);
    }
  }
  return *v;
}

// Window parameters shared by the convolutions and the pools, for n spatial axes.
struct Window {
  Shape kernel;  // unknown entries when neither kernel_shape nor W gives the size
  std::vector<int64_t> strides;
  std::vector<int64_t> dilations;
  std::vector<int64_t> pads;  // n begins, then n ends
  AutoPad auto_pad = AutoPad::kNotSet;
  bool ceil_mode = false;
};

Expected<Window> read_window(const InferContext& ctx, size_t n, bool has_dilations) {
  Window w;
  MIXQ_ASSIGN_OR_RETURN(w.strides, axis_ints(ctx, "strides", n, 1, 1));
  if (has_dilations) {
    MIXQ_ASSIGN_OR_RETURN(w.dilations, axis_ints(ctx, "dilations", n, 1, 1));
  } else {
    w.dilations.assign(n, 1);
  }
  MIXQ_ASSIGN_OR_RETURN(w.pads, axis_ints(ctx, "pads", 2 * n, 0, 0));
  MIXQ_ASSIGN_OR_RETURN(w.auto_pad, read_auto_pad(ctx));
  return w;
}

bool is_same_pad(AutoPad p) { return p == AutoPad::kSameUpper || p == AutoPad::kSameLower; }

// Output size of the window along spatial axis i (formulas in the file comment).
Expected<Dim> window_out(const InferContext& ctx, const Window& w, size_t i, const Dim& in) {
  const size_t n = w.strides.size();
  const int64_t s = w.strides[i];
  if (is_same_pad(w.auto_pad)) {
    if (s == 1) return in;
    return in.is_known() ? Dim::known(ceil_div(in.value(), s)) : Dim();
  }
  const Dim& k = w.kernel[i];
  if (!k.is_known()) return Dim();
  MIXQ_ASSIGN_OR_RETURN(const int64_t ek, mul_add(ctx, k.value() - 1, w.dilations[i], 1));
  const bool valid = w.auto_pad == AutoPad::kValid;
  const int64_t pb = valid ? 0 : w.pads[i];
  const int64_t pe = valid ? 0 : w.pads[i + n];
  const bool ceil_mode = w.ceil_mode && !valid;
  if (in.is_known()) {
    MIXQ_ASSIGN_OR_RETURN(const int64_t padded, mul_add(ctx, in.value(), 1, pb + pe));
    if (padded < ek) {
      return ctx.fail("window of size ", ek, " on spatial axis ", i,
                      " is larger than the padded input (", padded, ")");
    }
    const int64_t span = padded - ek;
    int64_t out = (ceil_mode ? ceil_div(span, s) : span / s) + 1;
    if (ceil_mode && out - 1 >= ceil_div(in.value() + pb, s)) --out;
    return Dim::known(out);
  }
  if (s != 1) return Dim();
  // Stride 1 adds a constant, which keeps a symbolic size when the constant is 0 ("same"
  // padding written out explicitly). With ceil_mode the drop rule fires only when e >= ek.
  int64_t delta = pb + pe - ek + 1;
  if (ceil_mode && pe >= ek) --delta;
  return in + Dim::known(delta);
}

// The kernel size per spatial axis: kernel_shape when given (it must agree with W), else W's
// spatial dims.
Expected<Shape> conv_kernel(const InferContext& ctx, size_t n, const Shape* w) {
  Shape kernel(n);
  if (w) kernel.assign(w->begin() + 2, w->end());
  MIXQ_ASSIGN_OR_RETURN(auto attr, ctx.attr_ints("kernel_shape"));
  if (!attr) return kernel;
  if (attr->size() != n) {
    return ctx.fail("attribute kernel_shape has ", attr->size(), " values, expected ", n);
  }
  for (size_t i = 0; i < n; ++i) {
    const int64_t v = (*attr)[i];
    if (v < 1) return ctx.fail("attribute kernel_shape has value ", v, ", must be >= 1");
    if (known_mismatch(kernel[i], Dim::known(v))) {
      return ctx.fail("attribute kernel_shape disagrees with weight shape ", shape_to_string(*w));
    }
    kernel[i] = Dim::known(v);
  }
  return kernel;
}

// Rank checks shared by the convolutions: X and W both [N or M, C, spatial...] of one rank.
// Returns the number of spatial axes, or nullopt when neither rank is known.
Expected<std::optional<size_t>> conv_spatial_rank(const InferContext& ctx, const Shape* x,
                                                  const Shape* w) {
  if (x && x->size() < 3) {
    return ctx.fail("input X has shape ", shape_to_string(*x),
                    ", expected rank >= 3 (N, C, spatial...)");
  }
  if (w && w->size() < 3) {
    return ctx.fail("weight has shape ", shape_to_string(*w), ", expected rank >= 3");
  }
  if (x && w && x->size() != w->size()) {
    return ctx.fail("weight rank ", w->size(), ", expected ", x->size(), " (the rank of input ",
                    shape_to_string(*x), ")");
  }
  if (!x && !w) return std::optional<size_t>();
  return std::optional<size_t>((x ? x->size() : w->size()) - 2);
}

Status check_bias(const InferContext& ctx, size_t bi, const Dim& m) {
  const Shape* b = ctx.input_shape(bi);
  if (b && (b->size() != 1 || known_mismatch((*b)[0], m))) {
    return ctx.fail("bias has shape ", shape_to_string(*b), ", expected [", m.to_string(), "]");
  }
  return Status::ok_status();
}

Expected<int64_t> read_group(const InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(int64_t group, ctx.attr_int("group", 1));
  if (group < 1) return ctx.fail("attribute group is ", group, ", must be >= 1");
  return group;
}

// Conv, ConvInteger, QLinearConv: X [N, C, D...] and W [M, C/group, k...] give [N, M, o...].
Status conv_shape(InferContext& ctx, size_t xi, size_t wi, std::optional<size_t> bi, DType dtype) {
  const Shape* x = ctx.input_shape(xi);
  const Shape* w = ctx.input_shape(wi);
  MIXQ_ASSIGN_OR_RETURN(const int64_t group, read_group(ctx));
  MIXQ_ASSIGN_OR_RETURN(auto n, conv_spatial_rank(ctx, x, w));
  if (!n) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  const Dim m = w ? (*w)[0] : Dim();
  if (m.is_known() && m.value() % group != 0) {
    return ctx.fail("weight has ", m.value(), " output channels, not a multiple of group ", group);
  }
  if (x && (*x)[1].is_known() && (*x)[1].value() % group != 0) {
    return ctx.fail("input has ", (*x)[1].value(), " channels, not a multiple of group ", group);
  }
  if (x && w) {
    const Dim expected = (*w)[1] * Dim::known(group);
    if (known_mismatch((*x)[1], expected)) {
      return ctx.fail("input has ", (*x)[1].value(), " channels, weight ", shape_to_string(*w),
                      " with group ", group, " expects ", expected.value());
    }
  }
  if (bi) MIXQ_RETURN_IF_ERROR(check_bias(ctx, *bi, m));
  MIXQ_ASSIGN_OR_RETURN(Window win, read_window(ctx, *n, true));
  MIXQ_ASSIGN_OR_RETURN(win.kernel, conv_kernel(ctx, *n, w));
  Shape out{x ? (*x)[0] : Dim(), m};
  for (size_t i = 0; i < *n; ++i) {
    MIXQ_ASSIGN_OR_RETURN(Dim d, x ? window_out(ctx, win, i, (*x)[i + 2]) : Expected<Dim>(Dim()));
    out.push_back(d);
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

Status infer_conv(InferContext& ctx) {
  return conv_shape(ctx, 0, 1, 2, first_known_dtype(ctx, 0, 3));
}

// ConvInteger(x, w, x_zero_point, w_zero_point): int32 accumulators.
Status infer_conv_integer(InferContext& ctx) {
  return conv_shape(ctx, 0, 1, std::nullopt, DType::kInt32);
}

// QLinearConv(x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, B): y_zero_point's type.
Status infer_qlinear_conv(InferContext& ctx) {
  return conv_shape(ctx, 0, 3, 8, ctx.input_dtype(7));
}

// ConvTranspose: X [N, C, D...] and W [C, M/group, k...] give [N, M, o...].
Status infer_conv_transpose(InferContext& ctx) {
  const DType dtype = first_known_dtype(ctx, 0, 3);
  const Shape* x = ctx.input_shape(0);
  const Shape* w = ctx.input_shape(1);
  MIXQ_ASSIGN_OR_RETURN(const int64_t group, read_group(ctx));
  MIXQ_ASSIGN_OR_RETURN(auto n, conv_spatial_rank(ctx, x, w));
  if (!n) {
    ctx.set_output(0, dtype, std::nullopt);
    return Status::ok_status();
  }
  if (x && w && known_mismatch((*x)[1], (*w)[0])) {
    return ctx.fail("input has ", (*x)[1].value(), " channels, weight ", shape_to_string(*w),
                    " expects ", (*w)[0].value());
  }
  if (x && (*x)[1].is_known() && (*x)[1].value() % group != 0) {
    return ctx.fail("input has ", (*x)[1].value(), " channels, not a multiple of group ", group);
  }
  const Dim m = w ? (*w)[1] * Dim::known(group) : Dim();
  MIXQ_RETURN_IF_ERROR(check_bias(ctx, 2, m));
  MIXQ_ASSIGN_OR_RETURN(Window win, read_window(ctx, *n, true));
  MIXQ_ASSIGN_OR_RETURN(win.kernel, conv_kernel(ctx, *n, w));
  MIXQ_ASSIGN_OR_RETURN(auto output_padding, axis_ints(ctx, "output_padding", *n, 0, 0));
  for (size_t i = 0; i < *n; ++i) {
    if (output_padding[i] >= std::max(win.strides[i], win.dilations[i])) {
      return ctx.fail("output_padding ", output_padding[i], " on spatial axis ", i,
                      " must be less than its stride or dilation");
    }
  }
  // output_shape names the spatial dims. ONNX Runtime also accepts the full [N, M, ...] form;
  // so do we, using its spatial tail.
  MIXQ_ASSIGN_OR_RETURN(auto output_shape, ctx.attr_ints("output_shape"));
  if (output_shape && output_shape->size() != *n && output_shape->size() != *n + 2) {
    return ctx.fail("attribute output_shape has ", output_shape->size(), " values, expected ", *n);
  }
  Shape out{x ? (*x)[0] : Dim(), m};
  for (size_t i = 0; i < *n; ++i) {
    if (output_shape) {
      const int64_t v = (*output_shape)[output_shape->size() - *n + i];
      if (v < 0) return ctx.fail("attribute output_shape has negative value ", v);
      out.push_back(Dim::known(v));
      continue;
    }
    const Dim in = x ? (*x)[i + 2] : Dim();
    const int64_t s = win.strides[i];
    if (is_same_pad(win.auto_pad)) {
      out.push_back(Dim::known(s) * in);
      continue;
    }
    const Dim& k = win.kernel[i];
    if (!k.is_known()) {
      out.push_back(Dim());
      continue;
    }
    MIXQ_ASSIGN_OR_RETURN(const int64_t ek, mul_add(ctx, k.value() - 1, win.dilations[i], 1));
    const bool valid = win.auto_pad == AutoPad::kValid;
    const int64_t pads = valid ? 0 : win.pads[i] + win.pads[i + *n];
    const int64_t extra = output_padding[i] + ek - pads;
    if (in.is_known()) {
      MIXQ_ASSIGN_OR_RETURN(const int64_t size, mul_add(ctx, s, in.value() - 1, extra));
      if (size < 0) {
        return ctx.fail("output size on spatial axis ", i, " is negative (", size, ")");
      }
      out.push_back(Dim::known(size));
    } else {
      out.push_back(Dim::known(s) * in + Dim::known(extra - s));
    }
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

// --- Pooling --------------------------------------------------------------------------------

enum class PoolKind { kMax, kAverage, kLp };

Status infer_pool(InferContext& ctx, PoolKind kind) {
  const DType dtype = ctx.input_dtype(0);
  const int64_t opset = ctx.opset();
  // Attributes by version: dilations came with MaxPool-10, AveragePool-19 and LpPool-18;
  // ceil_mode with MaxPool-10, AveragePool-10 and LpPool-18.
  const bool has_dilations = (kind == PoolKind::kMax && opset >= 10) ||
                             (kind == PoolKind::kAverage && opset >= 19) ||
                             (kind == PoolKind::kLp && opset >= 18);
  const bool has_ceil_mode = (kind == PoolKind::kLp) ? opset >= 18 : opset >= 10;
  const bool has_indices = kind == PoolKind::kMax && opset >= 8;
  MIXQ_ASSIGN_OR_RETURN(auto kernel, ctx.attr_ints("kernel_shape"));
  // Only LpPool-1 left kernel_shape optional.
  if (!kernel && !(kind == PoolKind::kLp && opset < 2)) {
    return ctx.fail("required attribute 'kernel_shape' is missing");
  }
  if (has_indices) {
    MIXQ_ASSIGN_OR_RETURN(int64_t order, ctx.attr_int("storage_order", 0));
    if (order != 0 && order != 1) {
      return ctx.fail("attribute storage_order is ", order, ", expected 0 or 1");
    }
  }
  const Shape* x = ctx.input_shape(0);
  std::optional<Shape> out;
  if (x) {
    if (x->size() < 3) {
      return ctx.fail("input has shape ", shape_to_string(*x),
                      ", expected rank >= 3 (N, C, spatial...)");
    }
    const size_t n = x->size() - 2;
    if (kernel && kernel->size() != n) {
      return ctx.fail("attribute kernel_shape has ", kernel->size(), " values, expected ", n);
    }
    MIXQ_ASSIGN_OR_RETURN(Window win, read_window(ctx, n, has_dilations));
    if (has_ceil_mode) {
      MIXQ_ASSIGN_OR_RETURN(int64_t ceil_mode, ctx.attr_int("ceil_mode", 0));
      win.ceil_mode = ceil_mode != 0;
    }
    win.kernel = Shape(n);
    if (kernel) {
      for (size_t i = 0; i < n; ++i) {
        if ((*kernel)[i] < 1) {
          return ctx.fail("attribute kernel_shape has value ", (*kernel)[i], ", must be >= 1");
        }
        win.kernel[i] = Dim::known((*kernel)[i]);
      }
    }
    out = Shape{(*x)[0], (*x)[1]};
    for (size_t i = 0; i < n; ++i) {
      MIXQ_ASSIGN_OR_RETURN(Dim d, window_out(ctx, win, i, (*x)[i + 2]));
      out->push_back(d);
    }
  } else if (kernel) {
    out = unknown_shape(kernel->size() + 2);
  }
  ctx.set_output(0, dtype, out);
  // Indices into the flattened input, same shape as Y.
  if (has_indices) ctx.set_output(1, DType::kInt64, out);
  return Status::ok_status();
}

Status infer_max_pool(InferContext& ctx) { return infer_pool(ctx, PoolKind::kMax); }
Status infer_average_pool(InferContext& ctx) { return infer_pool(ctx, PoolKind::kAverage); }
Status infer_lp_pool(InferContext& ctx) { return infer_pool(ctx, PoolKind::kLp); }

// GlobalAveragePool, GlobalMaxPool, GlobalLpPool: [N, C, D...] -> [N, C, 1, ...].
Status infer_global_pool(InferContext& ctx) {
  const Shape* x = ctx.input_shape(0);
  if (x == nullptr) return propagate_type(ctx, 0, 0);
  if (x->size() < 2) {
    return ctx.fail("input has shape ", shape_to_string(*x), ", expected rank >= 2 (N, C, ...)");
  }
  Shape out(x->size(), Dim::known(1));
  out[0] = (*x)[0];
  out[1] = (*x)[1];
  ctx.set_output(0, ctx.input_dtype(0), std::move(out));
  return Status::ok_status();
}

// MaxUnpool(X, I, output_shape?): the output_shape input when given, else
// (in - 1) * s + k - b - e per spatial axis.
Status infer_max_unpool(InferContext& ctx) {
  const DType dtype = ctx.input_dtype(0);
  MIXQ_ASSIGN_OR_RETURN(auto kernel, ctx.attr_ints("kernel_shape"));
  if (!kernel) return ctx.fail("required attribute 'kernel_shape' is missing");
  if (ctx.has_input(2)) {
    std::optional<Shape> out;
    if (const auto* d = ctx.input_data(2)) {
      for (const Dim& v : *d) {
        if (v.is_known() && v.value() < 0) {
          return ctx.fail("output_shape has negative value ", v.value());
        }
      }
      out = *d;
    } else if (const Shape* s = ctx.input_shape(2); s && s->size() == 1 && (*s)[0].is_known()) {
      out = unknown_shape(static_cast<size_t>((*s)[0].value()));
    }
    ctx.set_output(0, dtype, std::move(out));
    return Status::ok_status();
  }
  const Shape* x = ctx.input_shape(0);
  if (x == nullptr) {
    ctx.set_output(0, dtype, unknown_shape(kernel->size() + 2));
    return Status::ok_status();
  }
  if (x->size() < 3 || kernel->size() != x->size() - 2) {
    return ctx.fail("input has shape ", shape_to_string(*x), ", expected rank ", kernel->size() + 2,
                    " to match kernel_shape");
  }
  const size_t n = kernel->size();
  MIXQ_ASSIGN_OR_RETURN(auto strides, axis_ints(ctx, "strides", n, 1, 1));
  MIXQ_ASSIGN_OR_RETURN(auto pads, axis_ints(ctx, "pads", 2 * n, 0, 0));
  Shape out{(*x)[0], (*x)[1]};
  for (size_t i = 0; i < n; ++i) {
    const Dim& in = (*x)[i + 2];
    const int64_t extra = (*kernel)[i] - pads[i] - pads[i + n];
    if (in.is_known()) {
      MIXQ_ASSIGN_OR_RETURN(const int64_t size, mul_add(ctx, in.value() - 1, strides[i], extra));
      if (size < 0) {
        return ctx.fail("output size on spatial axis ", i, " is negative (", size, ")");
      }
      out.push_back(Dim::known(size));
    } else {
      out.push_back(strides[i] == 1 ? in + Dim::known(extra - 1) : Dim());
    }
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

// --- Normalization --------------------------------------------------------------------------

// A per-channel input (scale, bias, mean, var) must have shape [c].
Status check_channel_vector(const InferContext& ctx, size_t i, const Dim& c,
                            std::string_view what) {
  const Shape* s = ctx.input_shape(i);
  if (s && (s->size() != 1 || known_mismatch((*s)[0], c))) {
    return ctx.fail(what, " has shape ", shape_to_string(*s), ", expected [", c.to_string(), "]");
  }
  return Status::ok_status();
}

// The channel dim of X [N, C, ...]; BatchNormalization also takes a 1-D [N] input with C = 1.
Expected<Dim> channel_dim(const InferContext& ctx, const Shape* x, size_t min_rank) {
  if (x == nullptr) return Dim();
  if (x->size() < min_rank) {
    return ctx.fail("input has shape ", shape_to_string(*x), ", expected rank >= ", min_rank);
  }
  return x->size() >= 2 ? (*x)[1] : Dim::known(1);
}

// Outputs: Y like X; then running mean and var (shape of the mean/var inputs, type U since
// opset 14), and before opset 14 also saved mean and var.
Status infer_batch_norm(InferContext& ctx) {
  MIXQ_RETURN_IF_ERROR(propagate_type(ctx, 0, 0));
  const Shape* x = ctx.input_shape(0);
  MIXQ_ASSIGN_OR_RETURN(const Dim c, channel_dim(ctx, x, 1));
  // Before opset 9, spatial = 0 meant per-activation statistics of shape [C, D1, ...].
  bool spatial = true;
  if (ctx.opset() < 9) {
    MIXQ_ASSIGN_OR_RETURN(int64_t attr, ctx.attr_int("spatial", 1));
    spatial = attr != 0;
  }
  if (spatial) {
    const char* names[] = {"scale", "B", "mean", "var"};
    for (size_t i = 1; i <= 4; ++i) {
      MIXQ_RETURN_IF_ERROR(check_channel_vector(ctx, i, c, names[i - 1]));
    }
  }
  const size_t last = std::min<size_t>(ctx.num_outputs(), ctx.opset() >= 14 ? 3 : 5);
  for (size_t k = 1; k < last; ++k) {
    const size_t stat_input = (k % 2 == 1) ? 3 : 4;  // mean for outputs 1 and 3, var for 2 and 4
    std::optional<Shape> shape = ctx.input_shape_opt(stat_input);
    if (spatial && x && !c.is_unknown()) shape = Shape{c};
    const DType dtype = ctx.opset() >= 14 ? ctx.input_dtype(stat_input) : ctx.input_dtype(0);
    ctx.set_output(k, dtype, std::move(shape));
  }
  return Status::ok_status();
}

Status infer_instance_norm(InferContext& ctx) {
  MIXQ_RETURN_IF_ERROR(propagate_type(ctx, 0, 0));
  MIXQ_ASSIGN_OR_RETURN(const Dim c, channel_dim(ctx, ctx.input_shape(0), 2));
  MIXQ_RETURN_IF_ERROR(check_channel_vector(ctx, 1, c, "scale"));
  return check_channel_vector(ctx, 2, c, "B");
}

// Mean and InvStdDev keep X's dims before `axis` and are 1 from there; their type is
// stash_type.
Status infer_layer_norm(InferContext& ctx) {
  MIXQ_RETURN_IF_ERROR(propagate_type(ctx, 0, 0));
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.attr_int("axis", -1));
  MIXQ_ASSIGN_OR_RETURN(int64_t stash, ctx.attr_int("stash_type", 1));
  const std::optional<DType> stash_type = dtype_from_onnx(static_cast<int32_t>(stash));
  if (!stash_type || !dtype_is_float(*stash_type)) {
    return ctx.fail("attribute stash_type ", stash, " is not a floating-point type");
  }
  std::optional<Shape> stat;
  if (const Shape* x = ctx.input_shape(0)) {
    const auto rank = static_cast<int64_t>(x->size());
    MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, rank));
    stat = Shape(x->begin(), x->begin() + axis);
    stat->resize(x->size(), Dim::known(1));
  }
  ctx.set_output(1, *stash_type, stat);
  ctx.set_output(2, *stash_type, stat);
  return Status::ok_status();
}

// scale and bias are per group in GroupNormalization-18, per channel from 21.
Status infer_group_norm(InferContext& ctx) {
  MIXQ_RETURN_IF_ERROR(propagate_type(ctx, 0, 0));
  MIXQ_ASSIGN_OR_RETURN(const int64_t groups, ctx.required_int("num_groups"));
  if (groups < 1) return ctx.fail("attribute num_groups is ", groups, ", must be >= 1");
  MIXQ_ASSIGN_OR_RETURN(const Dim c, channel_dim(ctx, ctx.input_shape(0), 2));
  if (c.is_known() && c.value() % groups != 0) {
    return ctx.fail("input has ", c.value(), " channels, not a multiple of num_groups ", groups);
  }
  const Dim per = ctx.opset() >= 21 ? c : Dim::known(groups);
  MIXQ_RETURN_IF_ERROR(check_channel_vector(ctx, 1, per, "scale"));
  return check_channel_vector(ctx, 2, per, "bias");
}

}  // namespace

void register_nn_schemas(std::vector<OpSchema>& out) {
  // One entry per op: later versions changed types and added attributes, which the shape
  // functions read by ctx.opset().
  out.push_back({"", "Conv", 1, infer_conv});
  out.push_back({"", "ConvTranspose", 1, infer_conv_transpose});
  out.push_back({"", "ConvInteger", 10, infer_conv_integer});
  out.push_back({"", "QLinearConv", 10, infer_qlinear_conv});
  out.push_back({"", "MaxPool", 1, infer_max_pool});
  out.push_back({"", "AveragePool", 1, infer_average_pool});
  out.push_back({"", "LpPool", 1, infer_lp_pool});
  out.push_back({"", "GlobalAveragePool", 1, infer_global_pool});
  out.push_back({"", "GlobalMaxPool", 1, infer_global_pool});
  out.push_back({"", "GlobalLpPool", 1, infer_global_pool});
  out.push_back({"", "MaxUnpool", 9, infer_max_unpool});
  out.push_back({"", "BatchNormalization", 1, infer_batch_norm});
  out.push_back({"", "InstanceNormalization", 1, infer_instance_norm});
  out.push_back({"", "LayerNormalization", 17, infer_layer_norm});
  out.push_back({"", "GroupNormalization", 18, infer_group_norm});
  register_nn_resample_schemas(out);
}

}  // namespace mixq::ir
