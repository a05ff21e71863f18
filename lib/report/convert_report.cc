#include "mixq/report/convert_report.h"

#include "mixq/report/charts.h"
#include "mixq/report/html_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>
#include <string>
#include <vector>

namespace mixq::report {

namespace {

using json = nlohmann::ordered_json;

std::string num(const json& v, const char* fmt = "%.4g") {
  if (!v.is_number()) return v.is_null() ? "inf" : v.dump();
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v.get<double>());
  return buf;
}

std::string mib(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%.2f MiB", bytes / (1024.0 * 1024.0));
  return buf;
}

std::string str(const json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); }

// The pieces both renderings show.
struct Summary {
  std::string title, budget, size, speed, task;
};

Summary summarize(const json& r) {
  Summary s;
  const std::string precision = r["flags"]["precision"].is_null()
                                    ? "plan " + str(r["flags"]["plan"])
                                    : str(r["flags"]["precision"]);
  s.title = "mixq convert: " + str(r["model"]["path"]) + " → " + precision;
  const json& b = r["budget"];
  if (b.is_null()) {
    s.budget = "no budget given";
  } else {
    const bool floor = !b["min_sqnr"].is_null();
    s.budget = str(b["metric"]) +
               (floor ? " ≥ " + num(b["min_sqnr"]) + " dB"
                      : " drop ≤ " + num(b["max_drop"]) + " (" + str(b["unit"]) + ")") +
               ": " + (b["met"].get<bool>() ? "met" : "NOT MET") + ", achieved " +
               num(b["achieved"]);
  }
  const double before = r["sizes"]["model_bytes"].get<double>();
  const double after = r["sizes"]["output_bytes"].get<double>();
  char ratio[32];
  std::snprintf(ratio, sizeof(ratio), "%.2f×", after / before);
  s.size = mib(before) + " → " + mib(after) + " (" + ratio + ")";
  if (r.contains("estimate")) {
    const json& e = r["estimate"];
    s.speed = num(e["speedup_vs_fp32"], "%.2f") + "× FP32, " + num(e["speedup_vs_fp16"], "%.2f") +
              "× all-FP16 (estimated, " + str(e["target"]) + ", " + str(e["scope"]) + ")";
  }
  if (r["verification"].contains("task")) {
    const json& t = r["verification"]["task"];
    s.task = str(t["metric"]) + " " + num(t["fp32"], "%.4f") + " → " + num(t["quantized"], "%.4f");
  }
  return s;
}

std::string md_cell(const std::string& in) {
  std::string out;
  for (char c : in) out += c == '|' ? std::string("\\|") : std::string(1, c);
  return out;
}

// The formats the automatic plan chose from (empty for other reports).
std::vector<std::string> auto_formats(const json& r) {
  std::vector<std::string> out;
  if (!r.contains("auto")) return out;
  for (const auto& f : r["auto"]["formats"]) out.push_back(f.get<std::string>());
  return out;
}

// A layer's measured drop in a format as text ("-" when not measured, "inf" when not finite).
std::string sens_drop(const json& layer, const std::string& format) {
  if (!layer.contains("sensitivity") || !layer["sensitivity"].contains(format)) return "-";
  return num(layer["sensitivity"][format]["drop"]);
}

// Cost in the unit people read: µs for estimated time, KiB for weight bytes.
double display_cost(const json& a, double cost) {
  return a["cost_unit"] == "s" ? cost * 1e6 : cost / 1024.0;
}

std::string cost_label(const json& a) {
  return a["cost_unit"] == "s"
             ? "estimated time of the quantizable layers on " + str(a["target"]) + " (µs)"
             : "weight bytes of the quantizable layers (KiB)";
}

std::string round_line(const json& round) {
  std::string s = "round " + str(round["round"]) + ": predicted drop " +
                  num(round["predicted_drop"]) + ", measured " + num(round["achieved"]) + " — " +
                  (round["met"].get<bool>() ? "met" : "missed");
  if (round.contains("promoted")) {
    const json& p = round["promoted"];
    s += "; promoted " + str(p["layer"]) + " " + str(p["from"]) + " → " + str(p["to"]);
  }
  return s;
}

// The auto report's charts: the plan along the network, the sensitivity bars, and the
// metric-vs-cost curve of the candidate plans and the verified rounds.
std::string auto_charts(const json& r) {
  const json& a = r["auto"];
  const auto formats = auto_formats(r);
  std::vector<SensitivityRow> rows;
  for (const auto& l : r["layers"]) {
    SensitivityRow row;
    row.layer = str(l["name"]);
    row.chosen = str(l["precision"]);
    for (const auto& f : formats) {
      const json* m = l.contains("sensitivity") && l["sensitivity"].contains(f)
                          ? &l["sensitivity"][f]
                          : nullptr;
      const auto opt = [&](const char* key) {
        return m != nullptr && (*m)[key].is_number()
                   ? std::optional<double>((*m)[key].get<double>())
                   : std::nullopt;
      };
      row.drop.push_back(opt("drop"));
      row.layer_sqnr.push_back(opt("layer_sqnr_db"));
    }
    rows.push_back(std::move(row));
  }
  std::vector<CurvePoint> points;
  for (const auto& c : a["candidates"]) {
    CurvePoint p;
    p.cost = display_cost(a, c["cost"].get<double>());
    p.drop = c["predicted_drop"].get<double>();
    if (c["kind"] == "uniform") {
      p.kind = CurvePoint::Kind::kUniform;
      p.label = "all " + str(c["precision"]);
    } else {
      std::string counts;
      for (const auto& [k, v] : c["layer_counts"].items()) {
        counts += (counts.empty() ? "" : ", ") + k + " " + v.dump();
      }
      p.label = "plan for budget " + num(c["budget"]) + " (" + counts + ")";
    }
    points.push_back(p);
  }
  for (const auto& round : a["rounds"]) {
    CurvePoint p;
    p.kind = CurvePoint::Kind::kRound;
    p.cost = display_cost(a, round["cost"].get<double>());
    p.drop = round["achieved"].is_number() ? round["achieved"].get<double>() : 0.0;
    p.met = round["met"].get<bool>();
    p.label = "round " + str(round["round"]);
    points.push_back(p);
  }
  const json& b = r["budget"];
  std::ostringstream h;
  h << "<h2>Sensitivity per layer and format</h2>\n"
    << sensitivity_bars_svg(formats, rows, str(b["unit"]))
    << "<h2>Metric drop against cost of the plans</h2>\n"
    << metric_cost_svg(points, b["max_drop"].get<double>(), cost_label(a),
                       str(b["metric"]) + " drop (" + str(b["unit"]) + ")")
    << "<h2>Verification rounds</h2>\n<ol start=\"0\">\n";
  for (const auto& round : a["rounds"]) {
    h << "<li class=\"" << (round["met"].get<bool>() ? "ok" : "bad") << "\">"
      << html_escape(round_line(round)) << "</li>\n";
  }
  h << "</ol>\n";
  return h.str();
}

}  // namespace

std::string convert_report_markdown(const json& r) {
  const Summary s = summarize(r);
  std::ostringstream md;
  md << "**" << s.title << "** · budget: " << s.budget << " · size " << s.size;
  if (!s.speed.empty()) md << " · speed " << s.speed;
  md << "\n\n";
  if (!s.task.empty()) md << "Task metric on the evaluation data: " << s.task << "\n\n";
  const auto formats = auto_formats(r);
  if (!formats.empty()) {
    md << "Automatic plan (" << str(r["auto"]["objective"]) << " on " << str(r["auto"]["target"])
       << "), verification rounds:\n\n";
    for (const auto& round : r["auto"]["rounds"]) md << "- " << md_cell(round_line(round)) << "\n";
    md << "\n";
  }
  md << "| layer | op | precision | reason | GFLOP | est. µs |";
  for (const auto& f : formats) md << " " << f << " drop |";
  md << "\n|---|---|---|---|---|---|";
  for (size_t i = 0; i < formats.size(); ++i) md << "---|";
  md << "\n";
  for (const auto& l : r["layers"]) {
    md << "| " << md_cell(str(l["name"])) << " | " << str(l["op_type"]) << " | "
       << str(l["precision"]) << " | " << md_cell(str(l["reason"])) << " | "
       << (l.contains("flops") ? num(json(l["flops"].get<double>() / 1e9), "%.3f") : "-") << " | "
       << (l.contains("estimated_us") ? num(l["estimated_us"], "%.2f") : "-") << " |";
    for (const auto& f : formats) md << " " << sens_drop(l, f) << " |";
    md << "\n";
  }
  md << "\n| output | SQNR dB | cosine | max abs error | top-1 agreement % "
        "|\n|---|---|---|---|---|\n";
  for (const auto& o : r["verification"]["outputs"]) {
    if (!o.contains("cosine")) continue;
    md << "| " << md_cell(str(o["name"])) << " | " << num(o["sqnr_db"], "%.2f") << " | "
       << num(o["cosine"], "%.6f") << " | " << num(o["max_abs_error"]) << " | "
       << num(o["top1_agreement"], "%.2f") << " |\n";
  }
  md << "\n<details><summary>Rewrite log (" << r["log"].size() << " lines)</summary>\n\n```\n";
  for (const auto& line : r["log"]) md << str(line) << "\n";
  md << "```\n</details>\n";
  return md.str();
}

std::string convert_report_html(const json& r) {
  const Summary s = summarize(r);
  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>"
    << html_escape(s.title) << "</title>\n<style>"
    << "body{font:14px/1.4 system-ui,sans-serif;margin:2em;color:#222}"
    << "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;"
    << "text-align:left}th{background:#f3f3f3}.fp32{color:#555}.fp16{color:#1565c0}"
    << ".int8{color:#2e7d32}.fp8{color:#6a1b9a}.bad{color:#c62828;font-weight:bold}"
    << ".ok{color:#2e7d32;font-weight:bold}pre{background:#f7f7f7;padding:1em;overflow:auto}"
    << chart_css() << "</style></head><body>\n<h1>" << html_escape(s.title) << "</h1>\n<ul>\n";
  const bool met = r["budget"].is_null() || r["budget"]["met"].get<bool>();
  h << "<li>Budget: <span class=\"" << (met ? "ok" : "bad") << "\">" << html_escape(s.budget)
    << "</span></li>\n<li>Size: " << html_escape(s.size) << "</li>\n";
  if (!s.speed.empty()) h << "<li>Speed: " << html_escape(s.speed) << "</li>\n";
  if (!s.task.empty()) h << "<li>Task metric: " << html_escape(s.task) << "</li>\n";
  h << "</ul>\n<h2>Precision along the network</h2>\n";
  std::vector<std::string> names, precisions;
  for (const auto& l : r["layers"]) {
    names.push_back(str(l["name"]));
    precisions.push_back(str(l["precision"]));
  }
  h << precision_strip_svg(names, precisions);
  if (r.contains("auto")) h << auto_charts(r);
  h << "<h2>Estimated time per layer</h2>\n";
  // Estimated time per layer as bars (inline SVG), then the table.
  double most = 0;
  for (const auto& l : r["layers"]) {
    if (l.contains("estimated_us")) most = std::max(most, l["estimated_us"].get<double>());
  }
  const size_t n = r["layers"].size();
  if (most > 0) {
    h << "<svg width=\"640\" height=\"" << 16 * n + 4 << "\" role=\"img\" "
      << "aria-label=\"estimated time per layer\">\n";
    size_t i = 0;
    for (const auto& l : r["layers"]) {
      const double us = l.contains("estimated_us") ? l["estimated_us"].get<double>() : 0;
      const int w = static_cast<int>(std::lround(400.0 * us / most));
      h << "<text x=\"0\" y=\"" << 16 * i + 12 << "\" font-size=\"11\">"
        << html_escape(str(l["name"])).substr(0, 36) << "</text><rect x=\"230\" y=\"" << 16 * i + 2
        << "\" width=\"" << w << "\" height=\"12\" fill=\"#90a4ae\"/>\n";
      ++i;
    }
    h << "</svg>\n";
  }
  const auto formats = auto_formats(r);
  h << "<h2>Layers</h2>\n<p>Click a column heading to sort.</p>\n<table class=\"sortable\"><tr>"
    << "<th>#</th><th>layer</th><th>op</th><th>precision</th><th>reason</th><th>GFLOP</th>"
    << "<th>est. µs</th>";
  for (const auto& f : formats) {
    h << "<th>" << html_escape(f) << " drop</th><th>" << html_escape(f) << " layer dB</th>";
  }
  h << "</tr>\n";
  size_t index = 0;
  for (const auto& l : r["layers"]) {
    const std::string p = str(l["precision"]);
    h << "<tr><td>" << index++ << "</td><td>" << html_escape(str(l["name"])) << "</td><td>"
      << str(l["op_type"]) << "</td><td class=\"" << p << "\">" << p << "</td><td>"
      << html_escape(str(l["reason"])) << "</td><td>"
      << (l.contains("flops") ? num(json(l["flops"].get<double>() / 1e9), "%.3f") : "-")
      << "</td><td>" << (l.contains("estimated_us") ? num(l["estimated_us"], "%.2f") : "-")
      << "</td>";
    for (const auto& f : formats) {
      const bool has = l.contains("sensitivity") && l["sensitivity"].contains(f);
      h << "<td>" << sens_drop(l, f) << "</td><td>"
        << (has ? num(l["sensitivity"][f]["layer_sqnr_db"], "%.2f") : "-") << "</td>";
    }
    h << "</tr>\n";
  }
  h << "</table>\n<h2>Verification</h2>\n<table><tr><th>output</th><th>SQNR dB</th><th>cosine"
    << "</th><th>max abs error</th><th>top-1 agreement %</th></tr>\n";
  for (const auto& o : r["verification"]["outputs"]) {
    if (!o.contains("cosine")) continue;
    h << "<tr><td>" << html_escape(str(o["name"])) << "</td><td>" << num(o["sqnr_db"], "%.2f")
      << "</td><td>" << num(o["cosine"], "%.6f") << "</td><td>" << num(o["max_abs_error"])
      << "</td><td>" << num(o["top1_agreement"], "%.2f") << "</td></tr>\n";
  }
  h << "</table>\n<h2>Rewrite log</h2>\n<pre>";
  for (const auto& line : r["log"]) h << html_escape(str(line)) << "\n";
  h << "</pre>\n" << report_script() << "</body></html>\n";
  return h.str();
}

}  // namespace mixq::report
