// ONNX variadic elementwise ops over 1..N inputs: Min/Max-1/6/8/12/13 and Sum/Mean-1/6/8/13.
// From opset 8 the inputs broadcast (numpy rules); before, they must all have one shape.
// Min/Max propagate NaN (as numpy's minimum/maximum and ONNX Runtime); Sum and Mean accumulate
// float16/bfloat16 in float32 and round once.
#include <algorithm>

#include "kernels/common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

enum class Op { kMin, kMax, kSum, kMean };

template <Op op, typename C>
inline C combine(C a, C b) {
  if constexpr (op == Op::kMin) return (a != a || a <= b) ? a : b;  // a != a: a is NaN
  if constexpr (op == Op::kMax) return (a != a || a >= b) ? a : b;
  if constexpr (op == Op::kSum || op == Op::kMean) return static_cast<C>(a + b);
}

template <Op op, typename S>
void run_typed(KernelContext& ctx, const Broadcast& bc, ir::Tensor& out) {
  using C = Compute<S>;
  const size_t n_in = ctx.num_inputs();
  std::vector<const S*> in(n_in);
  for (size_t k = 0; k < n_in; ++k) in[k] = ctx.input(k).data<S>();
  S* y = out.mutable_data<S>();
  const C count = static_cast<C>(n_in);
  bc.for_each(ctx.pool(), [&](int64_t o, const int64_t* offs, const int64_t* step, int64_t n) {
    // Blocks of a stack buffer, one input at a time, so each inner loop is a plain vector loop.
    constexpr int64_t kBlock = 512;
    C acc[kBlock];
    for (int64_t start = 0; start < n; start += kBlock) {
      const int64_t m = std::min(kBlock, n - start);
      for (size_t k = 0; k < n_in; ++k) {
        const S* p = in[k] + offs[k] + start * step[k];
        if (step[k] == 1) {
          if (k == 0) {
            for (int64_t i = 0; i < m; ++i) acc[i] = load(p[i]);
          } else {
            for (int64_t i = 0; i < m; ++i) acc[i] = combine<op>(acc[i], load(p[i]));
          }
        } else {
          const C v = load(p[0]);
          if (k == 0) {
            for (int64_t i = 0; i < m; ++i) acc[i] = v;
          } else {
            for (int64_t i = 0; i < m; ++i) acc[i] = combine<op>(acc[i], v);
          }
        }
      }
      S* dst = y + o + start;
      if constexpr (op == Op::kMean) {
        for (int64_t i = 0; i < m; ++i) dst[i] = store<S>(acc[i] / count);
      } else {
        for (int64_t i = 0; i < m; ++i) dst[i] = store<S>(acc[i]);
      }
    }
  });
}

template <Op op>
Status variadic(KernelContext& ctx) {
  const size_t n_in = ctx.num_inputs();
  if (n_in == 0) return ctx.fail("needs at least one input");
  const DType dtype = ctx.input(0).dtype();
  std::vector<std::vector<int64_t>> dims;
  for (size_t k = 0; k < n_in; ++k) {
    if (!ctx.has_input(k)) return ctx.fail("input ", k, " is missing");
    const ir::Tensor& t = ctx.input(k);
    if (t.dtype() != dtype) {
      return ctx.fail("input ", k, " is ", dtype_name(t.dtype()), ", input 0 is ",
                      dtype_name(dtype));
    }
    if (ctx.opset() < 8 && t.dims() != ctx.input(0).dims()) {
      return ctx.fail("input ", k, " has shape ", ir::dims_to_string(t.dims()), ", input 0 has ",
                      ir::dims_to_string(ctx.input(0).dims()),
                      " (inputs broadcast only from opset 8)");
    }
    dims.push_back(t.dims());
  }
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, Broadcast::make(ctx, dims));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * out, ctx.output(0, dtype, bc.out_dims()));
  return visit_dtype(dtype, [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool inputs are not supported");
    } else {
      run_typed<op, S>(ctx, bc, *out);
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_variadic_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "Min", 1, 11, kFloats, 0, variadic<Op::kMin>});
  out.push_back({"", "Min", 12, 21, kNumeric, 0, variadic<Op::kMin>});
  out.push_back({"", "Max", 1, 11, kFloats, 0, variadic<Op::kMax>});
  out.push_back({"", "Max", 12, 21, kNumeric, 0, variadic<Op::kMax>});
  out.push_back({"", "Sum", 1, 21, kFloats, 0, variadic<Op::kSum>});
  out.push_back({"", "Mean", 1, 21, kFloats, 0, variadic<Op::kMean>});
}

}  // namespace mixq::exec
