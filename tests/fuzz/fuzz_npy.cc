// libFuzzer harness: the .npy and .npz readers of calibration/data. Input starting with a ZIP
// signature ("PK") is read as an .npz archive, anything else as one .npy file; the harness writes
// it to a per-process scratch file (the readers memory-map paths), opens it with DataSource and
// reads from every array (see below). A bad-input Status is a normal outcome.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/npy.h"

namespace {

// Reading an array allocates what it reads; a file may declare far more than it holds (the
// readers must refuse that, not read past the data). So: the first and the last row of any
// array whose rows are small enough, and the whole array, then its two halves, when it is.
constexpr int64_t kMaxReadBytes = int64_t{64} << 20;

// Bytes of `dims` (from `first` on) of `a`'s elements, or kMaxReadBytes + 1 when larger.
int64_t declared_bytes(const mixq::calib::ArrayReader& a, size_t first) {
  int64_t n = std::max(1, mixq::dtype_bits(a.dtype()) / 8);
  for (size_t i = first; i < a.dims().size(); ++i) {
    const int64_t d = a.dims()[i];
    if (d < 0 || (d > 0 && n > kMaxReadBytes / d)) return kMaxReadBytes + 1;
    n *= d;
  }
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes = mixq::fuzz::as_view(data, size);
  const bool npz = bytes.substr(0, 2) == "PK";
  if (!npz) {
    auto header = mixq::calib::parse_npy_header(bytes, "fuzz.npy");
    (void)header;
  }
  const auto path = mixq::fuzz::write_scratch(npz ? "fuzz.npz" : "fuzz.npy", bytes);
  auto src = mixq::calib::DataSource::open(path);
  if (!src.ok()) return 0;
  for (const auto& a : (*src)->arrays()) {
    const int64_t rows = a->rows();
    if (declared_bytes(*a, 1) <= kMaxReadBytes && rows > 0) {
      (void)a->read_rows(0, 1);
      (void)a->read_rows(rows - 1, 1);
    }
    if (declared_bytes(*a, 0) > kMaxReadBytes) continue;
    (void)a->read_all();
    (void)a->read_rows(rows / 2, rows - rows / 2);
    (void)a->read_rows(0, rows / 2);  // going back restarts a compressed member
  }
  return 0;
}
