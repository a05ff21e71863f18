// ONNX IsNaN-9/13/20 and IsInf-10/20 (detect_positive, detect_negative, both default 1): bool
// masks of floating-point inputs. The float8 types of opset 20 are classified per byte value
// through a 256-entry table.
#include <array>
#include <cmath>

#include "kernels/common.h"
#include "kernels/math/math_common.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

struct Classifier {
  bool nan = false;  // IsNaN; otherwise IsInf with the two signs below
  bool positive = true;
  bool negative = true;

  template <typename C>
  bool operator()(C v) const {
    if (nan) return std::isnan(v);
    return std::isinf(v) && (v > C(0) ? positive : negative);
  }
};

float (*float8_decoder(DType t))(uint8_t) {
  switch (t) {
    case DType::kFloat8E4M3FN:
      return float8e4m3fn_to_float;
    case DType::kFloat8E4M3FNUZ:
      return float8e4m3fnuz_to_float;
    case DType::kFloat8E5M2:
      return float8e5m2_to_float;
    case DType::kFloat8E5M2FNUZ:
      return float8e5m2fnuz_to_float;
    default:
      return nullptr;
  }
}

Status classify(KernelContext& ctx, const Classifier& c) {
  const ir::Tensor& x = ctx.input(0);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, DType::kBool, x.dims()));
  if (auto decode = float8_decoder(x.dtype())) {
    std::array<bool, 256> table;
    for (int v = 0; v < 256; ++v)
      table[static_cast<size_t>(v)] = c(decode(static_cast<uint8_t>(v)));
    const auto* in = x.data<uint8_t>();
    bool* out = y->mutable_data<bool>();
    for (int64_t i = 0, n = x.numel(); i < n; ++i) out[i] = table[in[i]];
    return Status::ok_status();
  }
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (is_float_storage<S>()) {
      map_values<S, bool>(ctx.pool(), x, *y, c);
      return Status::ok_status();
    } else {
      return ctx.fail(dtype_name(x.dtype()), " input is not supported");
    }
  });
}

Status is_nan(KernelContext& ctx) { return classify(ctx, Classifier{.nan = true}); }

Status is_inf(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(int64_t pos, ctx.node().attr_int("detect_positive", 1));
  MIXQ_ASSIGN_OR_RETURN(int64_t neg, ctx.node().attr_int("detect_negative", 1));
  return classify(ctx, Classifier{.nan = false, .positive = pos != 0, .negative = neg != 0});
}

}  // namespace

void register_isnan_isinf_kernels(std::vector<KernelDef>& out) {
  const TypeSet float8{DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2,
                       DType::kFloat8E5M2FNUZ};
  out.push_back({"", "IsNaN", 9, 19, types::kFloats, 0, is_nan});
  out.push_back({"", "IsNaN", 20, 21, types::kFloats | float8, 0, is_nan});
  out.push_back({"", "IsInf", 10, 19, types::kFloats, 0, is_inf});
  out.push_back({"", "IsInf", 20, 21, types::kFloats | float8, 0, is_inf});
}

}  // namespace mixq::exec
