// ONNX Where-9/16: out = condition ? X : Y with multidirectional broadcasting of all three.
// Elements are copied as bytes, so every fixed-size type works (float8, complex, ...); strings
// have their own loop. The packed 4-bit types are not supported.
#include <cstring>

#include "kernels/common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

struct Bytes16 {
  uint64_t lo, hi;
};

template <typename T>
void select(ThreadPool& pool, const Broadcast& bc, const bool* c, const T* x, const T* y, T* out) {
  bc.for_each(pool, [&](int64_t o, const int64_t* in, const int64_t* step, int64_t n) {
    const bool* pc = c + in[0];
    const T* px = x + in[1];
    const T* py = y + in[2];
    T* po = out + o;
    // A branch on the condition mispredicts on real masks; for the integer carriers the
    // choice is a mask blend (mask = 0 - c is all ones when c is 1), which also vectorizes.
    auto pick = [](bool take_a, T a, T b) {
      if constexpr (std::is_integral_v<T>) {
        const T mask = static_cast<T>(T(0) - static_cast<T>(take_a));
        return static_cast<T>(b ^ ((a ^ b) & mask));
      } else {
        return take_a ? a : b;
      }
    };
    if (step[0] == 1 && step[1] == 1 && step[2] == 1) {
      for (int64_t i = 0; i < n; ++i) po[i] = pick(pc[i], px[i], py[i]);
    } else {
      const int64_t sc = step[0], sx = step[1], sy = step[2];
      for (int64_t i = 0; i < n; ++i) po[i] = pick(pc[i * sc], px[i * sx], py[i * sy]);
    }
  });
}

Status where(KernelContext& ctx) {
  const ir::Tensor& cond = ctx.input(0);
  const ir::Tensor& x = ctx.input(1);
  const ir::Tensor& y = ctx.input(2);
  if (cond.dtype() != DType::kBool) {
    return ctx.fail("condition must be bool, got ", dtype_name(cond.dtype()));
  }
  if (x.dtype() != y.dtype()) {
    return ctx.fail("X is ", dtype_name(x.dtype()), " and Y ", dtype_name(y.dtype()));
  }
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, Broadcast::make(ctx, {cond.dims(), x.dims(), y.dims()}));
  const bool* c = cond.data<bool>();
  if (x.dtype() == DType::kString) {
    std::vector<std::string> strs(static_cast<size_t>(bc.out_numel()));
    bc.for_each(ctx.pool(), [&](int64_t o, const int64_t* in, const int64_t* step, int64_t n) {
      for (int64_t i = 0; i < n; ++i) {
        const auto ix = static_cast<size_t>(in[1] + i * step[1]);
        const auto iy = static_cast<size_t>(in[2] + i * step[2]);
        strs[static_cast<size_t>(o + i)] =
            c[in[0] + i * step[0]] ? x.strings()[ix] : y.strings()[iy];
      }
    });
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor t, ir::Tensor::from_strings(bc.out_dims(), std::move(strs)));
    ctx.set_output(0, std::move(t));
    return Status::ok_status();
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * out, ctx.output(0, x.dtype(), bc.out_dims()));
  switch (element_size(x.dtype())) {
    case 1:
      select(ctx.pool(), bc, c, x.data<uint8_t>(), y.data<uint8_t>(), out->mutable_data<uint8_t>());
      break;
    case 2:
      select(ctx.pool(), bc, c, x.data<uint16_t>(), y.data<uint16_t>(),
             out->mutable_data<uint16_t>());
      break;
    case 4:
      select(ctx.pool(), bc, c, x.data<uint32_t>(), y.data<uint32_t>(),
             out->mutable_data<uint32_t>());
      break;
    case 8:
      select(ctx.pool(), bc, c, x.data<uint64_t>(), y.data<uint64_t>(),
             out->mutable_data<uint64_t>());
      break;
    case 16:
      select(ctx.pool(), bc, c, x.data<Bytes16>(), y.data<Bytes16>(), out->mutable_data<Bytes16>());
      break;
    default:
      return ctx.not_supported(dtype_name(x.dtype()), " inputs are not supported");
  }
  return Status::ok_status();
}

}  // namespace

void register_where_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Where", 9, 21, TypeSet::any(), 1, where});
}

}  // namespace mixq::exec
