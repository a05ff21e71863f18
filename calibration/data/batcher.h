// Cutting a data set into model runs.
//
// For each model input, the array of the same name decides how runs are formed:
//   - rank = input rank + 1: axis 0 is the sample axis; each sample is one run;
//   - rank = input rank, input dim 0 a fixed size b, array dim 0 = k*b with k > 1: k runs of b;
//   - rank = input rank otherwise: the whole array is one run.
// Every input must give the same number of runs. Arrays that are not inputs are ignored
// (evaluation files also carry labels or targets). Only the current run's rows are read.
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mixq/calibration/data/data_source.h"
#include "mixq/ir/graph.h"

namespace mixq::calib {

struct InputSpec {
  std::string name;
  ir::ValueType type;     // as declared by the model
  bool optional = false;  // the model has a default value (initializer)
};

using Feeds = std::vector<std::pair<std::string, ir::Tensor>>;

class Batcher {
 public:
  enum class Layout { kSingle, kSamples, kChunks };

  // Matches the data's arrays to `inputs`. Errors (bad input) name the input and what was
  // expected: a missing array, a wrong dtype or rank, dims that contradict the declaration,
  // inputs that disagree on the number of runs.
  static Expected<Batcher> create(const DataSource& data, std::vector<InputSpec> inputs);

  int64_t num_runs() const { return runs_; }
  Layout layout() const { return layout_; }
  // Entries of the arrays' axis 0 one run reads (1 for sample layout, the chunk size for
  // chunks).
  int64_t run_size() const { return run_size_; }
  // Samples one run covers, for counting them: the chunk size; the rows of a whole array
  // (axis 0 of the first input's array); 1 for a sample axis, or the rows of each entry when
  // the first input declares a symbolic or unknown dim 0 (entries that are batches, e.g.
  // [N, 32, 1, 8, 8] for input [batch, 1, 8, 8]).
  int64_t samples_per_run() const;

  // The dims of each input in one run (the same for every run), by input name.
  std::map<std::string, std::vector<int64_t>> run_dims() const;

  // The feeds of run i (0 <= i < num_runs()).
  Expected<Feeds> run(int64_t i) const;

  // Joins per-run results of one output: stacked on a new axis 0 (samples), concatenated on
  // axis 0 (chunks), or the single result. Refuses results whose shapes cannot be joined.
  static Expected<ir::Tensor> join(Layout layout, const std::vector<ir::Tensor>& parts,
                                   const std::string& output_name);

 private:
  struct Binding {
    InputSpec spec;
    ArrayReader* array = nullptr;
    enum class Mode { kWhole, kSample, kChunk } mode = Mode::kWhole;
    int64_t chunk = 0;
  };
  std::vector<Binding> bindings_;
  int64_t runs_ = 1;
  int64_t run_size_ = 1;
  Layout layout_ = Layout::kSingle;
};

}  // namespace mixq::calib
