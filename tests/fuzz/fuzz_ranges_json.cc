// libFuzzer harness: RANGES.json as `mixq convert|analyze --ranges` read it. The input is written
// to a per-process scratch file and loaded with calib::load_ranges against kFuzzModelHash (the
// seed corpus records that hash, so mutations reach past the model check); a loaded file is then
// queried as convert and analyze query it: range_for for every activation, method and format,
// and the FP16 emitter's "absmax". A bad-input Status is a normal outcome; an exception or a
// sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "mixq/calibration/calibrate.h"
#include "mixq/quant/qdq_emit.h"

namespace {
constexpr const char* kFuzzModelHash =
    "0000000000000000000000000000000000000000000000000000000000000000";
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = mixq::fuzz::write_scratch("RANGES.json", mixq::fuzz::as_view(data, size));
  auto ranges = mixq::calib::load_ranges(path, kFuzzModelHash);
  if (!ranges.ok()) return 0;
  const auto& acts = (*ranges)["activations"];
  for (const auto& [tensor, entry] : acts.items()) {
    for (auto method : {mixq::calib::Method::kMinMax, mixq::calib::Method::kPercentile,
                        mixq::calib::Method::kEntropy, mixq::calib::Method::kMse}) {
      for (auto p : {mixq::quant::Precision::kInt8, mixq::quant::Precision::kFp8}) {
        std::optional<double> r = mixq::calib::range_for(*ranges, tensor, p, method);
        (void)r;
      }
    }
    // As convert's and analyze's FP16 absmax lookups read it.
    if (acts.contains(tensor) && acts[tensor].contains("absmax")) {
      (void)acts[tensor]["absmax"].get<double>();
    }
  }
  return 0;
}
