// ONNX Det-11: the determinant of each square matrix in x[*, M, M], giving a tensor of shape
// [*]. LU with partial pivoting (Eigen), computed in double for every input type so that
// float16/float32 results are rounded once.
#include <Eigen/Dense>

#include "kernels/common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

Status det(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.rank() < 2 || x.dims()[x.rank() - 1] != x.dims()[x.rank() - 2]) {
    return ctx.fail("input must be [*, M, M], got ", ir::dims_to_string(x.dims()));
  }
  const int64_t m = x.dims().back();
  const std::vector<int64_t> batch_dims(x.dims().begin(), x.dims().end() - 2);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), batch_dims));
  const int64_t batches = y->numel();
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (!is_float_storage<S>()) {
      return ctx.fail(dtype_name(x.dtype()), " input is not supported");
    } else {
      const S* px = x.data<S>();
      S* py = y->mutable_data<S>();
      ctx.pool().parallel_for(
          batches, ThreadPool::grain_for(batches, std::max<int64_t>(1, 4096 / (m * m * m + 1))),
          [&](int64_t b, int64_t e) {
            Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> a(m, m);
            for (int64_t i = b; i < e; ++i) {
              const S* src = px + i * m * m;
              for (int64_t k = 0; k < m * m; ++k) a.data()[k] = static_cast<double>(load(src[k]));
              // An empty matrix has determinant 1 (the empty product), as numpy gives.
              const double d = m == 0 ? 1.0 : a.partialPivLu().determinant();
              py[i] = store<S>(static_cast<Compute<S>>(d));
            }
          });
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_det_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Det", 11, 21, types::kFloats, 0, det});
}

}  // namespace mixq::exec
