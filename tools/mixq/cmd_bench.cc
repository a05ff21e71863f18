// mixq bench MODEL [--data DATA] [--iters N] [--warmup N] [--threads N] [--dim name=value]...
//                  [--seed S] [--profile] [--json]
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "command.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/calibration/data/random_inputs.h"
#include "mixq/exec/bench.h"
#include "mixq/onnx/model_io.h"

namespace mixq::cli {
namespace {

struct BenchOptions {
  std::string model;
  std::string data;
  int iters = 20;
  int warmup = 3;
  int threads = 0;
  std::vector<std::string> dims;
  uint32_t seed = 0;
  bool json = false;
  bool profile = false;
};

Expected<std::map<std::string, int64_t>> parse_dims(const std::vector<std::string>& specs) {
  std::map<std::string, int64_t> out;
  for (const auto& s : specs) {
    const size_t eq = s.find('=');
    char* end = nullptr;
    const long long v = eq == std::string::npos ? -1 : std::strtoll(s.c_str() + eq + 1, &end, 10);
    if (eq == std::string::npos || eq == 0 || end == s.c_str() + eq + 1 || *end != '\0' || v <= 0) {
      return usage_error("--dim expects name=size with a positive size, got '", s, "'");
    }
    out[s.substr(0, eq)] = v;
  }
  return out;
}

}  // namespace

Command add_bench_command(CLI::App& root) {
  auto opts = std::make_shared<BenchOptions>();
  CLI::App* app = root.add_subcommand("bench", "Time CPU inference of a model");
  app->add_option("model", opts->model, "ONNX model file")->required();
  app->add_option("--data", opts->data, "Inputs (the first run of this data set is timed)");
  app->add_option("--iters", opts->iters, "Timed runs (default 20)");
  app->add_option("--warmup", opts->warmup, "Untimed runs first (default 3)");
  app->add_option("--threads", opts->threads, "Threads (default: all cores)");
  app->add_option("--dim", opts->dims, "Size of a symbolic dim for random inputs: name=value");
  app->add_option("--seed", opts->seed, "Seed of the random inputs (default 0)");
  app->add_flag("--profile", opts->profile,
                "Also time each op type (extra runs with a timing observer)");
  app->add_flag("--json", opts->json, "Print JSON");
  return Command{
      app, [opts]() -> Status {
        MIXQ_ASSIGN_OR_RETURN(auto dims, parse_dims(opts->dims));
        MIXQ_ASSIGN_OR_RETURN(auto model, onnx::load_model(opts->model));
        exec::ExecOptions eo;
        eo.threads = opts->threads;
        MIXQ_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(*model, eo));
        calib::Feeds feeds;
        std::string source;
        if (!opts->data.empty()) {
          std::vector<std::string> names;
          for (const ir::Value* v : ex->inputs()) names.push_back(v->name());
          MIXQ_ASSIGN_OR_RETURN(auto data, calib::DataSource::open(opts->data, names));
          MIXQ_ASSIGN_OR_RETURN(auto batcher,
                                calib::Batcher::create(*data, calib::input_specs(*ex)));
          MIXQ_ASSIGN_OR_RETURN(feeds, batcher.run(0));
          source = data->description() + ", first run";
        } else {
          MIXQ_ASSIGN_OR_RETURN(feeds,
                                calib::random_inputs(calib::input_specs(*ex), dims, opts->seed));
          source = str_cat("random, seed ", opts->seed);
        }
        MIXQ_ASSIGN_OR_RETURN(auto r, exec::bench(*ex, feeds, opts->iters, opts->warmup));
        std::vector<exec::OpTime> ops;
        if (opts->profile) {
          MIXQ_ASSIGN_OR_RETURN(ops, exec::profile_ops(*ex, feeds, opts->iters));
        }
        if (opts->json) {
          nlohmann::ordered_json j;
          j["model"] = opts->model;
          j["threads"] = r.threads;
          j["iters"] = r.iters;
          j["warmup"] = r.warmup;
          j["inputs"] = source;
          j["median_ms"] = r.median_ms;
          j["min_ms"] = r.min_ms;
          j["max_ms"] = r.max_ms;
          j["peak_rss_mb"] = r.peak_rss_mb;
          j["peak_tensor_mb"] = r.peak_tensor_mb;
          if (opts->profile) {
            auto& p = j["profile"] = nlohmann::ordered_json::array();
            for (const auto& o : ops) {
              p.push_back({{"op_type", o.op_type},
                           {"nodes", o.nodes},
                           {"ms_per_run", o.ms_per_run},
                           {"share", o.share}});
            }
          }
          std::cout << j.dump(2) << "\n";
          return Status::ok_status();
        }
        std::string inputs;
        for (const auto& [name, t] : feeds) {
          inputs += (inputs.empty() ? "" : ", ") + name + " " + std::string(dtype_name(t.dtype())) +
                    ir::dims_to_string(t.dims());
        }
        char buf[256];
        std::cout << "model    " << opts->model << "\n"
                  << "inputs   " << inputs << " (" << source << ")\n";
        std::snprintf(buf, sizeof buf, "threads  %d\nruns     %d timed after %d warm-up\n",
                      r.threads, r.iters, r.warmup);
        std::cout << buf;
        std::snprintf(buf, sizeof buf, "latency  min %.3f ms, median %.3f ms, max %.3f ms\n",
                      r.min_ms, r.median_ms, r.max_ms);
        std::cout << buf;
        std::snprintf(buf, sizeof buf, "memory   peak RSS %.1f MiB, peak tensors %.1f MiB\n",
                      r.peak_rss_mb, r.peak_tensor_mb);
        std::cout << buf;
        if (opts->profile) {
          std::cout << "profile  by op type (" << opts->iters << " observed runs)\n";
          for (const auto& o : ops) {
            std::snprintf(buf, sizeof buf, "  %-24s %5lld nodes %9.3f ms/run %6.1f%%\n",
                          o.op_type.c_str(), static_cast<long long>(o.nodes), o.ms_per_run,
                          100.0 * o.share);
            std::cout << buf;
          }
        }
        return Status::ok_status();
      }};
}

}  // namespace mixq::cli
