#include "mixq/exec/kernel_registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <tuple>

#include "mixq/ir/op_schema.h"

namespace mixq::exec {
namespace {

std::string_view canonical_domain(std::string_view d) { return d == "ai.onnx" ? "" : d; }

std::vector<KernelDef> build_registry() {
  std::vector<KernelDef> all;
  register_math_kernels(all);
  register_nn_kernels(all);
  register_tensor_kernels(all);
  register_reduce_kernels(all);
  register_quant_kernels(all);
  register_control_kernels(all);
  register_rnn_kernels(all);
  register_loss_kernels(all);
  register_signal_kernels(all);
  std::sort(all.begin(), all.end(), [](const KernelDef& a, const KernelDef& b) {
    return std::tie(a.domain, a.op_type, a.since_version) <
           std::tie(b.domain, b.op_type, b.since_version);
  });
  const std::string conflict = check_kernel_list(all);
  if (!conflict.empty()) {
    // A programming error in the registry itself: fail at startup, every time.
    std::fprintf(stderr, "mixq: internal error: %s\n", conflict.c_str());
    std::abort();
  }
  return all;
}

std::pair<std::vector<KernelDef>::const_iterator, std::vector<KernelDef>::const_iterator> entries(
    std::string_view domain, std::string_view op_type) {
  const auto& all = cpu_kernels();
  domain = canonical_domain(domain);
  auto lo = std::lower_bound(
      all.begin(), all.end(), std::make_pair(domain, op_type),
      [](const KernelDef& d, const auto& k) { return std::make_pair(d.domain, d.op_type) < k; });
  auto hi = lo;
  while (hi != all.end() && hi->domain == domain && hi->op_type == op_type) ++hi;
  return {lo, hi};
}

bool opset_ok(const KernelDef& d, int64_t opset) {
  return d.since_version <= opset && opset <= d.until_version &&
         (!canonical_domain(d.domain).empty() || opset <= ir::kMaxSupportedOpset);
}

}  // namespace

std::string check_kernel_list(const std::vector<KernelDef>& defs) {
  for (size_t i = 0; i < defs.size(); ++i) {
    const KernelDef& a = defs[i];
    if (a.since_version > a.until_version || a.fn == nullptr) {
      return str_cat("kernel ", a.op_type, "-", a.since_version, " has an empty range or no fn");
    }
    for (size_t j = i + 1; j < defs.size(); ++j) {
      const KernelDef& b = defs[j];
      if (a.domain != b.domain || a.op_type != b.op_type) continue;
      const bool versions =
          a.since_version <= b.until_version && b.since_version <= a.until_version;
      if (versions && a.types.intersects(b.types)) {
        return str_cat("kernels ", a.op_type, "-", a.since_version, "..", a.until_version, " [",
                       a.types.to_string(), "] and ", b.op_type, "-", b.since_version, "..",
                       b.until_version, " [", b.types.to_string(), "] overlap");
      }
    }
  }
  return "";
}

const std::vector<KernelDef>& cpu_kernels() {
  static const std::vector<KernelDef> registry = build_registry();
  return registry;
}

const KernelDef* find_kernel(std::string_view domain, std::string_view op_type, int64_t opset,
                             const std::vector<DType>& input_dtypes) {
  auto [lo, hi] = entries(domain, op_type);
  for (auto it = lo; it != hi; ++it) {
    if (!opset_ok(*it, opset)) continue;
    if (it->type_input < 0) return &*it;
    const auto k = static_cast<size_t>(it->type_input);
    if (k < input_dtypes.size() && it->types.contains(input_dtypes[k])) return &*it;
  }
  return nullptr;
}

bool has_kernel(std::string_view domain, std::string_view op_type, int64_t opset) {
  auto [lo, hi] = entries(domain, op_type);
  for (auto it = lo; it != hi; ++it) {
    if (opset_ok(*it, opset)) return true;
  }
  return false;
}

std::string describe_kernel_miss(const ir::Node& node, int64_t opset, DType dtype) {
  std::string have;
  auto [lo, hi] = entries(node.domain(), node.op_type());
  for (auto it = lo; it != hi; ++it) {
    have += str_cat(have.empty() ? "" : "; ", it->op_type, "-", it->since_version, "..",
                    it->until_version, " for ", it->types.to_string());
  }
  const std::string domain = node.is_onnx_domain() ? "" : node.domain() + ":";
  return str_cat(
      "no CPU kernel for ", domain, node.op_type(), "-", opset,
      dtype == DType::kUndefined ? std::string() : str_cat(" with ", dtype_name(dtype), " input"),
      " (", node.describe(), "); ",
      have.empty() ? std::string("mixq has no kernel for this op") : "mixq has " + have);
}

}  // namespace mixq::exec
