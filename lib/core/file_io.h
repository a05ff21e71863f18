// File access shared by every layer: read-only memory maps for models, external data and
// calibration arrays, and atomic output files.
//
// Outputs are never written in place: AtomicFile writes a temporary file in the destination's
// folder and renames it over the destination on commit(), so a crash leaves either the previous
// file or the new one, never a partial file. A process killed before commit() leaves its
// temporary file (".NAME.tmp-PID-N") behind; the next AtomicFile for the same NAME removes those
// whose PID is no longer running (docs/determinism.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "mixq/core/status.h"

namespace mixq {

// A whole file mapped read-only. Empty files map to size 0 with a null data pointer.
class MappedFile {
 public:
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  // Maps `path`. Errors (missing, a folder, unreadable) name the path.
  static Expected<std::shared_ptr<const MappedFile>> open(const std::filesystem::path& path);

  const std::byte* data() const { return data_; }
  size_t size() const { return size_; }
  const std::filesystem::path& path() const { return path_; }

 private:
  MappedFile() = default;
  std::byte* data_ = nullptr;
  size_t size_ = 0;
  std::filesystem::path path_;
};

// Writes a file atomically: a temporary sibling file that commit() fsyncs and renames over
// `path`. Destroying an uncommitted AtomicFile removes the temporary file. create() first
// removes the temporary files of earlier writers of `path` that were killed (their process is
// gone); files of live writers are left alone.
class AtomicFile {
 public:
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  static Expected<std::unique_ptr<AtomicFile>> create(const std::filesystem::path& path);

  Status write(const void* data, size_t size);
  // Writes `size` bytes, seeking over 4 KiB blocks that are all zero so that the file stays
  // sparse where the data is zero (large zero-initialized weights cost no disk).
  Status write_sparse(const void* data, size_t size);
  Status write_zeros(size_t size);
  uint64_t offset() const { return offset_; }
  // File descriptor for streaming writers (protobuf); keep offset() in sync via advance().
  int fd() const { return fd_; }
  void advance(uint64_t bytes) { offset_ += bytes; }

  // Flushes, fsyncs and renames the temporary file to the destination.
  Status commit();
  // As commit(), to another name in the same folder (a name that depends on the contents,
  // known only once everything is written).
  Status commit_as(const std::filesystem::path& final_path);

  const std::filesystem::path& path() const { return path_; }

 private:
  AtomicFile() = default;
  int fd_ = -1;
  uint64_t offset_ = 0;
  uint64_t file_size_ = 0;  // bytes materialized so far (seeks leave holes past it)
  std::filesystem::path path_;
  std::filesystem::path temp_path_;
  bool committed_ = false;
};

// Reads a whole (small) file into a string; errors name the path.
Expected<std::string> read_file(const std::filesystem::path& path);

// Writes `contents` atomically to `path`.
Status write_file_atomic(const std::filesystem::path& path, std::string_view contents);

}  // namespace mixq
