#include "mixq/ir/graph.h"

#include <algorithm>

namespace mixq::ir {

std::string_view attr_type_name(AttrType t) {
  switch (t) {
    case AttrType::kUndefined:
      return "undefined";
    case AttrType::kFloat:
      return "float";
    case AttrType::kInt:
      return "int";
    case AttrType::kString:
      return "string";
    case AttrType::kTensor:
      return "tensor";
    case AttrType::kGraph:
      return "graph";
    case AttrType::kFloats:
      return "floats";
    case AttrType::kInts:
      return "ints";
    case AttrType::kStrings:
      return "strings";
    case AttrType::kTensors:
      return "tensors";
    case AttrType::kGraphs:
      return "graphs";
    case AttrType::kSparseTensor:
      return "sparse_tensor";
    case AttrType::kSparseTensors:
      return "sparse_tensors";
    case AttrType::kTypeProto:
      return "type_proto";
    case AttrType::kTypeProtos:
      return "type_protos";
  }
  return "unknown";
}

Attribute::Attribute() = default;
Attribute::~Attribute() = default;
Attribute::Attribute(Attribute&&) noexcept = default;
Attribute& Attribute::operator=(Attribute&&) noexcept = default;

ValueType ValueType::tensor(DType dtype, std::optional<Shape> shape) {
  ValueType t;
  t.kind = Kind::kTensor;
  t.dtype = dtype;
  t.shape = std::move(shape);
  return t;
}

std::string ValueType::to_string() const {
  switch (kind) {
    case Kind::kUnknown:
      return "?";
    case Kind::kOther:
      return "non-tensor";
    case Kind::kTensor:
      break;
  }
  std::string out(dtype == DType::kUndefined ? "?" : dtype_name(dtype));
  return out + (shape ? shape_to_string(*shape) : std::string("[?rank]"));
}

void Value::set_initializer(Tensor t) { initializer_ = std::move(t); }

// ---------------------------------------------------------------------------------------------
// Node

void Node::add_input(Value* v) {
  inputs_.push_back(v);
  if (v) v->uses_.push_back(Use{this, static_cast<int>(inputs_.size()) - 1});
}

void Node::set_input(size_t i, Value* v) {
  if (i >= inputs_.size()) inputs_.resize(i + 1, nullptr);
  if (Value* old = inputs_[i]) {
    auto& uses = old->uses_;
    uses.erase(std::remove_if(uses.begin(), uses.end(),
                              [&](const Use& u) {
                                return u.node == this && u.input_index == static_cast<int>(i);
                              }),
               uses.end());
  }
  inputs_[i] = v;
  if (v) v->uses_.push_back(Use{this, static_cast<int>(i)});
}

Status Node::add_output(Value* v) {
  if (v && (v->producer_ != nullptr || v->initializer() != nullptr || v->graph()->is_input(v))) {
    outputs_.push_back(nullptr);
    return bad_input(describe(), ": output '", v->name(), "' is already defined (by ",
                     v->producer_ ? v->producer_->describe()
                                  : (v->initializer() ? std::string("an initializer")
                                                      : std::string("a graph input")),
                     "); every value must have exactly one producer");
  }
  outputs_.push_back(v);
  if (v) {
    v->producer_ = this;
    v->producer_output_ = static_cast<int>(outputs_.size()) - 1;
  }
  return Status::ok_status();
}

Status Node::replace_output(size_t i, Value* v) {
  if (i >= outputs_.size() || v == nullptr || v->producer_ != nullptr ||
      v->initializer() != nullptr || v->graph()->is_input(v)) {
    return internal_error(describe(), ": cannot make '", v ? v->name() : "", "' output ", i);
  }
  if (Value* old = outputs_[i]) {
    old->producer_ = nullptr;
    old->producer_output_ = -1;
  }
  outputs_[i] = v;
  v->producer_ = this;
  v->producer_output_ = static_cast<int>(i);
  return Status::ok_status();
}

const Attribute* Node::attr(std::string_view name) const {
  for (const auto& a : attributes_) {
    if (a.name == name) return &a;
  }
  return nullptr;
}

Attribute& Node::add_attribute(std::string name, AttrType type) {
  attributes_.emplace_back();
  attributes_.back().name = std::move(name);
  attributes_.back().type = type;
  return attributes_.back();
}

namespace {
Status wrong_attr_type(const Node& n, const Attribute& a, AttrType want) {
  return bad_input(n.describe(), ": attribute '", a.name, "' is ", attr_type_name(a.type),
                   ", expected ", attr_type_name(want));
}
}  // namespace

Expected<int64_t> Node::attr_int(std::string_view name, int64_t fallback) const {
  const Attribute* a = attr(name);
  if (!a) return fallback;
  if (a->type != AttrType::kInt) return wrong_attr_type(*this, *a, AttrType::kInt);
  return a->i;
}

Expected<float> Node::attr_float(std::string_view name, float fallback) const {
  const Attribute* a = attr(name);
  if (!a) return fallback;
  if (a->type != AttrType::kFloat) return wrong_attr_type(*this, *a, AttrType::kFloat);
  return a->f;
}

Expected<std::string> Node::attr_string(std::string_view name, std::string fallback) const {
  const Attribute* a = attr(name);
  if (!a) return fallback;
  if (a->type != AttrType::kString) return wrong_attr_type(*this, *a, AttrType::kString);
  return a->s;
}

Expected<std::optional<std::vector<int64_t>>> Node::attr_ints(std::string_view name) const {
  const Attribute* a = attr(name);
  if (!a) return std::optional<std::vector<int64_t>>();
  if (a->type != AttrType::kInts) return wrong_attr_type(*this, *a, AttrType::kInts);
  return std::optional<std::vector<int64_t>>(a->ints);
}

Expected<std::optional<std::vector<float>>> Node::attr_floats(std::string_view name) const {
  const Attribute* a = attr(name);
  if (!a) return std::optional<std::vector<float>>();
  if (a->type != AttrType::kFloats) return wrong_attr_type(*this, *a, AttrType::kFloats);
  return std::optional<std::vector<float>>(a->floats);
}

std::string Node::describe() const {
  if (!name_.empty()) return str_cat(op_type_, " '", name_, "' (#", index_, ")");
  // Unnamed nodes (common in exported models) are named by their first output.
  for (const Value* v : outputs_) {
    if (v) return str_cat(op_type_, " (#", index_, ", output '", v->name(), "')");
  }
  return str_cat(op_type_, " (#", index_, ")");
}

// ---------------------------------------------------------------------------------------------
// Graph

Graph::Graph(Graph* parent, Node* owner) : parent_(parent), owner_(owner) {}
Graph::~Graph() = default;

Value* Graph::create_value(std::string name) {
  if (by_name_.count(name)) return nullptr;
  auto v = std::unique_ptr<Value>(new Value(this, name));
  Value* raw = v.get();
  values_.push_back(std::move(v));
  by_name_.emplace(std::move(name), raw);
  return raw;
}

Value* Graph::find_value(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  return it == by_name_.end() ? nullptr : it->second;
}

Value* Graph::lookup_value(std::string_view name) const {
  for (const Graph* g = this; g != nullptr; g = g->parent_) {
    if (Value* v = g->find_value(name)) return v;
  }
  return nullptr;
}

Node* Graph::add_node(std::string op_type, std::string domain, std::string name) {
  const auto index = static_cast<int64_t>(nodes_.size());
  nodes_.push_back(std::unique_ptr<Node>(
      new Node(this, std::move(op_type), std::move(domain), std::move(name), index)));
  return nodes_.back().get();
}

Status Graph::remove_node(Node* n) {
  for (Value* v : n->outputs()) {
    if (v != nullptr && (!v->uses().empty() || is_output(v))) {
      return internal_error(n->describe(), ": cannot remove it, '", v->name(), "' is still read");
    }
  }
  for (size_t i = 0; i < n->inputs().size(); ++i) n->set_input(i, nullptr);
  for (Value* v : n->outputs()) {
    if (v != nullptr) {
      v->producer_ = nullptr;
      v->producer_output_ = -1;
    }
  }
  nodes_.erase(std::remove_if(nodes_.begin(), nodes_.end(),
                              [&](const std::unique_ptr<Node>& p) { return p.get() == n; }),
               nodes_.end());
  return Status::ok_status();
}

void Graph::add_input(Value* v, std::string decl_extras) {
  inputs_.push_back(v);
  input_extras_.push_back(std::move(decl_extras));
}

void Graph::add_output(Value* v, std::string decl_extras) {
  outputs_.push_back(v);
  output_extras_.push_back(std::move(decl_extras));
}

bool Graph::is_input(const Value* v) const {
  return std::find(inputs_.begin(), inputs_.end(), v) != inputs_.end();
}

bool Graph::is_output(const Value* v) const {
  return std::find(outputs_.begin(), outputs_.end(), v) != outputs_.end();
}

void Graph::add_initializer(Value* v, Tensor t) {
  v->set_initializer(std::move(t));
  initializers_.push_back(v);
}

void Graph::remove_initializer(Value* v) {
  v->clear_initializer();
  initializers_.erase(std::remove(initializers_.begin(), initializers_.end(), v),
                      initializers_.end());
}

Status Graph::sort_nodes() {
  MIXQ_ASSIGN_OR_RETURN(auto order, topological_order(*this));
  std::unordered_map<const Node*, size_t> position;
  for (size_t i = 0; i < order.size(); ++i) position[order[i]] = i;
  std::sort(nodes_.begin(), nodes_.end(),
            [&](const std::unique_ptr<Node>& a, const std::unique_ptr<Node>& b) {
              return position.at(a.get()) < position.at(b.get());
            });
  return Status::ok_status();
}

std::string Graph::unique_name(std::string_view base) const {
  std::string name(base);
  for (int i = 1; lookup_value(name) != nullptr; ++i)
    name = std::string(base) + "_" + std::to_string(i);
  return name;
}

void Graph::add_value_info(Value* v) {
  if (!v->has_value_info()) {
    v->set_has_value_info(true);
    value_infos_.push_back(v);
  }
}

void Graph::note_outer_use(Value* v) {
  // Walk up from this graph to the one that owns `v`; each owner node on the way uses `v`
  // implicitly.
  for (Graph* g = this; g != nullptr && g != v->graph(); g = g->parent_) {
    Node* owner = g->owner_;
    if (owner == nullptr) break;
    auto& imp = owner->implicit_inputs_;
    if (std::find(imp.begin(), imp.end(), v) == imp.end()) imp.push_back(v);
  }
}

}  // namespace mixq::ir
