// The mixq command line: parse, run one subcommand, map its Status to an exit code.
#include <malloc.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <vector>

#include "command.h"
#include "mixq/core/logging.h"
#include "mixq/gpu/device.h"
#include "mixq/version.h"

namespace {

// Ends the process once a command has finished: its outputs are committed (written to a
// temporary, synced and renamed) before it returns. Static destructors are skipped, as
// compilers do at exit: tearing down libonnx's schema registry (every operator at every
// version), protobuf's descriptors and the command-line tree took about 3 ms of every
// invocation and freed nothing the system does not reclaim anyway. Sanitizer builds exit
// normally so that LeakSanitizer still checks at exit.
[[noreturn]] void leave(int code) {
  std::cout.flush();
  std::cerr.flush();
  std::fflush(nullptr);
#ifdef MIXQ_SANITIZED
  std::exit(code);
#else
  std::_Exit(code);
#endif
}

}  // namespace

int main(int argc, char** argv) {
  using namespace mixq;
  // The executor allocates and frees the same large intermediates on every run. By default
  // glibc serves blocks over 128 KiB-32 MiB with mmap and returns freed heap tops to the system,
  // so each run page-faults its buffers in again: on the GPT benchmark that made runs 10-40%
  // slower and noisy (docs/benchmarks.md). Keep freed memory in the process instead; the peak
  // resident size is unchanged.
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  CLI::App app{"mixq: post-training quantization for ONNX models (FP8, INT8, FP16)", "mixq"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Show help for every subcommand");
  app.footer(
      "Exit codes: 0 success, 1 usage error, 2 bad input (unreadable or malformed model or "
      "data),\n3 unsupported model feature. Run 'mixq COMMAND --help' for a command's options.");
  app.set_version_flag("--version", [] {
    return std::string("mixq ") + MIXQ_VERSION + "\n" + gpu::describe(gpu::discover_devices());
  });
  int verbose = 0;
  bool quiet = false;
  app.add_flag("-v,--verbose", verbose, "More log output on stderr (repeat for debug)");
  app.add_flag("-q,--quiet", quiet, "Only errors on stderr");

  std::vector<cli::Command> commands;
  commands.push_back(cli::add_inspect_command(app));
  commands.push_back(cli::add_run_command(app));
  commands.push_back(cli::add_bench_command(app));
  commands.push_back(cli::add_calibrate_command(app));
  commands.push_back(cli::add_convert_command(app));
  commands.push_back(cli::add_validate_command(app));
  commands.push_back(cli::add_analyze_command(app));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    std::cerr << "mixq: usage error: " << e.what() << "\n"
              << "Run 'mixq --help' for usage.\n";
    return static_cast<int>(StatusCode::kUsage);
  }
  set_log_level(quiet          ? LogLevel::kError
                : verbose >= 2 ? LogLevel::kDebug
                : verbose == 1 ? LogLevel::kInfo
                               : LogLevel::kWarning);
  for (const auto& cmd : commands) {
    if (!cmd.app->parsed()) continue;
    Status s;
    try {
      s = cmd.run();
    } catch (const std::bad_alloc&) {
      s = Status(StatusCode::kBadInput, "out of memory");
    } catch (const std::exception& e) {
      s = internal_error("unexpected exception: ", e.what());
    }
    if (!s.ok()) {
      std::cerr << "mixq: " << s.to_string() << "\n";
      leave(static_cast<int>(s.code()));
    }
    leave(0);
  }
  return static_cast<int>(StatusCode::kUsage);
}
