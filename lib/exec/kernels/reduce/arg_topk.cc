// ONNX ArgMax/ArgMin-1/11/12/13: int64 index of the largest/smallest element along `axis`, the
// first one among equals (the last with select_last_index = 1, since 12); keepdims keeps the
// axis as size 1. NaN counts as larger and smaller than every number, so the first NaN wins.
// ONNX TopK-1/10/11: the k largest (or, since 11, smallest with largest = 0) elements along
// `axis` (default -1) and their int64 indices, best first; equal values keep the lower index
// first. k is an attribute in TopK-1 and a one-element input since 10. NaN sorts above every
// number. The output is always sorted (sorted = 0 allows any order).
#include <algorithm>
#include <cmath>

#include "kernels/common.h"
#include "kernels/reduce/reduce_kernels.h"
#include "kernels/tensor/tensor_util.h"

namespace mixq::exec {
namespace {

template <typename C>
inline bool is_nan(C v) {
  if constexpr (std::is_floating_point_v<C>) {
    return std::isnan(v);
  } else {
    (void)v;
    return false;
  }
}

// True when v replaces the current best b: strictly better (or as good, for the last index),
// or NaN. Once the best is NaN nothing replaces it.
template <bool kMax, bool kLast, typename C>
inline bool replaces(C v, C b) {
  if constexpr (kMax) {
    return kLast ? !(v < b) : !(v <= b);
  } else {
    return kLast ? !(v > b) : !(v >= b);
  }
}

template <bool kMax, bool kLast, typename S>
void arg_reduce(ThreadPool& pool, const S* x, int64_t* y, int64_t outer, int64_t n, int64_t inner) {
  using C = Compute<S>;
  if (inner == 1) {
    const int64_t grain = ThreadPool::grain_for(outer, std::max<int64_t>(1, 16384 / n));
    pool.parallel_for(outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        const S* p = x + o * n;
        C best = load(p[0]);
        int64_t at = 0;
        for (int64_t i = 1; i < n && !is_nan(best); ++i) {
          const C v = load(p[i]);
          if (replaces<kMax, kLast>(v, best)) {
            best = v;
            at = i;
          }
        }
        y[o] = at;
      }
    });
    return;
  }
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const int64_t tasks = outer * blocks;
  const int64_t grain =
      ThreadPool::grain_for(tasks, std::max<int64_t>(1, 16384 / (n * std::min(inner, kBlock))));
  pool.parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
    C best[kBlock];
    int64_t at[kBlock];
    for (int64_t t = b; t < e; ++t) {
      const int64_t o = t / blocks;
      const int64_t j0 = (t % blocks) * kBlock;
      const int64_t len = std::min(kBlock, inner - j0);
      const S* p = x + o * n * inner + j0;
      for (int64_t j = 0; j < len; ++j) {
        best[j] = load(p[j]);
        at[j] = 0;
      }
      for (int64_t i = 1; i < n; ++i) {
        const S* row = p + i * inner;
        for (int64_t j = 0; j < len; ++j) {
          const C v = load(row[j]);
          if (replaces<kMax, kLast>(v, best[j]) && !is_nan(best[j])) {
            best[j] = v;
            at[j] = i;
          }
        }
      }
      std::copy(at, at + len, y + o * inner + j0);
    }
  });
}

template <bool kMax>
Status arg_minmax(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const auto rank = static_cast<int64_t>(x.rank());
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 0));
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, rank));
  MIXQ_ASSIGN_OR_RETURN(int64_t keepdims, ctx.node().attr_int("keepdims", 1));
  int64_t last = 0;
  if (ctx.opset() >= 12) {
    MIXQ_ASSIGN_OR_RETURN(last, ctx.node().attr_int("select_last_index", 0));
  }
  const auto ax = static_cast<size_t>(axis);
  const auto& dims = x.dims();
  std::vector<int64_t> out = dims;
  if (keepdims != 0) {
    out[ax] = 1;
  } else {
    out.erase(out.begin() + axis);
  }
  const int64_t n = dims[ax];
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, DType::kInt64, out));
  if (y->numel() == 0) return Status::ok_status();
  if (n == 0) return ctx.fail("cannot take the arg", kMax ? "max" : "min", " of an empty axis");
  int64_t outer = 1, inner = 1;
  for (size_t k = 0; k < ax; ++k) outer *= dims[k];
  for (size_t k = ax + 1; k < dims.size(); ++k) inner *= dims[k];
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    const S* p = x.data<S>();
    int64_t* q = y->mutable_data<int64_t>();
    if (last != 0) {
      arg_reduce<kMax, true>(ctx.pool(), p, q, outer, n, inner);
    } else {
      arg_reduce<kMax, false>(ctx.pool(), p, q, outer, n, inner);
    }
    return Status::ok_status();
  });
}

// Strict order for TopK: a before b. NaN is above every number; ties keep the lower index.
template <bool kLargest, typename C>
struct TopKOrder {
  bool operator()(const std::pair<C, int64_t>& a, const std::pair<C, int64_t>& b) const {
    const bool na = is_nan(a.first), nb = is_nan(b.first);
    if (na != nb) return kLargest ? na : nb;
    if (!na && a.first != b.first) return kLargest ? a.first > b.first : a.first < b.first;
    return a.second < b.second;
  }
};

template <bool kLargest, typename S>
void top_k(ThreadPool& pool, const S* x, S* values, int64_t* indices, int64_t outer, int64_t n,
           int64_t inner, int64_t k) {
  using C = Compute<S>;
  using Item = std::pair<C, int64_t>;
  // Small k: one pass keeping the best k in order; an element enters only when it beats the
  // current k-th, which for most inputs is rare. Larger k: nth_element, then sort the head.
  constexpr int64_t kSmallK = 32;
  const int64_t rows = outer * inner;
  const int64_t grain = ThreadPool::grain_for(rows, std::max<int64_t>(1, 16384 / n));
  pool.parallel_for(rows, grain, [&](int64_t b, int64_t e) {
    const TopKOrder<kLargest, C> order;
    std::vector<Item> scratch(static_cast<size_t>(k <= kSmallK ? k : n));
    for (int64_t r = b; r < e; ++r) {
      const int64_t o = r / inner, i = r % inner;
      const S* p = x + o * n * inner + i;
      if (k <= kSmallK) {
        int64_t size = 0;
        for (int64_t j = 0; j < n; ++j) {
          const Item v{load(p[j * inner]), j};
          if (size == k && !order(v, scratch[static_cast<size_t>(k - 1)])) continue;
          int64_t at = size < k ? size++ : k - 1;
          for (; at > 0 && order(v, scratch[static_cast<size_t>(at - 1)]); --at) {
            scratch[static_cast<size_t>(at)] = scratch[static_cast<size_t>(at - 1)];
          }
          scratch[static_cast<size_t>(at)] = v;
        }
      } else {
        for (int64_t j = 0; j < n; ++j) scratch[static_cast<size_t>(j)] = {load(p[j * inner]), j};
        const auto kth = scratch.begin() + k;
        if (k < n) std::nth_element(scratch.begin(), kth, scratch.end(), order);
        std::sort(scratch.begin(), kth, order);
      }
      S* vo = values + o * k * inner + i;
      int64_t* io = indices + o * k * inner + i;
      for (int64_t j = 0; j < k; ++j) {
        vo[j * inner] = store<S>(scratch[static_cast<size_t>(j)].first);
        io[j * inner] = scratch[static_cast<size_t>(j)].second;
      }
    }
  });
}

Status topk(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const auto rank = static_cast<int64_t>(x.rank());
  int64_t k = 0;
  if (ctx.opset() < 10) {
    MIXQ_ASSIGN_OR_RETURN(k, ctx.node().attr_int("k", -1));
    if (ctx.node().attr("k") == nullptr) return ctx.fail("required attribute 'k' is missing");
  } else {
    if (!ctx.has_input(1) || ctx.input(1).numel() != 1) return ctx.fail("K must have one element");
    k = ctx.input(1).element_as_int64(0);
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", -1));
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, rank));
  int64_t largest = 1;
  if (ctx.opset() >= 11) {
    MIXQ_ASSIGN_OR_RETURN(largest, ctx.node().attr_int("largest", 1));
  }
  const auto ax = static_cast<size_t>(axis);
  const auto& dims = x.dims();
  const int64_t n = dims[ax];
  if (k < 0 || k > n) {
    return ctx.fail("k is ", k, " but axis ", axis, " has ", n, " elements");
  }
  std::vector<int64_t> out = dims;
  out[ax] = k;
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * values, ctx.output(0, x.dtype(), out));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * indices, ctx.output(1, DType::kInt64, out));
  if (values->numel() == 0) return Status::ok_status();
  int64_t outer = 1, inner = 1;
  for (size_t j = 0; j < ax; ++j) outer *= dims[j];
  for (size_t j = ax + 1; j < dims.size(); ++j) inner *= dims[j];
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool input is not supported");
    } else {
      const S* p = x.data<S>();
      S* v = values->mutable_data<S>();
      int64_t* ix = indices->mutable_data<int64_t>();
      if (largest != 0) {
        top_k<true>(ctx.pool(), p, v, ix, outer, n, inner, k);
      } else {
        top_k<false>(ctx.pool(), p, v, ix, outer, n, inner, k);
      }
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_arg_topk_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "ArgMax", 1, 21, kNumeric, 0, arg_minmax<true>});
  out.push_back({"", "ArgMin", 1, 21, kNumeric, 0, arg_minmax<false>});
  out.push_back({"", "TopK", 1, 21, kNumeric, 0, topk});
}

}  // namespace mixq::exec
