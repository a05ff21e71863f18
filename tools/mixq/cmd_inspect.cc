// mixq inspect MODEL [--json]
#include <iostream>
#include <memory>

#include "command.h"
#include "mixq/analysis/model_summary.h"
#include "mixq/exec/kernel_registry.h"
#include "mixq/ir/memory_budget.h"
#include "mixq/onnx/model_io.h"
#include "mixq/report/summary_report.h"

namespace mixq::cli {

namespace {
struct InspectOptions {
  std::string model;
  bool json = false;
  int64_t max_memory = 0;
};
}  // namespace

Command add_inspect_command(CLI::App& root) {
  auto opts = std::make_shared<InspectOptions>();
  CLI::App* app = root.add_subcommand(
      "inspect", "Summarize a model: inputs, outputs, ops, parameters, quantizable layers");
  app->add_option("model", opts->model, "ONNX model file")->required();
  app->add_flag("--json", opts->json, "Print JSON instead of text");
  app->add_option("--max-memory", opts->max_memory,
                  "Refuse (exit 2) when the model's tensors (initializers, and activations of "
                  "declared shapes) exceed this many MiB; 0: no limit (default)");
  return Command{app, [opts]() -> Status {
                   if (opts->max_memory < 0) return usage_error("--max-memory must be >= 0");
                   MIXQ_ASSIGN_OR_RETURN(auto model, onnx::load_model(opts->model));
                   MIXQ_RETURN_IF_ERROR(ir::check_memory_limit(*model, opts->max_memory));
                   analysis::SummaryOptions so;
                   // Unsupported: ops the CPU executor has no kernel for.
                   so.is_supported = [](const ir::Node& n, int64_t opset) {
                     return exec::has_kernel(n.domain(), n.op_type(), opset);
                   };
                   MIXQ_ASSIGN_OR_RETURN(auto summary, analysis::summarize_model(*model, so));
                   if (opts->json) {
                     std::cout << report::summary_to_json(summary).dump(2) << "\n";
                   } else {
                     std::cout << report::summary_to_text(summary);
                   }
                   return Status::ok_status();
                 }};
}

}  // namespace mixq::cli
