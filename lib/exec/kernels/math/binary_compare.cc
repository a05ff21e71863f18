// ONNX comparisons with bool results and multidirectional broadcasting (opsets 1-6: the legacy
// `broadcast`/`axis` rule): Equal-1/7/11/13/19 (numeric, bool, and string from 19),
// Less/Greater-1/7/9/13, LessOrEqual/GreaterOrEqual-12/16. float16/bfloat16 compare as float32;
// NaN compares unequal and unordered, as IEEE 754 says.
#include <string>

#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

enum class Op { kEqual, kLess, kLessOrEqual, kGreater, kGreaterOrEqual };

template <Op op, typename C>
inline bool compare(const C& a, const C& b) {
  if constexpr (op == Op::kEqual) return a == b;
  if constexpr (op == Op::kLess) return a < b;
  if constexpr (op == Op::kLessOrEqual) return a <= b;
  if constexpr (op == Op::kGreater) return a > b;
  if constexpr (op == Op::kGreaterOrEqual) return a >= b;
}

template <Op op>
Status compare_kernel(KernelContext& ctx) {
  const ir::Tensor& a = ctx.input(0);
  const ir::Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype()) {
    return ctx.fail("input types differ: ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  }
  // LessOrEqual/GreaterOrEqual start at 12 and never had the legacy attributes.
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, binary_broadcast(ctx, ctx.opset() < 7));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * out, ctx.output(0, DType::kBool, bc.out_dims()));
  bool* z = out->mutable_data<bool>();
  if (a.dtype() == DType::kString) {
    const auto& sa = a.strings();
    const auto& sb = b.strings();
    bc.for_each(ctx.pool(), [&](int64_t o, const int64_t* in, const int64_t* step, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        z[o + i] = compare<op>(sa[static_cast<size_t>(in[0] + i * step[0])],
                               sb[static_cast<size_t>(in[1] + i * step[1])]);
      }
    });
    return Status::ok_status();
  }
  return visit_dtype(a.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    using C = Compute<S>;
    binary_map(ctx.pool(), bc, a.data<S>(), b.data<S>(), z,
               [](C u, C v) { return compare<op, C>(u, v); });
    return Status::ok_status();
  });
}

}  // namespace

void register_compare_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  const TypeSet all = kNumeric | kBool;
  out.push_back({"", "Equal", 1, 18, all, 0, compare_kernel<Op::kEqual>});
  out.push_back(
      {"", "Equal", 19, 21, all | TypeSet{DType::kString}, 0, compare_kernel<Op::kEqual>});
  out.push_back({"", "Less", 1, 21, all, 0, compare_kernel<Op::kLess>});
  out.push_back({"", "LessOrEqual", 12, 21, all, 0, compare_kernel<Op::kLessOrEqual>});
  out.push_back({"", "Greater", 1, 21, all, 0, compare_kernel<Op::kGreater>});
  out.push_back({"", "GreaterOrEqual", 12, 21, all, 0, compare_kernel<Op::kGreaterOrEqual>});
}

}  // namespace mixq::exec
