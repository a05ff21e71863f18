// Packed weights kept across runs in the node's state (KernelContext::node_state): MatMul,
// Gemm and Conv pack their constant weight for packed_gemm on the first run and reuse it.
// Internal.
#pragma once

#include <memory>
#include <vector>

#include "kernels/packed_gemm.h"
#include "mixq/exec/kernel.h"

namespace mixq::exec {

// The value make() returns for weight input `input`, made once and kept while the input is the
// same initializer (data, dims) and `variant` (e.g. a transpose flag) is unchanged. nullptr
// when packed GEMMs are not available in this build or the input is not an initializer.
template <typename T, typename Make>
const T* packed_weight(KernelContext& ctx, size_t input, int64_t variant, Make make) {
  if (!packed_gemm_available() || !ctx.input_is_initializer(input)) return nullptr;
  struct Entry : NodeState {
    const void* data = nullptr;
    std::vector<int64_t> dims;
    int64_t variant = 0;
    std::unique_ptr<T> value;
  };
  const ir::Tensor& w = ctx.input(input);
  auto& state = ctx.node_state();
  auto* e = dynamic_cast<Entry*>(state.get());
  if (e == nullptr || e->data != w.raw_data() || e->dims != w.dims() || e->variant != variant) {
    auto fresh = std::make_shared<Entry>();
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
