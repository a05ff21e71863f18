// ONNX MatMulInteger-10: Y = (A - a_zero_point) @ (B - b_zero_point) in int32 (numpy matmul
// shapes and batch broadcasting; the products never overflow, the int32 sums wrap).
// ONNX QLinearMatMul-10/21: y = saturate(round_half_even(acc * a_scale * b_scale / y_scale) +
// y_zero_point) with acc the MatMulInteger result, requantized as the onnx reference computes it
// (quant_common.h: requantize). 21 allows float16/bfloat16 scales.
// Zero points (and QLinearMatMul's a/b scales) are per tensor, per row of A ([M] or
// [batch..., M, 1]) and per column of B ([N] or [batch..., 1, N]); y's are per tensor. The
// float8 variants of QLinearMatMul-21 have no integer accumulation and no kernel here.
// The integer products run on Eigen's int32 GEMM.
#include "kernels/gemm.h"
#include "kernels/quant/quant_common.h"
#include "kernels/quant/quant_kernels.h"

namespace mixq::exec {
namespace {

// The operands with 1-D promotion (A [K] -> [1, K], B [K] -> [K, 1]) and their batch layout.
struct MatmulShape {
  std::vector<int64_t> ad, bd;  // promoted dims
  int64_t M = 0, K = 0, N = 0;
  int64_t a_mats = 1, b_mats = 1;     // matrices in A and B
  std::vector<int64_t> a_off, b_off;  // per output batch: the A and B matrix it uses
};

Expected<MatmulShape> matmul_shape(const KernelContext& ctx, const ir::Tensor& a,
                                   const ir::Tensor& b) {
  MatmulShape s;
  s.ad = a.dims();
  s.bd = b.dims();
  if (s.ad.empty() || s.bd.empty()) return ctx.fail("matmul operands must have rank >= 1");
  if (s.ad.size() == 1) s.ad.insert(s.ad.begin(), 1);
  if (s.bd.size() == 1) s.bd.push_back(1);
  s.M = s.ad[s.ad.size() - 2];
  s.K = s.ad.back();
  s.N = s.bd.back();
  if (s.bd[s.bd.size() - 2] != s.K) {
    return ctx.fail("inner dims differ: ", ir::dims_to_string(a.dims()), " x ",
                    ir::dims_to_string(b.dims()));
  }
  const std::vector<int64_t> a_batch(s.ad.begin(), s.ad.end() - 2);
  const std::vector<int64_t> b_batch(s.bd.begin(), s.bd.end() - 2);
  for (int64_t d : a_batch) s.a_mats *= d;
  for (int64_t d : b_batch) s.b_mats *= d;
  MIXQ_ASSIGN_OR_RETURN(Broadcast bb, Broadcast::make(ctx, {a_batch, b_batch}));
  s.a_off.resize(static_cast<size_t>(bb.out_numel()));
  s.b_off.resize(static_cast<size_t>(bb.out_numel()));
  ThreadPool serial(1);
  bb.for_each(serial, [&](int64_t o, const int64_t* in, const int64_t* step, int64_t n) {
    for (int64_t i = 0; i < n; ++i) {
      s.a_off[static_cast<size_t>(o + i)] = in[0] + i * step[0];
      s.b_off[static_cast<size_t>(o + i)] = in[1] + i * step[1];
    }
  });
  return s;
}

// Which entry of a per-row (A) or per-column (B) parameter applies to matrix `mat`, line `r`:
// index = mat * mat_stride + r * line_stride.
struct LineParams {
  int64_t mat_stride = 0;
  int64_t line_stride = 0;
};

// `p` against operand dims `dims` (promoted, rank >= 2, original rank `rank`) whose lines (rows
// of A: dim -2, columns of B: dim -1) number `lines`.
Expected<LineParams> line_params(const KernelContext& ctx, const ir::Tensor& p,
                                 const std::vector<int64_t>& dims, size_t rank, bool columns,
                                 const char* what) {
  if (p.numel() == 1 && p.rank() <= 1) return LineParams{};
  const int64_t lines = columns ? dims.back() : dims[dims.size() - 2];
  if (p.rank() == 1 && p.dims()[0] == lines) return LineParams{0, 1};
  // [batch..., M, 1] for A, [batch..., 1, N] for B, with A's / B's batch dims or all ones.
  std::vector<int64_t> want = dims;
  want[dims.size() - (columns ? 2 : 1)] = 1;
  if (p.rank() == rank && rank >= 2 && p.dims() == want) return LineParams{lines, 1};
  std::vector<int64_t> ones = want;
  for (size_t k = 0; k + 2 < ones.size(); ++k) ones[k] = 1;
  if (p.rank() == rank && rank >= 2 && p.dims() == ones) return LineParams{0, 1};
  return ctx.fail(what, " has shape ", ir::dims_to_string(p.dims()), ": expected a scalar, [",
                  lines, "] or ", ir::dims_to_string(want), " (per ", columns ? "column" : "row",
                  ")");
}

// The operand as int32 minus its zero point: A - zp per row, or B - zp per column.
template <typename T>
void subtract_zero_points(ThreadPool& pool, const T* x, int64_t mats, int64_t rows, int64_t cols,
                          const int32_t* zp, LineParams lp, bool columns, int32_t* out) {
  const int64_t lines = mats * rows;
  pool.parallel_for(lines, ThreadPool::grain_for(lines, std::max<int64_t>(1, 4096 / (cols + 1))),
                    [&](int64_t l0, int64_t l1) {
                      for (int64_t l = l0; l < l1; ++l) {
                        const int64_t m = l / rows;
                        const int64_t r = l % rows;
                        const T* src = x + l * cols;
                        int32_t* dst = out + l * cols;
                        if (columns) {
                          const int32_t* z = zp + m * lp.mat_stride;
                          for (int64_t c = 0; c < cols; ++c) {
                            dst[c] = static_cast<int32_t>(src[c]) - z[c * lp.line_stride];
                          }
                        } else {
                          const int32_t z = zp[m * lp.mat_stride + r * lp.line_stride];
                          for (int64_t c = 0; c < cols; ++c) {
                            dst[c] = static_cast<int32_t>(src[c]) - z;
                          }
                        }
                      }
                    });
}

Expected<std::vector<int32_t>> operand_int32(const KernelContext& ctx, ThreadPool& pool,
                                             const ir::Tensor& x, int64_t mats, int64_t rows,
                                             int64_t cols, const std::vector<int32_t>& zp,
                                             LineParams lp, bool columns) {
  std::vector<int32_t> out(static_cast<size_t>(x.numel()));
  if (x.dtype() == DType::kInt8) {
    subtract_zero_points(pool, x.data<int8_t>(), mats, rows, cols, zp.data(), lp, columns,
                         out.data());
  } else if (x.dtype() == DType::kUint8) {
    subtract_zero_points(pool, x.data<uint8_t>(), mats, rows, cols, zp.data(), lp, columns,
                         out.data());
  } else {
    return ctx.fail("operand type ", dtype_name(x.dtype()), " is not int8 or uint8");
  }
  return out;
}

// Zero point values (zeros when absent) of the operand's type.
Expected<std::vector<int32_t>> zero_points(const KernelContext& ctx, const ir::Tensor* zp,
                                           DType operand, const char* what) {
  if (zp == nullptr) return std::vector<int32_t>{0};
  if (zp->dtype() != operand) {
    return ctx.fail(what, " is ", dtype_name(zp->dtype()), ", expected ", dtype_name(operand));
  }
  return quant::zero_point_values(ctx, *zp, what);
}

// C = (A - a_zp) @ (B - b_zp), int32, one M x N matrix per output batch.
Expected<std::vector<int32_t>> integer_matmul(KernelContext& ctx, const MatmulShape& s,
                                              const ir::Tensor& a, const ir::Tensor* a_zp,
                                              const ir::Tensor& b, const ir::Tensor* b_zp,
                                              LineParams* a_lp_out, LineParams* b_lp_out) {
  MIXQ_ASSIGN_OR_RETURN(std::vector<int32_t> za, zero_points(ctx, a_zp, a.dtype(), "a_zero_point"));
  MIXQ_ASSIGN_OR_RETURN(std::vector<int32_t> zb, zero_points(ctx, b_zp, b.dtype(), "b_zero_point"));
  LineParams a_lp, b_lp;
  if (a_zp) {
    MIXQ_ASSIGN_OR_RETURN(a_lp, line_params(ctx, *a_zp, s.ad, a.rank(), false, "a_zero_point"));
  }
  if (b_zp) {
    MIXQ_ASSIGN_OR_RETURN(b_lp, line_params(ctx, *b_zp, s.bd, b.rank(), true, "b_zero_point"));
  }
  if (a_lp_out) *a_lp_out = a_lp;
  if (b_lp_out) *b_lp_out = b_lp;
  ThreadPool& pool = ctx.pool();
  MIXQ_ASSIGN_OR_RETURN(std::vector<int32_t> a32,
                        operand_int32(ctx, pool, a, s.a_mats, s.M, s.K, za, a_lp, false));
  MIXQ_ASSIGN_OR_RETURN(std::vector<int32_t> b32,
                        operand_int32(ctx, pool, b, s.b_mats, s.K, s.N, zb, b_lp, true));
  const auto batches = static_cast<int64_t>(s.a_off.size());
  std::vector<int32_t> c(static_cast<size_t>(batches * s.M * s.N));
  const int64_t M = s.M, N = s.N, K = s.K;
  auto one = [&](int64_t i, ThreadPool* p) {
    gemm<int32_t>(p, M, N, K, 1, a32.data() + s.a_off[static_cast<size_t>(i)] * M * K, K, false,
                  b32.data() + s.b_off[static_cast<size_t>(i)] * K * N, N, false, 0,
                  c.data() + i * M * N, N);
  };
  if (batches > 1 && M * N * K < (int64_t{1} << 20)) {
    pool.parallel_for(batches, ThreadPool::grain_for(batches, 1), [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) one(i, nullptr);
    });
  } else {
    for (int64_t i = 0; i < batches; ++i) one(i, &pool);
  }
  return c;
}

Status matmul_integer(KernelContext& ctx) {
  const ir::Tensor& a = ctx.input(0);
  const ir::Tensor& b = ctx.input(1);
  MIXQ_ASSIGN_OR_RETURN(MatmulShape s, matmul_shape(ctx, a, b));
  MIXQ_ASSIGN_OR_RETURN(
      std::vector<int32_t> c,
      integer_matmul(ctx, s, a, ctx.input_or_null(2), b, ctx.input_or_null(3), nullptr, nullptr));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0));
  std::copy(c.begin(), c.end(), y->mutable_data<int32_t>());
  return Status::ok_status();
}

Status qlinear_matmul(KernelContext& ctx) {
  const ir::Tensor& a = ctx.input(0);
  const ir::Tensor& a_scale = ctx.input(1);
  const ir::Tensor& b = ctx.input(3);
  const ir::Tensor& b_scale = ctx.input(4);
  const ir::Tensor& y_scale = ctx.input(6);
  const ir::Tensor& y_zp = ctx.input(7);
  for (const ir::Tensor* t : {&a_scale, &b_scale, &y_scale}) {
    const DType d = t->dtype();
    const bool ok = ctx.opset() < 21
                        ? d == DType::kFloat32
                        : (d == DType::kFloat32 || d == DType::kFloat16 || d == DType::kBFloat16);
    if (!ok) return ctx.fail("scale of type ", dtype_name(d), " at opset ", ctx.opset());
  }
  if (y_scale.numel() != 1 || y_zp.numel() != 1) {
    return ctx.fail("y_scale and y_zero_point must be per tensor, have shapes ",
                    ir::dims_to_string(y_scale.dims()), " and ", ir::dims_to_string(y_zp.dims()));
  }
  MIXQ_ASSIGN_OR_RETURN(MatmulShape s, matmul_shape(ctx, a, b));
  LineParams a_lp, b_lp;
  MIXQ_ASSIGN_OR_RETURN(std::vector<int32_t> c, integer_matmul(ctx, s, a, ctx.input_or_null(2), b,
                                                               ctx.input_or_null(5), &a_lp, &b_lp));
  // The scales follow the zero points' granularity rules independently.
  MIXQ_ASSIGN_OR_RETURN(LineParams as_lp,
                        line_params(ctx, a_scale, s.ad, a.rank(), false, "a_scale"));
  MIXQ_ASSIGN_OR_RETURN(LineParams bs_lp,
                        line_params(ctx, b_scale, s.bd, b.rank(), true, "b_scale"));
  const std::vector<float> sa = quant::scale_values(a_scale);
  const std::vector<float> sb = quant::scale_values(b_scale);
  const float sy = quant::scale_values(y_scale)[0];
  MIXQ_ASSIGN_OR_RETURN(std::vector<int32_t> zy,
                        quant::zero_point_values(ctx, y_zp, "y_zero_point"));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0));
  if (y->dtype() != DType::kInt8 && y->dtype() != DType::kUint8) {
    return ctx.fail("y has type ", dtype_name(y->dtype()), ", expected int8 or uint8");
  }
  const quant::IntRange r = quant::int_range(y->dtype());
  const int64_t M = s.M, N = s.N;
  const auto rows = static_cast<int64_t>(s.a_off.size()) * M;
  const bool i8 = y->dtype() == DType::kInt8;
  void* out = y->mutable_raw_data();
  ctx.pool().parallel_for(
      rows, ThreadPool::grain_for(rows, std::max<int64_t>(1, 4096 / (N + 1))),
      [&](int64_t r0, int64_t r1) {
        for (int64_t row = r0; row < r1; ++row) {
          const auto batch = static_cast<size_t>(row / M);
          const int64_t m = row % M;
          const float a_s =
              sa[static_cast<size_t>(s.a_off[batch] * as_lp.mat_stride + m * as_lp.line_stride)];
          const float* b_s = sb.data() + s.b_off[batch] * bs_lp.mat_stride;
          for (int64_t n = 0; n < N; ++n) {
            const float mult = quant::requant_multiplier(a_s, b_s[n * bs_lp.line_stride], sy);
            const int32_t q =
                quant::requantize(c[static_cast<size_t>(row * N + n)], mult, zy[0], r);
            if (i8) {
              static_cast<int8_t*>(out)[row * N + n] = static_cast<int8_t>(q);
            } else {
              static_cast<uint8_t*>(out)[row * N + n] = static_cast<uint8_t>(q);
            }
          }
        }
      });
  return Status::ok_status();
}

}  // namespace

void register_matmul_integer_kernels(std::vector<KernelDef>& out) {
  const TypeSet i8{DType::kInt8, DType::kUint8};
  out.push_back({"", "MatMulInteger", 10, 21, i8, 0, matmul_integer});
  out.push_back({"", "QLinearMatMul", 10, 21, i8, 0, qlinear_matmul});
}

}  // namespace mixq::exec
