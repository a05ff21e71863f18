// ModelProto -> ir::Model. Each proto is consumed: what mixq interprets moves into the IR and the
// rest is serialized into the IR object's proto_extras.
#include <cstring>

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
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor dense, ir::Tensor::zeros(values.dtype(), dims));
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
    return s.with_context(str_cat(node->describe(), " attribute '", a.name, "'"));
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
  // protobuf already bounds nesting; this keeps a clear message for deep If/Loop chains.
  constexpr int kMaxDepth = 64;
  if (depth > kMaxDepth) {
    return bad_input(file_, ": subgraphs nested deeper than ", kMaxDepth, " levels");
  }
  g.set_name(gp.name());

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

}  // namespace

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
                                                      const std::string& name) {
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

  ExternalDataResolver resolver(base_dir);
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
