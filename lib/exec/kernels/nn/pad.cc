// Layout ops that copy elements without arithmetic (any fixed-size element type):
// ONNX Pad-1/2/11/13/18/19/21: pads from the `paddings` (1) or `pads` (2) attribute or the pads
//   input (11+), on every axis or on the `axes` input (18+); modes constant (value attribute
//   before 11, constant_value input from 11, default 0), reflect (mirror without repeating the
//   edge), edge (repeat the edge) and wrap (19+, periodic). Negative pads remove elements: the
//   input is cropped first and the positive pads are applied to the cropped input.
// ONNX DepthToSpace-1/11/13: [N, C, H, W] -> [N, C / b^2, H * b, W * b]; DCR (depth-column-row,
//   the only mode before 11) reads channel (i * b + j) * C / b^2 + c for output (c, h * b + i,
//   w * b + j), CRD reads channel c * b^2 + i * b + j.
// ONNX SpaceToDepth-1/13: the inverse of DCR DepthToSpace.
#include <cstring>

#include "kernels/nn/nn_kernels.h"
#include "kernels/nn/nn_util.h"

namespace mixq::exec {
namespace {

// Unsigned storage of one element of `bytes` bytes, for copies.
template <size_t kBytes>
struct Word;
template <>
struct Word<1> {
  using type = uint8_t;
};
template <>
struct Word<2> {
  using type = uint16_t;
};
template <>
struct Word<4> {
  using type = uint32_t;
};
template <>
struct Word<8> {
  using type = uint64_t;
};

// Calls fn(W{}) with W the unsigned word of element size `es`; false for other sizes.
template <typename Fn>
bool with_word(size_t es, Fn&& fn) {
  switch (es) {
    case 1:
      fn(uint8_t{});
      return true;
    case 2:
      fn(uint16_t{});
      return true;
    case 4:
      fn(uint32_t{});
      return true;
    case 8:
      fn(uint64_t{});
      return true;
    default:
      return false;
  }
}

// The element value `v` in dtype `t`, as raw bytes (8 bytes, little-endian prefix used).
Expected<uint64_t> constant_bits(const KernelContext& ctx, DType t, double v) {
  uint64_t bits = 0;
  Status st = visit_dtype(t, [&](auto tag) -> Status {
    using S = decltype(tag);
    const S s = store<S>(static_cast<Compute<S>>(v));
    std::memcpy(&bits, &s, sizeof(S));
    return Status::ok_status();
  });
  if (!st.ok()) return ctx.not_supported("padding ", dtype_name(t), " tensors");
  return bits;
}

enum class PadMode { kConstant, kReflect, kEdge, kWrap };

// dims with its trailing axes that have no pads (pb[d] == pe[d] == 0) multiplied into one
// axis (pb and pe keep their entries; those past the new rank are zero).
std::vector<int64_t> unpadded_tail_merged(const std::vector<int64_t>& dims,
                                          const std::vector<int64_t>& pb,
                                          const std::vector<int64_t>& pe) {
  std::vector<int64_t> out = dims;
  size_t r = out.size();
  while (r > 1 && pb[r - 1] == 0 && pe[r - 1] == 0 && pb[r - 2] == 0 && pe[r - 2] == 0) {
    out[r - 2] *= out[r - 1];
    --r;
  }
  out.resize(r);
  return out;
}

Status pad(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  size_t rank = xt.rank();
  const int64_t opset = ctx.opset();
  auto mode_s = ctx.node().attr_string("mode", "constant");
  if (!mode_s.ok()) return mode_s.status();
  PadMode mode;
  if (*mode_s == "constant") {
    mode = PadMode::kConstant;
  } else if (*mode_s == "reflect") {
    mode = PadMode::kReflect;
  } else if (*mode_s == "edge") {
    mode = PadMode::kEdge;
  } else if (*mode_s == "wrap" && opset >= 19) {
    mode = PadMode::kWrap;
  } else {
    return ctx.fail("attribute mode is '", *mode_s, "'");
  }
  const size_t es = element_size(xt.dtype());
  if (es == 0 || xt.dtype() == DType::kString) {
    return ctx.not_supported("padding ", dtype_name(xt.dtype()), " tensors");
  }
  // Pads per axis (begin, end) and the constant.
  std::vector<int64_t> pads;
  std::vector<int64_t> axes;
  uint64_t cbits = 0;
  if (opset < 11) {
    MIXQ_ASSIGN_OR_RETURN(auto attr, ctx.node().attr_ints(opset < 2 ? "paddings" : "pads"));
    if (!attr) return ctx.fail("required attribute 'pads' is missing");
    pads = *attr;
    MIXQ_ASSIGN_OR_RETURN(const float value, ctx.node().attr_float("value", 0.0f));
    MIXQ_ASSIGN_OR_RETURN(cbits, constant_bits(ctx, xt.dtype(), value));
  } else {
    if (!ctx.has_input(1)) return ctx.fail("input pads is missing");
    pads = nn::input_ints(ctx.input(1));
    if (ctx.has_input(2) && ctx.input(2).numel() > 0) {
      const ir::Tensor& cv = ctx.input(2);
      if (cv.dtype() != xt.dtype()) return ctx.fail("constant_value type differs from data type");
      std::memcpy(&cbits, cv.raw_data(), es);
    }
    if (opset >= 18 && ctx.has_input(3)) axes = nn::input_ints(ctx.input(3));
  }
  if (axes.empty()) {
    for (size_t d = 0; d < rank; ++d) axes.push_back(static_cast<int64_t>(d));
  }
  if (pads.size() != 2 * axes.size()) {
    return ctx.fail("pads has ", pads.size(), " values, expected ", 2 * axes.size());
  }
  std::vector<int64_t> pb(rank, 0), pe(rank, 0);
  for (size_t i = 0; i < axes.size(); ++i) {
    int64_t a = axes[i];
    if (a < -static_cast<int64_t>(rank) || a >= static_cast<int64_t>(rank)) {
      return ctx.fail("axes entry ", a, " is out of range for rank ", rank);
    }
    if (a < 0) a += static_cast<int64_t>(rank);
    pb[static_cast<size_t>(a)] = pads[i];
    pe[static_cast<size_t>(a)] = pads[i + axes.size()];
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  // Trailing axes without pads are one axis to the copy below: each of its lines is a
  // contiguous block (all of the tensor when nothing is padded, e.g. an exported pad of 0).
  const std::vector<int64_t> xd = unpadded_tail_merged(xt.dims(), pb, pe);
  const std::vector<int64_t> yd = unpadded_tail_merged(yt->dims(), pb, pe);
  rank = xd.size();
  // Per axis: input index of every output index, -1 for the constant.
  std::vector<std::vector<int64_t>> map(rank);
  for (size_t d = 0; d < rank; ++d) {
    const int64_t crop_b = std::max<int64_t>(0, -pb[d]);
    const int64_t len = xd[d] - crop_b - std::max<int64_t>(0, -pe[d]);
    const int64_t lead = std::max<int64_t>(0, pb[d]);
    if (len < 0 || yd[d] != len + lead + std::max<int64_t>(0, pe[d])) {
      return ctx.fail("pads crop more than axis ", d, " holds");
    }
    if (d + 1 == rank && pb[d] == 0 && pe[d] == 0) break;  // lines copied whole, no map
    map[d].resize(static_cast<size_t>(yd[d]));
    for (int64_t o = 0; o < yd[d]; ++o) {
      int64_t i = o - lead;
      if (i < 0 || i >= len) {
        if (mode == PadMode::kConstant) {
          i = -1;
        } else if (len == 0) {
          return ctx.fail("cannot ", *mode_s, "-pad axis ", d, ", which has no elements");
        } else if (mode == PadMode::kEdge || len == 1) {
          i = std::clamp<int64_t>(i, 0, len - 1);
        } else if (mode == PadMode::kWrap) {
          i = ((i % len) + len) % len;
        } else {
          const int64_t period = 2 * (len - 1);
          i = ((i % period) + period) % period;
          if (i >= len) i = period - i;
        }
      }
      map[d][static_cast<size_t>(o)] = i < 0 ? -1 : i + crop_b;
    }
  }
  if (yt->numel() == 0) return Status::ok_status();
  if (rank == 0) {
    std::memcpy(yt->mutable_raw_data(), xt.raw_data(), es);
    return Status::ok_status();
  }
  if (rank == 1 && pb[0] == 0 && pe[0] == 0) {  // nothing padded: a copy, in blocks
    const std::byte* x = xt.raw_data();
    std::byte* y = yt->mutable_raw_data();
    const int64_t n = yt->numel();
    ctx.pool().parallel_for(
        n, ThreadPool::grain_for(n, int64_t{1} << 16), [&](int64_t b, int64_t e) {
          std::memcpy(y + static_cast<size_t>(b) * es, x + static_cast<size_t>(b) * es,
                      static_cast<size_t>(e - b) * es);
        });
    return Status::ok_status();
  }
  const std::vector<int64_t> xs = strides_of(xd);
  const int64_t last = yd[rank - 1];
  // Last axis: output [lead_last, lead_last + len_last) copies input [crop_last, ...).
  const int64_t crop_last = std::max<int64_t>(0, -pb[rank - 1]);
  const int64_t lead_last = std::max<int64_t>(0, pb[rank - 1]);
  const int64_t len_last = xd[rank - 1] - crop_last - std::max<int64_t>(0, -pe[rank - 1]);
  const int64_t lines = yt->numel() / last;
  const int64_t grain = ThreadPool::grain_for(lines, std::max<int64_t>(1, 16384 / last));
  with_word(es, [&](auto tag) {
    using W = decltype(tag);
    const W* x = reinterpret_cast<const W*>(xt.raw_data());
    W* y = reinterpret_cast<W*>(yt->mutable_raw_data());
    W c;
    std::memcpy(&c, &cbits, sizeof(W));
    ctx.pool().parallel_for(lines, grain, [&](int64_t l0, int64_t l1) {
      for (int64_t l = l0; l < l1; ++l) {
        W* yl = y + l * last;
        int64_t rem = l, base = 0;
        bool constant = false;
        for (size_t d = rank - 1; d-- > 0;) {
          const int64_t i = map[d][static_cast<size_t>(rem % yd[d])];
          rem /= yd[d];
          if (i < 0) constant = true;
          base += i * xs[d];
        }
        if (constant) {
          std::fill(yl, yl + last, c);
          continue;
        }
        // The interior of the line is a contiguous copy; only the pads go through the map.
        const int64_t* m = map[rank - 1].data();
        for (int64_t o = 0; o < lead_last; ++o) yl[o] = m[o] < 0 ? c : x[base + m[o]];
        std::memcpy(yl + lead_last, x + base + crop_last,
                    static_cast<size_t>(len_last) * sizeof(W));
        for (int64_t o = lead_last + len_last; o < last; ++o) {
          yl[o] = m[o] < 0 ? c : x[base + m[o]];
        }
      }
    });
  });
  return Status::ok_status();
}

// DepthToSpace (depth_to_space true) and SpaceToDepth: one loop over the [N, C, H, W] side
// with channels; `dcr` selects the DCR channel order.
Status space_depth(KernelContext& ctx, bool depth_to_space) {
  const ir::Tensor& xt = ctx.input(0);
  if (xt.rank() != 4) return ctx.fail("input must have rank 4");
  MIXQ_ASSIGN_OR_RETURN(const int64_t b, ctx.node().attr_int("blocksize", 0));
  if (b < 1) return ctx.fail("attribute blocksize is ", b, ", must be >= 1");
  bool dcr = true;
  if (depth_to_space && ctx.opset() >= 11) {
    auto mode = ctx.node().attr_string("mode", "DCR");
    if (!mode.ok()) return mode.status();
    if (*mode != "DCR" && *mode != "CRD") return ctx.fail("attribute mode is '", *mode, "'");
    dcr = *mode == "DCR";
  }
  const size_t es = element_size(xt.dtype());
  if (es == 0 || xt.dtype() == DType::kString) {
    return ctx.not_supported(dtype_name(xt.dtype()), " tensors");
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  // The deep side [N, C, H, W] (input of DepthToSpace, output of SpaceToDepth) and the wide
  // side [N, C / b^2, H * b, W * b].
  const auto& deep = depth_to_space ? xt.dims() : yt->dims();
  const int64_t N = deep[0], C = deep[1], H = deep[2], W = deep[3];
  const int64_t Cs = C / (b * b);
  if (Cs * b * b != C) return ctx.fail("channels ", C, " are not a multiple of blocksize^2");
  const int64_t rows = N * Cs * H * b;  // rows of the wide side
  const int64_t Ww = W * b;
  with_word(es, [&](auto tag) {
    using Wd = decltype(tag);
    const Wd* x = reinterpret_cast<const Wd*>(xt.raw_data());
    Wd* y = reinterpret_cast<Wd*>(yt->mutable_raw_data());
    ctx.pool().parallel_for(rows, ThreadPool::grain_for(rows, std::max<int64_t>(1, 4096 / Ww)),
                            [&](int64_t r0, int64_t r1) {
                              for (int64_t r = r0; r < r1; ++r) {
                                const int64_t hw = r % (H * b);  // wide row = h * b + i
                                const int64_t c = (r / (H * b)) % Cs;
                                const int64_t n = r / (H * b * Cs);
                                const int64_t h = hw / b, i = hw % b;
                                for (int64_t j = 0; j < b; ++j) {
                                  const int64_t dc =
                                      dcr ? (i * b + j) * Cs + c : c * b * b + i * b + j;
                                  const int64_t deep_row = ((n * C + dc) * H + h) * W;
                                  const int64_t wide_row = r * Ww + j;
                                  for (int64_t w = 0; w < W; ++w) {
                                    if (depth_to_space) {
                                      y[wide_row + w * b] = x[deep_row + w];
                                    } else {
                                      y[deep_row + w] = x[wide_row + w * b];
                                    }
                                  }
                                }
                              }
                            });
  });
  return Status::ok_status();
}

Status depth_to_space(KernelContext& ctx) { return space_depth(ctx, true); }
Status space_to_depth(KernelContext& ctx) { return space_depth(ctx, false); }

}  // namespace

void register_pad_kernels(std::vector<KernelDef>& out) {
  const TypeSet all = types::kNumeric | types::kBool;
  out.push_back({"", "Pad", 1, 21, all, 0, pad});
  out.push_back({"", "DepthToSpace", 1, 21, all, 0, depth_to_space});
  out.push_back({"", "SpaceToDepth", 1, 21, all, 0, space_to_depth});
}

}  // namespace mixq::exec
