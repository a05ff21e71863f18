// ONNX DynamicQuantizeLinear-11 (uint8), computed as its function body in float32:
//   x_min = min(0, ReduceMin(x)), x_max = max(0, ReduceMax(x))
//   y_scale = (x_max - x_min) / 255
//   y_zero_point = uint8(round_half_even(clip(0 - x_min / y_scale, 0, 255)))
//   y = saturate(round_half_even(x / y_scale) + y_zero_point)            (QuantizeLinear)
// NaN in x propagates to y_scale. For x all zeros the body gives y_scale 0 and then divides 0 by 0
// and casts NaN to uint8, which the spec leaves undefined; mixq gives y_zero_point 0 and y 0.
// Implementations disagree on y_scale there (onnx/onnx#8437): the body 0 (mixq), the onnx
// reference implementation 1/255, ONNX Runtime 1.
#include <limits>

#include "kernels/quant/quant_common.h"
#include "kernels/quant/quant_kernels.h"

namespace mixq::exec {
namespace {

Status dynamic_quantize_linear(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() != DType::kFloat32) return ctx.fail("x is ", dtype_name(x.dtype()));
  const float* xp = x.data<float>();
  const int64_t n = x.numel();
  // Min and max per fixed chunk, combined in chunk order (both are exact, so this only keeps
  // NaN handling independent of the thread count).
  const int64_t grain = ThreadPool::grain_for(n, 16384);
  const int64_t chunks = n == 0 ? 0 : (n + grain - 1) / grain;
  std::vector<float> mins(static_cast<size_t>(chunks)), maxs(static_cast<size_t>(chunks));
  std::vector<char> nans(static_cast<size_t>(chunks));
  ctx.pool().parallel_for(n, grain, [&](int64_t b, int64_t e) {
    float lo = std::numeric_limits<float>::infinity();
    float hi = -lo;
    bool nan = false;
    for (int64_t i = b; i < e; ++i) {
      const float v = xp[i];
      nan |= v != v;
      lo = v < lo ? v : lo;
      hi = v > hi ? v : hi;
    }
    const auto c = static_cast<size_t>(b / grain);
    mins[c] = lo;
    maxs[c] = hi;
    nans[c] = nan;
  });
  float x_min = 0.0f;
  float x_max = 0.0f;
  bool nan = false;
  for (size_t c = 0; c < mins.size(); ++c) {
    x_min = mins[c] < x_min ? mins[c] : x_min;
    x_max = maxs[c] > x_max ? maxs[c] : x_max;
    nan |= nans[c] != 0;
  }
  const float scale = nan ? std::numeric_limits<float>::quiet_NaN() : (x_max - x_min) / 255.0f;
  float zp_f = 0.0f - x_min / scale;
  zp_f = zp_f < 0.0f ? 0.0f : (zp_f > 255.0f ? 255.0f : zp_f);  // NaN stays NaN
  zp_f = std::nearbyint(zp_f);
  const int32_t zp = zp_f == zp_f ? static_cast<int32_t>(zp_f) : 0;

  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y_scale, ctx.output(1));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y_zp, ctx.output(2));
  y_scale->mutable_data<float>()[0] = scale;
  y_zp->mutable_data<uint8_t>()[0] = static_cast<uint8_t>(zp);
  uint8_t* out = y->mutable_data<uint8_t>();
  const auto lo = static_cast<float>(0 - zp);
  const auto hi = static_cast<float>(255 - zp);
  ctx.pool().parallel_for(n, grain, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      // Clamp (integer bounds), then round half to even by adding and subtracting 1.5 * 2^23.
      float q = xp[i] / scale;
      q = q < lo ? lo : (q > hi ? hi : q);  // NaN stays NaN
      q = (q + 12582912.0f) - 12582912.0f;
      out[i] = static_cast<uint8_t>(q == q ? static_cast<int32_t>(q) + zp : zp);
    }
  });
  return Status::ok_status();
}

}  // namespace

void register_dynamic_quantize_linear_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "DynamicQuantizeLinear", 11, 21, types::kFloat32, 0, dynamic_quantize_linear});
}

}  // namespace mixq::exec
