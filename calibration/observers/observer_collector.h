// The calibration observer: during the forward passes it sees every floating-point activation
// (graph inputs and node outputs) and keeps, per tensor, min/max/absmax with non-finite counts
// and a streaming |x| histogram; and, for each quantizable layer (MatMul, Gemm, Conv,
// ConvTranspose with a constant weight), the per-channel absmax of its activation input along
// the axis the weight reduces over (K of MatMul/Gemm, input channels of Conv): the data that
// exposes outlier channels. Memory: tensors x bins counters, whatever the number of samples.
// Along the last axis (MatMul's K) the channel absmax comes from the histogram's pass over the
// tensor (AbsHistogram::add_batch), not from a second pass that reads it from memory again.
//
// The output of a node that only moves values (Reshape, Flatten, Squeeze, Unsqueeze, Identity,
// Transpose of an activation, a Pad whose pads are all zero) holds exactly its input's values,
// so its record is a copy of the input's, made by finish(), instead of a second pass over the
// same numbers. (Only where the first NaN came from can differ: the copy names the input's
// sample.)
//
// Likewise the output y of a Mul of a float32 activation x by a constant c = +-2^k, k <= 0
// (or a Div by 1/c) holds x's values times c, exactly or rounded to a subnormal: its record is
// derived from x's instead of counted (see Scaled).
//
// And the input x of a Split along an axis other than 0 (the batch) holds exactly the values of
// its outputs, each once: finish() makes its record the union of theirs (histograms merged,
// which is exact: see AbsHistogram) instead of a pass over x. Where its first NaN came from is
// then known by run and sample but not by element (first_nonfinite_index -1).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "mixq/calibration/observers/observer_histogram.h"
#include "mixq/calibration/observers/observer_minmax.h"
#include "mixq/exec/executor.h"
#include "mixq/ir/model.h"
#include "mixq/ir/shape_inference.h"

namespace mixq::calib {

struct CollectorOptions {
  int bins = 2048;
  bool histograms = true;  // minmax alone needs none
  // The executor's pool, or null to observe each tensor on the calling thread when it comes.
  // With a pool of 2 or more, a tensor large enough to split (AbsHistogram::kChunkValues) is
  // scanned when it comes, on the whole pool; smaller ones are queued and observed by threads
  // of the pool that have nothing else to do (ThreadPool::set_idle_work) while the forward
  // pass goes on, and end_run() observes what is left. Results are the same either way.
  exec::ThreadPool* pool = nullptr;
  // The model's static types (Executor::types()), or null: the values they type as neither
  // float32, float16 nor bfloat16 get no record (a float tensor of one still gets one when a
  // run produces it).
  const ir::InferenceResult* types = nullptr;
};

struct TensorRecord {
  DType dtype = DType::kUndefined;
  MinMax minmax;
  int64_t first_nonfinite_sample = -1;      // data-set sample of the first NaN/Inf, when known
  std::unique_ptr<AbsHistogram> histogram;  // null without CollectorOptions::histograms
};

struct LayerInputRecord {
  std::string layer;  // node name
  std::string op_type;
  std::string tensor;  // its activation input
  int64_t axis = 0;    // the reduction axis of that input
  std::vector<float> channel_absmax;
};

class StatsCollector : public exec::Observer {
 public:
  StatsCollector(const ir::Model& model, const CollectorOptions& options = {});
  ~StatsCollector() override;
  StatsCollector(const StatsCollector&) = delete;
  StatsCollector& operator=(const StatsCollector&) = delete;

  // Call before each run with the tensors it is fed: graph inputs are no node's output, so the
  // observer would not see them otherwise. The run covers data-set samples
  // [first_sample, first_sample + samples); a tensor whose axis 0 has that size is taken to be
  // batched along it when locating a NaN's sample.
  void begin_run(const exec::NamedTensors& feeds, int64_t first_sample = -1, int64_t samples = 1);
  void on_output(const ir::Node& node, const ir::Value& value, const ir::Tensor& t) override;
  // Call after each run: with a pool, the run's small tensors are held (sharing their buffers)
  // until observed, by idle threads during the run or here, several at once; past 32 MiB not
  // yet taken, the calling thread observes them at once (the forward pass waits).
  void end_run() { flush(); }
  // Completes the records of the value-moving nodes' outputs from their inputs' (see above).
  // tensors() and layer_inputs() call it; calling it again after more runs brings them up to
  // date.
  void finish();

  // Every float (or untyped) graph input and node output; dtype stays kUndefined for those no
  // run produced as a float tensor (and their histogram may be null). (After end_run().)
  const std::map<std::string, TensorRecord>& tensors() {
    finish();
    return tensors_;
  }
  const std::vector<LayerInputRecord>& layer_inputs() {
    finish();
    return layer_inputs_;
  }
  int64_t runs() const { return run_; }
  // Tensors observed by idle threads during the runs (the rest: on the calling thread or in
  // end_run). For tests and diagnostics.
  int64_t observed_in_background() const { return in_background_.load(); }
  // Runs of Scaled outputs (see the file comment) derived from their sources' instead of
  // counted. For tests and diagnostics.
  int64_t derived_runs() const { return derived_runs_; }
  // The tensor whose record `name`'s is a copy of (see above); `name` itself when none.
  const std::string& source_of(const std::string& name) const {
    auto it = alias_of_.find(name);
    return it == alias_of_.end() ? name : it->second;
  }
  // The Split outputs whose records `name`'s is the union of (see above); empty when none. An
  // observer that passes `name` on to the collector must pass these on too.
  const std::vector<std::string>& parts_of(const std::string& name) const;

 private:
  // One tensor of one run, to observe.
  struct Pending {
    TensorRecord* record;
    const std::vector<size_t>* layers;  // layer_inputs_ entries reading this tensor, or null
    ir::Tensor tensor;
    int64_t run, first_sample, samples;
    AbsHistogram* histogram = nullptr;  // where its values are counted, when not its record's
  };
  // A node output y = x * c, c = +-2^k with k <= 0, x a float32 activation: y's histogram is
  // x's with the range times 2^k, its min and max are x's times c, its NaN and +-Inf are x's,
  // and its channel maxima along the last axis are x's times |c|: the products are exact, or
  // subnormal. A subnormal may round into another bin unless the bins are wider than the
  // subnormals, which holds once x's range r has r * 2^k / bins >= 2^-125 (then and ever after:
  // ranges only grow) or r = 0 (only zeros). x is observed when it comes, never queued, so
  // that y finds x's findings of its run; a run of y that this does not cover is counted
  // into `direct` (queued like any other tensor when small), and x's values of that run are set
  // apart in `excluded`. (Where x comes small enough to be queued, as with one sample per run,
  // y is counted instead.)
  struct Scaled {
    std::string source;  // x
    int k = 0;
    float c = 1;
    // x's last observation: its run, findings, and whether y's values of that run derive.
    int64_t run = -1, numel = 0;
    size_t rank = 0;
    ValueScan scan;
    bool ok = false;
    int64_t y_run = -1;  // the last run that recorded y
    // x's channel maxima along its last axis over its runs (when y's layers want them), and
    // the last run that raised them.
    std::vector<float> channels;
    int64_t channels_run = -1;
    // Over the runs:
    AbsHistogram direct, excluded, before;  // (before: x's, while x is observed)
    bool kept_before = false;               // `before` was taken for x's current run
    double derived_absmax = 0;              // y's largest finite |y| in the derived runs
    bool derived = false;                   // some run was derived
    // y is always counted: a run of x had no y, or x came small before any run derived.
    bool broken = false;
  };
  // A Split input whose record is the union of its outputs' (see the file comment).
  struct Whole {
    std::string name;
    std::vector<std::string> parts;
    int64_t values = 0;  // its values over the runs, which its parts' must add up to
  };
  // What record() needs of one tensor (pointers into the maps below, which keep their
  // elements in place).
  struct Slot {
    const std::string* name = nullptr;
    TensorRecord* record = nullptr;
    const std::vector<size_t>* layers = nullptr;  // layer_inputs_ entries reading it, or null
    bool alias = false;                           // a value-moving node's output
    Scaled* scaled = nullptr;                     // when it is a Scaled output
    Whole* whole = nullptr;                       // when it is a Split input made of its parts
    const std::vector<std::string>* scaled_from = nullptr;  // the Scaled outputs of it
  };
  void find_scaled(const ir::Model& model);  // fills scaled_ and scaled_from_
  void find_wholes(const ir::Model& model);  // fills wholes_ and whole_of_
  // The tensor's slot, its record inserted when missing.
  Slot slot_of(const std::string& name);
  // Records one run's values of a float tensor.
  void record(const Slot& slot, const ir::Tensor& t);
  // Whether a tensor is queued for idle threads rather than observed when it comes.
  bool queues(const ir::Tensor& t) const;
  // Observes p now, or queues it (see queues()).
  void submit(Pending p);
  // Updates one tensor's record (and the layer inputs reading it) with one run's values, and
  // with `channels`, raises it to the tensor's channel maxima along its last axis when
  // AbsHistogram can take them in its pass (see layer_to_fuse). Returns the run's findings.
  ValueScan observe(const Pending& p, exec::ThreadPool* pool, std::vector<float>& scratch,
                    std::vector<float>* channels = nullptr);
  // observe() for a tensor some Scaled outputs derive from, with their bookkeeping.
  void observe_source(const Pending& p, const std::string& name);
  // Records a Scaled output's run: derived from its source's, or counted.
  void record_scaled(Scaled& s, TensorRecord& r, const std::vector<size_t>* layers,
                     const ir::Tensor& t);
  // Notes the data-set sample of r's first NaN/Inf when a run of tensor t over samples
  // [first_sample, first_sample + samples) found it (r had bad_before non-finite values).
  static void note_first_nonfinite(TensorRecord& r, const ir::Tensor& t, int64_t bad_before,
                                   int64_t first_sample, int64_t samples);
  // Raises the channel absmax of the layers reading t.
  void observe_layers(const std::vector<size_t>& layers, const ir::Tensor& t,
                      std::vector<float>& scratch);
  // (Those reading t along its last axis copy `done`'s maxima, already taken, when it is set.)
  void observe_layers(const std::vector<size_t>& layers, const float* x, const ir::Tensor& t,
                      exec::ThreadPool* pool, const LayerInputRecord* done = nullptr);
  // The first layer reading p's tensor along its last axis, when add_batch can take that
  // axis's channel maxima; else null.
  LayerInputRecord* layer_to_fuse(const Pending& p);
  // Observes every queued tensor no idle thread has taken, on the whole pool, then waits for
  // those they have, and empties the queue.
  void flush();
  // The pool's idle work: observes the next queued tensor; false when there is none.
  bool observe_next();

  CollectorOptions options_;
  std::map<std::string, TensorRecord> tensors_;
  std::vector<LayerInputRecord> layer_inputs_;
  std::unordered_map<std::string, std::vector<size_t>> layers_reading_;  // tensor -> records
  std::unordered_map<std::string, std::string> alias_of_;  // value-moving output -> its source
  std::unordered_map<std::string, Scaled> scaled_;         // y -> how it derives from x
  std::unordered_map<std::string, std::vector<std::string>> scaled_from_;  // x -> its ys
  std::deque<Whole> wholes_;                          // in node order (a deque: in place)
  std::unordered_map<std::string, Whole*> whole_of_;  // Split input -> its Whole
  std::unordered_map<const ir::Value*, Slot> slots_;  // the model's graph inputs, node outputs
  int64_t run_ = 0;                                   // runs begun
  bool observed_since_finish_ = false;                // finish() has copies to redo
  int64_t first_sample_ = -1, samples_ = 1;           // of the current run
  std::vector<float> scratch_;                        // float16/bfloat16 widened to float32

  // This run's tensors to observe, in the order they came. A tensor appears at most once per
  // run and the queue is emptied every run, so each record still sees its runs in order and the
  // results do not depend on which thread observes what.
  std::deque<Pending> queue_;  // (a deque: taken items stay in place while more are added)
  std::mutex queue_mutex_;
  std::condition_variable taken_done_;
  size_t next_ = 0;                 // the first item nobody has taken
  std::atomic<size_t> untaken_{0};  // queue_.size() - next_, read by idle workers unlocked
  size_t untaken_bytes_ = 0;        // their tensors' bytes
  size_t with_workers_ = 0;         // taken by idle threads, not yet observed
  std::atomic<int64_t> in_background_{0};
  int64_t derived_runs_ = 0;
};

}  // namespace mixq::calib
