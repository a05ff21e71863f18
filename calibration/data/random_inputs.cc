#include "mixq/calibration/data/random_inputs.h"

#include <random>

#include "mixq/core/float_bits.h"

namespace mixq::calib {

Expected<Feeds> random_inputs(const std::vector<InputSpec>& inputs,
                              const std::map<std::string, int64_t>& dims, uint32_t seed,
                              int int_high) {
  std::mt19937_64 rng(seed);
  Feeds feeds;
  for (const InputSpec& in : inputs) {
    if (in.optional) continue;
    if (!in.type.is_tensor() || !in.type.shape || in.type.dtype == DType::kUndefined) {
      return usage_error("input '", in.name, "' has no declared tensor type and shape (",
                         in.type.to_string(), "); pass data with --data");
    }
    std::vector<int64_t> shape;
    for (const ir::Dim& d : *in.type.shape) {
      if (d.is_known()) {
        shape.push_back(d.value());
      } else if (d.is_symbolic()) {
        auto it = dims.find(d.to_string());
        if (it == dims.end()) {
          return usage_error("input '", in.name, "' has symbolic dim '", d.to_string(),
                             "': give its size with --dim ", d.to_string(), "=N");
        }
        shape.push_back(it->second);
      } else {
        return usage_error("input '", in.name,
                           "' has an unnamed unknown dim: pass data with --data");
      }
    }
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor t, ir::Tensor::uninitialized(in.type.dtype, shape));
    const int64_t n = t.numel();
    std::uniform_real_distribution<float> uf(-1.0f, 1.0f);
    std::uniform_int_distribution<int> ui(0, int_high);
    auto fill = [&](auto* p, auto gen) {
      for (int64_t i = 0; i < n; ++i) p[i] = gen();
    };
    switch (in.type.dtype) {
      case DType::kFloat32:
        fill(t.mutable_data<float>(), [&] { return uf(rng); });
        break;
      case DType::kFloat64:
        fill(t.mutable_data<double>(), [&] { return double(uf(rng)); });
        break;
      case DType::kFloat16:
        fill(t.mutable_data<uint16_t>(), [&] { return float_to_float16(uf(rng)); });
        break;
      case DType::kBFloat16:
        fill(t.mutable_data<uint16_t>(), [&] { return float_to_bfloat16(uf(rng)); });
        break;
      case DType::kInt64:
        fill(t.mutable_data<int64_t>(), [&] { return int64_t(ui(rng)); });
        break;
      case DType::kInt32:
        fill(t.mutable_data<int32_t>(), [&] { return int32_t(ui(rng)); });
        break;
      case DType::kInt16:
        fill(t.mutable_data<int16_t>(), [&] { return int16_t(ui(rng)); });
        break;
      case DType::kInt8:
        fill(t.mutable_data<int8_t>(), [&] { return int8_t(ui(rng)); });
        break;
      case DType::kUint8:
        fill(t.mutable_data<uint8_t>(), [&] { return uint8_t(ui(rng)); });
        break;
      case DType::kUint16:
        fill(t.mutable_data<uint16_t>(), [&] { return uint16_t(ui(rng)); });
        break;
      case DType::kUint32:
        fill(t.mutable_data<uint32_t>(), [&] { return uint32_t(ui(rng)); });
        break;
      case DType::kUint64:
        fill(t.mutable_data<uint64_t>(), [&] { return uint64_t(ui(rng)); });
        break;
      case DType::kBool:
        fill(t.mutable_data<uint8_t>(), [&] { return uint8_t(ui(rng) % 2); });
        break;
      default:
        return unsupported("input '", in.name, "' is ", dtype_name(in.type.dtype),
                           ": no random data for it; pass data with --data");
    }
    feeds.emplace_back(in.name, std::move(t));
  }
  return feeds;
}

}  // namespace mixq::calib
