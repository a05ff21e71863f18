// ONNX Expand-8/13: broadcasts the input to `shape` (numpy rules, the result may be larger than
// `shape`). ONNX Tile-6/13: repeats the input `repeats[k]` times along each dim k; Tile-1 takes
// scalar `tiles` and `axis` inputs and repeats along that one axis. Both are strided copies of
// the input with stride 0 on the repeated dims; any dtype.
#include <algorithm>

#include "kernels/tensor/tensor_kernels.h"
#include "kernels/tensor/tensor_util.h"

namespace mixq::exec {
namespace {

Status expand(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kString) return with_string_codes(ctx, expand);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  const ir::Tensor& shape_t = ctx.input(1);
  if (shape_t.rank() != 1) return ctx.fail("shape must be 1-D, has rank ", shape_t.rank());
  const std::vector<int64_t> shape = read_ints(shape_t);
  const size_t rank = std::max(shape.size(), x.rank());
  std::vector<int64_t> out(rank, 1), xd(rank, 1), sd(rank, 1);
  std::copy(x.dims().begin(), x.dims().end(), xd.begin() + static_cast<int64_t>(rank - x.rank()));
  std::copy(shape.begin(), shape.end(), sd.begin() + static_cast<int64_t>(rank - shape.size()));
  for (size_t k = 0; k < rank; ++k) {
    if (sd[k] < 0) return ctx.fail("shape has negative dim ", sd[k]);
    if (xd[k] != sd[k] && xd[k] != 1 && sd[k] != 1) {
      return ctx.fail("cannot expand ", ir::dims_to_string(x.dims()), " to ",
                      ir::dims_to_string(shape));
    }
    out[k] = xd[k] == 1 ? sd[k] : xd[k];
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), out));
  if (y->numel() == 0) return Status::ok_status();
  const std::vector<int64_t> xs = strides_of(xd);
  std::vector<int64_t> strides(rank);
  for (size_t k = 0; k < rank; ++k) strides[k] = xd[k] == 1 ? 0 : xs[k];
  strided_copy(ctx.pool(), element_size(x.dtype()), x.raw_data(), out, strides,
               y->mutable_raw_data());
  return Status::ok_status();
}

Status tile(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kString) return with_string_codes(ctx, tile);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  const size_t rank = x.rank();
  std::vector<int64_t> repeats(rank, 1);
  if (ctx.opset() < 6) {
    if (!ctx.has_input(1) || !ctx.has_input(2)) return ctx.fail("needs the tiles and axis inputs");
    if (ctx.input(1).numel() != 1 || ctx.input(2).numel() != 1) {
      return ctx.fail("tiles and axis must have one element each");
    }
    const int64_t tiles = ctx.input(1).element_as_int64(0);
    MIXQ_ASSIGN_OR_RETURN(int64_t axis, normalize_axis(ctx, ctx.input(2).element_as_int64(0),
                                                       static_cast<int64_t>(rank)));
    repeats[static_cast<size_t>(axis)] = tiles;
  } else {
    repeats = read_ints(ctx.input(1));
    if (ctx.input(1).rank() != 1 || repeats.size() != rank) {
      return ctx.fail("repeats has ", repeats.size(), " entries for input rank ", rank);
    }
  }
  std::vector<int64_t> out(rank), view_dims, view_strides;
  const std::vector<int64_t> xs = strides_of(x.dims());
  for (size_t k = 0; k < rank; ++k) {
    if (repeats[k] < 0) return ctx.fail("repeats has negative value ", repeats[k]);
    if (__builtin_mul_overflow(x.dims()[k], repeats[k], &out[k])) {
      return ctx.fail("output dimension ", k, " (", x.dims()[k], " x ", repeats[k],
                      ") overflows int64");
    }
    // Output index along k is t * dim + i: the view [t, i] walks it in row-major order.
    view_dims.push_back(repeats[k]);
    view_strides.push_back(0);
    view_dims.push_back(x.dims()[k]);
    view_strides.push_back(xs[k]);
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), out));
  if (y->numel() == 0) return Status::ok_status();
  strided_copy(ctx.pool(), element_size(x.dtype()), x.raw_data(), view_dims, view_strides,
               y->mutable_raw_data());
  return Status::ok_status();
}

}  // namespace

void register_expand_tile_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Expand", 8, 21, TypeSet::any(), 0, expand});
  out.push_back({"", "Tile", 1, 21, TypeSet::any(), 0, tile});
}

}  // namespace mixq::exec
