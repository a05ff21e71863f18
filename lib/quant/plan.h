// A precision plan: which format each layer runs in, and why. `mixq convert` writes the plan it
// applied as PLAN.json and replays one with --plan; --override REGEX=FORMAT pins layers by name.
#pragma once

#include <regex>
#include <string>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/quant/qdq_emit.h"

namespace mixq::quant {

struct PlanEntry {
  std::string layer;  // node name
  std::string op_type;
  Precision precision = Precision::kFp32;
  std::string reason;
};

struct Plan {
  std::vector<PlanEntry> layers;
  // The entry for `layer`, or null.
  const PlanEntry* find(const std::string& layer) const;
};

// One --override: layers whose name matches `pattern` (ECMAScript, searched) get `precision`.
struct Override {
  std::regex pattern;
  Precision precision = Precision::kFp32;
  std::string text;  // as given, for messages and reasons
};

// Parses "REGEX=fp32|fp16|int8|fp8" (the last '=' splits). Usage error naming the argument for
// a missing '=', an unknown format or an invalid regex.
Expected<std::vector<Override>> parse_overrides(const std::vector<std::string>& args);

// Parses --formats: each of fp8, int8, fp16 at most once, in the order given. Usage error naming
// the argument for anything else (fp32 included: it is always a choice) or a repeat.
Expected<std::vector<Precision>> parse_formats(const std::vector<std::string>& args);

}  // namespace mixq::quant
