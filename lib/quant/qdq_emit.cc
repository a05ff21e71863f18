#include "mixq/quant/qdq_emit.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "mixq/core/float8.h"
#include "mixq/core/float_bits.h"
#include "mixq/quant/layer_selection.h"

namespace mixq::quant {

const char* precision_name(Precision p) {
  switch (p) {
    case Precision::kFp32:
      return "fp32";
    case Precision::kFp16:
      return "fp16";
    case Precision::kInt8:
      return "int8";
    case Precision::kFp8:
      return "fp8";
  }
  return "?";
}

std::optional<Precision> parse_precision(const std::string& name) {
  for (Precision p : {Precision::kFp32, Precision::kFp16, Precision::kInt8, Precision::kFp8}) {
    if (name == precision_name(p)) return p;
  }
  return std::nullopt;
}

double precision_qmax(Precision p) { return p == Precision::kFp8 ? 448.0 : 127.0; }

int64_t weight_channel_axis(const ir::Node& node, int64_t rank) {
  if (node.op_type() == "ConvTranspose") return 1;
  if (node.op_type() == "MatMul") return rank - 1;
  if (node.op_type() == "Gemm") {
    const auto tb = node.attr_int("transB", 0);
    return tb.ok() && *tb != 0 ? 0 : 1;
  }
  return 0;
}

namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.6g", v);
  return buf;
}

DType storage_type(Precision p) {
  return p == Precision::kFp8 ? DType::kFloat8E4M3FN : DType::kInt8;
}

// A new initializer named after `base` (made unique).
ir::Value* add_constant(ir::Graph& g, const std::string& base, ir::Tensor t) {
  ir::Value* v = g.create_value(g.unique_name(base));
  ir::Shape shape;
  for (int64_t d : t.dims()) shape.push_back(ir::Dim::known(d));
  v->set_type(ir::ValueType::tensor(t.dtype(), shape));
  g.add_initializer(v, std::move(t));
  return v;
}

// A zero of the storage type, shaped `dims`.
Expected<ir::Tensor> zero_point(Precision p, const std::vector<int64_t>& dims) {
  return ir::Tensor::zeros(storage_type(p), dims);
}

ir::Node* add_qdq_node(ir::Graph& g, const std::string& op, const std::string& base,
                       const std::vector<ir::Value*>& inputs, ir::Value* out) {
  ir::Node* n = g.add_node(op, "", base);
  for (ir::Value* v : inputs) n->add_input(v);
  (void)n->add_output(out);  // `out` is new: it cannot already have a producer
  return n;
}

// The weight's float values (float32 or float16), or an error naming the layer. Float32 is
// read in place (for external data: the mapped file, not a copy of it); float16 is widened into
// `scratch`.
Expected<const float*> weight_values(const ir::Node& node, const ir::Tensor& w,
                                     std::vector<float>& scratch) {
  const auto n = static_cast<size_t>(w.numel());
  if (w.dtype() == DType::kFloat32) return w.data<float>();
  if (w.dtype() == DType::kFloat16) {
    scratch.resize(n);
    for (size_t i = 0; i < n; ++i) scratch[i] = float16_to_float(w.data<uint16_t>()[i]);
    return static_cast<const float*>(scratch.data());
  } else {
    return unsupported(node.describe(), ": weight of type ", dtype_name(w.dtype()),
                       " cannot be quantized (float32 or float16 only)");
  }
}

// Replaces the constant weight of `t` by quantized storage + DequantizeLinear.
Status quantize_weight(ir::Model& model, const LayerTarget& t, std::vector<std::string>& log) {
  ir::Graph& g = model.graph();
  ir::Node& node = *t.node;
  ir::Value* wv = node.input(t.weight_input);
  const ir::Tensor* w = constant_tensor(model, wv);
  if (w == nullptr) return unsupported(node.describe(), ": weight is not a constant");
  std::vector<float> scratch;
  MIXQ_ASSIGN_OR_RETURN(const float* values, weight_values(node, *w, scratch));
  const auto rank = static_cast<int64_t>(w->rank());
  const double qmax = precision_qmax(t.precision);
  // Per output channel when the weight has a channel axis, per tensor for a vector weight.
  const int64_t axis = rank >= 2 ? weight_channel_axis(node, rank) : -1;
  int64_t outer = 1, channels = 1, inner = 1;
  if (axis >= 0) {
    for (int64_t d = 0; d < axis; ++d) outer *= w->dims()[size_t(d)];
    channels = w->dims()[size_t(axis)];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= w->dims()[size_t(d)];
  } else {
    inner = w->numel();
  }
  std::vector<float> scale(size_t(channels), 0.0f);
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const float* p = values + (o * channels + c) * inner;
      for (int64_t i = 0; i < inner; ++i) {
        if (!std::isfinite(p[i])) {
          return bad_input(node.describe(), ": weight '", wv->name(), "' holds NaN or Inf");
        }
        scale[size_t(c)] = std::max(scale[size_t(c)], std::fabs(p[i]));
      }
    }
  }
  float lo = INFINITY, hi = 0;
  for (float& s : scale) {
    // An all-zero channel quantizes to zeros at any scale; 1 keeps the scale valid.
    s = s == 0 ? 1.0f : static_cast<float>(double(s) / qmax);
    lo = std::min(lo, s);
    hi = std::max(hi, s);
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor q, ir::Tensor::zeros(storage_type(t.precision), w->dims()));
  auto* out = q.mutable_data<uint8_t>();
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const size_t base = size_t((o * channels + c) * inner);
      const double s = scale[size_t(c)];
      for (int64_t i = 0; i < inner; ++i) {
        const double x = double(values[base + size_t(i)]) / s;
        out[base + size_t(i)] =
            t.precision == Precision::kFp8
                ? double_to_float8e4m3fn(x, true)
                : static_cast<uint8_t>(double_to_int8(std::clamp(x, -qmax, qmax)));
      }
    }
  }
  const std::vector<int64_t> sdims =
      axis >= 0 ? std::vector<int64_t>{channels} : std::vector<int64_t>{};
  ir::Value* qv = add_constant(g, wv->name() + "_quantized", std::move(q));
  ir::Value* sv = add_constant(
      g, wv->name() + "_scale",
      axis >= 0 ? ir::Tensor::from_floats(sdims, scale) : ir::Tensor::scalar_float(scale[0]));
  MIXQ_ASSIGN_OR_RETURN(auto zp, zero_point(t.precision, sdims));
  ir::Value* zv = add_constant(g, wv->name() + "_zero_point", std::move(zp));
  ir::Value* dq = g.create_value(g.unique_name(wv->name() + "_dequantized"));
  dq->set_type(ir::ValueType::tensor(DType::kFloat32, wv->type().shape));
  ir::Node* n = add_qdq_node(g, "DequantizeLinear", dq->name(), {qv, sv, zv}, dq);
  if (axis >= 0) n->add_attribute("axis", ir::AttrType::kInt).i = axis;
  node.set_input(t.weight_input, dq);
  // The float weight goes when nothing else reads it (the file really shrinks).
  if (wv->uses().empty() && wv->initializer() != nullptr && !g.is_output(wv) && !g.is_input(wv)) {
    g.remove_initializer(wv);
  }
  log.push_back("inserted DequantizeLinear " + std::string(precision_name(t.precision)) +
                (axis >= 0 ? " per-channel axis=" + std::to_string(axis) : " per-tensor") + " on " +
                wv->name() + " of " + node.describe() + " (" + std::to_string(channels) +
                " scales " + fmt(lo) + ".." + fmt(hi) + ")");
  return Status::ok_status();
}

// Inserts QuantizeLinear -> DequantizeLinear on input `index` of `node` (this edge only).
Status quantize_activation(ir::Model& model, ir::Node& node, size_t index, Precision p,
                           const QdqOptions& options, std::vector<std::string>& log) {
  ir::Graph& g = model.graph();
  ir::Value* x = node.input(index);
  if (x == nullptr) return Status::ok_status();
  const std::optional<double> range =
      options.activation_range ? options.activation_range(x->name(), p) : std::nullopt;
  if (!range) {
    log.push_back("kept " + x->name() + " into " + node.describe() + " float: no calibrated range");
    return Status::ok_status();
  }
  const double r = *range > 0 && std::isfinite(*range) ? *range : precision_qmax(p);
  const float scale = static_cast<float>(r / precision_qmax(p));
  const std::string base = x->name() + "_" + node.name();
  ir::Value* sv = add_constant(g, base + "_scale", ir::Tensor::scalar_float(scale));
  MIXQ_ASSIGN_OR_RETURN(auto zp, zero_point(p, {}));
  ir::Value* zv = add_constant(g, base + "_zero_point", std::move(zp));
  ir::Value* qv = g.create_value(g.unique_name(base + "_quantized"));
  qv->set_type(ir::ValueType::tensor(storage_type(p), x->type().shape));
  ir::Value* dq = g.create_value(g.unique_name(base + "_dequantized"));
  dq->set_type(ir::ValueType::tensor(DType::kFloat32, x->type().shape));
  add_qdq_node(g, "QuantizeLinear", qv->name(), {x, sv, zv}, qv);
  add_qdq_node(g, "DequantizeLinear", dq->name(), {qv, sv, zv}, dq);
  node.set_input(index, dq);
  log.push_back("inserted QuantizeLinear/DequantizeLinear " + std::string(precision_name(p)) +
                " per-tensor on " + x->name() + " into " + node.describe() + " (range " + fmt(r) +
                ", scale " + fmt(scale) + ")");
  return Status::ok_status();
}

}  // namespace

Status emit_qdq(ir::Model& model, const std::vector<LayerTarget>& layers, const QdqOptions& options,
                std::vector<std::string>& log) {
  for (const LayerTarget& t : layers) {
    if (t.precision != Precision::kInt8 && t.precision != Precision::kFp8) continue;
    if (t.batched) {
      if (options.weights_only) continue;  // nothing constant to quantize
      for (size_t i = 0; i < 2; ++i) {
        MIXQ_RETURN_IF_ERROR(quantize_activation(model, *t.node, i, t.precision, options, log));
      }
      continue;
    }
    MIXQ_RETURN_IF_ERROR(quantize_weight(model, t, log));
    if (!options.weights_only) {
      // The activation input: A of MatMul (or B when the weight is A), A of Gemm, X of Conv.
      const size_t act = t.weight_input == 0 ? 1 : 0;
      MIXQ_RETURN_IF_ERROR(quantize_activation(model, *t.node, act, t.precision, options, log));
    }
  }
  return Status::ok_status();
}

}  // namespace mixq::quant
