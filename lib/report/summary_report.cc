#include "mixq/report/summary_report.h"

#include <cstdio>
#include <sstream>

namespace mixq::report {
namespace {

using Json = nlohmann::ordered_json;

std::string domain_name(const std::string& d) { return d.empty() ? "ai.onnx" : d; }

// "1,234,567"
std::string grouped(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

Json dims_json(const std::vector<int64_t>& dims) {
  Json a = Json::array();
  for (int64_t d : dims) a.push_back(d);
  return a;
}

Json values_json(const std::vector<analysis::ValueSummary>& values) {
  Json a = Json::array();
  for (const auto& v : values) {
    Json j;
    j["name"] = v.name;
    j.update(type_to_json(v.type));
    a.push_back(std::move(j));
  }
  return a;
}

}  // namespace

std::string human_bytes(uint64_t bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 4) {
    v /= 1024.0;
    ++u;
  }
  char buf[32];
  if (u == 0) {
    std::snprintf(buf, sizeof buf, "%llu B", static_cast<unsigned long long>(bytes));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  }
  return buf;
}

Json type_to_json(const ir::ValueType& t) {
  Json j;
  if (t.kind == ir::ValueType::Kind::kOther) {
    j["dtype"] = nullptr;
    j["shape"] = nullptr;
    j["kind"] = "non-tensor";
    return j;
  }
  j["dtype"] =
      t.dtype == DType::kUndefined ? Json(nullptr) : Json(std::string(dtype_name(t.dtype)));
  if (!t.shape) {
    j["shape"] = nullptr;
    return j;
  }
  Json shape = Json::array();
  for (const ir::Dim& d : *t.shape) {
    if (d.is_known()) {
      shape.push_back(d.value());
    } else if (d.is_symbolic()) {
      shape.push_back(d.to_string());
    } else {
      shape.push_back(nullptr);
    }
  }
  j["shape"] = std::move(shape);
  return j;
}

Json summary_to_json(const analysis::ModelSummary& s) {
  Json j;
  j["model"] = s.path;
  j["file_bytes"] = s.file_bytes;
  j["producer"] = {{"name", s.producer_name}, {"version", s.producer_version}};
  j["ir_version"] = s.ir_version;
  Json opsets = Json::array();
  for (const auto& o : s.opsets) {
    opsets.push_back({{"domain", domain_name(o.domain)}, {"version", o.version}});
  }
  j["opsets"] = std::move(opsets);
  Json meta = Json::object();
  for (const auto& [k, v] : s.metadata) meta[k] = v;
  j["metadata"] = std::move(meta);
  j["inputs"] = values_json(s.inputs);
  j["outputs"] = values_json(s.outputs);
  j["nodes"] = s.node_count;
  Json ops = Json::array();
  for (const auto& o : s.ops) {
    ops.push_back({{"op", o.op_type}, {"domain", domain_name(o.domain)}, {"count", o.count}});
  }
  j["ops"] = std::move(ops);
  Json by_dtype = Json::array();
  for (const auto& d : s.parameters_by_dtype) {
    by_dtype.push_back(
        {{"dtype", std::string(dtype_name(d.dtype))}, {"count", d.count}, {"bytes", d.bytes}});
  }
  j["parameters"] = {
      {"count", s.parameter_count}, {"bytes", s.parameter_bytes}, {"by_dtype", by_dtype}};
  Json layers = Json::array();
  for (const auto& l : s.quantizable) {
    layers.push_back({{"node", l.node},
                      {"op", l.op_type},
                      {"weight", l.weight},
                      {"weight_dtype", std::string(dtype_name(l.weight_dtype))},
                      {"weight_shape", dims_json(l.weight_shape)}});
  }
  j["quantizable"] = std::move(layers);
  Json unsupported = Json::array();
  for (const auto& u : s.unsupported) {
    unsupported.push_back({{"op", u.op_type},
                           {"domain", domain_name(u.domain)},
                           {"opset", u.opset},
                           {"count", u.nodes.size()},
                           {"nodes", u.nodes}});
  }
  j["unsupported"] = std::move(unsupported);
  j["warnings"] = s.warnings;
  return j;
}

std::string summary_to_text(const analysis::ModelSummary& s) {
  std::ostringstream out;
  auto row = [&](const std::string& label, const std::string& value) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "%-11s", label.c_str());
    out << buf << value << "\n";
  };
  row("model", s.path + (s.file_bytes ? " (" + human_bytes(s.file_bytes) + ")" : ""));
  std::string producer = s.producer_name.empty() ? "(not recorded)" : s.producer_name;
  if (!s.producer_version.empty()) producer += " " + s.producer_version;
  row("producer", producer);
  std::string opsets;
  for (const auto& o : s.opsets) {
    opsets +=
        (opsets.empty() ? "" : ", ") + domain_name(o.domain) + " " + std::to_string(o.version);
  }
  row("format", "IR " + std::to_string(s.ir_version) + ", opsets: " + opsets);
  auto values = [&](const std::string& label, const std::vector<analysis::ValueSummary>& vs) {
    size_t width = 0;
    for (const auto& v : vs) width = std::max(width, v.name.size());
    bool first = true;
    for (const auto& v : vs) {
      std::string name = v.name;
      name.resize(width + 2, ' ');
      row(first ? label : "", name + v.type.to_string());
      first = false;
    }
    if (vs.empty()) row(label, "(none)");
  };
  values("inputs", s.inputs);
  values("outputs", s.outputs);
  row("nodes", grouped(s.node_count) + " (" + std::to_string(s.ops.size()) + " op types)");
  std::string ops;
  for (const auto& o : s.ops) {
    if (!ops.empty()) ops += ", ";
    ops += (o.domain.empty() ? "" : o.domain + ":") + o.op_type + " " + std::to_string(o.count);
  }
  row("ops", ops.empty() ? "(none)" : ops);
  std::string params = grouped(s.parameter_count) + " (" + human_bytes(s.parameter_bytes) + ")";
  for (const auto& d : s.parameters_by_dtype) {
    params += std::string(d.dtype == s.parameters_by_dtype.front().dtype ? ": " : ", ") +
              std::string(dtype_name(d.dtype)) + " " + grouped(d.count) + " (" +
              human_bytes(d.bytes) + ")";
  }
  row("parameters", params);
  out << "\nquantizable layers: " << s.quantizable.size() << "\n";
  if (!s.quantizable.empty()) {
    size_t wn = 4, wo = 2, ww = 6;
    for (const auto& l : s.quantizable) {
      wn = std::max(wn, l.node.size());
      wo = std::max(wo, l.op_type.size());
      ww = std::max(ww, l.weight.size());
    }
    auto pad = [](std::string x, size_t w) {
      x.resize(std::max(w, x.size()) + 2, ' ');
      return x;
    };
    out << "  " << pad("NODE", wn) << pad("OP", wo) << pad("WEIGHT", ww) << "SHAPE\n";
    for (const auto& l : s.quantizable) {
      std::string shape = "[";
      for (size_t i = 0; i < l.weight_shape.size(); ++i) {
        shape += (i ? ", " : "") + std::to_string(l.weight_shape[i]);
      }
      out << "  " << pad(l.node, wn) << pad(l.op_type, wo) << pad(l.weight, ww) << shape << "] "
          << dtype_name(l.weight_dtype) << "\n";
    }
  }
  out << "\nunsupported ops: ";
  if (s.unsupported.empty()) {
    out << "none\n";
  } else {
    out << s.unsupported.size() << "\n";
    for (const auto& u : s.unsupported) {
      out << "  " << domain_name(u.domain) << ":" << u.op_type << "-" << u.opset << " ("
          << u.nodes.size() << " node" << (u.nodes.size() == 1 ? "" : "s") << ", first "
          << u.nodes.front() << ")\n";
    }
  }
  if (!s.warnings.empty()) {
    out << "\nwarnings:\n";
    for (const auto& w : s.warnings) out << "  " << w << "\n";
  }
  return out.str();
}

}  // namespace mixq::report
