#include "mixq/core/logging.h"

#include <atomic>
#include <cstdio>
#include <mutex>
#include <string>

namespace mixq {
namespace {
std::atomic<int> g_level{static_cast<int>(LogLevel::kWarning)};
std::mutex g_mutex;
}  // namespace

void set_log_level(LogLevel level) { g_level.store(static_cast<int>(level)); }

LogLevel log_level() { return static_cast<LogLevel>(g_level.load()); }

void log_message(LogLevel level, std::string_view message) {
  if (static_cast<int>(level) < g_level.load()) return;
  const char* tag = "info";
  if (level == LogLevel::kWarning) tag = "warning";
  if (level == LogLevel::kError) tag = "error";
  if (level == LogLevel::kDebug) tag = "debug";
  std::string line = str_cat("mixq: ", tag, ": ", message, "\n");
  std::lock_guard<std::mutex> lock(g_mutex);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace mixq
