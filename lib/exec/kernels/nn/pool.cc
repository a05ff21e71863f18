// Sliding-window pools over 1, 2 or 3 spatial axes:
// ONNX MaxPool-1/8/10/11/12: max over the window; Indices output (8+) with flat input indices,
// row-major (storage_order 0) or column-major over the spatial axes (storage_order 1);
// dilations and ceil_mode (10+); int8/uint8 (12+). NaN propagates (as in PyTorch); the index
// is that of the first maximum in window order.
// ONNX AveragePool-1/7/10/11/19: mean over the window; count_include_pad (7+) divides by the
// window positions inside the padded input (a ceil_mode window running past the end padding is
// cut there), else by the positions inside the input; ceil_mode (10+), dilations (19+).
// ONNX LpPool-1/2/11/18: (sum |x|^p)^(1/p) over the window, padding counting as 0; p is a float
// in LpPool-1, an int from 2; dilations and ceil_mode (18+).
// Output sizes come from the shape function (ceil_mode and the auto_pad rules live there);
// pads are resolved by nn::read_window. float16/bfloat16 are computed in float32.
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>
#include <utility>

#include "kernels/nn/nn_kernels.h"
#include "kernels/nn/nn_util.h"
#include "mixq/core/simd.h"

namespace mixq::exec {
namespace {

enum class PoolKind { kMax, kAverage, kLp };

// Per spatial axis and output index: the window's first input index, the range [lo, hi) of
// kernel taps inside the input, and the number of taps inside the padded input.
struct AxisTaps {
  std::vector<int64_t> start, lo, hi, padded;
};

// The window lifted to 3 axes (leading axes of size 1), so 1-D and 2-D pools share the 3-D loop.
struct Pool3 {
  int64_t in[3] = {1, 1, 1}, out[3] = {1, 1, 1}, dil[3] = {1, 1, 1};
  int64_t kernel_w = 1, stride_w = 1, pad_w = 0;  // the last axis, walked per kernel tap
  AxisTaps taps[3];
};

Pool3 lift(const nn::Window& w) {
  Pool3 p;
  const size_t shift = 3 - w.n;
  for (size_t a = 0; a < 3; ++a) {
    AxisTaps& t = p.taps[a];
    if (a < shift) {
      t.start = {0};
      t.lo = {0};
      t.hi = {1};
      t.padded = {1};
      continue;
    }
    const size_t d = a - shift;
    p.in[a] = w.in[d];
    p.out[a] = w.out[d];
    p.dil[a] = w.dilations[d];
    if (a == 2) {
      p.kernel_w = w.kernel[d];
      p.stride_w = w.strides[d];
      p.pad_w = w.pad_begin[d];
    }
    const int64_t k = w.kernel[d], dl = w.dilations[d], in = w.in[d];
    for (int64_t o = 0; o < w.out[d]; ++o) {
      const int64_t s = o * w.strides[d] - w.pad_begin[d];
      const int64_t lo = s >= 0 ? 0 : (-s + dl - 1) / dl;
      const int64_t hi = std::min(k, in - s <= 0 ? 0 : (in - s + dl - 1) / dl);
      const int64_t end_padded = in + w.pad_end[d];
      const int64_t padded = std::min(k, end_padded - s <= 0 ? 0 : (end_padded - s + dl - 1) / dl);
      t.start.push_back(s);
      t.lo.push_back(lo);
      t.hi.push_back(std::max(lo, hi));
      t.padded.push_back(padded);
    }
  }
  return p;
}

struct PoolParams {
  PoolKind kind = PoolKind::kMax;
  bool count_include_pad = false;
  double p = 2;
  int64_t storage_order = 0;
};

// Max's update rule, for scalars (a bool) and vectors (a lane mask): take v where v > a, or
// where v is NaN and a is not (the window's first NaN wins; strict >, so the first of equal
// values does).
template <typename V>
auto max_takes(V a, V v) {
  return (v > a) | ((v != v) & (a == a));
}

// The accumulator's start: -Inf (the lowest value for integers) for max, 0 otherwise.
template <PoolKind kKind, typename T>
T pool_init() {
  if constexpr (kKind != PoolKind::kMax) return T(0);
  if constexpr (std::is_floating_point_v<T>) return -std::numeric_limits<T>::infinity();
  return std::numeric_limits<T>::lowest();
}

// Pools one output row (fixed plane, od, oh) of storage type S into y, and MaxPool's indices
// into `ind` when given. The row is accumulated tap by tap: for every valid (d, h) tap row and
// every kernel column, one pass over the outputs that column reaches (contiguous loads for
// stride 1), so the inner loops carry no window bookkeeping. `acc` and `arg` are per-chunk
// scratch of out[2] values. Max propagates NaN (the window's first, with or without indices); its
// index is the first maximum in window order.
template <PoolKind kKind, typename S>
void pool_row(const Pool3& p, const PoolParams& pp, const S* x, int64_t plane, int64_t od,
              int64_t oh, S* y, int64_t* ind, Compute<S>* acc, int64_t* arg) {
  using T = Compute<S>;
  const int64_t W = p.out[2], in_w = p.in[2], s = p.stride_w;
  const int64_t plane_size = p.in[0] * p.in[1] * in_w;
  const S* xp = x + plane * plane_size;
  const AxisTaps &td = p.taps[0], &th = p.taps[1], &tw = p.taps[2];
  const T init = pool_init<kKind, T>();
  std::fill(acc, acc + W, init);
  if (ind) std::fill(arg, arg + W, int64_t{-1});
  const double lp = pp.p;
  for (int64_t jd = td.lo[od]; jd < td.hi[od]; ++jd) {
    const int64_t id = td.start[od] + jd * p.dil[0];
    for (int64_t jh = th.lo[oh]; jh < th.hi[oh]; ++jh) {
      const int64_t ih = th.start[oh] + jh * p.dil[1];
      const int64_t row_at = (id * p.in[1] + ih) * in_w;
      const S* row = xp + row_at;
      for (int64_t jw = 0; jw < p.kernel_w; ++jw) {
        // Outputs ow whose column ow * s + off lies inside the row.
        const int64_t off = jw * p.dil[2] - p.pad_w;
        const int64_t lo = off >= 0 ? 0 : (-off + s - 1) / s;
        const int64_t hi = std::min(W, in_w - off <= 0 ? 0 : (in_w - off + s - 1) / s);
        if constexpr (kKind == PoolKind::kMax) {
          if (ind) {
            for (int64_t ow = lo; ow < hi; ++ow) {
              const T v = load(row[ow * s + off]);
              if (arg[ow] < 0 || max_takes(acc[ow], v)) {
                acc[ow] = v;
                arg[ow] = row_at + ow * s + off;
              }
            }
          } else {
            for (int64_t ow = lo; ow < hi; ++ow) {
              const T v = load(row[ow * s + off]);
              acc[ow] = max_takes(acc[ow], v) ? v : acc[ow];
            }
          }
        } else if constexpr (kKind == PoolKind::kAverage) {
          for (int64_t ow = lo; ow < hi; ++ow) acc[ow] += load(row[ow * s + off]);
        } else if (lp == 2) {
          for (int64_t ow = lo; ow < hi; ++ow) {
            const T v = load(row[ow * s + off]);
            acc[ow] += v * v;
          }
        } else if (lp == 1) {
          for (int64_t ow = lo; ow < hi; ++ow) acc[ow] += std::abs(load(row[ow * s + off]));
        } else {
          for (int64_t ow = lo; ow < hi; ++ow) {
            acc[ow] += static_cast<T>(std::pow(std::abs(load(row[ow * s + off])), lp));
          }
        }
      }
    }
  }
  if constexpr (kKind == PoolKind::kMax) {
    for (int64_t ow = 0; ow < W; ++ow) y[ow] = store<S>(acc[ow]);
    if (ind) {
      for (int64_t ow = 0; ow < W; ++ow) {
        int64_t a = arg[ow];
        if (a >= 0 && pp.storage_order == 1) {
          // Column-major over the spatial axes: first axis fastest.
          const int64_t iw = a % in_w, ih = a / in_w % p.in[1], id = a / (in_w * p.in[1]);
          a = id + p.in[0] * (ih + p.in[1] * iw);
        }
        ind[ow] = a < 0 ? -1 : plane * plane_size + a;
      }
    }
  } else if constexpr (kKind == PoolKind::kAverage) {
    const int64_t outer = pp.count_include_pad ? td.padded[od] * th.padded[oh]
                                               : (td.hi[od] - td.lo[od]) * (th.hi[oh] - th.lo[oh]);
    for (int64_t ow = 0; ow < W; ++ow) {
      const int64_t inner = pp.count_include_pad ? tw.padded[ow] : tw.hi[ow] - tw.lo[ow];
      y[ow] = store<S>(acc[ow] / static_cast<T>(outer * inner));
    }
  } else {
    for (int64_t ow = 0; ow < W; ++ow) {
      y[ow] = store<S>(lp == 1   ? acc[ow]
                       : lp == 2 ? std::sqrt(acc[ow])
                                 : static_cast<T>(std::pow(acc[ow], 1.0 / lp)));
    }
  }
}

// 2-D max or average pools whose every window lies inside the input (no pads, no dilation, no
// ceil_mode overhang; e.g. 2x2 stride 2), without MaxPool indices. Small planes (a CNN on 8x8
// images pools rows of 2-4 outputs) spent most of pool_row in per-row set-up; here a plane's
// outputs are one flat array, each tap one pass over it through precomputed input offsets.
// The taps come in the same (row, column) order with the same update as pool_row, so the
// results are identical.
bool simple_window(const nn::Window& w) {
  if (w.n != 2) return false;
  for (size_t d = 0; d < 2; ++d) {
    if (w.pad_begin[d] != 0 || w.pad_end[d] != 0 || w.dilations[d] != 1) return false;
    if ((w.out[d] - 1) * w.strides[d] + w.kernel[d] > w.in[d]) return false;
  }
  return true;
}

// max_takes(a, v) ? v : a for float as a bit select: the data decides, and a branch on it
// mispredicts.
inline float max_fold(float a, float v) {
  const uint32_t take = 0u - static_cast<uint32_t>(max_takes(a, v));
  return std::bit_cast<float>((std::bit_cast<uint32_t>(v) & take) |
                              (std::bit_cast<uint32_t>(a) & ~take));
}

// One 2x2 window from its taps in pool_row's order (a, b the top row, c, d the bottom), on
// kFloatLanes lanes (V a vector) or one: max folds the taps as pool_row does (strict >; the
// first NaN wins; max_fold(-Inf, a) is a), and grouping the fold by rows gives the same
// result: the first of equal maxima (+-0) in (a, b, c, d) order, or the first NaN. Average
// sums from 0 in order (0 + -0 is +0, as in pool_row) and divides by 4.
template <PoolKind kKind, typename V>
V window_2x2(V a, V b, V c, V d) {
  if constexpr (kKind == PoolKind::kMax) {
    if constexpr (std::is_same_v<V, float>) {
      return max_fold(max_fold(a, b), max_fold(c, d));
    } else {
      const auto fold = [](V p, V v) { return max_takes(p, v) ? v : p; };
      return fold(fold(a, b), fold(c, d));
    }
  } else {
    return ((((V{} + a) + b) + c) + d) / 4.0f;
  }
}

// Lanes first, first + 2, ... of the concatenation of a and b: the even (first 0) or odd
// (first 1) columns of two vectors of consecutive columns.
template <size_t kFirst, typename V, size_t... kLane>
V every_second(V a, V b, std::index_sequence<kLane...>) {
  return __builtin_shufflevector(a, b, (kFirst + 2 * kLane)...);
}

// MaxPool and AveragePool 2x2 stride 2 over float planes of even height and width (the
// commonest CNN pools), row_pairs pairs of input rows of width W. A pair of rows is
// contiguous: a block of pairs is split into its even and odd columns in vectors of
// kFloatLanes, and each window is then computed at its top-left position from the positions 0
// and Wo further on (its bottom row), in place, in vectors too. (The per-plane gather path
// made this a scalar loop through memory, with a data-dependent branch for max.)
template <PoolKind kKind>
void pool_2x2(const float* x, float* y, int64_t row_pairs, int64_t W) {
  constexpr int64_t L = kFloatLanes;
  using F = float __attribute__((vector_size(L * sizeof(float))));
  const int64_t Wo = W / 2;
  const int64_t per_block = std::max<int64_t>(1, 1024 / W);  // row pairs per block
  std::vector<float> buf(static_cast<size_t>(2 * per_block * W));
  float* ev = buf.data();  // even columns: [top row's Wo, bottom row's Wo] per row pair
  float* od = ev + per_block * W;
  for (int64_t r0 = 0; r0 < row_pairs; r0 += per_block) {
    const int64_t pairs = std::min(per_block, row_pairs - r0);
    const int64_t n = pairs * W;
    const float* xb = x + r0 * 2 * W;
    int64_t k = 0;
    for (; k + L <= n; k += L) {
      F lo, hi;
      std::memcpy(&lo, xb + 2 * k, sizeof(F));
      std::memcpy(&hi, xb + 2 * k + L, sizeof(F));
      const F e = every_second<0>(lo, hi, std::make_index_sequence<L>{});
      const F o = every_second<1>(lo, hi, std::make_index_sequence<L>{});
      std::memcpy(ev + k, &e, sizeof(F));
      std::memcpy(od + k, &o, sizeof(F));
    }
    for (; k < n; ++k) {
      ev[k] = xb[2 * k];
      od[k] = xb[2 * k + 1];
    }
    // Results into ev at the top rows' positions; each step reads only at or ahead of where
    // it writes.
    k = 0;
    for (; k + L <= n - Wo; k += L) {
      F a, b, c, d;
      std::memcpy(&a, ev + k, sizeof(F));
      std::memcpy(&b, od + k, sizeof(F));
      std::memcpy(&c, ev + k + Wo, sizeof(F));
      std::memcpy(&d, od + k + Wo, sizeof(F));
      const F r = window_2x2<kKind>(a, b, c, d);
      std::memcpy(ev + k, &r, sizeof(F));
    }
    for (; k < n - Wo; ++k) ev[k] = window_2x2<kKind>(ev[k], od[k], ev[k + Wo], od[k + Wo]);
    float* yb = y + r0 * Wo;
    for (int64_t r = 0; r < pairs; ++r) nn::copy_short(yb + r * Wo, ev + r * W, Wo);
  }
}

template <PoolKind kKind, typename S>
void pool_planes_2d(const nn::Window& w, const S* x, S* y, int64_t p0, int64_t p1) {
  using T = Compute<S>;
  const int64_t H = w.in[0], W = w.in[1], Ho = w.out[0], Wo = w.out[1], Q = Ho * Wo;
  if constexpr (std::is_same_v<S, float>) {
    if (w.kernel[0] == 2 && w.kernel[1] == 2 && w.strides[0] == 2 && w.strides[1] == 2 &&
        2 * Ho == H && 2 * Wo == W) {
      pool_2x2<kKind>(x + p0 * H * W, y + p0 * Q, (p1 - p0) * Ho, W);
      return;
    }
  }
  std::vector<int64_t> base(static_cast<size_t>(Q));
  for (int64_t oh = 0; oh < Ho; ++oh) {
    for (int64_t ow = 0; ow < Wo; ++ow) {
      base[static_cast<size_t>(oh * Wo + ow)] = oh * w.strides[0] * W + ow * w.strides[1];
    }
  }
  const T init = pool_init<kKind, T>();
  const auto count = static_cast<T>(w.kernel[0] * w.kernel[1]);
  std::vector<T> acc(static_cast<size_t>(Q));
  const int64_t* b = base.data();
  T* a = acc.data();
  for (int64_t pl = p0; pl < p1; ++pl) {
    std::fill(acc.begin(), acc.end(), init);
    for (int64_t i = 0; i < w.kernel[0]; ++i) {
      for (int64_t j = 0; j < w.kernel[1]; ++j) {
        const S* xt = x + pl * H * W + i * W + j;
        for (int64_t q = 0; q < Q; ++q) {
          const T v = load(xt[b[q]]);
          if constexpr (kKind == PoolKind::kMax) {
            a[q] = max_takes(a[q], v) ? v : a[q];
          } else {
            a[q] += v;
          }
        }
      }
    }
    S* yp = y + pl * Q;
    for (int64_t q = 0; q < Q; ++q) {
      if constexpr (kKind == PoolKind::kMax) {
        yp[q] = store<S>(a[q]);
      } else {
        yp[q] = store<S>(a[q] / count);
      }
    }
  }
}

Status pool(KernelContext& ctx, PoolKind kind) {
  const ir::Tensor& xt = ctx.input(0);
  const auto& xd = xt.dims();
  if (xd.size() < 3) {
    return ctx.fail("input has shape ", ir::dims_to_string(xd), ", expected rank >= 3");
  }
  if (xd.size() > 5) return ctx.not_supported("pooling over more than 3 spatial axes");
  const int64_t opset = ctx.opset();
  const std::string op = ctx.node().op_type();
  PoolParams pp;
  pp.kind = kind;
  bool has_dilations = false;
  if (kind == PoolKind::kMax) {
    has_dilations = opset >= 10;
    if (opset >= 8) {
      MIXQ_ASSIGN_OR_RETURN(pp.storage_order, ctx.node().attr_int("storage_order", 0));
    }
    if (pp.storage_order != 0 && pp.storage_order != 1) {
      return ctx.fail("attribute storage_order is ", pp.storage_order, ", expected 0 or 1");
    }
  } else if (kind == PoolKind::kAverage) {
    has_dilations = opset >= 19;
    if (opset >= 7) {
      MIXQ_ASSIGN_OR_RETURN(const int64_t cip, ctx.node().attr_int("count_include_pad", 0));
      pp.count_include_pad = cip != 0;
    }
  } else {
    has_dilations = opset >= 18;
    if (opset < 2) {
      MIXQ_ASSIGN_OR_RETURN(const float p, ctx.node().attr_float("p", 2.0f));
      pp.p = p;
    } else {
      MIXQ_ASSIGN_OR_RETURN(const int64_t p, ctx.node().attr_int("p", 2));
      pp.p = static_cast<double>(p);
    }
    if (!(pp.p > 0)) return ctx.fail("attribute p is ", pp.p, ", must be > 0");
  }
  MIXQ_ASSIGN_OR_RETURN(const auto kernel, ctx.node().attr_ints("kernel_shape"));
  if (!kernel) return ctx.fail("required attribute 'kernel_shape' is missing");
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  const std::vector<int64_t> in(xd.begin() + 2, xd.end());
  const std::vector<int64_t> out(yt->dims().begin() + 2, yt->dims().end());
  MIXQ_ASSIGN_OR_RETURN(const nn::Window w, nn::read_window(ctx, in, *kernel, out, has_dilations));
  ir::Tensor* it = nullptr;
  if (kind == PoolKind::kMax && opset >= 8 && ctx.has_output(1)) {
    MIXQ_ASSIGN_OR_RETURN(it, ctx.output(1));
  }
  if (yt->numel() == 0) return Status::ok_status();
  const Pool3 p = lift(w);
  const int64_t planes = xd[0] * xd[1];
  const int64_t rows = planes * p.out[0] * p.out[1];
  const int64_t per_row = p.out[2] * std::max<int64_t>(1, nn::product(*kernel, 0, kernel->size()));
  const int64_t grain = ThreadPool::grain_for(rows, std::max<int64_t>(1, 4096 / per_row));
  return visit_dtype(xt.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (!is_float_storage<S>() && !std::is_same_v<S, int8_t> &&
                  !std::is_same_v<S, uint8_t>) {
      return ctx.fail(dtype_name(xt.dtype()), " input is not supported");
    } else {
      using T = Compute<S>;
      const S* x = xt.data<S>();
      S* y = yt->mutable_data<S>();
      int64_t* ind = it ? it->mutable_data<int64_t>() : nullptr;
      auto run = [&](auto kind_tag) {
        constexpr PoolKind kKind = decltype(kind_tag)::value;
        if constexpr (kKind != PoolKind::kLp) {
          if (ind == nullptr && simple_window(w)) {
            const int64_t plane_work = std::max<int64_t>(1, per_row * p.out[1]);
            ctx.pool().parallel_for(
                planes, ThreadPool::grain_for(planes, std::max<int64_t>(1, 4096 / plane_work)),
                [&](int64_t p0, int64_t p1) { pool_planes_2d<kKind, S>(w, x, y, p0, p1); });
            return;
          }
        }
        ctx.pool().parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
          std::vector<T> acc(static_cast<size_t>(p.out[2]));
          std::vector<int64_t> arg(ind ? static_cast<size_t>(p.out[2]) : 0);
          for (int64_t r = r0; r < r1; ++r) {
            const int64_t oh = r % p.out[1];
            const int64_t od = (r / p.out[1]) % p.out[0];
            const int64_t plane = r / (p.out[1] * p.out[0]);
            pool_row<kKind, S>(p, pp, x, plane, od, oh, y + r * p.out[2],
                               ind ? ind + r * p.out[2] : nullptr, acc.data(), arg.data());
          }
        });
      };
      if (kind == PoolKind::kMax) {
        run(std::integral_constant<PoolKind, PoolKind::kMax>{});
      } else if (kind == PoolKind::kAverage) {
        run(std::integral_constant<PoolKind, PoolKind::kAverage>{});
      } else {
        run(std::integral_constant<PoolKind, PoolKind::kLp>{});
      }
      return Status::ok_status();
    }
  });
}

Status max_pool(KernelContext& ctx) { return pool(ctx, PoolKind::kMax); }
Status average_pool(KernelContext& ctx) { return pool(ctx, PoolKind::kAverage); }
Status lp_pool(KernelContext& ctx) { return pool(ctx, PoolKind::kLp); }

}  // namespace

void register_pool_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "MaxPool", 1, 11, kFloats, 0, max_pool});
  out.push_back(
      {"", "MaxPool", 12, 21, kFloats | TypeSet{DType::kInt8, DType::kUint8}, 0, max_pool});
  out.push_back({"", "AveragePool", 1, 21, kFloats, 0, average_pool});
  out.push_back({"", "LpPool", 1, 21, kFloats, 0, lp_pool});
}

}  // namespace mixq::exec
