// External tensor data: reading it safely from a model's folder and writing it to one file.
// Internal to lib/onnx.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "mixq/core/file_io.h"
#include "mixq/core/status.h"
#include "mixq/ir/tensor.h"

namespace mixq::onnx {

// Resolves `location` entries relative to the model's folder and hands out memory-mapped
// slices. Each file is mapped once and shared by every tensor that lives in it.
class ExternalDataResolver {
 public:
  explicit ExternalDataResolver(std::filesystem::path base_dir);
  // The model file itself: a location that resolves to it is refused (a model that references
  // itself). Empty: no such check.
  void set_model_file(std::filesystem::path file) { model_file_ = std::move(file); }

  // The `expected_bytes` bytes of tensor `tensor_name` at `offset` in `location`. `length`,
  // when present, must equal `expected_bytes`. Refuses absolute locations, locations that
  // leave the base folder (directly or through symbolic links), missing files and files shorter
  // than offset + length. Slices that are not aligned for `element_align` are copied.
  Expected<std::shared_ptr<const ir::Buffer>> read(std::string_view tensor_name,
                                                   const std::string& location, uint64_t offset,
                                                   std::optional<uint64_t> length,
                                                   size_t expected_bytes, size_t element_align);

 private:
  Expected<std::filesystem::path> resolve(std::string_view tensor_name,
                                          const std::string& location);

  std::filesystem::path base_dir_;
  std::filesystem::path model_file_;
  std::map<std::filesystem::path, std::shared_ptr<const MappedFile>> files_;
};

// Appends tensor bytes to one external data file, aligned so that each tensor can be mapped
// in place: 4 KiB for tensors of 1 MiB or more, 64 bytes otherwise. Zero 4 KiB blocks become
// holes (sparse file).
class ExternalDataWriter {
 public:
  // `data_path` is where the file is written; `location` is the name models refer to it by.
  static Expected<std::unique_ptr<ExternalDataWriter>> create(
      const std::filesystem::path& data_path, std::string location);

  // Writes the bytes and returns their offset in the file.
  Expected<uint64_t> append(const std::byte* data, size_t size);
  const std::string& location() const { return location_; }
  // 64-bit hash of the file's bytes so far (padding included): models name their data file
  // after it, so that a new data file never replaces the one an older model points at.
  uint64_t content_hash() const;
  Status commit() { return file_->commit(); }
  // Commits under `file_name` (in the same folder) instead of the name given to create().
  Status commit_as(const std::string& file_name) {
    return file_->commit_as(file_->path().parent_path() / file_name);
  }

 private:
  ExternalDataWriter() = default;
  void hash(const std::byte* data, size_t size);
  std::unique_ptr<AtomicFile> file_;
  std::string location_;
  uint64_t hash_ = 0x9e3779b97f4a7c15ull;
  uint64_t pending_ = 0;  // bytes not yet folded into hash_ (fewer than 8)
  int pending_bytes_ = 0;
  uint64_t hashed_ = 0;
};

}  // namespace mixq::onnx
