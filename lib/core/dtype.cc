#include "mixq/core/dtype.h"

#include <array>
#include <limits>

namespace mixq {
namespace {

struct DTypeInfo {
  DType type;
  std::string_view name;
  int bits;
};

// Indexed by the ONNX number.
constexpr std::array<DTypeInfo, 24> kInfo = {{
    {DType::kUndefined, "undefined", 0},
    {DType::kFloat32, "float32", 32},
    {DType::kUint8, "uint8", 8},
    {DType::kInt8, "int8", 8},
    {DType::kUint16, "uint16", 16},
    {DType::kInt16, "int16", 16},
    {DType::kInt32, "int32", 32},
    {DType::kInt64, "int64", 64},
    {DType::kString, "string", 0},
    {DType::kBool, "bool", 8},
    {DType::kFloat16, "float16", 16},
    {DType::kFloat64, "float64", 64},
    {DType::kUint32, "uint32", 32},
    {DType::kUint64, "uint64", 64},
    {DType::kComplex64, "complex64", 64},
    {DType::kComplex128, "complex128", 128},
    {DType::kBFloat16, "bfloat16", 16},
    {DType::kFloat8E4M3FN, "float8e4m3fn", 8},
    {DType::kFloat8E4M3FNUZ, "float8e4m3fnuz", 8},
    {DType::kFloat8E5M2, "float8e5m2", 8},
    {DType::kFloat8E5M2FNUZ, "float8e5m2fnuz", 8},
    {DType::kUint4, "uint4", 4},
    {DType::kInt4, "int4", 4},
    {DType::kFloat4E2M1, "float4e2m1", 4},
}};

const DTypeInfo& info(DType t) {
  auto i = static_cast<size_t>(t);
  return i < kInfo.size() ? kInfo[i] : kInfo[0];
}

}  // namespace

std::optional<DType> dtype_from_onnx(int32_t onnx_type) {
  if (onnx_type <= 0 || onnx_type >= static_cast<int32_t>(kInfo.size())) return std::nullopt;
  return kInfo[static_cast<size_t>(onnx_type)].type;
}

std::string_view dtype_name(DType t) { return info(t).name; }

std::optional<DType> dtype_from_name(std::string_view name) {
  for (const auto& i : kInfo) {
    if (i.type != DType::kUndefined && i.name == name) return i.type;
  }
  return std::nullopt;
}

int dtype_bits(DType t) { return info(t).bits; }

std::optional<size_t> dtype_storage_bytes(DType t, uint64_t count) {
  const int bits = dtype_bits(t);
  if (bits == 0) return std::nullopt;
  if (count > std::numeric_limits<uint64_t>::max() / static_cast<uint64_t>(bits)) {
    return std::nullopt;
  }
  const uint64_t total_bits = count * static_cast<uint64_t>(bits);
  const uint64_t bytes = total_bits / 8 + (total_bits % 8 != 0 ? 1 : 0);
  if (bytes > std::numeric_limits<size_t>::max()) return std::nullopt;
  return static_cast<size_t>(bytes);
}

bool dtype_is_float(DType t) {
  switch (t) {
    case DType::kFloat32:
    case DType::kFloat16:
    case DType::kFloat64:
    case DType::kBFloat16:
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E5M2:
    case DType::kFloat8E5M2FNUZ:
    case DType::kFloat4E2M1:
      return true;
    default:
      return false;
  }
}

bool dtype_is_signed_int(DType t) {
  switch (t) {
    case DType::kInt8:
    case DType::kInt16:
    case DType::kInt32:
    case DType::kInt64:
    case DType::kInt4:
      return true;
    default:
      return false;
  }
}

bool dtype_is_integer(DType t) {
  switch (t) {
    case DType::kUint8:
    case DType::kUint16:
    case DType::kUint32:
    case DType::kUint64:
    case DType::kUint4:
      return true;
    default:
      return dtype_is_signed_int(t);
  }
}

}  // namespace mixq
