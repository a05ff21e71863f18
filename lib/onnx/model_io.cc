#include "mixq/onnx/model_io.h"

#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl.h>
#include <google/protobuf/stubs/logging.h>

#include <climits>
#include <mutex>

#include "mixq/core/file_io.h"
#include "mixq/core/logging.h"
#include "mixq/ir/walk.h"
#include "mixq/onnx/op_schema_check.h"
#include "mixq/onnx/proto_convert.h"

namespace mixq::onnx {
namespace {

// protobuf's messages ("[libprotobuf ERROR ...]") go to our log at debug level: the Status we
// return says what went wrong in terms of the model.
void route_protobuf_logs() {
  static std::once_flag once;
  std::call_once(once, [] {
    google::protobuf::SetLogHandler(
        [](google::protobuf::LogLevel, const char* file, int line, const std::string& message) {
          log_debug("protobuf ", file, ":", line, ": ", message);
        });
  });
}

// Largest serialized message protobuf can read back (it uses int sizes).
constexpr uint64_t kProtoLimit = static_cast<uint64_t>(INT_MAX);

// Verifies nodes of the default ONNX domain against the op schemas of the ONNX library mixq was
// built with (Debian's ONNX 1.12, through a table generated at build time: op_schema_check.h):
// input and output counts, required attributes, unknown attributes and attribute types. Only
// this part of the ONNX checker is used: its whole-model checks are stricter than the models
// runtimes accept (they require sorted node lists, shapes on every output, a named graph) and
// resolve external data against the working folder. 1.12 knows the default domain up to opset
// 17; nodes of newer opsets are left to mixq's own shape functions.
class NodeVerifier {
 public:
  NodeVerifier(const ::onnx::ModelProto& mp, std::string name) : name_(std::move(name)) {
    for (const auto& o : mp.opset_import()) {
      if (o.domain().empty() || o.domain() == "ai.onnx") opset_ = o.version();
    }
    if (mp.opset_import_size() == 0) opset_ = 1;  // IR < 3: opset 1 implied
  }

  Status verify(const ::onnx::GraphProto& g) {
    for (int i = 0; i < g.node_size(); ++i) {
      const auto& node = g.node(i);
      for (const auto& a : node.attribute()) {
        if (a.has_g()) MIXQ_RETURN_IF_ERROR(verify(a.g()));
        for (const auto& sub : a.graphs()) MIXQ_RETURN_IF_ERROR(verify(sub));
      }
      if (!(node.domain().empty() || node.domain() == "ai.onnx")) continue;
      if (opset_ <= 0 || opset_ > schema_max_opset()) continue;
      const OpSchemaEntry* schema = find_op_schema(node.op_type(), opset_);
      if (schema == nullptr) continue;  // not an op at this opset: reported as unsupported
      if (auto why = schema_violation(*schema, node)) {
        const std::string label =
            node.name().empty()
                ? str_cat(node.op_type(), " (#", i,
                          node.output_size() ? ", output '" + node.output(0) + "'" : "", ")")
                : str_cat(node.op_type(), " '", node.name(), "' (#", i, ")");
        return bad_input(name_, ": ", label, ": ", *why, " (ONNX ", node.op_type(), "-",
                         schema->since, " schema)");
      }
    }
    return Status::ok_status();
  }

 private:
  std::string name_;
  int64_t opset_ = 0;
};

Expected<std::unique_ptr<ir::Model>> parse_bytes(const void* data, size_t size,
                                                 const std::filesystem::path& base_dir,
                                                 const std::string& name,
                                                 const std::filesystem::path& model_file = {}) {
  route_protobuf_logs();
  if (size == 0) return bad_input(name, ": file is empty, not an ONNX model");
  if (size > kProtoLimit) {
    return bad_input(name, ": file is ", size,
                     " bytes; protobuf cannot read more than 2 GiB: a model this large must keep "
                     "its tensors in external data");
  }
  ::onnx::ModelProto mp;
  if (!mp.ParseFromArray(data, static_cast<int>(size))) {
    if (auto deep = describe_too_deep(data, size)) return bad_input(name, ": ", *deep);
    return bad_input(name,
                     ": not a valid ONNX model (protobuf parsing failed: truncated or "
                     "corrupt file?)");
  }
  if (mp.has_graph()) MIXQ_RETURN_IF_ERROR(NodeVerifier(mp, name).verify(mp.graph()));
  return model_from_proto(mp, base_dir, name, model_file);
}

// Bytes the model's tensors would take inline if none were written externally.
uint64_t inline_tensor_bytes(const ir::Model& model) {
  uint64_t total = 0;
  ir::for_each_tensor(model.graph(), [&](const ir::Tensor& t, const ir::Value*, const ir::Node*) {
    total += t.nbytes();
  });
  return total;
}

bool any_external(const ir::Model& model, size_t threshold) {
  bool found = false;
  ir::for_each_tensor(model.graph(), [&](const ir::Tensor& t, const ir::Value*, const ir::Node*) {
    if (t.dtype() == DType::kString) return;
    if (t.storage().form == ir::TensorStorage::Form::kExternal || t.nbytes() >= threshold) {
      found = true;
    }
  });
  return found;
}

// Location written by the sink while the data file's name is not known yet (it is named after
// its contents); no real file name starts with \x01.
constexpr const char kPendingLocation[] = "\x01mixq-pending-data-file";

void rename_location(::onnx::TensorProto* t, const std::string& to) {
  for (auto& e : *t->mutable_external_data()) {
    if (e.key() == "location" && e.value() == kPendingLocation) e.set_value(to);
  }
}

// Points every tensor the sink moved to the data file at its final name `to`.
void rename_location(::onnx::GraphProto* g, const std::string& to) {
  for (auto& t : *g->mutable_initializer()) rename_location(&t, to);
  for (auto& n : *g->mutable_node()) {
    for (auto& a : *n.mutable_attribute()) {
      if (a.has_t()) rename_location(a.mutable_t(), to);
      for (auto& t : *a.mutable_tensors()) rename_location(&t, to);
      if (a.has_g()) rename_location(a.mutable_g(), to);
      for (auto& sub : *a.mutable_graphs()) rename_location(&sub, to);
    }
  }
}

// "<model file name>.<16 hex digits>.data": the data file of `model_name` whose bytes hash to
// `hash`. Two different data files of one output path never share a name, so a kill between
// committing the data file and committing the model leaves the previous model pointing at its
// own (still present) data file.
std::string content_data_name(const std::string& model_name, uint64_t hash) {
  static const char kHex[] = "0123456789abcdef";
  std::string hex(16, '0');
  for (int i = 15; i >= 0; --i, hash >>= 4) hex[static_cast<size_t>(i)] = kHex[hash & 15];
  return model_name + "." + hex + ".data";
}

bool is_content_data_name(const std::string& file, const std::string& model_name) {
  const size_t n = model_name.size();
  if (file.size() != n + 1 + 16 + 5 || file.compare(0, n, model_name) != 0) return false;
  if (file[n] != '.' || file.compare(n + 17, 5, ".data") != 0) return false;
  return file.substr(n + 1, 16).find_first_not_of("0123456789abcdef") == std::string::npos;
}

// After `path` is committed: removes the content-named data files of earlier saves to `path`
// (the previous model's, or one a killed run committed before its model) other than `keep`.
// Files the saved model itself was loaded from are never removed (converting in place).
void remove_superseded_data_files(const ir::Model& model, const std::filesystem::path& path,
                                  const std::string& keep) {
  std::filesystem::path dir = path.parent_path();
  if (dir.empty()) dir = ".";
  std::vector<std::filesystem::path> inputs;
  const std::filesystem::path src_dir = model.source_path.parent_path();
  ir::for_each_tensor(model.graph(), [&](const ir::Tensor& t, const ir::Value*, const ir::Node*) {
    if (t.storage().form == ir::TensorStorage::Form::kExternal) {
      inputs.push_back(src_dir / t.storage().external_location);
    }
  });
  std::error_code ec;
  std::filesystem::directory_iterator it(dir, ec);
  if (ec) return;
  const std::string model_name = path.filename().string();
  for (const auto& entry : it) {
    const std::string file = entry.path().filename().string();
    if (file == keep || !is_content_data_name(file, model_name)) continue;
    bool is_input = false;
    for (const auto& in : inputs) {
      std::error_code eq;
      if (std::filesystem::equivalent(in, entry.path(), eq)) is_input = true;
    }
    if (is_input) continue;
    std::error_code rm;
    std::filesystem::remove(entry.path(), rm);
    if (rm)
      log_warning(entry.path().string(), ": cannot remove superseded data file: ", rm.message());
  }
}

Status write_message(const google::protobuf::MessageLite& msg, AtomicFile& file) {
  google::protobuf::io::FileOutputStream raw(file.fd());
  {
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    msg.SerializeWithCachedSizes(&coded);
    if (coded.HadError()) return bad_input(file.path().string(), ": write failed");
  }
  // Flush, not Close: the AtomicFile owns the descriptor and still has to fsync it.
  if (!raw.Flush()) {
    return bad_input(file.path().string(), ": write failed (errno ", raw.GetErrno(), ")");
  }
  return Status::ok_status();
}

}  // namespace

Expected<std::unique_ptr<ir::Model>> load_model(const std::filesystem::path& path) {
  auto mapped = MappedFile::open(path);
  if (!mapped.ok()) return mapped.status();
  auto model =
      parse_bytes((*mapped)->data(), (*mapped)->size(), path.parent_path(), path.string(), path);
  if (model.ok()) (*model)->source_path = path;
  return model;
}

Expected<std::unique_ptr<ir::Model>> parse_model(std::string_view bytes,
                                                 const std::filesystem::path& base_dir,
                                                 std::string_view name) {
  return parse_bytes(bytes.data(), bytes.size(), base_dir, std::string(name));
}

Status save_model(const ir::Model& model, const std::filesystem::path& path,
                  const SaveOptions& options) {
  route_protobuf_logs();
  SaveOptions::ExternalData mode = options.external_data;
  size_t threshold = options.external_threshold;
  // Leave room for the graph structure next to the tensor bytes.
  constexpr uint64_t kInlineBudget = kProtoLimit - (64ull << 20);
  const uint64_t inline_bytes = inline_tensor_bytes(model);
  if (inline_bytes > kInlineBudget && mode != SaveOptions::ExternalData::kThreshold) {
    if (mode == SaveOptions::ExternalData::kNone) {
      return bad_input(path.string(), ": the model's tensors take ", inline_bytes,
                       " bytes, over protobuf's 2 GiB limit; save with external data");
    }
    log_warning(path.string(), ": tensors take ", inline_bytes,
                " bytes, over protobuf's 2 GiB limit: writing tensors of ", threshold,
                " bytes or more to external data");
    mode = SaveOptions::ExternalData::kThreshold;
  }

  TensorSink sink;
  std::unique_ptr<ExternalDataWriter> writer;
  const size_t effective_threshold =
      mode == SaveOptions::ExternalData::kThreshold ? threshold : SIZE_MAX;
  const bool need_writer =
      mode != SaveOptions::ExternalData::kNone && any_external(model, effective_threshold);
  // Without an explicit name the data file is named after its contents (content_data_name).
  const bool content_named = options.external_file.empty();
  if (need_writer) {
    const std::string location = content_named ? kPendingLocation : options.external_file;
    if (std::filesystem::path(location).has_parent_path() ||
        std::filesystem::path(location).is_absolute()) {
      return usage_error("external data file name '", location,
                         "' must be a plain file name (it is written next to the model)");
    }
    const std::string temp_name = content_named ? path.filename().string() + ".data" : location;
    MIXQ_ASSIGN_OR_RETURN(writer,
                          ExternalDataWriter::create(path.parent_path() / temp_name, location));
    sink.writer = writer.get();
    sink.threshold = effective_threshold;
    sink.keep_external = true;
  }

  ::onnx::ModelProto mp;
  MIXQ_RETURN_IF_ERROR(model_to_proto(model, &mp, sink).with_context(path.string()));
  std::string data_name;
  if (writer && content_named) {
    data_name = content_data_name(path.filename().string(), writer->content_hash());
    rename_location(mp.mutable_graph(), data_name);
  }
  const size_t size = mp.ByteSizeLong();
  if (size > kProtoLimit) {
    return bad_input(path.string(), ": serialized model would be ", size,
                     " bytes, over protobuf's 2 GiB limit; save with external data");
  }
  // Order: data file, then model, then the data files the previous model used. A kill between
  // any two steps leaves a model whose data file exists and is its own.
  MIXQ_ASSIGN_OR_RETURN(auto file, AtomicFile::create(path));
  MIXQ_RETURN_IF_ERROR(write_message(mp, *file));
  if (writer) {
    MIXQ_RETURN_IF_ERROR(data_name.empty() ? writer->commit() : writer->commit_as(data_name));
  }
  MIXQ_RETURN_IF_ERROR(file->commit());
  remove_superseded_data_files(model, path, data_name);
  return Status::ok_status();
}

Expected<std::string> serialize_model(const ir::Model& model) {
  route_protobuf_logs();
  ::onnx::ModelProto mp;
  MIXQ_RETURN_IF_ERROR(model_to_proto(model, &mp, TensorSink{}));
  if (mp.ByteSizeLong() > kProtoLimit) {
    return bad_input("serialized model would be over protobuf's 2 GiB limit");
  }
  std::string out;
  {
    google::protobuf::io::StringOutputStream raw(&out);
    google::protobuf::io::CodedOutputStream coded(&raw);
    coded.SetSerializationDeterministic(true);
    mp.SerializeWithCachedSizes(&coded);
  }
  return out;
}

Expected<ir::Tensor> load_tensor_file(const std::filesystem::path& path) {
  route_protobuf_logs();
  MIXQ_ASSIGN_OR_RETURN(auto mapped, MappedFile::open(path));
  if (mapped->size() > kProtoLimit) return bad_input(path.string(), ": file over 2 GiB");
  ::onnx::TensorProto tp;
  if (!tp.ParseFromArray(mapped->data(), static_cast<int>(mapped->size()))) {
    return bad_input(path.string(), ": not a valid ONNX TensorProto");
  }
  ExternalDataResolver resolver(path.parent_path());
  auto t = tensor_from_proto(tp, &resolver);
  if (!t.ok()) return t.status().with_context(path.string());
  return t;
}

Status save_tensor_file(const ir::Tensor& tensor, const std::filesystem::path& path) {
  ::onnx::TensorProto tp;
  MIXQ_RETURN_IF_ERROR(tensor_to_proto(tensor, &tp, TensorSink{}));
  std::string bytes;
  if (!tp.SerializeToString(&bytes)) return internal_error("cannot serialize tensor");
  return write_file_atomic(path, bytes);
}

}  // namespace mixq::onnx
