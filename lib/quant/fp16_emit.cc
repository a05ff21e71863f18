#include "mixq/quant/fp16_emit.h"

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "mixq/core/float_bits.h"
#include "mixq/quant/layer_selection.h"

namespace mixq::quant {

const std::set<std::string>& default_fp16_keep_fp32() {
  static const std::set<std::string> keep = {"Softmax",
                                             "LogSoftmax",
                                             "LayerNormalization",
                                             "GroupNormalization",
                                             "ReduceMean",
                                             "ReduceSum",
                                             "ReduceL2",
                                             "ReduceLogSumExp",
                                             "ReduceProd",
                                             "ReduceSumSquare",
                                             "Exp",
                                             "Pow",
                                             "Log",
                                             "Sqrt",
                                             "Reciprocal",
                                             "BatchNormalization",
                                             "InstanceNormalization"};
  return keep;
}

namespace {

constexpr double kFp16Max = 65504.0;
constexpr int64_t kCastFloat16 = 10, kCastFloat = 1;

// Ops that compute the same thing in FLOAT16 (elementwise, activations, data movement, pooling).
bool growable(const std::string& op) {
  static const std::set<std::string> ops = {"Add",
                                            "Sub",
                                            "Mul",
                                            "Div",
                                            "Relu",
                                            "LeakyRelu",
                                            "Sigmoid",
                                            "Tanh",
                                            "Erf",
                                            "Gelu",
                                            "HardSigmoid",
                                            "HardSwish",
                                            "Clip",
                                            "Neg",
                                            "Abs",
                                            "Max",
                                            "Min",
                                            "Sum",
                                            "Reshape",
                                            "Transpose",
                                            "Flatten",
                                            "Squeeze",
                                            "Unsqueeze",
                                            "Identity",
                                            "Concat",
                                            "Split",
                                            "Slice",
                                            "Gather",
                                            "MaxPool",
                                            "AveragePool",
                                            "GlobalAveragePool",
                                            "Pad",
                                            "Where",
                                            "Expand",
                                            "Tile"};
  return ops.count(op) != 0;
}

bool is_float32(const ir::Value* v) {
  return v != nullptr && v->type().is_tensor() && v->type().dtype == DType::kFloat32;
}

ir::Tensor to_float16(const ir::Tensor& t) {
  auto h = ir::Tensor::zeros(DType::kFloat16, t.dims());
  auto* out = h->mutable_data<uint16_t>();
  const float* in = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) out[i] = float_to_float16(in[i]);
  return std::move(*h);
}

}  // namespace

Status emit_fp16(ir::Model& model, const std::vector<ir::Node*>& layers, const Fp16Options& options,
                 std::vector<std::string>& log, std::vector<const ir::Node*>* region_out) {
  ir::Graph& g = model.graph();
  // Every float value of the node within FP16's observed range?
  const auto in_range = [&](const ir::Node& n) {
    if (!options.absmax) return true;
    for (const auto* list : {&n.inputs(), &n.outputs()}) {
      for (const ir::Value* v : *list) {
        if (!is_float32(v) || model.is_constant_initializer(v)) continue;
        const auto a = options.absmax(v->name());
        if (a && *a > kFp16Max) return false;
      }
    }
    return true;
  };
  std::set<ir::Node*> region;
  for (ir::Node* n : layers) {
    if (!in_range(*n)) {
      log.push_back("kept " + n->describe() + " in FP32: observed values beyond FP16's range");
      continue;
    }
    region.insert(n);
  }
  // Grow through float edges to allowed neighbours, to a fixpoint.
  for (bool grew = true; grew;) {
    grew = false;
    std::vector<ir::Node*> frontier(region.begin(), region.end());
    for (ir::Node* n : frontier) {
      std::vector<ir::Node*> near;
      for (ir::Value* v : n->inputs()) {
        if (is_float32(v) && v->producer() != nullptr) near.push_back(v->producer());
      }
      for (ir::Value* v : n->outputs()) {
        if (!is_float32(v)) continue;
        for (const ir::Use& u : v->uses()) near.push_back(u.node);
      }
      for (ir::Node* m : near) {
        if (region.count(m) || !m->is_onnx_domain() || !growable(m->op_type()) ||
            options.keep_fp32.count(m->op_type()) || !in_range(*m)) {
          continue;
        }
        region.insert(m);
        grew = true;
      }
    }
  }
  // Region outputs become FLOAT16 values; the original values, where still read outside or
  // declared as graph outputs, are produced by a Cast back to FLOAT.
  std::map<const ir::Value*, ir::Value*> half;  // float32 value -> its FLOAT16 version
  std::vector<ir::Node*> ordered;
  for (const auto& n : g.nodes()) {
    if (region.count(n.get())) ordered.push_back(n.get());
  }
  for (ir::Node* n : ordered) {
    for (size_t i = 0; i < n->outputs().size(); ++i) {
      ir::Value* v = n->output(i);
      if (!is_float32(v)) continue;
      ir::Value* h = g.create_value(g.unique_name(v->name() + "_fp16"));
      h->set_type(ir::ValueType::tensor(DType::kFloat16, v->type().shape));
      MIXQ_RETURN_IF_ERROR(n->replace_output(i, h));
      half[v] = h;
    }
  }
  std::map<const ir::Value*, ir::Value*> converted;  // initializer -> FLOAT16 initializer
  int casts_in = 0, casts_out = 0, weights = 0;
  for (ir::Node* n : ordered) {
    for (size_t i = 0; i < n->inputs().size(); ++i) {
      ir::Value* v = n->input(i);
      if (!is_float32(v)) continue;
      auto it = half.find(v);
      if (it == half.end() && model.is_constant_initializer(v)) {
        ir::Value* h = g.create_value(g.unique_name(v->name() + "_fp16"));
        h->set_type(ir::ValueType::tensor(DType::kFloat16, v->type().shape));
        g.add_initializer(h, to_float16(*v->initializer()));
        it = half.emplace(v, h).first;
        converted[v] = h;
        ++weights;
      } else if (it == half.end()) {
        // From outside the region (a graph input, an FP32 node, a Constant node): one Cast.
        ir::Value* h = g.create_value(g.unique_name(v->name() + "_fp16"));
        h->set_type(ir::ValueType::tensor(DType::kFloat16, v->type().shape));
        ir::Node* c = g.add_node("Cast", "", h->name());
        c->add_input(v);
        (void)c->add_output(h);
        c->add_attribute("to", ir::AttrType::kInt).i = kCastFloat16;
        it = half.emplace(v, h).first;
        ++casts_in;
      }
      n->set_input(i, it->second);
    }
  }
  for (const auto& [v32, h] : half) {
    auto* v = const_cast<ir::Value*>(v32);
    if (converted.count(v32)) {
      if (v->uses().empty() && !g.is_output(v) && !g.is_input(v)) g.remove_initializer(v);
      continue;
    }
    if (v->producer() != nullptr || v->initializer() != nullptr || g.is_input(v)) continue;
    if (v->uses().empty() && !g.is_output(v)) continue;  // read only inside the region
    ir::Node* c = g.add_node("Cast", "", v->name() + "_cast");
    c->add_input(h);
    MIXQ_RETURN_IF_ERROR(c->add_output(v));
    c->add_attribute("to", ir::AttrType::kInt).i = kCastFloat;
    ++casts_out;
  }
  std::map<std::string, int> by_op;
  for (ir::Node* n : ordered) ++by_op[n->op_type()];
  std::string ops;
  for (const auto& [op, count] : by_op)
    ops += (ops.empty() ? "" : ", ") + op + " " + std::to_string(count);
  log.push_back("FP16 region: " + std::to_string(ordered.size()) + " nodes (" + ops + "), " +
                std::to_string(weights) + " initializers stored as FLOAT16, " +
                std::to_string(casts_in) + " Cast to FLOAT16, " + std::to_string(casts_out) +
                " Cast back to FLOAT");
  if (region_out != nullptr) region_out->assign(ordered.begin(), ordered.end());
  return Status::ok_status();
}

}  // namespace mixq::quant
