#include "mixq/calibration/observers/observer_collector.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <set>
#include <stdexcept>

#include "mixq/quant/layer_selection.h"

namespace mixq::calib {

namespace {

bool observed_dtype(DType d) {
  return d == DType::kFloat32 || d == DType::kFloat16 || d == DType::kBFloat16;
}

// Whether a Pad node's pads are all zero, so that its output is its input whatever the mode: the
// pads input (Pad-11 and later; constant: an initializer or a Constant node's) or attribute
// (`pads` from Pad-2, `paddings` in Pad-1).
bool pads_nothing(const ir::Model& model, const ir::Node& n) {
  if (n.inputs().size() >= 2 && n.input(1) != nullptr) {
    const ir::Tensor* t = quant::constant_tensor(model, n.input(1));
    if (t == nullptr || t->dtype() != DType::kInt64) return false;
    const int64_t* v = t->data<int64_t>();
    return std::all_of(v, v + t->numel(), [](int64_t p) { return p == 0; });
  }
  for (const char* name : {"pads", "paddings"}) {
    const auto pads = n.attr_ints(name);
    if (pads.ok() && pads->has_value()) {
      return std::all_of((*pads)->begin(), (*pads)->end(), [](int64_t p) { return p == 0; });
    }
  }
  return false;
}

}  // namespace

StatsCollector::StatsCollector(const ir::Model& model, const CollectorOptions& options)
    : options_(options) {
  // A record for every float graph input and node output, and for those of unknown type
  // (typed by neither the model nor, when given, static inference).
  const auto prepare = [&](const ir::Value* v) {
    DType d = v->type().dtype;
    if (d == DType::kUndefined && options_.types != nullptr) d = options_.types->type_of(v).dtype;
    if (d == DType::kUndefined || observed_dtype(d)) tensors_.try_emplace(v->name());
  };
  for (const ir::Value* v : model.graph().inputs()) prepare(v);
  for (const auto& n : model.graph().nodes()) {
    for (const ir::Value* v : n->outputs()) {
      if (v != nullptr) prepare(v);
    }
  }
  // Outputs that hold exactly their input's values (a Pad's too when it pads nothing: PyTorch
  // exports some pooling layers with one), resolved to the first tensor of the chain
  // (nodes come in topological order, so a chain's source is resolved before it).
  for (const auto& n : model.graph().nodes()) {
    static const std::set<std::string> kMoves = {"Reshape",   "Flatten",  "Squeeze",
                                                 "Unsqueeze", "Identity", "Transpose"};
    if (!(n->domain().empty() || n->domain() == "ai.onnx")) continue;
    const bool moves =
        kMoves.count(n->op_type()) != 0 || (n->op_type() == "Pad" && pads_nothing(model, *n));
    if (!moves) continue;
    if (n->inputs().empty() || n->outputs().empty()) continue;
    const ir::Value* in = n->input(0);
    const ir::Value* out = n->output(0);
    if (in == nullptr || out == nullptr || in->initializer() != nullptr) continue;
    if (!tensors_.count(in->name()) || !tensors_.count(out->name())) continue;
    auto src = alias_of_.find(in->name());
    alias_of_[out->name()] = src == alias_of_.end() ? in->name() : src->second;
  }
  if (options_.histograms) {
    find_scaled(model);
    find_wholes(model);
    // The histograms are made now, not while the runs allocate and free activations: small
    // long-lived blocks made between them fragmented the heap. Not for the tensors whose
    // records finish() fills from others' (aliases, Scaled outputs, Split inputs): they would
    // only be zeroed pages.
    for (auto& [name, r] : tensors_) {
      if (!alias_of_.count(name) && !scaled_.count(name) && !whole_of_.count(name)) {
        r.histogram = std::make_unique<AbsHistogram>(options_.bins);
      }
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
  // What record() needs of each graph input and node output, found once by name here rather
  // than in five maps for every tensor of every run.
  const auto add_slot = [&](const ir::Value* v) {
    if (v != nullptr && tensors_.count(v->name())) slots_.emplace(v, slot_of(v->name()));
  };
  for (const ir::Value* v : model.graph().inputs()) add_slot(v);
  for (const auto& n : model.graph().nodes()) {
    for (const ir::Value* v : n->outputs()) add_slot(v);
  }
  if (options_.pool != nullptr && options_.pool->size() > 1) {
    options_.pool->set_idle_work([this] { return observe_next(); });
  }
}

namespace {

// For a constant scalar c = +-2^k with k <= 0 (a Mul's; for a Div, 1/c): k and c as a factor.
bool power_of_two_factor(const ir::Tensor& t, bool divisor, int& k, float& c) {
  if (t.dtype() != DType::kFloat32 || t.numel() != 1) return false;
  const float v = t.data<float>()[0];
  if (!std::isnormal(v)) return false;
  int e = 0;
  if (std::frexp(std::fabs(v), &e) != 0.5f) return false;  // |v| = 2^(e - 1)
  k = divisor ? 1 - e : e - 1;
  if (k > 0) return false;  // (a larger |c| could overflow)
  c = std::ldexp(v < 0 ? -1.0f : 1.0f, k);
  return true;
}

// The axis along which layer l reads tensor t (a negative one counts from the end).
int64_t input_axis(const LayerInputRecord& l, const ir::Tensor& t) {
  const auto rank = static_cast<int64_t>(t.rank());
  return l.axis < 0 ? l.axis + rank : l.axis;
}

bool reads_last_axis(const LayerInputRecord& l, const ir::Tensor& t) {
  return t.rank() > 0 && input_axis(l, t) == static_cast<int64_t>(t.rank()) - 1;
}

// Whether a Scaled output's values of a run after which its source's range is `range` derive
// exactly: only zeros so far, or bins at y's range at least 2^-125 wide (every subnormal y,
// and every x whose product rounds to one, in bin 0).
bool derivable(double range, int k, int bins) {
  return range == 0 || std::ldexp(range, k) / bins >= 0x1p-125;
}

}  // namespace

void StatsCollector::find_scaled(const ir::Model& model) {
  for (const auto& n : model.graph().nodes()) {
    const bool mul = n->op_type() == "Mul", div = n->op_type() == "Div";
    if (!n->is_onnx_domain() || !(mul || div) || n->inputs().size() != 2) continue;
    const ir::Value* y = n->output(0);
    for (size_t side = 0; side < (mul ? 2u : 1u); ++side) {
      const ir::Value* x = n->input(side);
      const ir::Tensor* c = quant::constant_tensor(model, n->input(1 - side));
      int k = 0;
      float factor = 1;
      if (x == nullptr || y == nullptr || c == nullptr || x->initializer() != nullptr ||
          !power_of_two_factor(*c, div, k, factor)) {
        continue;
      }
      // x must be observed itself (not a copy, not derived), and y must be recorded.
      const std::string& xn = x->name();
      if (xn == y->name() || !tensors_.count(xn) || !tensors_.count(y->name()) ||
          alias_of_.count(xn) || alias_of_.count(y->name()) || scaled_.count(xn)) {
        continue;
      }
      Scaled sc;
      sc.source = xn;
      sc.k = k;
      sc.c = factor;
      sc.direct = sc.excluded = sc.before = AbsHistogram(options_.bins);
      scaled_from_[xn].push_back(y->name());
      scaled_.emplace(y->name(), std::move(sc));
      break;
    }
  }
}

void StatsCollector::find_wholes(const ir::Model& model) {
  for (const auto& n : model.graph().nodes()) {
    if (!n->is_onnx_domain() || n->op_type() != "Split" || n->inputs().empty()) continue;
    const ir::Value* x = n->input(0);
    if (x == nullptr || x->initializer() != nullptr || !tensors_.count(x->name())) continue;
    // x must be observed itself (not a copy, not a source some other record derives from, not
    // derived), once.
    const std::string& xn = x->name();
    if (alias_of_.count(xn) || scaled_.count(xn) || scaled_from_.count(xn) || whole_of_.count(xn)) {
      continue;
    }
    // Along an axis other than 0, so that a part's sample is x's: a negative axis needs x's rank.
    const auto axis = n->attr_int("axis", 0);
    if (!axis.ok()) continue;
    int64_t a = *axis;
    if (a < 0) {
      const ir::ValueType& type =
          options_.types != nullptr ? options_.types->type_of(x) : x->type();
      if (!type.shape) continue;
      a += static_cast<int64_t>(type.shape->size());
    }
    if (a <= 0) continue;
    Whole w;
    w.name = xn;
    bool ok = !n->outputs().empty();
    for (const ir::Value* y : n->outputs()) {
      ok &= y != nullptr && y->name() != xn && tensors_.count(y->name()) != 0;
      if (!ok) break;
      w.parts.push_back(y->name());
    }
    if (!ok) continue;
    wholes_.push_back(std::move(w));
    whole_of_[xn] = &wholes_.back();
  }
}

const std::vector<std::string>& StatsCollector::parts_of(const std::string& name) const {
  static const std::vector<std::string> kNone;
  auto it = whole_of_.find(name);
  return it == whole_of_.end() ? kNone : it->second->parts;
}

StatsCollector::~StatsCollector() {
  if (options_.pool != nullptr && options_.pool->size() > 1) options_.pool->set_idle_work(nullptr);
}

void StatsCollector::begin_run(const exec::NamedTensors& feeds, int64_t first_sample,
                               int64_t samples) {
  ++run_;
  first_sample_ = first_sample;
  samples_ = samples;
  for (const auto& [name, t] : feeds) {
    if (observed_dtype(t.dtype())) record(slot_of(name), t);
  }
}

void StatsCollector::on_output(const ir::Node&, const ir::Value& value, const ir::Tensor& t) {
  if (!observed_dtype(t.dtype())) return;
  const auto it = slots_.find(&value);
  record(it != slots_.end() ? it->second : slot_of(value.name()), t);
}

StatsCollector::Slot StatsCollector::slot_of(const std::string& name) {
  Slot s;
  auto r = tensors_.try_emplace(name).first;  // inserted here, on the calling thread only
  s.name = &r->first;
  s.record = &r->second;
  if (auto it = layers_reading_.find(name); it != layers_reading_.end()) s.layers = &it->second;
  s.alias = alias_of_.count(name) != 0;
  if (auto it = scaled_.find(name); it != scaled_.end()) s.scaled = &it->second;
  if (auto it = scaled_from_.find(name); it != scaled_from_.end()) s.scaled_from = &it->second;
  if (auto it = whole_of_.find(name); it != whole_of_.end()) s.whole = it->second;
  return s;
}

void StatsCollector::record(const Slot& slot, const ir::Tensor& t) {
  observed_since_finish_ = true;
  TensorRecord& r = *slot.record;
  const std::vector<size_t>* layers = slot.layers;
  if (slot.alias || slot.whole != nullptr) {
    // Its record comes from its source's (or its Split parts') in finish(); a layer reading it
    // still needs its channels along its own axes.
    r.dtype = t.dtype();
    if (slot.whole != nullptr) slot.whole->values += t.numel();
    if (layers != nullptr) observe_layers(*layers, t, scratch_);
    return;
  }
  if (slot.scaled != nullptr) {
    record_scaled(*slot.scaled, r, layers, t);  // (counted into the Scaled's own histograms)
    return;
  }
  if (options_.histograms && !r.histogram) {  // a tensor static inference did not type as float
    r.histogram = std::make_unique<AbsHistogram>(options_.bins);
  }
  Pending p{&r, layers, t, run_ - 1, first_sample_, samples_};
  const bool now = !queues(t);
  if (slot.scaled_from != nullptr) {
    // A Scaled output derives only from a source observed now. A small one would wait for an
    // idle thread otherwise: observing it here would hold up the forward pass for more than
    // not counting its output saves, so that output is counted (unless it already derives:
    // then a small last batch is observed here).
    bool derives = false;
    for (const std::string& y : *slot.scaled_from) {
      Scaled& s = scaled_.at(y);
      if (!now && !s.derived) s.broken = true;
      derives |= !s.broken;
    }
    if (derives) {
      observe_source(p, *slot.name);  // its Scaled outputs come later in the same run
      return;
    }
  }
  submit(std::move(p));
}

void StatsCollector::submit(Pending p) {
  exec::ThreadPool* pool = options_.pool;
  if (!queues(p.tensor)) {
    observe(p, pool, scratch_);
    return;
  }
  // Smaller ones are queued for idle threads (see the header); bounded, since the queue holds
  // their buffers.
  constexpr size_t kBudget = size_t{32} << 20;
  const size_t bytes = p.tensor.nbytes();
  bool full;
  {
    std::lock_guard<std::mutex> lock(queue_mutex_);
    untaken_bytes_ += bytes;
    queue_.push_back(std::move(p));
    untaken_.store(queue_.size() - next_);
    full = untaken_bytes_ > kBudget;
  }
  if (full) flush();
}

bool StatsCollector::queues(const ir::Tensor& t) const {
  // A tensor large enough to split is scanned when it comes, on the whole pool, while it is
  // still in cache: the forward pass of a large batch keeps every thread busy, so it would wait
  // anyway.
  const exec::ThreadPool* pool = options_.pool;
  return pool != nullptr && pool->size() >= 2 && t.numel() <= AbsHistogram::kChunkValues;
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

ValueScan StatsCollector::observe(const Pending& p, exec::ThreadPool* pool,
                                  std::vector<float>& scratch, std::vector<float>* channels) {
  TensorRecord& r = *p.record;
  const ir::Tensor& t = p.tensor;
  const float* x = float_values(t, scratch);
  if (x == nullptr) return {};
  const int64_t n = t.numel();
  r.dtype = t.dtype();
  const int64_t bad_before = r.minmax.nonfinite;
  ValueScan scan;
  // A layer reading t along its last axis takes its channel maxima from the histogram's pass
  // over t rather than from a second one.
  LayerInputRecord* fused = options_.histograms ? layer_to_fuse(p) : nullptr;
  if (options_.histograms) {
    const int64_t k = t.rank() > 0 ? t.dims().back() : 0;
    std::vector<float>* acc = fused != nullptr ? &fused->channel_absmax : nullptr;
    if (acc == nullptr && channels != nullptr && AbsHistogram::can_take_channels(k)) {
      acc = channels;
    }
    ChannelMaxima maxima;
    if (acc != nullptr) {
      if (acc->size() != static_cast<size_t>(k)) acc->assign(static_cast<size_t>(k), 0.0f);
      maxima = {acc->data(), k};
    }
    AbsHistogram& h = p.histogram != nullptr ? *p.histogram : *r.histogram;
    scan = h.add_batch(x, n, pool, maxima);
    r.minmax.absorb(scan, x, n, p.run);
    if (acc != nullptr && channels != nullptr && acc != channels) {
      *channels = *acc;  // the layer's: the same runs, the same maxima
    }
  } else {
    r.minmax.add(x, n, p.run, pool);
  }
  note_first_nonfinite(r, t, bad_before, p.first_sample, p.samples);
  if (p.layers != nullptr) observe_layers(*p.layers, x, t, pool, fused);
  return scan;
}

void StatsCollector::note_first_nonfinite(TensorRecord& r, const ir::Tensor& t, int64_t bad_before,
                                          int64_t first_sample, int64_t samples) {
  if (bad_before != 0 || r.minmax.nonfinite == 0 || first_sample < 0) return;
  const int64_t n = t.numel();
  const bool batched = samples > 1 && t.rank() > 0 && t.dims()[0] == samples && n > 0;
  r.first_nonfinite_sample =
      first_sample + (batched ? r.minmax.first_nonfinite_index / (n / samples) : 0);
}

void StatsCollector::observe_source(const Pending& p, const std::string& name) {
  const std::vector<std::string>& ys = scaled_from_.at(name);
  const AbsHistogram& h = *p.record->histogram;
  const int64_t run = p.run;
  const bool f32 = p.tensor.dtype() == DType::kFloat32;
  bool want_channels = false;
  for (const std::string& y : ys) {
    Scaled& s = scaled_.at(y);
    if (s.broken) continue;
    if (s.run >= 0 && s.ok && s.y_run != s.run) {
      // x's last run had no y (calibrate --tensors may pass x on without y): those values of
      // x would be taken for y's, so y is counted from now on, if it ever comes.
      if (s.derived) {
        throw std::logic_error("calibration: '" + y + "' was not recorded in a run of '" + name +
                               "', which it derives from");
      }
      s.broken = true;
      continue;
    }
    // Where this run's values may not derive, keep x's histogram before them, to set them
    // apart after. (Once the range derives and is not 0, every later one does: it only grows.)
    s.kept_before = !f32 || h.range() == 0 || !derivable(h.range(), s.k, h.bins());
    if (s.kept_before) s.before = h;
    auto it = layers_reading_.find(y);
    if (f32 && it != layers_reading_.end()) {
      for (size_t idx : it->second) {
        want_channels |= reads_last_axis(layer_inputs_[idx], p.tensor);
      }
    }
  }
  // (observe() takes them where the counting pass can: Scaled pairs exist only with histograms.)
  const bool took = want_channels && p.tensor.rank() > 0 &&
                    AbsHistogram::can_take_channels(p.tensor.dims().back());
  std::vector<float> channels;
  if (took) channels = scaled_.at(ys.front()).channels;
  const ValueScan scan = observe(p, options_.pool, scratch_, took ? &channels : nullptr);
  for (const std::string& y : ys) {
    Scaled& s = scaled_.at(y);
    if (s.broken) continue;
    s.run = run;
    s.numel = p.tensor.numel();
    s.rank = p.tensor.rank();
    s.scan = scan;
    s.ok = f32 && derivable(h.range(), s.k, h.bins());
    if (!s.ok) {
      if (!s.kept_before)
        throw std::logic_error("calibration: no histogram of '" + name + "' kept");
      s.excluded.merge(h.minus(s.before));
    }
    if (took) {
      s.channels = channels;
      s.channels_run = run;
    }
  }
}

void StatsCollector::record_scaled(Scaled& s, TensorRecord& r, const std::vector<size_t>* layers,
                                   const ir::Tensor& t) {
  const int64_t run = run_ - 1;
  s.y_run = run;
  if (s.run != run || !s.ok || s.broken) {
    // Not derived: x was not observed in this run, or its values are set apart.
    submit(Pending{&r, layers, t, run, first_sample_, samples_, &s.direct});
    return;
  }
  if (t.dtype() != DType::kFloat32 || t.numel() != s.numel) {
    throw std::logic_error("calibration: '" + s.source + "' times a constant gave " +
                           std::to_string(t.numel()) + " values, not " + std::to_string(s.numel));
  }
  r.dtype = t.dtype();
  const float* y = t.data<float>();
  const int64_t n = t.numel();
  const int64_t bad_before = r.minmax.nonfinite;
  // Rounding keeps the order, so the extremes are x's times c (swapped when c < 0), unless one
  // is zero: which of -0 and +0 a scan keeps depends on where they are, so y is scanned then.
  float lo = s.scan.lo * s.c, hi = s.scan.hi * s.c;
  if (s.c < 0) std::swap(lo, hi);
  float absmax = 0;
  if (lo == 0 || hi == 0) {
    absmax = r.minmax.add(y, n, run, options_.pool);
  } else {
    ValueScan scan;
    scan.lo = lo;
    scan.hi = hi;
    scan.nonfinite = s.scan.nonfinite;  // NaN and +-Inf stay so; no finite product overflows
    absmax = r.minmax.absorb(scan, y, n, run);
  }
  note_first_nonfinite(r, t, bad_before, first_sample_, samples_);
  s.derived_absmax = std::max(s.derived_absmax, static_cast<double>(absmax));
  s.derived = true;
  ++derived_runs_;
  if (layers == nullptr || t.rank() == 0) return;
  std::vector<size_t> others;
  for (size_t idx : *layers) {
    LayerInputRecord& l = layer_inputs_[idx];
    if (!reads_last_axis(l, t) || s.channels_run != run || t.rank() != s.rank) {
      others.push_back(idx);
      continue;
    }
    // x's maxima times |c|: a maximum commutes with the (order-keeping) rounding.
    if (l.channel_absmax.size() != s.channels.size()) {
      l.channel_absmax.assign(s.channels.size(), 0.0f);
    }
    const float m = std::fabs(s.c);
    for (size_t i = 0; i < s.channels.size(); ++i) {
      l.channel_absmax[i] = std::max(l.channel_absmax[i], s.channels[i] * m);
    }
  }
  if (!others.empty()) observe_layers(others, y, t, options_.pool);
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
    const int64_t axis = input_axis(l, t);
    if (axis < 0 || axis >= static_cast<int64_t>(t.rank())) continue;
    channel_absmax(x, t.dims(), axis, l.channel_absmax, pool);
  }
}

void StatsCollector::finish() {
  flush();
  if (!observed_since_finish_) return;  // the copies are up to date
  observed_since_finish_ = false;
  // The Scaled outputs' histograms (before the copies: one may be an alias's source): the
  // directly counted runs', and x's of the derived runs scaled.
  for (const auto& [name, s] : scaled_) {
    TensorRecord& r = tensors_.at(name);
    if (r.dtype == DType::kUndefined) continue;
    auto h = std::make_unique<AbsHistogram>(s.direct);
    if (s.derived) {
      AbsHistogram part = tensors_.at(s.source).histogram->minus(s.excluded);
      part.scale_range(s.k, s.derived_absmax);
      h->merge(part);
    }
    r.histogram = std::move(h);
  }
  // The Split inputs' (before the copies too), the later ones first: a part may be a whole.
  for (auto w = wholes_.rbegin(); w != wholes_.rend(); ++w) {
    TensorRecord& r = tensors_.at(w->name);
    if (r.dtype == DType::kUndefined) continue;
    MinMax m;
    auto h = std::make_unique<AbsHistogram>(options_.bins);
    int64_t sample = -1;
    for (const std::string& part : w->parts) {
      const TensorRecord& p = tensors_.at(part);
      const MinMax& pm = p.minmax;
      m.min = pm.min < m.min ? pm.min : m.min;
      m.max = pm.max > m.max ? pm.max : m.max;
      m.absmax = std::max(m.absmax, pm.absmax);
      m.count += pm.count;
      m.nonfinite += pm.nonfinite;
      if (pm.first_nonfinite_run >= 0 &&
          (m.first_nonfinite_run < 0 || pm.first_nonfinite_run < m.first_nonfinite_run ||
           (pm.first_nonfinite_run == m.first_nonfinite_run &&
            p.first_nonfinite_sample < sample))) {
        m.first_nonfinite_run = pm.first_nonfinite_run;
        sample = p.first_nonfinite_sample;
      }
      if (p.histogram) h->merge(*p.histogram);
    }
    if (m.count + m.nonfinite != w->values) {
      throw std::logic_error("calibration: the outputs of the Split of '" + w->name + "' hold " +
                             std::to_string(m.count + m.nonfinite) + " values, not its " +
                             std::to_string(w->values) + " (were they all recorded?)");
    }
    r.minmax = m;  // (first_nonfinite_index stays -1: which element, the parts do not say)
    r.first_nonfinite_sample = sample;
    r.histogram = std::move(h);
  }
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
