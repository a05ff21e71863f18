// The device executor's op handlers: one device step per ONNX node in device_ops.h's table.
// Attributes and shape inputs are read on the host; output dims come from the node's shape
// function on the concrete input dims. A handler returns kUnsupported for inputs its kernel
// does not take, and the run loop runs that node on the CPU instead (and lists it).
#include <cmath>
#include <cstring>
#include <limits>
#include <map>

#include "mixq/core/float_bits.h"
#include "mixq/gpu/device_executor_impl.h"
#include "mixq/gpu/kernels/affine.h"
#include "mixq/gpu/kernels/elementwise.h"
#include "mixq/gpu/kernels/movement.h"
#include "mixq/gpu/kernels/normalize.h"
#include "mixq/gpu/kernels/pool.h"
#include "mixq/gpu/kernels/qdq.h"
#include "mixq/gpu/kernels/reduce.h"

namespace mixq::gpu {

namespace {

int64_t int_attr(const ir::Node& n, const char* name, int64_t fallback) {
  const auto v = n.attr_int(name, fallback);
  return v.ok() ? *v : fallback;
}

float float_attr(const ir::Node& n, const char* name, float fallback) {
  const auto v = n.attr_float(name, fallback);
  return v.ok() ? *v : fallback;
}

std::vector<int64_t> ints_attr(const ir::Node& n, const char* name) {
  const auto v = n.attr_ints(name);
  return v.ok() && *v ? **v : std::vector<int64_t>{};
}

int64_t normalize(int64_t axis, size_t rank) {
  return axis < 0 ? axis + static_cast<int64_t>(rank) : axis;
}

// The int64 values of a host tensor (int32 or int64).
std::vector<int64_t> int_values(const ir::Tensor& t) {
  std::vector<int64_t> out(static_cast<size_t>(t.numel()));
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = t.dtype() == DType::kInt32 ? t.data<int32_t>()[i] : t.data<int64_t>()[i];
  }
  return out;
}

const std::map<std::string, UnaryOp>& unary_ops() {
  static const std::map<std::string, UnaryOp> ops = {
      {"Abs", UnaryOp::kAbs},
      {"Ceil", UnaryOp::kCeil},
      {"Clip", UnaryOp::kClip},
      {"Cos", UnaryOp::kCos},
      {"Elu", UnaryOp::kElu},
      {"Erf", UnaryOp::kErf},
      {"Exp", UnaryOp::kExp},
      {"Floor", UnaryOp::kFloor},
      {"HardSigmoid", UnaryOp::kHardSigmoid},
      {"HardSwish", UnaryOp::kHardSwish},
      {"LeakyRelu", UnaryOp::kLeakyRelu},
      {"Log", UnaryOp::kLog},
      {"Neg", UnaryOp::kNeg},
      {"Not", UnaryOp::kNot},
      {"Reciprocal", UnaryOp::kReciprocal},
      {"Relu", UnaryOp::kRelu},
      {"Sigmoid", UnaryOp::kSigmoid},
      {"Sin", UnaryOp::kSin},
      {"Softplus", UnaryOp::kSoftplus},
      {"Sqrt", UnaryOp::kSqrt},
      {"Tanh", UnaryOp::kTanh},
  };
  return ops;
}

const std::map<std::string, BinaryOp>& binary_ops() {
  static const std::map<std::string, BinaryOp> ops = {
      {"Add", BinaryOp::kAdd},         {"And", BinaryOp::kAnd},
      {"Div", BinaryOp::kDiv},         {"Equal", BinaryOp::kEqual},
      {"Greater", BinaryOp::kGreater}, {"GreaterOrEqual", BinaryOp::kGreaterOrEqual},
      {"Less", BinaryOp::kLess},       {"LessOrEqual", BinaryOp::kLessOrEqual},
      {"Max", BinaryOp::kMax},         {"Min", BinaryOp::kMin},
      {"Mod", BinaryOp::kMod},         {"Mul", BinaryOp::kMul},
      {"Or", BinaryOp::kOr},           {"Pow", BinaryOp::kPow},
      {"Sub", BinaryOp::kSub},         {"Xor", BinaryOp::kXor},
  };
  return ops;
}

const std::map<std::string, ReduceOp>& reduce_ops() {
  static const std::map<std::string, ReduceOp> ops = {
      {"ReduceL1", ReduceOp::kL1},
      {"ReduceL2", ReduceOp::kL2},
      {"ReduceLogSumExp", ReduceOp::kLogSumExp},
      {"ReduceMax", ReduceOp::kMax},
      {"ReduceMean", ReduceOp::kMean},
      {"ReduceMin", ReduceOp::kMin},
      {"ReduceProd", ReduceOp::kProd},
      {"ReduceSum", ReduceOp::kSum},
      {"ReduceSumSquare", ReduceOp::kSumSquare},
  };
  return ops;
}

// Numpy broadcast of two dims lists (inputs already validated by the shape function).
std::vector<int64_t> broadcast(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  std::vector<int64_t> out(std::max(a.size(), b.size()), 1);
  for (size_t i = 0; i < out.size(); ++i) {
    const int64_t da = i < out.size() - a.size() ? 1 : a[i - (out.size() - a.size())];
    const int64_t db = i < out.size() - b.size() ? 1 : b[i - (out.size() - b.size())];
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// The bit pattern of `v` in dtype t (Pad's constant).
Expected<uint64_t> value_bits(double v, DType t) {
  uint64_t bits = 0;
  switch (t) {
    case DType::kFloat32: {
      const float f = static_cast<float>(v);
      std::memcpy(&bits, &f, sizeof(f));
      return bits;
    }
    case DType::kFloat16:
      return float_to_float16(static_cast<float>(v));
    case DType::kInt64: {
      const int64_t i = static_cast<int64_t>(v);
      std::memcpy(&bits, &i, sizeof(i));
      return bits;
    }
    case DType::kInt32: {
      const int32_t i = static_cast<int32_t>(v);
      std::memcpy(&bits, &i, sizeof(i));
      return bits;
    }
    case DType::kInt8: {
      const int8_t i = static_cast<int8_t>(v);
      std::memcpy(&bits, &i, sizeof(i));
      return bits;
    }
    case DType::kUint8:
    case DType::kBool:
      return static_cast<uint64_t>(static_cast<uint8_t>(v));
    default:
      return unsupported("Pad on the device: no constant of ", dtype_name(t));
  }
}

}  // namespace

Status DeviceExecutor::Impl::run_device_step(const ir::Node& n) {
  const std::string& op = n.op_type();
  const StreamHandle s = stream.handle();
  const int64_t opset = model.opset_for(n);

  // Views: the output shares the input's device memory.
  if (op == "Reshape" || op == "Flatten" || op == "Squeeze" || op == "Unsqueeze" ||
      op == "Identity") {
    MIXQ_ASSIGN_OR_RETURN(auto types, output_types(n));
    return alias_output(n, 0, 0, types[0].dims);
  }
  if (op == "MatMul" || op == "Gemm" || op == "Conv") return run_float_layer(n);

  MIXQ_ASSIGN_OR_RETURN(auto types, output_types(n));
  const auto out = [&](size_t o) { return new_output(n, o, types[o].dtype, types[o].dims); };

  if (const auto u = unary_ops().find(op); u != unary_ops().end()) {
    UnaryParams p;
    if (op == "LeakyRelu") p.alpha = float_attr(n, "alpha", 0.01f);
    if (op == "Elu") p.alpha = float_attr(n, "alpha", 1.0f);
    if (op == "HardSigmoid") {
      p.alpha = float_attr(n, "alpha", 0.2f);
      p.beta = float_attr(n, "beta", 0.5f);
    }
    if (op == "Clip") {
      const float big = n.input(0) && types[0].dtype == DType::kFloat16
                            ? 65504.0f
                            : std::numeric_limits<float>::max();
      p.alpha = -big;
      p.beta = big;
      if (opset < 11) {
        p.alpha = float_attr(n, "min", -big);
        p.beta = float_attr(n, "max", big);
      } else {
        for (size_t i = 1; i <= 2; ++i) {
          MIXQ_ASSIGN_OR_RETURN(const ir::Tensor* t, host_input(n, i));
          if (t == nullptr) continue;
          const double v = t->dtype() == DType::kFloat16 ? float16_to_float(t->data<uint16_t>()[0])
                                                         : t->data<float>()[0];
          (i == 1 ? p.alpha : p.beta) = static_cast<float>(v);
        }
      }
    }
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    return unary(u->second, x, y, p, s);
  }
  if (op == "Gelu") {
    MIXQ_ASSIGN_OR_RETURN(const auto approx, n.attr_string("approximate", "none"));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    return unary(approx == "tanh" ? UnaryOp::kGeluTanh : UnaryOp::kGeluErf, x, y, {}, s);
  }
  if (const auto b = binary_ops().find(op); b != binary_ops().end()) {
    BinaryOp bop = b->second;
    if (op == "Mod" && int_attr(n, "fmod", 0) != 0) bop = BinaryOp::kFmod;
    MIXQ_ASSIGN_OR_RETURN(DeviceTensor acc, device_input(n, 0));
    std::shared_ptr<Arena::Block> keep;
    // Max and Min take any number of inputs: folded left to right.
    for (size_t i = 1; i < n.inputs().size(); ++i) {
      MIXQ_ASSIGN_OR_RETURN(const DeviceTensor rhs, device_input(n, i));
      if (i + 1 == n.inputs().size()) {
        MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
        return binary(bop, acc, rhs, y, s);
      }
      const auto dims = broadcast(acc.dims, rhs.dims);
      int64_t count = 1;
      for (int64_t d : dims) count *= d;
      MIXQ_ASSIGN_OR_RETURN(auto block, scratch(static_cast<size_t>(count) *
                                                static_cast<size_t>(dtype_bits(acc.dtype) / 8)));
      const DeviceTensor next{block->data(), acc.dtype, dims};
      MIXQ_RETURN_IF_ERROR(binary(bop, acc, rhs, next, s));
      acc = next;
      keep = block;
    }
    // One input (Max/Min of a single tensor): a copy.
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    return copy_device_to_device(y.data, acc.data,
                                 static_cast<size_t>(acc.numel()) * (dtype_bits(acc.dtype) / 8), s);
  }
  if (op == "Where") {
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor c, device_input(n, 0));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 1));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor yv, device_input(n, 2));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    return where(c, x, yv, y, s);
  }
  if (op == "Cast") {
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    return cast(x, y, s);
  }
  if (op == "Expand") {
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    return expand(x, y, s);
  }
  if (op == "Softmax" || op == "LogSoftmax") {
    MIXQ_ASSIGN_OR_RETURN(DeviceTensor x, device_input(n, 0));
    MIXQ_ASSIGN_OR_RETURN(DeviceTensor y, out(0));
    const size_t rank = x.dims.size();
    int64_t axis = normalize(int_attr(n, "axis", opset >= 13 ? -1 : 1), rank);
    if (opset < 13) {
      // Softmax-1/11: over the flattened dims [axis, rank) of a 2-D view.
      int64_t outer = 1, inner = 1;
      for (size_t i = 0; i < rank; ++i)
        (static_cast<int64_t>(i) < axis ? outer : inner) *= x.dims[i];
      x.dims = y.dims = {outer, inner};
      axis = 1;
    }
    return softmax(x, y, axis, op == "LogSoftmax", s);
  }
  if (op == "LayerNormalization") {
    if (n.outputs().size() > 1) {
      for (size_t o = 1; o < n.outputs().size(); ++o) {
        if (n.output(o) != nullptr && !n.output(o)->name().empty()) {
          return unsupported(n.describe(), ": the Mean/InvStdDev outputs have no device kernel");
        }
      }
    }
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor scale, device_input(n, 1));
    std::optional<DeviceTensor> bias;
    if (n.input(2) != nullptr && !n.input(2)->name().empty()) {
      MIXQ_ASSIGN_OR_RETURN(bias, device_input(n, 2));
    }
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    return layer_norm(x, &scale, bias ? &*bias : nullptr, y,
                      normalize(int_attr(n, "axis", -1), x.dims.size()),
                      float_attr(n, "epsilon", 1e-5f), s);
  }
  if (const auto r = reduce_ops().find(op); r != reduce_ops().end()) {
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    std::vector<int64_t> axes;
    const bool axes_input = (op == "ReduceSum" && opset >= 13) || opset >= 18;
    if (axes_input) {
      MIXQ_ASSIGN_OR_RETURN(const ir::Tensor* t, host_input(n, 1));
      if (t != nullptr) axes = int_values(*t);
    } else {
      axes = ints_attr(n, "axes");
    }
    for (auto& a : axes) a = normalize(a, x.dims.size());
    std::sort(axes.begin(), axes.end());
    axes.erase(std::unique(axes.begin(), axes.end()), axes.end());
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    if (axes.empty() && int_attr(n, "noop_with_empty_axes", 0) != 0) {
      return copy_device_to_device(y.data, x.data,
                                   static_cast<size_t>(x.numel()) * (dtype_bits(x.dtype) / 8), s);
    }
    return reduce(r->second, x, axes, y, s);
  }
  if (op == "Gather") {
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor d, device_input(n, 0));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor idx, device_input(n, 1));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    return gather(d, idx, int_attr(n, "axis", 0), y, s);
  }
  if (op == "Transpose") {
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    std::vector<int64_t> perm = ints_attr(n, "perm");
    if (perm.empty()) {
      for (size_t i = x.dims.size(); i-- > 0;) perm.push_back(static_cast<int64_t>(i));
    }
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    return transpose(x, perm, y, s);
  }
  if (op == "Concat") {
    std::vector<DeviceTensor> xs;
    for (size_t i = 0; i < n.inputs().size(); ++i) {
      MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, i));
      xs.push_back(x);
    }
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    return concat(xs, int_attr(n, "axis", 0), y, s);
  }
  if (op == "Slice" || op == "Split") {
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    const size_t rank = x.dims.size();
    if (op == "Split") {
      const int64_t axis = normalize(int_attr(n, "axis", 0), rank);
      int64_t offset = 0;
      for (size_t o = 0; o < n.outputs().size(); ++o) {
        std::vector<int64_t> starts(rank, 0), steps(rank, 1);
        starts[static_cast<size_t>(axis)] = offset;
        offset += types[o].dims[static_cast<size_t>(axis)];
        if (n.output(o) == nullptr || n.output(o)->name().empty()) continue;
        MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(o));
        MIXQ_RETURN_IF_ERROR(slice(x, starts, steps, y, s));
      }
      return Status::ok_status();
    }
    std::vector<int64_t> st, en, ax, sp;
    if (opset < 10) {
      st = ints_attr(n, "starts"), en = ints_attr(n, "ends"), ax = ints_attr(n, "axes");
    } else {
      for (size_t i = 1; i <= 4; ++i) {
        MIXQ_ASSIGN_OR_RETURN(const ir::Tensor* t, host_input(n, i));
        if (t == nullptr) continue;
        (i == 1 ? st : i == 2 ? en : i == 3 ? ax : sp) = int_values(*t);
      }
    }
    if (ax.empty()) {
      for (size_t i = 0; i < st.size(); ++i) ax.push_back(static_cast<int64_t>(i));
    }
    std::vector<int64_t> starts(rank, 0), steps(rank, 1);
    for (size_t i = 0; i < ax.size(); ++i) {
      const size_t a = static_cast<size_t>(normalize(ax[i], rank));
      const int64_t dim = x.dims[a];
      const int64_t step = i < sp.size() ? sp[i] : 1;
      int64_t start = st[i] < 0 ? st[i] + dim : st[i];
      start =
          step > 0 ? std::clamp<int64_t>(start, 0, dim) : std::clamp<int64_t>(start, 0, dim - 1);
      starts[a] = start;
      steps[a] = step;
    }
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    if (y.numel() == 0) return Status::ok_status();
    return slice(x, starts, steps, y, s);
  }
  if (op == "MaxPool" || op == "AveragePool" || op == "GlobalAveragePool" ||
      op == "GlobalMaxPool") {
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    if (op == "GlobalAveragePool") return global_average_pool(x, y, s);
    if (op == "GlobalMaxPool") return global_max_pool(x, y, s);
    Pool2dParams p;
    const auto k = ints_attr(n, "kernel_shape"), st = ints_attr(n, "strides"),
               d = ints_attr(n, "dilations"), pads = ints_attr(n, "pads");
    if (k.size() != 2) return unsupported(n.describe(), ": only 2-D pooling runs on the device");
    p.kernel_h = k[0], p.kernel_w = k[1];
    if (st.size() == 2) p.stride_h = st[0], p.stride_w = st[1];
    if (d.size() == 2) p.dilation_h = d[0], p.dilation_w = d[1];
    MIXQ_ASSIGN_OR_RETURN(const auto auto_pad, n.attr_string("auto_pad", "NOTSET"));
    if (auto_pad == "NOTSET" && pads.size() == 4) {
      p.pad_top = pads[0], p.pad_left = pads[1], p.pad_bottom = pads[2], p.pad_right = pads[3];
    } else if (auto_pad == "SAME_UPPER" || auto_pad == "SAME_LOWER") {
      const auto total = [](int64_t o, int64_t st2, int64_t kk, int64_t dd, int64_t in) {
        return std::max<int64_t>(0, (o - 1) * st2 + (kk - 1) * dd + 1 - in);
      };
      const int64_t th = total(y.dims[2], p.stride_h, p.kernel_h, p.dilation_h, x.dims[2]);
      const int64_t tw = total(y.dims[3], p.stride_w, p.kernel_w, p.dilation_w, x.dims[3]);
      const bool upper = auto_pad == "SAME_UPPER";
      p.pad_top = upper ? th / 2 : th - th / 2, p.pad_bottom = th - p.pad_top;
      p.pad_left = upper ? tw / 2 : tw - tw / 2, p.pad_right = tw - p.pad_left;
    }
    p.count_include_pad = int_attr(n, "count_include_pad", 0) != 0;
    return op == "MaxPool" ? max_pool2d(x, p, y, s) : average_pool2d(x, p, y, s);
  }
  if (op == "QuantizeLinear" || op == "DequantizeLinear") {
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor scale, device_input(n, 1));
    std::optional<DeviceTensor> zp;
    if (n.input(2) != nullptr && !n.input(2)->name().empty()) {
      MIXQ_ASSIGN_OR_RETURN(zp, device_input(n, 2));
    }
    if (int_attr(n, "block_size", 0) != 0) {
      return unsupported(n.describe(), ": blocked quantization has no device kernel");
    }
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    const int64_t axis = normalize(int_attr(n, "axis", 1), x.dims.size());
    return op == "QuantizeLinear" ? quantize_linear(x, scale, zp ? &*zp : nullptr, axis, y, s)
                                  : dequantize_linear(x, scale, zp ? &*zp : nullptr, axis, y, s);
  }
  if (op == "BatchNormalization") {
    // Inference mode, folded on the host once per node: y = x·a + b per channel.
    auto& folded = node_constants[&n];
    if (folded.empty()) {
      std::vector<const ir::Tensor*> in(5);
      for (size_t i = 1; i < 5; ++i) {
        MIXQ_ASSIGN_OR_RETURN(in[i], host_input(n, i));
        if (in[i] == nullptr) return unsupported(n.describe(), ": input ", i, " is absent");
      }
      const int64_t c = in[1]->numel();
      std::vector<float> a(static_cast<size_t>(c)), b(static_cast<size_t>(c));
      const float eps = float_attr(n, "epsilon", 1e-5f);
      const auto at = [](const ir::Tensor* t, int64_t i) {
        return t->dtype() == DType::kFloat16 ? float16_to_float(t->data<uint16_t>()[i])
                                             : t->data<float>()[i];
      };
      for (int64_t i = 0; i < c; ++i) {
        a[static_cast<size_t>(i)] = at(in[1], i) / std::sqrt(at(in[4], i) + eps);
        b[static_cast<size_t>(i)] = at(in[2], i) - at(in[3], i) * a[static_cast<size_t>(i)];
      }
      for (const auto* v : {&a, &b}) {
        MIXQ_ASSIGN_OR_RETURN(auto buf, DeviceBuffer::allocate(v->size() * sizeof(float)));
        MIXQ_RETURN_IF_ERROR(copy_to_device(buf.data(), v->data(), v->size() * sizeof(float), s));
        folded.push_back(std::move(buf));
      }
    }
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    return channel_affine(x, static_cast<const float*>(folded[0].data()),
                          static_cast<const float*>(folded[1].data()), y, s);
  }
  if (op == "Pad") {
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor x, device_input(n, 0));
    const size_t rank = x.dims.size();
    std::vector<int64_t> pads;
    double value = 0;
    std::vector<int64_t> axes;
    if (opset < 11) {
      pads = ints_attr(n, "pads");
      value = float_attr(n, "value", 0.0f);
    } else {
      MIXQ_ASSIGN_OR_RETURN(const ir::Tensor* p, host_input(n, 1));
      if (p != nullptr) pads = int_values(*p);
      MIXQ_ASSIGN_OR_RETURN(const ir::Tensor* v, host_input(n, 2));
      if (v != nullptr && v->numel() > 0) {
        value = v->dtype() == DType::kFloat32   ? v->data<float>()[0]
                : v->dtype() == DType::kFloat16 ? float16_to_float(v->data<uint16_t>()[0])
                : v->dtype() == DType::kInt64   ? static_cast<double>(v->data<int64_t>()[0])
                                                : 0.0;
      }
      MIXQ_ASSIGN_OR_RETURN(const ir::Tensor* a, host_input(n, 3));
      if (a != nullptr) axes = int_values(*a);
    }
    if (axes.empty()) {
      for (size_t i = 0; i < rank; ++i) axes.push_back(static_cast<int64_t>(i));
    }
    std::vector<int64_t> begin(rank, 0);
    for (size_t i = 0; i < axes.size() && i < pads.size(); ++i) {
      const int64_t b = pads[i], e = pads[i + axes.size()];
      if (b < 0 || e < 0) return unsupported(n.describe(), ": negative pads run on the CPU");
      begin[static_cast<size_t>(normalize(axes[i], rank))] = b;
    }
    MIXQ_ASSIGN_OR_RETURN(const DeviceTensor y, out(0));
    MIXQ_ASSIGN_OR_RETURN(const uint64_t bits, value_bits(value, x.dtype));
    return pad_constant(x, begin, bits, y, s);
  }
  return unsupported(n.describe(), ": no device handler for ", op);
}

}  // namespace mixq::gpu
