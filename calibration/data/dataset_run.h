// Running a model over a whole data set: cut into runs by the Batcher, outputs joined back.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mixq/calibration/data/batcher.h"
#include "mixq/exec/executor.h"
#include "mixq/ir/model.h"

namespace mixq::calib {

// The executor's inputs as the Batcher wants them.
std::vector<InputSpec> input_specs(const exec::Executor& ex);

struct DatasetRun {
  std::vector<std::pair<std::string, ir::Tensor>> outputs;  // joined, in model output order
  int64_t runs = 0;
  Batcher::Layout layout = Batcher::Layout::kSingle;
};

// How one run of a model is executed: the CPU executor by default; the GPU validation passes
// the device executor's run.
using RunFn = std::function<Expected<std::vector<ir::Tensor>>(const exec::NamedTensors& feeds)>;

// Runs `run` on every run of `data` (cut as `ex`'s inputs want it) and joins each output of
// `ex`'s model.
Expected<DatasetRun> run_dataset(const exec::Executor& ex, const DataSource& data, const RunFn& run,
                                 const std::function<void(int64_t, int64_t)>& progress = nullptr);

// Runs `ex` on every run of `data` and joins each output. `observer` sees every tensor of every
// run; `progress(done, total)` is called after each run.
Expected<DatasetRun> run_dataset(exec::Executor& ex, const DataSource& data,
                                 exec::Observer* observer = nullptr,
                                 const std::function<void(int64_t, int64_t)>& progress = nullptr);

// --max-memory: refuses (bad input) `model` when its stored tensors plus the activations shape
// inference can size for one run of `data` (declared shapes only when `data` is empty) exceed
// `max_mib` MiB; the message gives the total, the limit and the largest tensors. Nothing runs.
// max_mib <= 0: no limit.
Status check_memory_limit(const ir::Model& model, const std::filesystem::path& data,
                          int64_t max_mib);

}  // namespace mixq::calib
