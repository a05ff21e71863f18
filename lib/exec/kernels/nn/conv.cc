// ONNX Conv-1/11: Y[n, m, o...] = B[m] + sum over the channels c of m's group and the kernel
// offsets k... of X[n, c, o * stride - pad_begin + k * dilation] * W[m, c, k...], zero outside
// the input; group, strides, dilations, pads, auto_pad NOTSET/SAME_UPPER/SAME_LOWER/VALID, any
// number of spatial axes, optional bias. float16/bfloat16 are computed in float32.
//
// Paths (the stride-1 2-D direct path with a packed weight is described at conv_direct):
//  - pointwise (every kernel dim 1, stride 1, no pads): each group's output is W_g [Mg, Cg] times
//    the input itself [Cg, P], one GEMM with no copy;
//  - depthwise (one input channel per group, e.g. group == C == M): a direct kernel. As a GEMM
//    it would multiply a [Mg, kernel size] matrix by a [kernel size, P] im2col buffer with Mg
//    usually 1: a matrix-vector product that pays for the im2col copy and gains nothing from
//    GEMM blocking. The direct loop instead streams each output row once per kernel offset,
//    contiguous (and vectorized) when the stride is 1;
//  - general: im2col of a block of output positions into a per-chunk buffer, then Eigen GEMM;
//  - small outputs (at most 128 positions per channel): several images'
//    im2col columns side by side in one GEMM (also for one input channel with 8+ outputs,
//    which the depthwise loop would handle a few values at a time).
// Work is split into items (batch x group x block of output positions), each computing whole
// output elements, with block sizes that depend only on the shapes: results are bit-identical
// for any thread count.
#include <algorithm>
#include <cstring>

#include "kernels/gemm.h"
#include "kernels/nn/nn_kernels.h"
#include "kernels/nn/nn_util.h"
#include "kernels/packed_weights.h"

namespace mixq::exec {
namespace {

using nn::copy_short;
using nn::Window;

// Everything a conv item needs, in compute type T.
template <typename T>
struct ConvProblem {
  int64_t N = 0, C = 0, M = 0, G = 1, Cg = 0, Mg = 0;
  int64_t ksize = 1;  // product of the kernel dims
  int64_t K = 0;      // Cg * ksize: GEMM depth
  int64_t P = 1;      // output positions per channel
  int64_t I = 1;      // input positions per channel
  Window w;
  std::vector<int64_t> in_strides;  // element strides of the input spatial axes
  const T* x = nullptr;
  const T* wt = nullptr;
  const T* bias = nullptr;
  T* y = nullptr;
  // The weight of each group packed for gemm_packed_left (float32 on a build with packed
  // GEMMs: kept across runs for an initializer, else packed for the call), else null.
  const std::vector<std::unique_ptr<PackedLeft>>* packed = nullptr;
};

// Valid output range [lo, hi) along the last spatial axis for input offset `off`
// (input index = o * s + off) within an input of length `in`.
inline void valid_range(int64_t off, int64_t s, int64_t in, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : (-off + s - 1) / s;
  hi = in - off <= 0 ? 0 : (in - off + s - 1) / s;
}

// A run of output positions along the last spatial axis: outer output coordinates (all but the
// last axis), the range [a, b) on the last axis, and the flat position of `a`.
struct Line {
  int64_t outer[8];
  int64_t a, b, p;
};

// The lines that cover flat output positions [p0, p1).
std::vector<Line> lines_of(const Window& w, int64_t p0, int64_t p1) {
  std::vector<Line> lines;
  const size_t n = w.n;
  const int64_t last = w.out[n - 1];
  int64_t p = p0;
  while (p < p1) {
    Line l{};
    int64_t q = p / last;
    l.a = p % last;
    l.b = std::min(last, l.a + (p1 - p));
    l.p = p;
    for (size_t d = n - 1; d-- > 0;) {
      l.outer[d] = q % w.out[d];
      q /= w.out[d];
    }
    lines.push_back(l);
    p += l.b - l.a;
  }
  return lines;
}

// Kernel offsets of flat kernel index `kidx` (row-major over the kernel dims).
inline void kernel_coords(const Window& w, int64_t kidx, int64_t* k) {
  for (size_t d = w.n; d-- > 0;) {
    k[d] = kidx % w.kernel[d];
    kidx /= w.kernel[d];
  }
}

// Input offset (within one channel) of the outer axes of `line` at kernel offsets `k`, or -1
// when an outer coordinate falls in the padding.
inline int64_t outer_offset(const Window& w, const std::vector<int64_t>& in_strides,
                            const Line& line, const int64_t* k) {
  int64_t off = 0;
  for (size_t d = 0; d + 1 < w.n; ++d) {
    const int64_t i = line.outer[d] * w.strides[d] - w.pad_begin[d] + k[d] * w.dilations[d];
    if (i < 0 || i >= w.in[d]) return -1;
    off += i * in_strides[d];
  }
  return off;
}

// im2col: col[r * ld + j] for kernel rows r = (c, k...) of group channels starting at `xc` and
// the output positions of `lines` (j = position - p0).
template <typename T>
void im2col(const ConvProblem<T>& pb, const T* xc, const std::vector<Line>& lines, int64_t p0,
            int64_t ld, T* col) {
  const Window& w = pb.w;
  const size_t n = w.n;
  const int64_t s = w.strides[n - 1];
  const int64_t in_last = w.in[n - 1];
  int64_t k[8];
  for (int64_t r = 0; r < pb.K; ++r) {
    const int64_t c = r / pb.ksize;
    kernel_coords(w, r % pb.ksize, k);
    const T* xch = xc + c * pb.I;
    const int64_t off = k[n - 1] * w.dilations[n - 1] - w.pad_begin[n - 1];
    int64_t lo, hi;
    valid_range(off, s, in_last, lo, hi);
    T* row = col + r * ld;
    for (const Line& l : lines) {
      // Output o in [a, b) of the line goes to dst[o - a] and reads xch[base + o * s + off].
      T* dst = row + (l.p - p0);
      const int64_t base = outer_offset(w, pb.in_strides, l, k);
      const int64_t vlo = std::clamp(lo, l.a, l.b);
      const int64_t vhi = std::clamp(hi, vlo, l.b);
      if (base < 0) {
        std::fill(dst, dst + (l.b - l.a), T(0));
        continue;
      }
      std::fill(dst, dst + (vlo - l.a), T(0));
      const T* src = xch + base;
      if (s == 1) {
        std::memcpy(dst + (vlo - l.a), src + (vlo + off),
                    static_cast<size_t>(vhi - vlo) * sizeof(T));
      } else {
        for (int64_t o = vlo; o < vhi; ++o) dst[o - l.a] = src[o * s + off];
      }
      std::fill(dst + (vhi - l.a), dst + (l.b - l.a), T(0));
    }
  }
}

// Output positions per GEMM item: the im2col buffer of one item holds about 128K elements, and
// blocks are cut finer (not below 64 positions) when there would be fewer than 8 items.
int64_t block_size(int64_t K, int64_t P, int64_t batch_groups) {
  constexpr int64_t kTargetElems = int64_t{1} << 17;
  int64_t pb = std::max<int64_t>(64, kTargetElems / std::max<int64_t>(K, 1) / 16 * 16);
  while (pb > 64 && batch_groups * ((P + pb - 1) / pb) < 8) pb = std::max<int64_t>(64, pb / 2);
  return std::min(pb, P);
}

template <typename T>
void add_bias(const ConvProblem<T>& pb, int64_t n, int64_t m0, int64_t m1, int64_t p0, int64_t p1) {
  if (pb.bias == nullptr) return;
  for (int64_t m = m0; m < m1; ++m) {
    T* yr = pb.y + (n * pb.M + m) * pb.P;
    const T b = pb.bias[m];
    for (int64_t p = p0; p < p1; ++p) yr[p] += b;
  }
}

// Copies channels [c0, c1) of a 2-D input (H x W each, from x) into the interior of their
// zero-filled padded planes (Hp x Wp each, from xpad), per the window's begin pads.
template <typename T>
void copy_into_padded(const Window& w, const T* x, int64_t c0, int64_t c1, T* xpad) {
  const int64_t H = w.in[0], W = w.in[1];
  const int64_t Hp = H + w.pad_begin[0] + w.pad_end[0], Wp = W + w.pad_begin[1] + w.pad_end[1];
  for (int64_t c = c0; c < c1; ++c) {
    T* dst = xpad + c * Hp * Wp + w.pad_begin[0] * Wp + w.pad_begin[1];
    for (int64_t h = 0; h < H; ++h) copy_short(dst + h * Wp, x + (c * H + h) * W, W);
  }
}

// Stride-1, undilated 2-D convolutions with a packed weight, without im2col. The input of each
// (image, group) is copied once into a zero-padded [Cg, Hp, Wp] buffer. Output position q in
// "wide" coordinates (q = oh * Wp + ow) and reduction index k = (c, i, j) read the padded input
// at koff[k] + q with koff[k] = c*Hp*Wp + i*Wp + j, so the packed tile reads shifted rows of the
// buffer directly; the Wp - W_out wide positions at the end of each row are discarded. Items
// are (image, group, block of output rows). Returns false when the shape does not qualify.
bool conv_direct(ThreadPool& pool, const ConvProblem<float>& pb) {
  const Window& w = pb.w;
  if (pb.packed == nullptr || w.n != 2) return false;
  for (size_t d = 0; d < 2; ++d) {
    if (w.strides[d] != 1 || w.dilations[d] != 1) return false;
  }
  const int64_t kh = w.kernel[0], kw = w.kernel[1];
  if (kh * kw == 1) return false;  // pointwise: the input rows are already the GEMM operand
  const int64_t H = w.in[0], W = w.in[1];
  const int64_t Hp = H + w.pad_begin[0] + w.pad_end[0];
  const int64_t Wp = W + w.pad_begin[1] + w.pad_end[1];
  const int64_t Ho = w.out[0], Wo = w.out[1];
  // Narrow rows waste too much of each tile on discarded positions: im2col does better there.
  if (Wp < 16 || Ho != Hp - kh + 1 || Wo != Wp - kw + 1) return false;
  const int64_t plane = Hp * Wp;
  const int64_t images = pb.N * pb.G;
  AlignedFloats xpad(static_cast<size_t>(images * pb.Cg * plane), 0.0f);
  // The channels of all images and groups in order.
  pool.parallel_for(
      images * pb.Cg, ThreadPool::grain_for(images * pb.Cg, 4),
      [&](int64_t c0, int64_t c1) { copy_into_padded(w, pb.x, c0, c1, xpad.data()); });
  std::vector<int64_t> koff(static_cast<size_t>(pb.K));
  for (int64_t c = 0; c < pb.Cg; ++c) {
    for (int64_t i = 0; i < kh; ++i) {
      for (int64_t j = 0; j < kw; ++j)
        koff[static_cast<size_t>((c * kh + i) * kw + j)] = c * plane + i * Wp + j;
    }
  }
  // At least 256 wide positions per item: the tiles are 32 positions wide, and an item of one
  // short row would leave most of each tile empty. Few items split inside the GEMM instead.
  const int64_t rows = std::clamp<int64_t>((256 + Wp - 1) / Wp, 1, Ho);
  const int64_t blocks = (Ho + rows - 1) / rows;
  const int64_t items = images * blocks;
  ThreadPool* gemm_pool = items >= 16 ? nullptr : &pool;
  auto run = [&](int64_t i0, int64_t i1) {
    AlignedFloats wide;
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t img = it / blocks;  // n * G + g
      const int64_t n = img / pb.G, g = img % pb.G;
      const int64_t r0 = (it % blocks) * rows;
      const int64_t r1 = std::min(Ho, r0 + rows);
      const int64_t len = (r1 - r0 - 1) * Wp + Wo;
      wide.resize(static_cast<size_t>(pb.Mg * len));
      gemm_packed_left_offsets(gemm_pool, *(*pb.packed)[static_cast<size_t>(g)], len,
                               xpad.data() + img * pb.Cg * plane + r0 * Wp, koff.data(),
                               wide.data(), len);
      for (int64_t m = 0; m < pb.Mg; ++m) {
        float* yr = pb.y + (n * pb.M + g * pb.Mg + m) * pb.P;
        for (int64_t r = r0; r < r1; ++r) {
          std::memcpy(yr + r * Wo, wide.data() + m * len + (r - r0) * Wp, sizeof(float) * Wo);
        }
      }
      add_bias(pb, n, g * pb.Mg, (g + 1) * pb.Mg, r0 * Wo, r1 * Wo);
    }
  };
  if (gemm_pool != nullptr) {
    run(0, items);
  } else {
    pool.parallel_for(items, 1, run);
  }
  return true;
}

// One GEMM of group g's weight [Mg, K] by `width` columns of `src` (row stride ld) into y
// (row stride ldy): packed when the weight is, else the generic GEMM.
template <typename T>
void group_gemm(ThreadPool* pool, const ConvProblem<T>& pb, int64_t g, int64_t width, const T* src,
                int64_t ld, T* y, int64_t ldy) {
  if constexpr (std::is_same_v<T, float>) {
    if (pb.packed != nullptr) {
      gemm_packed_left(pool, *(*pb.packed)[static_cast<size_t>(g)], width, src, ld, y, ldy);
      return;
    }
  }
  gemm<T>(pool, pb.Mg, width, pb.K, T(1), pb.wt + g * pb.Mg * pb.K, pb.K, false, src, ld, false,
          T(0), y, ldy);
}

// The kh x kw im2col rows of one zero-padded channel plane (row stride Wp), into rows ld apart:
// row (i, j) takes, for each output row oh, the Wo outputs read from padded row
// oh * sh + i * dh, columns j * dw + ow * sw. WO > 0 is Wo fixed at compile time, for stride-1
// rows (sw == 1): rows of 4 or 8 values (digits-sized images) then copy as fixed-size moves
// instead of spending most of the loop in per-row bookkeeping.
template <int64_t WO, typename T>
void im2col_plane(const Window& w, const T* plane, int64_t Wp, int64_t ld, T* col) {
  const int64_t Ho = w.out[0], Wo = WO > 0 ? WO : w.out[1];
  const int64_t sh = w.strides[0], sw = w.strides[1], dh = w.dilations[0], dw = w.dilations[1];
  const int64_t kh = w.kernel[0], kw = w.kernel[1];
  for (int64_t i = 0; i < kh; ++i) {
    for (int64_t j = 0; j < kw; ++j) {
      T* row = col + (i * kw + j) * ld;
      const T* first = plane + i * dh * Wp + j * dw;
      for (int64_t oh = 0; oh < Ho; ++oh) {
        const T* src = first + oh * sh * Wp;
        T* dst = row + oh * Wo;
        if constexpr (WO > 0) {
          std::memcpy(dst, src, WO * sizeof(T));
        } else if (sw == 1) {
          copy_short(dst, src, Wo);
        } else {
          for (int64_t ow = 0; ow < Wo; ++ow) dst[ow] = src[ow * sw];
        }
      }
    }
  }
}

// im2col of one image's group channels for a 2-D window, into columns with row stride ld:
// the channels are first copied into a zero-padded [Cg, Hp, Wp] buffer, so that each kernel
// row reads whole output rows without edge tests (small images spend most of the generic
// im2col in per-line bookkeeping). The buffer's border is zeroed when it is (re)sized and
// never written after, so a caller reusing it for the images of one problem copies only the
// interior.
template <typename T>
void im2col_2d(const ConvProblem<T>& pb, const T* xc, int64_t ld, T* col, std::vector<T>& xpad) {
  const Window& w = pb.w;
  const int64_t Hp = w.in[0] + w.pad_begin[0] + w.pad_end[0];
  const int64_t Wp = w.in[1] + w.pad_begin[1] + w.pad_end[1];
  const int64_t plane = Hp * Wp;
  if (xpad.size() != static_cast<size_t>(pb.Cg * plane)) {
    xpad.assign(static_cast<size_t>(pb.Cg * plane), T(0));
  }
  copy_into_padded(w, xc, 0, pb.Cg, xpad.data());
  const int64_t fixed = w.strides[1] == 1 ? w.out[1] : 0;  // a row width with its own copy
  const int64_t rows = w.kernel[0] * w.kernel[1] * ld;     // col's rows per channel
  for (int64_t c = 0; c < pb.Cg; ++c) {
    const T* src = xpad.data() + c * plane;
    T* dst = col + c * rows;
    if (fixed == 4) {
      im2col_plane<4>(w, src, Wp, ld, dst);
    } else if (fixed == 8) {
      im2col_plane<8>(w, src, Wp, ld, dst);
    } else {
      im2col_plane<0>(w, src, Wp, ld, dst);
    }
  }
}

// Small outputs (digits-sized images, deep layers of small inputs): one image per item would
// make GEMMs a few dozen columns wide, mostly overhead. Items are (block of images, g): the
// images' im2col columns side by side, one GEMM at least ~256 wide, then each image's rows
// copied out. The images per item depend only on the shapes (same results for any thread
// count), and each output element sums over K in the GEMM's fixed order.
template <typename T>
void conv_gemm_images(ThreadPool& pool, const ConvProblem<T>& pb, int64_t per_item) {
  const std::vector<Line> lines = pb.w.n == 2 ? std::vector<Line>{} : lines_of(pb.w, 0, pb.P);
  const int64_t blocks = (pb.N + per_item - 1) / per_item;
  const int64_t items = blocks * pb.G;
  ThreadPool* gemm_pool = items >= 4 ? nullptr : &pool;
  auto run = [&](int64_t i0, int64_t i1) {
    std::vector<T> xpad;
    // Every value of both is written (im2col, then the GEMM) before it is read.
    T* const col = nn::thread_scratch<T, 0>(static_cast<size_t>(pb.K * per_item * pb.P));
    T* const out = nn::thread_scratch<T, 1>(static_cast<size_t>(pb.Mg * per_item * pb.P));
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t g = it % pb.G;
      const int64_t n0 = it / pb.G * per_item;
      const int64_t count = std::min(pb.N, n0 + per_item) - n0;
      const int64_t width = count * pb.P;
      for (int64_t j = 0; j < count; ++j) {
        const T* xc = pb.x + ((n0 + j) * pb.C + g * pb.Cg) * pb.I;
        if (pb.w.n == 2) {
          im2col_2d(pb, xc, width, col + j * pb.P, xpad);
        } else {
          im2col(pb, xc, lines, 0, width, col + j * pb.P);
        }
      }
      group_gemm(gemm_pool, pb, g, width, col, width, out, width);
      for (int64_t j = 0; j < count; ++j) {
        for (int64_t m = 0; m < pb.Mg; ++m) {
          copy_short(pb.y + ((n0 + j) * pb.M + g * pb.Mg + m) * pb.P, out + m * width + j * pb.P,
                     pb.P);
        }
        add_bias(pb, n0 + j, g * pb.Mg, (g + 1) * pb.Mg, 0, pb.P);
      }
    }
  };
  if (gemm_pool != nullptr) {
    run(0, items);
  } else {
    pool.parallel_for(items, 1, run);
  }
}

constexpr int64_t kMinWidth = 256;  // columns per GEMM the images path aims for

// Chosen by the output size alone, not the batch: a sample's outputs must not depend on how
// many others share its run (calibration layouts give the same ranges).
template <typename T>
bool uses_images_gemm(const ConvProblem<T>& pb) {
  return pb.P * 2 <= kMinWidth;
}

// General and pointwise paths: items are (n, g, block of output positions).
template <typename T>
void conv_gemm(ThreadPool& pool, const ConvProblem<T>& pb) {
  const Window& w = pb.w;
  bool pointwise = true;
  for (size_t d = 0; d < w.n; ++d) {
    pointwise &= w.kernel[d] == 1 && w.strides[d] == 1 && w.pad_begin[d] == 0 &&
                 w.pad_end[d] == 0 && w.in[d] == w.out[d];
  }
  const int64_t bs = block_size(pb.K, pb.P, pb.N * pb.G);
  const int64_t blocks = (pb.P + bs - 1) / bs;
  const int64_t items = pb.N * pb.G * blocks;
  // Few items (deep layers with small outputs): run them in turn and let the GEMM split itself.
  ThreadPool* gemm_pool = items >= 4 ? nullptr : &pool;
  auto run = [&](int64_t i0, int64_t i1) {
    // Written whole by im2col before the GEMM reads it.
    T* const col = pointwise ? nullptr : nn::thread_scratch<T, 0>(static_cast<size_t>(pb.K * bs));
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t blk = it % blocks;
      const int64_t g = (it / blocks) % pb.G;
      const int64_t n = it / (blocks * pb.G);
      const int64_t p0 = blk * bs;
      const int64_t p1 = std::min(pb.P, p0 + bs);
      const int64_t width = p1 - p0;
      const T* xc = pb.x + (n * pb.C + g * pb.Cg) * pb.I;
      const T* wg = pb.wt + g * pb.Mg * pb.K;
      T* yb = pb.y + (n * pb.M + g * pb.Mg) * pb.P + p0;
      const T* src = xc + p0;
      int64_t ld = pb.I;
      if (!pointwise) {
        im2col(pb, xc, lines_of(w, p0, p1), p0, width, col);
        src = col;
        ld = width;
      }
      if constexpr (std::is_same_v<T, float>) {
        if (pb.packed != nullptr) {
          gemm_packed_left(gemm_pool, *(*pb.packed)[static_cast<size_t>(g)], width, src, ld, yb,
                           pb.P);
          add_bias(pb, n, g * pb.Mg, (g + 1) * pb.Mg, p0, p1);
          continue;
        }
      }
      gemm<T>(gemm_pool, pb.Mg, width, pb.K, T(1), wg, pb.K, false, src, ld, false, T(0), yb, pb.P);
      add_bias(pb, n, g * pb.Mg, (g + 1) * pb.Mg, p0, p1);
    }
  };
  if (gemm_pool != nullptr) {
    run(0, items);
  } else {
    pool.parallel_for(items, 1, run);
  }
}

// One kernel row of the depthwise path: yl[o] += wr[kl] * xl[o * s + off] with
// off = kl * dil - pad, tap by tap, for the outputs o whose input lies inside the line.
// (Fusing the taps of a row into one pass measured slower on 56-wide lines.)
template <typename T>
void depthwise_row(T* __restrict yl, const T* __restrict xl, const T* wr, int64_t k_last,
                   int64_t dil, int64_t pad, int64_t s, int64_t in_last, int64_t last) {
  for (int64_t kl = 0; kl < k_last; ++kl) {
    const T wv = wr[kl];
    const int64_t off = kl * dil - pad;
    int64_t lo, hi;
    valid_range(off, s, in_last, lo, hi);
    hi = std::min(hi, last);
    if (s == 1) {
      for (int64_t o = lo; o < hi; ++o) yl[o] += wv * xl[o + off];
    } else {
      for (int64_t o = lo; o < hi; ++o) yl[o] += wv * xl[o * s + off];
    }
  }
}

// Depthwise path (Cg == 1): output channel m reads input channel m / Mg. Items are (n, m,
// block of lines); each line is the full last spatial axis.
template <typename T>
void conv_depthwise(ThreadPool& pool, const ConvProblem<T>& pb) {
  const Window& w = pb.w;
  const size_t n = w.n;
  const int64_t last = w.out[n - 1];
  const int64_t lines_total = pb.P / last;
  const int64_t per_line = last * pb.ksize;
  const int64_t lb = std::max<int64_t>(1, 16384 / std::max<int64_t>(per_line, 1));
  const int64_t blocks = (lines_total + lb - 1) / lb;
  const int64_t items = pb.N * pb.M * blocks;
  const int64_t s = w.strides[n - 1];
  const int64_t in_last = w.in[n - 1];
  const int64_t k_last = w.kernel[n - 1];
  const int64_t k_outer = pb.ksize / k_last;
  pool.parallel_for(items, ThreadPool::grain_for(items, 1), [&](int64_t i0, int64_t i1) {
    int64_t k[8];
    for (int64_t it = i0; it < i1; ++it) {
      const int64_t blk = it % blocks;
      const int64_t m = (it / blocks) % pb.M;
      const int64_t b = it / (blocks * pb.M);
      const T* xch = pb.x + (b * pb.C + m / pb.Mg) * pb.I;
      const T* wm = pb.wt + m * pb.ksize;
      const T bias = pb.bias ? pb.bias[m] : T(0);
      const int64_t l1 = std::min(lines_total, (blk + 1) * lb);
      for (const Line& line : lines_of(w, blk * lb * last, l1 * last)) {
        T* __restrict yl = pb.y + (b * pb.M + m) * pb.P + line.p;
        std::fill(yl, yl + last, bias);
        for (int64_t ko = 0; ko < k_outer; ++ko) {
          kernel_coords(w, ko * k_last, k);
          const int64_t base = outer_offset(w, pb.in_strides, line, k);
          if (base < 0) continue;
          depthwise_row(yl, xch + base, wm + ko * k_last, k_last, w.dilations[n - 1],
                        w.pad_begin[n - 1], s, in_last, last);
        }
      }
    }
  });
}

template <typename T>
Status conv_typed(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const ir::Tensor& wt = ctx.input(1);
  const auto& xd = xt.dims();
  const auto& wd = wt.dims();
  if (xd.size() < 3 || wd.size() != xd.size()) {
    return ctx.fail("input ", ir::dims_to_string(xd), " and weight ", ir::dims_to_string(wd),
                    " must both have rank >= 3 and the same rank");
  }
  if (xd.size() - 2 > 8) return ctx.not_supported("more than 8 spatial axes");
  if (wt.dtype() != xt.dtype() || (ctx.has_input(2) && ctx.input(2).dtype() != xt.dtype())) {
    return ctx.fail("input, weight and bias types differ");
  }
  MIXQ_ASSIGN_OR_RETURN(const int64_t group, ctx.node().attr_int("group", 1));
  ConvProblem<T> pb;
  pb.N = xd[0];
  pb.C = xd[1];
  pb.M = wd[0];
  pb.G = group;
  if (group < 1 || pb.M % group != 0 || pb.C != wd[1] * group) {
    return ctx.fail("input ", ir::dims_to_string(xd), ", weight ", ir::dims_to_string(wd),
                    " and group ", group, " do not match");
  }
  pb.Cg = wd[1];
  pb.Mg = pb.M / group;
  if (ctx.has_input(2) && ctx.input(2).numel() != pb.M) {
    return ctx.fail("bias has ", ctx.input(2).numel(), " values, expected ", pb.M);
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  const std::vector<int64_t> in(xd.begin() + 2, xd.end());
  const std::vector<int64_t> kernel(wd.begin() + 2, wd.end());
  const std::vector<int64_t> out(yt->dims().begin() + 2, yt->dims().end());
  MIXQ_ASSIGN_OR_RETURN(pb.w, nn::read_window(ctx, in, kernel, out, true));
  pb.ksize = nn::product(kernel, 0, kernel.size());
  pb.K = pb.Cg * pb.ksize;
  pb.P = nn::product(out, 0, out.size());
  pb.I = nn::product(in, 0, in.size());
  pb.in_strides = strides_of(in);
  if (yt->numel() == 0) return Status::ok_status();

  ThreadPool& pool = ctx.pool();
  std::vector<T> xs, ws, bs, ys;
  pb.x = nn::compute_view<T>(pool, xt, xs);
  pb.wt = nn::compute_view<T>(pool, wt, ws);
  if (ctx.has_input(2)) pb.bias = nn::compute_view<T>(pool, ctx.input(2), bs);
  pb.y = nn::compute_out<T>(*yt, ys);
  // Small outputs take the images path; with one input channel per group only when there
  // are many outputs from it (a first layer on a grey image), where a GEMM over several small
  // images beats the depthwise loop's per-line work.
  const bool images_gemm = uses_images_gemm(pb) && (pb.Cg != 1 || pb.Mg >= 8);
  using Packs = std::vector<std::unique_ptr<PackedLeft>>;
  std::unique_ptr<Packs> fresh;  // the packed weight of this call when none is kept
  if constexpr (std::is_same_v<T, float>) {
    const auto make = [&] {
      auto packs = std::make_unique<Packs>();
      for (int64_t g = 0; g < pb.G; ++g) {
        packs->push_back(pack_left(pb.wt + g * pb.Mg * pb.K, pb.Mg, pb.K, pb.K));
      }
      return packs;
    };
    // (A float16 weight widened into `ws` is not the input's data: packed for this call.)
    if (pb.Cg != 1 || images_gemm) {
      pb.packed = packed_weight_or_fresh<Packs>(ctx, 1, pb.wt, 0, make, fresh);
    }
  }
  bool direct = false;
  if constexpr (std::is_same_v<T, float>) direct = pb.Cg != 1 && conv_direct(pool, pb);
  if (!direct && images_gemm) {
    // Images per GEMM: about kMinWidth columns, but at least 4 items when the batch allows
    // (down to 64 columns): two GEMMs split inside did not scale (digits_cnn's 4x4 layer,
    // 2 threads as slow as 1). An element's sum is the same in any grouping (see above).
    int64_t per_item = std::min(pb.N, kMinWidth / pb.P);
    while (per_item > 1 && per_item * pb.P > 64 && ((pb.N + per_item - 1) / per_item) * pb.G < 4) {
      per_item = (per_item + 1) / 2;
    }
    conv_gemm_images(pool, pb, per_item);
  }
  if (!direct && !images_gemm && pb.Cg == 1) conv_depthwise(pool, pb);
  if (!direct && !images_gemm && pb.Cg != 1) conv_gemm(pool, pb);
  nn::finish_output(pool, *yt, ys);
  return Status::ok_status();
}

Status conv(KernelContext& ctx) {
  return nn::with_compute_type(ctx, ctx.input(0).dtype(),
                               [&](auto tag) -> Status { return conv_typed<decltype(tag)>(ctx); });
}

}  // namespace

void register_conv_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Conv", 1, 21, types::kFloats, 0, conv});
}

}  // namespace mixq::exec
