// Running a model over a whole data set: cut into runs by the Batcher, outputs joined back.
#pragma once

#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "mixq/calibration/data/batcher.h"
#include "mixq/exec/executor.h"

namespace mixq::calib {

// The executor's inputs as the Batcher wants them.
std::vector<InputSpec> input_specs(const exec::Executor& ex);

struct DatasetRun {
  std::vector<std::pair<std::string, ir::Tensor>> outputs;  // joined, in model output order
  int64_t runs = 0;
  Batcher::Layout layout = Batcher::Layout::kSingle;
};

// Runs `ex` on every run of `data` and joins each output. `observer` sees every tensor of every
// run; `progress(done, total)` is called after each run.
Expected<DatasetRun> run_dataset(exec::Executor& ex, const DataSource& data,
                                 exec::Observer* observer = nullptr,
                                 const std::function<void(int64_t, int64_t)>& progress = nullptr);

}  // namespace mixq::calib
