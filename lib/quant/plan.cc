#include "mixq/quant/plan.h"

#include <algorithm>

namespace mixq::quant {

const PlanEntry* Plan::find(const std::string& layer) const {
  for (const auto& e : layers) {
    if (e.layer == layer) return &e;
  }
  return nullptr;
}

Expected<std::vector<Precision>> parse_formats(const std::vector<std::string>& args) {
  std::vector<Precision> out;
  for (const auto& f : args) {
    const auto p = parse_precision(f);
    if (!p || *p == Precision::kFp32) {
      return usage_error("--formats takes fp8, int8 and fp16, got '", f, "'");
    }
    if (std::find(out.begin(), out.end(), *p) != out.end()) {
      return usage_error("--formats names '", f, "' twice");
    }
    out.push_back(*p);
  }
  return out;
}

Expected<std::vector<Override>> parse_overrides(const std::vector<std::string>& args) {
  std::vector<Override> out;
  for (const auto& a : args) {
    const auto eq = a.rfind('=');
    if (eq == std::string::npos || eq == 0) {
      return usage_error("--override '", a, "': expected REGEX=fp32|fp16|int8|fp8");
    }
    const auto p = parse_precision(a.substr(eq + 1));
    if (!p) {
      return usage_error("--override '", a, "': unknown format '", a.substr(eq + 1),
                         "' (fp32, fp16, int8 or fp8)");
    }
    Override o;
    try {
      o.pattern = std::regex(a.substr(0, eq), std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      return usage_error("--override '", a, "': invalid regular expression (", e.what(), ")");
    }
    o.precision = *p;
    o.text = a;
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace mixq::quant
