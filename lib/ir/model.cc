#include "mixq/ir/model.h"

namespace mixq::ir {

Model::Model() : graph_(std::make_unique<Graph>()) {}

int64_t Model::opset(std::string_view domain) const {
  const bool want_default = domain.empty() || domain == "ai.onnx";
  for (const auto& o : opset_imports) {
    const bool is_default = o.domain.empty() || o.domain == "ai.onnx";
    if (want_default ? is_default : o.domain == domain) return o.version;
  }
  return 0;
}

}  // namespace mixq::ir
