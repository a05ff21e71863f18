#include "mixq/calibration/data/npy.h"

#include <cstring>

#include "mixq/ir/tensor.h"

namespace mixq::calib {
namespace {

struct DescrEntry {
  const char* descr;
  DType dtype;
};

// NumPy's dtype.str for each supported type ('|' for single bytes, '<' little-endian).
constexpr DescrEntry kDescrs[] = {
    {"<f4", DType::kFloat32}, {"<f8", DType::kFloat64}, {"<f2", DType::kFloat16},
    {"|i1", DType::kInt8},    {"<i2", DType::kInt16},   {"<i4", DType::kInt32},
    {"<i8", DType::kInt64},   {"|u1", DType::kUint8},   {"<u2", DType::kUint16},
    {"<u4", DType::kUint32},  {"<u8", DType::kUint64},  {"|b1", DType::kBool},
};

// Value of `key` in the header dict: the text after "'key':" up to the next top-level comma.
Expected<std::string> dict_value(std::string_view dict, std::string_view key,
                                 const std::string& what) {
  const std::string needle = "'" + std::string(key) + "'";
  const size_t k = dict.find(needle);
  if (k == std::string_view::npos) return bad_input(what, ": .npy header has no ", needle);
  size_t p = dict.find(':', k + needle.size());
  if (p == std::string_view::npos) return bad_input(what, ": malformed .npy header");
  ++p;
  int depth = 0;
  size_t e = p;
  for (; e < dict.size(); ++e) {
    const char c = dict[e];
    if (c == '(' || c == '[') ++depth;
    if (c == ')' || c == ']') --depth;
    if ((c == ',' || c == '}') && depth == 0) break;
  }
  std::string v(dict.substr(p, e - p));
  const size_t b = v.find_first_not_of(" \t");
  const size_t l = v.find_last_not_of(" \t");
  return b == std::string::npos ? std::string() : v.substr(b, l - b + 1);
}

}  // namespace

std::string npy_descr(DType dtype) {
  for (const auto& e : kDescrs) {
    if (e.dtype == dtype) return e.descr;
  }
  return "";
}

Expected<NpyHeader> parse_npy_header(std::string_view bytes, const std::string& what) {
  if (bytes.size() < 10) return bad_input(what, ": truncated .npy header");
  if (bytes.substr(0, 6) != std::string_view("\x93NUMPY", 6)) {
    return bad_input(what, ": not a .npy array (bad magic)");
  }
  const auto major = static_cast<uint8_t>(bytes[6]);
  size_t header_len = 0;
  size_t prefix = 0;
  if (major == 1) {
    header_len =
        static_cast<uint8_t>(bytes[8]) | (static_cast<size_t>(static_cast<uint8_t>(bytes[9])) << 8);
    prefix = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) return bad_input(what, ": truncated .npy header");
    uint32_t len = 0;
    std::memcpy(&len, bytes.data() + 8, 4);
    header_len = len;
    prefix = 12;
  } else {
    return bad_input(what, ": unsupported .npy format version ", static_cast<int>(major));
  }
  if (bytes.size() < prefix + header_len) return bad_input(what, ": truncated .npy header");
  const std::string_view dict = bytes.substr(prefix, header_len);

  NpyHeader h;
  h.data_offset = prefix + header_len;
  auto descr_value = dict_value(dict, "descr", what);
  if (!descr_value.ok()) return descr_value.status();
  std::string descr = *descr_value;
  if (descr.size() >= 2 && (descr.front() == '\'' || descr.front() == '"')) {
    descr = descr.substr(1, descr.size() - 2);
  }
  // Byte order: '<' little, '=' native (little here), '|' not applicable (1-byte types),
  // '>' big. Normalize the first two to what kDescrs lists.
  if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '=' || descr[0] == '|')) {
    descr[0] = descr[2] == '1' ? '|' : '<';
  }
  for (const auto& e : kDescrs) {
    if (descr == e.descr) h.dtype = e.dtype;
  }
  if (h.dtype == DType::kUndefined) {
    if (!descr.empty() && descr[0] == '>') {
      return bad_input(what, ": big-endian arrays ('", descr, "') are not supported");
    }
    return bad_input(what, ": unsupported element type '", descr,
                     "' (supported: float16/32/64, int8..64, uint8..64, bool)");
  }
  MIXQ_ASSIGN_OR_RETURN(std::string fortran, dict_value(dict, "fortran_order", what));
  if (fortran == "True") {
    return bad_input(what, ": Fortran-ordered arrays are not supported (save with C order)");
  }
  MIXQ_ASSIGN_OR_RETURN(std::string shape, dict_value(dict, "shape", what));
  if (shape.size() < 2 || shape.front() != '(' || shape.back() != ')') {
    return bad_input(what, ": malformed shape '", shape, "' in .npy header");
  }
  const std::string inner = shape.substr(1, shape.size() - 2);
  size_t p = 0;
  while (p < inner.size()) {
    const size_t comma = inner.find(',', p);
    std::string item = inner.substr(p, comma == std::string::npos ? std::string::npos : comma - p);
    const size_t b = item.find_first_not_of(" \t");
    if (b != std::string::npos) {
      item = item.substr(b, item.find_last_not_of(" \tL") - b + 1);
      char* end = nullptr;
      const long long v = std::strtoll(item.c_str(), &end, 10);
      if (end == item.c_str() || *end != '\0' || v < 0) {
        return bad_input(what, ": malformed shape '", shape, "' in .npy header");
      }
      h.dims.push_back(v);
    }
    if (comma == std::string::npos) break;
    p = comma + 1;
  }
  if (!ir::checked_numel(h.dims)) return bad_input(what, ": shape ", shape, " overflows");
  return h;
}

std::string make_npy_header(DType dtype, const std::vector<int64_t>& dims) {
  const std::string descr = npy_descr(dtype);
  if (descr.empty()) return "";
  std::string shape = "(";
  for (size_t i = 0; i < dims.size(); ++i) {
    shape += std::to_string(dims[i]);
    if (dims.size() == 1 || i + 1 < dims.size()) shape += ",";
    if (i + 1 < dims.size()) shape += " ";
  }
  shape += ")";
  std::string dict = "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
  // Version 1.0 (2-byte length) unless the header is too long for it.
  const bool v1 = dict.size() + 11 < 65535;
  const size_t prefix = v1 ? 10 : 12;
  size_t total = prefix + dict.size() + 1;  // + trailing newline
  const size_t padded = (total + 63) / 64 * 64;
  dict.append(padded - total, ' ');
  dict += '\n';
  std::string out("\x93NUMPY", 6);
  out += static_cast<char>(v1 ? 1 : 2);
  out += '\0';
  const uint32_t len = static_cast<uint32_t>(dict.size());
  if (v1) {
    out += static_cast<char>(len & 0xff);
    out += static_cast<char>((len >> 8) & 0xff);
  } else {
    out.append(reinterpret_cast<const char*>(&len), 4);
  }
  return out + dict;
}

}  // namespace mixq::calib
