// Small helpers shared by the HTML reports.
#pragma once

#include <string>

namespace mixq::report {

// `s` with &, <, > and " replaced by their entities, for text and attribute values.
std::string html_escape(const std::string& s);

}  // namespace mixq::report
