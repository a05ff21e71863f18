// Output-path checks shared by the commands that write files.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "mixq/core/status.h"

namespace mixq::cli {

// Refuses (usage error) an output path that is one of the inputs: mixq never overwrites its
// inputs. An output folder that does not exist is bad input (exit 2), found before any work.
inline Status check_output_path(const std::string& out, const std::vector<std::string>& inputs) {
  std::error_code ec;
  std::filesystem::path dir = std::filesystem::path(out).parent_path();
  if (dir.empty()) dir = ".";
  if (!std::filesystem::is_directory(dir, ec)) {
    return bad_input(out, ": output folder '", dir.string(), "' does not exist");
  }
  for (const auto& in : inputs) {
    if (in.empty()) continue;
    if (std::filesystem::equivalent(out, in, ec) || std::filesystem::path(out) == in) {
      return usage_error("output '", out,
                         "' is an input of this command; refusing to overwrite it");
    }
  }
  return Status::ok_status();
}

}  // namespace mixq::cli
