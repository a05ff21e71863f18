// ONNX HannWindow-17, HammingWindow-17, BlackmanWindow-17 (the spec's function bodies):
//   N = size when periodic (the default), size - 1 when symmetric; x = 2 pi n / N, n < size
//   Hann:     0.5 - 0.5 cos(x)
//   Hamming:  25/46 - (1 - 25/46) cos(x)
//   Blackman: 0.42 - 0.5 cos(x) + 0.08 cos(2x)
// computed in float64 and written as output_datatype (default float32). A symmetric window of
// size 1 (N = 0) is [1], as in PyTorch and SciPy (the function body would divide 0 by 0).
#include <cmath>
#include <numbers>

#include "kernels/common.h"
#include "kernels/signal/signal_kernels.h"

namespace mixq::exec {
namespace {

enum class Window { kHann, kHamming, kBlackman };

template <Window kWindow>
Status window_kernel(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(int64_t size, scalar_int(ctx, 0, "size"));
  if (size < 0) return ctx.fail("size is ", size, ", must not be negative");
  MIXQ_ASSIGN_OR_RETURN(int64_t periodic, ctx.node().attr_int("periodic", 1));
  const int64_t denom = periodic ? size : size - 1;
  std::vector<double> v(static_cast<size_t>(size));
  for (int64_t n = 0; n < size; ++n) {
    if (denom == 0) {
      v[static_cast<size_t>(n)] = 1.0;
      continue;
    }
    const double x = 2.0 * std::numbers::pi * static_cast<double>(n) / static_cast<double>(denom);
    double w = 0.0;
    if constexpr (kWindow == Window::kHann) {
      w = 0.5 - 0.5 * std::cos(x);
    } else if constexpr (kWindow == Window::kHamming) {
      constexpr double a0 = 25.0 / 46.0;
      w = a0 - (1.0 - a0) * std::cos(x);
    } else {
      w = 0.42 - 0.5 * std::cos(x) + 0.08 * std::cos(2.0 * x);
    }
    v[static_cast<size_t>(n)] = w;
  }
  return write_generated(ctx, {size}, v);
}

}  // namespace

Status write_generated(KernelContext& ctx, const std::vector<int64_t>& dims,
                       const std::vector<double>& values) {
  MIXQ_ASSIGN_OR_RETURN(int64_t code, ctx.node().attr_int("output_datatype", 1));
  const auto dtype = dtype_from_onnx(static_cast<int32_t>(code));
  if (!dtype || !(dtype_is_float(*dtype) || dtype_is_integer(*dtype)) ||
      element_size(*dtype) == 0 || *dtype == DType::kBool) {
    return ctx.fail("output_datatype ", code, " is not a numeric type");
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, *dtype, dims));
  return visit_dtype(*dtype, [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("output_datatype bool is not a numeric type");
    } else {
      S* p = y->mutable_data<S>();
      for (size_t i = 0; i < values.size(); ++i) {
        p[i] = store<S>(static_cast<Compute<S>>(values[i]));
      }
      return Status::ok_status();
    }
  });
}

void register_window_kernels(std::vector<KernelDef>& out) {
  const TypeSet ints{DType::kInt32, DType::kInt64};
  out.push_back({"", "HannWindow", 17, 21, ints, 0, window_kernel<Window::kHann>});
  out.push_back({"", "HammingWindow", 17, 21, ints, 0, window_kernel<Window::kHamming>});
  out.push_back({"", "BlackmanWindow", 17, 21, ints, 0, window_kernel<Window::kBlackman>});
}

}  // namespace mixq::exec
