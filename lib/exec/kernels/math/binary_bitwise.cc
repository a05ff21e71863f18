// ONNX bit operations on integers, with multidirectional broadcasting: BitShift-11 (unsigned
// types; direction "LEFT" or "RIGHT"; shifting by the bit width or more gives 0, as numpy does,
// where C++ shifts would be undefined), BitwiseAnd/BitwiseOr/BitwiseXor-18 and BitwiseNot-18.
#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

enum class Op { kAnd, kOr, kXor };

template <typename Body>
Status integer_binary(KernelContext& ctx, Body body) {
  const ir::Tensor& a = ctx.input(0);
  const ir::Tensor& b = ctx.input(1);
  if (a.dtype() != b.dtype()) {
    return ctx.fail("input types differ: ", dtype_name(a.dtype()), " and ", dtype_name(b.dtype()));
  }
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, Broadcast::make(ctx, {a.dims(), b.dims()}));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * out, ctx.output(0, a.dtype(), bc.out_dims()));
  return visit_dtype(a.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_integral_v<S> && !std::is_same_v<S, bool>) {
      return body(S{}, bc, a.data<S>(), b.data<S>(), out->mutable_data<S>());
    } else {
      return ctx.fail(dtype_name(a.dtype()), " inputs are not supported");
    }
  });
}

template <Op op>
Status bitwise(KernelContext& ctx) {
  return integer_binary(
      ctx, [&](auto tag, const Broadcast& bc, const auto* a, const auto* b, auto* out) -> Status {
        using T = decltype(tag);
        binary_map(ctx.pool(), bc, a, b, out, [](T u, T v) {
          if constexpr (op == Op::kAnd) return static_cast<T>(u & v);
          if constexpr (op == Op::kOr) return static_cast<T>(u | v);
          if constexpr (op == Op::kXor) return static_cast<T>(u ^ v);
        });
        return Status::ok_status();
      });
}

Status bit_shift(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(std::string_view direction, string_attr(ctx, "direction", ""));
  if (direction != "LEFT" && direction != "RIGHT") {
    return ctx.fail("attribute direction is '", direction, "', expected 'LEFT' or 'RIGHT'");
  }
  const bool left = direction == "LEFT";
  return integer_binary(
      ctx, [&](auto tag, const Broadcast& bc, const auto* a, const auto* b, auto* out) -> Status {
        using T = decltype(tag);
        if constexpr (std::is_signed_v<T>) {
          return ctx.fail("signed inputs are not supported (BitShift takes unsigned integers)");
        } else {
          constexpr T kBits = static_cast<T>(sizeof(T) * 8);
          if (left) {
            binary_map(ctx.pool(), bc, a, b, out,
                       [](T u, T s) { return s >= kBits ? T(0) : static_cast<T>(u << s); });
          } else {
            binary_map(ctx.pool(), bc, a, b, out,
                       [](T u, T s) { return s >= kBits ? T(0) : static_cast<T>(u >> s); });
          }
          return Status::ok_status();
        }
      });
}

Status bitwise_not(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_integral_v<S> && !std::is_same_v<S, bool>) {
      map_values<S, S>(ctx.pool(), x, *y, [](S v) { return static_cast<S>(~v); });
      return Status::ok_status();
    } else {
      return ctx.fail(dtype_name(x.dtype()), " input is not supported");
    }
  });
}

}  // namespace

void register_bitwise_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "BitShift", 11, 21, kUnsignedInts, 0, bit_shift});
  out.push_back({"", "BitwiseAnd", 18, 21, kInts, 0, bitwise<Op::kAnd>});
  out.push_back({"", "BitwiseOr", 18, 21, kInts, 0, bitwise<Op::kOr>});
  out.push_back({"", "BitwiseXor", 18, 21, kInts, 0, bitwise<Op::kXor>});
  out.push_back({"", "BitwiseNot", 18, 21, kInts, 0, bitwise_not});
}

}  // namespace mixq::exec
