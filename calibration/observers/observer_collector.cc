#include "mixq/calibration/observers/observer_collector.h"

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
}

void StatsCollector::begin_run(const exec::NamedTensors& feeds, int64_t first_sample,
                               int64_t samples) {
  flush();
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
  TensorRecord& r = tensors_[name];  // inserted here, on the calling thread only
  if (options_.histograms && !r.histogram) {
    r.histogram = std::make_unique<AbsHistogram>(options_.bins);
  }
  auto it = layers_reading_.find(name);
  const std::vector<size_t>* layers = it == layers_reading_.end() ? nullptr : &it->second;
  // Tensors too small to split are observed later, several at once, one per thread: the pool
  // would otherwise idle while the calling thread scans them one by one. A tensor appears at
  // most once per run and the queue is emptied every run, so each record still sees its runs
  // in order and the results do not change.
  constexpr int64_t kSplit = int64_t{1} << 16;
  constexpr size_t kBudget = size_t{64} << 20;
  exec::ThreadPool* pool = options_.pool;
  if (pool != nullptr && pool->size() > 1 && t.numel() < kSplit) {
    pending_.push_back({&r, layers, t});
    pending_bytes_ += t.nbytes();
    if (pending_bytes_ > kBudget) flush();
    return;
  }
  observe(r, layers, t, pool, scratch_);
}

void StatsCollector::flush() {
  if (pending_.empty()) return;
  options_.pool->parallel_for(static_cast<int64_t>(pending_.size()), 1, [&](int64_t b, int64_t e) {
    std::vector<float> scratch;
    for (int64_t i = b; i < e; ++i) {
      const Pending& p = pending_[static_cast<size_t>(i)];
      observe(*p.record, p.layers, p.tensor, nullptr, scratch);
    }
  });
  pending_.clear();
  pending_bytes_ = 0;
}

void StatsCollector::observe(TensorRecord& r, const std::vector<size_t>* layers,
                             const ir::Tensor& t, exec::ThreadPool* pool,
                             std::vector<float>& scratch) {
  const float* x = float_values(t, scratch);
  if (x == nullptr) return;
  const int64_t n = t.numel();
  r.dtype = t.dtype();
  const int64_t bad_before = r.minmax.nonfinite;
  const float batch_max = r.minmax.add(x, n, run_ - 1, pool);
  if (bad_before == 0 && r.minmax.nonfinite > 0 && first_sample_ >= 0) {
    const bool batched = samples_ > 1 && t.rank() > 0 && t.dims()[0] == samples_ && n > 0;
    r.first_nonfinite_sample =
        first_sample_ + (batched ? r.minmax.first_nonfinite_index / (n / samples_) : 0);
  }
  if (options_.histograms) {
    r.histogram->add_scanned(x, n, batch_max, r.minmax.nonfinite - bad_before, pool);
  }
  if (layers == nullptr || t.rank() == 0) return;
  for (size_t idx : *layers) {
    LayerInputRecord& l = layer_inputs_[idx];
    const auto rank = static_cast<int64_t>(t.rank());
    const int64_t axis = l.axis < 0 ? l.axis + rank : l.axis;
    if (axis < 0 || axis >= rank) continue;
    channel_absmax(x, t.dims(), axis, l.channel_absmax);
  }
}

}  // namespace mixq::calib
