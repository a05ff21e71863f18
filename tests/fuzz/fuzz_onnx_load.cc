// libFuzzer harness: ONNX bytes -> ir::Model -> shape inference, as `mixq inspect` runs on load
// (onnx::parse_model, then analysis::summarize_model with the CPU kernel registry deciding what
// is supported). A bad-input Status is a normal outcome; a crash, a sanitizer report, a timeout
// or an exception escaping the library is a finding.
#include <cstddef>
#include <cstdint>

#include "fuzz_util.h"
#include "mixq/analysis/model_summary.h"
#include "mixq/exec/kernel_registry.h"
#include "mixq/onnx/model_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // External data is resolved against an empty folder, so references to it fail cleanly.
  auto model = mixq::onnx::parse_model(mixq::fuzz::as_view(data, size), mixq::fuzz::scratch_dir(),
                                       "fuzz.onnx");
  if (!model.ok()) return 0;
  mixq::analysis::SummaryOptions so;
  so.is_supported = [](const mixq::ir::Node& n, int64_t opset) {
    return mixq::exec::has_kernel(n.domain(), n.op_type(), opset);
  };
  auto summary = mixq::analysis::summarize_model(**model, so);
  (void)summary;
  // Saving what was loaded is what convert does last; exercise the writer too.
  auto bytes = mixq::onnx::serialize_model(**model);
  (void)bytes;
  return 0;
}
