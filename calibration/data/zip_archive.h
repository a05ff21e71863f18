// Reading the member table of a ZIP archive (what an .npz is), zip64 included. Internal to
// calibration/data.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "mixq/core/file_io.h"
#include "mixq/core/status.h"

namespace mixq::calib {

struct ZipMember {
  std::string name;
  uint16_t method = 0;  // 0 stored, 8 deflate
  uint32_t crc32 = 0;
  uint64_t compressed_size = 0;
  uint64_t uncompressed_size = 0;
  uint64_t data_offset = 0;  // of the member's (compressed) bytes in the file
};

// Lists the members of the archive mapped in `file`. Refuses (bad input, naming the file)
// truncated or corrupt archives, encrypted members and compression other than stored/deflate.
Expected<std::vector<ZipMember>> list_zip_members(const MappedFile& file);

}  // namespace mixq::calib
