// Tensor: a dense n-dimensional array with an element type, and the Buffer that holds its bytes.
//
// Buffers are shared and reference counted: an initializer read from external data is a view
// into a memory-mapped file, an inline initializer owns the bytes protobuf parsed, and a freshly
// allocated tensor owns zeroed, 64-byte aligned memory. Copying a Tensor shares its Buffer.
// Elements are stored row-major and little-endian, 4-bit types packed two per byte (low nibble
// first), exactly as ONNX raw_data. String tensors keep their elements in a vector instead.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "mixq/core/dtype.h"
#include "mixq/core/status.h"

namespace mixq::ir {

class Buffer {
 public:
  // Zeroed, writable, 64-byte aligned storage of `bytes` bytes.
  static std::shared_ptr<Buffer> allocate(size_t bytes);
  // The same without zeroing: for outputs a kernel writes in full.
  static std::shared_ptr<Buffer> allocate_uninitialized(size_t bytes);

  // Bytes currently held by allocate()/allocate_uninitialized() buffers in this process, and
  // the most held at once since the last reset_peak_bytes(). Views (mmap, protobuf strings) are
  // not counted: this is the memory mixq itself allocates.
  static int64_t live_bytes();
  static int64_t peak_bytes();
  static void reset_peak_bytes();
  // A read-only view of memory kept alive by `owner` (an mmap, a protobuf string, ...).
  static std::shared_ptr<Buffer> view(const void* data, size_t bytes,
                                      std::shared_ptr<const void> owner);
  // Takes ownership of a string's bytes (no copy). Read-only.
  static std::shared_ptr<Buffer> adopt(std::string&& bytes);

  const std::byte* data() const { return data_; }
  // Writable pointer; nullptr for read-only views.
  std::byte* mutable_data() { return writable_ ? data_ : nullptr; }
  size_t size() const { return size_; }
  bool writable() const { return writable_; }

 private:
  Buffer() = default;
  static std::shared_ptr<Buffer> make_owned(size_t bytes, bool zero);
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  bool writable_ = false;
  std::shared_ptr<const void> owner_;
};

// How a tensor was stored in its ONNX file, kept so that saving writes it back the same way.
// Only lib/onnx reads or writes `proto_extras` (serialized TensorProto fields mixq does not
// interpret: doc_string, segment, unknown fields).
// kSparse: the model stored it as a sparse_initializer; the Tensor holds the dense values and
// `proto_extras` the whole SparseTensorProto, written back as it was.
struct TensorStorage {
  enum class Form : uint8_t { kRawData, kTypedFields, kExternal, kSparse };
  Form form = Form::kRawData;
  std::string external_location;  // as written in the model, for kExternal
  std::string proto_extras;
};

class Tensor {
 public:
  Tensor() = default;  // an empty float32 scalar-less placeholder; dtype() is kUndefined

  // Validating factory: zeroed storage for `dims`; refuses negative dims and sizes that overflow.
  static Expected<Tensor> zeros(DType dtype, const std::vector<int64_t>& dims);
  // As zeros() without zeroing the bytes (strings are still empty strings).
  static Expected<Tensor> uninitialized(DType dtype, const std::vector<int64_t>& dims);
  // Wraps existing bytes; refuses a buffer whose size does not match dtype x dims.
  static Expected<Tensor> from_buffer(DType dtype, std::vector<int64_t> dims,
                                      std::shared_ptr<const Buffer> buffer);
  static Expected<Tensor> from_strings(std::vector<int64_t> dims, std::vector<std::string> values);

  // Convenience constructors for small host tensors (tests, constant folding).
  static Tensor scalar_float(float v);
  static Tensor from_floats(const std::vector<int64_t>& dims, const std::vector<float>& values);
  static Tensor from_int64s(const std::vector<int64_t>& dims, const std::vector<int64_t>& values);

  DType dtype() const { return dtype_; }
  const std::vector<int64_t>& dims() const { return dims_; }
  size_t rank() const { return dims_.size(); }
  int64_t numel() const;
  // Bytes of element storage (0 for strings).
  size_t nbytes() const { return buffer_ ? buffer_->size() : 0; }

  const std::byte* raw_data() const { return buffer_ ? buffer_->data() : nullptr; }
  // Writable bytes; nullptr when the buffer is a read-only view.
  std::byte* mutable_raw_data();
  template <typename T>
  const T* data() const {
    return reinterpret_cast<const T*>(raw_data());
  }
  template <typename T>
  T* mutable_data() {
    return reinterpret_cast<T*>(mutable_raw_data());
  }
  const std::shared_ptr<const Buffer>& buffer() const { return buffer_; }
  const std::vector<std::string>& strings() const { return strings_; }

  // Element i converted to double / int64 (for small shape and constant tensors; not a hot path).
  // Refuses strings and out-of-range indices by returning 0; callers check dtype first.
  double element_as_double(int64_t i) const;
  int64_t element_as_int64(int64_t i) const;

  const std::string& name() const { return name_; }
  void set_name(std::string name) { name_ = std::move(name); }
  const TensorStorage& storage() const { return storage_; }
  TensorStorage& mutable_storage() { return storage_; }

 private:
  DType dtype_ = DType::kUndefined;
  std::vector<int64_t> dims_;
  std::shared_ptr<const Buffer> buffer_;
  std::vector<std::string> strings_;
  std::string name_;
  TensorStorage storage_;
};

// Number of elements for `dims`; nullopt for a negative dim or overflow past int64.
std::optional<int64_t> checked_numel(const std::vector<int64_t>& dims);

// "[2, 3, 4]"
std::string dims_to_string(const std::vector<int64_t>& dims);

}  // namespace mixq::ir
