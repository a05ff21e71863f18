// Minimal leveled logging to stderr. The CLI sets the level from --verbose / --quiet; libraries
// log progress and warnings through here and never print to stdout, which belongs to results.
#pragma once

#include <string_view>

#include "mixq/core/status.h"

namespace mixq {

enum class LogLevel : int { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3, kSilent = 4 };

void set_log_level(LogLevel level);
LogLevel log_level();

// Writes "mixq: <level>: <message>\n" to stderr when `level` is at or above the current level.
void log_message(LogLevel level, std::string_view message);

template <typename... Args>
void log_info(const Args&... args) {
  if (log_level() <= LogLevel::kInfo) log_message(LogLevel::kInfo, str_cat(args...));
}
template <typename... Args>
void log_warning(const Args&... args) {
  if (log_level() <= LogLevel::kWarning) log_message(LogLevel::kWarning, str_cat(args...));
}
template <typename... Args>
void log_debug(const Args&... args) {
  if (log_level() <= LogLevel::kDebug) log_message(LogLevel::kDebug, str_cat(args...));
}

}  // namespace mixq
