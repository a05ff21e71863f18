// Element types, numbered exactly as ONNX TensorProto.DataType.
//
// Debian's ONNX 1.12 headers stop at BFLOAT16 (16); the FLOAT8 (17-20), INT4/UINT4 (21-22) and
// FLOAT4 (23) types are first-class here and written to protobuf by number.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

namespace mixq {

enum class DType : int32_t {
  kUndefined = 0,
  kFloat32 = 1,
  kUint8 = 2,
  kInt8 = 3,
  kUint16 = 4,
  kInt16 = 5,
  kInt32 = 6,
  kInt64 = 7,
  kString = 8,
  kBool = 9,
  kFloat16 = 10,
  kFloat64 = 11,
  kUint32 = 12,
  kUint64 = 13,
  kComplex64 = 14,
  kComplex128 = 15,
  kBFloat16 = 16,
  kFloat8E4M3FN = 17,
  kFloat8E4M3FNUZ = 18,
  kFloat8E5M2 = 19,
  kFloat8E5M2FNUZ = 20,
  kUint4 = 21,
  kInt4 = 22,
  kFloat4E2M1 = 23,
};

// The DType for an ONNX data_type number, or nullopt when the number is not a known type.
std::optional<DType> dtype_from_onnx(int32_t onnx_type);

inline int32_t dtype_to_onnx(DType t) { return static_cast<int32_t>(t); }

// Lower-case name used in messages, reports and JSON: "float32", "float8e4m3fn", "int4", ...
std::string_view dtype_name(DType t);

// Parses an ONNX TensorProto.DataType enum name ("FLOAT", "INT64", "FLOAT8E4M3FN", ...), as
// Cast-1..5 wrote its `to` attribute; nullopt when unknown.
std::optional<DType> dtype_from_onnx_name(std::string_view name);

// Parses a name produced by dtype_name(); nullopt when unknown.
std::optional<DType> dtype_from_name(std::string_view name);

// Storage bits per element: 4 for the packed 4-bit types, 0 for strings (variable length).
int dtype_bits(DType t);

// Bytes needed to store `count` elements (4-bit types pack two per byte, rounding up).
// Returns nullopt on overflow and for strings.
std::optional<size_t> dtype_storage_bytes(DType t, uint64_t count);

bool dtype_is_float(DType t);    // float16/32/64, bfloat16, float8*, float4
bool dtype_is_integer(DType t);  // signed or unsigned integers, including int4/uint4
bool dtype_is_signed_int(DType t);

}  // namespace mixq
