// The device executor's GEMM steps: weights laid out once for cuBLASLt/cuDNN (prepare_gemms),
// and each fused layer at run time (run_fused_gemm): INT8 and FP8 as real low-precision GEMMs
// (activation quantized on the device, per-channel dequantization and bias in the epilogue),
// FP16/FP32 GEMMs and cuDNN convolutions, attention-style products of two activations, and the
// Q/DQ emulation a layer falls back to when cuBLASLt refuses its shape.
#include <cstring>
#include <optional>

#include "mixq/core/float8.h"
#include "mixq/core/float_bits.h"
#include "mixq/gpu/device_executor_impl.h"
#include "mixq/gpu/kernels/elementwise.h"
#include "mixq/gpu/kernels/im2col.h"
#include "mixq/gpu/kernels/movement.h"
#include "mixq/gpu/kernels/qdq.h"

namespace mixq::gpu {

namespace {

size_t elem_bytes(DType t) { return static_cast<size_t>(dtype_bits(t) / 8); }

// dst[n][k] = src[k][n] for a [K, N] row-major matrix of `elem`-byte elements.
std::vector<std::byte> transpose_bytes(const std::byte* src, int64_t K, int64_t N, size_t elem) {
  std::vector<std::byte> dst(static_cast<size_t>(K * N) * elem);
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t n = 0; n < N; ++n) {
      std::memcpy(&dst[static_cast<size_t>(n * K + k) * elem],
                  src + static_cast<size_t>(k * N + n) * elem, elem);
    }
  }
  return dst;
}

Expected<DeviceBuffer> upload_bytes(const void* data, size_t bytes, StreamHandle s) {
  MIXQ_ASSIGN_OR_RETURN(auto b, DeviceBuffer::allocate(bytes));
  MIXQ_RETURN_IF_ERROR(copy_to_device(b.data(), data, bytes, s));
  return b;
}

// A float tensor's values as float32 (float32 or float16 initializers).
Expected<std::vector<float>> floats_of(const ir::Tensor& t, const std::string& what) {
  std::vector<float> out(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::kFloat32) {
    std::memcpy(out.data(), t.raw_data(), out.size() * sizeof(float));
  } else if (t.dtype() == DType::kFloat16) {
    const auto* h = t.data<uint16_t>();
    for (size_t i = 0; i < out.size(); ++i) out[i] = float16_to_float(h[i]);
  } else {
    return unsupported(what, " is ", dtype_name(t.dtype()),
                       " (the device GEMMs take float32 or "
                       "float16 scales and biases)");
  }
  return out;
}

// `values` has 1 or n entries: n floats.
std::vector<float> per_channel(const std::vector<float>& values, int64_t n) {
  if (values.size() == 1) return std::vector<float>(static_cast<size_t>(n), values[0]);
  return values;
}

struct ConvAttrs {
  int64_t group = 1, sh = 1, sw = 1, dh = 1, dw = 1, pt = 0, pl = 0, pb = 0, pr = 0;
};

Expected<ConvAttrs> conv_attrs(const ir::Node& n, const std::vector<int64_t>& x,
                               const std::vector<int64_t>& w, const std::vector<int64_t>& y) {
  ConvAttrs a;
  MIXQ_ASSIGN_OR_RETURN(a.group, n.attr_int("group", 1));
  MIXQ_ASSIGN_OR_RETURN(auto strides, n.attr_ints("strides"));
  MIXQ_ASSIGN_OR_RETURN(auto dil, n.attr_ints("dilations"));
  MIXQ_ASSIGN_OR_RETURN(auto pads, n.attr_ints("pads"));
  MIXQ_ASSIGN_OR_RETURN(auto auto_pad, n.attr_string("auto_pad", "NOTSET"));
  if (strides && strides->size() == 2) a.sh = (*strides)[0], a.sw = (*strides)[1];
  if (dil && dil->size() == 2) a.dh = (*dil)[0], a.dw = (*dil)[1];
  if (auto_pad == "NOTSET") {
    if (pads && pads->size() == 4) {
      a.pt = (*pads)[0], a.pl = (*pads)[1], a.pb = (*pads)[2], a.pr = (*pads)[3];
    }
  } else if (auto_pad != "VALID") {
    // SAME_UPPER / SAME_LOWER: total padding from the output size the shape function gave.
    const auto total = [](int64_t out, int64_t stride, int64_t k, int64_t d, int64_t in) {
      return std::max<int64_t>(0, (out - 1) * stride + (k - 1) * d + 1 - in);
    };
    const int64_t th = total(y[2], a.sh, w[2], a.dh, x[2]);
    const int64_t tw = total(y[3], a.sw, w[3], a.dw, x[3]);
    const bool upper = auto_pad == "SAME_UPPER";
    a.pt = upper ? th / 2 : th - th / 2;
    a.pb = th - a.pt;
    a.pl = upper ? tw / 2 : tw - tw / 2;
    a.pr = tw - a.pl;
  }
  return a;
}

Conv2dGeometry geometry(const std::vector<int64_t>& x, const std::vector<int64_t>& w,
                        const std::vector<int64_t>& y, const ConvAttrs& a) {
  Conv2dGeometry g{};
  g.n = x[0], g.c = x[1], g.h = x[2], g.w = x[3];
  g.out_c = w[0], g.kernel_h = w[2], g.kernel_w = w[3];
  g.stride_h = a.sh, g.stride_w = a.sw, g.dilation_h = a.dh, g.dilation_w = a.dw;
  g.pad_top = a.pt, g.pad_left = a.pl, g.pad_bottom = a.pb, g.pad_right = a.pr;
  g.group = a.group, g.out_h = y[2], g.out_w = y[3];
  return g;
}

}  // namespace

Status DeviceExecutor::Impl::prepare_gemms() {
  const StreamHandle s = stream.handle();
  for (const FusedGemm& g : plan.gemms) {
    PreparedGemm p;
    p.gemm = &g;
    p.format = g.format;
    const ir::Node& L = *g.layer;
    const bool quantized = g.act_quantize != nullptr;
    const ir::Tensor* w = g.weight != nullptr ? g.weight->initializer() : nullptr;
    const bool conv = L.op_type() == "Conv";
    if (w == nullptr) {  // batched product of two activations: nothing to lay out
      prepared[&L] = std::move(p);
      continue;
    }
    p.weight_dims = w->dims();
    // Output channels and reduction length.
    const auto tb = L.attr_int("transB", 0);
    const bool trans_b = L.op_type() == "Gemm" && tb.ok() && *tb != 0;
    if (conv) {
      const auto grp = L.attr_int("group", 1);
      const int64_t group = grp.ok() ? *grp : 1;
      p.n = w->dims()[0] / group;
      p.k = w->numel() / w->dims()[0];
    } else if (w->rank() == 2) {
      p.n = trans_b ? w->dims()[0] : w->dims()[1];
      p.k = trans_b ? w->dims()[1] : w->dims()[0];
    }
    if (quantized) {
      MIXQ_ASSIGN_OR_RETURN(auto sa,
                            floats_of(*g.act_scale->initializer(), "the activation scale"));
      p.act_scale = sa[0];
      MIXQ_ASSIGN_OR_RETURN(p.act_scale_dev, upload_bytes(&p.act_scale, sizeof(float), s));
      const float one = 1.0f;
      MIXQ_ASSIGN_OR_RETURN(p.one_dev, upload_bytes(&one, sizeof(float), s));
      const int64_t out_channels = conv ? w->dims()[0] : p.n;
      MIXQ_ASSIGN_OR_RETURN(auto sw, floats_of(*g.weight_scale->initializer(), "the weight scale"));
      const auto cs = per_channel(sw, out_channels);
      MIXQ_ASSIGN_OR_RETURN(p.channel_scale, upload_bytes(cs.data(), cs.size() * sizeof(float), s));
      // cuBLASLt's low-precision layouts: FP8 wants 16-byte aligned leading dims, INT8 4.
      const int64_t align = g.format == GemmFormat::kFp8 ? 16 : 4;
      if (g.format != GemmFormat::kFp16 && (p.k % align != 0 || p.n % align != 0)) {
        p.emulate = true;
        notes.push_back(L.describe() + ": " + gemm_format_name(g.format) +
                        " GEMM of k=" + std::to_string(p.k) + ", n=" + std::to_string(p.n) +
                        " is not a multiple of " + std::to_string(align) +
                        " as cuBLASLt requires; it runs as Q/DQ emulation with an FP32 GEMM");
      }
    }
    // The weight as the kernel reads it: [n, k] row-major (Conv: already [out_c, k]).
    const size_t eb = elem_bytes(w->dtype());
    std::vector<std::byte> laid;
    if (quantized && g.format == GemmFormat::kFp16) {
      // FP8 layer below sm_89: dequantized to FP16 once.
      MIXQ_ASSIGN_OR_RETURN(auto sw, floats_of(*g.weight_scale->initializer(), "the weight scale"));
      const auto cs = per_channel(sw, conv ? w->dims()[0] : p.n);
      std::vector<float> deq(static_cast<size_t>(w->numel()));
      float8e4m3fn_to_floats(reinterpret_cast<const uint8_t*>(w->raw_data()), deq.data(),
                             deq.size());
      const int64_t axis_n = conv || trans_b ? 0 : 1;
      for (int64_t i = 0; i < w->numel(); ++i) {
        const int64_t ch = axis_n == 0 ? i / (w->numel() / w->dims()[0]) : i % w->dims()[1];
        deq[static_cast<size_t>(i)] *= cs[static_cast<size_t>(ch)];
      }
      std::vector<uint16_t> half(deq.size());
      for (size_t i = 0; i < deq.size(); ++i) half[i] = float_to_float16(deq[i]);
      const auto* bytes = reinterpret_cast<const std::byte*>(half.data());
      laid = conv || trans_b ? std::vector<std::byte>(bytes, bytes + half.size() * 2)
                             : transpose_bytes(bytes, p.k, p.n, 2);
    } else if (!p.emulate) {
      laid = conv || trans_b || w->rank() != 2
                 ? std::vector<std::byte>(w->raw_data(), w->raw_data() + w->nbytes())
                 : transpose_bytes(w->raw_data(), p.k, p.n, eb);
    }
    if (!laid.empty()) {
      MIXQ_ASSIGN_OR_RETURN(p.weight, upload_bytes(laid.data(), laid.size(), s));
      stats.weight_bytes += static_cast<int64_t>(laid.size());
    }
    if (g.bias != nullptr) {
      const ir::Tensor* b = g.bias->initializer();
      const int64_t out_channels = conv ? w->dims()[0] : p.n;
      if (b == nullptr || (b->numel() != out_channels && b->numel() != 1)) {
        if (!p.emulate) {
          p.emulate = true;
          notes.push_back(L.describe() +
                          ": a bias that is not a constant of one value per "
                          "output channel; it runs as a float layer");
        }
      } else {
        MIXQ_ASSIGN_OR_RETURN(auto bv, floats_of(*b, "the bias"));
        const auto bias = per_channel(bv, out_channels);
        MIXQ_ASSIGN_OR_RETURN(p.bias, upload_bytes(bias.data(), bias.size() * sizeof(float), s));
        p.has_bias = true;
      }
    }
    prepared[&L] = std::move(p);
  }
  return stream.synchronize();
}

Status DeviceExecutor::Impl::run_fused_gemm(const FusedGemm& g) {
  const ir::Node& L = *g.layer;
  PreparedGemm& p = prepared.at(&L);
  const StreamHandle s = stream.handle();
  const bool quantized = g.act_quantize != nullptr;
  if (p.emulate || (!quantized && g.weight != nullptr && g.weight->initializer() == nullptr) ||
      p.weight.data() == nullptr) {
    if (quantized) {
      // The Q/DQ nodes the fusion absorbed run as kernels, then the float layer.
      MIXQ_RETURN_IF_ERROR(run_device_step(*g.act_quantize));
      MIXQ_RETURN_IF_ERROR(run_device_step(*g.act_dequantize));
      MIXQ_RETURN_IF_ERROR(run_on_cpu(*g.weight_dequantize, false));
    }
    return run_float_layer(L);
  }
  MIXQ_RETURN_IF_ERROR(ensure_device(g.activation));
  const DeviceTensor x = values[g.activation].dev;
  // The layer's output type. A quantized layer's inputs are the absorbed DQ nodes' outputs,
  // which never exist: their types are the activation's and the dequantized weight's.
  std::vector<exec::NodeOutputType> types;
  if (quantized) {
    std::vector<exec::NodeInput> in(L.inputs().size());
    in[0] = {true, x.dtype, x.dims, nullptr};
    in[1] = {true, DType::kFloat32, p.weight_dims, nullptr};
    for (size_t i = 2; i < L.inputs().size(); ++i) {
      const ir::Value* v = L.input(i);
      if (v == nullptr || v->name().empty()) continue;
      MIXQ_ASSIGN_OR_RETURN(Slot * sl, slot(v));
      in[i] = {true, sl->host ? sl->host->dtype() : sl->dev.dtype,
               sl->host ? sl->host->dims() : sl->dev.dims, sl->host ? &*sl->host : nullptr};
    }
    MIXQ_ASSIGN_OR_RETURN(types, exec::infer_node_outputs(L, model.opset_for(L), in));
  } else {
    MIXQ_ASSIGN_OR_RETURN(types, output_types(L));
  }
  MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, new_output(L, 0, types[0].dtype, types[0].dims));
  const float* bias = p.has_bias ? static_cast<const float*>(p.bias.data()) : nullptr;
  const float* cs = static_cast<const float*>(p.channel_scale.data());

  // The activation in the GEMM's input format: quantized codes, or FP16 for the FP8 fallback.
  DeviceTensor a = x;
  std::shared_ptr<Arena::Block> a_block;
  if (quantized) {
    const DType qt = p.format == GemmFormat::kInt8  ? DType::kInt8
                     : p.format == GemmFormat::kFp8 ? DType::kFloat8E4M3FN
                                                    : DType::kFloat16;
    MIXQ_ASSIGN_OR_RETURN(a_block, scratch(static_cast<size_t>(x.numel()) * elem_bytes(qt)));
    a = {a_block->data(), qt, x.dims};
    if (qt == DType::kFloat16) {
      MIXQ_RETURN_IF_ERROR(cast(x, a, s));
    } else {
      const DeviceTensor scale{p.act_scale_dev.data(), DType::kFloat32, {}};
      MIXQ_RETURN_IF_ERROR(quantize_linear(x, scale, nullptr, 0, a, s));
    }
  }

  const auto gemm_rows = [&](const void* in, void* out, int64_t m, const void* wt, const float* b,
                             const float* chs) -> Status {
    GemmArgs args{m, p.n, p.k, in, wt, out, b};
    switch (p.format) {
      case GemmFormat::kInt8:
        return gemm_int8(*gemm, args, p.act_scale, chs, y.dtype);
      case GemmFormat::kFp8:
        return gemm_fp8(*gemm, args, static_cast<const float*>(p.act_scale_dev.data()),
                        static_cast<const float*>(p.one_dev.data()), chs, y.dtype);
      case GemmFormat::kFp16:
        return gemm_f16(*gemm, args, y.dtype);
      case GemmFormat::kFp32:
        return gemm_f32(*gemm, args);
    }
    return internal_error("unknown GEMM format");
  };

  if (L.op_type() == "Conv") {
    const auto& wd = p.weight_dims;
    MIXQ_ASSIGN_OR_RETURN(auto attrs, conv_attrs(L, x.dims, wd, y.dims));
    const Conv2dGeometry geo = geometry(x.dims, wd, y.dims, attrs);
    if (!quantized) {
      ConvArgs c{geo.n,        geo.c,          geo.h,         geo.w,          geo.out_c,
                 geo.kernel_h, geo.kernel_w,   geo.stride_h,  geo.stride_w,   geo.pad_top,
                 geo.pad_left, geo.pad_bottom, geo.pad_right, geo.dilation_h, geo.dilation_w,
                 geo.group,    geo.out_h,      geo.out_w,     x.data,         p.weight.data(),
                 bias,         y.data,         x.dtype};
      const Status st = conv2d_cudnn(*gemm, c);
      if (st.code() != StatusCode::kUnsupported) return st;
      // cuDNN refused (asymmetric padding, ...): im2col + GEMM below.
    }
    const int64_t m = geo.n * geo.out_h * geo.out_w;
    MIXQ_ASSIGN_OR_RETURN(auto cols, scratch(static_cast<size_t>(m * p.k) * elem_bytes(a.dtype)));
    MIXQ_ASSIGN_OR_RETURN(auto rows, scratch(static_cast<size_t>(m * p.n) * elem_bytes(y.dtype)));
    const size_t w_group_bytes =
        static_cast<size_t>(p.n * p.k) * (p.format == GemmFormat::kFp16 ? 2 : elem_bytes(a.dtype));
    for (int64_t grp = 0; grp < geo.group; ++grp) {
      MIXQ_RETURN_IF_ERROR(im2col(a, geo, grp, cols->data(), s));
      const auto* wg = static_cast<const std::byte*>(p.weight.data()) + grp * w_group_bytes;
      MIXQ_RETURN_IF_ERROR(gemm_rows(cols->data(), rows->data(), m, wg,
                                     bias != nullptr ? bias + grp * p.n : nullptr,
                                     quantized ? cs + grp * p.n : nullptr));
      MIXQ_RETURN_IF_ERROR(scatter_gemm_output(rows->data(), geo, grp, y, s));
    }
    return Status::ok_status();
  }

  // MatMul / Gemm: the activation's leading dims flatten into M.
  const int64_t m = p.k > 0 ? x.numel() / p.k : 0;
  if (p.weight_dims.size() != 2) {
    return unsupported(L.describe(), ": a ", p.weight_dims.size(),
                       "-D weight has no fused GEMM on the device");
  }
  const Status st = gemm_rows(a.data, y.data, m, p.weight.data(), bias, quantized ? cs : nullptr);
  if (st.code() == StatusCode::kUnsupported && quantized) {
    // cuBLASLt refused this shape at run time: emulate from now on, and say so.
    p.emulate = true;
    notes.push_back(L.describe() + ": " + st.message() + "; it runs as Q/DQ emulation");
    values.erase(L.output(0));
    return run_fused_gemm(g);
  }
  return st;
}

// An unfused MatMul, Gemm or Conv on float inputs: FP32/FP16 GEMMs on the device. Products of
// two activations are batched over the leading dims (equal on both sides, or 2-D B).
Status DeviceExecutor::Impl::run_float_layer(const ir::Node& n) {
  const StreamHandle s = stream.handle();
  MIXQ_ASSIGN_OR_RETURN(auto types, output_types(n));
  MIXQ_ASSIGN_OR_RETURN(const DeviceTensor a, device_input(n, 0));
  MIXQ_ASSIGN_OR_RETURN(const DeviceTensor b, device_input(n, 1));
  if (a.dtype != b.dtype || (a.dtype != DType::kFloat32 && a.dtype != DType::kFloat16)) {
    return unsupported(n.describe(), ": ", dtype_name(a.dtype), " x ", dtype_name(b.dtype),
                       " has no device GEMM");
  }
  std::optional<DeviceTensor> bias;
  if ((n.op_type() == "Conv" || n.op_type() == "Gemm") && n.input(2) != nullptr &&
      !n.input(2)->name().empty()) {
    MIXQ_ASSIGN_OR_RETURN(bias, device_input(n, 2));
    if (bias->dtype != DType::kFloat32) {
      return unsupported(n.describe(), ": a ", dtype_name(bias->dtype),
                         " bias has no unfused device path");
    }
  }
  if (n.op_type() == "Conv") {
    if (a.dims.size() != 4) return unsupported(n.describe(), ": only 2-D Conv runs on the device");
    if (bias && bias->numel() != b.dims[0]) {
      return unsupported(n.describe(), ": a bias that is not one value per output channel");
    }
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, new_output(n, 0, types[0].dtype, types[0].dims));
    MIXQ_ASSIGN_OR_RETURN(auto attrs, conv_attrs(n, a.dims, b.dims, y.dims));
    const Conv2dGeometry geo = geometry(a.dims, b.dims, y.dims, attrs);
    ConvArgs c{
        geo.n,         geo.c,          geo.h,
        geo.w,         geo.out_c,      geo.kernel_h,
        geo.kernel_w,  geo.stride_h,   geo.stride_w,
        geo.pad_top,   geo.pad_left,   geo.pad_bottom,
        geo.pad_right, geo.dilation_h, geo.dilation_w,
        geo.group,     geo.out_h,      geo.out_w,
        a.data,        b.data,         bias ? static_cast<const float*>(bias->data) : nullptr,
        y.data,        a.dtype};
    return conv2d_cudnn(*gemm, c);
  }
  if (n.op_type() == "Gemm") {
    const auto ta = n.attr_int("transA", 0), tb = n.attr_int("transB", 0);
    const auto alpha = n.attr_float("alpha", 1.0f), beta = n.attr_float("beta", 1.0f);
    if (!ta.ok() || *ta != 0 || !alpha.ok() || *alpha != 1.0f || !beta.ok() || *beta != 1.0f ||
        a.dims.size() != 2 || b.dims.size() != 2) {
      return unsupported(n.describe(), ": Gemm with transA, alpha or beta has no device path");
    }
    const bool trans_b = tb.ok() && *tb != 0;
    const int64_t M = a.dims[0], K = a.dims[1], N = trans_b ? b.dims[0] : b.dims[1];
    if (bias && bias->numel() != N) {
      return unsupported(n.describe(), ": a bias that is not one value per output column");
    }
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, new_output(n, 0, types[0].dtype, types[0].dims));
    DeviceTensor bt = b;
    std::shared_ptr<Arena::Block> bt_block;
    if (!trans_b) {
      MIXQ_ASSIGN_OR_RETURN(bt_block,
                            scratch(static_cast<size_t>(b.numel()) * elem_bytes(b.dtype)));
      bt = {bt_block->data(), b.dtype, {N, K}};
      MIXQ_RETURN_IF_ERROR(transpose(b, {1, 0}, bt, s));
    }
    GemmArgs args{
        M, N, K, a.data, bt.data, y.data, bias ? static_cast<const float*>(bias->data) : nullptr};
    return a.dtype == DType::kFloat16 ? gemm_f16(*gemm, args, y.dtype) : gemm_f32(*gemm, args);
  }
  if (n.op_type() != "MatMul" || a.dims.size() < 2 || b.dims.size() < 2) {
    return unsupported(n.describe(), ": only MatMul of rank >= 2 runs unfused on the device");
  }
  MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, new_output(n, 0, types[0].dtype, types[0].dims));
  const int64_t M = a.dims[a.dims.size() - 2], K = a.dims.back(), N = b.dims.back();
  const int64_t batch = a.numel() / (M * K);
  const int64_t b_batch = b.numel() / (K * N);
  if (b_batch != 1 && b_batch != batch) {
    return unsupported(n.describe(), ": broadcast batch dims have no device kernel");
  }
  // B^T per batch: [.., N, K], as the GEMMs take their second operand.
  std::vector<int64_t> perm(b.dims.size());
  for (size_t i = 0; i < perm.size(); ++i) perm[i] = static_cast<int64_t>(i);
  std::swap(perm[perm.size() - 1], perm[perm.size() - 2]);
  std::vector<int64_t> bt_dims = b.dims;
  std::swap(bt_dims[bt_dims.size() - 1], bt_dims[bt_dims.size() - 2]);
  MIXQ_ASSIGN_OR_RETURN(auto bt_block,
                        scratch(static_cast<size_t>(b.numel()) * elem_bytes(b.dtype)));
  const DeviceTensor bt{bt_block->data(), b.dtype, bt_dims};
  MIXQ_RETURN_IF_ERROR(transpose(b, perm, bt, s));
  if (b_batch == 1) {
    // One B for every matrix of A: a single GEMM over the stacked rows.
    GemmArgs args{batch * M, N, K, a.data, bt.data, y.data, nullptr};
    return a.dtype == DType::kFloat16 ? gemm_f16(*gemm, args, y.dtype) : gemm_f32(*gemm, args);
  }
  // One strided-batched cuBLASLt call for all (sequence, head) products.
  GemmArgs args{M, N, K, a.data, bt.data, y.data, nullptr};
  return gemm_batched(*gemm, args, batch, M * K, N * K, M * N, a.dtype, y.dtype);
}

}  // namespace mixq::gpu
