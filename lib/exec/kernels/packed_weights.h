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

// Bytes of the largest weight packed for a single call (below).
inline constexpr int64_t kFreshPackLimit = int64_t{64} << 20;

// The packed float32 weight `data` of input `input`: packed_weight's value when `data` is
// the input's own data, else (a weight that is not an initializer, such as a DequantizeLinear
// output in a QDQ model, or a float16 weight widened into `data`) one made for this call and
// held by `fresh`. Every product with a packed operand is one FMA chain per output whatever the
// row count, so a node's outputs do not depend on how the data is split into runs; Eigen's
// sums do (docs/determinism.md). nullptr (Eigen, in place) when packed GEMMs are not
// available, for an initializer past the budget, and for a weight over kFreshPackLimit:
// packing a 2.4 GB model's 256 MiB weights per call took its 4-row QDQ run from 874 MiB to
// 2.4 GiB peak RSS (and from 3.5 to 5.4 s, with the column-walking pack_right of then;
// docs/large_models.md). The choice depends on the weight's size only, never on the rows.
template <typename T, typename Make>
const T* packed_weight_or_fresh(KernelContext& ctx, size_t input, const void* data, int64_t variant,
                                Make make, std::unique_ptr<T>& fresh) {
  if (!packed_gemm_available()) return nullptr;
  if (ctx.input(input).raw_data() == data) {
    if (const T* kept = packed_weight<T>(ctx, input, variant, make)) return kept;
    if (ctx.input_is_initializer(input)) return nullptr;
  }
  if (static_cast<int64_t>(ctx.input(input).nbytes()) > kFreshPackLimit) return nullptr;
  fresh = make();
  return fresh.get();
}

}  // namespace mixq::exec
