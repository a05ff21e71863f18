#include "mixq/quant/layer_selection.h"

#include <algorithm>

namespace mixq::quant {

const std::vector<std::string>& default_quantizable_op_types() {
  static const std::vector<std::string> types = {"Conv", "ConvTranspose", "Gemm", "MatMul"};
  return types;
}

const ir::Tensor* constant_tensor(const ir::Model& model, const ir::Value* v) {
  if (v == nullptr) return nullptr;
  if (v->initializer()) return model.is_constant_initializer(v) ? v->initializer() : nullptr;
  const ir::Node* p = v->producer();
  if (p && p->is_onnx_domain() && p->op_type() == "Constant") {
    if (const ir::Attribute* a = p->attr("value"); a && a->type == ir::AttrType::kTensor) {
      return &a->t;
    }
  }
  return nullptr;
}

std::vector<QuantizableLayer> find_quantizable_layers(const ir::Model& model) {
  const auto& types = default_quantizable_op_types();
  std::vector<QuantizableLayer> out;
  for (const auto& node : model.graph().nodes()) {
    if (!node->is_onnx_domain()) continue;
    if (std::find(types.begin(), types.end(), node->op_type()) == types.end()) continue;
    const ir::Value* w = node->input(1);
    const ir::Tensor* t = constant_tensor(model, w);
    if (t == nullptr || !dtype_is_float(t->dtype())) continue;
    QuantizableLayer layer;
    layer.node = node.get();
    layer.op_type = node->op_type();
    layer.weight = w;
    layer.weight_dtype = t->dtype();
    layer.weight_shape = t->dims();
    out.push_back(std::move(layer));
  }
  return out;
}

}  // namespace mixq::quant
