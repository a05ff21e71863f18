#include "mixq/core/dtype.h"

#include <array>
#include <limits>

namespace mixq {
namespace {

struct DTypeInfo {
  DType type;
  std::string_view name;
  int bits;
  std::string_view onnx_name;
};

// Indexed by the ONNX number.
constexpr std::array<DTypeInfo, 24> kInfo = {{
    {DType::kUndefined, "undefined", 0, "UNDEFINED"},
    {DType::kFloat32, "float32", 32, "FLOAT"},
    {DType::kUint8, "uint8", 8, "UINT8"},
    {DType::kInt8, "int8", 8, "INT8"},
    {DType::kUint16, "uint16", 16, "UINT16"},
    {DType::kInt16, "int16", 16, "INT16"},
    {DType::kInt32, "int32", 32, "INT32"},
    {DType::kInt64, "int64", 64, "INT64"},
    {DType::kString, "string", 0, "STRING"},
    {DType::kBool, "bool", 8, "BOOL"},
    {DType::kFloat16, "float16", 16, "FLOAT16"},
    {DType::kFloat64, "float64", 64, "DOUBLE"},
    {DType::kUint32, "uint32", 32, "UINT32"},
    {DType::kUint64, "uint64", 64, "UINT64"},
    {DType::kComplex64, "complex64", 64, "COMPLEX64"},
    {DType::kComplex128, "complex128", 128, "COMPLEX128"},
    {DType::kBFloat16, "bfloat16", 16, "BFLOAT16"},
    {DType::kFloat8E4M3FN, "float8e4m3fn", 8, "FLOAT8E4M3FN"},
    {DType::kFloat8E4M3FNUZ, "float8e4m3fnuz", 8, "FLOAT8E4M3FNUZ"},
    {DType::kFloat8E5M2, "float8e5m2", 8, "FLOAT8E5M2"},
    {DType::kFloat8E5M2FNUZ, "float8e5m2fnuz", 8, "FLOAT8E5M2FNUZ"},
    {DType::kUint4, "uint4", 4, "UINT4"},
    {DType::kInt4, "int4", 4, "INT4"},
    {DType::kFloat4E2M1, "float4e2m1", 4, "FLOAT4E2M1"},
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

std::optional<DType> dtype_from_onnx_name(std::string_view name) {
  for (const auto& i : kInfo) {
    if (i.type != DType::kUndefined && i.onnx_name == name) return i.type;
  }
  return std::nullopt;
}

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
