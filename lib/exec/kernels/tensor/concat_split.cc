// ONNX Concat-1/4/11/13: joins tensors along `axis` (default 1 before opset 4, required since).
// ONNX Split-1/2/11/13/18: cuts a tensor along `axis` into pieces whose sizes come from the
// `split` attribute (1/2/11) or input (1/13/18), from `num_outputs` (18, the last piece may be
// smaller) or are equal; the shape function computed them, so the kernel copies by the output
// dims. Both copy whole rows (everything after `axis`) with memcpy; any dtype.
#include "kernels/tensor/tensor_kernels.h"
#include "kernels/tensor/tensor_util.h"

namespace mixq::exec {
namespace {

int64_t product(const std::vector<int64_t>& dims, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t k = from; k < to; ++k) p *= dims[k];
  return p;
}

Status concat(KernelContext& ctx) {
  if (ctx.num_inputs() == 0 || !ctx.has_input(0)) return ctx.fail("needs at least one input");
  const ir::Tensor& first = ctx.input(0);
  const DType dtype = first.dtype();
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.fail("input ", i, " is missing");
    if (ctx.input(i).dtype() != dtype) {
      return ctx.fail("input ", i, " is ", dtype_name(ctx.input(i).dtype()), ", input 0 is ",
                      dtype_name(dtype));
    }
  }
  if (dtype == DType::kString) return with_string_codes(ctx, concat);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, dtype));
  const auto rank = static_cast<int64_t>(first.rank());
  if (rank == 0) return ctx.fail("cannot concatenate scalars");
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 1));
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, rank));
  const auto ax = static_cast<size_t>(axis);
  std::vector<int64_t> out_dims = first.dims();
  out_dims[ax] = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const auto& d = ctx.input(i).dims();
    if (static_cast<int64_t>(d.size()) != rank) {
      return ctx.fail("input ", i, " has rank ", d.size(), ", input 0 has rank ", rank);
    }
    for (size_t k = 0; k < d.size(); ++k) {
      if (k != ax && d[k] != first.dims()[k]) {
        return ctx.fail("input ", i, " has dim ", k, " = ", d[k], ", input 0 has ",
                        first.dims()[k]);
      }
    }
    out_dims[ax] += d[ax];
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, dtype, out_dims));
  const size_t es = element_size(dtype);
  const int64_t outer = product(out_dims, 0, ax);
  const int64_t total = product(out_dims, ax, out_dims.size());
  int64_t offset = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    const ir::Tensor& in = ctx.input(i);
    const int64_t inner = product(in.dims(), ax, in.dims().size());
    copy_rows(ctx.pool(), es, outer, inner, in.raw_data(), inner,
              y->mutable_raw_data() + static_cast<size_t>(offset) * es, total);
    offset += inner;
  }
  return Status::ok_status();
}

Status split(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kString) return with_string_codes(ctx, split);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  const auto rank = static_cast<int64_t>(x.rank());
  if (rank == 0) return ctx.fail("cannot split a scalar");
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 0));
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, rank));
  const auto ax = static_cast<size_t>(axis);
  const size_t es = element_size(x.dtype());
  const int64_t outer = product(x.dims(), 0, ax);
  const int64_t total = product(x.dims(), ax, x.dims().size());
  const int64_t inner_unit = product(x.dims(), ax + 1, x.dims().size());
  int64_t offset = 0;  // along the split dim
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    MIXQ_ASSIGN_OR_RETURN(std::vector<int64_t> dims, inferred_dims(ctx, i));
    if (dims.size() != x.rank() || offset + dims[ax] > x.dims()[ax]) {
      return internal_error(ctx.node().describe(), ": output ", i, " shape ",
                            ir::dims_to_string(dims), " does not fit the input");
    }
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(i, x.dtype(), dims));
    const int64_t inner = dims[ax] * inner_unit;
    copy_rows(ctx.pool(), es, outer, inner,
              x.raw_data() + static_cast<size_t>(offset * inner_unit) * es, total,
              y->mutable_raw_data(), inner);
    offset += dims[ax];
  }
  if (offset != x.dims()[ax]) {
    return internal_error(ctx.node().describe(), ": outputs cover ", offset, " of ", x.dims()[ax],
                          " entries of the split dim");
  }
  return Status::ok_status();
}

}  // namespace

void register_concat_split_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Concat", 1, 21, TypeSet::any(), 0, concat});
  out.push_back({"", "Split", 1, 21, TypeSet::any(), 0, split});
}

}  // namespace mixq::exec
