// ONNX MatMul-1/9/13: numpy matmul. 1-D operands are promoted (A: [K] -> [1, K], B: [K] ->
// [K, 1]) and the added dim removed from the result; batch dims broadcast. float16/bfloat16 are
// computed in float32.
#include <algorithm>

#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/math/math_kernels.h"
#include "kernels/packed_weights.h"

namespace mixq::exec {
namespace {

// Converts a float16/bfloat16 tensor to float32 (other types are not converted).
template <typename S>
std::vector<float> to_float(const ir::Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  const S* p = t.data<S>();
  for (size_t i = 0; i < out.size(); ++i) out[i] = load(p[i]);
  return out;
}

template <typename T>
Status matmul_typed(KernelContext& ctx, const T* a, const T* b, T* c) {
  std::vector<int64_t> ad = ctx.input(0).dims();
  std::vector<int64_t> bd = ctx.input(1).dims();
  if (ad.empty() || bd.empty()) return ctx.fail("MatMul inputs must have rank >= 1");
  if (ad.size() == 1) ad.insert(ad.begin(), 1);
  if (bd.size() == 1) bd.push_back(1);
  const int64_t M = ad[ad.size() - 2];
  const int64_t K = ad.back();
  const int64_t N = bd.back();
  if (bd[bd.size() - 2] != K) {
    return ctx.fail("inner dims differ: ", ir::dims_to_string(ctx.input(0).dims()), " x ",
                    ir::dims_to_string(ctx.input(1).dims()));
  }
  const std::vector<int64_t> a_batch(ad.begin(), ad.end() - 2);
  const std::vector<int64_t> b_batch(bd.begin(), bd.end() - 2);
  MIXQ_ASSIGN_OR_RETURN(Broadcast bb, Broadcast::make(ctx, {a_batch, b_batch}));
  const int64_t batches = bb.out_numel();
  // Offsets (in matrices) of A and B for every output batch.
  std::vector<int64_t> a_off(static_cast<size_t>(batches)), b_off(static_cast<size_t>(batches));
  {
    ThreadPool serial(1);
    bb.for_each(serial, [&](int64_t o, const int64_t* in, const int64_t* step, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        a_off[static_cast<size_t>(o + i)] = in[0] + i * step[0];
        b_off[static_cast<size_t>(o + i)] = in[1] + i * step[1];
      }
    });
  }
  // B shared by every batch of a contiguous A (activations [batch, seq, K] times a weight
  // [K, N]): one product with batch * M rows, which packs the weight once.
  bool shared_b = batches > 1;
  for (int64_t i = 0; shared_b && i < batches; ++i) {
    shared_b = b_off[static_cast<size_t>(i)] == b_off[0] && a_off[static_cast<size_t>(i)] == i;
  }
  if constexpr (std::is_same_v<T, float>) {
    // A 2-D weight: packed (once when it is an initializer, else for this call), then every
    // row of every batch in one product. (A float16 weight widened into `b` is not the
    // input's data: packed for this call.)
    if ((batches == 1 || shared_b) && ctx.input(1).rank() == 2) {
      const auto make = [&] { return pack_right(b, K, N, N, false); };
      std::unique_ptr<PackedRight> fresh;
      const PackedRight* pb = packed_weight_or_fresh<PackedRight>(ctx, 1, b, 0, make, fresh);
      if (pb != nullptr) {
        gemm_packed_right(&ctx.pool(), batches * M, a, K, *pb, c, N);
        return Status::ok_status();
      }
    }
  }
  if (shared_b) {
    gemm<T>(&ctx.pool(), batches * M, N, K, T(1), a, K, false, b + b_off[0] * K * N, N, false, T(0),
            c, N);
    return Status::ok_status();
  }
  const int64_t per_gemm = M * N * K;
  if (batches > 1 && per_gemm < (int64_t{1} << 22)) {
    // Many small products (attention heads): one whole product per chunk.
    ctx.pool().parallel_for(
        batches, ThreadPool::grain_for(batches, 1), [&](int64_t b0, int64_t b1) {
          for (int64_t i = b0; i < b1; ++i) {
            gemm<T>(nullptr, M, N, K, T(1), a + a_off[static_cast<size_t>(i)] * M * K, K, false,
                    b + b_off[static_cast<size_t>(i)] * K * N, N, false, T(0), c + i * M * N, N);
          }
        });
  } else {
    for (int64_t i = 0; i < batches; ++i) {
      gemm<T>(&ctx.pool(), M, N, K, T(1), a + a_off[static_cast<size_t>(i)] * M * K, K, false,
              b + b_off[static_cast<size_t>(i)] * K * N, N, false, T(0), c + i * M * N, N);
    }
  }
  return Status::ok_status();
}

Status matmul(KernelContext& ctx) {
  const ir::Tensor& a = ctx.input(0);
  const ir::Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype()) {
    return ctx.fail("input types differ: ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0));
  return visit_dtype(a.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, Float16> || std::is_same_v<S, BFloat16>) {
      const std::vector<float> fa = to_float<S>(a);
      const std::vector<float> fb = to_float<S>(b);
      std::vector<float> fc(static_cast<size_t>(y->numel()));
      MIXQ_RETURN_IF_ERROR(matmul_typed<float>(ctx, fa.data(), fb.data(), fc.data()));
      S* out = y->mutable_data<S>();
      for (size_t i = 0; i < fc.size(); ++i) out[i] = store<S>(fc[i]);
      return Status::ok_status();
    } else if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double> ||
                         std::is_same_v<S, int32_t> || std::is_same_v<S, int64_t> ||
                         std::is_same_v<S, uint32_t> || std::is_same_v<S, uint64_t>) {
      return matmul_typed<S>(ctx, a.data<S>(), b.data<S>(), y->mutable_data<S>());
    } else {
      return ctx.fail(dtype_name(a.dtype()), " is not supported");
    }
  });
}

}  // namespace

void register_matmul_kernels(std::vector<KernelDef>& out) {
  const TypeSet t =
      types::kFloats | TypeSet{DType::kInt32, DType::kInt64, DType::kUint32, DType::kUint64};
  out.push_back({"", "MatMul", 1, 21, t, 0, matmul});
}

}  // namespace mixq::exec
