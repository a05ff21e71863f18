// Inline SVG charts and the small script the HTML reports share (convert_report, sensitivity_
// report). Everything is drawn on the host as SVG, so a page shows its data with scripts off;
// the script only adds the bar-scale switch and table sorting, and marks the page rendered
// (body data-rendered="yes"), which the headless-browser test checks.
// Element classes the test and the script rely on: "sens-bar" (one rect per layer and format,
// data-format, data-drop), "plan-cell" (one per layer, data-format), "pt-frontier",
// "pt-uniform", "pt-round" (the points of the metric-vs-cost chart).
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace mixq::report {

// A fixed colour per precision name (fp32, fp16, int8, fp8; grey for anything else).
const char* precision_color(const std::string& precision);

struct SensitivityRow {
  std::string layer;
  std::vector<std::optional<double>> drop;        // per format; nullopt: no finite measurement
  std::vector<std::optional<double>> layer_sqnr;  // per format, dB
  std::string chosen;                             // the plan's format, empty when none
};

// One group of horizontal bars per layer (in the given order), one bar per format, length
// proportional to the metric drop (negative drops draw as empty bars with their value). The
// chosen format, where given, is outlined and named after the group.
std::string sensitivity_bars_svg(const std::vector<std::string>& formats,
                                 const std::vector<SensitivityRow>& rows, const std::string& unit);

// The chosen precision of each layer along the network: one coloured cell per layer.
std::string precision_strip_svg(const std::vector<std::string>& layers,
                                const std::vector<std::string>& precisions);

struct CurvePoint {
  enum class Kind { kFrontier, kUniform, kRound };
  Kind kind = Kind::kFrontier;
  double cost = 0;
  double drop = 0;
  std::string label;
  bool met = true;  // rounds: whether the measured drop met the budget
};

// Metric drop against cost: the predicted frontier of plans (a line), the uniform choices
// (squares, predicted), and the verified rounds (circles, measured), with the budget as a
// dashed line.
std::string metric_cost_svg(const std::vector<CurvePoint>& points, double budget,
                            const std::string& cost_label, const std::string& drop_label);

// CSS for the legends, swatches and sortable headings the charts and script use.
std::string chart_css();

// The <script> element: scale switch for the bar chart, click-to-sort for table.sortable.
std::string report_script();

}  // namespace mixq::report
