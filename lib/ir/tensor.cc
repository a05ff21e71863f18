#include "mixq/ir/tensor.h"

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>

#include "mixq/core/float_bits.h"

namespace mixq::ir {

namespace {
std::atomic<int64_t> g_live_bytes{0};
std::atomic<int64_t> g_peak_bytes{0};
}  // namespace

std::shared_ptr<Buffer> Buffer::make_owned(size_t bytes, bool zero) {
  // Round up to whole lines, plus one so that data() is never null for an empty tensor.
  constexpr size_t kAlign = 64;
  const size_t padded = (bytes + kAlign - 1) / kAlign * kAlign + kAlign;
  // Aligned by hand inside a plain malloc block rather than with aligned_alloc: glibc serves
  // aligned_alloc(64, n) from a free block of n + 64 + 32 bytes and hands back only n of it,
  // so a freed activation could never be reused for the next activation of the same size, and
  // every run of the executor took fresh pages (and page faults) for them. A malloc block of
  // padded + kAlign bytes is freed whole and fits the next request of that size exactly.
  if (padded > std::numeric_limits<size_t>::max() - kAlign) throw std::bad_alloc();
  void* raw = std::malloc(padded + kAlign);
  if (raw == nullptr) throw std::bad_alloc();
  const auto at = (reinterpret_cast<uintptr_t>(raw) + kAlign - 1) & ~uintptr_t{kAlign - 1};
  auto* p = reinterpret_cast<std::byte*>(at);
  if (zero) std::memset(p, 0, padded);
  const auto counted = static_cast<int64_t>(padded);
  const int64_t live = g_live_bytes.fetch_add(counted) + counted;
  int64_t peak = g_peak_bytes.load();
  while (live > peak && !g_peak_bytes.compare_exchange_weak(peak, live)) {
  }
  auto b = std::shared_ptr<Buffer>(new Buffer());
  b->data_ = p;
  b->size_ = bytes;
  b->writable_ = true;
  b->owner_ = std::shared_ptr<void>(raw, [counted](void* q) {
    g_live_bytes.fetch_sub(counted);
    std::free(q);
  });
  return b;
}

std::shared_ptr<Buffer> Buffer::allocate(size_t bytes) { return make_owned(bytes, true); }

std::shared_ptr<Buffer> Buffer::allocate_uninitialized(size_t bytes) {
  return make_owned(bytes, false);
}

int64_t Buffer::live_bytes() { return g_live_bytes.load(); }
int64_t Buffer::peak_bytes() { return g_peak_bytes.load(); }
void Buffer::reset_peak_bytes() { g_peak_bytes.store(g_live_bytes.load()); }

std::shared_ptr<Buffer> Buffer::view(const void* data, size_t bytes,
                                     std::shared_ptr<const void> owner) {
  auto b = std::shared_ptr<Buffer>(new Buffer());
  b->data_ = const_cast<std::byte*>(static_cast<const std::byte*>(data));
  b->size_ = bytes;
  b->writable_ = false;
  b->owner_ = std::move(owner);
  return b;
}

std::shared_ptr<Buffer> Buffer::adopt(std::string&& bytes) {
  auto owner = std::make_shared<const std::string>(std::move(bytes));
  return view(owner->data(), owner->size(), owner);
}

std::optional<int64_t> checked_numel(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) {
    if (d < 0) return std::nullopt;
    if (__builtin_mul_overflow(n, d, &n)) return std::nullopt;
  }
  return n;
}

std::string dims_to_string(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(dims[i]);
  }
  return out + "]";
}

int64_t Tensor::numel() const {
  auto n = checked_numel(dims_);
  return n ? *n : 0;
}

Expected<Tensor> Tensor::zeros(DType dtype, const std::vector<int64_t>& dims) {
  MIXQ_ASSIGN_OR_RETURN(Tensor t, uninitialized(dtype, dims));
  if (t.buffer_) std::memset(const_cast<Buffer*>(t.buffer_.get())->mutable_data(), 0, t.nbytes());
  return t;
}

Expected<Tensor> Tensor::uninitialized(DType dtype, const std::vector<int64_t>& dims) {
  auto n = checked_numel(dims);
  if (!n) return bad_input("tensor shape ", dims_to_string(dims), " is negative or overflows");
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = dims;
  if (dtype == DType::kString) {
    t.strings_.resize(static_cast<size_t>(*n));
    return t;
  }
  auto bytes = dtype_storage_bytes(dtype, static_cast<uint64_t>(*n));
  if (!bytes || dtype == DType::kUndefined) {
    return bad_input("tensor of ", dtype_name(dtype), " ", dims_to_string(dims),
                     " has no storable size");
  }
  try {
    t.buffer_ = Buffer::allocate_uninitialized(*bytes);
  } catch (const std::bad_alloc&) {
    return bad_input("cannot allocate ", *bytes, " bytes for a tensor of ", dtype_name(dtype), " ",
                     dims_to_string(dims), " (out of memory)");
  }
  return t;
}

Expected<Tensor> Tensor::from_buffer(DType dtype, std::vector<int64_t> dims,
                                     std::shared_ptr<const Buffer> buffer) {
  auto n = checked_numel(dims);
  if (!n) return bad_input("tensor shape ", dims_to_string(dims), " is negative or overflows");
  auto bytes = dtype_storage_bytes(dtype, static_cast<uint64_t>(*n));
  if (!bytes || dtype == DType::kString || dtype == DType::kUndefined) {
    return bad_input("tensor of ", dtype_name(dtype), " cannot be stored as raw bytes");
  }
  const size_t have = buffer ? buffer->size() : 0;
  if (have != *bytes) {
    return bad_input("tensor data has ", have, " bytes but ", dtype_name(dtype), " ",
                     dims_to_string(dims), " needs ", *bytes);
  }
  Tensor t;
  t.dtype_ = dtype;
  t.dims_ = std::move(dims);
  t.buffer_ = std::move(buffer);
  return t;
}

Expected<Tensor> Tensor::from_strings(std::vector<int64_t> dims, std::vector<std::string> values) {
  auto n = checked_numel(dims);
  if (!n) return bad_input("tensor shape ", dims_to_string(dims), " is negative or overflows");
  if (static_cast<uint64_t>(*n) != values.size()) {
    return bad_input("string tensor has ", values.size(), " elements but shape ",
                     dims_to_string(dims), " needs ", *n);
  }
  Tensor t;
  t.dtype_ = DType::kString;
  t.dims_ = std::move(dims);
  t.strings_ = std::move(values);
  return t;
}

Tensor Tensor::scalar_float(float v) { return from_floats({}, {v}); }

Tensor Tensor::from_floats(const std::vector<int64_t>& dims, const std::vector<float>& values) {
  Tensor t = zeros(DType::kFloat32, dims).value();
  // (memcpy with an empty vector's null data() is undefined even for 0 bytes.)
  const size_t n = std::min(values.size() * sizeof(float), t.nbytes());
  if (n > 0) std::memcpy(t.mutable_raw_data(), values.data(), n);
  return t;
}

Tensor Tensor::from_int64s(const std::vector<int64_t>& dims, const std::vector<int64_t>& values) {
  Tensor t = zeros(DType::kInt64, dims).value();
  const size_t n = std::min(values.size() * sizeof(int64_t), t.nbytes());
  if (n > 0) std::memcpy(t.mutable_raw_data(), values.data(), n);
  return t;
}

std::byte* Tensor::mutable_raw_data() {
  if (!buffer_ || !buffer_->writable()) return nullptr;
  // Shared buffers are shared read-mostly data; writers own theirs (allocated by zeros()).
  return const_cast<Buffer*>(buffer_.get())->mutable_data();
}

double Tensor::element_as_double(int64_t i) const {
  if (i < 0 || i >= numel() || dtype_ == DType::kString) return 0.0;
  const std::byte* p = raw_data();
  auto load = [&](auto tag) {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, p + static_cast<size_t>(i) * sizeof(T), sizeof(T));
    return v;
  };
  switch (dtype_) {
    case DType::kFloat32:
      return load(float{});
    case DType::kFloat64:
      return load(double{});
    case DType::kFloat16:
      return float16_to_float(load(uint16_t{}));
    case DType::kBFloat16:
      return bfloat16_to_float(load(uint16_t{}));
    case DType::kFloat8E4M3FN:
      return float8e4m3fn_to_float(load(uint8_t{}));
    case DType::kFloat8E4M3FNUZ:
      return float8e4m3fnuz_to_float(load(uint8_t{}));
    case DType::kFloat8E5M2:
      return float8e5m2_to_float(load(uint8_t{}));
    case DType::kFloat8E5M2FNUZ:
      return float8e5m2fnuz_to_float(load(uint8_t{}));
    case DType::kUint64:
      return static_cast<double>(load(uint64_t{}));
    default:
      return static_cast<double>(element_as_int64(i));
  }
}

int64_t Tensor::element_as_int64(int64_t i) const {
  if (i < 0 || i >= numel() || dtype_ == DType::kString) return 0;
  const std::byte* p = raw_data();
  auto load = [&](auto tag) {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, p + static_cast<size_t>(i) * sizeof(T), sizeof(T));
    return v;
  };
  switch (dtype_) {
    case DType::kInt64:
      return load(int64_t{});
    case DType::kInt32:
      return load(int32_t{});
    case DType::kInt16:
      return load(int16_t{});
    case DType::kInt8:
      return load(int8_t{});
    case DType::kUint64:
      return static_cast<int64_t>(load(uint64_t{}));
    case DType::kUint32:
      return load(uint32_t{});
    case DType::kUint16:
      return load(uint16_t{});
    case DType::kUint8:
    case DType::kBool:
      return load(uint8_t{});
    case DType::kInt4:
    case DType::kUint4: {
      const auto byte = static_cast<uint8_t>(p[static_cast<size_t>(i / 2)]);
      const int nib = (i % 2 == 0) ? (byte & 0x0f) : (byte >> 4);
      if (dtype_ == DType::kInt4 && nib >= 8) return nib - 16;
      return nib;
    }
    default: {
      if (!dtype_is_float(dtype_)) return 0;  // complex: no meaningful integer value
      const double d = element_as_double(i);
      if (!(d == d)) return 0;  // NaN
      if (d >= 9.2e18 || d <= -9.2e18)
        return d > 0 ? std::numeric_limits<int64_t>::max() : std::numeric_limits<int64_t>::min();
      return static_cast<int64_t>(d);
    }
  }
}

}  // namespace mixq::ir
