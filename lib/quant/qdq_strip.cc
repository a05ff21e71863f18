#include "mixq/quant/qdq_strip.h"

#include <set>
#include <string>
#include <vector>

#include "mixq/core/float_bits.h"
#include "mixq/quant/layer_selection.h"

namespace mixq::quant {

namespace {

bool is_op(const ir::Node* n, const char* op) {
  return n != nullptr && n->is_onnx_domain() && n->op_type() == op;
}

// Code i of a storage tensor as a float.
Expected<std::vector<float>> decode(const ir::Node& node, const ir::Tensor& t) {
  const auto n = static_cast<size_t>(t.numel());
  std::vector<float> v(n);
  const auto* b = t.data<uint8_t>();
  switch (t.dtype()) {
    case DType::kInt8:
      for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(static_cast<int8_t>(b[i]));
      break;
    case DType::kUint8:
      for (size_t i = 0; i < n; ++i) v[i] = static_cast<float>(b[i]);
      break;
    case DType::kFloat8E4M3FN:
      for (size_t i = 0; i < n; ++i) v[i] = float8e4m3fn_to_float(b[i]);
      break;
    case DType::kFloat8E5M2:
      for (size_t i = 0; i < n; ++i) v[i] = float8e5m2_to_float(b[i]);
      break;
    default:
      return unsupported(node.describe(), ": cannot fold ", dtype_name(t.dtype()),
                         " (INT8, UINT8, FLOAT8E4M3FN and FLOAT8E5M2 only)");
  }
  return v;
}

Expected<std::vector<float>> as_floats(const ir::Node& node, const ir::Tensor& t) {
  const auto n = static_cast<size_t>(t.numel());
  std::vector<float> v(n);
  if (t.dtype() == DType::kFloat32) {
    for (size_t i = 0; i < n; ++i) v[i] = t.data<float>()[i];
  } else if (t.dtype() == DType::kFloat16) {
    for (size_t i = 0; i < n; ++i) v[i] = float16_to_float(t.data<uint16_t>()[i]);
  } else {
    return unsupported(node.describe(), ": scale of type ", dtype_name(t.dtype()),
                       " cannot be folded");
  }
  return v;
}

// Makes every reader of `from` read `to` instead.
void redirect(ir::Value* from, ir::Value* to) {
  const std::vector<ir::Use> uses = from->uses();
  for (const ir::Use& u : uses) u.node->set_input(static_cast<size_t>(u.input_index), to);
}

Status fold_weight(ir::Model& model, ir::Node& dq, std::vector<std::string>& log) {
  ir::Graph& g = model.graph();
  const ir::Tensor* q = constant_tensor(model, dq.input(0));
  const ir::Tensor* s = constant_tensor(model, dq.input(1));
  const ir::Tensor* z = dq.input(2) ? constant_tensor(model, dq.input(2)) : nullptr;
  if (s == nullptr || (dq.input(2) != nullptr && z == nullptr)) {
    return unsupported(dq.describe(), ": scale or zero point is not a constant");
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t block, dq.attr_int("block_size", 0));
  if (block != 0) return unsupported(dq.describe(), ": blocked quantization cannot be folded");
  MIXQ_ASSIGN_OR_RETURN(auto codes, decode(dq, *q));
  MIXQ_ASSIGN_OR_RETURN(auto scale, as_floats(dq, *s));
  std::vector<float> zero(scale.size(), 0.0f);
  if (z != nullptr) {
    MIXQ_ASSIGN_OR_RETURN(zero, decode(dq, *z));
  }
  const auto rank = static_cast<int64_t>(q->rank());
  int64_t outer = 1, channels = 1, inner = 1;
  if (scale.size() > 1) {
    MIXQ_ASSIGN_OR_RETURN(int64_t axis, dq.attr_int("axis", 1));
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank || q->dims()[size_t(axis)] != int64_t(scale.size())) {
      return bad_input(dq.describe(), ": ", scale.size(), " scales do not match axis ", axis,
                       " of the quantized tensor");
    }
    for (int64_t d = 0; d < axis; ++d) outer *= q->dims()[size_t(d)];
    channels = q->dims()[size_t(axis)];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= q->dims()[size_t(d)];
  } else {
    inner = q->numel();
  }
  if (zero.size() != scale.size()) {
    return bad_input(dq.describe(), ": zero point and scale have different sizes");
  }
  std::vector<float> out(codes.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t c = 0; c < channels; ++c) {
      const size_t base = size_t((o * channels + c) * inner);
      for (int64_t i = 0; i < inner; ++i) {
        out[base + size_t(i)] = (codes[base + size_t(i)] - zero[size_t(c)]) * scale[size_t(c)];
      }
    }
  }
  std::string base_name = dq.input(0)->name();
  const std::string suffix = "_quantized";
  if (base_name.size() > suffix.size() &&
      base_name.compare(base_name.size() - suffix.size(), suffix.size(), suffix) == 0) {
    base_name.resize(base_name.size() - suffix.size());
  }
  ir::Value* w = g.create_value(g.unique_name(base_name));
  ir::Shape shape;
  for (int64_t d : q->dims()) shape.push_back(ir::Dim::known(d));
  w->set_type(ir::ValueType::tensor(DType::kFloat32, shape));
  g.add_initializer(w, ir::Tensor::from_floats(q->dims(), out));
  redirect(dq.output(0), w);
  log.push_back("folded " + dq.describe() + " into float32 weight " + w->name());
  return Status::ok_status();
}

}  // namespace

Status strip_qdq(ir::Model& model, std::vector<std::string>& log) {
  ir::Graph& g = model.graph();
  static const std::set<std::string> kInteger = {"QLinearConv", "QLinearMatMul", "MatMulInteger",
                                                 "ConvInteger", "DynamicQuantizeLinear"};
  std::vector<ir::Node*> qs, dqs;
  for (const auto& n : g.nodes()) {
    if (!n->is_onnx_domain()) continue;
    if (kInteger.count(n->op_type())) {
      return unsupported(n->describe(),
                         ": integer-arithmetic ops cannot be requantized (QDQ "
                         "models only)");
    }
    if (n->op_type() == "QuantizeLinear") qs.push_back(n.get());
    if (n->op_type() == "DequantizeLinear") dqs.push_back(n.get());
  }
  for (ir::Node* dq : dqs) {
    if (g.is_output(dq->output(0))) {
      return unsupported(dq->describe(), ": its output is a graph output");
    }
    ir::Value* x = dq->input(0);
    if (x != nullptr && constant_tensor(model, x) != nullptr) {
      MIXQ_RETURN_IF_ERROR(fold_weight(model, *dq, log));
    } else if (x == nullptr || !is_op(x->producer(), "QuantizeLinear")) {
      return unsupported(dq->describe(), ": dequantizes a tensor no QuantizeLinear produced");
    }
  }
  for (ir::Node* q : qs) {
    ir::Value* y = q->output(0);
    if (g.is_output(y)) return unsupported(q->describe(), ": its output is a graph output");
    const std::vector<ir::Use> uses = y->uses();
    for (const ir::Use& u : uses) {
      if (!is_op(u.node, "DequantizeLinear")) {
        return unsupported(q->describe(), ": feeds ", u.node->describe(),
                           ", not a DequantizeLinear");
      }
      redirect(u.node->output(0), q->input(0));
    }
    log.push_back("removed " + q->describe() + " and its DequantizeLinear on " +
                  (q->input(0) ? q->input(0)->name() : std::string("?")));
  }
  // Every Q/DQ node is now unread: delete them (DQs first, which frees the Qs' outputs), then
  // the initializers nothing reads any more.
  for (ir::Node* dq : dqs) MIXQ_RETURN_IF_ERROR(g.remove_node(dq));
  for (ir::Node* q : qs) MIXQ_RETURN_IF_ERROR(g.remove_node(q));
  const std::vector<ir::Value*> inits = g.initializers();
  for (ir::Value* v : inits) {
    if (v->uses().empty() && !g.is_output(v) && !g.is_input(v)) g.remove_initializer(v);
  }
  return Status::ok_status();
}

}  // namespace mixq::quant
