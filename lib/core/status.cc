#include "mixq/core/status.h"

namespace mixq {

std::string_view status_code_name(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return "ok";
    case StatusCode::kUsage:
      return "usage error";
    case StatusCode::kBadInput:
      return "bad input";
    case StatusCode::kUnsupported:
      return "unsupported";
    case StatusCode::kBudgetExceeded:
      return "budget exceeded";
    case StatusCode::kNoDevice:
      return "no device";
    case StatusCode::kInternal:
      return "internal error";
  }
  return "unknown";
}

Status Status::with_context(std::string_view context) const {
  if (ok()) return *this;
  return Status(code_, str_cat(context, ": ", message_));
}

std::string Status::to_string() const {
  if (ok()) return "ok";
  return str_cat(status_code_name(code_), ": ", message_);
}

}  // namespace mixq
