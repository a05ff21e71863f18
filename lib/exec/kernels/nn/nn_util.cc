// Shared window parsing for the nn kernels (see nn_util.h).
#include "kernels/nn/nn_util.h"

#include <algorithm>

namespace mixq::exec::nn {

Expected<std::vector<int64_t>> ints_attr(const KernelContext& ctx, const std::string& name,
                                         size_t count, int64_t fallback, int64_t min_value) {
  MIXQ_ASSIGN_OR_RETURN(auto v, ctx.node().attr_ints(name));
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

Expected<Window> read_window(const KernelContext& ctx, const std::vector<int64_t>& in,
                             const std::vector<int64_t>& kernel, const std::vector<int64_t>& out,
                             bool has_dilations) {
  Window w;
  w.n = in.size();
  w.in = in;
  w.out = out;
  w.kernel = kernel;
  if (kernel.size() != w.n || out.size() != w.n) {
    return ctx.fail("window has ", kernel.size(), " kernel dims for ", w.n, " spatial axes");
  }
  for (int64_t k : kernel) {
    if (k < 1) return ctx.fail("kernel size ", k, " must be >= 1");
  }
  MIXQ_ASSIGN_OR_RETURN(w.strides, ints_attr(ctx, "strides", w.n, 1, 1));
  if (has_dilations) {
    MIXQ_ASSIGN_OR_RETURN(w.dilations, ints_attr(ctx, "dilations", w.n, 1, 1));
  } else {
    w.dilations.assign(w.n, 1);
  }
  MIXQ_ASSIGN_OR_RETURN(const std::vector<int64_t> pads, ints_attr(ctx, "pads", 2 * w.n, 0, 0));
  auto auto_pad = ctx.node().attr_string("auto_pad", "NOTSET");
  if (!auto_pad.ok()) return auto_pad.status();
  const std::string& mode = *auto_pad;
  w.pad_begin.assign(pads.begin(), pads.begin() + static_cast<std::ptrdiff_t>(w.n));
  w.pad_end.assign(pads.begin() + static_cast<std::ptrdiff_t>(w.n), pads.end());
  if (mode == "VALID") {
    std::fill(w.pad_begin.begin(), w.pad_begin.end(), 0);
    std::fill(w.pad_end.begin(), w.pad_end.end(), 0);
  } else if (mode == "SAME_UPPER" || mode == "SAME_LOWER") {
    for (size_t i = 0; i < w.n; ++i) {
      const int64_t total =
          std::max<int64_t>(0, (out[i] - 1) * w.strides[i] + w.effective(i) - in[i]);
      const int64_t small = total / 2;
      w.pad_begin[i] = mode == "SAME_UPPER" ? small : total - small;
      w.pad_end[i] = total - w.pad_begin[i];
    }
  } else if (mode != "NOTSET" && !mode.empty()) {
    return ctx.fail("attribute auto_pad is '", mode, "'");
  }
  return w;
}

std::vector<int64_t> input_ints(const ir::Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.element_as_int64(i);
  return v;
}

std::vector<double> input_doubles(const ir::Tensor& t) {
  std::vector<double> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.element_as_double(i);
  return v;
}

}  // namespace mixq::exec::nn
