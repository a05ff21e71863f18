// ONNX Gemm-1/6/7/9/11/13: Y = alpha * op(A) * op(B) + beta * C, with op() the transpose under
// transA/transB, A and B 2-D. C broadcasts unidirectionally to [M, N] (before opset 7 only with
// attribute broadcast = 1, otherwise it must be [M, N]); it is optional from opset 11. Runs on
// the shared blocked GEMM; float16/bfloat16 are computed in float32, and the integer types of
// Gemm-9 take only integral alpha and beta.
#include <cmath>

#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/math/math_kernels.h"
#include "kernels/packed_weights.h"

namespace mixq::exec {
namespace {

struct GemmShape {
  int64_t m, n, k;
  bool trans_a, trans_b;
  float alpha, beta;
  bool has_c;
};

// Y (in the compute type T) filled with C broadcast to [M, N].
template <typename S, typename T>
Status fill_with_c(KernelContext& ctx, const GemmShape& g, T* y) {
  const ir::Tensor& c = ctx.input(2);
  const std::vector<int64_t> mn{g.m, g.n};
  if (ctx.opset() < 7) {
    MIXQ_ASSIGN_OR_RETURN(int64_t broadcast, ctx.node().attr_int("broadcast", 0));
    if (broadcast == 0 && c.dims() != mn) {
      return ctx.fail("C has shape ", ir::dims_to_string(c.dims()), ", expected ",
                      ir::dims_to_string(mn), " (attribute broadcast is 0)");
    }
  }
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, Broadcast::make(ctx, {mn, c.dims()}));
  if (bc.out_dims() != mn || c.rank() > 2) {
    return ctx.fail("C ", ir::dims_to_string(c.dims()), " does not broadcast to ",
                    ir::dims_to_string(mn));
  }
  const S* pc = c.data<S>();
  bc.for_each(ctx.pool(), [&](int64_t o, const int64_t* in, const int64_t* step, int64_t n) {
    const S* src = pc + in[1];
    if (step[1] == 1) {
      for (int64_t i = 0; i < n; ++i) y[o + i] = static_cast<T>(load(src[i]));
    } else {
      const T v = static_cast<T>(load(src[0]));
      for (int64_t i = 0; i < n; ++i) y[o + i] = v;
    }
  });
  return Status::ok_status();
}

// op(A) * op(B) in the compute type T on a, b; y holds C (when beta applies) and the result.
template <typename S, typename T>
Status gemm_typed(KernelContext& ctx, const GemmShape& g, const T* a, const T* b, T* y) {
  T alpha = static_cast<T>(g.alpha);
  T beta = static_cast<T>(g.beta);
  if constexpr (std::is_integral_v<T>) {
    if (g.alpha != std::trunc(g.alpha) || g.beta != std::trunc(g.beta)) {
      return ctx.fail("alpha ", g.alpha, " and beta ", g.beta,
                      " must be integral for integer inputs");
    }
  }
  const bool use_c = g.has_c && g.beta != 0.0f;
  if (use_c) {
    MIXQ_RETURN_IF_ERROR((fill_with_c<S, T>(ctx, g, y)));
  } else {
    beta = T(0);
  }
  if constexpr (std::is_same_v<T, float>) {
    // B (the weight of a linear layer) packed, once when it is an initializer, else for this
    // call; A B first, then alpha and beta C, elementwise.
    // (A float16 B widened into `b` is not the input's data: packed for this call.)
    const auto make = [&] { return pack_right(b, g.k, g.n, g.trans_b ? g.k : g.n, g.trans_b); };
    std::unique_ptr<PackedRight> fresh;
    const PackedRight* pb =
        g.trans_a ? nullptr
                  : packed_weight_or_fresh<PackedRight>(ctx, 1, b, g.trans_b, make, fresh);
    if (pb != nullptr) {
      std::vector<float> ab;
      float* dst = y;
      if (use_c || alpha != 1.0f) {
        ab.resize(static_cast<size_t>(g.m * g.n));
        dst = ab.data();
      }
      gemm_packed_right(&ctx.pool(), g.m, a, g.k, *pb, dst, g.n);
      if (dst != y) {
        for (size_t i = 0; i < ab.size(); ++i) {
          y[i] = use_c ? alpha * ab[i] + beta * y[i] : alpha * ab[i];
        }
      }
      return Status::ok_status();
    }
  }
  gemm<T>(&ctx.pool(), g.m, g.n, g.k, alpha, a, g.trans_a ? g.m : g.k, g.trans_a, b,
          g.trans_b ? g.k : g.n, g.trans_b, beta, y, g.n);
  return Status::ok_status();
}

template <typename S>
std::vector<float> widen(const ir::Tensor& t) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  const S* p = t.data<S>();
  for (size_t i = 0; i < out.size(); ++i) out[i] = load(p[i]);
  return out;
}

Status gemm_op(KernelContext& ctx) {
  const ir::Tensor& a = ctx.input(0);
  const ir::Tensor& b = ctx.input(1);
  if (a.rank() != 2 || b.rank() != 2) {
    return ctx.fail("A and B must be 2-D, got ", ir::dims_to_string(a.dims()), " and ",
                    ir::dims_to_string(b.dims()));
  }
  if (a.dtype() != b.dtype() || (ctx.has_input(2) && ctx.input(2).dtype() != a.dtype())) {
    return ctx.fail("A, B and C must have one type");
  }
  GemmShape g{};
  MIXQ_ASSIGN_OR_RETURN(int64_t ta, ctx.node().attr_int("transA", 0));
  MIXQ_ASSIGN_OR_RETURN(int64_t tb, ctx.node().attr_int("transB", 0));
  MIXQ_ASSIGN_OR_RETURN(g.alpha, ctx.node().attr_float("alpha", 1.0f));
  MIXQ_ASSIGN_OR_RETURN(g.beta, ctx.node().attr_float("beta", 1.0f));
  g.trans_a = ta != 0;
  g.trans_b = tb != 0;
  g.has_c = ctx.has_input(2);
  if (!g.has_c && ctx.opset() < 11) return ctx.fail("input C is required before opset 11");
  g.m = a.dims()[g.trans_a ? 1 : 0];
  g.k = a.dims()[g.trans_a ? 0 : 1];
  g.n = b.dims()[g.trans_b ? 0 : 1];
  if (b.dims()[g.trans_b ? 1 : 0] != g.k) {
    return ctx.fail("inner dims differ: A ", ir::dims_to_string(a.dims()), " (transA=", ta, "), B ",
                    ir::dims_to_string(b.dims()), " (transB=", tb, ")");
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, a.dtype(), {g.m, g.n}));
  return visit_dtype(a.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, Float16> || std::is_same_v<S, BFloat16>) {
      const std::vector<float> fa = widen<S>(a);
      const std::vector<float> fb = widen<S>(b);
      std::vector<float> fy(static_cast<size_t>(g.m * g.n));
      MIXQ_RETURN_IF_ERROR((gemm_typed<S, float>(ctx, g, fa.data(), fb.data(), fy.data())));
      S* py = y->mutable_data<S>();
      for (size_t i = 0; i < fy.size(); ++i) py[i] = store<S>(fy[i]);
      return Status::ok_status();
    } else if constexpr (std::is_same_v<S, float> || std::is_same_v<S, double> ||
                         std::is_same_v<S, int32_t> || std::is_same_v<S, int64_t> ||
                         std::is_same_v<S, uint32_t> || std::is_same_v<S, uint64_t>) {
      return gemm_typed<S, S>(ctx, g, a.data<S>(), b.data<S>(), y->mutable_data<S>());
    } else {
      return ctx.fail(dtype_name(a.dtype()), " inputs are not supported");
    }
  });
}

}  // namespace

void register_gemm_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "Gemm", 1, 8, kFloats, 0, gemm_op});
  out.push_back({"", "Gemm", 9, 21,
                 kFloats | TypeSet{DType::kInt32, DType::kInt64, DType::kUint32, DType::kUint64}, 0,
                 gemm_op});
}

}  // namespace mixq::exec
