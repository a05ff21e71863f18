#include "kernels/math/math_common.h"

#include <algorithm>

namespace mixq::exec {

Expected<std::vector<int64_t>> legacy_b_dims(const KernelContext& ctx) {
  const auto& a = ctx.input(0).dims();
  const auto& b = ctx.input(1).dims();
  MIXQ_ASSIGN_OR_RETURN(int64_t broadcast, ctx.node().attr_int("broadcast", 0));
  if (broadcast == 0) {
    if (a != b) {
      return ctx.fail("shapes ", ir::dims_to_string(a), " and ", ir::dims_to_string(b),
                      " differ and attribute broadcast is 0");
    }
    return b;
  }
  const auto rank = static_cast<int64_t>(a.size());
  const auto b_rank = static_cast<int64_t>(b.size());
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", rank - b_rank));
  if (axis < 0) axis += rank;
  if (axis < 0 || axis + b_rank > rank) {
    return ctx.fail("axis ", axis, " does not fit B ", ir::dims_to_string(b), " into A ",
                    ir::dims_to_string(a));
  }
  std::vector<int64_t> placed(a.size(), 1);
  std::copy(b.begin(), b.end(), placed.begin() + axis);
  return placed;
}

Expected<Broadcast> binary_broadcast(const KernelContext& ctx, bool legacy) {
  const auto& a = ctx.input(0).dims();
  if (!legacy) return Broadcast::make(ctx, {a, ctx.input(1).dims()});
  MIXQ_ASSIGN_OR_RETURN(std::vector<int64_t> b, legacy_b_dims(ctx));
  MIXQ_ASSIGN_OR_RETURN(Broadcast bc, Broadcast::make(ctx, {a, b}));
  // The legacy rule only broadcasts B: the result keeps A's shape.
  if (bc.out_dims() != a) {
    return ctx.fail("B ", ir::dims_to_string(ctx.input(1).dims()), " does not broadcast to A ",
                    ir::dims_to_string(a), " (attribute broadcast broadcasts B only)");
  }
  return bc;
}

Expected<std::string_view> string_attr(const KernelContext& ctx, std::string_view name,
                                       std::string_view fallback) {
  const ir::Attribute* a = ctx.node().attr(name);
  if (a == nullptr) return fallback;
  if (a->type != ir::AttrType::kString) {
    return ctx.fail("attribute '", name, "' is ", ir::attr_type_name(a->type), ", expected string");
  }
  return std::string_view(a->s);
}

Expected<int64_t> normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank) {
  if (axis < -rank || axis >= rank) {
    return ctx.fail("axis ", axis, " is out of range for rank ", rank);
  }
  return axis < 0 ? axis + rank : axis;
}

AxisView axis_view(const std::vector<int64_t>& dims, int64_t axis, bool flatten_tail) {
  AxisView v;
  for (int64_t k = 0; k < static_cast<int64_t>(dims.size()); ++k) {
    const int64_t d = dims[static_cast<size_t>(k)];
    if (k < axis) {
      v.outer *= d;
    } else if (k == axis || flatten_tail) {
      v.len *= d;
    } else {
      v.inner *= d;
    }
  }
  return v;
}

}  // namespace mixq::exec
