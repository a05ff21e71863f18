#include "mixq/calibration/data/npz_writer.h"

#include <zlib.h>

#include "mixq/calibration/data/npy.h"

namespace mixq::calib {
namespace {

constexpr uint64_t k32 = 0xffffffff;

void put16(std::string& s, uint16_t v) { s.append(reinterpret_cast<const char*>(&v), 2); }
void put32(std::string& s, uint32_t v) { s.append(reinterpret_cast<const char*>(&v), 4); }
void put64(std::string& s, uint64_t v) { s.append(reinterpret_cast<const char*>(&v), 8); }

uint32_t crc_of(uint32_t crc, const void* data, size_t n) {
  const auto* p = static_cast<const Bytef*>(data);
  while (n > 0) {
    const uInt chunk = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = static_cast<uint32_t>(crc32(crc, p, chunk));
    p += chunk;
    n -= chunk;
  }
  return crc;
}

}  // namespace

NpzWriter::~NpzWriter() = default;

Expected<std::unique_ptr<NpzWriter>> NpzWriter::create(const std::filesystem::path& path) {
  auto w = std::unique_ptr<NpzWriter>(new NpzWriter());
  MIXQ_ASSIGN_OR_RETURN(w->file_, AtomicFile::create(path));
  return w;
}

Status NpzWriter::add(const std::string& name, const ir::Tensor& t) {
  const std::string header = make_npy_header(t.dtype(), t.dims());
  if (header.empty()) {
    return unsupported(file_->path().string(), ": array '", name, "' is ", dtype_name(t.dtype()),
                       ", which NumPy cannot store");
  }
  Entry e;
  e.name = name + ".npy";
  e.offset = file_->offset();
  e.size = header.size() + t.nbytes();
  e.crc = crc_of(crc_of(0, header.data(), header.size()), t.raw_data(), t.nbytes());
  // Local header; sizes go to a zip64 extra field when they do not fit 32 bits.
  const bool zip64 = e.size >= k32;
  std::string h;
  put32(h, 0x04034b50);
  put16(h, zip64 ? 45 : 20);
  put16(h, 0);     // flags
  put16(h, 0);     // stored
  put16(h, 0);     // time
  put16(h, 0x21);  // date: 1980-01-01
  put32(h, e.crc);
  put32(h, zip64 ? static_cast<uint32_t>(k32) : static_cast<uint32_t>(e.size));
  put32(h, zip64 ? static_cast<uint32_t>(k32) : static_cast<uint32_t>(e.size));
  put16(h, static_cast<uint16_t>(e.name.size()));
  put16(h, zip64 ? 20 : 0);
  h += e.name;
  if (zip64) {
    put16(h, 0x0001);
    put16(h, 16);
    put64(h, e.size);
    put64(h, e.size);
  }
  MIXQ_RETURN_IF_ERROR(file_->write(h.data(), h.size()));
  MIXQ_RETURN_IF_ERROR(file_->write(header.data(), header.size()));
  MIXQ_RETURN_IF_ERROR(file_->write(t.raw_data(), t.nbytes()));
  entries_.push_back(std::move(e));
  return Status::ok_status();
}

Status NpzWriter::commit() {
  const uint64_t cd_offset = file_->offset();
  std::string cd;
  for (const Entry& e : entries_) {
    const bool big_size = e.size >= k32;
    const bool big_off = e.offset >= k32;
    std::string extra;
    if (big_size || big_off) {
      std::string vals;
      if (big_size) {
        put64(vals, e.size);
        put64(vals, e.size);
      }
      if (big_off) put64(vals, e.offset);
      put16(extra, 0x0001);
      put16(extra, static_cast<uint16_t>(vals.size()));
      extra += vals;
    }
    put32(cd, 0x02014b50);
    put16(cd, 45);  // made by
    put16(cd, big_size || big_off ? 45 : 20);
    put16(cd, 0);
    put16(cd, 0);
    put16(cd, 0);
    put16(cd, 0x21);
    put32(cd, e.crc);
    put32(cd, big_size ? static_cast<uint32_t>(k32) : static_cast<uint32_t>(e.size));
    put32(cd, big_size ? static_cast<uint32_t>(k32) : static_cast<uint32_t>(e.size));
    put16(cd, static_cast<uint16_t>(e.name.size()));
    put16(cd, static_cast<uint16_t>(extra.size()));
    put16(cd, 0);  // comment
    put16(cd, 0);  // disk
    put16(cd, 0);  // internal attributes
    put32(cd, 0);  // external attributes
    put32(cd, big_off ? static_cast<uint32_t>(k32) : static_cast<uint32_t>(e.offset));
    cd += e.name;
    cd += extra;
  }
  const uint64_t cd_size = cd.size();
  const uint64_t n = entries_.size();
  const bool zip64 = n >= 0xffff || cd_offset >= k32 || cd_size >= k32;
  if (zip64) {
    const uint64_t z = cd_offset + cd_size;
    put32(cd, 0x06064b50);
    put64(cd, 44);
    put16(cd, 45);
    put16(cd, 45);
    put32(cd, 0);
    put32(cd, 0);
    put64(cd, n);
    put64(cd, n);
    put64(cd, cd_size);
    put64(cd, cd_offset);
    put32(cd, 0x07064b50);
    put32(cd, 0);
    put64(cd, z);
    put32(cd, 1);
  }
  put32(cd, 0x06054b50);
  put16(cd, 0);
  put16(cd, 0);
  put16(cd, zip64 ? 0xffff : static_cast<uint16_t>(n));
  put16(cd, zip64 ? 0xffff : static_cast<uint16_t>(n));
  put32(cd, zip64 ? static_cast<uint32_t>(k32) : static_cast<uint32_t>(cd_size));
  put32(cd, zip64 ? static_cast<uint32_t>(k32) : static_cast<uint32_t>(cd_offset));
  put16(cd, 0);
  MIXQ_RETURN_IF_ERROR(file_->write(cd.data(), cd.size()));
  return file_->commit();
}

}  // namespace mixq::calib
