// ONNX GridSample-16/20: Y[n, c, o...] samples X[n, c, ...] at the normalized position
// grid[n, o..., :] (components listed innermost axis first). Denormalized per axis of size L:
// (g + 1) / 2 * (L - 1) with align_corners, else ((g + 1) * L - 1) / 2. Modes: nearest (round
// half to even), linear (2 taps per axis) and cubic (4 taps of Keys' kernel, a = -0.75);
// GridSample-16 spells the last two bilinear and bicubic (both spellings are accepted in both
// versions). padding_mode, applied to each tap: zeros (taps outside read 0), border (taps
// clamped to the edge) and reflection (tap positions reflected at the borders [0, L - 1] with
// align_corners, else [-0.5, L - 0.5], until inside). GridSample-16 takes 2 spatial axes, 20
// any number. Padding per tap is PyTorch's grid_sample rule (which ONNX Runtime follows); the
// ONNX reference implementation also clamps the coordinate itself, which gives the same
// results for nearest and linear but not for cubic with border padding.
// Coordinates are computed in the grid's precision (float32, or float64 for a float64 grid);
// values in float32 (float64 for float64 and integer inputs, which truncate and saturate).
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/nn/nn_kernels.h"
#include "kernels/nn/nn_util.h"

namespace mixq::exec {
namespace {

enum class Mode { kNearest, kLinear, kCubic };
enum class Padding { kZeros, kBorder, kReflection };

struct Options {
  Mode mode = Mode::kLinear;
  Padding padding = Padding::kZeros;
  bool align_corners = false;
};

// x reflected at lo and hi until it lies in [lo, hi].
template <typename G>
G reflect(G x, G lo, G hi) {
  const G range = hi - lo;
  if (!(range > 0)) return lo;
  if (x >= lo && x <= hi) return x;
  const G dx = x < lo ? lo - x : x - hi;
  const G flips = std::floor(dx / range);
  const G r = dx - flips * range;
  const bool even = std::fmod(flips, G(2)) == 0;
  if (x < lo) return even ? lo + r : hi - r;
  return even ? hi - r : lo + r;
}

template <typename G>
G cubic_weight(G d) {
  constexpr G a = G(-0.75);
  d = std::fabs(d);
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0;
}

// The taps of one axis for one sampling position: input indices (-1: reads 0) and weights.
template <typename G>
int axis_taps(const Options& o, G x, int64_t size, int64_t* idx, G* w) {
  const G lo = o.align_corners ? G(0) : G(-0.5);
  const G hi = o.align_corners ? static_cast<G>(size - 1) : static_cast<G>(size) - G(0.5);
  // Padding applies to the taps (as in PyTorch and ONNX Runtime), not to the coordinate. Far-away
  // coordinates are brought near so that the integer conversions stay defined, without changing
  // any tap: reflection is periodic in the coordinate (period 2 * (hi - lo), an integer), and for
  // the other modes every tap beyond the edge reads padding or the edge either way.
  const G far = static_cast<G>(size) + 8;
  const G period = 2 * (hi - lo);
  if (!std::isfinite(x)) x = -far;
  if (o.padding == Padding::kReflection && period > 0) {
    if (x < lo - period || x > hi + period) {
      x = lo + std::fmod(x - lo, period);
      if (x < lo) x += period;
    }
  } else {
    x = std::clamp(x, -far, far);
  }
  if (o.mode == Mode::kNearest) x = std::nearbyint(x);
  auto fetch = [&](int64_t i) -> int64_t {
    if (i >= 0 && i < size) return i;
    if (o.padding == Padding::kZeros) return -1;
    if (o.padding == Padding::kBorder) return std::clamp<int64_t>(i, 0, size - 1);
    const auto r = static_cast<int64_t>(reflect(static_cast<G>(i), lo, hi));
    return std::clamp<int64_t>(r, 0, size - 1);
  };
  if (o.mode == Mode::kNearest) {
    idx[0] = fetch(static_cast<int64_t>(x));
    w[0] = 1;
    return 1;
  }
  const G x0 = std::floor(x);
  const G t = x - x0;
  const auto i0 = static_cast<int64_t>(x0);
  if (o.mode == Mode::kLinear) {
    idx[0] = fetch(i0);
    idx[1] = fetch(i0 + 1);
    w[0] = 1 - t;
    w[1] = t;
    return 2;
  }
  for (int k = 0; k < 4; ++k) {
    idx[k] = fetch(i0 - 1 + k);
    w[k] = cubic_weight(t + 1 - static_cast<G>(k));
  }
  return 4;
}

template <typename S>
S finish(double v) {
  if constexpr (is_float_storage<S>()) {
    return store<S>(static_cast<Compute<S>>(v));
  } else {
    const double r = std::trunc(v);
    if (!(r > static_cast<double>(std::numeric_limits<S>::lowest()))) {
      return std::numeric_limits<S>::lowest();
    }
    if (!(r < static_cast<double>(std::numeric_limits<S>::max()))) {
      return std::numeric_limits<S>::max();
    }
    return static_cast<S>(r);
  }
}

// S: storage type of X; G: coordinate type (float or double).
template <typename S, typename G>
void sample(ThreadPool& pool, const Options& o, const ir::Tensor& xt, const G* grid,
            ir::Tensor& yt) {
  using T = std::conditional_t<std::is_same_v<Compute<S>, float>, float, double>;
  const auto& xd = xt.dims();
  const auto& yd = yt.dims();
  const size_t r = xd.size() - 2;
  const int64_t N = xd[0], C = xd[1];
  const int64_t P = nn::product(yd, 2, yd.size());
  const int64_t I = nn::product(xd, 2, xd.size());
  const std::vector<int64_t> in(xd.begin() + 2, xd.end());
  const std::vector<int64_t> in_strides = strides_of(in);
  const int per_axis = o.mode == Mode::kNearest ? 1 : o.mode == Mode::kLinear ? 2 : 4;
  int64_t max_combos = 1;
  for (size_t d = 0; d < r; ++d) max_combos *= per_axis;
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (P + kBlock - 1) / kBlock;
  const int64_t items = N * blocks;
  const S* x = xt.data<S>();
  S* y = yt.mutable_data<S>();
  const int64_t cost = std::max<int64_t>(1, kBlock * C * max_combos);
  pool.parallel_for(
      items, ThreadPool::grain_for(items, std::max<int64_t>(1, 65536 / cost)),
      [&](int64_t i0, int64_t i1) {
        std::vector<int64_t> offs(static_cast<size_t>(kBlock * max_combos));
        std::vector<T> ws(static_cast<size_t>(kBlock * max_combos));
        std::vector<int64_t> count(kBlock);
        std::vector<int64_t> idx(r * 4);
        std::vector<G> w(r * 4);
        std::vector<int> taps(r);
        for (int64_t it = i0; it < i1; ++it) {
          const int64_t n = it / blocks;
          const int64_t p0 = (it % blocks) * kBlock;
          const int64_t p1 = std::min(P, p0 + kBlock);
          for (int64_t p = p0; p < p1; ++p) {
            const G* g = grid + (n * P + p) * static_cast<int64_t>(r);
            for (size_t d = 0; d < r; ++d) {
              const G v = g[r - 1 - d];
              const G len = static_cast<G>(in[d]);
              const G pos = o.align_corners ? (v + 1) / 2 * (len - 1) : ((v + 1) * len - 1) / 2;
              taps[d] = axis_taps(o, pos, in[d], idx.data() + d * 4, w.data() + d * 4);
            }
            // Expand the tap combinations, dropping the ones that read zero padding.
            int64_t* po = offs.data() + (p - p0) * max_combos;
            T* pw = ws.data() + (p - p0) * max_combos;
            int64_t nc = 0;
            for (int64_t combo = 0; combo < max_combos; ++combo) {
              int64_t rem = combo, off = 0;
              G weight = 1;
              bool valid = true;
              for (size_t d = r; d-- > 0;) {
                const int k = static_cast<int>(rem % per_axis);
                rem /= per_axis;
                const int64_t i = idx[d * 4 + static_cast<size_t>(k)];
                if (i < 0) {
                  valid = false;
                  break;
                }
                off += i * in_strides[d];
                weight *= w[d * 4 + static_cast<size_t>(k)];
              }
              if (!valid) continue;
              po[nc] = off;
              pw[nc] = static_cast<T>(weight);
              ++nc;
            }
            count[static_cast<size_t>(p - p0)] = nc;
          }
          for (int64_t c = 0; c < C; ++c) {
            const S* xc = x + (n * C + c) * I;
            S* yc = y + (n * C + c) * P;
            for (int64_t p = p0; p < p1; ++p) {
              const int64_t* po = offs.data() + (p - p0) * max_combos;
              const T* pw = ws.data() + (p - p0) * max_combos;
              T acc = 0;
              for (int64_t k = 0; k < count[static_cast<size_t>(p - p0)]; ++k) {
                acc += pw[k] * static_cast<T>(load(xc[po[k]]));
              }
              yc[p] = finish<S>(static_cast<double>(acc));
            }
          }
        }
      });
}

Status grid_sample(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const ir::Tensor& gt = ctx.input(1);
  const auto& xd = xt.dims();
  const auto& gd = gt.dims();
  const bool only_2d = ctx.opset() < 20;
  if (xd.size() < 3 || (only_2d && xd.size() != 4) || gd.size() != xd.size() ||
      gd.back() != static_cast<int64_t>(xd.size() - 2) || gd[0] != xd[0]) {
    return ctx.fail("input ", ir::dims_to_string(xd), " and grid ", ir::dims_to_string(gd),
                    " do not match (expected grid [N, D1_out, ..., ", xd.size() - 2, "])");
  }
  Options o;
  MIXQ_ASSIGN_OR_RETURN(const int64_t ac, ctx.node().attr_int("align_corners", 0));
  o.align_corners = ac != 0;
  MIXQ_ASSIGN_OR_RETURN(const std::string mode,
                        ctx.node().attr_string("mode", only_2d ? "bilinear" : "linear"));
  if (mode == "nearest") {
    o.mode = Mode::kNearest;
  } else if (mode == "linear" || mode == "bilinear") {
    o.mode = Mode::kLinear;
  } else if (mode == "cubic" || mode == "bicubic") {
    o.mode = Mode::kCubic;
  } else {
    return ctx.fail("attribute mode is '", mode, "'");
  }
  MIXQ_ASSIGN_OR_RETURN(const std::string pad, ctx.node().attr_string("padding_mode", "zeros"));
  if (pad == "zeros") {
    o.padding = Padding::kZeros;
  } else if (pad == "border") {
    o.padding = Padding::kBorder;
  } else if (pad == "reflection") {
    o.padding = Padding::kReflection;
  } else {
    return ctx.fail("attribute padding_mode is '", pad, "'");
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  if (yt->numel() == 0) return Status::ok_status();
  for (size_t d = 2; d < xd.size(); ++d) {
    if (xd[d] == 0) return ctx.fail("input ", ir::dims_to_string(xd), " has an empty axis");
  }
  ThreadPool& pool = ctx.pool();
  return nn::with_compute_type(ctx, gt.dtype(), [&](auto gtag) -> Status {
    using G = decltype(gtag);
    std::vector<G> gscratch;
    const G* grid = nn::compute_view<G>(pool, gt, gscratch);
    return visit_dtype(xt.dtype(), [&](auto tag) -> Status {
      using S = decltype(tag);
      if constexpr (std::is_same_v<S, bool>) {
        return ctx.fail("bool input is not supported");
      } else {
        sample<S, G>(pool, o, xt, grid, *yt);
        return Status::ok_status();
      }
    });
  });
}

}  // namespace

void register_grid_sample_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "GridSample", 16, 21, types::kNumeric, 0, grid_sample});
}

}  // namespace mixq::exec
