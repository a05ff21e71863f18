#include "mixq/report/charts.h"

#include "mixq/report/html_util.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <sstream>

namespace mixq::report {

namespace {

std::string fmt(double v, const char* f = "%.4g") {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

std::string px(double v) { return fmt(v, "%.1f"); }

}  // namespace

const char* precision_color(const std::string& p) {
  if (p == "fp32") return "#78909c";
  if (p == "fp16") return "#1565c0";
  if (p == "int8") return "#2e7d32";
  if (p == "fp8") return "#8e24aa";
  return "#bdbdbd";
}

std::string sensitivity_bars_svg(const std::vector<std::string>& formats,
                                 const std::vector<SensitivityRow>& rows, const std::string& unit) {
  double vmax = 0;
  for (const auto& r : rows) {
    for (const auto& d : r.drop) {
      if (d) vmax = std::max(vmax, *d);
    }
  }
  if (vmax <= 0) vmax = 1;
  const int bar_h = 10, label_w = 300, chart_w = 420;
  const int group_h = bar_h * static_cast<int>(formats.size()) + 8;
  const int height = group_h * static_cast<int>(rows.size()) + 16;
  std::ostringstream h;
  h << "<div class=\"chart\"><p class=\"legend\">";
  for (const auto& f : formats) {
    h << "<span class=\"swatch\" style=\"background:" << precision_color(f) << "\"></span>"
      << html_escape(f) << " ";
  }
  h << " · bar length: metric drop (" << html_escape(unit)
    << ") with only that layer in that format; outlined: the plan's choice · scale "
    << "<button type=\"button\" data-scale=\"linear\">linear</button> "
    << "<button type=\"button\" data-scale=\"log\">log</button></p>\n"
    << "<svg class=\"sens\" width=\"" << label_w + chart_w + 130 << "\" height=\"" << height
    << "\" data-x0=\"" << label_w << "\" data-chart-width=\"" << chart_w
    << "\" font-size=\"11\" font-family=\"monospace\" role=\"img\" "
    << "aria-label=\"metric drop per layer and format\">\n";
  int y = 8;
  for (const auto& r : rows) {
    h << "<text x=\"" << label_w - 6 << "\" y=\"" << y + group_h / 2 + 1
      << "\" text-anchor=\"end\">" << html_escape(r.layer) << "</text>\n";
    for (size_t i = 0; i < formats.size(); ++i) {
      const auto d = i < r.drop.size() ? r.drop[i] : std::nullopt;
      const auto q = i < r.layer_sqnr.size() ? r.layer_sqnr[i] : std::nullopt;
      const double v = d ? std::max(0.0, *d) : vmax;
      const long w = std::lround(v / vmax * chart_w);
      const int by = y + static_cast<int>(i) * bar_h;
      const bool chosen = r.chosen == formats[i];
      h << "<rect class=\"sens-bar\" data-format=\"" << html_escape(formats[i]) << "\" data-drop=\""
        << (d ? fmt(*d, "%.9g") : "inf") << "\" x=\"" << label_w << "\" y=\"" << by << "\" width=\""
        << w << "\" height=\"" << bar_h - 1 << "\" fill=\"" << precision_color(formats[i]) << "\""
        << (d ? "" : " fill-opacity=\"0.3\"")
        << (chosen ? " stroke=\"#000\" stroke-width=\"1.5\"" : "") << "><title>"
        << html_escape(r.layer) << " in " << html_escape(formats[i]) << ": drop "
        << (d ? fmt(*d) : "inf (no finite measurement)")
        << (q ? ", layer SQNR " + fmt(*q, "%.2f") + " dB" : "") << (chosen ? " (chosen)" : "")
        << "</title></rect><text class=\"sens-val\" x=\"" << label_w + w + 4 << "\" y=\""
        << by + bar_h - 2 << "\">" << (d ? fmt(*d) : "inf") << "</text>\n";
    }
    if (!r.chosen.empty()) {
      h << "<text x=\"" << label_w + chart_w + 70 << "\" y=\"" << y + group_h / 2 + 1
        << "\" fill=\"" << precision_color(r.chosen) << "\" font-weight=\"bold\">"
        << html_escape(r.chosen) << "</text>\n";
    }
    y += group_h;
  }
  h << "</svg></div>\n";
  return h.str();
}

std::string precision_strip_svg(const std::vector<std::string>& layers,
                                const std::vector<std::string>& precisions) {
  const int cell = 14, gap = 2, h = 28;
  const size_t n = std::min(layers.size(), precisions.size());
  std::ostringstream s;
  s << "<div class=\"strip\"><p class=\"legend\">";
  for (const char* p : {"fp32", "fp16", "int8", "fp8"}) {
    s << "<span class=\"swatch\" style=\"background:" << precision_color(p) << "\"></span>" << p
      << " ";
  }
  s << " · input → output, one cell per quantizable layer (hover for its name)</p>\n"
    << "<svg width=\"" << n * (cell + gap) + 2 << "\" height=\"" << h + 16
    << "\" font-size=\"10\" font-family=\"monospace\" role=\"img\" "
    << "aria-label=\"chosen precision along the network\">\n";
  for (size_t i = 0; i < n; ++i) {
    s << "<rect class=\"plan-cell\" data-format=\"" << html_escape(precisions[i]) << "\" x=\""
      << i * (cell + gap) + 1 << "\" y=\"1\" width=\"" << cell << "\" height=\"" << h
      << "\" fill=\"" << precision_color(precisions[i]) << "\"><title>#" << i << " "
      << html_escape(layers[i]) << ": " << html_escape(precisions[i]) << "</title></rect>\n";
  }
  for (size_t i = 0; i < n; i += 5) {
    s << "<text x=\"" << i * (cell + gap) + 1 << "\" y=\"" << h + 13 << "\">" << i << "</text>\n";
  }
  s << "</svg></div>\n";
  return s.str();
}

std::string metric_cost_svg(const std::vector<CurvePoint>& points, double budget,
                            const std::string& cost_label, const std::string& drop_label) {
  const double W = 720, H = 380, left = 80, right = 150, top = 20, bottom = 50;
  double x0 = std::numeric_limits<double>::infinity(), x1 = -x0, y0 = 0, y1 = 0;
  for (const auto& p : points) {
    x0 = std::min(x0, p.cost);
    x1 = std::max(x1, p.cost);
    y0 = std::min(y0, p.drop);
    y1 = std::max(y1, p.drop);
  }
  // The budget is drawn in range unless it is far above every point (then it is noted at the
  // top, so the points do not crowd at the bottom).
  const bool budget_in_range = budget <= 2 * y1 || y1 <= y0;
  if (budget_in_range) y1 = std::max(y1, budget);
  if (points.empty()) x0 = 0, x1 = 1;
  if (x1 <= x0) x1 = x0 + std::max(1e-12, std::fabs(x0) * 0.1);
  if (y1 <= y0) y1 = y0 + 1;
  // Costs spanning more than 4x (FP32 against 8-bit) read better on a log axis.
  const bool log_x = x0 > 0 && x1 / x0 > 4;
  const auto tx = [&](double c) { return log_x ? std::log10(c) : c; };
  double lx0 = tx(x0), lx1 = tx(x1);
  const double xpad = (lx1 - lx0) * 0.05, ypad = (y1 - y0) * 0.08;
  lx0 -= xpad, lx1 += xpad, y1 += ypad;
  const auto X = [&](double c) { return left + (tx(c) - lx0) / (lx1 - lx0) * (W - left - right); };
  const auto Y = [&](double d) { return H - bottom - (d - y0) / (y1 - y0) * (H - top - bottom); };
  std::ostringstream s;
  s << "<svg class=\"curve\" width=\"" << W << "\" height=\"" << H
    << "\" font-size=\"11\" font-family=\"system-ui,sans-serif\" role=\"img\" "
    << "aria-label=\"metric drop against cost of the plans\">\n"
    << "<line x1=\"" << left << "\" y1=\"" << H - bottom << "\" x2=\"" << W - right << "\" y2=\""
    << H - bottom << "\" stroke=\"#555\"/><line x1=\"" << left << "\" y1=\"" << top << "\" x2=\""
    << left << "\" y2=\"" << H - bottom << "\" stroke=\"#555\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double lc = lx0 + (lx1 - lx0) * i / 4, d = y0 + (y1 - y0) * i / 4;
    const double c = log_x ? std::pow(10.0, lc) : lc;
    s << "<text x=\"" << px(X(c)) << "\" y=\"" << H - bottom + 15 << "\" text-anchor=\"middle\">"
      << fmt(c, "%.3g") << "</text><text x=\"" << left - 6 << "\" y=\"" << px(Y(d) + 4)
      << "\" text-anchor=\"end\">" << fmt(d, "%.3g") << "</text>\n";
  }
  s << "<text x=\"" << (left + W - right) / 2 << "\" y=\"" << H - 10 << "\" text-anchor=\"middle\">"
    << html_escape(cost_label) << (log_x ? ", log scale" : "") << "</text><text x=\"14\" y=\""
    << (top + H - bottom) / 2 << "\" text-anchor=\"middle\" transform=\"rotate(-90 14 "
    << (top + H - bottom) / 2 << ")\">" << html_escape(drop_label) << "</text>\n";
  if (budget_in_range) {
    s << "<line x1=\"" << left << "\" x2=\"" << W - right << "\" y1=\"" << px(Y(budget))
      << "\" y2=\"" << px(Y(budget)) << "\" stroke=\"#c62828\" stroke-dasharray=\"6 4\"/>"
      << "<text x=\"" << W - right + 4 << "\" y=\"" << px(Y(budget) + 4)
      << "\" fill=\"#c62828\">budget " << fmt(budget) << "</text>\n";
  } else {
    s << "<text x=\"" << W - right + 4 << "\" y=\"" << top + 4 << "\" fill=\"#c62828\">budget "
      << fmt(budget) << " ↑ (above)</text>\n";
  }
  std::vector<CurvePoint> frontier;
  for (const auto& p : points) {
    if (p.kind == CurvePoint::Kind::kFrontier) frontier.push_back(p);
  }
  std::sort(frontier.begin(), frontier.end(),
            [](const CurvePoint& a, const CurvePoint& b) { return a.cost < b.cost; });
  if (frontier.size() > 1) {
    s << "<polyline fill=\"none\" stroke=\"#90a4ae\" points=\"";
    for (const auto& p : frontier) s << px(X(p.cost)) << "," << px(Y(p.drop)) << " ";
    s << "\"/>\n";
  }
  for (const auto& p : points) {
    const std::string title = "<title>" + html_escape(p.label) + ": cost " + fmt(p.cost) +
                              ", drop " + fmt(p.drop) + "</title>";
    const std::string cx = px(X(p.cost)), cy = px(Y(p.drop));
    switch (p.kind) {
      case CurvePoint::Kind::kFrontier:
        s << "<circle class=\"pt-frontier\" cx=\"" << cx << "\" cy=\"" << cy
          << "\" r=\"3\" fill=\"#90a4ae\">" << title << "</circle>\n";
        break;
      case CurvePoint::Kind::kUniform:
        s << "<rect class=\"pt-uniform\" x=\"" << px(X(p.cost) - 5) << "\" y=\""
          << px(Y(p.drop) - 5) << "\" width=\"10\" height=\"10\" fill=\""
          << precision_color(p.label.substr(p.label.rfind(' ') + 1)) << "\">" << title
          << "</rect><text x=\"" << px(X(p.cost) + 8) << "\" y=\"" << px(Y(p.drop) - 6) << "\">"
          << html_escape(p.label) << "</text>\n";
        break;
      case CurvePoint::Kind::kRound:
        s << "<circle class=\"pt-round\" cx=\"" << cx << "\" cy=\"" << cy
          << "\" r=\"6\" fill=\"none\" stroke-width=\"2.5\" stroke=\""
          << (p.met ? "#2e7d32" : "#c62828") << "\">" << title << "</circle><text x=\""
          << px(X(p.cost) + 9) << "\" y=\"" << px(Y(p.drop) + 14) << "\">" << html_escape(p.label)
          << "</text>\n";
        break;
    }
  }
  s << "</svg>\n<p class=\"legend\">grey line and dots: the cheapest plan the search predicts "
    << "for each budget (predicted drop = sum of per-layer drops); squares: uniform choices, "
    << "predicted; rings: the plans verified end to end (measured drop; green met the budget, "
    << "red did not).</p>\n";
  return s.str();
}

std::string chart_css() {
  return ".legend .swatch{display:inline-block;width:12px;height:12px;margin:0 4px 0 10px;"
         "vertical-align:middle}.legend button{font-size:12px}"
         "th[data-sort=asc]::after{content:' \\25B2'}th[data-sort=desc]::after{content:' "
         "\\25BC'}.strip svg,.chart svg{display:block}.strip,.chart{overflow-x:auto}\n";
}

std::string report_script() {
  return R"JS(<script>
(function () {
  "use strict";
  function rescale(svg, mode) {
    var bars = svg.querySelectorAll("rect.sens-bar");
    var width = Number(svg.getAttribute("data-chart-width"));
    var x0 = Number(svg.getAttribute("data-x0"));
    var max = 0, minpos = Infinity;
    bars.forEach(function (b) {
      var d = parseFloat(b.getAttribute("data-drop"));
      if (isFinite(d) && d > 0) { max = Math.max(max, d); minpos = Math.min(minpos, d); }
    });
    if (!(max > 0)) return;
    bars.forEach(function (b) {
      var d = parseFloat(b.getAttribute("data-drop"));
      var f;
      if (!isFinite(d)) f = 1;
      else if (d <= 0) f = 0;
      else if (mode === "log") f = Math.log(10 * d / minpos) / Math.log(10 * max / minpos);
      else f = d / max;
      var w = Math.round(f * width);
      b.setAttribute("width", w);
      var label = b.nextElementSibling;
      if (label && label.classList.contains("sens-val")) label.setAttribute("x", x0 + w + 4);
    });
  }
  document.querySelectorAll(".chart").forEach(function (chart) {
    var svg = chart.querySelector("svg.sens");
    chart.querySelectorAll("button[data-scale]").forEach(function (btn) {
      btn.addEventListener("click", function () { rescale(svg, btn.getAttribute("data-scale")); });
    });
  });
  function value(cell) {
    var t = cell.textContent.trim();
    if (t === "inf") return Infinity;
    var v = parseFloat(t);
    return isNaN(v) ? null : v;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var heads = table.rows[0].cells;
    Array.prototype.forEach.call(heads, function (th, col) {
      th.style.cursor = "pointer";
      th.addEventListener("click", function () {
        var asc = th.getAttribute("data-sort") !== "asc";
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute("data-sort"); });
        th.setAttribute("data-sort", asc ? "asc" : "desc");
        var rows = Array.prototype.slice.call(table.rows, 1);
        rows.sort(function (a, b) {
          var x = value(a.cells[col]), y = value(b.cells[col]);
          var c = (x !== null && y !== null) ? (x < y ? -1 : x > y ? 1 : 0)
                                              : a.cells[col].textContent.localeCompare(
                                                    b.cells[col].textContent);
          return asc ? c : -c;
        });
        rows.forEach(function (r) { r.parentNode.appendChild(r); });
      });
    });
  });
  document.body.setAttribute("data-rendered", "yes");
})();
</script>
)JS";
}

}  // namespace mixq::report
