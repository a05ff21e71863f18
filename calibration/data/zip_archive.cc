#include "calibration/data/zip_archive.h"

#include <cstring>

namespace mixq::calib {
namespace {

constexpr uint32_t kEocdSig = 0x06054b50;
constexpr uint32_t kZip64LocatorSig = 0x07064b50;
constexpr uint32_t kZip64EocdSig = 0x06064b50;
constexpr uint32_t kCentralSig = 0x02014b50;
constexpr uint32_t kLocalSig = 0x04034b50;

class Reader {
 public:
  Reader(const std::byte* base, uint64_t size) : base_(base), size_(size) {}
  bool has(uint64_t off, uint64_t n) const { return off <= size_ && n <= size_ - off; }
  template <typename T>
  T get(uint64_t off) const {
    T v;
    std::memcpy(&v, base_ + off, sizeof(T));
    return v;
  }
  std::string str(uint64_t off, uint64_t n) const {
    return std::string(reinterpret_cast<const char*>(base_ + off), n);
  }

 private:
  const std::byte* base_;
  uint64_t size_;
};

}  // namespace

Expected<std::vector<ZipMember>> list_zip_members(const MappedFile& file) {
  const std::string what = file.path().string();
  auto corrupt = [&](const char* why) { return bad_input(what, ": not a valid .npz (", why, ")"); };
  const Reader r(file.data(), file.size());
  const uint64_t size = file.size();
  if (size < 22) return corrupt("too short for a zip archive");
  // The end-of-central-directory record is within the last 64 KiB + 22 bytes.
  uint64_t eocd = UINT64_MAX;
  const uint64_t lowest = size > 65557 ? size - 65557 : 0;
  for (uint64_t p = size - 22 + 1; p-- > lowest;) {
    if (r.get<uint32_t>(p) == kEocdSig) {
      eocd = p;
      break;
    }
  }
  if (eocd == UINT64_MAX) return corrupt("no end-of-central-directory record");
  uint64_t entries = r.get<uint16_t>(eocd + 10);
  uint64_t cd_size = r.get<uint32_t>(eocd + 12);
  uint64_t cd_offset = r.get<uint32_t>(eocd + 16);
  if (entries == 0xffff || cd_size == 0xffffffff || cd_offset == 0xffffffff) {
    if (eocd < 20 || r.get<uint32_t>(eocd - 20) != kZip64LocatorSig) {
      return corrupt("zip64 locator missing");
    }
    const uint64_t z = r.get<uint64_t>(eocd - 20 + 8);
    if (!r.has(z, 56) || r.get<uint32_t>(z) != kZip64EocdSig) return corrupt("bad zip64 record");
    entries = r.get<uint64_t>(z + 32);
    cd_size = r.get<uint64_t>(z + 40);
    cd_offset = r.get<uint64_t>(z + 48);
  }
  if (!r.has(cd_offset, cd_size)) return corrupt("central directory outside the file");

  std::vector<ZipMember> members;
  uint64_t p = cd_offset;
  for (uint64_t i = 0; i < entries; ++i) {
    if (!r.has(p, 46) || r.get<uint32_t>(p) != kCentralSig) return corrupt("bad central directory");
    ZipMember m;
    const uint16_t flags = r.get<uint16_t>(p + 8);
    m.method = r.get<uint16_t>(p + 10);
    m.crc32 = r.get<uint32_t>(p + 16);
    m.compressed_size = r.get<uint32_t>(p + 20);
    m.uncompressed_size = r.get<uint32_t>(p + 24);
    const uint16_t name_len = r.get<uint16_t>(p + 28);
    const uint16_t extra_len = r.get<uint16_t>(p + 30);
    const uint16_t comment_len = r.get<uint16_t>(p + 32);
    uint64_t local = r.get<uint32_t>(p + 42);
    if (!r.has(p + 46, uint64_t{name_len} + extra_len + comment_len)) {
      return corrupt("central directory entry outside the file");
    }
    m.name = r.str(p + 46, name_len);
    // Zip64 extra field: 64-bit values for the fields set to 0xffffffff, in this order.
    uint64_t e = p + 46 + name_len;
    const uint64_t e_end = e + extra_len;
    while (e + 4 <= e_end) {
      const uint16_t id = r.get<uint16_t>(e);
      const uint16_t len = r.get<uint16_t>(e + 2);
      if (e + 4 + len > e_end) break;
      if (id == 0x0001) {
        uint64_t q = e + 4;
        auto next = [&](uint64_t& field) {
          if (q + 8 <= e + 4 + len) {
            field = r.get<uint64_t>(q);
            q += 8;
          }
        };
        if (m.uncompressed_size == 0xffffffff) next(m.uncompressed_size);
        if (m.compressed_size == 0xffffffff) next(m.compressed_size);
        if (local == 0xffffffff) next(local);
      }
      e += 4 + len;
    }
    if (flags & 1) return bad_input(what, ": member '", m.name, "' is encrypted");
    if (m.method != 0 && m.method != 8) {
      return bad_input(what, ": member '", m.name, "' uses compression method ", m.method,
                       " (only stored and deflate are supported)");
    }
    if (!r.has(local, 30) || r.get<uint32_t>(local) != kLocalSig) {
      return corrupt("bad local header");
    }
    m.data_offset = local + 30 + r.get<uint16_t>(local + 26) + r.get<uint16_t>(local + 28);
    if (!r.has(m.data_offset, m.compressed_size)) {
      return bad_input(what, ": member '", m.name, "' is truncated");
    }
    members.push_back(std::move(m));
    p += 46 + name_len + extra_len + comment_len;
  }
  return members;
}

}  // namespace mixq::calib
