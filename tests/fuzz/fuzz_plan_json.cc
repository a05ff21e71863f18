// libFuzzer harness: PLAN.json as `mixq convert --plan` reads it (calib::load_plan). The input is
// written to a per-process scratch file; a bad-input Status is a normal outcome, a warning about
// another model's hash too; an exception or a sanitizer report is a finding.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz_util.h"
#include "mixq/calibration/convert.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const auto path = mixq::fuzz::write_scratch("PLAN.json", mixq::fuzz::as_view(data, size));
  size_t warnings = 0;
  auto plan = mixq::calib::load_plan(
      path, "0000000000000000000000000000000000000000000000000000000000000000",
      [&warnings](const std::string&) { ++warnings; });
  if (!plan.ok()) return 0;
  // What convert does with a loaded plan: look every layer up by name.
  for (const auto& e : plan->layers) {
    if (plan->find(e.layer) == nullptr) __builtin_trap();
  }
  return 0;
}
