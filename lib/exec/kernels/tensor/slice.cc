// ONNX Slice-1 (starts/ends/axes attributes) and Slice-10/11/13 (starts, ends, axes, steps
// inputs, negative steps): a strided view of the input copied out, any dtype. Starts and ends are
// clamped as Operators.md says: to [0, dim] for positive steps, start to [0, dim - 1] and end to
// [-1, dim - 1] for negative ones, after adding dim to negative values.
#include <algorithm>

#include "kernels/tensor/tensor_kernels.h"
#include "kernels/tensor/tensor_util.h"

namespace mixq::exec {
namespace {

Status slice(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kString) return with_string_codes(ctx, slice);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  const auto rank = static_cast<int64_t>(x.rank());
  std::vector<int64_t> starts, ends, axes, steps;
  bool have_axes = false, have_steps = false;
  if (ctx.opset() < 10) {
    MIXQ_ASSIGN_OR_RETURN(auto s, ctx.node().attr_ints("starts"));
    MIXQ_ASSIGN_OR_RETURN(auto e, ctx.node().attr_ints("ends"));
    MIXQ_ASSIGN_OR_RETURN(auto a, ctx.node().attr_ints("axes"));
    if (!s || !e) return ctx.fail("attributes 'starts' and 'ends' are required");
    starts = *s;
    ends = *e;
    if (a) {
      axes = *a;
      have_axes = true;
    }
  } else {
    if (!ctx.has_input(1) || !ctx.has_input(2))
      return ctx.fail("inputs starts and ends are required");
    starts = read_ints(ctx.input(1));
    ends = read_ints(ctx.input(2));
    if (ctx.has_input(3)) {
      axes = read_ints(ctx.input(3));
      have_axes = true;
    }
    if (ctx.has_input(4)) {
      steps = read_ints(ctx.input(4));
      have_steps = true;
    }
  }
  const size_t n = starts.size();
  if (ends.size() != n) return ctx.fail("starts has ", n, " entries, ends ", ends.size());
  if (have_axes && axes.size() != n)
    return ctx.fail("starts has ", n, " entries, axes ", axes.size());
  if (have_steps && steps.size() != n) {
    return ctx.fail("starts has ", n, " entries, steps ", steps.size());
  }
  if (!have_axes) {
    if (static_cast<int64_t>(n) > rank)
      return ctx.fail("starts has ", n, " entries for rank ", rank);
    for (size_t j = 0; j < n; ++j) axes.push_back(static_cast<int64_t>(j));
  }
  const auto& dims = x.dims();
  std::vector<int64_t> first(dims.size(), 0), len = dims, step(dims.size(), 1);
  std::vector<bool> seen(dims.size(), false);
  for (size_t j = 0; j < n; ++j) {
    MIXQ_ASSIGN_OR_RETURN(int64_t ax, normalize_axis(ctx, axes[j], rank, "axes entry"));
    const auto a = static_cast<size_t>(ax);
    if (seen[a]) return ctx.fail("axis ", axes[j], " is sliced twice");
    seen[a] = true;
    const int64_t st = have_steps ? steps[j] : 1;
    if (st == 0) return ctx.fail("steps entry ", j, " is 0");
    const int64_t dim = dims[a];
    int64_t s = starts[j], e = ends[j];
    if (s < 0) s += dim;
    if (e < 0) e += dim;
    if (dim == 0) {
      len[a] = 0;
    } else if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      len[a] = e > s ? (e - s - 1) / st + 1 : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      len[a] = s > e ? (s - e - 1) / (-st) + 1 : 0;
    }
    first[a] = std::min(s, std::max<int64_t>(dim - 1, 0));
    step[a] = st;
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), len));
  if (y->numel() == 0) return Status::ok_status();
  const std::vector<int64_t> in_strides = strides_of(dims);
  int64_t offset = 0;
  std::vector<int64_t> strides(dims.size());
  for (size_t k = 0; k < dims.size(); ++k) {
    offset += first[k] * in_strides[k];
    strides[k] = step[k] * in_strides[k];
  }
  const size_t es = element_size(x.dtype());
  strided_copy(ctx.pool(), es, x.raw_data() + static_cast<size_t>(offset) * es, len, strides,
               y->mutable_raw_data());
  return Status::ok_status();
}

}  // namespace

void register_slice_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Slice", 1, 21, TypeSet::any(), 0, slice});
}

}  // namespace mixq::exec
