// mixq run MODEL --data DATA [-o OUT.npz] [--threads N]
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

#include "command.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/calibration/data/npz_writer.h"
#include "mixq/core/logging.h"
#include "mixq/exec/executor.h"
#include "mixq/onnx/model_io.h"
#include "paths.h"

namespace mixq::cli {
namespace {

struct RunOptions {
  std::string model;
  std::string data;
  std::string out;
  int threads = 0;
  int64_t max_memory = 0;
};

// "float32[4, 10]  min -1.2  max 3.4  mean 0.01"
std::string summarize(const ir::Tensor& t) {
  std::string s = str_cat(dtype_name(t.dtype()), ir::dims_to_string(t.dims()));
  if (t.numel() == 0 || t.dtype() == DType::kString || dtype_bits(t.dtype()) < 8) return s;
  double lo = INFINITY, hi = -INFINITY, sum = 0;
  const int64_t n = t.numel();
  const auto add = [&](double v) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
    sum += v;
  };
  if (t.dtype() == DType::kFloat32) {  // the common case, without a per-element dispatch
    const float* x = t.data<float>();
    for (int64_t i = 0; i < n; ++i) add(x[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) add(t.element_as_double(i));
  }
  char buf[128];
  std::snprintf(buf, sizeof buf, "  min %.6g  max %.6g  mean %.6g", lo, hi,
                sum / static_cast<double>(n));
  return s + buf;
}

}  // namespace

Command add_run_command(CLI::App& root) {
  auto opts = std::make_shared<RunOptions>();
  CLI::App* app = root.add_subcommand("run", "Run a model on the CPU over a data set");
  app->add_option("model", opts->model, "ONNX model file")->required();
  app->add_option("--data", opts->data,
                  "Inputs: .npz, a folder of <input>.npy, or an ONNX test_data_set folder")
      ->required();
  app->add_option("-o,--output", opts->out, "Write the outputs to this .npz (keyed by name)");
  app->add_option("--threads", opts->threads, "Threads (default: all cores)");
  app->add_option("--max-memory", opts->max_memory,
                  "Refuse (exit 2) before any work when the model's tensors (initializers, and "
                  "activations sized for the data) exceed this many MiB; 0: no limit (default)");
  return Command{
      app, [opts]() -> Status {
        if (!opts->out.empty()) {
          MIXQ_RETURN_IF_ERROR(check_output_path(opts->out, {opts->model, opts->data}));
        }
        if (opts->max_memory < 0) return usage_error("--max-memory must be >= 0");
        MIXQ_ASSIGN_OR_RETURN(auto model, onnx::load_model(opts->model));
        MIXQ_RETURN_IF_ERROR(calib::check_memory_limit(*model, opts->data, opts->max_memory));
        exec::ExecOptions eo;
        eo.threads = opts->threads;
        MIXQ_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(*model, eo));
        std::vector<std::string> names;
        for (const ir::Value* v : ex->inputs()) names.push_back(v->name());
        MIXQ_ASSIGN_OR_RETURN(auto data, calib::DataSource::open(opts->data, names));
        log_info("data: ", data->description());
        // NaN/Inf inputs run (the outputs say what the model does with them), but
        // are worth a word.
        MIXQ_ASSIGN_OR_RETURN(auto nonfinite, calib::find_nonfinite(*data));
        if (nonfinite) {
          std::cerr << "warning: " << nonfinite->label << ": sample " << nonfinite->sample
                    << " holds " << (std::isnan(nonfinite->value) ? "NaN" : "Inf")
                    << "; it runs, and its outputs may be NaN\n";
        }
        MIXQ_ASSIGN_OR_RETURN(auto result, calib::run_dataset(*ex, *data));
        if (!opts->out.empty()) {
          MIXQ_ASSIGN_OR_RETURN(auto w, calib::NpzWriter::create(opts->out));
          for (const auto& [name, t] : result.outputs) {
            MIXQ_RETURN_IF_ERROR(w->add(name, t));
          }
          MIXQ_RETURN_IF_ERROR(w->commit());
        }
        std::cout << "ran " << result.runs << " run" << (result.runs == 1 ? "" : "s") << " of "
                  << opts->model << "\n";
        for (const auto& [name, t] : result.outputs) {
          std::cout << "  " << name << "  " << summarize(t) << "\n";
        }
        if (!opts->out.empty()) std::cout << "wrote " << opts->out << "\n";
        return Status::ok_status();
      }};
}

}  // namespace mixq::cli
