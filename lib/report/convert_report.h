// The converter's report for people: Markdown for pull-request comments and a self-contained
// HTML page (inline CSS and SVG, nothing fetched), both rendered from REPORT.json (schema
// mixq.convert, docs/convert.md). The first Markdown line is the summary: budget and achieved
// drop, size and estimated speed against FP32 and all-FP16; then the per-layer table, the
// verification per output, and the rewrite log.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace mixq::report {

std::string convert_report_markdown(const nlohmann::ordered_json& report);
std::string convert_report_html(const nlohmann::ordered_json& report);

}  // namespace mixq::report
