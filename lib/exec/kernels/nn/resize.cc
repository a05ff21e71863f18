// ONNX Resize-10/11/13/18/19 and Upsample-7/9: every output element is a weighted sum of input
// elements, separable per axis.
//   Output sizes come from the shape function (floor(in * scale), sizes, or the
//   keep_aspect_ratio_policy rounding). The scale of an axis is the `scales` value, or
//   out / in with `sizes` (one common scale with not_larger / not_smaller).
//   Source coordinate x of output index y (coordinate_transformation_mode): half_pixel
//   (y + 0.5) / s - 0.5; half_pixel_symmetric (19) adds center * (1 - out / (s * in));
//   pytorch_half_pixel, 0 for an output of length 1; align_corners y * (in - 1) / (w - 1);
//   asymmetric y / s; tf_half_pixel_for_nn (11) (y + 0.5) / s; tf_crop_and_resize from roi
//   start/end, with extrapolation_value outside [0, in - 1]. As in the ONNX reference, w is the
//   fractional output width s * in.
//   nearest: round_prefer_floor / round_prefer_ceil / floor / ceil; linear: 2 taps; cubic: 4
//   taps of Keys' kernel with cubic_coeff_a; antialias (18) stretches the linear/cubic kernel
//   by 1 / s when downscaling and normalizes it; exclude_outside drops taps outside the input
//   and renormalizes; other taps are clamped to the edge. axes (18) picks the resized axes.
//   Resize-10 and Upsample have no coordinate attributes: asymmetric coordinates, and nearest
//   takes ceil(x) when downscaling and floor(x) otherwise (ONNX Runtime's rule for them).
// Weights are computed in float64; values in float32 (float64 for float64 and the integer
// types, which round half to even and saturate). nearest (and any resize whose taps all land
// on exact input positions) copies elements of any fixed-size type.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <type_traits>

#include "kernels/nn/nn_kernels.h"
#include "kernels/nn/nn_util.h"

namespace mixq::exec {
namespace {

enum class Mode { kNearest, kLinear, kCubic };
enum class Coord {
  kHalfPixel,
  kHalfPixelSymmetric,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize
};
enum class Rounding { kPreferFloor, kPreferCeil, kFloor, kCeil, kLegacy };

struct Params {
  Mode mode = Mode::kNearest;
  Coord coord = Coord::kHalfPixel;
  Rounding rounding = Rounding::kPreferFloor;
  double cubic_a = -0.75;
  bool exclude_outside = false;
  bool antialias = false;
  double extrapolation = 0;
};

// Sampling of one axis: output index o reads input indices index[o * taps + k] (clamped into
// the input) with weights weight[o * taps + k]; outside[o] marks tf_crop_and_resize positions
// that take the extrapolation value (empty when there are none).
struct Axis {
  int64_t in = 1, out = 1, taps = 1;
  std::vector<int64_t> index;
  std::vector<double> weight;
  std::vector<uint8_t> outside;
};

double source_coordinate(const Params& p, int64_t y, int64_t in, int64_t out, double scale,
                         double roi_start, double roi_end) {
  const double yd = static_cast<double>(y);
  const double ind = static_cast<double>(in);
  const double width = scale * ind;  // the fractional output width
  switch (p.coord) {
    case Coord::kHalfPixel:
      return (yd + 0.5) / scale - 0.5;
    case Coord::kHalfPixelSymmetric: {
      const double adjustment = static_cast<double>(out) / width;
      return ind / 2 * (1 - adjustment) + (yd + 0.5) / scale - 0.5;
    }
    case Coord::kPytorchHalfPixel:
      return out > 1 ? (yd + 0.5) / scale - 0.5 : 0.0;
    case Coord::kAlignCorners:
      return width == 1 ? 0.0 : yd * (ind - 1) / (width - 1);
    case Coord::kAsymmetric:
      // Resize-10 and Upsample (rounding kLegacy) follow ONNX Runtime, which divides in float32.
      if (p.rounding == Rounding::kLegacy) {
        return static_cast<double>(static_cast<float>(y) / static_cast<float>(scale));
      }
      return yd / scale;
    case Coord::kTfHalfPixelForNn:
      return (yd + 0.5) / scale;
    case Coord::kTfCropAndResize:
      return (width == 1 ? (roi_end - roi_start) * (ind - 1) / 2
                         : yd * (roi_end - roi_start) * (ind - 1) / (width - 1)) +
             roi_start * (ind - 1);
  }
  return 0;
}

double kernel_weight(Mode mode, double d, double a) {
  d = std::fabs(d);
  if (mode == Mode::kLinear) return std::max(0.0, 1 - d);
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0;
}

// The nearest input index to x for the rounding rule (before clamping).
double nearest_of(Rounding r, double x, double scale) {
  const double fl = std::floor(x);
  const double frac = x - fl;
  switch (r) {
    case Rounding::kPreferFloor:
      return frac <= 0.5 ? fl : fl + 1;
    case Rounding::kPreferCeil:
      return frac < 0.5 ? fl : fl + 1;
    case Rounding::kFloor:
      return fl;
    case Rounding::kCeil:
      return std::ceil(x);
    case Rounding::kLegacy:
      return scale < 1 ? std::ceil(x) : std::trunc(x);
  }
  return fl;
}

Axis identity_axis(int64_t n) {
  Axis a;
  a.in = a.out = n;
  a.index.resize(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) a.index[static_cast<size_t>(i)] = i;
  a.weight.assign(static_cast<size_t>(n), 1.0);
  return a;
}

// Drops zero-weight taps: every output keeps its nonzero taps first, and `taps` shrinks to the
// largest count (at least 1).
void compact(Axis& a) {
  int64_t most = 0;
  for (int64_t o = 0; o < a.out; ++o) {
    int64_t nz = 0;
    for (int64_t k = 0; k < a.taps; ++k) nz += a.weight[static_cast<size_t>(o * a.taps + k)] != 0;
    most = std::max(most, nz);
  }
  most = std::max<int64_t>(most, 1);
  if (most == a.taps) return;
  std::vector<int64_t> index(static_cast<size_t>(a.out * most), 0);
  std::vector<double> weight(static_cast<size_t>(a.out * most), 0.0);
  for (int64_t o = 0; o < a.out; ++o) {
    int64_t j = 0;
    for (int64_t k = 0; k < a.taps; ++k) {
      const size_t src = static_cast<size_t>(o * a.taps + k);
      if (a.weight[src] == 0) continue;
      index[static_cast<size_t>(o * most + j)] = a.index[src];
      weight[static_cast<size_t>(o * most + j)] = a.weight[src];
      ++j;
    }
    // Padding taps read a valid index with weight 0.
    for (; j < most; ++j) index[static_cast<size_t>(o * most + j)] = a.index[o * a.taps];
  }
  a.taps = most;
  a.index = std::move(index);
  a.weight = std::move(weight);
}

Axis make_axis(const Params& p, int64_t in, int64_t out, double scale, double roi_start,
               double roi_end) {
  Axis a;
  a.in = in;
  a.out = out;
  const bool crop = p.coord == Coord::kTfCropAndResize;
  if (crop) a.outside.assign(static_cast<size_t>(out), 0);
  const double hi = static_cast<double>(in - 1);
  if (p.mode == Mode::kNearest) {
    a.index.resize(static_cast<size_t>(out));
    a.weight.assign(static_cast<size_t>(out), 1.0);
    for (int64_t y = 0; y < out; ++y) {
      double x = source_coordinate(p, y, in, out, scale, roi_start, roi_end);
      if (crop && !(x >= 0 && x <= hi)) a.outside[static_cast<size_t>(y)] = 1;
      // Clamping before the conversion keeps far-away (and NaN-roi) coordinates defined.
      if (std::isnan(x)) x = 0;
      const double i =
          std::clamp(nearest_of(p.rounding, std::clamp(x, -1.0, hi + 1), scale), 0.0, hi);
      a.index[static_cast<size_t>(y)] = static_cast<int64_t>(i);
    }
    return a;
  }
  // Taps i in [start, end) sit at base + i, with base = x - ratio and ratio in (0, 1] (an exact
  // input position counts as ratio 1, as in the reference), weighted by the kernel at
  // scale_c * (i - ratio).
  const double scale_c = p.antialias ? std::min(scale, 1.0) : 1.0;
  const double reach = p.mode == Mode::kLinear ? 1.0 : 2.0;
  const int64_t start = p.antialias ? static_cast<int64_t>(std::floor(-reach / scale_c)) + 1
                                    : (p.mode == Mode::kLinear ? 0 : -1);
  const int64_t end = 2 - start;
  a.taps = end - start;
  a.index.resize(static_cast<size_t>(out * a.taps));
  a.weight.resize(static_cast<size_t>(out * a.taps));
  const double margin = static_cast<double>(a.taps) + 2;
  for (int64_t y = 0; y < out; ++y) {
    double x = source_coordinate(p, y, in, out, scale, roi_start, roi_end);
    if (crop && !(x >= 0 && x <= hi)) a.outside[static_cast<size_t>(y)] = 1;
    x = std::isnan(x) ? 0.0 : std::clamp(x, -margin, hi + margin);
    double fl = std::floor(x);
    double ratio = x - fl;
    if (ratio == 0) {
      ratio = 1;
      fl -= 1;
    }
    const auto base = static_cast<int64_t>(fl);
    double* w = a.weight.data() + y * a.taps;
    int64_t* idx = a.index.data() + y * a.taps;
    double sum = 0;
    for (int64_t i = start; i < end; ++i) {
      const double v = kernel_weight(p.mode, scale_c * (static_cast<double>(i) - ratio), p.cubic_a);
      w[i - start] = v;
      idx[i - start] = base + i;
      sum += v;
    }
    if (p.antialias && sum != 0) {
      for (int64_t k = 0; k < a.taps; ++k) w[k] /= sum;
    }
    if (p.exclude_outside) {
      sum = 0;
      for (int64_t k = 0; k < a.taps; ++k) {
        if (idx[k] < 0 || idx[k] >= in) w[k] = 0;
        sum += w[k];
      }
      if (sum != 0) {
        for (int64_t k = 0; k < a.taps; ++k) w[k] /= sum;
      }
    }
    for (int64_t k = 0; k < a.taps; ++k) idx[k] = std::clamp<int64_t>(idx[k], 0, in - 1);
  }
  compact(a);
  return a;
}

// True when every output element copies one input element.
bool is_gather(const std::vector<Axis>& axes) {
  for (const Axis& a : axes) {
    if (a.taps != 1) return false;
    for (double w : a.weight) {
      if (w != 1.0) return false;
    }
  }
  return true;
}

// Shared row geometry: rows are the output positions of every axis but the last.
struct Rows {
  size_t rank = 0;
  int64_t count = 1, last = 1;
  std::vector<int64_t> in_strides;
};

// Output coordinates of `row` over the axes before the last.
void coords_of(const std::vector<Axis>& axes, int64_t row, std::vector<int64_t>& c) {
  for (size_t d = axes.size() - 1; d-- > 0;) {
    c[d] = row % axes[d].out;
    row /= axes[d].out;
  }
}

// Advances the coordinates of coords_of to the next row.
void next_row(const std::vector<Axis>& axes, std::vector<int64_t>& c) {
  for (size_t d = axes.size() - 1; d-- > 0;) {
    if (++c[d] < axes[d].out) return;
    c[d] = 0;
  }
}

Rows rows_of(const std::vector<Axis>& axes) {
  Rows r;
  r.rank = axes.size();
  std::vector<int64_t> in_dims;
  for (const Axis& a : axes) in_dims.push_back(a.in);
  r.in_strides = strides_of(in_dims);
  for (size_t d = 0; d + 1 < r.rank; ++d) r.count *= axes[d].out;
  r.last = axes.back().out;
  return r;
}

// Gather path: elements of `bytes` bytes (the word type W).
template <typename W>
void gather(ThreadPool& pool, const std::vector<Axis>& axes, const W* x, W* y, W extrapolation) {
  const Rows r = rows_of(axes);
  const Axis& la = axes.back();
  const int64_t grain = ThreadPool::grain_for(r.count, std::max<int64_t>(1, 16384 / r.last));
  pool.parallel_for(r.count, grain, [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> coord(r.rank);
    coords_of(axes, r0, coord);
    for (int64_t row = r0; row < r1; ++row, next_row(axes, coord)) {
      int64_t off = 0;
      bool outside = false;
      for (size_t d = 0; d + 1 < r.rank; ++d) {
        const Axis& a = axes[d];
        const auto o = static_cast<size_t>(coord[d]);
        off += a.index[o] * r.in_strides[d];
        outside |= !a.outside.empty() && a.outside[o];
      }
      W* yr = y + row * r.last;
      if (outside) {
        std::fill(yr, yr + r.last, extrapolation);
        continue;
      }
      const W* src = x + off;
      const int64_t* li = la.index.data();
      if (la.outside.empty()) {
        for (int64_t j = 0; j < r.last; ++j) yr[j] = src[li[j]];
      } else {
        for (int64_t j = 0; j < r.last; ++j) yr[j] = la.outside[j] ? extrapolation : src[li[j]];
      }
    }
  });
}

template <typename S>
using ResizeCompute = std::conditional_t<std::is_same_v<Compute<S>, float>, float, double>;

// Converts an accumulated value to storage type S: integers round half to even and saturate.
template <typename S>
S finish_value(ResizeCompute<S> v) {
  if constexpr (is_float_storage<S>()) {
    return store<S>(static_cast<Compute<S>>(v));
  } else {
    const double r = std::nearbyint(static_cast<double>(v));
    const double lo = static_cast<double>(std::numeric_limits<S>::lowest());
    const double hi = static_cast<double>(std::numeric_limits<S>::max());
    if (!(r > lo)) return std::numeric_limits<S>::lowest();
    if (!(r < hi)) return std::numeric_limits<S>::max();
    return static_cast<S>(r);
  }
}

// Weighted path: each output row combines the input rows of its outer taps into one row (in
// compute type T), then applies the last axis's taps.
template <typename S>
void interpolate(ThreadPool& pool, const std::vector<Axis>& axes, const S* x, S* y,
                 double extrapolation) {
  using T = ResizeCompute<S>;
  const Rows r = rows_of(axes);
  const Axis& la = axes.back();
  std::vector<std::vector<T>> weights(axes.size());
  int64_t combos = 1;
  for (size_t d = 0; d < axes.size(); ++d) {
    weights[d].assign(axes[d].weight.begin(), axes[d].weight.end());
    if (d + 1 < axes.size()) combos *= axes[d].taps;
  }
  const int64_t lo = *std::min_element(la.index.begin(), la.index.end());
  const int64_t hi = *std::max_element(la.index.begin(), la.index.end()) + 1;
  const S fill = finish_value<S>(static_cast<T>(extrapolation));
  const int64_t per_row = std::max<int64_t>(1, r.last * la.taps + (hi - lo) * combos);
  const int64_t grain = ThreadPool::grain_for(r.count, std::max<int64_t>(1, 16384 / per_row));
  pool.parallel_for(r.count, grain, [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> offs(static_cast<size_t>(combos)), next_offs;
    std::vector<T> ws(static_cast<size_t>(combos)), next_ws;
    std::vector<T> tmp(static_cast<size_t>(hi));
    std::vector<int64_t> coord(r.rank);
    coords_of(axes, r0, coord);
    for (int64_t row = r0; row < r1; ++row, next_row(axes, coord)) {
      bool outside = false;
      for (size_t d = 0; d + 1 < r.rank; ++d) {
        outside |= !axes[d].outside.empty() && axes[d].outside[static_cast<size_t>(coord[d])];
      }
      S* yr = y + row * r.last;
      if (outside) {
        std::fill(yr, yr + r.last, fill);
        continue;
      }
      // Outer taps: offsets and product weights, expanded axis by axis.
      size_t n = 1;
      offs[0] = 0;
      ws[0] = T(1);
      for (size_t d = 0; d + 1 < r.rank; ++d) {
        const Axis& a = axes[d];
        const size_t base = static_cast<size_t>(coord[d] * a.taps);
        if (a.taps == 1) {
          for (size_t c = 0; c < n; ++c) {
            offs[c] += a.index[base] * r.in_strides[d];
            ws[c] *= weights[d][base];
          }
          continue;
        }
        next_offs.clear();
        next_ws.clear();
        for (size_t c = 0; c < n; ++c) {
          for (int64_t k = 0; k < a.taps; ++k) {
            next_offs.push_back(offs[c] + a.index[base + k] * r.in_strides[d]);
            next_ws.push_back(ws[c] * weights[d][base + k]);
          }
        }
        n = next_offs.size();
        std::copy(next_offs.begin(), next_offs.end(), offs.begin());
        std::copy(next_ws.begin(), next_ws.end(), ws.begin());
      }
      // The combined row over the input range the last axis reads.
      const T* src = nullptr;
      if constexpr (std::is_same_v<S, T>) {
        if (n == 1 && ws[0] == T(1)) src = x + offs[0];
      }
      if (src == nullptr) {
        T* t = tmp.data();
        {
          const S* xr = x + offs[0];
          const T w0 = ws[0];
          for (int64_t i = lo; i < hi; ++i) t[i] = w0 * static_cast<T>(load(xr[i]));
        }
        for (size_t c = 1; c < n; ++c) {
          const S* xr = x + offs[c];
          const T wc = ws[c];
          for (int64_t i = lo; i < hi; ++i) t[i] += wc * static_cast<T>(load(xr[i]));
        }
        src = t;
      }
      const int64_t lt = la.taps;
      const int64_t* li = la.index.data();
      const T* lw = weights.back().data();
      if (lt == 1) {
        for (int64_t j = 0; j < r.last; ++j) yr[j] = finish_value<S>(lw[j] * src[li[j]]);
      } else if (lt == 2) {
        for (int64_t j = 0; j < r.last; ++j) {
          yr[j] = finish_value<S>(lw[2 * j] * src[li[2 * j]] + lw[2 * j + 1] * src[li[2 * j + 1]]);
        }
      } else {
        for (int64_t j = 0; j < r.last; ++j) {
          T acc = 0;
          for (int64_t k = 0; k < lt; ++k) acc += lw[j * lt + k] * src[li[j * lt + k]];
          yr[j] = finish_value<S>(acc);
        }
      }
      if (!la.outside.empty()) {
        for (int64_t j = 0; j < r.last; ++j) {
          if (la.outside[static_cast<size_t>(j)]) yr[j] = fill;
        }
      }
    }
  });
}

// The raw bits of `v` in dtype t (for the gather path's extrapolation value).
uint64_t value_bits(DType t, double v) {
  uint64_t bits = 0;
  (void)visit_dtype(t, [&](auto tag) -> Status {
    using S = decltype(tag);
    S s{};
    if constexpr (std::is_same_v<S, bool>) {
      s = v != 0;
    } else if constexpr (is_float_storage<S>()) {
      s = store<S>(static_cast<Compute<S>>(v));
    } else {
      s = finish_value<S>(v);
    }
    std::memcpy(&bits, &s, sizeof(S));
    return Status::ok_status();
  });
  return bits;
}

Status run_axes(KernelContext& ctx, const std::vector<Axis>& axes, const Params& p,
                ir::Tensor* yt) {
  const ir::Tensor& xt = ctx.input(0);
  if (yt->numel() == 0) return Status::ok_status();
  if (axes.empty()) {
    std::memcpy(yt->mutable_raw_data(), xt.raw_data(), xt.nbytes());
    return Status::ok_status();
  }
  ThreadPool& pool = ctx.pool();
  if (is_gather(axes)) {
    const size_t es = element_size(xt.dtype());
    if (es == 0 || xt.dtype() == DType::kString) {
      return ctx.not_supported("resizing ", dtype_name(xt.dtype()), " tensors");
    }
    const uint64_t bits = value_bits(xt.dtype(), p.extrapolation);
    auto run = [&](auto tag) {
      using W = decltype(tag);
      W fill;
      std::memcpy(&fill, &bits, sizeof(W));
      gather<W>(pool, axes, reinterpret_cast<const W*>(xt.raw_data()),
                reinterpret_cast<W*>(yt->mutable_raw_data()), fill);
    };
    switch (es) {
      case 1:
        run(uint8_t{});
        break;
      case 2:
        run(uint16_t{});
        break;
      case 4:
        run(uint32_t{});
        break;
      case 8:
        run(uint64_t{});
        break;
      default:
        return ctx.not_supported("resizing ", dtype_name(xt.dtype()), " tensors");
    }
    return Status::ok_status();
  }
  return visit_dtype(xt.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.not_supported("linear or cubic resizing of bool tensors");
    } else {
      interpolate<S>(pool, axes, xt.data<S>(), yt->mutable_data<S>(), p.extrapolation);
      return Status::ok_status();
    }
  });
}

Expected<Mode> read_mode(const KernelContext& ctx, bool legacy) {
  MIXQ_ASSIGN_OR_RETURN(const std::string m, ctx.node().attr_string("mode", "nearest"));
  if (m == "nearest") return Mode::kNearest;
  if (m == "linear") return Mode::kLinear;
  if (m == "cubic" && !legacy) return Mode::kCubic;
  return ctx.fail("attribute mode is '", m, "', expected nearest, linear",
                  legacy ? "" : " or cubic");
}

Status read_params(const KernelContext& ctx, Params& p) {
  MIXQ_ASSIGN_OR_RETURN(const std::string c,
                        ctx.node().attr_string("coordinate_transformation_mode", "half_pixel"));
  const std::pair<const char*, Coord> coords[] = {
      {"half_pixel", Coord::kHalfPixel},
      {"half_pixel_symmetric", Coord::kHalfPixelSymmetric},
      {"pytorch_half_pixel", Coord::kPytorchHalfPixel},
      {"align_corners", Coord::kAlignCorners},
      {"asymmetric", Coord::kAsymmetric},
      {"tf_half_pixel_for_nn", Coord::kTfHalfPixelForNn},
      {"tf_crop_and_resize", Coord::kTfCropAndResize}};
  bool found = false;
  for (const auto& [name, mode] : coords) {
    if (c == name) {
      p.coord = mode;
      found = true;
    }
  }
  if (!found) return ctx.fail("attribute coordinate_transformation_mode is '", c, "'");
  MIXQ_ASSIGN_OR_RETURN(const std::string n,
                        ctx.node().attr_string("nearest_mode", "round_prefer_floor"));
  if (n == "round_prefer_floor") {
    p.rounding = Rounding::kPreferFloor;
  } else if (n == "round_prefer_ceil") {
    p.rounding = Rounding::kPreferCeil;
  } else if (n == "floor") {
    p.rounding = Rounding::kFloor;
  } else if (n == "ceil") {
    p.rounding = Rounding::kCeil;
  } else {
    return ctx.fail("attribute nearest_mode is '", n, "'");
  }
  MIXQ_ASSIGN_OR_RETURN(const float a, ctx.node().attr_float("cubic_coeff_a", -0.75f));
  MIXQ_ASSIGN_OR_RETURN(const int64_t ex, ctx.node().attr_int("exclude_outside", 0));
  MIXQ_ASSIGN_OR_RETURN(const float ev, ctx.node().attr_float("extrapolation_value", 0.0f));
  p.cubic_a = a;
  p.exclude_outside = ex != 0;
  p.extrapolation = ev;
  if (ctx.opset() >= 18) {
    MIXQ_ASSIGN_OR_RETURN(const int64_t aa, ctx.node().attr_int("antialias", 0));
    p.antialias = aa != 0 && p.mode != Mode::kNearest;
  }
  return Status::ok_status();
}

// Resize-11+ and the legacy forms share this: `scales` (possibly empty), `sizes` (possibly
// empty), `roi` (possibly empty) over `axes`.
Status resize_common(KernelContext& ctx, const Params& p, const std::vector<double>& scales,
                     const std::vector<int64_t>& sizes, const std::vector<double>& roi,
                     const std::vector<int64_t>& axes, const std::string& policy) {
  const auto& xd = ctx.input(0).dims();
  const size_t rank = xd.size();
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  const std::vector<int64_t>& yd = yt->dims();
  if (yd.size() != rank) return ctx.fail("output rank differs from input rank");
  const size_t na = axes.size();
  if (!scales.empty() && !sizes.empty()) return ctx.fail("scales and sizes are both given");
  if (scales.empty() && sizes.empty()) return ctx.fail("neither scales nor sizes is given");
  if (!scales.empty() && scales.size() != na) {
    return ctx.fail("scales has ", scales.size(), " values, expected ", na);
  }
  if (!sizes.empty() && sizes.size() != na) {
    return ctx.fail("sizes has ", sizes.size(), " values, expected ", na);
  }
  const bool crop = p.coord == Coord::kTfCropAndResize;
  if (crop && roi.size() != 2 * na) {
    return ctx.fail("roi has ", roi.size(), " values, expected ", 2 * na,
                    " for tf_crop_and_resize");
  }
  std::vector<double> axis_scale(na);
  for (size_t i = 0; i < na; ++i) {
    const int64_t in = xd[static_cast<size_t>(axes[i])];
    if (!scales.empty()) {
      axis_scale[i] = scales[i];
      if (!(scales[i] > 0) || !std::isfinite(scales[i])) {
        return ctx.fail("scales has value ", scales[i], ", must be > 0");
      }
    } else {
      if (in == 0) return ctx.fail("cannot resize axis ", axes[i], " of size 0 to sizes");
      axis_scale[i] = static_cast<double>(sizes[i]) / static_cast<double>(in);
    }
  }
  if (!sizes.empty() && policy != "stretch") {
    double s = axis_scale.empty() ? 1.0 : axis_scale[0];
    for (double v : axis_scale) s = policy == "not_larger" ? std::min(s, v) : std::max(s, v);
    std::fill(axis_scale.begin(), axis_scale.end(), s);
  }
  std::vector<Axis> sampling;
  for (size_t d = 0; d < rank; ++d) {
    const auto it = std::find(axes.begin(), axes.end(), static_cast<int64_t>(d));
    if (it == axes.end()) {
      if (yd[d] != xd[d]) return ctx.fail("axis ", d, " is not resized but changes size");
      sampling.push_back(identity_axis(xd[d]));
      continue;
    }
    const size_t i = static_cast<size_t>(it - axes.begin());
    if (xd[d] == 0 && yd[d] > 0) return ctx.fail("cannot resize axis ", d, " of size 0");
    if (yd[d] == 0) {
      sampling.push_back(identity_axis(0));
      continue;
    }
    sampling.push_back(
        make_axis(p, xd[d], yd[d], axis_scale[i], crop ? roi[i] : 0.0, crop ? roi[i + na] : 1.0));
  }
  return run_axes(ctx, sampling, p, yt);
}

std::vector<int64_t> all_axes(size_t rank) {
  std::vector<int64_t> axes(rank);
  for (size_t d = 0; d < rank; ++d) axes[d] = static_cast<int64_t>(d);
  return axes;
}

Status resize(KernelContext& ctx) {
  const int64_t opset = ctx.opset();
  const size_t rank = ctx.input(0).rank();
  Params p;
  MIXQ_ASSIGN_OR_RETURN(p.mode, read_mode(ctx, opset < 11));
  if (opset < 11) {
    // Resize-10(X, scales).
    p.coord = Coord::kAsymmetric;
    p.rounding = Rounding::kLegacy;
    if (!ctx.has_input(1)) return ctx.fail("input scales is missing");
    return resize_common(ctx, p, nn::input_doubles(ctx.input(1)), {}, {}, all_axes(rank),
                         "stretch");
  }
  MIXQ_RETURN_IF_ERROR(read_params(ctx, p));
  std::vector<int64_t> axes = all_axes(rank);
  std::string policy = "stretch";
  if (opset >= 18) {
    MIXQ_ASSIGN_OR_RETURN(auto given, ctx.node().attr_ints("axes"));
    if (given) {
      axes.clear();
      for (int64_t a : *given) {
        const auto r = static_cast<int64_t>(rank);
        if (a < -r || a >= r) return ctx.fail("axes entry ", a, " is out of range");
        if (a < 0) a += r;
        if (std::find(axes.begin(), axes.end(), a) != axes.end()) {
          return ctx.fail("axes has ", a, " twice");
        }
        axes.push_back(a);
      }
    }
    MIXQ_ASSIGN_OR_RETURN(policy, ctx.node().attr_string("keep_aspect_ratio_policy", "stretch"));
    if (policy != "stretch" && policy != "not_larger" && policy != "not_smaller") {
      return ctx.fail("attribute keep_aspect_ratio_policy is '", policy, "'");
    }
  }
  const std::vector<double> roi =
      ctx.has_input(1) ? nn::input_doubles(ctx.input(1)) : std::vector<double>{};
  const std::vector<double> scales =
      ctx.has_input(2) ? nn::input_doubles(ctx.input(2)) : std::vector<double>{};
  const std::vector<int64_t> sizes =
      ctx.has_input(3) ? nn::input_ints(ctx.input(3)) : std::vector<int64_t>{};
  return resize_common(ctx, p, scales, sizes, roi, axes, policy);
}

// Upsample-7 (scales attribute) and Upsample-9 (scales input): Resize-10 semantics.
Status upsample(KernelContext& ctx) {
  Params p;
  MIXQ_ASSIGN_OR_RETURN(p.mode, read_mode(ctx, true));
  p.coord = Coord::kAsymmetric;
  p.rounding = Rounding::kLegacy;
  std::vector<double> scales;
  if (ctx.opset() < 9) {
    MIXQ_ASSIGN_OR_RETURN(auto attr, ctx.node().attr_floats("scales"));
    if (!attr) return ctx.fail("required attribute 'scales' is missing");
    scales.assign(attr->begin(), attr->end());
  } else {
    if (!ctx.has_input(1)) return ctx.fail("input scales is missing");
    scales = nn::input_doubles(ctx.input(1));
  }
  if (scales.empty() && ctx.input(0).rank() > 0) return ctx.fail("scales is empty");
  return resize_common(ctx, p, scales, {}, {}, all_axes(ctx.input(0).rank()), "stretch");
}

}  // namespace

void register_resize_kernels(std::vector<KernelDef>& out) {
  const TypeSet all = types::kNumeric | types::kBool;
  out.push_back({"", "Resize", 10, 21, all, 0, resize});
  out.push_back({"", "Upsample", 7, 9, all, 0, upsample});
}

}  // namespace mixq::exec
