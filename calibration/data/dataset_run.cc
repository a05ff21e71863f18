#include "mixq/calibration/data/dataset_run.h"

#include "mixq/ir/memory_budget.h"

namespace mixq::calib {

std::vector<InputSpec> input_specs(const exec::Executor& ex) {
  std::vector<InputSpec> specs;
  for (const ir::Value* v : ex.inputs()) {
    specs.push_back(InputSpec{v->name(), v->type(), ex.input_has_default(v)});
  }
  return specs;
}

Expected<DatasetRun> run_dataset(exec::Executor& ex, const DataSource& data,
                                 exec::Observer* observer,
                                 const std::function<void(int64_t, int64_t)>& progress) {
  return run_dataset(
      ex, data, [&](const exec::NamedTensors& feeds) { return ex.run(feeds, observer); }, progress);
}

Expected<DatasetRun> run_dataset(const exec::Executor& ex, const DataSource& data, const RunFn& run,
                                 const std::function<void(int64_t, int64_t)>& progress) {
  MIXQ_ASSIGN_OR_RETURN(Batcher batcher, Batcher::create(data, input_specs(ex)));
  const size_t n_out = ex.outputs().size();
  std::vector<std::vector<ir::Tensor>> parts(n_out);
  for (int64_t i = 0; i < batcher.num_runs(); ++i) {
    MIXQ_ASSIGN_OR_RETURN(Feeds feeds, batcher.run(i));
    auto outs = run(feeds);
    if (!outs.ok()) {
      if (batcher.num_runs() == 1) return outs.status();
      return outs.status().with_context(str_cat("run ", i + 1, " of ", batcher.num_runs()));
    }
    for (size_t o = 0; o < n_out; ++o) parts[o].push_back(std::move((*outs)[o]));
    if (progress) progress(i + 1, batcher.num_runs());
  }
  DatasetRun result;
  result.runs = batcher.num_runs();
  result.layout = batcher.layout();
  for (size_t o = 0; o < n_out; ++o) {
    const std::string& name = ex.outputs()[o]->name();
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor joined, Batcher::join(batcher.layout(), parts[o], name));
    result.outputs.emplace_back(name, std::move(joined));
  }
  return result;
}

Status check_memory_limit(const ir::Model& model, const std::filesystem::path& data,
                          int64_t max_mib) {
  if (max_mib <= 0) return Status::ok_status();
  ir::InferOptions io;
  if (!data.empty()) {
    std::vector<InputSpec> specs;
    std::vector<std::string> names;
    for (const ir::Value* v : model.graph().inputs()) {
      if (model.is_constant_initializer(v)) continue;
      specs.push_back(InputSpec{v->name(), v->type(), v->initializer() != nullptr});
      names.push_back(v->name());
    }
    MIXQ_ASSIGN_OR_RETURN(auto source, DataSource::open(data, names));
    MIXQ_ASSIGN_OR_RETURN(Batcher batcher, Batcher::create(*source, specs));
    for (const auto& [name, dims] : batcher.run_dims()) {
      io.input_shapes[name] = ir::shape_from_ints(dims);
    }
  }
  return ir::check_memory_limit(model, max_mib, io);
}

}  // namespace mixq::calib
