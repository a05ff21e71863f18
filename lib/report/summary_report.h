// Rendering a ModelSummary for people (aligned text) and machines (JSON).
#pragma once

#include <nlohmann/json.hpp>
#include <string>

#include "mixq/analysis/model_summary.h"

namespace mixq::report {

// Keys: model, file_bytes, producer, ir_version, opsets, metadata, inputs, outputs, nodes, ops,
// parameters, quantizable, unsupported, warnings. Shapes are arrays of ints (known), strings
// (symbolic) and null (unknown); a shape of unknown rank is null.
nlohmann::ordered_json summary_to_json(const analysis::ModelSummary& s);

std::string summary_to_text(const analysis::ModelSummary& s);

// JSON for a value type: {"dtype": "float32", "shape": [...]}.
nlohmann::ordered_json type_to_json(const ir::ValueType& t);

// "1.5 KiB", "12.3 MiB".
std::string human_bytes(uint64_t bytes);

}  // namespace mixq::report
