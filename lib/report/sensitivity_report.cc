#include "mixq/report/sensitivity_report.h"

#include "mixq/report/charts.h"
#include "mixq/report/html_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace mixq::report {

namespace {

using json = nlohmann::ordered_json;

std::string number(const json& v, const char* fmt) {
  if (v.is_null()) return "inf";
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v.get<double>());
  return buf;
}

std::string shape(const json& dims) {
  std::string s = "[";
  for (size_t i = 0; i < dims.size(); ++i) {
    s += (i ? "," : "") + std::to_string(dims[i].get<int64_t>());
  }
  return s + "]";
}

std::string pad(std::string s, size_t width, bool right = false) {
  if (s.size() >= width) return s;
  const std::string fill(width - s.size(), ' ');
  return right ? fill + s : s + fill;
}

std::string headline(const json& s) {
  const auto& m = s["metric"];
  std::string h =
      "metric " + m["name"].get<std::string>() + " (drop in " + m["unit"].get<std::string>() + ")";
  if (!m["fp32"].is_null()) h += ", FP32 " + number(m["fp32"], "%.4f");
  h += " on " + s["data"]["eval"].get<std::string>() + " (" +
       std::to_string(s["data"]["samples"].get<int64_t>()) + " samples)";
  return h;
}

}  // namespace

std::string sensitivity_table(const json& s) {
  std::ostringstream out;
  out << headline(s) << "\n";
  const auto& formats = s["flags"]["formats"];
  size_t name_w = 5;
  for (const auto& l : s["layers"]) name_w = std::max(name_w, l["name"].get<std::string>().size());
  out << pad("#", 4, true) << "  " << pad("LAYER", name_w) << "  " << pad("OP", 13) << "  "
      << pad("WEIGHT", 16) << "  " << pad("MFLOP", 10, true);
  for (const auto& f : formats) {
    const std::string n = f.get<std::string>();
    out << "  " << pad(n + " drop", 11, true) << "  " << pad(n + " layer dB", 13, true);
  }
  out << "\n";
  int rank = 0;
  for (const auto& l : s["layers"]) {
    char mflop[32];
    std::snprintf(mflop, sizeof(mflop), "%.2f", l["flops"].get<double>() / 1e6);
    out << pad(std::to_string(++rank), 4, true) << "  " << pad(l["name"].get<std::string>(), name_w)
        << "  " << pad(l["op_type"].get<std::string>(), 13) << "  "
        << pad(shape(l["weight_shape"]), 16) << "  " << pad(mflop, 10, true);
    for (const auto& f : formats) {
      const auto& r = l["results"][f.get<std::string>()];
      const std::string n = f.get<std::string>();
      out << "  " << pad(number(r["drop"], "%.4g"), n.size() + 5, true) << "  "
          << pad(number(r["layer_sqnr_db"], "%.2f"), n.size() + 9, true);
    }
    out << "\n";
  }
  return out.str();
}

std::string sensitivity_html(const json& s) {
  const auto& formats = s["flags"]["formats"];
  const auto& layers = s["layers"];
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    << "<title>mixq sensitivity: " << html_escape(s["model"]["path"].get<std::string>())
    << "</title>\n<style>\n"
    << "body{font-family:system-ui,sans-serif;margin:2em;color:#222}\n"
    << "table{border-collapse:collapse;font-size:13px}\n"
    << "th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}\n"
    << "th{background:#eee;cursor:default}th.name,td.name{text-align:left;font-family:monospace}\n"
    << "tr:nth-child(even){background:#f8f8f8}\n"
    << chart_css() << "</style></head><body>\n";
  h << "<h1>Per-layer sensitivity</h1>\n<p>Model <code>"
    << html_escape(s["model"]["path"].get<std::string>()) << "</code> (SHA-256 <code>"
    << html_escape(s["model"]["sha256"].get<std::string>()) << "</code>). "
    << html_escape(headline(s)) << ". Each row: only that layer quantized, everything else FP32. "
    << "Sorted worst first.</p>\n";

  // The bar chart (charts.h): one group per layer, one bar per format.
  std::vector<std::string> names;
  for (const auto& f : formats) names.push_back(f.get<std::string>());
  std::vector<SensitivityRow> rows;
  for (const auto& l : layers) {
    SensitivityRow row;
    row.layer = l["name"].get<std::string>();
    for (const auto& n : names) {
      const auto& r = l["results"][n];
      row.drop.push_back(r["drop"].is_number() ? std::optional<double>(r["drop"].get<double>())
                                               : std::nullopt);
      row.layer_sqnr.push_back(r["layer_sqnr_db"].is_number()
                                   ? std::optional<double>(r["layer_sqnr_db"].get<double>())
                                   : std::nullopt);
    }
    rows.push_back(std::move(row));
  }
  h << "<h2>Drop per layer and format</h2>\n"
    << sensitivity_bars_svg(names, rows, s["metric"]["unit"].get<std::string>());

  h << "<h2>Table</h2>\n<p>Click a column heading to sort.</p>\n<table "
       "class=\"sortable\">\n<tr><th>#</th><th class=\"name\">layer</th>"
    << "<th class=\"name\">op</th><th class=\"name\">weight shape</th><th>MFLOP</th>";
  for (const auto& f : formats) {
    const std::string n = html_escape(f.get<std::string>());
    h << "<th>" << n << " drop</th><th>" << n << " layer SQNR dB</th><th>" << n << " KiB</th>";
  }
  h << "</tr>\n";
  int rank = 0;
  for (const auto& l : layers) {
    char mflop[32];
    std::snprintf(mflop, sizeof(mflop), "%.2f", l["flops"].get<double>() / 1e6);
    h << "<tr><td>" << ++rank << "</td><td class=\"name\">"
      << html_escape(l["name"].get<std::string>()) << "</td><td class=\"name\">"
      << html_escape(l["op_type"].get<std::string>()) << "</td><td class=\"name\">"
      << shape(l["weight_shape"]) << "</td><td>" << mflop << "</td>";
    for (const auto& f : formats) {
      const std::string n = f.get<std::string>();
      const auto& r = l["results"][n];
      h << "<td>" << number(r["drop"], "%.4g") << "</td><td>" << number(r["layer_sqnr_db"], "%.2f")
        << "</td><td>" << number(json(l["weight_bytes"][n].get<double>() / 1024.0), "%.1f")
        << "</td>";
    }
    h << "</tr>\n";
  }
  h << "</table>\n" << report_script() << "</body></html>\n";
  return h.str();
}

}  // namespace mixq::report
