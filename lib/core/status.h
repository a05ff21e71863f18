// Status and Expected<T>: how every mixq library reports failure.
//
// Bad input is always a Status, never an abort or an uncaught exception. Each StatusCode maps to
// one documented exit code of the `mixq` tool (see README "Errors and exit codes"), so the code
// says what kind of failure it was and the message says where: the file, node or tensor.
#pragma once

#include <cstdint>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>

namespace mixq {

// The numeric values are the CLI's exit codes; keep them in sync with the README table.
enum class StatusCode : int {
  kOk = 0,
  kUsage = 1,           // wrong command line
  kBadInput = 2,        // unreadable or malformed model, data or file
  kUnsupported = 3,     // valid input that uses a feature mixq does not implement
  kBudgetExceeded = 4,  // accuracy budget not met
  kNoDevice = 5,        // no usable CUDA device
  kInternal = 70,       // a bug in mixq (EX_SOFTWARE)
};

// Short lower-case name of a code, for logs: "bad input", "unsupported", ...
std::string_view status_code_name(StatusCode code);

// A success or an error with a code and a message. Cheap to copy on success.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok_status() { return Status(); }

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

  // Returns this error with `context` prepended ("model.onnx: " + message). No-op on success.
  Status with_context(std::string_view context) const;

  // "bad input: model.onnx: node 'x' ..." style rendering for logs.
  std::string to_string() const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

// Joins the arguments with operator<< into one string.
template <typename... Args>
std::string str_cat(const Args&... args) {
  return detail::concat(args...);
}

template <typename... Args>
Status bad_input(const Args&... args) {
  return Status(StatusCode::kBadInput, detail::concat(args...));
}
template <typename... Args>
Status unsupported(const Args&... args) {
  return Status(StatusCode::kUnsupported, detail::concat(args...));
}
template <typename... Args>
Status usage_error(const Args&... args) {
  return Status(StatusCode::kUsage, detail::concat(args...));
}
template <typename... Args>
Status internal_error(const Args&... args) {
  return Status(StatusCode::kInternal, detail::concat(args...));
}

// A value or the Status that explains why there is none.
// (An optional plus a Status rather than a std::variant: GCC 12 reports false
// maybe-uninitialized warnings on std::string values moved out of variants.)
template <typename T>
class [[nodiscard]] Expected {
 public:
  Expected(T value) : value_(std::move(value)) {}         // NOLINT(google-explicit-constructor)
  Expected(Status status) : status_(std::move(status)) {  // NOLINT(google-explicit-constructor)
    if (status_.ok()) {
      // (void): nvcc's front end flags the discarded Status& that operator= returns.
      (void)(status_ = Status(StatusCode::kInternal, "Expected<T> constructed from an ok Status"));
    }
  }

  bool ok() const { return value_.has_value(); }
  explicit operator bool() const { return ok(); }

  // The error; an ok Status when a value is held.
  const Status& status() const { return status_; }

  T& value() & { return *value_; }
  const T& value() const& { return *value_; }
  T&& value() && { return std::move(*value_); }

  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &*value_; }
  const T* operator->() const { return &*value_; }

 private:
  std::optional<T> value_;
  Status status_;
};

}  // namespace mixq

#define MIXQ_CONCAT_INNER_(a, b) a##b
#define MIXQ_CONCAT_(a, b) MIXQ_CONCAT_INNER_(a, b)

// Returns the Status from the enclosing function when `expr` is an error.
#define MIXQ_RETURN_IF_ERROR(expr)               \
  do {                                           \
    ::mixq::Status mixq_status_ = (expr);        \
    if (!mixq_status_.ok()) return mixq_status_; \
  } while (false)

// `lhs = value of expr` or return its Status. `lhs` may declare a variable: `auto x`.
#define MIXQ_ASSIGN_OR_RETURN(lhs, expr) \
  MIXQ_ASSIGN_OR_RETURN_IMPL_(MIXQ_CONCAT_(mixq_expected_, __LINE__), lhs, expr)
#define MIXQ_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                \
  if (!tmp.ok()) return tmp.status();               \
  lhs = std::move(tmp).value()
