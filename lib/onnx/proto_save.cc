// ir::Model -> ModelProto. Each proto starts from the fields kept at load time (proto_extras)
// and gets the interpreted fields written over them; protobuf serializes fields in number order,
// so the result does not depend on how the IR was built.
#include "mixq/onnx/proto_convert.h"

namespace mixq::onnx {
namespace {

Status parse_extras(const std::string& extras, google::protobuf::MessageLite* msg,
                    std::string_view what) {
  if (!extras.empty() && !msg->ParseFromString(extras)) {
    return internal_error("cannot re-read the kept fields of ", what);
  }
  return Status::ok_status();
}

class GraphSaver {
 public:
  explicit GraphSaver(const TensorSink& sink) : sink_(sink) {}
  Status save(const ir::Graph& g, ::onnx::GraphProto* gp);

 private:
  Status save_value_info(const ir::Value& v, const std::string& extras, ::onnx::ValueInfoProto* vi);
  Status save_attribute(const ir::Attribute& a, ::onnx::AttributeProto* ap);

  const TensorSink& sink_;
};

Status GraphSaver::save_value_info(const ir::Value& v, const std::string& extras,
                                   ::onnx::ValueInfoProto* vi) {
  MIXQ_RETURN_IF_ERROR(parse_extras(extras, vi, "a value_info"));
  vi->set_name(v.name());
  if (v.type().kind != ir::ValueType::Kind::kUnknown) {
    value_type_to_proto(v.type(), vi->mutable_type());
  }
  return Status::ok_status();
}

Status GraphSaver::save_attribute(const ir::Attribute& a, ::onnx::AttributeProto* ap) {
  MIXQ_RETURN_IF_ERROR(parse_extras(a.proto_extras, ap, "an attribute"));
  ap->set_name(a.name);
  // Attributes of IR version 1 models have no type field; keep it absent for them.
  if (ap->has_type() || a.proto_extras.empty()) {
    ap->set_type(static_cast<::onnx::AttributeProto::AttributeType>(a.type));
  }
  if (!a.ref_attr_name.empty()) ap->set_ref_attr_name(a.ref_attr_name);
  switch (a.type) {
    case ir::AttrType::kFloat:
      ap->set_f(a.f);
      break;
    case ir::AttrType::kInt:
      ap->set_i(a.i);
      break;
    case ir::AttrType::kString:
      ap->set_s(a.s);
      break;
    case ir::AttrType::kTensor:
      MIXQ_RETURN_IF_ERROR(tensor_to_proto(a.t, ap->mutable_t(), sink_));
      break;
    case ir::AttrType::kGraph:
      if (a.g) MIXQ_RETURN_IF_ERROR(save(*a.g, ap->mutable_g()));
      break;
    default:
      break;
  }
  for (float f : a.floats) ap->add_floats(f);
  for (int64_t i : a.ints) ap->add_ints(i);
  for (const auto& s : a.strings) ap->add_strings(s);
  for (const auto& t : a.tensors)
    MIXQ_RETURN_IF_ERROR(tensor_to_proto(t, ap->add_tensors(), sink_));
  for (const auto& g : a.graphs) MIXQ_RETURN_IF_ERROR(save(*g, ap->add_graphs()));
  return Status::ok_status();
}

Status GraphSaver::save(const ir::Graph& g, ::onnx::GraphProto* gp) {
  MIXQ_RETURN_IF_ERROR(parse_extras(g.proto_extras(), gp, "a graph"));
  for (const auto& node : g.nodes()) {
    ::onnx::NodeProto* np = gp->add_node();
    MIXQ_RETURN_IF_ERROR(parse_extras(node->proto_extras(), np, "a node"));
    for (const ir::Value* v : node->inputs()) np->add_input(v ? v->name() : std::string());
    for (const ir::Value* v : node->outputs()) np->add_output(v ? v->name() : std::string());
    if (!node->name().empty()) np->set_name(node->name());
    np->set_op_type(node->op_type());
    if (!node->domain().empty()) np->set_domain(node->domain());
    for (const auto& a : node->attributes()) {
      MIXQ_RETURN_IF_ERROR(save_attribute(a, np->add_attribute()));
    }
  }
  if (!g.name().empty()) gp->set_name(g.name());
  for (const ir::Value* v : g.initializers()) {
    const ir::Tensor& t = *v->initializer();
    if (t.storage().form == ir::TensorStorage::Form::kSparse) {
      MIXQ_RETURN_IF_ERROR(
          parse_extras(t.storage().proto_extras, gp->add_sparse_initializer(), "a sparse tensor"));
      continue;
    }
    ::onnx::TensorProto* tp = gp->add_initializer();
    MIXQ_RETURN_IF_ERROR(tensor_to_proto(t, tp, sink_));
    tp->set_name(v->name());
  }
  for (size_t i = 0; i < g.inputs().size(); ++i) {
    MIXQ_RETURN_IF_ERROR(save_value_info(*g.inputs()[i], g.input_extras(i), gp->add_input()));
  }
  for (size_t i = 0; i < g.outputs().size(); ++i) {
    MIXQ_RETURN_IF_ERROR(save_value_info(*g.outputs()[i], g.output_extras(i), gp->add_output()));
  }
  for (const ir::Value* v : g.value_infos()) {
    MIXQ_RETURN_IF_ERROR(save_value_info(*v, v->info_extras(), gp->add_value_info()));
  }
  return Status::ok_status();
}

}  // namespace

void value_type_to_proto(const ir::ValueType& t, ::onnx::TypeProto* tp) {
  if (t.kind == ir::ValueType::Kind::kOther) {
    const std::string denotation = tp->denotation();
    tp->ParseFromString(t.proto);
    if (!denotation.empty() && !tp->has_denotation()) tp->set_denotation(denotation);
    return;
  }
  if (t.kind != ir::ValueType::Kind::kTensor) return;
  auto* tt = tp->mutable_tensor_type();
  if (t.dtype != DType::kUndefined) tt->set_elem_type(dtype_to_onnx(t.dtype));
  if (!t.shape) {
    tt->clear_shape();
    return;
  }
  auto* shape = tt->mutable_shape();
  if (shape->dim_size() != static_cast<int>(t.shape->size())) shape->clear_dim();
  while (shape->dim_size() < static_cast<int>(t.shape->size())) shape->add_dim();
  for (size_t i = 0; i < t.shape->size(); ++i) {
    const ir::Dim& d = (*t.shape)[i];
    auto* pd = shape->mutable_dim(static_cast<int>(i));
    if (d.is_known()) {
      pd->set_dim_value(d.value());
    } else if (d.is_symbolic()) {
      pd->set_dim_param(d.to_string());
    } else if (pd->has_dim_value() && pd->dim_value() < 0) {
      // A negative dim_value in the model reads as unknown; keep what the file said.
    } else {
      pd->clear_value();
    }
  }
}

Status model_to_proto(const ir::Model& model, ::onnx::ModelProto* mp, const TensorSink& sink) {
  mp->Clear();
  MIXQ_RETURN_IF_ERROR(parse_extras(model.proto_extras, mp, "the model"));
  mp->set_ir_version(model.ir_version);
  for (const auto& o : model.opset_imports) {
    auto* op = mp->add_opset_import();
    op->set_domain(o.domain);
    op->set_version(o.version);
  }
  if (!model.producer_name.empty()) mp->set_producer_name(model.producer_name);
  if (!model.producer_version.empty()) mp->set_producer_version(model.producer_version);
  if (!model.domain.empty()) mp->set_domain(model.domain);
  if (model.model_version != 0) mp->set_model_version(model.model_version);
  if (!model.doc_string.empty()) mp->set_doc_string(model.doc_string);
  for (const auto& [k, v] : model.metadata_props) {
    auto* e = mp->add_metadata_props();
    e->set_key(k);
    e->set_value(v);
  }
  GraphSaver saver(sink);
  return saver.save(model.graph(), mp->mutable_graph());
}

}  // namespace mixq::onnx
