// Kernel tests for Pad, DepthToSpace/SpaceToDepth, Resize, GridSample, RoiAlign and NMS.
// float64 references written here, float16/bfloat16/float64 variants, bit-identical results
// across thread counts, and rejects_* cases.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <random>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "kernel_test_util.h"
#include "mixq/core/float_bits.h"
#include "tolerances.h"

namespace mixq {
namespace {

using namespace testing::kt;  // NOLINT(google-build-using-namespace)

// --- Pad, DepthToSpace, SpaceToDepth ---------------------------------------------------------

// numpy.pad semantics per axis after cropping negative pads.
std::vector<double> pad_ref(const std::vector<double>& x, const Dims& xd, const Dims& pads,
                            const std::string& mode, double value, Dims& yd) {
  const size_t r = xd.size();
  Dims crop(r), len(r), lead(r);
  yd.assign(r, 0);
  for (size_t d = 0; d < r; ++d) {
    crop[d] = std::max<int64_t>(0, -pads[d]);
    len[d] = xd[d] - crop[d] - std::max<int64_t>(0, -pads[d + r]);
    lead[d] = std::max<int64_t>(0, pads[d]);
    yd[d] = len[d] + lead[d] + std::max<int64_t>(0, pads[d + r]);
  }
  std::vector<double> y;
  Dims o(r, 0);
  if (numel(yd) == 0) return y;
  do {
    Dims xi(r);
    bool constant = false;
    for (size_t d = 0; d < r; ++d) {
      int64_t i = o[d] - lead[d];
      const int64_t n = len[d];
      if (mode == "edge") i = std::clamp<int64_t>(i, 0, n - 1);
      if (mode == "wrap") i = ((i % n) + n) % n;
      while (mode == "reflect" && n > 1 && (i < 0 || i >= n)) i = i < 0 ? -i : 2 * (n - 1) - i;
      if (mode == "reflect" && n == 1) i = 0;
      constant |= i < 0 || i >= n;
      xi[d] = i + crop[d];
    }
    y.push_back(constant ? value : x[flat(xi, xd)]);
  } while (next_index(o, yd));
  return y;
}

TEST(NnKernels, PadModesInEveryOpsetForm) {
  const ir::Tensor x = f32({4}, {1, 2, 3, 4});
  const std::vector<std::pair<std::string, std::vector<double>>> cases = {
      {"constant", {9, 9, 9, 1, 2, 3, 4, 9, 9}},
      {"reflect", {4, 3, 2, 1, 2, 3, 4, 3, 2}},
      {"edge", {1, 1, 1, 1, 2, 3, 4, 4, 4}},
      {"wrap", {2, 3, 4, 1, 2, 3, 4, 1, 2}}};
  for (const auto& [mode, want] : cases) {
    const auto m = [mode = mode](ir::Node& n) { set_string(n, "mode", mode); };
    RUN(y19, "Pad", {x, i64({2}, {3, 2}), f32({}, {9})}, {.opset = 19, .attrs = m});
    EXPECT_EQ(to_doubles(y19), want) << mode;
    if (mode == "wrap") continue;
    RUN(y2, "Pad", {x}, {.opset = 2, .attrs = [&](ir::Node& n) {
                           m(n);
                           set_ints(n, "pads", {3, 2});
                           set_float(n, "value", 9);
                         }});
    EXPECT_EQ(to_doubles(y2), want) << mode;
    RUN(y1, "Pad", {x}, {.opset = 1, .attrs = [&](ir::Node& n) {
                           m(n);
                           set_ints(n, "paddings", {3, 2});
                           set_float(n, "value", 9);
                         }});
    EXPECT_EQ(to_doubles(y1), want) << mode;
  }
  // Negative pads crop first; Pad-18 pads only the listed axes.
  RUN(neg, "Pad", {x, i64({2}, {-1, 2})},
      {.opset = 11, .attrs = [](ir::Node& n) { set_string(n, "mode", "reflect"); }});
  EXPECT_EQ(to_doubles(neg), (std::vector<double>{2, 3, 4, 3, 2}));
  RUN(ax, "Pad", {f32({2, 2}, {1, 2, 3, 4}), i64({2}, {1, 1}), std::nullopt, i64({1}, {-1})},
      {.opset = 18, .constant_inputs = {1, 3}});
  EXPECT_EQ(ax.dims(), (Dims{2, 4}));
  EXPECT_EQ(to_doubles(ax), (std::vector<double>{0, 1, 2, 0, 0, 3, 4, 0}));
}

TEST(NnKernels, PadMatchesReferenceOnRandomShapes) {
  std::mt19937 rng(5);
  auto pick = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(rng);
  };
  const char* modes[] = {"constant", "reflect", "edge", "wrap"};
  for (int iter = 0; iter < 64; ++iter) {
    const size_t r = static_cast<size_t>(pick(1, 4));
    const std::string mode = modes[iter % 4];
    Dims xd, pads(2 * r);
    for (size_t d = 0; d < r; ++d) xd.push_back(pick(2, 6));
    // From iteration 40 on, the last 1..r axes have no pads (the kernel copies them as one
    // block; all of the tensor when every axis is unpadded).
    const size_t unpadded = iter < 40 ? 0 : static_cast<size_t>(pick(1, static_cast<int64_t>(r)));
    for (size_t d = 0; d < r; ++d) {
      pads[d] = d + unpadded >= r ? 0 : pick(-1, 3);
      pads[d + r] = d + unpadded >= r ? 0 : pick(-1, 3);
    }
    const DType dt = iter % 3 == 0   ? DType::kInt32
                     : iter % 3 == 1 ? DType::kFloat16
                                     : DType::kFloat32;
    ir::Tensor x =
        convert(random_floats(xd, 600 + iter, -50, 50), dt == DType::kInt32 ? DType::kFloat32 : dt);
    ir::Tensor cv = convert(f32({}, {7}), dt == DType::kInt32 ? DType::kFloat32 : dt);
    if (dt == DType::kInt32) {
      std::vector<int32_t> v;
      for (double e : to_doubles(x)) v.push_back(static_cast<int32_t>(e));
      x = make<int32_t>(DType::kInt32, xd, v);
      cv = make<int32_t>(DType::kInt32, {}, {7});
    }
    Dims yd;
    const auto want = pad_ref(to_doubles(x), xd, pads, mode, 7, yd);
    RUN(y, "Pad", {x, i64({static_cast<int64_t>(2 * r)}, pads), cv},
        {.opset = 21,
         .attrs = [&](ir::Node& n) { set_string(n, "mode", mode); },
         .constant_inputs = {1}});
    EXPECT_EQ(y.dims(), yd) << "iter " << iter;
    EXPECT_EQ(to_doubles(y), want) << "iter " << iter << " mode " << mode;
  }
}

// A tensor with nothing padded is copied in blocks across the pool: every element in place.
TEST(NnKernels, PadOfZerosCopiesALargeTensorAcrossThePool) {
  const Dims xd{3, 5, 20000};
  const ir::Tensor x = random_floats(xd, 77, -50, 50);
  RUN(y, "Pad", {x, i64({6}, {0, 0, 0, 0, 0, 0})},
      {.opset = 13, .constant_inputs = {1}, .threads = 3});
  EXPECT_EQ(y.dims(), xd);
  EXPECT_EQ(to_doubles(y), to_doubles(x));
}

TEST(NnKernels, rejects_pad_reflect_of_an_axis_cropped_to_nothing) {
  expect_rejected(run_node("Pad", {f32({2}, {1, 2}), i64({2}, {-2, 1})},
                           {.opset = 13,
                            .attrs = [](ir::Node& n) { set_string(n, "mode", "reflect"); },
                            .constant_inputs = {1}}),
                  StatusCode::kBadInput, "Pad");
}

TEST(NnKernels, DepthToSpaceModesAndSpaceToDepth) {
  std::vector<float> v(48);
  for (size_t i = 0; i < 48; ++i) v[i] = static_cast<float>(i);
  const ir::Tensor x = f32({1, 8, 2, 3}, v);
  const auto mode = [](const char* m) {
    return [=](ir::Node& n) {
      set_int(n, "blocksize", 2);
      set_string(n, "mode", m);
    };
  };
  RUN(dcr, "DepthToSpace", {x}, {.opset = 13, .attrs = mode("DCR")});
  EXPECT_EQ(dcr.dims(), (Dims{1, 2, 4, 6}));
  EXPECT_EQ(to_doubles(dcr),
            (std::vector<double>{0,  12, 1,  13, 2,  14, 24, 36, 25, 37, 26, 38, 3,  15, 4,  16,
                                 5,  17, 27, 39, 28, 40, 29, 41, 6,  18, 7,  19, 8,  20, 30, 42,
                                 31, 43, 32, 44, 9,  21, 10, 22, 11, 23, 33, 45, 34, 46, 35, 47}));
  RUN(crd, "DepthToSpace", {x}, {.opset = 13, .attrs = mode("CRD")});
  EXPECT_EQ(to_doubles(crd),
            (std::vector<double>{0,  6,  1,  7,  2,  8,  12, 18, 13, 19, 14, 20, 3,  9,  4,  10,
                                 5,  11, 15, 21, 16, 22, 17, 23, 24, 30, 25, 31, 26, 32, 36, 42,
                                 37, 43, 38, 44, 27, 33, 28, 34, 29, 35, 39, 45, 40, 46, 41, 47}));
  RUN(back, "SpaceToDepth", {dcr},
      {.opset = 13, .attrs = [](ir::Node& n) { set_int(n, "blocksize", 2); }});
  EXPECT_EQ(to_doubles(back), to_doubles(x));
  std::vector<uint8_t> u(48);
  for (size_t i = 0; i < 48; ++i) u[i] = static_cast<uint8_t>(i);
  RUN(u8, "DepthToSpace", {make<uint8_t>(DType::kUint8, {1, 8, 2, 3}, u)},
      {.opset = 1, .attrs = [](ir::Node& n) { set_int(n, "blocksize", 2); }});
  EXPECT_EQ(to_doubles(u8), to_doubles(dcr));
}

// --- Resize ----------------------------------------------------------------------------------

struct ResizeOpts {
  std::string mode = "nearest", coord = "half_pixel", nearest = "round_prefer_floor";
  double a = -0.75;
  bool exclude = false;
  double extrapolation = 0;
};

// Taps (index, weight) of every output index of one axis, written from the spec formulas.
std::vector<std::vector<std::pair<int64_t, double>>> resize_axis_ref(const ResizeOpts& o,
                                                                     int64_t in, int64_t out,
                                                                     double scale, double rs,
                                                                     double re,
                                                                     std::vector<bool>& outside) {
  std::vector<std::vector<std::pair<int64_t, double>>> taps(static_cast<size_t>(out));
  outside.assign(static_cast<size_t>(out), false);
  const double width = scale * static_cast<double>(in), L = static_cast<double>(in);
  for (int64_t y = 0; y < out; ++y) {
    const double yd = static_cast<double>(y);
    double x = (yd + 0.5) / scale - 0.5;
    if (o.coord == "pytorch_half_pixel" && out == 1) x = 0;
    if (o.coord == "align_corners") x = width == 1 ? 0 : yd * (L - 1) / (width - 1);
    if (o.coord == "asymmetric") x = yd / scale;
    if (o.coord == "half_pixel_symmetric") {
      x = L / 2 * (1 - static_cast<double>(out) / width) + (yd + 0.5) / scale - 0.5;
    }
    if (o.coord == "tf_crop_and_resize") {
      x = width == 1 ? (re - rs) * (L - 1) / 2 : yd * (re - rs) * (L - 1) / (width - 1);
      x += rs * (L - 1);
      outside[static_cast<size_t>(y)] = x < 0 || x > L - 1;
    }
    auto clampi = [&](double v) { return std::clamp<int64_t>(static_cast<int64_t>(v), 0, in - 1); };
    const double fl = std::floor(x), t = x - fl;
    auto& tv = taps[static_cast<size_t>(y)];
    if (o.mode == "nearest") {
      double i = fl + 1;
      if (o.nearest == "round_prefer_floor" && t <= 0.5) i = fl;
      if (o.nearest == "round_prefer_ceil" && t < 0.5) i = fl;
      if (o.nearest == "floor") i = fl;
      if (o.nearest == "ceil") i = std::ceil(x);
      tv.push_back({clampi(std::clamp(i, -1.0, L)), 1.0});
    } else if (o.mode == "linear") {
      tv.push_back({clampi(fl), 1 - t});
      tv.push_back({clampi(fl + 1), t});
    } else {
      double sum = 0;
      for (int k = -1; k <= 2; ++k) {
        const double d = std::fabs(x - (fl + k)), a = o.a;
        double w = d <= 1  ? ((a + 2) * d - (a + 3)) * d * d + 1
                   : d < 2 ? ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
                           : 0;
        if (o.exclude && (fl + k < 0 || fl + k > L - 1)) w = 0;
        sum += w;
        tv.push_back({clampi(std::clamp(fl + k, -1.0, L)), w});
      }
      if (o.exclude) {
        for (auto& p : tv) p.second /= sum;
      }
    }
  }
  return taps;
}

// Resize of the last two axes of an [N, C, H, W] tensor.
std::vector<double> resize_ref(const ir::Tensor& x, const ResizeOpts& o, const Dims& out, double sh,
                               double sw, const std::vector<double>& roi = {}) {
  const Dims& xd = x.dims();
  const std::vector<double> X = to_doubles(x);
  std::vector<bool> oh, ow;
  const auto th =
      resize_axis_ref(o, xd[2], out[0], sh, roi.empty() ? 0 : roi[2], roi.empty() ? 1 : roi[6], oh);
  const auto tw =
      resize_axis_ref(o, xd[3], out[1], sw, roi.empty() ? 0 : roi[3], roi.empty() ? 1 : roi[7], ow);
  std::vector<double> y;
  for (int64_t p = 0; p < xd[0] * xd[1]; ++p) {
    for (int64_t h = 0; h < out[0]; ++h) {
      for (int64_t w = 0; w < out[1]; ++w) {
        double acc = 0;
        for (auto [hi, hw] : th[static_cast<size_t>(h)]) {
          for (auto [wi, ww] : tw[static_cast<size_t>(w)]) {
            acc += hw * ww * X[static_cast<size_t>((p * xd[2] + hi) * xd[3] + wi)];
          }
        }
        y.push_back(oh[static_cast<size_t>(h)] || ow[static_cast<size_t>(w)] ? o.extrapolation
                                                                             : acc);
      }
    }
  }
  return y;
}

Attrs resize_attrs(const ResizeOpts& o) {
  return [=](ir::Node& n) {
    set_string(n, "mode", o.mode);
    set_string(n, "coordinate_transformation_mode", o.coord);
    set_string(n, "nearest_mode", o.nearest);
    set_float(n, "cubic_coeff_a", static_cast<float>(o.a));
    set_int(n, "exclude_outside", o.exclude);
    set_float(n, "extrapolation_value", static_cast<float>(o.extrapolation));
  };
}

TEST(NnKernels, ResizeHandComputed) {
  const ir::Tensor x = f32({1, 1, 2, 2}, {1, 2, 3, 4});
  RUN(lin, "Resize", {x, std::nullopt, f32({4}, {1, 1, 2, 2})},
      {.opset = 13,
       .attrs = [](ir::Node& n) { set_string(n, "mode", "linear"); },
       .constant_inputs = {2}});
  EXPECT_EQ(to_doubles(lin), (std::vector<double>{1, 1.25, 1.75, 2, 1.5, 1.75, 2.25, 2.5, 2.5, 2.75,
                                                  3.25, 3.5, 3, 3.25, 3.75, 4}));
  // Upsample-9: nearest with integer scales repeats elements.
  RUN(up, "Upsample", {x, f32({4}, {1, 1, 2, 3})}, {.opset = 9, .constant_inputs = {1}});
  EXPECT_EQ(to_doubles(up), (std::vector<double>{1, 1, 1, 2, 2, 2, 1, 1, 1, 2, 2, 2,
                                                 3, 3, 3, 4, 4, 4, 3, 3, 3, 4, 4, 4}));
  // Upsample-7 linear: asymmetric coordinates, edge clamped.
  RUN(up7, "Upsample", {f32({1, 2}, {1, 2})}, {.opset = 7, .attrs = [](ir::Node& n) {
                                                 set_string(n, "mode", "linear");
                                                 testing::set_floats(n, "scales", {1, 2});
                                               }});
  EXPECT_EQ(to_doubles(up7), (std::vector<double>{1, 1.5, 2, 2}));
  // Resize-10 nearest downscaling takes ceil(y / scale): 0, 1.67, 3.33 -> 0, 2, 4.
  RUN(r10, "Resize", {f32({5}, {1, 2, 3, 4, 5}), f32({1}, {0.6f})},
      {.opset = 10, .constant_inputs = {1}});
  EXPECT_EQ(to_doubles(r10), (std::vector<double>{1, 3, 5}));
  // Antialiased linear downscaling by 2: a 4-tap triangle (1, 3, 3, 1) / 8, edge clamped.
  RUN(aa, "Resize", {f32({4}, {0, 1, 2, 3}), std::nullopt, f32({1}, {0.5f})},
      {.opset = 18,
       .attrs =
           [](ir::Node& n) {
             set_string(n, "mode", "linear");
             set_int(n, "antialias", 1);
           },
       .constant_inputs = {2}});
  EXPECT_EQ(compare_to_reference(aa, {0.625, 2.375}), "");
}

// Every mode and coordinate transformation against the spec-formula reference, with scales
// (up and down) and sizes.
TEST(NnKernels, ResizeModesMatchReference) {
  const ir::Tensor x = random_floats({2, 3, 5, 6}, 71, -4, 4);
  const std::vector<std::pair<double, double>> scales = {{2, 1.5}, {0.6, 0.5}, {1.6, 0.8}};
  int iter = 0;
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    for (const char* coord : {"half_pixel", "pytorch_half_pixel", "align_corners", "asymmetric",
                              "half_pixel_symmetric", "tf_crop_and_resize"}) {
      for (const auto& [sh, sw] : scales) {
        ResizeOpts o;
        o.mode = mode;
        o.coord = coord;
        o.nearest = std::vector<std::string>{"round_prefer_floor", "round_prefer_ceil", "floor",
                                             "ceil"}[iter % 4];
        o.exclude = iter % 2;
        o.a = iter % 3 ? -0.75 : -0.5;
        o.extrapolation = -9;
        ++iter;
        const bool by_sizes = iter % 2;
        const Dims out{static_cast<int64_t>(5 * sh), static_cast<int64_t>(6 * sw)};
        // With sizes the coordinate scale is out / in.
        const double eh = by_sizes ? out[0] / 5.0 : static_cast<double>(static_cast<float>(sh));
        const double ew = by_sizes ? out[1] / 6.0 : static_cast<double>(static_cast<float>(sw));
        const std::vector<float> roi = {0, 0, 0.2f, -0.1f, 1, 1, 0.9f, 1.2f};
        const std::vector<double> roid(roi.begin(), roi.end());
        const auto want = resize_ref(x, o, out, eh, ew, roid);
        std::vector<std::optional<ir::Tensor>> in{x, f32({8}, roi)};
        if (by_sizes) {
          in.push_back(std::nullopt);
          in.push_back(i64({4}, {2, 3, out[0], out[1]}));
        } else {
          in.push_back(f32({4}, {1, 1, static_cast<float>(sh), static_cast<float>(sw)}));
        }
        RUN(y, "Resize", in, {.opset = 19, .attrs = resize_attrs(o), .constant_inputs = {1, 2, 3}});
        EXPECT_EQ(y.dims(), (Dims{2, 3, out[0], out[1]}));
        EXPECT_EQ(compare_to_reference(y, want), "")
            << mode << " " << coord << " " << o.nearest << " exclude " << o.exclude << " scales "
            << sh << "x" << sw << (by_sizes ? " (sizes)" : "");
      }
    }
  }
}

// axes (18+) with keep_aspect_ratio_policy; float16, rounding integer types, threads.
TEST(NnKernels, ResizeAxesPolicyTypesAndThreads) {
  const ir::Tensor x = random_floats({1, 2, 4, 6}, 72);
  ResizeOpts o;
  o.mode = "linear";
  for (const char* policy : {"not_larger", "not_smaller"}) {
    RUN(y, "Resize", {x, std::nullopt, std::nullopt, i64({2}, {3, 3})},
        {.opset = 18,
         .attrs =
             [&](ir::Node& n) {
               resize_attrs(o)(n);
               set_ints(n, "axes", {3, 2});
               set_string(n, "keep_aspect_ratio_policy", policy);
             },
         .constant_inputs = {3}});
    // sizes [3, 3] on axes [3, 2]: scale min(3/6, 3/4) = 0.5 or max = 0.75.
    const double s = std::string(policy) == "not_larger" ? 0.5 : 0.75;
    const Dims out{static_cast<int64_t>(4 * s + 0.5), static_cast<int64_t>(6 * s + 0.5)};
    EXPECT_EQ(y.dims(), (Dims{1, 2, out[0], out[1]}));
    EXPECT_EQ(compare_to_reference(y, resize_ref(x, o, out, s, s)), "") << policy;
  }
  o.mode = "cubic";
  const ir::Tensor sc = f32({4}, {1, 1, 1.75f, 2.5f});
  const ir::Tensor h = convert(x, DType::kFloat16);
  RUN(yh, "Resize", {h, std::nullopt, sc},
      {.opset = 13, .attrs = resize_attrs(o), .constant_inputs = {2}});
  EXPECT_EQ(yh.dtype(), DType::kFloat16);
  EXPECT_EQ(compare_to_reference(yh, resize_ref(h, o, {7, 15}, 1.75, 2.5)), "");
  // uint8 linear: rounded and saturated; scales as a graph input (known only at run time).
  o.mode = "linear";
  const ir::Tensor u = make<uint8_t>(DType::kUint8, {1, 1, 1, 3}, {0, 3, 255});
  RUN(yu, "Resize", {u, std::nullopt, f32({4}, {1, 1, 1, 2})},
      {.opset = 13, .attrs = resize_attrs(o)});
  EXPECT_EQ(to_doubles(yu), (std::vector<double>{0, 1, 2, 66, 192, 255}));
  for (const char* mode : {"nearest", "linear", "cubic"}) {
    o.mode = mode;
    expect_thread_independent(
        "Resize", {random_floats({2, 8, 37, 29}, 3), std::nullopt, f32({4}, {1, 1, 1.5f, 2})},
        {.opset = 13, .attrs = resize_attrs(o), .constant_inputs = {2}});
  }
}

TEST(NnKernels, rejects_resize_tf_crop_and_resize_without_roi) {
  ResizeOpts o;
  o.coord = "tf_crop_and_resize";
  expect_rejected(
      run_node("Resize", {random_floats({1, 1, 2, 2}, 1), std::nullopt, f32({4}, {1, 1, 2, 2})},
               {.opset = 13, .attrs = resize_attrs(o), .constant_inputs = {2}}),
      StatusCode::kBadInput, "Resize");
}

// --- GridSample ------------------------------------------------------------------------------

// PyTorch grid_sample on one [H, W] plane for zeros and border padding (cubic border clamps
// the taps, not the coordinate).
double grid_sample_ref(const std::vector<double>& X, int64_t H, int64_t W, double gx, double gy,
                       const std::string& mode, const std::string& padding, bool align) {
  auto denorm = [&](double g, int64_t L) {
    return align ? (g + 1) / 2 * static_cast<double>(L - 1)
                 : ((g + 1) * static_cast<double>(L) - 1) / 2;
  };
  double x = denorm(gx, W), y = denorm(gy, H);
  if (mode == "nearest") x = std::nearbyint(x), y = std::nearbyint(y);
  // Padding applies to each tap (PyTorch's rule): border clamps the tap indices.
  auto at = [&](int64_t i, int64_t j) {
    if (padding == "border")
      i = std::clamp<int64_t>(i, 0, H - 1), j = std::clamp<int64_t>(j, 0, W - 1);
    return i < 0 || i >= H || j < 0 || j >= W ? 0.0 : X[static_cast<size_t>(i * W + j)];
  };
  if (mode == "nearest") return at(static_cast<int64_t>(y), static_cast<int64_t>(x));
  const double x0 = std::floor(x), y0 = std::floor(y), tx = x - x0, ty = y - y0;
  auto cubic = [](double d) {
    const double a = -0.75;
    d = std::fabs(d);
    return d <= 1  ? ((a + 2) * d - (a + 3)) * d * d + 1
           : d < 2 ? ((a * d - 5 * a) * d + 8 * a) * d - 4 * a
                   : 0;
  };
  const int first = mode == "linear" ? 0 : -1, last = mode == "linear" ? 1 : 2;
  double acc = 0;
  for (int i = first; i <= last; ++i) {
    for (int j = first; j <= last; ++j) {
      const double wy = mode == "linear" ? (i ? ty : 1 - ty) : cubic(ty - i);
      const double wx = mode == "linear" ? (j ? tx : 1 - tx) : cubic(tx - j);
      acc += wy * wx * at(static_cast<int64_t>(y0) + i, static_cast<int64_t>(x0) + j);
    }
  }
  return acc;
}

TEST(NnKernels, GridSampleMatchesReference) {
  const ir::Tensor x = random_floats({2, 3, 5, 7}, 81);
  const ir::Tensor grid = random_floats({2, 4, 6, 2}, 82, -1.3f, 1.3f);
  const std::vector<double> X = to_doubles(x), G = to_doubles(grid);
  for (const char* mode : {"linear", "nearest", "cubic"}) {
    for (const char* padding : {"zeros", "border"}) {
      for (int64_t align : {0, 1}) {
        std::vector<double> want;
        for (size_t n = 0; n < 2; ++n) {
          for (size_t c = 0; c < 3; ++c) {
            const std::vector<double> plane(X.begin() + (n * 3 + c) * 35,
                                            X.begin() + (n * 3 + c + 1) * 35);
            for (size_t p = 0; p < 24; ++p) {
              want.push_back(grid_sample_ref(plane, 5, 7, G[(n * 24 + p) * 2],
                                             G[(n * 24 + p) * 2 + 1], mode, padding, align));
            }
          }
        }
        const Attrs attrs = [&](ir::Node& nd) {
          set_string(nd, "mode", mode);
          set_string(nd, "padding_mode", padding);
          set_int(nd, "align_corners", align);
        };
        RUN(y, "GridSample", {x, grid}, {.opset = 20, .attrs = attrs});
        EXPECT_EQ(y.dims(), (Dims{2, 3, 4, 6}));
        EXPECT_EQ(compare_to_reference(y, want), "") << mode << " " << padding << " " << align;
      }
    }
  }
  // GridSample-16 spells the modes bilinear / bicubic.
  RUN(y16, "GridSample", {x, grid},
      {.opset = 16, .attrs = [](ir::Node& n) { set_string(n, "mode", "bicubic"); }});
  RUN(y20, "GridSample", {x, grid},
      {.opset = 20, .attrs = [](ir::Node& n) { set_string(n, "mode", "cubic"); }});
  EXPECT_EQ(bytes(y16), bytes(y20));
  expect_thread_independent(
      "GridSample",
      {random_floats({2, 16, 20, 20}, 1), random_floats({2, 33, 31, 2}, 2, -1.1f, 1.1f)},
      {.opset = 16});
}

// Reflection folds coordinates at [-0.5, L - 0.5]; nearest rounds half to even; GridSample-20
// takes 3 spatial axes (grid components innermost axis first).
TEST(NnKernels, GridSampleReflectionNearestAndVolumes) {
  const ir::Tensor row = f32({1, 1, 1, 4}, {0, 1, 2, 3});
  RUN(refl, "GridSample", {row, f32({1, 1, 2, 2}, {-1.5f, 0, 1.375f, 0})},
      {.opset = 16, .attrs = [](ir::Node& n) { set_string(n, "padding_mode", "reflection"); }});
  EXPECT_EQ(compare_to_reference(refl, {0.5, 2.75}), "");
  // x = ((g + 1) * 4 - 1) / 2 = 0.5 and 2.5 round to the even indices 0 and 2.
  RUN(near, "GridSample", {row, f32({1, 1, 2, 2}, {-0.5f, 0, 0.5f, 0})},
      {.opset = 16, .attrs = [](ir::Node& n) { set_string(n, "mode", "nearest"); }});
  EXPECT_EQ(to_doubles(near), (std::vector<double>{0, 2}));
  const ir::Tensor vol = f32({1, 1, 2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  RUN(v, "GridSample", {vol, f32({1, 1, 1, 3, 3}, {-1, -1, -1, 1, -1, -1, 0, 0, 0})},
      {.opset = 20, .attrs = [](ir::Node& n) { set_int(n, "align_corners", 1); }});
  EXPECT_EQ(compare_to_reference(v, {0, 1, 3.5}), "");
}

TEST(NnKernels, rejects_grid_sample_with_unknown_padding_mode) {
  expect_rejected(
      run_node(
          "GridSample", {random_floats({1, 1, 2, 2}, 1), random_floats({1, 2, 2, 2}, 2)},
          {.opset = 16, .attrs = [](ir::Node& n) { set_string(n, "padding_mode", "mirror"); }}),
      StatusCode::kBadInput, "GridSample");
}

// --- RoiAlign, NonMaxSuppression -------------------------------------------------------------

TEST(NnKernels, RoiAlignAverageMaxAndCoordinateModes) {
  std::vector<float> v(16);
  for (size_t i = 0; i < 16; ++i) v[i] = static_cast<float>(i);  // X[y][x] = 4y + x
  const ir::Tensor x = f32({1, 1, 4, 4}, v);
  const ir::Tensor rois = f32({1, 4}, {0, 0, 2, 2});
  const ir::Tensor batch = i64({1}, {0});
  auto attrs = [](const char* mode, const char* ctm) {
    return [=](ir::Node& n) {
      set_string(n, "mode", mode);
      set_int(n, "sampling_ratio", 2);
      if (ctm) set_string(n, "coordinate_transformation_mode", ctm);
    };
  };
  // Legacy coordinates: samples at 0.5 and 1.5 per axis, bilinear = 4y + x.
  RUN(avg, "RoiAlign", {x, rois, batch}, {.opset = 10, .attrs = attrs("avg", nullptr)});
  EXPECT_EQ(compare_to_reference(avg, {5}), "");
  RUN(avg16, "RoiAlign", {x, rois, batch},
      {.opset = 16, .attrs = attrs("avg", "output_half_pixel")});
  EXPECT_EQ(compare_to_reference(avg16, {5}), "");
  // half_pixel shifts the roi by -0.5: samples at 0 and 1.
  RUN(half, "RoiAlign", {x, rois, batch}, {.opset = 16, .attrs = attrs("avg", "half_pixel")});
  EXPECT_EQ(compare_to_reference(half, {2.5}), "");
  // max: the largest weighted corner term, 0.25 * 10 at sample (1.5, 1.5).
  RUN(mx, "RoiAlign", {x, rois, batch}, {.opset = 10, .attrs = attrs("max", nullptr)});
  EXPECT_EQ(compare_to_reference(mx, {2.5}), "");
  // Several rois, bins and batches, across thread counts.
  expect_thread_independent(
      "RoiAlign",
      {random_floats({2, 20, 16, 16}, 3), f32({3, 4}, {1, 1, 9, 12, 0, 3, 15, 15, 4, 4, 6, 5}),
       i64({3}, {1, 0, 1})},
      {.opset = 16, .attrs = [](ir::Node& n) {
         set_int(n, "output_height", 3);
         set_int(n, "output_width", 2);
       }});
}

TEST(NnKernels, rejects_roi_align_batch_index_out_of_range) {
  expect_rejected(
      run_node("RoiAlign",
               {random_floats({1, 1, 4, 4}, 1), f32({1, 4}, {0, 0, 2, 2}), i64({1}, {1})},
               {.opset = 16}),
      StatusCode::kBadInput, "RoiAlign");
}

Expected<std::vector<ir::Tensor>> nms(const ir::Tensor& boxes, const ir::Tensor& scores,
                                      int64_t max_boxes, float iou,
                                      std::optional<float> score_threshold, int64_t center) {
  std::vector<std::optional<ir::Tensor>> in{boxes, scores, i64({1}, {max_boxes}), f32({1}, {iou})};
  if (score_threshold) in.push_back(f32({1}, {*score_threshold}));
  return run_node("NonMaxSuppression", in, {.opset = 11, .attrs = [=](ir::Node& n) {
                                              set_int(n, "center_point_box", center);
                                            }});
}

TEST(NnKernels, NonMaxSuppressionSelectsGreedilyPerClass) {
  const ir::Tensor boxes = f32({1, 6, 4}, {0, 0,  1, 1,  0, 0.1f,  1, 1.1f,  0, -0.1f, 1, 0.9f,
                                           0, 10, 1, 11, 0, 10.1f, 1, 11.1f, 0, 100,   1, 101});
  const ir::Tensor scores = f32({1, 1, 6}, {0.9f, 0.75f, 0.6f, 0.95f, 0.5f, 0.3f});
  auto r = nms(boxes, scores, 3, 0.5f, 0.0f, 0);
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{0, 0, 3, 0, 0, 0, 0, 0, 5}));
  // Score threshold 0.4 drops box 5; a limit of 2 keeps the two best survivors.
  r = nms(boxes, scores, 2, 0.5f, 0.4f, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{0, 0, 3, 0, 0, 0}));
  // Flipped corners and center-form boxes select the same.
  const ir::Tensor centers =
      f32({1, 6, 4}, {0.5f, 0.5f,  1, 1, 0.5f, 0.6f,  1, 1, 0.5f, 0.4f,   1, 1,
                      0.5f, 10.5f, 1, 1, 0.5f, 10.6f, 1, 1, 0.5f, 100.5f, 1, 1});
  r = nms(centers, scores, 3, 0.5f, std::nullopt, 1);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{0, 0, 3, 0, 0, 0, 0, 0, 5}));
  // Two batches x two classes come out in batch, class order; a 0 limit selects nothing.
  std::vector<float> b2;
  for (int i = 0; i < 2; ++i) b2.insert(b2.end(), boxes.data<float>(), boxes.data<float>() + 24);
  std::vector<float> s4;
  for (int i = 0; i < 4; ++i) s4.insert(s4.end(), scores.data<float>(), scores.data<float>() + 6);
  s4[6 + 5] = 0.99f;  // batch 0, class 1: box 5 first
  r = nms(f32({2, 6, 4}, b2), f32({2, 2, 6}, s4), 1, 0.5f, std::nullopt, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{0, 0, 3, 0, 1, 5, 1, 0, 3, 1, 1, 3}));
  r = nms(boxes, scores, 0, 0.5f, std::nullopt, 0);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ((*r)[0].dims(), (Dims{0, 3}));
}

TEST(NnKernels, rejects_nms_with_mismatched_box_count) {
  expect_rejected(
      nms(random_floats({1, 3, 4}, 1), random_floats({1, 1, 4}, 2), 1, 0.5f, std::nullopt, 0),
      StatusCode::kBadInput, "NonMaxSuppression");
}

}  // namespace
}  // namespace mixq
