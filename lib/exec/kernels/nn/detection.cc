// Detection-head ops.
// ONNX RoiAlign-10/16: Y[r, c, ph, pw] pools X[batch_indices[r], c] over bin (ph, pw) of roi r
//   = (x1, y1, x2, y2) * spatial_scale (minus 0.5 with coordinate_transformation_mode
//   half_pixel, the RoiAlign-16 default; RoiAlign-10 and output_half_pixel keep the legacy
//   form, which also stretches rois to at least 1x1). Each bin averages (mode avg) or takes the
//   max (mode max) of sampling_ratio^2 bilinear samples (ceil(roi size / output size) per axis
//   when sampling_ratio is 0); samples more than one pixel outside the image count as 0. max
//   takes the largest weighted corner term of each sample, as ONNX Runtime and the ONNX
//   reference do.
// ONNX NonMaxSuppression-10/11: per batch and class, boxes sorted by score (descending, ties by
//   lower index), those with score <= score_threshold dropped (when given), then greedily kept
//   unless their IoU with an already kept box exceeds iou_threshold, up to
//   max_output_boxes_per_class (default 0: none). Boxes are [y1, x1, y2, x2] corners in any order
//   (center_point_box 0) or [x_center, y_center, width, height] (1). Output [num, 3]
//   (batch, class, box) in batch, class, selection order. NaN scores sort last.
// Computed in float32 (float64 for float64 inputs).
#include <algorithm>
#include <cmath>

#include "kernels/nn/nn_kernels.h"
#include "kernels/nn/nn_util.h"

namespace mixq::exec {
namespace {

// One bilinear sample: four input offsets (within a plane) and their weights.
template <typename T>
struct Sample {
  int64_t pos[4];
  T w[4];
};

template <typename T>
Status roi_align_typed(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const ir::Tensor& rt = ctx.input(1);
  const ir::Tensor& bt = ctx.input(2);
  const auto& xd = xt.dims();
  if (xd.size() != 4 || rt.rank() != 2 || rt.dims()[1] != 4 || bt.rank() != 1 ||
      bt.dims()[0] != rt.dims()[0]) {
    return ctx.fail("input ", ir::dims_to_string(xd), ", rois ", ir::dims_to_string(rt.dims()),
                    " and batch_indices ", ir::dims_to_string(bt.dims()),
                    " do not match [N, C, H, W], [R, 4], [R]");
  }
  if (bt.dtype() != DType::kInt64 && bt.dtype() != DType::kInt32) {
    return ctx.fail("batch_indices must be int64");
  }
  MIXQ_ASSIGN_OR_RETURN(const std::string mode, ctx.node().attr_string("mode", "avg"));
  if (mode != "avg" && mode != "max") return ctx.fail("attribute mode is '", mode, "'");
  const bool is_max = mode == "max";
  MIXQ_ASSIGN_OR_RETURN(const int64_t ph_n, ctx.node().attr_int("output_height", 1));
  MIXQ_ASSIGN_OR_RETURN(const int64_t pw_n, ctx.node().attr_int("output_width", 1));
  MIXQ_ASSIGN_OR_RETURN(const int64_t sampling_ratio, ctx.node().attr_int("sampling_ratio", 0));
  MIXQ_ASSIGN_OR_RETURN(const float spatial_scale, ctx.node().attr_float("spatial_scale", 1.0f));
  if (ph_n < 1 || pw_n < 1 || sampling_ratio < 0) {
    return ctx.fail("output_height, output_width must be >= 1 and sampling_ratio >= 0");
  }
  bool half_pixel = false;
  if (ctx.opset() >= 16) {
    MIXQ_ASSIGN_OR_RETURN(const std::string ctm,
                          ctx.node().attr_string("coordinate_transformation_mode", "half_pixel"));
    if (ctm != "half_pixel" && ctm != "output_half_pixel") {
      return ctx.fail("attribute coordinate_transformation_mode is '", ctm, "'");
    }
    half_pixel = ctm == "half_pixel";
  }
  const int64_t N = xd[0], C = xd[1], H = xd[2], W = xd[3];
  const int64_t R = rt.dims()[0];
  const std::vector<int64_t> batch = nn::input_ints(bt);
  for (int64_t r = 0; r < R; ++r) {
    if (batch[static_cast<size_t>(r)] < 0 || batch[static_cast<size_t>(r)] >= N) {
      return ctx.fail("batch_indices[", r, "] = ", batch[static_cast<size_t>(r)],
                      " is outside [0, ", N, ")");
    }
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  if (yt->numel() == 0) return Status::ok_status();
  if (H < 1 || W < 1) return ctx.fail("input ", ir::dims_to_string(xd), " has no pixels to pool");
  ThreadPool& pool = ctx.pool();
  std::vector<T> xs, rs, ys;
  const T* x = nn::compute_view<T>(pool, xt, xs);
  const T* rois = nn::compute_view<T>(pool, rt, rs);
  T* y = nn::compute_out<T>(*yt, ys);
  // Roi geometry first, so that absurd rois fail before any work.
  struct Geometry {
    T x1, y1, bin_w, bin_h;
    int64_t gw, gh;
  };
  std::vector<Geometry> geo(static_cast<size_t>(R));
  const T offset = half_pixel ? T(0.5) : T(0);
  const T scale = static_cast<T>(spatial_scale);
  for (int64_t r = 0; r < R; ++r) {
    const T* roi = rois + r * 4;
    Geometry& g = geo[static_cast<size_t>(r)];
    g.x1 = roi[0] * scale - offset;
    g.y1 = roi[1] * scale - offset;
    T rw = roi[2] * scale - offset - g.x1, rh = roi[3] * scale - offset - g.y1;
    if (!half_pixel) {
      rw = std::max(rw, T(1));
      rh = std::max(rh, T(1));
    }
    g.bin_h = rh / static_cast<T>(ph_n);
    g.bin_w = rw / static_cast<T>(pw_n);
    // Samples per bin axis: sampling_ratio, else ceil(bin size) (none for empty or NaN rois).
    auto grid_of = [&](T bin) -> Expected<int64_t> {
      if (sampling_ratio > 0) return sampling_ratio;
      const T v = std::ceil(bin);
      if (!(v >= 1)) return int64_t{0};
      if (v > T(1 << 20)) return ctx.fail("roi ", r, " is too large to sample");
      return static_cast<int64_t>(v);
    };
    MIXQ_ASSIGN_OR_RETURN(g.gh, grid_of(g.bin_h));
    MIXQ_ASSIGN_OR_RETURN(g.gw, grid_of(g.bin_w));
    if (static_cast<double>(g.gh) * static_cast<double>(g.gw) * static_cast<double>(ph_n * pw_n) >
        double(int64_t{1} << 28)) {
      return ctx.fail("roi ", r, " needs too many samples");
    }
  }
  // Items: (roi, block of channels); each computes its roi's samples, shared by its channels.
  constexpr int64_t kChannels = 16;
  const int64_t cblocks = (C + kChannels - 1) / kChannels;
  const int64_t items = R * cblocks;
  pool.parallel_for(items, 1, [&](int64_t i0, int64_t i1) {
    std::vector<Sample<T>> samples;
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t r = it / cblocks;
      const int64_t c0 = (it % cblocks) * kChannels;
      const int64_t c1 = std::min(C, c0 + kChannels);
      const Geometry& g = geo[static_cast<size_t>(r)];
      const T x1 = g.x1, y1 = g.y1, bin_w = g.bin_w, bin_h = g.bin_h;
      const int64_t gh = g.gh, gw = g.gw;
      const T count = static_cast<T>(std::max<int64_t>(gh * gw, 1));
      samples.resize(static_cast<size_t>(ph_n * pw_n * gh * gw));
      size_t s = 0;
      for (int64_t ph = 0; ph < ph_n; ++ph) {
        for (int64_t pw = 0; pw < pw_n; ++pw) {
          for (int64_t iy = 0; iy < gh; ++iy) {
            const T yy = y1 + static_cast<T>(ph) * bin_h +
                         (static_cast<T>(iy) + T(0.5)) * bin_h / static_cast<T>(gh);
            for (int64_t ix = 0; ix < gw; ++ix, ++s) {
              const T xx = x1 + static_cast<T>(pw) * bin_w +
                           (static_cast<T>(ix) + T(0.5)) * bin_w / static_cast<T>(gw);
              Sample<T>& sm = samples[s];
              if (!(yy >= -1 && yy <= static_cast<T>(H) && xx >= -1 && xx <= static_cast<T>(W))) {
                sm = Sample<T>{{0, 0, 0, 0}, {0, 0, 0, 0}};
                continue;
              }
              T yv = std::max(yy, T(0)), xv = std::max(xx, T(0));
              int64_t yl = static_cast<int64_t>(yv), xl = static_cast<int64_t>(xv), yh, xh;
              if (yl >= H - 1) {
                yh = yl = H - 1;
                yv = static_cast<T>(yl);
              } else {
                yh = yl + 1;
              }
              if (xl >= W - 1) {
                xh = xl = W - 1;
                xv = static_cast<T>(xl);
              } else {
                xh = xl + 1;
              }
              const T ly = yv - static_cast<T>(yl), lx = xv - static_cast<T>(xl);
              const T hy = 1 - ly, hx = 1 - lx;
              sm = Sample<T>{{yl * W + xl, yl * W + xh, yh * W + xl, yh * W + xh},
                             {hy * hx, hy * lx, ly * hx, ly * lx}};
            }
          }
        }
      }
      const int64_t per_bin = gh * gw;
      for (int64_t c = c0; c < c1; ++c) {
        const T* plane = x + (batch[static_cast<size_t>(r)] * C + c) * H * W;
        T* out = y + (r * C + c) * ph_n * pw_n;
        for (int64_t b = 0; b < ph_n * pw_n; ++b) {
          const Sample<T>* sb = samples.data() + b * per_bin;
          T acc = 0;
          for (int64_t k = 0; k < per_bin; ++k) {
            const Sample<T>& sm = sb[k];
            if (is_max) {
              const T v =
                  std::max(std::max(sm.w[0] * plane[sm.pos[0]], sm.w[1] * plane[sm.pos[1]]),
                           std::max(sm.w[2] * plane[sm.pos[2]], sm.w[3] * plane[sm.pos[3]]));
              acc = k == 0 ? v : std::max(acc, v);
            } else {
              acc += sm.w[0] * plane[sm.pos[0]] + sm.w[1] * plane[sm.pos[1]] +
                     sm.w[2] * plane[sm.pos[2]] + sm.w[3] * plane[sm.pos[3]];
            }
          }
          out[b] = is_max ? acc : acc / count;
        }
      }
    }
  });
  nn::finish_output(pool, *yt, ys);
  return Status::ok_status();
}

Status roi_align(KernelContext& ctx) {
  return nn::with_compute_type(ctx, ctx.input(0).dtype(), [&](auto tag) -> Status {
    return roi_align_typed<decltype(tag)>(ctx);
  });
}

// True when box i suppresses box j (IoU > threshold). `b` points at [y1, x1, y2, x2] corners
// (or [xc, yc, w, h] with center).
template <typename T>
bool suppresses(const T* a, const T* b, bool center, T threshold) {
  T ax1, ax2, ay1, ay2, bx1, bx2, by1, by2;
  if (center) {
    ax1 = a[0] - a[2] / 2, ax2 = a[0] + a[2] / 2, ay1 = a[1] - a[3] / 2, ay2 = a[1] + a[3] / 2;
    bx1 = b[0] - b[2] / 2, bx2 = b[0] + b[2] / 2, by1 = b[1] - b[3] / 2, by2 = b[1] + b[3] / 2;
  } else {
    ax1 = std::min(a[1], a[3]), ax2 = std::max(a[1], a[3]);
    ay1 = std::min(a[0], a[2]), ay2 = std::max(a[0], a[2]);
    bx1 = std::min(b[1], b[3]), bx2 = std::max(b[1], b[3]);
    by1 = std::min(b[0], b[2]), by2 = std::max(b[0], b[2]);
  }
  const T ix1 = std::max(ax1, bx1), ix2 = std::min(ax2, bx2);
  if (!(ix2 > ix1)) return false;
  const T iy1 = std::max(ay1, by1), iy2 = std::min(ay2, by2);
  if (!(iy2 > iy1)) return false;
  const T inter = (ix2 - ix1) * (iy2 - iy1);
  const T area_a = (ax2 - ax1) * (ay2 - ay1);
  const T area_b = (bx2 - bx1) * (by2 - by1);
  const T uni = area_a + area_b - inter;
  if (!(inter > 0) || !(area_a > 0) || !(area_b > 0) || !(uni > 0)) return false;
  return inter / uni > threshold;
}

template <typename T>
Status nms_typed(KernelContext& ctx) {
  const ir::Tensor& bt = ctx.input(0);
  const ir::Tensor& st = ctx.input(1);
  const auto& bd = bt.dims();
  const auto& sd = st.dims();
  if (bd.size() != 3 || bd[2] != 4 || sd.size() != 3 || sd[0] != bd[0] || sd[2] != bd[1]) {
    return ctx.fail("boxes ", ir::dims_to_string(bd), " and scores ", ir::dims_to_string(sd),
                    " do not match [B, S, 4] and [B, classes, S]");
  }
  if (st.dtype() != bt.dtype()) return ctx.fail("boxes and scores types differ");
  MIXQ_ASSIGN_OR_RETURN(const int64_t center, ctx.node().attr_int("center_point_box", 0));
  if (center != 0 && center != 1) {
    return ctx.fail("attribute center_point_box is ", center, ", expected 0 or 1");
  }
  auto scalar = [&](size_t i, const char* what) -> Expected<std::optional<double>> {
    if (!ctx.has_input(i) || ctx.input(i).numel() == 0) return std::optional<double>();
    if (ctx.input(i).numel() != 1) return ctx.fail(what, " must have one value");
    return std::optional<double>(ctx.input(i).element_as_double(0));
  };
  MIXQ_ASSIGN_OR_RETURN(const auto max_boxes, scalar(2, "max_output_boxes_per_class"));
  MIXQ_ASSIGN_OR_RETURN(const auto iou, scalar(3, "iou_threshold"));
  MIXQ_ASSIGN_OR_RETURN(const auto score_threshold, scalar(4, "score_threshold"));
  const int64_t limit =
      max_boxes ? (ctx.input(2).dtype() == DType::kInt64 ? ctx.input(2).element_as_int64(0)
                                                         : static_cast<int64_t>(*max_boxes))
                : 0;
  const T iou_threshold = iou ? static_cast<T>(*iou) : T(0);
  const int64_t B = bd[0], S = bd[1], K = sd[1];
  ThreadPool& pool = ctx.pool();
  std::vector<T> bs, ss;
  const T* boxes = nn::compute_view<T>(pool, bt, bs);
  const T* scores = nn::compute_view<T>(pool, st, ss);
  // One (batch, class) pair per item; results concatenated in item order.
  const int64_t pairs = B * K;
  std::vector<std::vector<int64_t>> kept(static_cast<size_t>(pairs));
  if (limit > 0) {
    pool.parallel_for(pairs, 1, [&](int64_t p0, int64_t p1) {
      std::vector<int64_t> order;
      for (int64_t p = p0; p < p1; ++p) {
        const int64_t b = p / K;
        const T* sc = scores + p * S;
        const T* bx = boxes + b * S * 4;
        order.clear();
        for (int64_t i = 0; i < S; ++i) {
          if (score_threshold && !(static_cast<double>(sc[i]) > *score_threshold)) continue;
          order.push_back(i);
        }
        std::sort(order.begin(), order.end(), [&](int64_t i, int64_t j) {
          const bool ni = std::isnan(sc[i]), nj = std::isnan(sc[j]);
          if (ni != nj) return nj;
          if (!ni && sc[i] != sc[j]) return sc[i] > sc[j];
          return i < j;
        });
        std::vector<int64_t>& sel = kept[static_cast<size_t>(p)];
        for (int64_t i : order) {
          if (static_cast<int64_t>(sel.size()) >= limit) break;
          bool keep = true;
          for (int64_t j : sel) {
            if (suppresses(bx + i * 4, bx + j * 4, center == 1, iou_threshold)) {
              keep = false;
              break;
            }
          }
          if (keep) sel.push_back(i);
        }
      }
    });
  }
  int64_t total = 0;
  for (const auto& k : kept) total += static_cast<int64_t>(k.size());
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0, DType::kInt64, {total, 3}));
  int64_t* y = yt->mutable_data<int64_t>();
  for (int64_t p = 0; p < pairs; ++p) {
    for (int64_t i : kept[static_cast<size_t>(p)]) {
      *y++ = p / K;
      *y++ = p % K;
      *y++ = i;
    }
  }
  return Status::ok_status();
}

Status nms(KernelContext& ctx) {
  return nn::with_compute_type(ctx, ctx.input(0).dtype(),
                               [&](auto tag) -> Status { return nms_typed<decltype(tag)>(ctx); });
}

}  // namespace

void register_detection_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "RoiAlign", 10, 21, types::kFloats, 0, roi_align});
  out.push_back({"", "NonMaxSuppression", 10, 21, types::kFloats, 0, nms});
}

}  // namespace mixq::exec
