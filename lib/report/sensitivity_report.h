// Human-readable forms of a "mixq.sensitivity" document (calibration/analyze.h, docs/analyze.md):
// the text table `mixq analyze` prints, and a self-contained HTML page (inline CSS and SVG, no
// external resource) with the same table and a bar chart of each layer's drop per format.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace mixq::report {

// The layers in the document's order (worst first), one line each: rank, name, op, weight
// shape, MFLOPs and per format the drop and the layer-local SQNR.
std::string sensitivity_table(const nlohmann::ordered_json& sensitivity);

// The HTML page. Layer names are escaped.
std::string sensitivity_html(const nlohmann::ordered_json& sensitivity);

}  // namespace mixq::report
