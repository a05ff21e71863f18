#include "mixq/report/convert_report.h"

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

}  // namespace

std::string convert_report_markdown(const json& r) {
  const Summary s = summarize(r);
  std::ostringstream md;
  md << "**" << s.title << "** · budget: " << s.budget << " · size " << s.size;
  if (!s.speed.empty()) md << " · speed " << s.speed;
  md << "\n\n";
  if (!s.task.empty()) md << "Task metric on the evaluation data: " << s.task << "\n\n";
  md << "| layer | op | precision | reason | GFLOP | est. µs |\n|---|---|---|---|---|---|\n";
  for (const auto& l : r["layers"]) {
    md << "| " << md_cell(str(l["name"])) << " | " << str(l["op_type"]) << " | "
       << str(l["precision"]) << " | " << md_cell(str(l["reason"])) << " | "
       << (l.contains("flops") ? num(json(l["flops"].get<double>() / 1e9), "%.3f") : "-") << " | "
       << (l.contains("estimated_us") ? num(l["estimated_us"], "%.2f") : "-") << " |\n";
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
    << "</style></head><body>\n<h1>" << html_escape(s.title) << "</h1>\n<ul>\n";
  const bool met = r["budget"].is_null() || r["budget"]["met"].get<bool>();
  h << "<li>Budget: <span class=\"" << (met ? "ok" : "bad") << "\">" << html_escape(s.budget)
    << "</span></li>\n<li>Size: " << html_escape(s.size) << "</li>\n";
  if (!s.speed.empty()) h << "<li>Speed: " << html_escape(s.speed) << "</li>\n";
  if (!s.task.empty()) h << "<li>Task metric: " << html_escape(s.task) << "</li>\n";
  h << "</ul>\n<h2>Layers</h2>\n";
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
  h << "<table><tr><th>layer</th><th>op</th><th>precision</th><th>reason</th><th>GFLOP</th>"
    << "<th>est. µs</th></tr>\n";
  for (const auto& l : r["layers"]) {
    const std::string p = str(l["precision"]);
    h << "<tr><td>" << html_escape(str(l["name"])) << "</td><td>" << str(l["op_type"])
      << "</td><td class=\"" << p << "\">" << p << "</td><td>" << html_escape(str(l["reason"]))
      << "</td><td>"
      << (l.contains("flops") ? num(json(l["flops"].get<double>() / 1e9), "%.3f") : "-")
      << "</td><td>" << (l.contains("estimated_us") ? num(l["estimated_us"], "%.2f") : "-")
      << "</td></tr>\n";
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
  h << "</pre>\n</body></html>\n";
  return h.str();
}

}  // namespace mixq::report
