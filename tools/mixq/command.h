// How the `mixq` subcommands plug into main(): each add_*_command() registers its CLI11
// subcommand and returns the function that runs it. A command returns a Status; main() prints
// errors and maps the StatusCode to the documented exit code.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

#include "mixq/core/status.h"

namespace mixq::cli {

struct Command {
  CLI::App* app = nullptr;
  std::function<Status()> run;
};

Command add_inspect_command(CLI::App& root);
Command add_run_command(CLI::App& root);
Command add_bench_command(CLI::App& root);
Command add_calibrate_command(CLI::App& root);
Command add_convert_command(CLI::App& root);
Command add_validate_command(CLI::App& root);
Command add_analyze_command(CLI::App& root);

}  // namespace mixq::cli
