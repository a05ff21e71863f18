// InferContext: what a shape function sees of one node, and where it writes its results.
//
// The same shape function serves static inference (types with symbolic dims, constants only
// where the model has them) and execution (every input is a concrete tensor), so each op's
// output shape rules are written once.
//
// Rules for shape functions:
// - Unknown input types or shapes are normal (an unsupported op upstream, a dynamic dim): give
//   the outputs what can be known (often just the dtype) and return ok.
// - Return an error only for what is definitely wrong: a bad attribute, an impossible rank,
//   incompatible known dims. ctx.fail() names the node.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <vector>

#include "mixq/ir/graph.h"

namespace mixq::ir {

struct InferInput {
  ValueType type;                          // kind kUnknown when absent or unknown
  const Tensor* constant = nullptr;        // value when known (initializer, Constant, runtime)
  const std::vector<Dim>* data = nullptr;  // element values of a small integer tensor, as dims
  bool present = false;                    // false for omitted optional inputs
};

struct InferOutput {
  ValueType type;
  std::optional<std::vector<Dim>> data;
  std::optional<Tensor> constant;
};

class InferContext {
 public:
  // Infers a subgraph's outputs from the types of its inputs (If/Loop/Scan bodies).
  using SubgraphFn =
      std::function<Expected<std::vector<ValueType>>(const Graph&, const std::vector<ValueType>&)>;

  InferContext(const Node& node, int64_t opset, std::vector<InferInput> inputs, size_t num_outputs,
               SubgraphFn subgraph_fn = nullptr);

  const Node& node() const { return node_; }
  int64_t opset() const { return opset_; }

  // Inputs, counting omitted optional ones (has_input() is false for those and for indices past
  // the end).
  size_t num_inputs() const { return inputs_.size(); }
  bool has_input(size_t i) const { return i < inputs_.size() && inputs_[i].present; }
  const ValueType& input_type(size_t i) const;
  DType input_dtype(size_t i) const { return input_type(i).dtype; }
  // Shape when the input is a tensor of known rank; nullptr otherwise.
  const Shape* input_shape(size_t i) const;
  // The same as a value: nullopt when the rank is unknown.
  std::optional<Shape> input_shape_opt(size_t i) const {
    const Shape* s = input_shape(i);
    return s ? std::optional<Shape>(*s) : std::nullopt;
  }
  const Tensor* input_constant(size_t i) const;
  // Element values of an integer input as dims (known, symbolic or unknown); nullptr when not
  // tracked. Filled from constants too.
  const std::vector<Dim>* input_data(size_t i) const;
  // All element values when each is known (from a constant or tracked data).
  std::optional<std::vector<int64_t>> input_ints(size_t i) const;

  size_t num_outputs() const { return outputs_.size(); }
  bool has_output(size_t i) const;
  void set_output(size_t i, DType dtype, std::optional<Shape> shape);
  void set_output_type(size_t i, ValueType t);
  // Records the element values of a small integer output (Shape, Gather of a shape, ...).
  void set_output_data(size_t i, std::vector<Dim> data);
  void set_output_constant(size_t i, Tensor t);
  const std::vector<InferOutput>& outputs() const { return outputs_; }
  std::vector<InferOutput>& mutable_outputs() { return outputs_; }

  Expected<std::vector<ValueType>> infer_subgraph(const Graph& g,
                                                  const std::vector<ValueType>& inputs) const;

  // Attribute reads with the node named in errors.
  Expected<int64_t> attr_int(std::string_view name, int64_t fallback) const {
    return node_.attr_int(name, fallback);
  }
  Expected<float> attr_float(std::string_view name, float fallback) const {
    return node_.attr_float(name, fallback);
  }
  Expected<std::string> attr_string(std::string_view name, std::string fallback) const {
    return node_.attr_string(name, std::move(fallback));
  }
  Expected<std::optional<std::vector<int64_t>>> attr_ints(std::string_view name) const {
    return node_.attr_ints(name);
  }
  // A required attribute; missing gives an error naming it.
  Expected<int64_t> required_int(std::string_view name) const;

  template <typename... Args>
  Status fail(const Args&... args) const {
    return bad_input(node_.describe(), ": ", args...);
  }

 private:
  const Node& node_;
  int64_t opset_;
  std::vector<InferInput> inputs_;
  std::vector<InferOutput> outputs_;
  std::vector<std::vector<Dim>> constant_data_;  // input_data() for constant inputs
  SubgraphFn subgraph_fn_;
};

// --- Helpers shared by shape functions --------------------------------------------------------

// Maps a possibly negative axis into [0, rank); error when out of range.
Expected<int64_t> normalize_axis(const InferContext& ctx, int64_t axis, int64_t rank,
                                 std::string_view what = "axis");

// Multidirectional (numpy) broadcasting of two shapes; error on incompatible known dims.
Expected<Shape> broadcast_shapes(const InferContext& ctx, const Shape& a, const Shape& b);

// Broadcast of every present input's shape; nullopt when some rank is unknown.
Expected<std::optional<Shape>> broadcast_inputs(const InferContext& ctx, size_t first = 0,
                                                size_t last = SIZE_MAX);

// The first known dtype among the present inputs [first, last).
DType first_known_dtype(const InferContext& ctx, size_t first = 0, size_t last = SIZE_MAX);

// Output 0 takes input `from`'s type (dtype and shape).
Status propagate_type(InferContext& ctx, size_t from = 0, size_t to = 0);

// Dims of a known-rank shape of rank r with all dims unknown.
Shape unknown_shape(size_t rank);

}  // namespace mixq::ir
