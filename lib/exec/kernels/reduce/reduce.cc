// ONNX ReduceSum-1/11/13, ReduceMean, ReduceProd, ReduceL1, ReduceL2, ReduceSumSquare,
// ReduceLogSum, ReduceLogSumExp -1/11/13/18, ReduceMax/ReduceMin -1/11/12/13/18/20: reduce over
// `axes` (an attribute before ReduceSum-13 and the others' version 18, an optional int64 input
// since), keeping them as size 1 with keepdims = 1. Empty axes reduce over everything unless
// noop_with_empty_axes = 1 (then every output is its one input element put through the op's
// element step: ReduceSumSquare squares, ReduceLogSum takes the log, ...). An empty reduction
// gives the op's identity: 0 (sums), 1 (product), -inf or the lowest value (max), +inf or the
// highest value (min), log(0) = -inf (ReduceLogSum, ReduceLogSumExp), NaN (float mean).
//
// Accumulation: float16, bfloat16, float32 and float64 sums and products accumulate in double,
// and each output element is reduced by one thread in a fixed order (8 interleaved partial sums
// along a contiguous run, combined pairwise), so results are exact to float32 rounding for any
// realistic length and bit-identical for any thread count. Integer sums and products wrap in the
// input type's width (as a 64-bit accumulator cast back); ReduceL2/LogSum/LogSumExp of integers
// are computed in double and truncated. ReduceMax/Min propagate NaN. ReduceLogSumExp takes two
// passes: the maximum m, then m + log(sum(exp(x - m))), so large inputs do not overflow.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/common.h"
#include "kernels/reduce/reduce_kernels.h"
#include "kernels/reduce/reduce_layout.h"

namespace mixq::exec {
namespace {

enum class Op { kSum, kMean, kProd, kL1, kL2, kSumSquare, kLogSum, kLogSumExp, kMax, kMin };

// The accumulator of op `O` on compute type C (float, double, an integer type or bool).
template <Op O, typename C>
struct Policy {
  static constexpr bool kFloat = std::is_floating_point_v<C>;
  static constexpr bool kInDouble =
      kFloat || O == Op::kL2 || O == Op::kLogSum || O == Op::kLogSumExp;
  // Integers wrap: unsigned 64-bit arithmetic, cast back at the end.
  using Acc = std::conditional_t<kInDouble, double, uint64_t>;

  static Acc init() { return O == Op::kProd ? Acc(1) : Acc(0); }
  static Acc map(C v, C) {
    if constexpr (kInDouble) {
      const auto d = static_cast<double>(v);
      if constexpr (O == Op::kL1) return std::fabs(d);
      if constexpr (O == Op::kL2 || O == Op::kSumSquare) return d * d;
      return d;
    } else {
      const auto u = static_cast<uint64_t>(static_cast<int64_t>(v));
      if constexpr (O == Op::kL1) {
        if constexpr (std::is_signed_v<C>) return v < 0 ? uint64_t(0) - u : u;
        return u;
      }
      if constexpr (O == Op::kSumSquare) return u * u;
      return u;
    }
  }
  static void add(Acc& a, Acc v) {
    if constexpr (O == Op::kProd) {
      a *= v;
    } else {
      a += v;
    }
  }
  static C finish(Acc a, int64_t count, C) {
    if constexpr (kInDouble) {
      double r = a;
      if constexpr (O == Op::kMean)
        r = count == 0 && !kFloat ? 0.0 : a / static_cast<double>(count);
      if constexpr (O == Op::kL2) r = std::sqrt(a);
      if constexpr (O == Op::kLogSum) r = std::log(a);
      if constexpr (kFloat) {
        return static_cast<C>(r);
      } else {
        if (!std::isfinite(r)) return C(0);
        return static_cast<C>(static_cast<int64_t>(r));
      }
    } else {
      if constexpr (O == Op::kMean) {
        if (count == 0) return C(0);
        if constexpr (std::is_signed_v<C>) {
          return static_cast<C>(static_cast<int64_t>(a) / count);
        } else {
          return static_cast<C>(a / static_cast<uint64_t>(count));
        }
      }
      return static_cast<C>(static_cast<int64_t>(a));
    }
  }
};

// Max/Min: NaN, once seen, stays.
template <bool kMax, typename C>
struct ExtremePolicy {
  using Acc = C;
  static Acc init() {
    if constexpr (std::is_same_v<C, bool>) {
      return !kMax;
    } else if constexpr (std::is_floating_point_v<C>) {
      return kMax ? -std::numeric_limits<C>::infinity() : std::numeric_limits<C>::infinity();
    } else {
      return kMax ? std::numeric_limits<C>::lowest() : std::numeric_limits<C>::max();
    }
  }
  static Acc map(C v, C) { return v; }
  static void add(Acc& a, Acc v) {
    if constexpr (std::is_floating_point_v<C>) {
      if constexpr (kMax) {
        a = (std::isnan(a) || a >= v) ? a : v;
      } else {
        a = (std::isnan(a) || a <= v) ? a : v;
      }
    } else if constexpr (kMax) {
      a = a >= v ? a : v;
    } else {
      a = a <= v ? a : v;
    }
  }
  static C finish(Acc a, int64_t, C) { return a; }
};

// LogSumExp, second pass: the sum of exp(x - m) with m the maximum from a first pass, so no
// term overflows; the result is m + log(sum). A non-finite maximum is the result itself (all
// -inf or empty: -inf; +inf; NaN). float inputs take exp in float (exact to an ulp of a term in
// (0, 1]) and sum in double.
template <typename C>
struct LogSumExpPolicy {
  using Acc = double;
  static Acc init() { return 0.0; }
  static Acc map(C v, C m) {
    if constexpr (std::is_same_v<C, float>) {
      return std::exp(v - m);
    } else {
      return std::exp(static_cast<double>(v) - static_cast<double>(m));
    }
  }
  static void add(Acc& a, Acc v) { a += v; }
  static C finish(Acc a, int64_t, C m) {
    if constexpr (std::is_floating_point_v<C>) {
      if (!std::isfinite(m)) return m;
      return static_cast<C>(static_cast<double>(m) + std::log(a));
    } else {
      const double r = static_cast<double>(m) + std::log(a);
      return std::isfinite(r) ? static_cast<C>(static_cast<int64_t>(r)) : C(0);
    }
  }
};

template <Op O, typename C>
using PolicyFor = std::conditional_t<
    O == Op::kMax, ExtremePolicy<true, C>,
    std::conditional_t<O == Op::kMin, ExtremePolicy<false, C>,
                       std::conditional_t<O == Op::kLogSumExp, LogSumExpPolicy<C>, Policy<O, C>>>>;

// Reduces x into y under policy P. `shift` (LogSumExp only) holds a per-output value passed to
// P::map and P::finish; nullptr for the other ops.
template <typename P, typename S>
void run_reduce(ThreadPool& pool, const ReduceLayout& lay, const S* x, S* y,
                const std::type_identity_t<S>* shift) {
  using Acc = typename P::Acc;
  using C = Compute<S>;
  const int64_t count = lay.count;
  const int64_t nred = static_cast<int64_t>(lay.red_offsets.size());
  const int64_t* red = lay.red_offsets.data();
  const auto shift_at = [shift](int64_t i) { return shift ? load(shift[i]) : C{}; };
  if (count == 0) {
    for (int64_t i = 0; i < lay.out_numel; ++i) {
      y[i] = store<S>(P::finish(P::init(), 0, shift_at(i)));
    }
    return;
  }
  if (lay.inner_reduced) {
    // Each output: the runs of `inner` contiguous elements at base + red_offsets[r].
    const int64_t n = lay.inner;
    const int64_t grain = ThreadPool::grain_for(
        lay.out_rows, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, count)));
    pool.parallel_for(lay.out_rows, grain, [&](int64_t b, int64_t e) {
      Odometer rows(lay.row_dims.data(), lay.row_strides.data(), lay.row_dims.size());
      rows.seek(b);
      for (int64_t row = b; row < e; ++row, rows.next()) {
        const C m = shift_at(row);
        Acc lane[8];
        for (auto& l : lane) l = P::init();
        for (int64_t r = 0; r < nred; ++r) {
          const S* p = x + rows.offset() + red[r];
          int64_t j = 0;
          for (; j + 8 <= n; j += 8) {
            for (int k = 0; k < 8; ++k) P::add(lane[k], P::map(load(p[j + k]), m));
          }
          for (int k = 0; j < n; ++j, ++k) P::add(lane[k], P::map(load(p[j]), m));
        }
        P::add(lane[0], lane[4]);
        P::add(lane[1], lane[5]);
        P::add(lane[2], lane[6]);
        P::add(lane[3], lane[7]);
        P::add(lane[0], lane[2]);
        P::add(lane[1], lane[3]);
        P::add(lane[0], lane[1]);
        y[row] = store<S>(P::finish(lane[0], count, m));
      }
    });
    return;
  }
  // The innermost dim is kept: accumulate a block of outputs at once, one reduced position at a
  // time, so loads and adds run along contiguous memory.
  constexpr int64_t kBlock = 256;
  const int64_t n = lay.inner;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  const int64_t tasks = lay.out_rows * blocks;
  const int64_t work = std::min(n, kBlock) * nred;
  const int64_t grain =
      ThreadPool::grain_for(tasks, std::max<int64_t>(1, 32768 / std::max<int64_t>(1, work)));
  pool.parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
    Acc acc[kBlock];
    Odometer rows(lay.row_dims.data(), lay.row_strides.data(), lay.row_dims.size());
    int64_t row = b / blocks;
    rows.seek(row);
    for (int64_t t = b; t < e; ++t) {
      if (t / blocks != row) {
        rows.next();
        row = t / blocks;
      }
      const int64_t j0 = (t % blocks) * kBlock;
      const int64_t len = std::min(kBlock, n - j0);
      for (int64_t j = 0; j < len; ++j) acc[j] = P::init();
      const S* base = x + rows.offset() + j0;
      S* out = y + row * n + j0;
      if (shift == nullptr) {
        for (int64_t r = 0; r < nred; ++r) {
          const S* p = base + red[r];
          for (int64_t j = 0; j < len; ++j) P::add(acc[j], P::map(load(p[j]), C{}));
        }
        for (int64_t j = 0; j < len; ++j) out[j] = store<S>(P::finish(acc[j], count, C{}));
      } else {
        C m[kBlock];
        for (int64_t j = 0; j < len; ++j) m[j] = load(shift[row * n + j0 + j]);
        for (int64_t r = 0; r < nred; ++r) {
          const S* p = base + red[r];
          for (int64_t j = 0; j < len; ++j) P::add(acc[j], P::map(load(p[j]), m[j]));
        }
        for (int64_t j = 0; j < len; ++j) out[j] = store<S>(P::finish(acc[j], count, m[j]));
      }
    }
  });
}

template <Op O>
Status reduce(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const int64_t input_since = O == Op::kSum ? 13 : 18;
  MIXQ_ASSIGN_OR_RETURN(ReduceLayout lay, plan_reduce(ctx, input_since));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), lay.out_dims));
  if (lay.out_numel == 0) return Status::ok_status();
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    using C = Compute<S>;
    if constexpr (std::is_same_v<S, bool>) {
      if constexpr (O == Op::kMax || O == Op::kMin) {
        run_reduce<PolicyFor<O, C>>(ctx.pool(), lay, x.data<S>(), y->mutable_data<S>(), nullptr);
        return Status::ok_status();
      }
      return ctx.fail("bool input is not supported");
    } else if constexpr (O == Op::kLogSumExp) {
      // The maximum first (exact in S), then the shifted sum.
      std::vector<S> max(static_cast<size_t>(lay.out_numel));
      run_reduce<ExtremePolicy<true, C>>(ctx.pool(), lay, x.data<S>(), max.data(), nullptr);
      run_reduce<PolicyFor<O, C>>(ctx.pool(), lay, x.data<S>(), y->mutable_data<S>(), max.data());
      return Status::ok_status();
    } else {
      run_reduce<PolicyFor<O, C>>(ctx.pool(), lay, x.data<S>(), y->mutable_data<S>(), nullptr);
      return Status::ok_status();
    }
  });
}

}  // namespace

void register_reduce_op_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "ReduceSum", 1, 21, kNumeric, 0, reduce<Op::kSum>});
  out.push_back({"", "ReduceMean", 1, 21, kNumeric, 0, reduce<Op::kMean>});
  out.push_back({"", "ReduceProd", 1, 21, kNumeric, 0, reduce<Op::kProd>});
  out.push_back({"", "ReduceL1", 1, 21, kNumeric, 0, reduce<Op::kL1>});
  out.push_back({"", "ReduceL2", 1, 21, kNumeric, 0, reduce<Op::kL2>});
  out.push_back({"", "ReduceSumSquare", 1, 21, kNumeric, 0, reduce<Op::kSumSquare>});
  out.push_back({"", "ReduceLogSum", 1, 21, kNumeric, 0, reduce<Op::kLogSum>});
  out.push_back({"", "ReduceLogSumExp", 1, 21, kNumeric, 0, reduce<Op::kLogSumExp>});
  out.push_back({"", "ReduceMax", 1, 19, kNumeric, 0, reduce<Op::kMax>});
  out.push_back({"", "ReduceMax", 20, 21, kNumeric | kBool, 0, reduce<Op::kMax>});
  out.push_back({"", "ReduceMin", 1, 19, kNumeric, 0, reduce<Op::kMin>});
  out.push_back({"", "ReduceMin", 20, 21, kNumeric | kBool, 0, reduce<Op::kMin>});
}

}  // namespace mixq::exec
