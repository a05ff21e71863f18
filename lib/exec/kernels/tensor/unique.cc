// ONNX Unique-11: the distinct elements of the flattened input, or the distinct slices along
// `axis`, sorted ascending (sorted = 1, the default) or in order of first occurrence; with the
// optional outputs indices (first occurrence of each), inverse_indices (which unique entry each
// input element or slice is) and counts. Values compare numerically: -0.0 equals 0.0 and all NaNs
// are one value, greater than any number. Strings compare as strings (through rank codes).
#include <algorithm>
#include <cmath>
#include <numeric>

#include "kernels/tensor/tensor_kernels.h"
#include "kernels/tensor/tensor_util.h"

namespace mixq::exec {
namespace {

// -1, 0 or 1: a total order in which NaN is one value above every number.
template <typename C>
inline int compare(C a, C b) {
  if constexpr (std::is_floating_point_v<C>) {
    const bool na = std::isnan(a), nb = std::isnan(b);
    if (na || nb) return na == nb ? 0 : (na ? 1 : -1);
  }
  return a < b ? -1 : (b < a ? 1 : 0);
}

Status unique(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kString) return with_string_codes(ctx, unique, /*by_rank=*/true);
  MIXQ_ASSIGN_OR_RETURN(int64_t sorted, ctx.node().attr_int("sorted", 1));
  const bool has_axis = ctx.node().attr("axis") != nullptr;
  std::vector<int64_t> dims = has_axis ? x.dims() : std::vector<int64_t>{x.numel()};
  int64_t axis = 0;
  if (has_axis) {
    MIXQ_ASSIGN_OR_RETURN(axis, ctx.node().attr_int("axis", 0));
    MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, static_cast<int64_t>(x.rank())));
  }
  const auto ax = static_cast<size_t>(axis);
  int64_t outer = 1, inner = 1;
  for (size_t k = 0; k < ax; ++k) outer *= dims[k];
  for (size_t k = ax + 1; k < dims.size(); ++k) inner *= dims[k];
  const int64_t n = dims[ax];
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    const S* p = x.data<S>();
    // Lexicographic comparison of slices a and b along the axis.
    const auto cmp = [&](int64_t a, int64_t b) {
      for (int64_t o = 0; o < outer; ++o) {
        const S* ra = p + (o * n + a) * inner;
        const S* rb = p + (o * n + b) * inner;
        for (int64_t i = 0; i < inner; ++i) {
          const int c = compare(load(ra[i]), load(rb[i]));
          if (c != 0) return c;
        }
      }
      return 0;
    };
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::iota(order.begin(), order.end(), 0);
    // Stable: the first slice of each run of equal ones is the first occurrence.
    std::stable_sort(order.begin(), order.end(),
                     [&](int64_t a, int64_t b) { return cmp(a, b) < 0; });
    std::vector<int64_t> first;                             // first occurrence per unique entry
    std::vector<int64_t> counts;                            // per unique entry
    std::vector<int64_t> group(static_cast<size_t>(n), 0);  // sorted unique id per slice
    for (size_t r = 0; r < order.size(); ++r) {
      if (r == 0 || cmp(order[r - 1], order[r]) != 0) {
        first.push_back(order[r]);
        counts.push_back(0);
      }
      group[static_cast<size_t>(order[r])] = static_cast<int64_t>(first.size()) - 1;
      ++counts.back();
    }
    const auto u = static_cast<int64_t>(first.size());
    // Position of each sorted unique id in the output.
    std::vector<int64_t> slot(static_cast<size_t>(u));
    std::iota(slot.begin(), slot.end(), 0);
    if (sorted == 0) {
      std::vector<int64_t> by_first(static_cast<size_t>(u));
      std::iota(by_first.begin(), by_first.end(), 0);
      std::sort(by_first.begin(), by_first.end(), [&](int64_t a, int64_t b) {
        return first[static_cast<size_t>(a)] < first[static_cast<size_t>(b)];
      });
      for (int64_t s = 0; s < u; ++s)
        slot[static_cast<size_t>(by_first[static_cast<size_t>(s)])] = s;
    }
    std::vector<int64_t> y_dims = dims;
    y_dims[ax] = u;
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), y_dims));
    S* yp = y->mutable_data<S>();
    std::vector<int64_t> out_first(static_cast<size_t>(u)), out_counts(static_cast<size_t>(u));
    for (int64_t g = 0; g < u; ++g) {
      const int64_t s = slot[static_cast<size_t>(g)];
      out_first[static_cast<size_t>(s)] = first[static_cast<size_t>(g)];
      out_counts[static_cast<size_t>(s)] = counts[static_cast<size_t>(g)];
    }
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t s = 0; s < u; ++s) {
        const S* from = p + (o * n + out_first[static_cast<size_t>(s)]) * inner;
        std::copy(from, from + inner, yp + (o * u + s) * inner);
      }
    }
    const auto write = [&](size_t i, const std::vector<int64_t>& v) -> Status {
      if (i >= ctx.num_outputs() || !ctx.has_output(i)) return Status::ok_status();
      MIXQ_ASSIGN_OR_RETURN(ir::Tensor * t,
                            ctx.output(i, DType::kInt64, {static_cast<int64_t>(v.size())}));
      std::copy(v.begin(), v.end(), t->mutable_data<int64_t>());
      return Status::ok_status();
    };
    std::vector<int64_t> inverse(static_cast<size_t>(n));
    for (int64_t j = 0; j < n; ++j) {
      inverse[static_cast<size_t>(j)] = slot[static_cast<size_t>(group[static_cast<size_t>(j)])];
    }
    MIXQ_RETURN_IF_ERROR(write(1, out_first));
    MIXQ_RETURN_IF_ERROR(write(2, inverse));
    return write(3, out_counts);
  });
}

}  // namespace

void register_unique_kernels(std::vector<KernelDef>& out) {
  out.push_back(
      {"", "Unique", 11, 21, types::kNumeric | types::kBool | TypeSet{DType::kString}, 0, unique});
}

}  // namespace mixq::exec
