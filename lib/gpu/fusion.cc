#include "mixq/gpu/fusion.h"

#include <algorithm>
#include <map>
#include <set>

#include "mixq/gpu/device_ops.h"
#include "mixq/ir/shape_inference.h"

namespace mixq::gpu {

const char* gemm_format_name(GemmFormat f) {
  switch (f) {
    case GemmFormat::kFp32:
      return "fp32";
    case GemmFormat::kFp16:
      return "fp16";
    case GemmFormat::kInt8:
      return "int8";
    case GemmFormat::kFp8:
      return "fp8";
  }
  return "?";
}

const char* step_kind_name(StepKind k) {
  switch (k) {
    case StepKind::kFusedGemm:
      return "fused-gemm";
    case StepKind::kAbsorbed:
      return "absorbed";
    case StepKind::kDevice:
      return "device";
    case StepKind::kHost:
      return "host";
    case StepKind::kCpuFallback:
      return "cpu-fallback";
  }
  return "?";
}

size_t DevicePlan::count(StepKind k) const {
  return static_cast<size_t>(
      std::count_if(steps.begin(), steps.end(), [&](const Step& s) { return s.kind == k; }));
}

namespace {

bool is_op(const ir::Node* n, const char* op) {
  return n != nullptr && n->is_onnx_domain() && n->op_type() == op;
}

const ir::Tensor* initializer(const ir::Value* v) {
  return v == nullptr ? nullptr : v->initializer();
}

// An optional zero point that is absent, or an initializer of zeros.
bool zero_or_absent(const ir::Value* zp) {
  if (zp == nullptr || zp->name().empty()) return true;
  const ir::Tensor* t = initializer(zp);
  if (t == nullptr) return false;
  const auto* bytes = t->raw_data();
  for (size_t i = 0; i < t->nbytes(); ++i) {
    if (bytes[i] != std::byte{0}) return false;
  }
  return true;
}

DType dtype_of(const ir::InferenceResult& types, const ir::Value* v) {
  if (v == nullptr) return DType::kUndefined;
  if (const ir::Tensor* t = v->initializer()) return t->dtype();
  return types.type_of(v).dtype;
}

int rank_of_known(const ir::InferenceResult& types, const ir::Value* v) {
  if (v == nullptr) return -1;
  const auto& t = types.type_of(v);
  return t.shape ? static_cast<int>(t.shape->size()) : -1;
}

// The layer's output-channel axis in its weight (per-channel scales run along it).
int64_t weight_out_axis(const ir::Node& layer) {
  if (layer.op_type() == "Gemm") {
    const auto tb = layer.attr_int("transB", 0);
    return tb.ok() && *tb != 0 ? 0 : 1;
  }
  return layer.op_type() == "Conv" ? 0 : 1;  // MatMul [K, N]: axis 1
}

// Tries the INT8/FP8 pattern on `layer`; on success fills `g` (format, nodes, values), else
// returns the reason it does not apply ("" when the layer is simply not quantized).
std::string match_quantized(const ir::InferenceResult& types, const ir::Node& layer, FusedGemm& g) {
  const ir::Node* dq_a = layer.input(0) ? layer.input(0)->producer() : nullptr;
  const ir::Node* dq_w = layer.input(1) ? layer.input(1)->producer() : nullptr;
  const bool act_q = is_op(dq_a, "DequantizeLinear");
  const bool w_q = is_op(dq_w, "DequantizeLinear");
  if (!act_q && !w_q) return "";
  const std::string name = layer.op_type() + " '" + layer.name() + "'";
  if (!act_q || !w_q) {
    return name + ": only " + std::string(act_q ? "its activation" : "its weight") +
           " is quantized (weight-only or activation-only Q/DQ runs as emulation)";
  }
  const ir::Node* q_a = dq_a->input(0) ? dq_a->input(0)->producer() : nullptr;
  if (!is_op(q_a, "QuantizeLinear")) {
    return name + ": its activation DequantizeLinear does not follow a QuantizeLinear";
  }
  if (initializer(dq_w->input(0)) == nullptr) {
    return name + ": its weight is not a constant initializer";
  }
  const DType qa = dtype_of(types, dq_a->input(0)), qw = dtype_of(types, dq_w->input(0));
  if (qa != qw || (qa != DType::kInt8 && qa != DType::kFloat8E4M3FN)) {
    return name + ": activation " + std::string(dtype_name(qa)) + " with weight " +
           std::string(dtype_name(qw)) +
           " (the fused GEMMs take int8 x int8 or float8e4m3fn x float8e4m3fn)";
  }
  if (!zero_or_absent(q_a->input(2)) || !zero_or_absent(dq_a->input(2)) ||
      !zero_or_absent(dq_w->input(2))) {
    return name + ": a non-zero zero point (the fused GEMMs are symmetric)";
  }
  // One per-tensor activation scale, the same value in the Q and the DQ.
  const ir::Tensor* sa = initializer(q_a->input(1));
  const ir::Tensor* sa2 = initializer(dq_a->input(1));
  if (sa == nullptr || sa2 == nullptr || sa->numel() != 1 || sa2->numel() != 1 ||
      sa->dtype() != sa2->dtype() ||
      !std::equal(sa->raw_data(), sa->raw_data() + sa->nbytes(), sa2->raw_data())) {
    return name + ": the activation scale is not one constant shared by its Q and DQ";
  }
  const ir::Tensor* w = initializer(dq_w->input(0));
  const ir::Tensor* sw = initializer(dq_w->input(1));
  if (sw == nullptr) return name + ": the weight scale is not a constant";
  const int64_t axis = weight_out_axis(layer);
  if (sw->numel() != 1) {
    auto attr = dq_w->attr_int("axis", 1);
    int64_t a = attr.ok() ? *attr : 1;
    if (a < 0) a += static_cast<int64_t>(w->rank());
    if (a != axis || sw->numel() != w->dims()[static_cast<size_t>(axis)]) {
      return name + ": the weight scales are not per output channel (axis " + std::to_string(axis) +
             ")";
    }
  }
  if (layer.op_type() == "MatMul" && w->rank() != 2) {
    return name + ": a " + std::to_string(w->rank()) + "-D weight (the fused GEMM takes 2-D)";
  }
  g.format = qa == DType::kInt8 ? GemmFormat::kInt8 : GemmFormat::kFp8;
  g.act_quantize = q_a;
  g.act_dequantize = dq_a;
  g.weight_dequantize = dq_w;
  g.activation = q_a->input(0);
  g.weight = dq_w->input(0);
  g.act_scale = q_a->input(1);
  g.weight_scale = dq_w->input(1);
  return "";
}

// Values whose contents are known on the host without the data: initializers, Constant
// outputs, Shape/Size outputs, and whatever is computed only from such values.
std::set<const ir::Value*> host_static_values(const std::vector<ir::Node*>& order,
                                              const ir::Graph& graph) {
  std::set<const ir::Value*> known;
  for (const ir::Value* v : graph.initializers()) {
    if (!graph.is_input(v)) known.insert(v);
  }
  for (const ir::Node* n : order) {
    bool all = true;
    if (is_op(n, "Shape") || is_op(n, "Size")) {
      all = true;
    } else {
      for (const ir::Value* in : n->inputs()) {
        if (in != nullptr && !in->name().empty() && !known.count(in)) all = false;
      }
      if (!n->implicit_inputs().empty()) all = false;
    }
    if (all) {
      for (const ir::Value* out : n->outputs()) known.insert(out);
    }
  }
  return known;
}

}  // namespace

Expected<DevicePlan> plan_device_graph(const ir::Model& model, const FusionOptions& options) {
  const ir::Graph& graph = model.graph();
  MIXQ_ASSIGN_OR_RETURN(auto order, ir::topological_order(graph));
  MIXQ_ASSIGN_OR_RETURN(const auto types, ir::infer_shapes(model));
  DevicePlan plan;
  const bool fp8_ok = options.compute_capability == 0 || options.compute_capability >= 89;
  const auto host = host_static_values(order, graph);

  // 1. Layers.
  std::map<const ir::Node*, size_t> layer_gemm;
  for (const ir::Node* n : order) {
    const bool conv = is_op(n, "Conv"), gemm = is_op(n, "Gemm"), matmul = is_op(n, "MatMul");
    if (!conv && !gemm && !matmul) continue;
    if (n->outputs().empty() || host.count(n->output(0))) continue;  // folded on the host
    FusedGemm g;
    g.layer = n;
    g.output = n->output(0);
    if (gemm) {
      const auto ta = n->attr_int("transA", 0);
      const auto alpha = n->attr_float("alpha", 1.0f), beta = n->attr_float("beta", 1.0f);
      if (!ta.ok() || *ta != 0 || !alpha.ok() || *alpha != 1.0f || !beta.ok() || *beta != 1.0f) {
        plan.not_fused.push_back("Gemm '" + n->name() +
                                 "': transA, alpha or beta other than 0, 1, 1 (runs as a "
                                 "device kernel only if one exists, else on the CPU)");
        continue;
      }
    }
    if (gemm || conv) g.bias = n->input(2);
    if (g.bias != nullptr && g.bias->name().empty()) g.bias = nullptr;
    const std::string why = match_quantized(types, *n, g);
    if (!why.empty()) plan.not_fused.push_back(why);
    const bool quantized = g.act_quantize != nullptr;
    if (quantized && g.format == GemmFormat::kFp8 && !fp8_ok) {
      plan.not_fused.push_back(n->op_type() + " '" + n->name() +
                               "': FP8 needs sm_89 or newer, the device is sm_" +
                               std::to_string(options.compute_capability) +
                               "; it runs as an FP16 GEMM on the dequantized weight");
      g.format = GemmFormat::kFp16;
    }
    if (!quantized) {
      // Float layers: by the input dtype; the second operand is a constant weight or, for
      // MatMul, an activation (batched products such as attention).
      g.activation = n->input(0);
      g.weight = n->input(1);
      const DType t = dtype_of(types, n->input(0));
      if (t != DType::kFloat32 && t != DType::kFloat16) continue;  // device kernel rules decide
      if (!why.empty()) continue;  // half-quantized layer: its Q/DQ nodes run as kernels
      g.format = t == DType::kFloat16 ? GemmFormat::kFp16 : GemmFormat::kFp32;
    }
    const std::string f = gemm_format_name(g.format);
    const bool weight_const = initializer(g.weight) != nullptr || quantized;
    if (conv) {
      if (rank_of_known(types, g.activation) != 4) {
        plan.not_fused.push_back("Conv '" + n->name() + "': not 2-D (NCHW)");
        continue;
      }
      g.kernel = quantized && g.format != GemmFormat::kFp16 ? "im2col+cublaslt-" + f : "cudnn-" + f;
    } else if (matmul && !weight_const) {
      g.kernel = "cublaslt-batched-" + f;
    } else if (matmul && initializer(g.weight) != nullptr && initializer(g.weight)->rank() != 2) {
      g.kernel = "cublaslt-batched-" + f;
    } else {
      g.kernel = "cublaslt-" + f;
    }
    layer_gemm[n] = plan.gemms.size();
    plan.gemms.push_back(std::move(g));
  }

  // 2. Q/DQ nodes the fused GEMMs absorb: every consumer of what they produce is absorbed too,
  // or is the layer itself reading it as the fused operand.
  std::map<const ir::Node*, size_t> absorbed;
  for (size_t i = 0; i < plan.gemms.size(); ++i) {
    const FusedGemm& g = plan.gemms[i];
    if (g.act_quantize == nullptr) continue;
    const auto only_feeds = [&](const ir::Node* producer, const ir::Node* consumer) {
      for (const ir::Value* out : producer->outputs()) {
        if (graph.is_output(out)) return false;
        for (const auto& use : out->uses()) {
          if (use.node != consumer) return false;
        }
      }
      return true;
    };
    if (only_feeds(g.weight_dequantize, g.layer)) absorbed[g.weight_dequantize] = i;
    if (only_feeds(g.act_dequantize, g.layer)) {
      absorbed[g.act_dequantize] = i;
      if (only_feeds(g.act_quantize, g.act_dequantize)) absorbed[g.act_quantize] = i;
    }
  }

  // 3. One step per node.
  for (const ir::Node* n : order) {
    Step s;
    s.node = n;
    if (const auto it = layer_gemm.find(n); it != layer_gemm.end()) {
      s.kind = StepKind::kFusedGemm;
      s.gemm = it->second;
      s.reason = plan.gemms[it->second].kernel;
    } else if (const auto a = absorbed.find(n); a != absorbed.end()) {
      s.kind = StepKind::kAbsorbed;
      s.gemm = a->second;
    } else if (!n->outputs().empty() &&
               std::all_of(n->outputs().begin(), n->outputs().end(),
                           [&](const ir::Value* v) { return host.count(v) > 0; })) {
      s.kind = StepKind::kHost;
    } else if (std::string why; has_device_kernel(model, *n, types, &why)) {
      s.kind = StepKind::kDevice;
    } else {
      s.kind = StepKind::kCpuFallback;
      s.reason = why;
    }
    plan.steps.push_back(std::move(s));
  }
  return plan;
}

}  // namespace mixq::gpu
