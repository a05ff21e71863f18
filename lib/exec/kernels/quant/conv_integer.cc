// ONNX ConvInteger-10: y = conv(x - x_zero_point, w - w_zero_point) in int32; x's zero point is
// per tensor, w's per tensor or per output channel ([M]). Padding adds zeros to x - x_zero_point.
// ONNX QLinearConv-10: y = saturate(round_half_even((acc + B) * x_scale * w_scale / y_scale) +
// y_zero_point) with acc the ConvInteger result and B the optional int32 bias [M], requantized as
// the onnx reference computes it (quant_common.h: requantize); w_scale / w_zero_point per tensor
// or per output channel, x's and y's per tensor.
// Attributes (both): auto_pad (NOTSET, SAME_UPPER, SAME_LOWER, VALID), dilations, group,
// kernel_shape, pads, strides; any number of spatial axes. im2col plus Eigen's int32 GEMM.
#include "kernels/gemm.h"
#include "kernels/quant/quant_common.h"
#include "kernels/quant/quant_kernels.h"

namespace mixq::exec {
namespace {

struct ConvGeometry {
  int64_t N = 0, C = 0, M = 0, group = 1;
  std::vector<int64_t> in, kernel, out, strides, dilations, pad_begin;
  int64_t in_size = 1, kernel_size = 1, out_size = 1;
};

// Reads the window attributes; the output dims come from the shape function (y's dims).
Expected<ConvGeometry> conv_geometry(const KernelContext& ctx, const ir::Tensor& x,
                                     const ir::Tensor& w, const std::vector<int64_t>& y_dims) {
  ConvGeometry g;
  const ir::Node& node = ctx.node();
  if (x.rank() < 3 || w.rank() != x.rank() || y_dims.size() != x.rank()) {
    return ctx.fail("x ", ir::dims_to_string(x.dims()), " and w ", ir::dims_to_string(w.dims()),
                    " must have one rank >= 3");
  }
  const size_t nd = x.rank() - 2;
  g.N = x.dims()[0];
  g.C = x.dims()[1];
  g.M = w.dims()[0];
  MIXQ_ASSIGN_OR_RETURN(g.group, node.attr_int("group", 1));
  if (g.group < 1 || g.C % g.group != 0 || g.M % g.group != 0 || w.dims()[1] * g.group != g.C) {
    return ctx.fail("group ", g.group, " does not fit x ", ir::dims_to_string(x.dims()), " and w ",
                    ir::dims_to_string(w.dims()));
  }
  g.in.assign(x.dims().begin() + 2, x.dims().end());
  g.kernel.assign(w.dims().begin() + 2, w.dims().end());
  g.out.assign(y_dims.begin() + 2, y_dims.end());
  auto ints = [&](const char* name, size_t count,
                  int64_t fallback) -> Expected<std::vector<int64_t>> {
    MIXQ_ASSIGN_OR_RETURN(auto v, node.attr_ints(name));
    if (!v) return std::vector<int64_t>(count, fallback);
    if (v->size() != count) return ctx.fail("attribute ", name, " has ", v->size(), " values");
    return *v;
  };
  MIXQ_ASSIGN_OR_RETURN(g.strides, ints("strides", nd, 1));
  MIXQ_ASSIGN_OR_RETURN(g.dilations, ints("dilations", nd, 1));
  MIXQ_ASSIGN_OR_RETURN(std::vector<int64_t> pads, ints("pads", 2 * nd, 0));
  MIXQ_ASSIGN_OR_RETURN(std::string auto_pad, node.attr_string("auto_pad", "NOTSET"));
  g.pad_begin.resize(nd);
  for (size_t i = 0; i < nd; ++i) {
    if (g.strides[i] < 1 || g.dilations[i] < 1)
      return ctx.fail("strides and dilations must be >= 1");
    const int64_t ek = (g.kernel[i] - 1) * g.dilations[i] + 1;
    if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const int64_t total = std::max<int64_t>(0, (g.out[i] - 1) * g.strides[i] + ek - g.in[i]);
      g.pad_begin[i] = auto_pad == "SAME_UPPER" ? total / 2 : total - total / 2;
    } else if (auto_pad == "VALID") {
      g.pad_begin[i] = 0;
    } else {
      g.pad_begin[i] = pads[i];
    }
    g.in_size *= g.in[i];
    g.kernel_size *= g.kernel[i];
    g.out_size *= g.out[i];
  }
  return g;
}

// One column matrix of one image and group: rows (c, k...) of C/group * kernel_size, columns the
// output positions; element = x - x_zero_point at the tap, 0 in the padding.
template <typename T>
void im2col(ThreadPool& pool, const ConvGeometry& g, const T* x, int32_t zp, int32_t* col) {
  const int64_t cg = g.C / g.group;
  const int64_t rows = cg * g.kernel_size;
  const size_t nd = g.in.size();
  const int64_t out_last = g.out.back();
  const int64_t outer = g.out_size / std::max<int64_t>(1, out_last);
  pool.parallel_for(rows, ThreadPool::grain_for(rows, 1), [&](int64_t r0, int64_t r1) {
    std::vector<int64_t> k(nd), o(nd);
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t c = r / g.kernel_size;
      int64_t rem = r % g.kernel_size;
      for (size_t d = nd; d-- > 0;) {
        k[d] = rem % g.kernel[d];
        rem /= g.kernel[d];
      }
      const T* xc = x + c * g.in_size;
      int32_t* dst = col + r * g.out_size;
      std::fill(o.begin(), o.end(), 0);
      const size_t last = nd - 1;
      const int64_t s = g.strides[last];
      const int64_t off = k[last] * g.dilations[last] - g.pad_begin[last];
      for (int64_t p = 0; p < outer; ++p, dst += out_last) {
        // Offset of the outer coordinates in x, or -1 when one falls in the padding.
        int64_t base = 0;
        bool inside = true;
        for (size_t d = 0; d < last; ++d) {
          const int64_t i = o[d] * g.strides[d] + k[d] * g.dilations[d] - g.pad_begin[d];
          inside &= i >= 0 && i < g.in[d];
          base = base * g.in[d] + i;
        }
        if (!inside) {
          std::fill(dst, dst + out_last, 0);
        } else {
          const T* row = xc + base * g.in[last];
          for (int64_t q = 0; q < out_last; ++q) {
            const int64_t i = q * s + off;
            dst[q] = (i >= 0 && i < g.in[last]) ? static_cast<int32_t>(row[i]) - zp : 0;
          }
        }
        for (size_t d = last; d-- > 0;) {  // odometer over the outer output dims
          if (++o[d] < g.out[d]) break;
          o[d] = 0;
        }
      }
    }
  });
}

// acc[n][m][p] = sum over (c, k) of (w[m][c][k] - w_zp[m]) * col[c, k][p], for every image.
Expected<std::vector<int32_t>> conv_accumulate(KernelContext& ctx, const ConvGeometry& g,
                                               const ir::Tensor& x, int32_t x_zp,
                                               const ir::Tensor& w,
                                               const std::vector<int32_t>& w_zp) {
  if (w.dtype() != DType::kInt8 && w.dtype() != DType::kUint8) {
    return ctx.fail("w has type ", dtype_name(w.dtype()), ", expected int8 or uint8");
  }
  const int64_t ck = (g.C / g.group) * g.kernel_size;  // one filter's taps
  std::vector<int32_t> w32 = quant::int_values(w);
  const bool per_channel = w_zp.size() > 1;
  for (int64_t m = 0; m < g.M; ++m) {
    const int32_t z = w_zp[per_channel ? static_cast<size_t>(m) : 0];
    for (int64_t j = 0; j < ck; ++j) w32[static_cast<size_t>(m * ck + j)] -= z;
  }
  std::vector<int32_t> acc(static_cast<size_t>(g.N * g.M * g.out_size));
  std::vector<int32_t> col(static_cast<size_t>(ck * g.out_size));
  const int64_t mg = g.M / g.group;
  ThreadPool& pool = ctx.pool();
  for (int64_t n = 0; n < g.N; ++n) {
    for (int64_t gi = 0; gi < g.group; ++gi) {
      const int64_t x_off = (n * g.C + gi * (g.C / g.group)) * g.in_size;
      if (x.dtype() == DType::kInt8) {
        im2col(pool, g, x.data<int8_t>() + x_off, x_zp, col.data());
      } else {
        im2col(pool, g, x.data<uint8_t>() + x_off, x_zp, col.data());
      }
      gemm<int32_t>(&pool, mg, g.out_size, ck, 1, w32.data() + gi * mg * ck, ck, false, col.data(),
                    g.out_size, false, 0, acc.data() + (n * g.M + gi * mg) * g.out_size,
                    g.out_size);
    }
  }
  return acc;
}

// A per-tensor zero point of `x`'s type (0 when absent).
Expected<int32_t> scalar_zero_point(const KernelContext& ctx, const ir::Tensor* zp, DType type,
                                    const char* what) {
  if (zp == nullptr) return 0;
  if (zp->dtype() != type) {
    return ctx.fail(what, " is ", dtype_name(zp->dtype()), ", expected ", dtype_name(type));
  }
  if (zp->numel() != 1) {
    return ctx.fail(what, " must be per tensor, has shape ", ir::dims_to_string(zp->dims()));
  }
  MIXQ_ASSIGN_OR_RETURN(std::vector<int32_t> v, quant::zero_point_values(ctx, *zp, what));
  return v[0];
}

// w's zero point: per tensor or per output channel [M].
Expected<std::vector<int32_t>> weight_zero_points(const KernelContext& ctx, const ir::Tensor* zp,
                                                  const ir::Tensor& w, int64_t M) {
  if (zp == nullptr) return std::vector<int32_t>{0};
  if (zp->dtype() != w.dtype()) {
    return ctx.fail("w_zero_point is ", dtype_name(zp->dtype()), ", expected ",
                    dtype_name(w.dtype()));
  }
  if (!(zp->numel() == 1 && zp->rank() <= 1) && !(zp->rank() == 1 && zp->dims()[0] == M)) {
    return ctx.fail("w_zero_point has shape ", ir::dims_to_string(zp->dims()),
                    ", expected a scalar or [", M, "]");
  }
  return quant::zero_point_values(ctx, *zp, "w_zero_point");
}

Status conv_integer(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const ir::Tensor& w = ctx.input(1);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0));
  MIXQ_ASSIGN_OR_RETURN(ConvGeometry g, conv_geometry(ctx, x, w, y->dims()));
  MIXQ_ASSIGN_OR_RETURN(int32_t x_zp,
                        scalar_zero_point(ctx, ctx.input_or_null(2), x.dtype(), "x_zero_point"));
  MIXQ_ASSIGN_OR_RETURN(std::vector<int32_t> w_zp,
                        weight_zero_points(ctx, ctx.input_or_null(3), w, g.M));
  MIXQ_ASSIGN_OR_RETURN(std::vector<int32_t> acc, conv_accumulate(ctx, g, x, x_zp, w, w_zp));
  std::copy(acc.begin(), acc.end(), y->mutable_data<int32_t>());
  return Status::ok_status();
}

Status qlinear_conv(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const ir::Tensor& x_scale = ctx.input(1);
  const ir::Tensor& w = ctx.input(3);
  const ir::Tensor& w_scale = ctx.input(4);
  const ir::Tensor& y_scale = ctx.input(6);
  const ir::Tensor* bias = ctx.input_or_null(8);
  for (const ir::Tensor* t : {&x_scale, &w_scale, &y_scale}) {
    if (t->dtype() != DType::kFloat32) return ctx.fail("scales must be float32");
  }
  if (x_scale.numel() != 1 || y_scale.numel() != 1) {
    return ctx.fail("x_scale and y_scale must be per tensor, have shapes ",
                    ir::dims_to_string(x_scale.dims()), " and ",
                    ir::dims_to_string(y_scale.dims()));
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0));
  if (y->dtype() != DType::kInt8 && y->dtype() != DType::kUint8) {
    return ctx.fail("y has type ", dtype_name(y->dtype()), ", expected int8 or uint8");
  }
  MIXQ_ASSIGN_OR_RETURN(ConvGeometry g, conv_geometry(ctx, x, w, y->dims()));
  if (!(w_scale.numel() == 1 && w_scale.rank() <= 1) &&
      !(w_scale.rank() == 1 && w_scale.dims()[0] == g.M)) {
    return ctx.fail("w_scale has shape ", ir::dims_to_string(w_scale.dims()),
                    ", expected a scalar or [", g.M, "]");
  }
  if (bias && (bias->dtype() != DType::kInt32 || bias->rank() != 1 || bias->dims()[0] != g.M)) {
    return ctx.fail("bias must be int32 [", g.M, "], is ", dtype_name(bias->dtype()), " ",
                    ir::dims_to_string(bias->dims()));
  }
  MIXQ_ASSIGN_OR_RETURN(int32_t x_zp,
                        scalar_zero_point(ctx, ctx.input_or_null(2), x.dtype(), "x_zero_point"));
  MIXQ_ASSIGN_OR_RETURN(std::vector<int32_t> w_zp,
                        weight_zero_points(ctx, ctx.input_or_null(5), w, g.M));
  MIXQ_ASSIGN_OR_RETURN(int32_t y_zp,
                        scalar_zero_point(ctx, ctx.input_or_null(7), y->dtype(), "y_zero_point"));
  MIXQ_ASSIGN_OR_RETURN(std::vector<int32_t> acc, conv_accumulate(ctx, g, x, x_zp, w, w_zp));
  const float sx = quant::scale_values(x_scale)[0];
  const float sy = quant::scale_values(y_scale)[0];
  const std::vector<float> sw = quant::scale_values(w_scale);
  const quant::IntRange r = quant::int_range(y->dtype());
  const int32_t* b = bias ? bias->data<int32_t>() : nullptr;
  const bool i8 = y->dtype() == DType::kInt8;
  void* out = y->mutable_raw_data();
  const int64_t planes = g.N * g.M;
  ctx.pool().parallel_for(planes, ThreadPool::grain_for(planes, 1), [&](int64_t p0, int64_t p1) {
    for (int64_t pl = p0; pl < p1; ++pl) {
      const int64_t m = pl % g.M;
      const float mult = quant::requant_multiplier(sx, sw[sw.size() > 1 ? m : 0], sy);
      const int32_t add = b ? b[m] : 0;
      for (int64_t i = pl * g.out_size; i < (pl + 1) * g.out_size; ++i) {
        // The bias joins the int32 accumulator (wrapping like it).
        const auto a = static_cast<int32_t>(static_cast<uint32_t>(acc[static_cast<size_t>(i)]) +
                                            static_cast<uint32_t>(add));
        const int32_t q = quant::requantize(a, mult, y_zp, r);
        if (i8) {
          static_cast<int8_t*>(out)[i] = static_cast<int8_t>(q);
        } else {
          static_cast<uint8_t*>(out)[i] = static_cast<uint8_t>(q);
        }
      }
    }
  });
  return Status::ok_status();
}

}  // namespace

void register_conv_integer_kernels(std::vector<KernelDef>& out) {
  const TypeSet i8{DType::kInt8, DType::kUint8};
  out.push_back({"", "ConvInteger", 10, 21, i8, 0, conv_integer});
  out.push_back({"", "QLinearConv", 10, 21, i8, 0, qlinear_conv});
}

}  // namespace mixq::exec
