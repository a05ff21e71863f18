#include "mixq/onnx/external_data.h"

#include <cstring>

namespace mixq::onnx {
namespace {

// True when `path` (canonical) is `dir` (canonical) or lies below it.
bool is_within(const std::filesystem::path& path, const std::filesystem::path& dir) {
  auto p = path.begin();
  for (auto d = dir.begin(); d != dir.end(); ++d, ++p) {
    if (d->empty()) continue;  // trailing separator
    if (p == path.end() || *p != *d) return false;
  }
  return true;
}

}  // namespace

ExternalDataResolver::ExternalDataResolver(std::filesystem::path base_dir)
    : base_dir_(std::move(base_dir)) {}

Expected<std::filesystem::path> ExternalDataResolver::resolve(std::string_view tensor_name,
                                                              const std::string& location) {
  auto refuse = [&](std::string_view why) {
    return bad_input("tensor '", tensor_name, "': external data file '", location, "' ", why);
  };
  if (location.empty()) return refuse("is empty");
  if (location.find('\0') != std::string::npos) return refuse("contains a NUL character");
  const std::filesystem::path loc(location);
  if (loc.is_absolute() || loc.has_root_name()) {
    return refuse("is an absolute path; external data must be relative to the model's folder");
  }
  std::error_code ec;
  const std::filesystem::path base =
      std::filesystem::canonical(base_dir_.empty() ? std::filesystem::path(".") : base_dir_, ec);
  if (ec)
    return refuse(
        str_cat("cannot be resolved: model folder '", base_dir_.string(), "': ", ec.message()));
  const std::filesystem::path joined = base / loc;
  // Refuse escapes before touching the file: lexically (".." past the folder) ...
  const std::filesystem::path lexical = joined.lexically_normal();
  if (!is_within(lexical, base)) {
    return refuse(str_cat("escapes the model folder '", base.string(), "'"));
  }
  if (!std::filesystem::exists(joined, ec)) {
    return refuse(str_cat("does not exist (looked for '", joined.string(), "')"));
  }
  // ... and through symbolic links.
  const std::filesystem::path real = std::filesystem::canonical(joined, ec);
  if (ec) return refuse(str_cat("cannot be resolved: ", ec.message()));
  if (!is_within(real, base)) {
    return refuse(str_cat("resolves to '", real.string(), "', outside the model folder '",
                          base.string(), "' (symbolic link)"));
  }
  if (!model_file_.empty()) {
    std::error_code same_ec;
    if (std::filesystem::equivalent(real, model_file_, same_ec)) {
      return refuse("is the model file itself");
    }
  }
  return real;
}

Expected<std::shared_ptr<const ir::Buffer>> ExternalDataResolver::read(
    std::string_view tensor_name, const std::string& location, uint64_t offset,
    std::optional<uint64_t> length, size_t expected_bytes, size_t element_align) {
  MIXQ_ASSIGN_OR_RETURN(std::filesystem::path path, resolve(tensor_name, location));
  if (length && *length != expected_bytes) {
    return bad_input("tensor '", tensor_name, "': external data length ", *length, " in '",
                     location, "' does not match its shape and type (", expected_bytes, " bytes)");
  }
  auto it = files_.find(path);
  if (it == files_.end()) {
    auto mapped = MappedFile::open(path);
    if (!mapped.ok()) {
      return mapped.status().with_context(str_cat("tensor '", tensor_name, "'"));
    }
    it = files_.emplace(path, std::move(mapped).value()).first;
  }
  const std::shared_ptr<const MappedFile>& file = it->second;
  const uint64_t size = file->size();
  if (offset > size || expected_bytes > size - offset) {
    return bad_input("tensor '", tensor_name, "': external data file '", location, "' has ", size,
                     " bytes, shorter than offset ", offset, " + length ", expected_bytes);
  }
  if (expected_bytes == 0) return std::shared_ptr<const ir::Buffer>(ir::Buffer::allocate(0));
  const std::byte* p = file->data() + offset;
  if (reinterpret_cast<uintptr_t>(p) % element_align != 0) {
    auto copy = ir::Buffer::allocate(expected_bytes);
    std::memcpy(copy->mutable_data(), p, expected_bytes);
    return std::shared_ptr<const ir::Buffer>(std::move(copy));
  }
  return std::shared_ptr<const ir::Buffer>(
      ir::Buffer::view(p, expected_bytes, std::shared_ptr<const void>(file, file.get())));
}

Expected<std::unique_ptr<ExternalDataWriter>> ExternalDataWriter::create(
    const std::filesystem::path& data_path, std::string location) {
  MIXQ_ASSIGN_OR_RETURN(auto file, AtomicFile::create(data_path));
  auto w = std::unique_ptr<ExternalDataWriter>(new ExternalDataWriter());
  w->file_ = std::move(file);
  w->location_ = std::move(location);
  return w;
}

Expected<uint64_t> ExternalDataWriter::append(const std::byte* data, size_t size) {
  const uint64_t align = size >= (1u << 20) ? 4096 : 64;
  const uint64_t pad = (align - file_->offset() % align) % align;
  MIXQ_RETURN_IF_ERROR(file_->write_zeros(pad));
  static const std::byte kZero[4096] = {};
  hash(kZero, pad);
  const uint64_t offset = file_->offset();
  MIXQ_RETURN_IF_ERROR(file_->write_sparse(data, size));
  hash(data, size);
  return offset;
}

// A word-at-a-time multiply-xorshift hash (not cryptographic: it only has to tell two
// different outputs of the same model path apart). Chunk boundaries do not change the result.
void ExternalDataWriter::hash(const std::byte* data, size_t size) {
  constexpr uint64_t kMul = 0xff51afd7ed558ccdull;
  auto fold = [&](uint64_t w) {
    hash_ = (hash_ ^ w) * kMul;
    hash_ ^= hash_ >> 29;
  };
  size_t i = 0;
  while (i < size && pending_bytes_ != 0) {
    pending_ |= static_cast<uint64_t>(data[i++]) << (8 * pending_bytes_);
    if (++pending_bytes_ == 8) {
      fold(pending_);
      pending_ = 0;
      pending_bytes_ = 0;
    }
  }
  for (; i + 8 <= size; i += 8) {
    uint64_t w;
    std::memcpy(&w, data + i, 8);
    fold(w);
  }
  for (; i < size; ++i) {
    pending_ |= static_cast<uint64_t>(data[i]) << (8 * pending_bytes_);
    ++pending_bytes_;
  }
  hashed_ += size;
}

uint64_t ExternalDataWriter::content_hash() const {
  uint64_t h = hash_;
  h = (h ^ pending_ ^ (static_cast<uint64_t>(pending_bytes_) << 56)) * 0xc4ceb9fe1a85ec53ull;
  h = (h ^ hashed_) * 0xff51afd7ed558ccdull;
  return h ^ (h >> 33);
}

}  // namespace mixq::onnx
