// Packed weights kept across runs in the node's state (KernelContext::node_state): MatMul,
// Gemm and Conv pack their constant weight for packed_gemm on the first run and reuse it.
// Internal.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "kernels/packed_gemm.h"
#include "mixq/exec/kernel.h"

namespace mixq::exec {

// Bytes of weights kept packed by every executor of the process, and the most it keeps. A
// packed copy is as large as the weight, and the weights of a large model are mmap'ed from its
// file (they cost no memory of their own): packing all of them doubled the memory of a 2.4 GB
// model (docs/large_models.md). Weights past the budget are multiplied in place, unpacked.
inline std::atomic<int64_t> g_packed_weight_bytes{0};
inline constexpr int64_t kPackedWeightBudget = int64_t{512} << 20;

// The value make() returns for weight input `input`, made once and kept while the input is the
// same initializer (data, dims) and `variant` (e.g. a transpose flag) is unchanged. nullptr
// when packed GEMMs are not available in this build, the input is not an initializer, or
// keeping it would take the packed weights past kPackedWeightBudget.
template <typename T, typename Make>
const T* packed_weight(KernelContext& ctx, size_t input, int64_t variant, Make make) {
  if (!packed_gemm_available() || !ctx.input_is_initializer(input)) return nullptr;
  struct Entry : NodeState {
    ~Entry() override { g_packed_weight_bytes -= bytes; }
    const void* data = nullptr;
    std::vector<int64_t> dims;
    int64_t variant = 0;
    int64_t bytes = 0;
    std::unique_ptr<T> value;
  };
  const ir::Tensor& w = ctx.input(input);
  auto& state = ctx.node_state();
  auto* e = dynamic_cast<Entry*>(state.get());
  if (e == nullptr || e->data != w.raw_data() || e->dims != w.dims() || e->variant != variant) {
    state.reset();  // a stale entry gives its bytes back first
    const auto bytes = static_cast<int64_t>(w.nbytes());
    if (g_packed_weight_bytes.fetch_add(bytes) + bytes > kPackedWeightBudget) {
      g_packed_weight_bytes -= bytes;
      return nullptr;
    }
    auto fresh = std::make_shared<Entry>();
    fresh->bytes = bytes;
    fresh->data = w.raw_data();
    fresh->dims = w.dims();
    fresh->variant = variant;
    fresh->value = make();
    e = fresh.get();
    state = std::move(fresh);
  }
  return e->value.get();
}

}  // namespace mixq::exec
