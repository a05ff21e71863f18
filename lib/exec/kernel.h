// Kernels: the functions that compute one ONNX op on the CPU, and what they see of the node.
//
// Before a kernel runs, the executor has run the op's shape function on the concrete inputs, so
// a kernel usually allocates its outputs with output(i) and only computes values. Kernels for
// data-dependent ops (NonZero, Unique, ...) allocate with output(i, dtype, dims).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/exec/thread_pool.h"
#include "mixq/ir/graph.h"
#include "mixq/ir/tensor.h"

namespace mixq::exec {

class KernelContext;

// Base of what a kernel keeps for its node across runs (KernelContext::node_state).
struct NodeState {
  virtual ~NodeState() = default;
};
using KernelFn = Status (*)(KernelContext& ctx);

// Runs a subgraph (If/Loop/Scan body) with the given values for its inputs; returns its outputs.
using SubgraphRunner =
    std::function<Expected<std::vector<ir::Tensor>>(const ir::Graph&, std::vector<ir::Tensor>)>;

class KernelContext {
 public:
  KernelContext(const ir::Node& node, int64_t opset, std::vector<const ir::Tensor*> inputs,
                std::vector<ir::Tensor>& outputs, std::vector<ir::ValueType> inferred,
                ThreadPool& pool, SubgraphRunner subgraphs,
                std::shared_ptr<NodeState>* node_state = nullptr);

  const ir::Node& node() const { return node_; }
  int64_t opset() const { return opset_; }

  // Inputs, counting omitted optional ones.
  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i] != nullptr; }
  // Input i; only valid when has_input(i).
  const ir::Tensor& input(size_t i) const { return *inputs_[i]; }
  const ir::Tensor* input_or_null(size_t i) const { return has_input(i) ? inputs_[i] : nullptr; }

  size_t num_outputs() const { return outputs_.size(); }
  // False for outputs the model leaves out (optional outputs with an empty name).
  bool has_output(size_t i) const { return i < outputs_.size() && node_.output(i) != nullptr; }

  // The type the shape function computed for output i (kind kUnknown when it could not).
  const ir::ValueType& inferred_type(size_t i) const;
  // Allocates output i (uninitialized) with its inferred dtype and dims; an internal error
  // when the shape function could not compute them.
  Expected<ir::Tensor*> output(size_t i);
  // Allocates output i (uninitialized) with the given dtype and dims.
  Expected<ir::Tensor*> output(size_t i, DType dtype, const std::vector<int64_t>& dims);
  // Sets output i to an existing tensor (sharing its buffer: Reshape, Identity, ...).
  void set_output(size_t i, ir::Tensor t);
  // Inputs whose buffers output 0 may take over (KernelDef::in_place): output(0, ...) uses the
  // first with the requested dtype and dims instead of allocating. The executor offers only
  // inputs whose last reader is this node and whose buffer nothing else holds.
  void offer_buffers(std::vector<const ir::Tensor*> donors) { donors_ = std::move(donors); }

  ThreadPool& pool() { return pool_; }

  // What a kernel keeps for its node from one run to the next (weights packed for its GEMM);
  // empty on the first run. Without an executor-provided slot it lives for this call only.
  std::shared_ptr<NodeState>& node_state() { return node_state_ ? *node_state_ : own_state_; }
  // True when input i is the node's initializer itself (not a value fed over it), so data
  // derived from it stays valid on later runs.
  bool input_is_initializer(size_t i) const;

  Expected<std::vector<ir::Tensor>> run_subgraph(const ir::Graph& g,
                                                 std::vector<ir::Tensor> inputs) const;

  template <typename... Args>
  Status fail(const Args&... args) const {
    return bad_input(node_.describe(), ": ", args...);
  }
  template <typename... Args>
  Status not_supported(const Args&... args) const {
    return unsupported(node_.describe(), ": ", args...);
  }

 private:
  const ir::Node& node_;
  int64_t opset_;
  std::vector<const ir::Tensor*> inputs_;
  std::vector<ir::Tensor>& outputs_;
  std::vector<ir::ValueType> inferred_;
  ThreadPool& pool_;
  SubgraphRunner subgraphs_;
  std::shared_ptr<NodeState>* node_state_ = nullptr;
  std::shared_ptr<NodeState> own_state_;
  std::vector<const ir::Tensor*> donors_;
};

// A set of dtypes, as a bit mask over the ONNX numbers.
class TypeSet {
 public:
  constexpr TypeSet() = default;
  constexpr TypeSet(std::initializer_list<DType> types) {
    for (DType t : types) bits_ |= bit(t);
  }
  static constexpr TypeSet any() {
    TypeSet s;
    s.bits_ = ~0u;
    return s;
  }
  constexpr bool contains(DType t) const { return (bits_ & bit(t)) != 0; }
  constexpr bool intersects(TypeSet o) const { return (bits_ & o.bits_) != 0; }
  constexpr bool is_any() const { return bits_ == ~0u; }
  constexpr TypeSet operator|(TypeSet o) const {
    TypeSet s;
    s.bits_ = bits_ | o.bits_;
    return s;
  }
  // "float32, float16" or "any type".
  std::string to_string() const;

 private:
  static constexpr uint32_t bit(DType t) { return 1u << static_cast<uint32_t>(t); }
  uint32_t bits_ = 0;
};

// Common sets.
namespace types {
inline constexpr TypeSet kFloat32{DType::kFloat32};
// Floating types computed in float32 (float16/bfloat16 are converted on load and store).
inline constexpr TypeSet kFloats{DType::kFloat32, DType::kFloat16, DType::kBFloat16,
                                 DType::kFloat64};
inline constexpr TypeSet kSignedInts{DType::kInt8, DType::kInt16, DType::kInt32, DType::kInt64};
inline constexpr TypeSet kUnsignedInts{DType::kUint8, DType::kUint16, DType::kUint32,
                                       DType::kUint64};
inline constexpr TypeSet kInts = kSignedInts | kUnsignedInts;
inline constexpr TypeSet kNumeric = kFloats | kInts;
inline constexpr TypeSet kBool{DType::kBool};
}  // namespace types

// One kernel registration: `op_type` in `domain` for opsets since..until, when the dtype of input
// `type_input` is in `types` (type_input -1: the kernel does not depend on an input's type, e.g.
// Constant).
struct KernelDef {
  std::string_view domain;  // "" for the default ONNX domain
  std::string_view op_type;
  int since_version;
  int until_version;
  TypeSet types;
  int type_input;
  KernelFn fn;
  // Output 0 may be written over an input of the same dtype and dims that nothing else holds
  // (the executor offers such inputs, see KernelContext::offer_buffers). Only for kernels that
  // compute each output element from the inputs' elements at the same index, reading them
  // before writing it, through pointers not marked __restrict.
  bool in_place = false;
};

}  // namespace mixq::exec
