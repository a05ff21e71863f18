// Writing named arrays to an .npz file NumPy reads (uncompressed ZIP of .npy members; zip64
// records when sizes need them). The file is written atomically on commit().
#pragma once

#include <filesystem>
#include <memory>
#include <string>

#include "mixq/core/file_io.h"
#include "mixq/core/status.h"
#include "mixq/ir/tensor.h"

namespace mixq::calib {

class NpzWriter {
 public:
  ~NpzWriter();
  static Expected<std::unique_ptr<NpzWriter>> create(const std::filesystem::path& path);

  // Adds `name`.npy. Refuses dtypes NumPy has no type for (bfloat16, FP8, 4-bit, strings).
  Status add(const std::string& name, const ir::Tensor& t);
  // Writes the central directory and renames the file into place.
  Status commit();

 private:
  struct Entry {
    std::string name;
    uint32_t crc = 0;
    uint64_t size = 0;
    uint64_t offset = 0;
  };
  NpzWriter() = default;
  std::unique_ptr<AtomicFile> file_;
  std::vector<Entry> entries_;
};

}  // namespace mixq::calib
