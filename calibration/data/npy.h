// NumPy .npy headers: parsing and writing (format versions 1.0, 2.0, 3.0).
//
// Supported element types: little-endian float16/32/64, int8..64, uint8..64 and bool, in C order.
// Big-endian data, Fortran order and object arrays are refused with a message naming the file.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "mixq/core/dtype.h"
#include "mixq/core/status.h"

namespace mixq::calib {

struct NpyHeader {
  DType dtype = DType::kUndefined;
  std::vector<int64_t> dims;
  size_t data_offset = 0;  // bytes from the start of the .npy stream to the array data
};

// Parses the header at the start of `bytes` (which must hold at least the whole header);
// `what` names the file or archive member in errors. Returns kBadInput for malformed or
// unsupported headers, and when `bytes` is too short ("truncated").
Expected<NpyHeader> parse_npy_header(std::string_view bytes, const std::string& what);

// The header bytes for an array of `dtype` and `dims`, padded so the data starts at a multiple
// of 64 bytes from the start of the stream. Refuses dtypes NumPy has no type for (bfloat16, FP8,
// 4-bit): returns an empty string.
std::string make_npy_header(DType dtype, const std::vector<int64_t>& dims);

// "<f4", "|b1", ... for a dtype; empty when NumPy has no such type.
std::string npy_descr(DType dtype);

}  // namespace mixq::calib
