#include "mixq/ir/memory_budget.h"

#include <algorithm>
#include <cstdio>
#include <limits>

#include "mixq/ir/walk.h"

namespace mixq::ir {
namespace {

uint64_t saturating_add(uint64_t a, uint64_t b) {
  uint64_t s;
  return __builtin_add_overflow(a, b, &s) ? std::numeric_limits<uint64_t>::max() : s;
}

std::string mib(uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1024.0 * 1024.0));
  return buf;
}

uint64_t stored_bytes(const Tensor& t) {
  if (t.dtype() != DType::kString) return t.nbytes();
  uint64_t n = 0;
  for (const auto& s : t.strings()) n = saturating_add(n, s.size());
  return n;
}

}  // namespace

std::optional<uint64_t> known_bytes(const ValueType& t) {
  if (!t.is_tensor() || !t.shape) return 0;
  int64_t n = 1;
  bool overflow = false;
  for (const Dim& d : *t.shape) {
    if (!d.is_known()) continue;
    if (d.value() == 0) return 0;
    if (d.value() < 0 || __builtin_mul_overflow(n, d.value(), &n)) overflow = true;
  }
  if (overflow) return std::nullopt;
  if (t.dtype == DType::kUndefined || t.dtype == DType::kString) return static_cast<uint64_t>(n);
  const auto bytes = dtype_storage_bytes(t.dtype, static_cast<uint64_t>(n));
  if (!bytes || *bytes > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return std::nullopt;
  }
  return *bytes;
}

Status check_type_size(const ValueType& t, std::string_view what) {
  if (known_bytes(t)) return Status::ok_status();
  return bad_input(what, " has type ", t.to_string(),
                   ": its element count or byte size overflows 64 bits");
}

MemoryEstimate estimate_memory(const Model& model, const InferenceResult& inferred) {
  MemoryEstimate e;
  for_each_tensor(model.graph(), [&](const Tensor& t, const Value* init, const Node* node) {
    const uint64_t b = stored_bytes(t);
    e.initializer_bytes = saturating_add(e.initializer_bytes, b);
    e.tensors.push_back({init ? init->name() : t.name(),
                         init ? "initializer" : "constant of " + node->describe(), b});
  });
  for_each_graph(model.graph(), [&](const Graph& g) {
    auto count = [&](const Value* v) {
      if (v == nullptr || v->initializer() != nullptr) return;
      const ValueType& t = inferred.type_of(v);
      if (!t.is_tensor()) return;
      if (!t.shape || !shape_to_ints(*t.shape)) {
        ++e.unsized;
        return;
      }
      const auto b = known_bytes(t);
      const uint64_t bytes = b ? *b : std::numeric_limits<uint64_t>::max();
      e.activation_bytes = saturating_add(e.activation_bytes, bytes);
      e.tensors.push_back({v->name(), "activation", bytes});
    };
    for (const Value* v : g.inputs()) count(v);
    for (const auto& n : g.nodes()) {
      for (const Value* v : n->outputs()) count(v);
    }
  });
  std::stable_sort(e.tensors.begin(), e.tensors.end(),
                   [](const TensorBytes& a, const TensorBytes& b) { return a.bytes > b.bytes; });
  return e;
}

Status check_memory_limit(const Model& model, int64_t limit_mib, const InferOptions& options) {
  if (limit_mib <= 0) return Status::ok_status();
  MIXQ_ASSIGN_OR_RETURN(InferenceResult inferred, infer_shapes(model, options));
  const MemoryEstimate e = estimate_memory(model, inferred);
  const uint64_t limit = static_cast<uint64_t>(limit_mib) * 1024 * 1024;
  if (e.total() <= limit) return Status::ok_status();
  std::string largest;
  for (size_t i = 0; i < e.tensors.size() && i < 5; ++i) {
    const TensorBytes& t = e.tensors[i];
    largest += str_cat(i ? ", " : "", "'", t.name, "' ", mib(t.bytes), " (", t.kind, ")");
  }
  const std::string where = model.source_path.empty() ? "the model" : model.source_path.string();
  return bad_input(where, ": its tensors need ", mib(e.total()), " (initializers ",
                   mib(e.initializer_bytes), ", activations ", mib(e.activation_bytes),
                   e.unsized ? str_cat(", ", e.unsized, " activations of unknown size not counted")
                             : std::string(),
                   "), over --max-memory ", limit_mib, " MiB; largest: ", largest);
}

}  // namespace mixq::ir
