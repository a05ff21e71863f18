#include "mixq/calibration/data/data_source.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>

#include "calibration/data/zip_archive.h"
#include "mixq/calibration/data/npy.h"
#include "mixq/core/file_io.h"
#include "mixq/onnx/model_io.h"

namespace mixq::calib {
namespace {

size_t row_bytes(DType dtype, const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (size_t k = 1; k < dims.size(); ++k) n *= dims[k];
  return static_cast<size_t>(n) * static_cast<size_t>(dtype_bits(dtype) / 8);
}

std::vector<int64_t> rows_dims(const std::vector<int64_t>& dims, int64_t count) {
  if (dims.empty()) return {};
  std::vector<int64_t> d = dims;
  d[0] = count;
  return d;
}

Status check_range(const ArrayReader& a, int64_t begin, int64_t count) {
  if (begin < 0 || count < 0 || begin + count > a.rows() || (a.dims().empty() && count != 1)) {
    return internal_error(a.label(), ": rows [", begin, ", ", begin + count, ") of ", a.rows());
  }
  return Status::ok_status();
}

// An array whose bytes are in a memory-mapped file (.npy, or an .npz member stored without
// compression). Aligned rows are handed out without copying.
class MappedArray : public ArrayReader {
 public:
  MappedArray(std::shared_ptr<const MappedFile> file, uint64_t data_offset, NpyHeader h,
              std::string name, std::string label)
      : file_(std::move(file)), data_offset_(data_offset) {
    name_ = std::move(name);
    dtype_ = h.dtype;
    dims_ = std::move(h.dims);
    label_ = std::move(label);
  }

  Expected<ir::Tensor> read_rows(int64_t begin, int64_t count) override {
    MIXQ_RETURN_IF_ERROR(check_range(*this, begin, count));
    const size_t rb =
        dims_.empty() ? static_cast<size_t>(dtype_bits(dtype_) / 8) : row_bytes(dtype_, dims_);
    const std::byte* p = file_->data() + data_offset_ + static_cast<uint64_t>(begin) * rb;
    const size_t bytes = static_cast<size_t>(count) * rb;
    const size_t align = static_cast<size_t>(std::max(1, dtype_bits(dtype_) / 8));
    std::shared_ptr<const ir::Buffer> buf;
    if (reinterpret_cast<uintptr_t>(p) % align == 0) {
      buf = ir::Buffer::view(p, bytes, std::shared_ptr<const void>(file_, file_.get()));
    } else {
      auto copy = ir::Buffer::allocate_uninitialized(bytes);
      std::memcpy(copy->mutable_data(), p, bytes);
      buf = std::move(copy);
    }
    return ir::Tensor::from_buffer(dtype_, rows_dims(dims_, count), std::move(buf));
  }

 private:
  std::shared_ptr<const MappedFile> file_;
  uint64_t data_offset_;
};

// A deflate-compressed .npz member, inflated as rows are read.
class DeflateArray : public ArrayReader {
 public:
  DeflateArray(std::shared_ptr<const MappedFile> file, ZipMember member, std::string label)
      : file_(std::move(file)), member_(std::move(member)) {
    label_ = std::move(label);
  }
  ~DeflateArray() override {
    if (open_) inflateEnd(&z_);
  }

  // Inflates the .npy header; must succeed before the reader is used.
  Status init(std::string name) {
    name_ = std::move(name);
    MIXQ_RETURN_IF_ERROR(restart());
    std::string head;
    // The header is at most a few KiB; grow until it parses.
    for (size_t want = 128; want <= (1u << 20); want *= 4) {
      std::string more(want - head.size(), '\0');
      MIXQ_ASSIGN_OR_RETURN(size_t got, inflate_into(more.data(), more.size()));
      head.append(more.data(), got);
      auto h = parse_npy_header(head, label_);
      if (h.ok()) {
        dtype_ = h->dtype;
        dims_ = h->dims;
        data_start_ = h->data_offset;
        return restart();
      }
      if (h.status().message().find("truncated") == std::string::npos || got == 0) {
        return h.status();
      }
    }
    return bad_input(label_, ": .npy header too large");
  }

  Expected<ir::Tensor> read_rows(int64_t begin, int64_t count) override {
    MIXQ_RETURN_IF_ERROR(check_range(*this, begin, count));
    const size_t rb =
        dims_.empty() ? static_cast<size_t>(dtype_bits(dtype_) / 8) : row_bytes(dtype_, dims_);
    const uint64_t target = data_start_ + static_cast<uint64_t>(begin) * rb;
    if (target < position_) MIXQ_RETURN_IF_ERROR(restart());
    std::vector<char> skip(1 << 16);
    while (position_ < target) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(skip.size(), target - position_));
      MIXQ_ASSIGN_OR_RETURN(size_t got, inflate_into(skip.data(), n));
      if (got < n) return bad_input(label_, ": compressed data ends early");
    }
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor t, ir::Tensor::uninitialized(dtype_, rows_dims(dims_, count)));
    const size_t bytes = static_cast<size_t>(count) * rb;
    MIXQ_ASSIGN_OR_RETURN(size_t got,
                          inflate_into(reinterpret_cast<char*>(t.mutable_raw_data()), bytes));
    if (got < bytes) return bad_input(label_, ": compressed data ends early");
    return t;
  }

 private:
  Status restart() {
    if (open_) inflateEnd(&z_);
    std::memset(&z_, 0, sizeof z_);
    if (inflateInit2(&z_, -MAX_WBITS) != Z_OK) return internal_error("zlib init failed");
    open_ = true;
    z_.next_in =
        const_cast<Bytef*>(reinterpret_cast<const Bytef*>(file_->data() + member_.data_offset));
    remaining_in_ = member_.compressed_size;
    position_ = 0;
    return Status::ok_status();
  }

  // Inflates up to n bytes into out; returns how many were produced (fewer at the end).
  Expected<size_t> inflate_into(char* out, size_t n) {
    size_t produced = 0;
    while (produced < n) {
      if (z_.avail_in == 0 && remaining_in_ > 0) {
        const uInt chunk = static_cast<uInt>(std::min<uint64_t>(remaining_in_, 1u << 30));
        z_.avail_in = chunk;
        remaining_in_ -= chunk;
      }
      const uInt ask = static_cast<uInt>(std::min<size_t>(n - produced, 1u << 30));
      z_.next_out = reinterpret_cast<Bytef*>(out + produced);
      z_.avail_out = ask;
      const int rc = inflate(&z_, Z_NO_FLUSH);
      const size_t made = ask - z_.avail_out;
      produced += made;
      position_ += made;
      if (rc == Z_STREAM_END) break;
      if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return bad_input(label_, ": corrupt compressed data (zlib error ", rc, ")");
      }
      if (made == 0 && z_.avail_in == 0 && remaining_in_ == 0) break;
    }
    return produced;
  }

  std::shared_ptr<const MappedFile> file_;
  ZipMember member_;
  z_stream z_{};
  bool open_ = false;
  uint64_t remaining_in_ = 0;
  uint64_t position_ = 0;  // bytes of the uncompressed .npy stream produced so far
  uint64_t data_start_ = 0;
};

// A tensor from an input_N.pb file: loaded on first use, then sliced.
class PbArray : public ArrayReader {
 public:
  static Expected<std::unique_ptr<PbArray>> open(const std::filesystem::path& file,
                                                 std::string fallback_name) {
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor t, onnx::load_tensor_file(file));
    auto a = std::unique_ptr<PbArray>(new PbArray());
    a->name_ = t.name().empty() ? std::move(fallback_name) : t.name();
    a->dtype_ = t.dtype();
    a->dims_ = t.dims();
    a->label_ = file.string();
    a->tensor_ = std::move(t);
    return a;
  }

  Expected<ir::Tensor> read_rows(int64_t begin, int64_t count) override {
    MIXQ_RETURN_IF_ERROR(check_range(*this, begin, count));
    if (dims_.empty() || (begin == 0 && count == rows())) return tensor_;
    if (dtype_ == DType::kString || dtype_bits(dtype_) < 8) {
      return unsupported(label_, ": cannot split ", dtype_name(dtype_), " tensors into rows");
    }
    const size_t rb = row_bytes(dtype_, dims_);
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor t, ir::Tensor::uninitialized(dtype_, rows_dims(dims_, count)));
    std::memcpy(t.mutable_raw_data(), tensor_.raw_data() + static_cast<size_t>(begin) * rb,
                static_cast<size_t>(count) * rb);
    return t;
  }

 private:
  PbArray() = default;
  ir::Tensor tensor_;
};

Status add_npz(const std::filesystem::path& path, std::vector<std::unique_ptr<ArrayReader>>& out) {
  MIXQ_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  MIXQ_ASSIGN_OR_RETURN(auto members, list_zip_members(*file));
  for (auto& m : members) {
    std::string name = m.name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".npy") == 0) {
      name.resize(name.size() - 4);
    }
    const std::string label = path.string() + ":" + name;
    if (m.method == 0) {
      const std::string_view bytes(reinterpret_cast<const char*>(file->data() + m.data_offset),
                                   static_cast<size_t>(m.compressed_size));
      MIXQ_ASSIGN_OR_RETURN(NpyHeader h, parse_npy_header(bytes, label));
      // An overflowing byte size is refused too (treated as 0 it passed this check); compared by
      // subtraction, as data_offset + bytes can wrap. parse_npy_header checked data_offset.
      const auto data_bytes =
          dtype_storage_bytes(h.dtype, static_cast<uint64_t>(ir::checked_numel(h.dims).value()));
      if (!data_bytes || *data_bytes > m.compressed_size - h.data_offset) {
        return bad_input(label, ": array data is truncated");
      }
      out.push_back(std::make_unique<MappedArray>(file, m.data_offset + h.data_offset, std::move(h),
                                                  name, label));
    } else {
      auto a = std::make_unique<DeflateArray>(file, m, label);
      MIXQ_RETURN_IF_ERROR(a->init(name));
      out.push_back(std::move(a));
    }
  }
  return Status::ok_status();
}

Expected<std::unique_ptr<ArrayReader>> open_npy(const std::filesystem::path& path) {
  MIXQ_ASSIGN_OR_RETURN(auto file, MappedFile::open(path));
  const std::string_view bytes(reinterpret_cast<const char*>(file->data()), file->size());
  MIXQ_ASSIGN_OR_RETURN(NpyHeader h, parse_npy_header(bytes, path.string()));
  const auto need =
      dtype_storage_bytes(h.dtype, static_cast<uint64_t>(ir::checked_numel(h.dims).value()));
  if (!need || *need > file->size() - h.data_offset) {  // (h.data_offset + *need can wrap)
    return bad_input(path.string(), ": array data is truncated (", file->size(), " bytes, need ",
                     h.data_offset + need.value_or(0), ")");
  }
  const uint64_t off = h.data_offset;
  return std::unique_ptr<ArrayReader>(
      std::make_unique<MappedArray>(file, off, std::move(h), path.stem().string(), path.string()));
}

}  // namespace

Expected<ir::Tensor> ArrayReader::read_all() { return read_rows(0, rows()); }

ArrayReader* DataSource::find(std::string_view name) const {
  for (const auto& a : arrays_) {
    if (a->name() == name) return a.get();
  }
  return nullptr;
}

Expected<std::unique_ptr<DataSource>> DataSource::open(
    const std::filesystem::path& path, const std::vector<std::string>& positional_names) {
  auto src = std::unique_ptr<DataSource>(new DataSource());
  src->path_ = path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) {
    return bad_input(path.string(), ": data file does not exist");
  }
  if (std::filesystem::is_directory(path, ec)) {
    std::vector<std::filesystem::path> npy, pb;
    for (const auto& e : std::filesystem::directory_iterator(path, ec)) {
      if (e.path().extension() == ".npy") npy.push_back(e.path());
      if (e.path().extension() == ".pb" && e.path().stem().string().rfind("input_", 0) == 0) {
        pb.push_back(e.path());
      }
    }
    if (!npy.empty() && !pb.empty()) {
      return bad_input(path.string(), ": holds both .npy and input_N.pb files; use one form");
    }
    if (!npy.empty()) {
      std::sort(npy.begin(), npy.end());
      for (const auto& f : npy) {
        MIXQ_ASSIGN_OR_RETURN(auto a, open_npy(f));
        src->arrays_.push_back(std::move(a));
      }
      src->description_ = str_cat(path.string(), " (folder of .npy, ", npy.size(), " arrays)");
    } else if (!pb.empty()) {
      // input_0.pb, input_1.pb, ... in numeric order.
      for (size_t i = 0;; ++i) {
        const auto f = path / ("input_" + std::to_string(i) + ".pb");
        if (!std::filesystem::exists(f)) break;
        const std::string fallback =
            i < positional_names.size() ? positional_names[i] : "input_" + std::to_string(i);
        MIXQ_ASSIGN_OR_RETURN(auto a, PbArray::open(f, fallback));
        src->arrays_.push_back(std::move(a));
      }
      src->description_ =
          str_cat(path.string(), " (ONNX test data, ", src->arrays_.size(), " tensors)");
    } else {
      return bad_input(path.string(), ": no .npy or input_N.pb files in this folder");
    }
  } else if (path.extension() == ".npz") {
    MIXQ_RETURN_IF_ERROR(add_npz(path, src->arrays_));
    src->description_ = str_cat(path.string(), " (npz, ", src->arrays_.size(), " arrays)");
  } else if (path.extension() == ".npy") {
    MIXQ_ASSIGN_OR_RETURN(auto a, open_npy(path));
    src->arrays_.push_back(std::move(a));
    src->description_ = str_cat(path.string(), " (npy)");
  } else {
    return bad_input(path.string(),
                     ": unknown data format (expected .npz, .npy, a folder of .npy files, or an "
                     "ONNX test_data_set folder)");
  }
  std::map<std::string, int> seen;
  for (const auto& a : src->arrays_) {
    if (seen[a->name()]++)
      return bad_input(path.string(), ": array '", a->name(), "' appears twice");
  }
  return src;
}

Expected<std::optional<NonFinite>> find_nonfinite(const DataSource& data) {
  for (const auto& a : data.arrays()) {
    if (!dtype_is_float(a->dtype()) || dtype_bits(a->dtype()) < 8) continue;
    const int64_t rows = a->rows();
    constexpr int64_t kChunk = 256;
    for (int64_t begin = 0; begin < rows; begin += kChunk) {
      const int64_t count = std::min(kChunk, rows - begin);
      MIXQ_ASSIGN_OR_RETURN(ir::Tensor t, a->read_rows(begin, count));
      const int64_t n = t.numel();
      const int64_t per_row = count > 0 ? n / count : 0;
      for (int64_t i = 0; i < n; ++i) {
        const double v = t.dtype() == DType::kFloat32 ? t.data<float>()[i] : t.element_as_double(i);
        if (!std::isfinite(v)) {
          return std::optional<NonFinite>(NonFinite{a->label(), begin + i / per_row, v});
        }
      }
    }
  }
  return std::optional<NonFinite>();
}

Status check_eval_data_finite(const std::filesystem::path& eval) {
  // Unreadable data is the command's to report, where it reads it (after the model's checks).
  auto data = DataSource::open(eval);
  if (!data.ok()) return Status::ok_status();
  auto bad = find_nonfinite(**data);
  if (!bad.ok() || !*bad) return Status::ok_status();
  const NonFinite& at = **bad;
  return bad_input(at.label, ": sample ", at.sample, " holds ",
                   std::isnan(at.value) ? "NaN" : "Inf",
                   "; evaluation data must be finite (calibration data may hold such samples: "
                   "they are left out of the ranges)");
}

}  // namespace mixq::calib
