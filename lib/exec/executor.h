// Executor: runs an ir::Model on the CPU.
//
// create() plans the model once: topological order, a kernel for every node (refusing models
// with ops mixq cannot run, all named at once), and the last use of every value so that
// intermediate tensors are freed as soon as their last consumer has run. run() then executes
// node by node; each node's shape function runs on the concrete inputs first, so kernels get
// validated output shapes and bad data fails with the node named.
//
// Results are bit-identical for any thread count (see ThreadPool).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/exec/thread_pool.h"
#include "mixq/ir/model.h"
#include "mixq/ir/shape_inference.h"

namespace mixq::exec {

// Sees every tensor a main-graph node produces, right after the node ran. The tensor is only
// valid during the call (copy the handle to keep it: buffers are shared, not copied).
class Observer {
 public:
  virtual ~Observer() = default;
  virtual void on_output(const ir::Node& node, const ir::Value& value, const ir::Tensor& t) = 0;
};

struct ExecOptions {
  int threads = 0;  // <= 0: one per hardware thread
};

struct RunStats {
  int64_t peak_bytes = 0;  // most bytes mixq allocated at once during the run, above the start
  int64_t nodes_run = 0;   // nodes executed, subgraph nodes included
};

using NamedTensors = std::vector<std::pair<std::string, ir::Tensor>>;

class Executor {
 public:
  // The model must outlive the executor. Fails with kUnsupported naming every node mixq has no
  // kernel for, or kBadInput when the model is invalid.
  static Expected<std::unique_ptr<Executor>> create(const ir::Model& model,
                                                    const ExecOptions& options = {});
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Graph inputs the caller feeds (initializers with a default value are optional), and the
  // graph outputs, in model order.
  const std::vector<const ir::Value*>& inputs() const;
  const std::vector<const ir::Value*>& outputs() const;
  // True for an input whose initializer provides a default value.
  bool input_has_default(const ir::Value* v) const;

  // Runs the model on `feeds` (input name -> tensor) and returns the outputs in model order.
  // Refuses (bad input, naming the input) missing inputs, unknown names, and tensors whose dtype
  // or known dims differ from the declaration.
  Expected<std::vector<ir::Tensor>> run(const NamedTensors& feeds, Observer* observer = nullptr);

  const RunStats& last_run_stats() const;
  // The static types create() inferred for the model's values (before any data was seen).
  const ir::InferenceResult& types() const;
  int threads() const;
  // The executor's thread pool, for work an Observer does between nodes (the pool is idle while
  // an observer runs; observers must not call it from inside a parallel_for).
  ThreadPool& pool();

 private:
  struct Impl;
  explicit Executor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mixq::exec
