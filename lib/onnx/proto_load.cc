// ModelProto -> ir::Model. Each proto is consumed: what mixq interprets moves into the IR and the
// rest is serialized into the IR object's proto_extras.
#include <cstring>
#include <map>
#include <set>

#include "mixq/ir/memory_budget.h"
#include "mixq/ir/walk.h"
#include "mixq/onnx/proto_convert.h"
#include "mixq/onnx/proto_tensor.h"

namespace mixq::onnx {
namespace {

class GraphLoader {
 public:
  GraphLoader(ExternalDataResolver* resolver, std::string file)
      : resolver_(resolver), file_(std::move(file)) {}

  Status load(::onnx::GraphProto& gp, ir::Graph& g, int depth);

 private:
  // Sets v's type from the declaration when it has none yet and returns what else it holds.
  std::string load_value_info(::onnx::ValueInfoProto& vi, ir::Value* v);
  Status load_initializer(::onnx::TensorProto& tp, ir::Graph& g);
  Status load_sparse_initializer(::onnx::SparseTensorProto& sp, ir::Graph& g);
  Status load_attribute(::onnx::AttributeProto& ap, ir::Attribute& a, ir::Node* node, int depth);
  Expected<ir::Tensor> load_tensor(::onnx::TensorProto& tp) {
    return tensor_from_proto(tp, resolver_);
  }

  ExternalDataResolver* resolver_;
  std::string file_;
};

std::string graph_label(const ir::Graph& g) {
  if (g.owner_node() == nullptr) return "graph";
  return str_cat("subgraph '", g.name(), "' of ", g.owner_node()->describe());
}

bool is_defined(const ir::Value* v) {
  return v->producer() != nullptr || v->initializer() != nullptr || v->graph()->is_input(v);
}

std::string GraphLoader::load_value_info(::onnx::ValueInfoProto& vi, ir::Value* v) {
  if (v->type().kind == ir::ValueType::Kind::kUnknown && vi.has_type()) {
    v->set_type(value_type_from_proto(vi.type()));
  }
  // The type stays in the extras too: saving writes the Value's type over it, which keeps
  // denotations and anything else a newer TypeProto carries.
  vi.clear_name();
  std::string extras;
  if (vi.ByteSizeLong() > 0) vi.SerializeToString(&extras);
  return extras;
}

Status GraphLoader::load_initializer(::onnx::TensorProto& tp, ir::Graph& g) {
  const std::string name = tp.name();
  if (name.empty()) return bad_input(graph_label(g), ": an initializer has no name");
  ir::Value* v = g.find_value(name);
  if (v != nullptr && (v->initializer() != nullptr || !g.is_input(v))) {
    return bad_input(graph_label(g), ": initializer '", name, "' is defined twice");
  }
  if (v == nullptr) v = g.create_value(name);
  // The Value's type stays as declared (or unknown): shape inference reads an initializer's
  // type from its tensor, and a type stamped on here would be written into declarations that
  // had none.
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor t, load_tensor(tp));
  g.add_initializer(v, std::move(t));
  return Status::ok_status();
}

Status GraphLoader::load_sparse_initializer(::onnx::SparseTensorProto& sp, ir::Graph& g) {
  std::string kept;
  sp.SerializeToString(&kept);
  const std::string name = sp.values().name();
  auto fail = [&](const auto&... why) {
    return bad_input(graph_label(g), ": sparse initializer '", name, "': ", why...);
  };
  if (name.empty()) return fail("has no name");
  std::vector<int64_t> dims(sp.dims().begin(), sp.dims().end());
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor values, load_tensor(*sp.mutable_values()));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor indices, load_tensor(*sp.mutable_indices()));
  if (values.dtype() == DType::kString || dtype_bits(values.dtype()) < 8) {
    return unsupported(graph_label(g), ": sparse initializer '", name, "' of ",
                       dtype_name(values.dtype()), " is not supported");
  }
  if (indices.dtype() != DType::kInt64) return fail("indices must be int64");
  auto zeros = ir::Tensor::zeros(values.dtype(), dims);
  if (!zeros.ok()) return fail(zeros.status().message());
  ir::Tensor dense = std::move(zeros).value();
  const int64_t nnz = values.numel();
  const int64_t numel = dense.numel();
  const size_t rank = dims.size();
  const bool linear = indices.rank() == 1;
  if (!(linear && indices.numel() == nnz) && !(indices.rank() == 2 && indices.dims()[0] == nnz &&
                                               static_cast<size_t>(indices.dims()[1]) == rank)) {
    return fail("indices shape ", ir::dims_to_string(indices.dims()), " does not match ", nnz,
                " values of rank ", rank);
  }
  const size_t esize = static_cast<size_t>(dtype_bits(values.dtype()) / 8);
  const int64_t* idx = indices.data<int64_t>();
  for (int64_t k = 0; k < nnz; ++k) {
    int64_t flat = 0;
    if (linear) {
      flat = idx[k];
    } else {
      for (size_t d = 0; d < rank; ++d) {
        const int64_t i = idx[static_cast<size_t>(k) * rank + d];
        if (i < 0 || i >= dims[d]) return fail("index ", i, " out of range on axis ", d);
        flat = flat * dims[d] + i;
      }
    }
    if (flat < 0 || flat >= numel) return fail("index ", flat, " out of range");
    std::memcpy(dense.mutable_raw_data() + static_cast<size_t>(flat) * esize,
                values.raw_data() + static_cast<size_t>(k) * esize, esize);
  }
  ir::Value* v = g.find_value(name);
  if (v != nullptr && (v->initializer() != nullptr || !g.is_input(v))) {
    return fail("is defined twice");
  }
  if (v == nullptr) v = g.create_value(name);
  dense.set_name(name);
  dense.mutable_storage().form = ir::TensorStorage::Form::kSparse;
  dense.mutable_storage().proto_extras = std::move(kept);
  g.add_initializer(v, std::move(dense));
  return Status::ok_status();
}

Status GraphLoader::load_attribute(::onnx::AttributeProto& ap, ir::Attribute& a, ir::Node* node,
                                   int depth) {
  a.name = ap.name();
  if (ap.has_type()) {
    a.type = static_cast<ir::AttrType>(ap.type());
  } else {
    // IR version 1 had no type field: tell the kind from the field in use.
    if (ap.has_f())
      a.type = ir::AttrType::kFloat;
    else if (ap.has_i())
      a.type = ir::AttrType::kInt;
    else if (ap.has_s())
      a.type = ir::AttrType::kString;
    else if (ap.has_t())
      a.type = ir::AttrType::kTensor;
    else if (ap.has_g())
      a.type = ir::AttrType::kGraph;
    else if (ap.floats_size())
      a.type = ir::AttrType::kFloats;
    else if (ap.ints_size())
      a.type = ir::AttrType::kInts;
    else if (ap.strings_size())
      a.type = ir::AttrType::kStrings;
    else if (ap.tensors_size())
      a.type = ir::AttrType::kTensors;
    else if (ap.graphs_size())
      a.type = ir::AttrType::kGraphs;
  }
  a.f = ap.f();
  a.i = ap.i();
  a.s = std::move(*ap.mutable_s());
  a.floats.assign(ap.floats().begin(), ap.floats().end());
  a.ints.assign(ap.ints().begin(), ap.ints().end());
  for (auto& s : *ap.mutable_strings()) a.strings.push_back(std::move(s));
  a.ref_attr_name = ap.ref_attr_name();
  auto ctx = [&](const Status& s) {
    return s.with_context(str_cat(file_, ": ", node->describe(), " attribute '", a.name, "'"));
  };
  if (ap.has_t()) {
    auto t = load_tensor(*ap.mutable_t());
    if (!t.ok()) return ctx(t.status());
    a.t = std::move(t).value();
  }
  for (auto& tp : *ap.mutable_tensors()) {
    auto t = load_tensor(tp);
    if (!t.ok()) return ctx(t.status());
    a.tensors.push_back(std::move(t).value());
  }
  if (ap.has_g()) {
    a.g = std::make_unique<ir::Graph>(node->graph(), node);
    MIXQ_RETURN_IF_ERROR(load(*ap.mutable_g(), *a.g, depth + 1));
  }
  for (auto& gp : *ap.mutable_graphs()) {
    a.graphs.push_back(std::make_unique<ir::Graph>(node->graph(), node));
    MIXQ_RETURN_IF_ERROR(load(gp, *a.graphs.back(), depth + 1));
  }
  ap.clear_name();
  ap.clear_f();
  ap.clear_i();
  ap.clear_s();
  ap.clear_t();
  ap.clear_g();
  ap.clear_floats();
  ap.clear_ints();
  ap.clear_strings();
  ap.clear_tensors();
  ap.clear_graphs();
  ap.clear_ref_attr_name();
  if (ap.ByteSizeLong() > 0) ap.SerializeToString(&a.proto_extras);
  return Status::ok_status();
}

Status GraphLoader::load(::onnx::GraphProto& gp, ir::Graph& g, int depth) {
  // Deeper models are refused by name here, or (past protobuf's recursion limit) by
  // describe_too_deep() after the parse fails: the walks over subgraphs recurse.
  g.set_name(gp.name());
  if (depth > kMaxSubgraphDepth) {
    return bad_input(file_, ": ", graph_label(g), ": subgraphs nested deeper than ",
                     kMaxSubgraphDepth, " levels");
  }

  for (auto& vi : *gp.mutable_input()) {
    if (vi.name().empty()) return bad_input(graph_label(g), ": a graph input has no name");
    ir::Value* v = g.create_value(vi.name());
    if (v == nullptr) {
      return bad_input(graph_label(g), ": graph input '", vi.name(), "' is declared twice");
    }
    g.add_input(v, load_value_info(vi, v));
  }
  for (auto& tp : *gp.mutable_initializer()) {
    MIXQ_RETURN_IF_ERROR(load_initializer(tp, g).with_context(file_));
  }
  for (auto& sp : *gp.mutable_sparse_initializer()) {
    MIXQ_RETURN_IF_ERROR(load_sparse_initializer(sp, g).with_context(file_));
  }

  // Node outputs first, so that inputs (ours and those of subgraphs) can refer to values
  // produced later in the file.
  std::vector<ir::Node*> nodes;
  nodes.reserve(static_cast<size_t>(gp.node_size()));
  for (auto& np : *gp.mutable_node()) {
    ir::Node* node = g.add_node(np.op_type(), np.domain(), np.name());
    nodes.push_back(node);
    if (np.op_type().empty()) {
      return bad_input(file_, ": ", graph_label(g), ": node #", node->index(), " has no op_type");
    }
    for (const auto& name : np.output()) {
      ir::Value* v = nullptr;
      if (!name.empty()) {
        v = g.create_value(name);
        if (v == nullptr) v = g.find_value(name);
      }
      MIXQ_RETURN_IF_ERROR(node->add_output(v).with_context(file_));
    }
  }

  for (auto& vi : *gp.mutable_value_info()) {
    if (vi.name().empty()) continue;
    ir::Value* v = g.find_value(vi.name());
    if (v == nullptr) v = g.create_value(vi.name());
    if (v->has_value_info()) {
      return bad_input(file_, ": ", graph_label(g), ": value_info for '", vi.name(),
                       "' appears twice");
    }
    g.add_value_info(v);
    v->set_info_extras(load_value_info(vi, v));
  }

  for (auto& vi : *gp.mutable_output()) {
    ir::Value* v = vi.name().empty() ? nullptr : g.lookup_value(vi.name());
    if (v == nullptr || !is_defined(v)) {
      return bad_input(file_, ": ", graph_label(g), ": output '", vi.name(),
                       "' is not produced by any node, initializer or graph input");
    }
    if (v->graph() != &g) g.note_outer_use(v);
    g.add_output(v, load_value_info(vi, v));
  }

  // A declared shape whose size overflows would wrap in every size computed from it.
  auto check_declared = [&](const std::vector<ir::Value*>& values, const char* kind) {
    for (const ir::Value* v : values) {
      MIXQ_RETURN_IF_ERROR(ir::check_type_size(
          v->type(), str_cat(file_, ": ", graph_label(g), ": ", kind, " '", v->name(), "'")));
    }
    return Status::ok_status();
  };
  MIXQ_RETURN_IF_ERROR(check_declared(g.inputs(), "input"));
  MIXQ_RETURN_IF_ERROR(check_declared(g.outputs(), "output"));
  MIXQ_RETURN_IF_ERROR(check_declared(g.value_infos(), "value_info"));

  for (size_t k = 0; k < nodes.size(); ++k) {
    ir::Node* node = nodes[k];
    ::onnx::NodeProto& np = *gp.mutable_node(static_cast<int>(k));
    for (auto& ap : *np.mutable_attribute()) {
      ir::Attribute& a = node->add_attribute("", ir::AttrType::kUndefined);
      MIXQ_RETURN_IF_ERROR(load_attribute(ap, a, node, depth));
    }
    for (const auto& name : np.input()) {
      if (name.empty()) {
        node->add_input(nullptr);
        continue;
      }
      ir::Value* v = g.lookup_value(name);
      if (v == nullptr || !is_defined(v)) {
        return bad_input(file_, ": ", graph_label(g), ": ", node->describe(), " input '", name,
                         "' is not produced by any node, initializer or graph input");
      }
      node->add_input(v);
      if (v->graph() != &g) g.note_outer_use(v);
    }
    np.clear_input();
    np.clear_output();
    np.clear_name();
    np.clear_op_type();
    np.clear_domain();
    np.clear_attribute();
    if (np.ByteSizeLong() > 0) {
      std::string extras;
      np.SerializeToString(&extras);
      node->set_proto_extras(std::move(extras));
    }
  }

  gp.clear_name();
  gp.clear_node();
  gp.clear_initializer();
  gp.clear_sparse_initializer();
  gp.clear_input();
  gp.clear_output();
  gp.clear_value_info();
  if (gp.ByteSizeLong() > 0) {
    std::string extras;
    gp.SerializeToString(&extras);
    g.set_proto_extras(std::move(extras));
  }
  return Status::ok_status();
}

// Reads protobuf's wire format just far enough to follow ModelProto.graph -> GraphProto.node ->
// NodeProto.attribute -> AttributeProto.g/graphs -> GraphProto, iteratively (the parser itself
// recurses and gives up past its recursion limit without saying where).
class WireReader {
 public:
  WireReader(const uint8_t* p, const uint8_t* end) : p_(p), end_(end) {}
  bool done() const { return p_ >= end_; }
  // Next field: number, wire type, and for length-delimited fields the payload.
  bool next(uint32_t* field, uint32_t* type, const uint8_t** b, const uint8_t** e) {
    uint64_t key;
    if (!varint(&key)) return false;
    *field = static_cast<uint32_t>(key >> 3);
    *type = static_cast<uint32_t>(key & 7);
    uint64_t v;
    switch (*type) {
      case 0:
        return varint(&v);
      case 1:
        return skip(8);
      case 5:
        return skip(4);
      case 2:
        if (!varint(&v) || v > static_cast<uint64_t>(end_ - p_)) return false;
        *b = p_;
        *e = p_ + v;
        p_ += v;
        return true;
      default:
        return false;  // groups: not used by ONNX
    }
  }

 private:
  bool varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64 && p_ < end_; shift += 7) {
      const uint8_t byte = *p_++;
      *v |= static_cast<uint64_t>(byte & 0x7f) << shift;
      if (!(byte & 0x80)) return true;
    }
    return false;
  }
  bool skip(size_t n) {
    if (static_cast<size_t>(end_ - p_) < n) return false;
    p_ += n;
    return true;
  }
  const uint8_t* p_;
  const uint8_t* end_;
};

// Calls of model-local functions ("domain:name") by the nodes of `g` and its subgraphs.
void collect_calls(const ::onnx::GraphProto& g, const std::set<std::string>& functions,
                   std::vector<std::pair<std::string, std::string>>* calls);

void collect_node_calls(const google::protobuf::RepeatedPtrField<::onnx::NodeProto>& nodes,
                        const std::set<std::string>& functions,
                        std::vector<std::pair<std::string, std::string>>* calls) {
  for (const auto& n : nodes) {
    const std::string key = n.domain() + ":" + n.op_type();
    if (functions.count(key)) {
      calls->emplace_back(key, n.name().empty() ? n.op_type() : "'" + n.name() + "'");
    }
    // Recursion depth is bounded: protobuf parsed these bodies (its recursion limit).
    for (const auto& a : n.attribute()) {
      if (a.has_g()) collect_calls(a.g(), functions, calls);
      for (const auto& sub : a.graphs()) collect_calls(sub, functions, calls);
    }
  }
}

void collect_calls(const ::onnx::GraphProto& g, const std::set<std::string>& functions,
                   std::vector<std::pair<std::string, std::string>>* calls) {
  collect_node_calls(g.node(), functions, calls);
}

// Refuses model-local functions that call themselves, directly or through others: inlining
// them (ONNX Runtime's approach) would never end.
Status check_function_recursion(const ::onnx::ModelProto& mp, const std::string& name) {
  std::set<std::string> functions;
  for (const auto& f : mp.functions()) functions.insert(f.domain() + ":" + f.name());
  // Edges: function -> (callee, calling node).
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> calls;
  for (const auto& f : mp.functions()) {
    collect_node_calls(f.node(), functions, &calls[f.domain() + ":" + f.name()]);
  }
  // Iterative depth-first search with colours; the stack holds the path.
  std::map<std::string, int> colour;  // 0 new, 1 on the path, 2 done
  for (const auto& root : functions) {
    if (colour[root] != 0) continue;
    std::vector<std::pair<std::string, size_t>> stack{{root, 0}};
    colour[root] = 1;
    while (!stack.empty()) {
      auto& [fn, next] = stack.back();
      const auto& out = calls[fn];
      if (next == out.size()) {
        colour[fn] = 2;
        stack.pop_back();
        continue;
      }
      const auto& [callee, node] = out[next++];
      if (colour[callee] == 1) {
        std::string path;
        bool on = false;
        for (const auto& [f, unused] : stack) {
          if (f == callee) on = true;
          if (on) path += f + " -> ";
        }
        return bad_input(name, ": model-local function ", callee, " calls itself (", path, callee,
                         ", last through node ", node, " of ", fn, ")");
      }
      if (colour[callee] == 0) {
        colour[callee] = 1;
        stack.emplace_back(callee, 0);
      }
    }
  }
  return Status::ok_status();
}

}  // namespace

std::optional<std::string> describe_too_deep(const void* data, size_t size) {
  struct Item {
    const uint8_t* b;
    const uint8_t* e;
    int kind;  // 0 model, 1 graph, 2 node, 3 attribute
    int depth;
    std::string owner;  // the node holding this attribute / graph
  };
  const auto* p = static_cast<const uint8_t*>(data);
  std::vector<Item> work{{p, p + size, 0, 0, ""}};
  while (!work.empty()) {
    Item it = std::move(work.back());
    work.pop_back();
    if (it.kind == 1 && it.depth > kMaxSubgraphDepth) {
      return str_cat(it.owner, ": subgraphs nested deeper than ", kMaxSubgraphDepth, " levels");
    }
    WireReader r(it.b, it.e);
    uint32_t field, type;
    const uint8_t *b = nullptr, *e = nullptr;
    std::string node_name, op_type;
    std::vector<std::pair<const uint8_t*, const uint8_t*>> attributes;
    int64_t node_index = 0;
    while (!r.done()) {
      if (!r.next(&field, &type, &b, &e)) break;  // the corrupt part: scan what came before
      if (type != 2) continue;
      if (it.kind == 0 && field == 7) work.push_back({b, e, 1, 0, "graph"});
      if (it.kind == 1 && field == 1) {
        work.push_back({b, e, 2, it.depth, std::to_string(node_index++)});
      }
      if (it.kind == 2 && field == 3) node_name.assign(reinterpret_cast<const char*>(b), e - b);
      if (it.kind == 2 && field == 4) op_type.assign(reinterpret_cast<const char*>(b), e - b);
      if (it.kind == 2 && field == 5) attributes.emplace_back(b, e);
      if (it.kind == 3 && (field == 6 || field == 11)) {
        work.push_back({b, e, 1, it.depth + 1, it.owner});
      }
    }
    if (it.kind == 2) {
      const std::string label = node_name.empty()
                                    ? str_cat(op_type, " (#", it.owner, ")")
                                    : str_cat(op_type, " '", node_name, "' (#", it.owner, ")");
      for (const auto& [ab, ae] : attributes) work.push_back({ab, ae, 3, it.depth, label});
    }
  }
  return std::nullopt;
}

ir::ValueType value_type_from_proto(const ::onnx::TypeProto& tp) {
  if (!tp.has_tensor_type()) {
    if (tp.value_case() == ::onnx::TypeProto::VALUE_NOT_SET) return ir::ValueType();
    ir::ValueType t;
    t.kind = ir::ValueType::Kind::kOther;
    tp.SerializeToString(&t.proto);
    return t;
  }
  const auto& tt = tp.tensor_type();
  ir::ValueType t;
  t.kind = ir::ValueType::Kind::kTensor;
  t.dtype = dtype_from_onnx(tt.elem_type()).value_or(DType::kUndefined);
  if (tt.has_shape()) {
    ir::Shape shape;
    for (const auto& d : tt.shape().dim()) {
      // A negative dim_value (written by some exporters for "unknown") reads as unknown.
      if (d.has_dim_value() && d.dim_value() >= 0) {
        shape.push_back(ir::Dim::known(d.dim_value()));
      } else if (d.has_dim_param()) {
        shape.push_back(ir::Dim::symbol(d.dim_param()));
      } else {
        shape.push_back(ir::Dim::unknown());
      }
    }
    t.shape = std::move(shape);
  }
  return t;
}

Expected<std::unique_ptr<ir::Model>> model_from_proto(::onnx::ModelProto& mp,
                                                      const std::filesystem::path& base_dir,
                                                      const std::string& name,
                                                      const std::filesystem::path& model_file) {
  if (!mp.has_graph()) return bad_input(name, ": not an ONNX model (no graph)");
  if (!mp.has_ir_version() || mp.ir_version() <= 0) {
    return bad_input(name, ": not an ONNX model (no ir_version)");
  }
  auto model = std::make_unique<ir::Model>();
  model->ir_version = mp.ir_version();
  model->producer_name = mp.producer_name();
  model->producer_version = mp.producer_version();
  model->domain = mp.domain();
  model->model_version = mp.model_version();
  model->doc_string = mp.doc_string();
  for (const auto& o : mp.opset_import()) {
    if (o.version() <= 0) {
      return bad_input(name, ": opset import for domain '", o.domain(), "' has version ",
                       o.version());
    }
    for (const auto& prev : model->opset_imports) {
      const bool same =
          prev.domain == o.domain() || ((prev.domain.empty() || prev.domain == "ai.onnx") &&
                                        (o.domain().empty() || o.domain() == "ai.onnx"));
      if (same) return bad_input(name, ": opset for domain '", o.domain(), "' imported twice");
    }
    model->opset_imports.push_back(ir::OpsetImport{o.domain(), o.version()});
  }
  for (const auto& kv : mp.metadata_props()) {
    model->metadata_props.emplace_back(kv.key(), kv.value());
  }
  for (const auto& f : mp.functions()) {
    model->local_functions.push_back(f.domain() + ":" + f.name());
  }
  MIXQ_RETURN_IF_ERROR(check_function_recursion(mp, name));

  ExternalDataResolver resolver(base_dir);
  resolver.set_model_file(model_file);
  GraphLoader loader(&resolver, name);
  MIXQ_RETURN_IF_ERROR(loader.load(*mp.mutable_graph(), model->graph(), 0));
  // A model whose graph (or a subgraph) has a cycle cannot run; refuse it here.
  Status acyclic;
  ir::for_each_graph(model->graph(), [&](const ir::Graph& g) {
    if (!acyclic.ok()) return;
    auto order = ir::topological_order(g);
    if (!order.ok()) {
      acyclic = order.status().with_context(
          g.owner_node() ? str_cat(name, ": subgraph of ", g.owner_node()->describe()) : name);
    }
  });
  MIXQ_RETURN_IF_ERROR(acyclic);

  mp.clear_ir_version();
  mp.clear_producer_name();
  mp.clear_producer_version();
  mp.clear_domain();
  mp.clear_model_version();
  mp.clear_doc_string();
  mp.clear_opset_import();
  mp.clear_metadata_props();
  mp.clear_graph();
  if (mp.ByteSizeLong() > 0) mp.SerializeToString(&model->proto_extras);
  return model;
}

}  // namespace mixq::onnx
