// Graph, Node, Value: mixq's in-memory form of an ONNX graph.
//
// A Graph owns its Nodes and Values. A Value is one SSA name: produced by exactly one node
// output, or a graph input, or an initializer (constant data). Nodes point at their input and
// output Values and Values keep their uses, so rewrites can walk the graph both ways. Optional
// inputs and outputs that the model leaves out (the ONNX empty name "") are nullptr.
//
// Subgraphs (If/Loop/Scan bodies) are Graphs owned by a node's attribute; they can use Values of
// enclosing graphs by name, and the outer node records those as implicit inputs so that
// topological order and liveness see them.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "mixq/ir/attribute.h"
#include "mixq/ir/dim.h"
#include "mixq/ir/tensor.h"

namespace mixq::ir {

class Graph;
class Node;

// The type of a Value. Tensors carry dtype and (optional) shape; other ONNX types (sequence,
// optional, map, sparse tensor) are kept as opaque serialized TypeProto bytes in `proto`.
struct ValueType {
  enum class Kind : uint8_t { kUnknown, kTensor, kOther };
  Kind kind = Kind::kUnknown;
  DType dtype = DType::kUndefined;
  std::optional<Shape> shape;  // nullopt: rank unknown
  std::string proto;           // kOther only (lib/onnx reads it)

  static ValueType tensor(DType dtype, std::optional<Shape> shape = std::nullopt);
  bool is_tensor() const { return kind == Kind::kTensor; }
  // "float32[batch, 128]", "float32[?rank]", "?", "non-tensor"
  std::string to_string() const;
};

struct Use {
  Node* node;
  int input_index;
};

class Value {
 public:
  const std::string& name() const { return name_; }
  Graph* graph() const { return graph_; }

  const ValueType& type() const { return type_; }
  ValueType& mutable_type() { return type_; }
  void set_type(ValueType t) { type_ = std::move(t); }

  // The node output that defines this value, or nullptr for graph inputs and initializers.
  Node* producer() const { return producer_; }
  int producer_output() const { return producer_output_; }
  const std::vector<Use>& uses() const { return uses_; }

  // Constant data for initializers; nullptr otherwise.
  const Tensor* initializer() const { return initializer_ ? &*initializer_ : nullptr; }
  void set_initializer(Tensor t);
  void clear_initializer() { initializer_.reset(); }

  // True when the value had a value_info entry in the model (saved back as value_info).
  bool has_value_info() const { return has_value_info_; }
  void set_has_value_info(bool v) { has_value_info_ = v; }
  // Serialized fields of the value_info entry that mixq does not interpret (lib/onnx only).
  const std::string& info_extras() const { return info_extras_; }
  void set_info_extras(std::string s) { info_extras_ = std::move(s); }

 private:
  friend class Graph;
  friend class Node;
  Value(Graph* graph, std::string name) : graph_(graph), name_(std::move(name)) {}

  Graph* graph_;
  std::string name_;
  ValueType type_;
  Node* producer_ = nullptr;
  int producer_output_ = -1;
  std::vector<Use> uses_;
  std::optional<Tensor> initializer_;
  bool has_value_info_ = false;
  std::string info_extras_;
};

class Node {
 public:
  const std::string& name() const { return name_; }
  const std::string& op_type() const { return op_type_; }
  // Domain as written in the model ("" and "ai.onnx" both mean the default domain).
  const std::string& domain() const { return domain_; }
  // True for the default ONNX domain.
  bool is_onnx_domain() const { return domain_.empty() || domain_ == "ai.onnx"; }
  Graph* graph() const { return graph_; }
  // Position in the graph's node list when the model was loaded (stable across passes); used in
  // messages as "#index".
  int64_t index() const { return index_; }

  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  Value* input(size_t i) const { return i < inputs_.size() ? inputs_[i] : nullptr; }
  Value* output(size_t i) const { return i < outputs_.size() ? outputs_[i] : nullptr; }
  // Values of enclosing graphs used inside this node's subgraphs.
  const std::vector<Value*>& implicit_inputs() const { return implicit_inputs_; }

  // Appends an input (nullptr for an omitted optional input) and records the use.
  void add_input(Value* v);
  // Replaces input i, updating use lists.
  void set_input(size_t i, Value* v);
  // Appends an output; fails when the value already has a producer (SSA violation).
  Status add_output(Value* v);
  // Makes `v` (a value with no producer) output i instead of the current one, which is left
  // without a producer (for rewrites that put a node in front of an output).
  Status replace_output(size_t i, Value* v);

  const std::vector<Attribute>& attributes() const { return attributes_; }
  std::vector<Attribute>& mutable_attributes() { return attributes_; }
  const Attribute* attr(std::string_view name) const;
  Attribute& add_attribute(std::string name, AttrType type);

  // Typed attribute reads. A missing attribute gives `fallback`; one of another type gives an
  // error naming the node and the attribute.
  Expected<int64_t> attr_int(std::string_view name, int64_t fallback) const;
  Expected<float> attr_float(std::string_view name, float fallback) const;
  Expected<std::string> attr_string(std::string_view name, std::string fallback) const;
  // A missing attribute gives nullopt.
  Expected<std::optional<std::vector<int64_t>>> attr_ints(std::string_view name) const;
  Expected<std::optional<std::vector<float>>> attr_floats(std::string_view name) const;

  // "Conv 'conv_3' (#41)": how messages name a node.
  std::string describe() const;

  const std::string& proto_extras() const { return proto_extras_; }
  void set_proto_extras(std::string s) { proto_extras_ = std::move(s); }
  void set_name(std::string name) { name_ = std::move(name); }

 private:
  friend class Graph;
  Node(Graph* graph, std::string op_type, std::string domain, std::string name, int64_t index)
      : graph_(graph),
        op_type_(std::move(op_type)),
        domain_(std::move(domain)),
        name_(std::move(name)),
        index_(index) {}

  Graph* graph_;
  std::string op_type_;
  std::string domain_;
  std::string name_;
  int64_t index_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::vector<Value*> implicit_inputs_;
  std::vector<Attribute> attributes_;
  std::string proto_extras_;
};

class Graph {
 public:
  // `owner` is the node whose attribute holds this graph (nullptr for the main graph).
  explicit Graph(Graph* parent = nullptr, Node* owner = nullptr);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  const std::string& name() const { return name_; }
  void set_name(std::string n) { name_ = std::move(n); }
  Graph* parent() const { return parent_; }
  Node* owner_node() const { return owner_; }

  // Creates a value named `name` in this graph; nullptr when the name is already taken here.
  Value* create_value(std::string name);
  // A name not yet used in this graph or its enclosing graphs: `base`, else base_1, base_2, ...
  std::string unique_name(std::string_view base) const;
  // This graph only / this graph and its enclosing graphs.
  Value* find_value(std::string_view name) const;
  Value* lookup_value(std::string_view name) const;
  // All values, in creation order.
  const std::vector<std::unique_ptr<Value>>& values() const { return values_; }

  Node* add_node(std::string op_type, std::string domain, std::string name);
  // Deletes a node whose outputs nothing reads (and that are not graph outputs); its inputs
  // lose the use. Fails (internal error) otherwise.
  Status remove_node(Node* n);
  const std::vector<std::unique_ptr<Node>>& nodes() const { return nodes_; }
  size_t num_nodes() const { return nodes_.size(); }

  const std::vector<Value*>& inputs() const { return inputs_; }
  const std::vector<Value*>& outputs() const { return outputs_; }
  // `decl_extras`: serialized ValueInfoProto fields of this declaration that mixq does not
  // interpret (lib/onnx only); the Value's type is written over them on save.
  void add_input(Value* v, std::string decl_extras = {});
  void add_output(Value* v, std::string decl_extras = {});
  const std::string& input_extras(size_t i) const { return input_extras_[i]; }
  const std::string& output_extras(size_t i) const { return output_extras_[i]; }
  bool is_input(const Value* v) const;
  bool is_output(const Value* v) const;

  // Initializers in the order they were added.
  const std::vector<Value*>& initializers() const { return initializers_; }
  void add_initializer(Value* v, Tensor t);
  // Drops v's constant data and its place among the initializers (the Value stays, unused
  // values are simply not saved). For rewrites that replace a weight.
  void remove_initializer(Value* v);
  // Reorders the node list topologically (see topological_order), so that the saved model is
  // sorted after rewrites appended nodes. Fails on a cycle.
  Status sort_nodes();

  // Values that had value_info entries, in file order.
  const std::vector<Value*>& value_infos() const { return value_infos_; }
  void add_value_info(Value* v);

  // Records `v` (a value of an enclosing graph) as used by a node of this graph or below, and
  // adds it to the implicit inputs of every owner node up to the graph that defines it.
  void note_outer_use(Value* v);

  const std::string& proto_extras() const { return proto_extras_; }
  void set_proto_extras(std::string s) { proto_extras_ = std::move(s); }

 private:
  Graph* parent_;
  Node* owner_;
  std::string name_;
  std::vector<std::unique_ptr<Value>> values_;
  std::unordered_map<std::string, Value*> by_name_;
  std::vector<std::unique_ptr<Node>> nodes_;
  std::vector<Value*> inputs_;
  std::vector<Value*> outputs_;
  std::vector<std::string> input_extras_;
  std::vector<std::string> output_extras_;
  std::vector<Value*> initializers_;
  std::vector<Value*> value_infos_;
  std::string proto_extras_;
};

// Nodes of `graph` in an order where every node comes after the producers of its inputs
// (explicit and implicit). Among ready nodes the one earliest in the node list goes first, so
// the order is deterministic and equals the file order for a sorted model. A cycle gives a
// bad-input error naming the nodes on it.
Expected<std::vector<Node*>> topological_order(const Graph& graph);

}  // namespace mixq::ir
