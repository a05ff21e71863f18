#include "mixq/gpu/device_ops.h"

#include <algorithm>

namespace mixq::gpu {

namespace {

const std::vector<DType> kFloat = {DType::kFloat32, DType::kFloat16};
const std::vector<DType> kNumeric = {DType::kFloat32, DType::kFloat16, DType::kInt32,
                                     DType::kInt64};
const std::vector<DType> kBool = {DType::kBool};
const std::vector<DType> kAny = {DType::kFloat32, DType::kFloat16, DType::kBFloat16,
                                 DType::kInt32,   DType::kInt64,   DType::kInt8,
                                 DType::kUint8,   DType::kBool,    DType::kFloat8E4M3FN};
const std::vector<DType> kCastable = {DType::kFloat32, DType::kFloat16, DType::kBFloat16,
                                      DType::kInt32,   DType::kInt64,   DType::kInt8,
                                      DType::kUint8,   DType::kBool};
const std::vector<DType> kQuantized = {DType::kInt8, DType::kUint8, DType::kInt32,
                                       DType::kFloat8E4M3FN};

std::vector<DeviceOp> build() {
  std::vector<DeviceOp> ops = {
      {"Abs", 1, 1000, kFloat, "elementwise"},
      {"Add", 1, 1000, kNumeric, "elementwise"},
      {"And", 1, 1000, kBool, "elementwise"},
      {"AveragePool", 1, 1000, kFloat, "pool"},
      {"BatchNormalization", 1, 1000, kFloat, "affine (per-channel, inference mode)"},
      {"Cast", 1, 1000, kCastable, "elementwise"},
      {"Ceil", 1, 1000, kFloat, "elementwise"},
      {"Clip", 1, 1000, kFloat, "elementwise"},
      {"Concat", 1, 1000, kAny, "movement"},
      {"Conv", 1, 1000, kFloat, "gemm (cuDNN, or im2col + cuBLASLt when quantized)"},
      {"Cos", 1, 1000, kFloat, "elementwise"},
      {"DequantizeLinear", 10, 1000, kQuantized, "qdq"},
      {"Div", 1, 1000, kNumeric, "elementwise"},
      {"Elu", 1, 1000, kFloat, "elementwise"},
      {"Equal", 1, 1000, kNumeric, "elementwise"},
      {"Erf", 1, 1000, kFloat, "elementwise"},
      {"Exp", 1, 1000, kFloat, "elementwise"},
      {"Expand", 8, 1000, kAny, "elementwise"},
      {"Flatten", 1, 1000, kAny, "view"},
      {"Floor", 1, 1000, kFloat, "elementwise"},
      {"Gather", 1, 1000, kAny, "movement"},
      {"Gelu", 20, 1000, kFloat, "elementwise"},
      {"Gemm", 1, 1000, kFloat, "gemm (cuBLASLt)"},
      {"GlobalAveragePool", 1, 1000, kFloat, "pool"},
      {"GlobalMaxPool", 1, 1000, kFloat, "pool"},
      {"Greater", 1, 1000, kNumeric, "elementwise"},
      {"GreaterOrEqual", 12, 1000, kNumeric, "elementwise"},
      {"HardSigmoid", 1, 1000, kFloat, "elementwise"},
      {"HardSwish", 14, 1000, kFloat, "elementwise"},
      {"Identity", 1, 1000, kAny, "view"},
      {"LayerNormalization", 17, 1000, kFloat, "normalize"},
      {"LeakyRelu", 1, 1000, kFloat, "elementwise"},
      {"Less", 1, 1000, kNumeric, "elementwise"},
      {"LessOrEqual", 12, 1000, kNumeric, "elementwise"},
      {"Log", 1, 1000, kFloat, "elementwise"},
      {"LogSoftmax", 1, 1000, kFloat, "normalize"},
      {"MatMul", 1, 1000, kFloat, "gemm (cuBLASLt)"},
      {"Max", 1, 1000, kNumeric, "elementwise"},
      {"MaxPool", 1, 1000, kFloat, "pool"},
      {"Min", 1, 1000, kNumeric, "elementwise"},
      {"Mod", 10, 1000, kNumeric, "elementwise"},
      {"Mul", 1, 1000, kNumeric, "elementwise"},
      {"Neg", 1, 1000, kFloat, "elementwise"},
      {"Not", 1, 1000, kBool, "elementwise"},
      {"Or", 1, 1000, kBool, "elementwise"},
      {"Pad", 1, 1000, kAny, "affine (constant-mode padding)"},
      {"Pow", 1, 1000, kFloat, "elementwise"},
      {"QuantizeLinear", 10, 1000, kFloat, "qdq"},
      {"Reciprocal", 1, 1000, kFloat, "elementwise"},
      {"ReduceL1", 1, 1000, kFloat, "reduce"},
      {"ReduceL2", 1, 1000, kFloat, "reduce"},
      {"ReduceLogSumExp", 1, 1000, kFloat, "reduce"},
      {"ReduceMax", 1, 1000, kNumeric, "reduce"},
      {"ReduceMean", 1, 1000, kFloat, "reduce"},
      {"ReduceMin", 1, 1000, kNumeric, "reduce"},
      {"ReduceProd", 1, 1000, kNumeric, "reduce"},
      {"ReduceSum", 1, 1000, kNumeric, "reduce"},
      {"ReduceSumSquare", 1, 1000, kFloat, "reduce"},
      {"Relu", 1, 1000, kFloat, "elementwise"},
      {"Reshape", 1, 1000, kAny, "view"},
      {"Sigmoid", 1, 1000, kFloat, "elementwise"},
      {"Sin", 1, 1000, kFloat, "elementwise"},
      {"Slice", 1, 1000, kAny, "movement"},
      {"Softmax", 1, 1000, kFloat, "normalize"},
      {"Softplus", 1, 1000, kFloat, "elementwise"},
      {"Split", 1, 1000, kAny, "movement (a slice per output)"},
      {"Sqrt", 1, 1000, kFloat, "elementwise"},
      {"Squeeze", 1, 1000, kAny, "view"},
      {"Sub", 1, 1000, kNumeric, "elementwise"},
      {"Tanh", 1, 1000, kFloat, "elementwise"},
      {"Transpose", 1, 1000, kAny, "movement"},
      {"Unsqueeze", 1, 1000, kAny, "view"},
      {"Where", 9, 1000, kBool, "elementwise"},
      {"Xor", 1, 1000, kBool, "elementwise"},
  };
  std::sort(ops.begin(), ops.end(),
            [](const DeviceOp& a, const DeviceOp& b) { return a.op_type < b.op_type; });
  return ops;
}

std::string dtype_list(const std::vector<DType>& ts) {
  std::string s;
  for (DType t : ts) s += (s.empty() ? "" : ", ") + std::string(dtype_name(t));
  return s;
}

int rank_of(const ir::InferenceResult& types, const ir::Value* v) {
  if (v == nullptr) return -1;
  const auto& t = types.type_of(v);
  return t.shape ? static_cast<int>(t.shape->size()) : -1;
}

DType dtype_of(const ir::InferenceResult& types, const ir::Value* v) {
  return v == nullptr ? DType::kUndefined : types.type_of(v).dtype;
}

}  // namespace

const std::vector<DeviceOp>& device_ops() {
  static const std::vector<DeviceOp> ops = build();
  return ops;
}

bool has_device_kernel(const ir::Model& model, const ir::Node& node,
                       const ir::InferenceResult& types, std::string* why_not) {
  const auto fail = [&](std::string why) {
    if (why_not != nullptr) *why_not = std::move(why);
    return false;
  };
  if (!node.is_onnx_domain()) {
    return fail("no device kernel for " + node.domain() + "::" + node.op_type());
  }
  const auto& ops = device_ops();
  const auto it =
      std::lower_bound(ops.begin(), ops.end(), node.op_type(),
                       [](const DeviceOp& o, const std::string& name) { return o.op_type < name; });
  if (it == ops.end() || it->op_type != node.op_type()) {
    return fail("no device kernel for " + node.op_type());
  }
  const int64_t opset = model.opset_for(node);
  if (opset < it->since || opset > it->until) {
    return fail("the device kernel for " + node.op_type() + " covers opsets " +
                std::to_string(it->since) + ".." + std::to_string(it->until) + ", the model uses " +
                std::to_string(opset));
  }
  const ir::Value* first = node.input(0);
  const DType t = dtype_of(types, first);
  if (std::find(it->dtypes.begin(), it->dtypes.end(), t) == it->dtypes.end()) {
    return fail(node.op_type() + " " + std::string(dtype_name(t)) + ": the device kernel takes " +
                dtype_list(it->dtypes));
  }
  // Shapes the kernels do not cover.
  const std::string& op = node.op_type();
  if ((op == "Conv" || op == "MaxPool" || op == "AveragePool") && rank_of(types, first) != 4) {
    return fail(op + " on the device is 2-D (NCHW) only; input rank " +
                std::to_string(rank_of(types, first)));
  }
  if (op == "MaxPool" && node.outputs().size() > 1 && node.output(1) != nullptr &&
      !node.output(1)->name().empty()) {
    return fail("MaxPool with an Indices output has no device kernel");
  }
  if (op == "Pad") {
    const auto mode = node.attr_string("mode", "constant");
    if (!mode.ok() || *mode != "constant") {
      return fail("Pad mode '" + (mode.ok() ? *mode : std::string("?")) +
                  "' has no device kernel (constant only)");
    }
  }
  if (op == "BatchNormalization" && node.outputs().size() > 1) {
    return fail("BatchNormalization in training mode has no device kernel");
  }
  if (op == "Where") {
    const ir::Value* x = node.input(1);
    const DType xt = dtype_of(types, x);
    if (std::find(kAny.begin(), kAny.end(), xt) == kAny.end()) {
      return fail("Where " + std::string(dtype_name(xt)) + ": the device kernel takes " +
                  dtype_list(kAny));
    }
  }
  return true;
}

}  // namespace mixq::gpu
