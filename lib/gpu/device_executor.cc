// The device executor's run loop, arena and values (device_executor.h).
#include "mixq/gpu/device_executor.h"

#include <algorithm>
#include <set>

#include "mixq/gpu/device_executor_impl.h"

namespace mixq::gpu {

// --- Arena ----------------------------------------------------------------------------------

Expected<std::shared_ptr<Arena::Block>> Arena::get(size_t bytes) {
  const size_t size = std::max<size_t>(256, (bytes + 255) / 256 * 256);
  // The smallest free block that fits and wastes at most half of itself.
  auto it = free_.lower_bound(size);
  void* data = nullptr;
  size_t got = size;
  if (it != free_.end() && it->first <= 2 * size) {
    data = it->second;
    got = it->first;
    free_.erase(it);
  } else {
    MIXQ_ASSIGN_OR_RETURN(auto buffer, DeviceBuffer::allocate(size));
    data = buffer.data();
    owned_.push_back(std::move(buffer));
  }
  in_use_ += static_cast<int64_t>(got);
  peak_ = std::max(peak_, in_use_);
  return std::make_shared<Block>(this, data, got);
}

void Arena::release(void* data, size_t bytes) {
  in_use_ -= static_cast<int64_t>(bytes);
  free_.emplace(bytes, data);
}

// --- Impl -----------------------------------------------------------------------------------

DeviceExecutor::Impl::Impl(const ir::Model& m, const DeviceExecOptions& o)
    : model(m), options(o), pool(o.threads) {}

Expected<Slot*> DeviceExecutor::Impl::slot(const ir::Value* v) {
  const auto it = values.find(v);
  if (it != values.end()) return &it->second;
  if (const ir::Tensor* t = v->initializer()) {
    Slot& s = values[v];
    s.host = *t;  // shares the initializer's buffer
    if (const auto up = uploaded.find(v); up != uploaded.end()) {
      s.block = up->second;
      s.dev = {up->second->data(), t->dtype(), t->dims()};
      s.on_device = true;
    }
    return &s;
  }
  return internal_error("value '", v->name(), "' has no data when a step reads it");
}

Status DeviceExecutor::Impl::ensure_device(const ir::Value* v) {
  MIXQ_ASSIGN_OR_RETURN(Slot * s, slot(v));
  if (s->on_device) return Status::ok_status();
  const ir::Tensor& t = *s->host;
  MIXQ_ASSIGN_OR_RETURN(s->block, arena.get(t.nbytes()));
  MIXQ_RETURN_IF_ERROR(copy_to_device(s->block->data(), t.raw_data(), t.nbytes(), stream.handle()));
  s->dev = {s->block->data(), t.dtype(), t.dims()};
  s->on_device = true;
  if (v->initializer() != nullptr) {
    uploaded[v] = s->block;  // constants stay on the device for later runs
  } else {
    stats.copied_bytes += static_cast<int64_t>(t.nbytes());
  }
  return Status::ok_status();
}

Status DeviceExecutor::Impl::ensure_host(const ir::Value* v) {
  MIXQ_ASSIGN_OR_RETURN(Slot * s, slot(v));
  if (s->host) return Status::ok_status();
  MIXQ_ASSIGN_OR_RETURN(auto t, download(s->dev, stream.handle()));
  stats.copied_bytes += static_cast<int64_t>(t.nbytes());
  s->host = std::move(t);
  return Status::ok_status();
}

Expected<DeviceTensor> DeviceExecutor::Impl::device_input(const ir::Node& n, size_t i) {
  const ir::Value* v = n.input(i);
  if (v == nullptr || v->name().empty()) {
    return internal_error(n.describe(), ": input ", i, " is absent");
  }
  MIXQ_RETURN_IF_ERROR(ensure_device(v));
  return values[v].dev;
}

Expected<const ir::Tensor*> DeviceExecutor::Impl::host_input(const ir::Node& n, size_t i) {
  const ir::Value* v = n.input(i);
  if (v == nullptr || v->name().empty()) return static_cast<const ir::Tensor*>(nullptr);
  MIXQ_RETURN_IF_ERROR(ensure_host(v));
  return &*values[v].host;
}

Expected<std::shared_ptr<Arena::Block>> DeviceExecutor::Impl::scratch(size_t bytes) {
  return arena.get(bytes);
}

Expected<DeviceTensor> DeviceExecutor::Impl::new_output(const ir::Node& n, size_t o, DType dtype,
                                                        const std::vector<int64_t>& dims) {
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  const auto bytes = dtype_storage_bytes(dtype, static_cast<uint64_t>(count));
  if (!bytes) return bad_input(n.describe(), ": output ", o, " is too large");
  Slot s;
  MIXQ_ASSIGN_OR_RETURN(s.block, arena.get(*bytes));
  s.dev = {s.block->data(), dtype, dims};
  s.on_device = true;
  values[n.output(o)] = std::move(s);
  return values[n.output(o)].dev;
}

Status DeviceExecutor::Impl::alias_output(const ir::Node& n, size_t o, size_t i,
                                          const std::vector<int64_t>& dims) {
  MIXQ_RETURN_IF_ERROR(ensure_device(n.input(i)));
  Slot s = values[n.input(i)];
  s.host.reset();
  s.dev.dims = dims;
  values[n.output(o)] = std::move(s);
  return Status::ok_status();
}

Expected<std::vector<exec::NodeOutputType>> DeviceExecutor::Impl::output_types(const ir::Node& n) {
  std::vector<exec::NodeInput> in(n.inputs().size());
  for (size_t i = 0; i < n.inputs().size(); ++i) {
    const ir::Value* v = n.input(i);
    if (v == nullptr || v->name().empty()) continue;
    MIXQ_ASSIGN_OR_RETURN(Slot * s, slot(v));
    in[i].present = true;
    in[i].dtype = s->host ? s->host->dtype() : s->dev.dtype;
    in[i].dims = s->host ? s->host->dims() : s->dev.dims;
    in[i].value = s->host ? &*s->host : nullptr;
  }
  return exec::infer_node_outputs(n, model.opset_for(n), in);
}

Status DeviceExecutor::Impl::run_on_cpu(const ir::Node& n, bool fallback) {
  // Shape and Size read only dims: no download of a tensor that lives on the device.
  if (!fallback && (n.op_type() == "Shape" || n.op_type() == "Size") && n.input(0) != nullptr) {
    MIXQ_ASSIGN_OR_RETURN(Slot * in, slot(n.input(0)));
    if (!in->host) {
      const std::vector<int64_t>& dims = in->dev.dims;
      std::vector<int64_t> out;
      if (n.op_type() == "Size") {
        out.push_back(in->dev.numel());
      } else {
        const int64_t rank = static_cast<int64_t>(dims.size());
        const auto clampi = [&](int64_t v) {
          return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank);
        };
        const auto st = n.attr_int("start", 0), en = n.attr_int("end", rank);
        const int64_t b = clampi(st.ok() ? *st : 0), e = clampi(en.ok() ? *en : rank);
        for (int64_t i = b; i < e; ++i) out.push_back(dims[static_cast<size_t>(i)]);
      }
      Slot s;
      s.host = n.op_type() == "Size"
                   ? ir::Tensor::from_int64s({}, out)
                   : ir::Tensor::from_int64s({static_cast<int64_t>(out.size())}, out);
      values[n.output(0)] = std::move(s);
      ++stats.host_steps;
      return Status::ok_status();
    }
  }
  std::vector<const ir::Tensor*> in(n.inputs().size(), nullptr);
  for (size_t i = 0; i < n.inputs().size(); ++i) {
    MIXQ_ASSIGN_OR_RETURN(in[i], host_input(n, i));
  }
  MIXQ_ASSIGN_OR_RETURN(auto out, exec::run_node_on_cpu(n, model.opset_for(n), in, pool));
  for (size_t o = 0; o < out.size(); ++o) {
    if (n.output(o) == nullptr || n.output(o)->name().empty()) continue;
    Slot s;
    s.host = std::move(out[o]);
    values[n.output(o)] = std::move(s);
  }
  if (fallback) {
    ++stats.cpu_fallbacks;
  } else {
    ++stats.host_steps;
  }
  return Status::ok_status();
}

Expected<std::vector<ir::Tensor>> DeviceExecutor::Impl::run(const exec::NamedTensors& feeds) {
  values.clear();
  fallbacks.clear();
  const int64_t weights = stats.weight_bytes;
  stats = {};
  stats.weight_bytes = weights;
  arena.reset_peak();
  const ir::Graph& g = model.graph();
  for (const auto& [v, slot_on_device] : resident_feeds) values[v] = slot_on_device;
  for (const auto& [name, t] : feeds) {
    if (!resident_feeds.empty()) break;
    const ir::Value* v = g.find_value(name);
    if (v == nullptr || !g.is_input(v)) return bad_input("the model has no input '", name, "'");
    Slot s;
    s.host = t;
    values[v] = std::move(s);
  }
  for (const ir::Value* v : g.inputs()) {
    if (!values.count(v) && v->initializer() == nullptr) {
      return bad_input("input '", v->name(), "' is missing");
    }
  }
  Event start, end;
  if (options.profile) {
    MIXQ_ASSIGN_OR_RETURN(start, Event::create());
    MIXQ_ASSIGN_OR_RETURN(end, Event::create());
  }
  for (size_t i = 0; i < plan.steps.size(); ++i) {
    const Step& st = plan.steps[i];
    const ir::Node& n = *st.node;
    if (options.profile && st.kind != StepKind::kAbsorbed) {
      MIXQ_RETURN_IF_ERROR(start.record(stream.handle()));
    }
    const size_t fallbacks_before = fallbacks.size();
    switch (st.kind) {
      case StepKind::kAbsorbed:
        break;
      case StepKind::kHost:
        MIXQ_RETURN_IF_ERROR(run_on_cpu(n, false));
        break;
      case StepKind::kCpuFallback:
        fallbacks.push_back(n.describe() + ": " + st.reason);
        MIXQ_RETURN_IF_ERROR(run_on_cpu(n, true));
        break;
      case StepKind::kFusedGemm: {
        const FusedGemm& fg = plan.gemms[st.gemm];
        const Status s = run_fused_gemm(fg);
        if (s.code() == StatusCode::kUnsupported && fg.act_quantize == nullptr &&
            !options.strict_gpu) {
          // A float layer the device GEMMs refuse (broadcast batch dims, ...): on the CPU.
          values.erase(n.output(0));
          fallbacks.push_back(n.describe() + ": " + s.message());
          MIXQ_RETURN_IF_ERROR(run_on_cpu(n, true));
        } else {
          MIXQ_RETURN_IF_ERROR(s);
          ++stats.fused_gemms;
        }
        break;
      }
      case StepKind::kDevice: {
        const Status s = run_device_step(n);
        if (s.code() == StatusCode::kUnsupported) {
          // A kernel refused these inputs (a dtype pair, a shape past its limits): the CPU
          // runs the node instead, and the report lists it.
          if (options.strict_gpu) return s;
          fallbacks.push_back(n.describe() + ": " + s.message());
          MIXQ_RETURN_IF_ERROR(run_on_cpu(n, true));
        } else {
          MIXQ_RETURN_IF_ERROR(s);
          ++stats.device_steps;
        }
        break;
      }
    }
    if (options.profile && st.kind != StepKind::kAbsorbed) {
      MIXQ_RETURN_IF_ERROR(end.record(stream.handle()));
      MIXQ_ASSIGN_OR_RETURN(const float ms, Event::elapsed_ms(start, end));
      std::string kind = st.kind == StepKind::kFusedGemm ? "gemm " + plan.gemms[st.gemm].kernel
                         : st.kind == StepKind::kHost    ? std::string("host")
                                                         : "op " + n.op_type();
      if (fallbacks.size() > fallbacks_before) kind = "cpu-fallback " + n.op_type();
      stats.ms_by_kind[kind] += ms;
    }
    for (const ir::Value* v : release_after[i]) values.erase(v);
  }
  std::vector<ir::Tensor> out;
  for (const ir::Value* v : g.outputs()) {
    if (outputs_stay_on_device) break;
    MIXQ_RETURN_IF_ERROR(ensure_host(v));
    out.push_back(*values[v].host);
  }
  MIXQ_RETURN_IF_ERROR(stream.synchronize());
  stats.peak_device_bytes =
      stats.weight_bytes + arena.peak() + static_cast<int64_t>(kDefaultGemmWorkspaceBytes);
  values.clear();
  return out;
}

// --- DeviceExecutor -------------------------------------------------------------------------

Expected<std::unique_ptr<DeviceExecutor>> DeviceExecutor::create(const ir::Model& model,
                                                                 const DeviceExecOptions& o) {
  const Discovery d = discover_devices();
  if (d.devices.empty()) {
    return Status(StatusCode::kNoDevice, "no usable CUDA device: " + d.reason);
  }
  if (o.device < 0 || o.device >= static_cast<int>(d.devices.size())) {
    return Status(StatusCode::kNoDevice, "CUDA device " + std::to_string(o.device) +
                                             " does not exist (" + describe(d) + ")");
  }
  auto impl = std::make_unique<Impl>(model, o);
  impl->info = d.devices[static_cast<size_t>(o.device)];
  MIXQ_ASSIGN_OR_RETURN(impl->stream, Stream::create());
  MIXQ_ASSIGN_OR_RETURN(impl->gemm, GemmContext::create(impl->stream.handle()));
  FusionOptions fo;
  fo.compute_capability = impl->gemm->compute_capability();
  MIXQ_ASSIGN_OR_RETURN(impl->plan, plan_device_graph(model, fo));
  for (const auto& s : impl->plan.not_fused) impl->notes.push_back(s);
  if (o.strict_gpu) {
    std::string nodes;
    for (const Step& s : impl->plan.steps) {
      if (s.kind == StepKind::kCpuFallback) nodes += "\n  " + s.node->describe() + ": " + s.reason;
    }
    if (!nodes.empty()) {
      return unsupported(
          "--strict-gpu: these nodes have no device kernel and would run on the "
          "CPU:",
          nodes);
    }
  }
  // The last step that reads each value; absorbed Q/DQ nodes read nothing themselves, their
  // fused GEMM reads for them.
  std::map<const ir::Value*, size_t> last_use;
  const auto reads = [&](const ir::Node* node, size_t i) {
    if (node == nullptr) return;
    for (const ir::Value* in : node->inputs()) {
      if (in != nullptr && !in->name().empty()) last_use[in] = i;
    }
  };
  const auto& steps = impl->plan.steps;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i].kind == StepKind::kAbsorbed) continue;
    reads(steps[i].node, i);
    if (steps[i].kind == StepKind::kFusedGemm) {
      const FusedGemm& fg = impl->plan.gemms[steps[i].gemm];
      reads(fg.act_quantize, i);
      reads(fg.act_dequantize, i);
      reads(fg.weight_dequantize, i);
      if (fg.activation != nullptr) last_use[fg.activation] = i;
    }
  }
  impl->release_after.resize(steps.size());
  const ir::Graph& graph = model.graph();
  for (const auto& [v, i] : last_use) {
    if (graph.is_output(v) || v->initializer() != nullptr) continue;
    impl->release_after[i].push_back(v);
  }
  MIXQ_RETURN_IF_ERROR(impl->prepare_gemms());
  return std::unique_ptr<DeviceExecutor>(new DeviceExecutor(std::move(impl)));
}

DeviceExecutor::DeviceExecutor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DeviceExecutor::~DeviceExecutor() = default;

const DevicePlan& DeviceExecutor::plan() const { return impl_->plan; }
const DeviceInfo& DeviceExecutor::device() const { return impl_->info; }
std::vector<std::string> DeviceExecutor::cpu_fallbacks() const { return impl_->fallbacks; }
const std::vector<std::string>& DeviceExecutor::notes() const { return impl_->notes; }
const DeviceRunStats& DeviceExecutor::last_run_stats() const { return impl_->stats; }

Expected<std::vector<ir::Tensor>> DeviceExecutor::run(const exec::NamedTensors& feeds) {
  return impl_->run(feeds);
}

Expected<double> DeviceExecutor::time(const exec::NamedTensors& feeds, int warmup, int iters) {
  Impl& m = *impl_;
  // The inputs go to the device once, before timing; the outputs stay there: the time is the
  // model's, not the PCIe copies' (which depend on the host, pinned memory and batch size).
  for (const auto& [name, t] : feeds) {
    const ir::Value* v = m.model.graph().find_value(name);
    if (v == nullptr || !m.model.graph().is_input(v)) {
      return bad_input("the model has no input '", name, "'");
    }
    Slot s;
    MIXQ_ASSIGN_OR_RETURN(s.block, m.arena.get(t.nbytes()));
    MIXQ_RETURN_IF_ERROR(
        copy_to_device(s.block->data(), t.raw_data(), t.nbytes(), m.stream.handle()));
    s.dev = {s.block->data(), t.dtype(), t.dims()};
    s.on_device = true;
    m.resident_feeds[v] = std::move(s);
  }
  m.outputs_stay_on_device = true;
  auto ms = time_ms(
      m.stream.handle(), [&]() -> Status { return m.run(feeds).status(); }, warmup, iters);
  m.outputs_stay_on_device = false;
  m.resident_feeds.clear();
  return ms;
}

}  // namespace mixq::gpu
