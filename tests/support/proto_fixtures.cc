#include "proto_fixtures.h"

#include <cctype>

#include "test_support.h"

namespace mixq::testing {

::onnx::ValueInfoProto* add_tensor_vi(
    google::protobuf::RepeatedPtrField<::onnx::ValueInfoProto>* list, const std::string& name,
    int elem_type, std::vector<std::string> dims) {
  auto* vi = list->Add();
  vi->set_name(name);
  auto* tt = vi->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  auto* shape = tt->mutable_shape();
  for (const auto& d : dims) {
    auto* dim = shape->add_dim();
    if (!d.empty() && isdigit(static_cast<unsigned char>(d[0]))) {
      dim->set_dim_value(std::stoll(d));
    } else if (!d.empty()) {
      dim->set_dim_param(d);
    }
  }
  return vi;
}

::onnx::NodeProto* add_node(::onnx::GraphProto* g, const std::string& op,
                            std::vector<std::string> inputs, std::vector<std::string> outputs,
                            const std::string& name) {
  auto* n = g->add_node();
  n->set_op_type(op);
  if (!name.empty()) n->set_name(name);
  for (const auto& i : inputs) n->add_input(i);
  for (const auto& o : outputs) n->add_output(o);
  return n;
}

::onnx::ModelProto simple_model() {
  ::onnx::ModelProto m;
  m.set_ir_version(8);
  auto* op = m.add_opset_import();
  op->set_domain("");
  op->set_version(17);
  auto* g = m.mutable_graph();
  g->set_name("simple");
  add_tensor_vi(g->mutable_input(), "x", 1, {"N", "4"});
  add_tensor_vi(g->mutable_output(), "y", 1, {"N", "4"});
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(1);
  w->add_dims(4);
  for (float f : {1.0f, 2.0f, 3.0f, 4.0f}) w->add_float_data(f);
  add_node(g, "Add", {"x", "w"}, {"y"}, "add0");
  return m;
}

std::string serialize(const ::onnx::ModelProto& m) {
  std::string s;
  m.SerializeToString(&s);
  return s;
}

std::filesystem::path write_model(const ::onnx::ModelProto& m, const std::filesystem::path& dir,
                                  const std::string& name) {
  const auto path = dir / name;
  write_bytes(path, serialize(m));
  return path;
}

void make_external(::onnx::ModelProto& m, const std::filesystem::path& dir,
                   const std::string& location, uint64_t offset, bool write_file,
                   size_t file_bytes) {
  auto* w = m.mutable_graph()->mutable_initializer(0);
  std::string data(offset, '\0');
  for (float f : {1.0f, 2.0f, 3.0f, 4.0f}) {
    data.append(reinterpret_cast<const char*>(&f), sizeof f);
  }
  if (file_bytes) data.resize(file_bytes);
  if (write_file) write_bytes(dir / location, data);
  w->clear_float_data();
  w->set_data_location(::onnx::TensorProto::EXTERNAL);
  auto add = [&](const std::string& k, const std::string& v) {
    auto* e = w->add_external_data();
    e->set_key(k);
    e->set_value(v);
  };
  add("location", location);
  add("offset", std::to_string(offset));
  add("length", "16");
}

}  // namespace mixq::testing
