#include "mixq/ir/op_schema.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <tuple>

namespace mixq::ir {
namespace {

std::string_view canonical_domain(std::string_view d) { return d == "ai.onnx" ? "" : d; }

std::vector<OpSchema> build_registry() {
  std::vector<OpSchema> all;
  register_elementwise_schemas(all);
  register_math_schemas(all);
  register_nn_schemas(all);
  register_reduce_schemas(all);
  register_shape_ops_schemas(all);
  register_tensor_schemas(all);
  register_quant_schemas(all);
  register_control_schemas(all);
  register_rnn_schemas(all);
  register_loss_schemas(all);
  register_signal_schemas(all);
  auto key = [](const OpSchema& s) {
    return std::make_tuple(s.domain, s.op_type, s.since_version);
  };
  std::sort(all.begin(), all.end(),
            [&](const OpSchema& a, const OpSchema& b) { return key(a) < key(b); });
  for (size_t i = 1; i < all.size(); ++i) {
    if (key(all[i - 1]) == key(all[i])) {
      // A programming error in the registry itself: fail at startup, every time.
      std::fprintf(stderr, "mixq: internal error: op schema %s-%d registered twice\n",
                   std::string(all[i].op_type).c_str(), all[i].since_version);
      std::abort();
    }
  }
  return all;
}

}  // namespace

const std::vector<OpSchema>& all_op_schemas() {
  static const std::vector<OpSchema> registry = build_registry();
  return registry;
}

std::vector<const OpSchema*> op_schema_versions(std::string_view domain, std::string_view op_type) {
  domain = canonical_domain(domain);
  const auto& all = all_op_schemas();
  auto it = std::lower_bound(
      all.begin(), all.end(), std::make_pair(domain, op_type),
      [](const OpSchema& s, const auto& k) { return std::make_pair(s.domain, s.op_type) < k; });
  std::vector<const OpSchema*> out;
  for (; it != all.end() && it->domain == domain && it->op_type == op_type; ++it) {
    out.push_back(&*it);
  }
  return out;
}

const OpSchema* find_op_schema(std::string_view domain, std::string_view op_type, int64_t opset) {
  if (canonical_domain(domain).empty() && opset > kMaxSupportedOpset) return nullptr;
  const OpSchema* best = nullptr;
  for (const OpSchema* s : op_schema_versions(domain, op_type)) {
    if (s->since_version <= opset) best = s;
  }
  return best;
}

}  // namespace mixq::ir
