// SHA-256 (FIPS 180-4), for the model and data hashes in RANGES.json and validation bundles.
// Streaming: update() any number of times, then hex_digest(). sha256_file reads a file through
// in blocks (no full copy in memory). On x86-64 CPUs with the SHA extensions (SHA-NI: AMD Zen,
// Intel Ice Lake and later) the compression function uses them, chosen at run time; the
// portable code is used everywhere else and the two give the same digest (tested).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "mixq/core/status.h"

namespace mixq {

class Sha256 {
 public:
  enum class Impl { kAuto, kPortable };
  explicit Sha256(Impl impl = Impl::kAuto);
  void update(const void* data, size_t n);
  void update(std::string_view s) { update(s.data(), s.size()); }
  // The digest as 64 lowercase hex digits; the object is finished afterwards.
  std::string hex_digest();

  // Whether this CPU has the SHA extensions kAuto uses.
  static bool hardware_available();

 private:
  void blocks(const uint8_t* p, size_t count);

  std::array<uint32_t, 8> h_;
  bool hardware_;
  std::array<uint8_t, 64> buf_{};
  size_t buf_len_ = 0;
  uint64_t total_ = 0;
};

// The SHA-256 of a file's bytes; bad input naming the file when it cannot be read.
Expected<std::string> sha256_file(const std::filesystem::path& path);

}  // namespace mixq
