#include "mixq/onnx/proto_tensor.h"

#include <bit>
#include <charconv>
#include <cstring>

namespace mixq::onnx {

static_assert(std::endian::native == std::endian::little,
              "ONNX raw_data is little-endian; mixq assumes a little-endian host");

namespace {

enum class TypedField { kFloat, kDouble, kInt32, kInt64, kUint64, kString, kNone };

// Which typed field ONNX uses for each data type, and how many field entries one element takes
// (complex types use two; 4-bit types pack two elements into one int32 entry).
TypedField typed_field(DType t) {
  switch (t) {
    case DType::kFloat32:
    case DType::kComplex64:
      return TypedField::kFloat;
    case DType::kFloat64:
    case DType::kComplex128:
      return TypedField::kDouble;
    case DType::kInt64:
      return TypedField::kInt64;
    case DType::kUint32:
    case DType::kUint64:
      return TypedField::kUint64;
    case DType::kString:
      return TypedField::kString;
    case DType::kInt32:
    case DType::kInt16:
    case DType::kInt8:
    case DType::kUint16:
    case DType::kUint8:
    case DType::kBool:
    case DType::kFloat16:
    case DType::kBFloat16:
    case DType::kFloat8E4M3FN:
    case DType::kFloat8E4M3FNUZ:
    case DType::kFloat8E5M2:
    case DType::kFloat8E5M2FNUZ:
    case DType::kInt4:
    case DType::kUint4:
    case DType::kFloat4E2M1:
      return TypedField::kInt32;
    case DType::kUndefined:
      break;
  }
  return TypedField::kNone;
}

// Bytes per int32_data entry for the types stored there (4-bit types: one packed byte).
size_t int32_entry_bytes(DType t) {
  switch (t) {
    case DType::kInt32:
      return 4;
    case DType::kInt16:
    case DType::kUint16:
    case DType::kFloat16:
    case DType::kBFloat16:
      return 2;
    default:
      return 1;
  }
}

size_t element_alignment(DType t) {
  switch (t) {
    case DType::kComplex64:
      return 4;
    case DType::kComplex128:
      return 8;
    default: {
      const int bits = dtype_bits(t);
      return bits >= 8 ? static_cast<size_t>(bits / 8) : 1;
    }
  }
}

bool parse_u64(const std::string& s, uint64_t* out) {
  const char* end = s.data() + s.size();
  auto [p, ec] = std::from_chars(s.data(), end, *out);
  return ec == std::errc() && p == end && !s.empty();
}

int typed_count(const ::onnx::TensorProto& p) {
  return p.float_data_size() + p.double_data_size() + p.int32_data_size() + p.int64_data_size() +
         p.uint64_data_size() + p.string_data_size();
}

template <typename Field>
std::shared_ptr<ir::Buffer> copy_field(const Field& field, size_t bytes) {
  using T = typename Field::value_type;
  auto buf = ir::Buffer::allocate(bytes);
  // (memcpy from an empty field's null data() is undefined even for 0 bytes.)
  const size_t n = std::min(bytes, field.size() * sizeof(T));
  if (n > 0) std::memcpy(buf->mutable_data(), field.data(), n);
  return buf;
}

}  // namespace

Expected<ir::Tensor> tensor_from_proto(::onnx::TensorProto& proto, ExternalDataResolver* resolver) {
  const std::string name = proto.name();
  auto fail = [&](const auto&... why) { return bad_input("tensor '", name, "': ", why...); };

  std::vector<int64_t> dims(proto.dims().begin(), proto.dims().end());
  for (int64_t d : dims) {
    if (d < 0) return fail("negative dimension in shape ", ir::dims_to_string(dims));
  }
  const auto numel = ir::checked_numel(dims);
  if (!numel) return fail("shape ", ir::dims_to_string(dims), " has too many elements");
  const auto dtype = dtype_from_onnx(proto.data_type());
  if (!dtype) return fail("unknown data_type ", proto.data_type());
  const uint64_t n = static_cast<uint64_t>(*numel);

  ir::TensorStorage storage;
  ir::Tensor tensor;
  if (*dtype == DType::kString) {
    if (proto.data_location() == ::onnx::TensorProto::EXTERNAL || proto.has_raw_data()) {
      return fail("string tensors must use string_data");
    }
    if (static_cast<uint64_t>(proto.string_data_size()) != n) {
      return fail("has ", proto.string_data_size(), " strings but shape ", ir::dims_to_string(dims),
                  " needs ", n);
    }
    std::vector<std::string> values;
    values.reserve(n);
    for (auto& s : *proto.mutable_string_data()) values.push_back(std::move(s));
    MIXQ_ASSIGN_OR_RETURN(tensor, ir::Tensor::from_strings(dims, std::move(values)));
    storage.form = ir::TensorStorage::Form::kTypedFields;
  } else {
    const auto bytes = dtype_storage_bytes(*dtype, n);
    if (!bytes) return fail("shape ", ir::dims_to_string(dims), " is too large");
    std::shared_ptr<const ir::Buffer> buffer;
    if (proto.data_location() == ::onnx::TensorProto::EXTERNAL) {
      if (resolver == nullptr) return fail("uses external data, which is not allowed here");
      if (proto.has_raw_data() || typed_count(proto) > 0) {
        return fail("has both external data and inline data");
      }
      std::string location;
      uint64_t offset = 0;
      std::optional<uint64_t> length;
      for (const auto& kv : proto.external_data()) {
        if (kv.key() == "location") {
          location = kv.value();
        } else if (kv.key() == "offset") {
          if (!parse_u64(kv.value(), &offset)) {
            return fail("external data offset '", kv.value(), "' is not a number");
          }
        } else if (kv.key() == "length") {
          uint64_t len = 0;
          if (!parse_u64(kv.value(), &len)) {
            return fail("external data length '", kv.value(), "' is not a number");
          }
          length = len;
        }
      }
      if (location.empty()) return fail("external data has no location");
      MIXQ_ASSIGN_OR_RETURN(buffer, resolver->read(name, location, offset, length, *bytes,
                                                   element_alignment(*dtype)));
      storage.form = ir::TensorStorage::Form::kExternal;
      storage.external_location = location;
    } else if (proto.has_raw_data()) {
      if (typed_count(proto) > 0) return fail("has both raw_data and typed data fields");
      if (proto.raw_data().size() != *bytes) {
        return fail("raw_data has ", proto.raw_data().size(), " bytes but ", dtype_name(*dtype),
                    " ", ir::dims_to_string(dims), " needs ", *bytes);
      }
      std::string raw;
      proto.mutable_raw_data()->swap(raw);
      if (reinterpret_cast<uintptr_t>(raw.data()) % element_alignment(*dtype) != 0) {
        auto copy = ir::Buffer::allocate(raw.size());
        std::memcpy(copy->mutable_data(), raw.data(), raw.size());
        buffer = std::move(copy);
      } else {
        buffer = ir::Buffer::adopt(std::move(raw));
      }
      storage.form = ir::TensorStorage::Form::kRawData;
    } else {
      const TypedField field = typed_field(*dtype);
      const bool complex = *dtype == DType::kComplex64 || *dtype == DType::kComplex128;
      const bool packed4 = dtype_bits(*dtype) == 4;
      const uint64_t entries = complex ? 2 * n : (packed4 ? *bytes : n);
      auto count_error = [&](int have) {
        return fail("has ", have, " typed data entries but ", dtype_name(*dtype), " ",
                    ir::dims_to_string(dims), " needs ", entries);
      };
      if (typed_count(proto) > 0 && field == TypedField::kNone) return fail("has no data type");
      auto check = [&](int have) -> Status {
        if (static_cast<uint64_t>(have) != entries || typed_count(proto) != have) {
          return count_error(typed_count(proto));
        }
        return Status::ok_status();
      };
      switch (field) {
        case TypedField::kFloat:
          MIXQ_RETURN_IF_ERROR(check(proto.float_data_size()));
          buffer = copy_field(proto.float_data(), *bytes);
          break;
        case TypedField::kDouble:
          MIXQ_RETURN_IF_ERROR(check(proto.double_data_size()));
          buffer = copy_field(proto.double_data(), *bytes);
          break;
        case TypedField::kInt64:
          MIXQ_RETURN_IF_ERROR(check(proto.int64_data_size()));
          buffer = copy_field(proto.int64_data(), *bytes);
          break;
        case TypedField::kUint64: {
          MIXQ_RETURN_IF_ERROR(check(proto.uint64_data_size()));
          if (*dtype == DType::kUint64) {
            buffer = copy_field(proto.uint64_data(), *bytes);
          } else {
            auto buf = ir::Buffer::allocate(*bytes);
            auto* out = reinterpret_cast<uint32_t*>(buf->mutable_data());
            for (uint64_t i = 0; i < n; ++i) out[i] = static_cast<uint32_t>(proto.uint64_data(i));
            buffer = std::move(buf);
          }
          break;
        }
        case TypedField::kInt32: {
          MIXQ_RETURN_IF_ERROR(check(proto.int32_data_size()));
          // Each entry holds one element's value or bit pattern (or one packed byte of two
          // 4-bit elements), truncated to the element's width.
          auto buf = ir::Buffer::allocate(*bytes);
          const size_t w = int32_entry_bytes(*dtype);
          std::byte* out = buf->mutable_data();
          for (uint64_t i = 0; i < entries; ++i) {
            const uint32_t v = static_cast<uint32_t>(proto.int32_data(static_cast<int>(i)));
            std::memcpy(out + i * w, &v, w);
          }
          buffer = std::move(buf);
          break;
        }
        case TypedField::kString:
        case TypedField::kNone:
          if (n != 0) return fail("has no data");
          buffer = ir::Buffer::allocate(0);
          break;
      }
      storage.form = ir::TensorStorage::Form::kTypedFields;
    }
    MIXQ_ASSIGN_OR_RETURN(tensor, ir::Tensor::from_buffer(*dtype, dims, std::move(buffer)));
  }

  // What is left is what mixq does not interpret.
  proto.clear_dims();
  proto.clear_data_type();
  proto.clear_name();
  proto.clear_raw_data();
  proto.clear_float_data();
  proto.clear_double_data();
  proto.clear_int32_data();
  proto.clear_int64_data();
  proto.clear_uint64_data();
  proto.clear_string_data();
  proto.clear_external_data();
  proto.clear_data_location();
  if (proto.ByteSizeLong() > 0) proto.SerializeToString(&storage.proto_extras);
  tensor.set_name(name);
  tensor.mutable_storage() = std::move(storage);
  return tensor;
}

Status tensor_to_proto(const ir::Tensor& tensor, ::onnx::TensorProto* out, const TensorSink& sink) {
  out->Clear();
  const ir::TensorStorage& storage = tensor.storage();
  if (!storage.proto_extras.empty() && !out->ParseFromString(storage.proto_extras)) {
    return internal_error("tensor '", tensor.name(), "': cannot re-read kept fields");
  }
  for (int64_t d : tensor.dims()) out->add_dims(d);
  out->set_data_type(dtype_to_onnx(tensor.dtype()));
  if (!tensor.name().empty()) out->set_name(tensor.name());

  const DType dtype = tensor.dtype();
  if (dtype == DType::kString) {
    for (const auto& s : tensor.strings()) out->add_string_data(s);
    return Status::ok_status();
  }
  const std::byte* data = tensor.raw_data();
  const size_t bytes = tensor.nbytes();
  const bool external =
      sink.writer != nullptr &&
      (bytes >= sink.threshold ||
       (sink.keep_external && storage.form == ir::TensorStorage::Form::kExternal));
  if (external) {
    MIXQ_ASSIGN_OR_RETURN(uint64_t offset, sink.writer->append(data, bytes));
    out->set_data_location(::onnx::TensorProto::EXTERNAL);
    auto add = [&](const char* k, const std::string& v) {
      auto* e = out->add_external_data();
      e->set_key(k);
      e->set_value(v);
    };
    add("location", sink.writer->location());
    add("offset", std::to_string(offset));
    add("length", std::to_string(bytes));
    return Status::ok_status();
  }
  if (storage.form != ir::TensorStorage::Form::kTypedFields) {
    out->set_raw_data(reinterpret_cast<const char*>(data), bytes);
    return Status::ok_status();
  }
  const int64_t n = tensor.numel();
  switch (typed_field(dtype)) {
    case TypedField::kFloat: {
      const size_t count = bytes / sizeof(float);
      out->mutable_float_data()->Resize(static_cast<int>(count), 0.0f);
      // (Guarded: an empty field's mutable_data() is null, and memcpy to null is undefined.)
      if (count > 0) {
        std::memcpy(out->mutable_float_data()->mutable_data(), data, count * sizeof(float));
      }
      break;
    }
    case TypedField::kDouble: {
      const size_t count = bytes / sizeof(double);
      out->mutable_double_data()->Resize(static_cast<int>(count), 0.0);
      if (count > 0) {
        std::memcpy(out->mutable_double_data()->mutable_data(), data, count * sizeof(double));
      }
      break;
    }
    case TypedField::kInt64:
      out->mutable_int64_data()->Resize(static_cast<int>(n), 0);
      if (bytes > 0) std::memcpy(out->mutable_int64_data()->mutable_data(), data, bytes);
      break;
    case TypedField::kUint64:
      for (int64_t i = 0; i < n; ++i) {
        if (dtype == DType::kUint64) {
          out->add_uint64_data(tensor.data<uint64_t>()[i]);
        } else {
          out->add_uint64_data(tensor.data<uint32_t>()[i]);
        }
      }
      break;
    case TypedField::kInt32: {
      const size_t w = int32_entry_bytes(dtype);
      const size_t entries = bytes / w;
      const bool sign_extend = dtype == DType::kInt8 || dtype == DType::kInt16;
      for (size_t i = 0; i < entries; ++i) {
        int32_t v = 0;
        if (w == 4) {
          std::memcpy(&v, data + i * 4, 4);
        } else if (w == 2) {
          uint16_t u;
          std::memcpy(&u, data + i * 2, 2);
          v = sign_extend ? static_cast<int16_t>(u) : static_cast<int32_t>(u);
        } else {
          const auto u = static_cast<uint8_t>(data[i]);
          v = sign_extend ? static_cast<int8_t>(u) : static_cast<int32_t>(u);
        }
        out->add_int32_data(v);
      }
      break;
    }
    case TypedField::kString:
    case TypedField::kNone:
      break;
  }
  return Status::ok_status();
}

}  // namespace mixq::onnx
