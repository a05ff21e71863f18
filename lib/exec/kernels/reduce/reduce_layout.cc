#include "kernels/reduce/reduce_layout.h"

namespace mixq::exec {

Expected<ReduceLayout> plan_reduce(const KernelContext& ctx, int64_t input_since) {
  const ir::Tensor& x = ctx.input(0);
  const auto& dims = x.dims();
  const auto rank = static_cast<int64_t>(dims.size());
  MIXQ_ASSIGN_OR_RETURN(int64_t keepdims, ctx.node().attr_int("keepdims", 1));
  std::vector<int64_t> axes;
  bool noop = false;
  if (ctx.opset() < input_since) {
    MIXQ_ASSIGN_OR_RETURN(auto a, ctx.node().attr_ints("axes"));
    if (a) axes = *a;
  } else {
    MIXQ_ASSIGN_OR_RETURN(int64_t v, ctx.node().attr_int("noop_with_empty_axes", 0));
    noop = v != 0;
    if (ctx.has_input(1)) {
      if (ctx.input(1).rank() > 1) return ctx.fail("axes must be 1-D");
      axes = read_ints(ctx.input(1));
    }
  }
  std::vector<bool> reduced(dims.size(), axes.empty() && !noop);
  for (int64_t a : axes) {
    MIXQ_ASSIGN_OR_RETURN(int64_t ax, normalize_axis(ctx, a, rank, "axes entry"));
    reduced[static_cast<size_t>(ax)] = true;
  }
  ReduceLayout lay;
  lay.count = 1;
  for (size_t k = 0; k < dims.size(); ++k) {
    if (reduced[k]) {
      lay.count *= dims[k];
      if (keepdims != 0) lay.out_dims.push_back(1);
    } else {
      lay.out_dims.push_back(dims[k]);
    }
  }
  lay.out_numel = 1;
  for (int64_t d : lay.out_dims) lay.out_numel *= d;
  if (lay.count == 0 || lay.out_numel == 0) return lay;

  // Merged groups of dims, reduced or kept, without size-1 dims.
  std::vector<int64_t> size;
  std::vector<bool> red;
  for (size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] == 1) continue;
    if (!size.empty() && red.back() == reduced[k]) {
      size.back() *= dims[k];
    } else {
      size.push_back(dims[k]);
      red.push_back(reduced[k]);
    }
  }
  if (size.empty()) {
    size.push_back(1);
    red.push_back(true);
  }
  const std::vector<int64_t> strides = strides_of(size);
  const size_t last = size.size() - 1;
  lay.inner_reduced = red[last];
  lay.inner = size[last];
  lay.red_offsets = {0};
  for (size_t g = 0; g < size.size(); ++g) {
    if (g == last) continue;
    if (red[g]) {
      std::vector<int64_t> next;
      next.reserve(lay.red_offsets.size() * static_cast<size_t>(size[g]));
      for (int64_t o : lay.red_offsets) {
        for (int64_t i = 0; i < size[g]; ++i) next.push_back(o + i * strides[g]);
      }
      lay.red_offsets = std::move(next);
    } else {
      lay.row_dims.push_back(size[g]);
      lay.row_strides.push_back(strides[g]);
    }
  }
  lay.out_rows = 1;
  for (int64_t d : lay.row_dims) lay.out_rows *= d;
  return lay;
}

}  // namespace mixq::exec
