#include "mixq/calibration/observers/observer_collector.h"

#include <algorithm>
#include <set>

#include "mixq/quant/layer_selection.h"

namespace mixq::calib {

StatsCollector::StatsCollector(const ir::Model& model, const CollectorOptions& options)
    : options_(options) {
  // Every record and histogram is made now, not while the runs allocate and free activations:
  // small long-lived blocks made between them fragmented the heap.
  const auto prepare = [&](const ir::Value* v) {
    const DType d = v->type().dtype;
    if (d != DType::kUndefined && d != DType::kFloat32 && d != DType::kFloat16 &&
        d != DType::kBFloat16) {
      return;
    }
    TensorRecord& r = tensors_[v->name()];
    if (options_.histograms && !r.histogram) {
      r.histogram = std::make_unique<AbsHistogram>(options_.bins);
    }
  };
  for (const ir::Value* v : model.graph().inputs()) prepare(v);
  for (const auto& n : model.graph().nodes()) {
    for (const ir::Value* v : n->outputs()) {
      if (v != nullptr) prepare(v);
    }
  }
  // Outputs that hold exactly their input's values, resolved to the first tensor of the chain
  // (nodes come in topological order, so a chain's source is resolved before it).
  for (const auto& n : model.graph().nodes()) {
    static const std::set<std::string> kMoves = {"Reshape",   "Flatten",  "Squeeze",
                                                 "Unsqueeze", "Identity", "Transpose"};
    if (!(n->domain().empty() || n->domain() == "ai.onnx") || !kMoves.count(n->op_type())) continue;
    if (n->inputs().empty() || n->outputs().empty()) continue;
    const ir::Value* in = n->input(0);
    const ir::Value* out = n->output(0);
    if (in == nullptr || out == nullptr || in->initializer() != nullptr) continue;
    if (!tensors_.count(in->name()) || !tensors_.count(out->name())) continue;
    auto src = alias_of_.find(in->name());
    alias_of_[out->name()] = src == alias_of_.end() ? in->name() : src->second;
  }
  for (const auto& layer : quant::find_quantizable_layers(model)) {
    const ir::Node& n = *layer.node;
    if (n.inputs().empty() || n.input(0) == nullptr) continue;
    LayerInputRecord r;
    r.layer = n.name();
    r.op_type = layer.op_type;
    r.tensor = n.input(0)->name();
    if (layer.op_type == "Gemm") {
      const auto trans_a = n.attr_int("transA", 0);
      r.axis = trans_a.ok() && *trans_a != 0 ? 0 : 1;
    } else if (layer.op_type == "MatMul") {
      r.axis = -1;
    } else {
      r.axis = 1;  // Conv, ConvTranspose: input channels
    }
    layers_reading_[r.tensor].push_back(layer_inputs_.size());
    layer_inputs_.push_back(std::move(r));
  }
  if (options_.pool != nullptr && options_.pool->size() > 1) {
    options_.pool->set_idle_work([this] { return observe_next(); });
  }
}

StatsCollector::~StatsCollector() {
  if (options_.pool != nullptr && options_.pool->size() > 1) options_.pool->set_idle_work(nullptr);
}

void StatsCollector::begin_run(const exec::NamedTensors& feeds, int64_t first_sample,
                               int64_t samples) {
  ++run_;
  first_sample_ = first_sample;
  samples_ = samples;
  for (const auto& [name, t] : feeds) record(name, t);
}

void StatsCollector::on_output(const ir::Node&, const ir::Value& value, const ir::Tensor& t) {
  record(value.name(), t);
}

void StatsCollector::record(const std::string& name, const ir::Tensor& t) {
  const DType d = t.dtype();
  if (d != DType::kFloat32 && d != DType::kFloat16 && d != DType::kBFloat16) return;
  observed_since_finish_ = true;
  TensorRecord& r = tensors_[name];  // inserted here, on the calling thread only
  if (options_.histograms && !r.histogram) {
    r.histogram = std::make_unique<AbsHistogram>(options_.bins);
  }
  auto it = layers_reading_.find(name);
  const std::vector<size_t>* layers = it == layers_reading_.end() ? nullptr : &it->second;
  if (alias_of_.count(name)) {
    r.dtype = d;
    // Its record comes from its source's in finish(); a layer reading it still needs its
    // channels along its own axes.
    if (layers != nullptr) observe_layers(*layers, t, scratch_);
    return;
  }
  Pending p{&r, layers, t, run_ - 1, first_sample_, samples_};
  exec::ThreadPool* pool = options_.pool;
  // A tensor large enough to split is scanned now, on the whole pool, while it is still in
  // cache: the forward pass of a large batch keeps every thread busy, so it would wait anyway.
  if (pool == nullptr || pool->size() < 2 || t.numel() > AbsHistogram::kChunkValues) {
    observe(p, pool, scratch_);
    return;
  }
  // Smaller ones are queued for idle threads (see the header); bounded, since the queue holds
  // their buffers.
  constexpr size_t kBudget = size_t{32} << 20;
  bool full;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    untaken_bytes_ += t.nbytes();
    queue_.push_back(std::move(p));
    untaken_.store(queue_.size() - next_);
    full = untaken_bytes_ > kBudget;
  }
  if (full) flush();
}

bool StatsCollector::observe_next() {
  if (untaken_.load() == 0) return false;
  Pending* p = nullptr;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    if (next_ == queue_.size()) return false;
    p = &queue_[next_++];
    untaken_.store(queue_.size() - next_);
    untaken_bytes_ -= p->tensor.nbytes();
    ++with_workers_;
  }
  std::vector<float> scratch;
  observe(*p, nullptr, scratch);
  p->tensor = ir::Tensor();  // its buffer can go now
  ++in_background_;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    --with_workers_;
  }
  taken_done_.notify_all();
  return true;
}

void StatsCollector::flush() {
  std::vector<Pending*> mine;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    for (; next_ < queue_.size(); ++next_) mine.push_back(&queue_[next_]);
    untaken_.store(0);
    untaken_bytes_ = 0;
  }
  // Several at once, one per thread, largest first (so the threads finish together).
  std::stable_sort(mine.begin(), mine.end(), [](const Pending* a, const Pending* b) {
    return a->tensor.numel() > b->tensor.numel();
  });
  if (!mine.empty()) {
    options_.pool->parallel_for(static_cast<int64_t>(mine.size()), 1, [&](int64_t b, int64_t e) {
      std::vector<float> scratch;
      for (int64_t i = b; i < e; ++i) observe(*mine[static_cast<size_t>(i)], nullptr, scratch);
    });
  }
  for (Pending* p : mine) p->tensor = ir::Tensor();
  std::unique_lock<std::mutex> lock(queue_mutex_);
  taken_done_.wait(lock, [&] { return with_workers_ == 0; });
  queue_.clear();  // every item is observed, and no worker points at one
  next_ = 0;
}

void StatsCollector::observe(const Pending& p, exec::ThreadPool* pool,
                             std::vector<float>& scratch) {
  TensorRecord& r = *p.record;
  const ir::Tensor& t = p.tensor;
  const float* x = float_values(t, scratch);
  if (x == nullptr) return;
  const int64_t n = t.numel();
  r.dtype = t.dtype();
  const int64_t bad_before = r.minmax.nonfinite;
  // A layer reading t along its last axis takes its channel maxima from the histogram's pass
  // over t rather than from a second one.
  LayerInputRecord* fused = options_.histograms ? layer_to_fuse(p) : nullptr;
  if (options_.histograms) {
    ChannelMaxima maxima;
    if (fused != nullptr) {
      const int64_t channels = t.dims().back();
      if (fused->channel_absmax.size() != static_cast<size_t>(channels)) {
        fused->channel_absmax.assign(static_cast<size_t>(channels), 0.0f);
      }
      maxima = {fused->channel_absmax.data(), channels};
    }
    r.minmax.absorb(r.histogram->add_batch(x, n, pool, maxima), x, n, p.run);
  } else {
    r.minmax.add(x, n, p.run, pool);
  }
  if (bad_before == 0 && r.minmax.nonfinite > 0 && p.first_sample >= 0) {
    const bool batched = p.samples > 1 && t.rank() > 0 && t.dims()[0] == p.samples && n > 0;
    r.first_nonfinite_sample =
        p.first_sample + (batched ? r.minmax.first_nonfinite_index / (n / p.samples) : 0);
  }
  if (p.layers != nullptr) observe_layers(*p.layers, x, t, pool, fused);
}

LayerInputRecord* StatsCollector::layer_to_fuse(const Pending& p) {
  const ir::Tensor& t = p.tensor;
  if (p.layers == nullptr || t.rank() == 0 || !AbsHistogram::can_take_channels(t.dims().back())) {
    return nullptr;
  }
  for (size_t idx : *p.layers) {
    LayerInputRecord& l = layer_inputs_[idx];
    if (reads_last_axis(l, t)) return &l;
  }
  return nullptr;
}

bool StatsCollector::reads_last_axis(const LayerInputRecord& l, const ir::Tensor& t) {
  const auto rank = static_cast<int64_t>(t.rank());
  return rank > 0 && (l.axis < 0 ? l.axis + rank : l.axis) == rank - 1;
}

void StatsCollector::observe_layers(const std::vector<size_t>& layers, const ir::Tensor& t,
                                    std::vector<float>& scratch) {
  const float* x = float_values(t, scratch);
  if (x != nullptr) observe_layers(layers, x, t, options_.pool);
}

void StatsCollector::observe_layers(const std::vector<size_t>& layers, const float* x,
                                    const ir::Tensor& t, exec::ThreadPool* pool,
                                    const LayerInputRecord* done) {
  if (t.rank() == 0) return;
  for (size_t idx : layers) {
    LayerInputRecord& l = layer_inputs_[idx];
    if (&l == done) continue;
    if (done != nullptr && reads_last_axis(l, t)) {
      // The same tensor along the same axis, over the same runs: the same maxima.
      l.channel_absmax = done->channel_absmax;
      continue;
    }
    const auto rank = static_cast<int64_t>(t.rank());
    const int64_t axis = l.axis < 0 ? l.axis + rank : l.axis;
    if (axis < 0 || axis >= rank) continue;
    channel_absmax(x, t.dims(), axis, l.channel_absmax, pool);
  }
}

void StatsCollector::finish() {
  flush();
  if (!observed_since_finish_) return;  // the copies are up to date
  observed_since_finish_ = false;
  for (const auto& [name, source] : alias_of_) {
    TensorRecord& r = tensors_.at(name);
    const TensorRecord& s = tensors_.at(source);
    if (r.dtype == DType::kUndefined) continue;  // no run produced it as a float tensor
    r.minmax = s.minmax;
    r.first_nonfinite_sample = s.first_nonfinite_sample;
    if (s.histogram) r.histogram = std::make_unique<AbsHistogram>(*s.histogram);
  }
}

}  // namespace mixq::calib
