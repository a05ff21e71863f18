#include "kernel_runner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "graph_builder.h"
#include "mixq/exec/executor.h"
#include "tolerances.h"

namespace mixq::testing {

Expected<std::vector<ir::Tensor>> run_node(const std::string& op,
                                           const std::vector<std::optional<ir::Tensor>>& inputs,
                                           const NodeSpec& spec) {
  GraphBuilder b(spec.opset);
  if (!spec.domain.empty()) b.model().opset_imports.push_back({spec.domain, 1});
  std::vector<ir::Value*> values;
  exec::NamedTensors feeds;
  for (size_t i = 0; i < inputs.size(); ++i) {
    if (!inputs[i]) {
      values.push_back(nullptr);
      continue;
    }
    const ir::Tensor& t = *inputs[i];
    const std::string name = "in" + std::to_string(i);
    if (spec.constant_inputs.count(i)) {
      values.push_back(b.constant(name, t));
      continue;
    }
    std::vector<DimSpec> dims(t.dims().begin(), t.dims().end());
    values.push_back(b.input(name, t.dtype(), dims));
    feeds.emplace_back(name, t);
  }
  auto outs = b.node(op, values, spec.num_outputs, spec.attrs, spec.domain);
  for (ir::Value* o : outs) b.output(o);
  exec::ExecOptions opts;
  opts.threads = spec.threads;
  MIXQ_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(b.model(), opts));
  return ex->run(feeds);
}

ir::Tensor random_floats(const std::vector<int64_t>& dims, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  ir::Tensor t = ir::Tensor::zeros(DType::kFloat32, dims).value();
  float* p = t.mutable_data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

ir::Tensor random_int64s(const std::vector<int64_t>& dims, uint32_t seed, int64_t lo, int64_t hi) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  ir::Tensor t = ir::Tensor::zeros(DType::kInt64, dims).value();
  int64_t* p = t.mutable_data<int64_t>();
  for (int64_t i = 0; i < t.numel(); ++i) p[i] = dist(rng);
  return t;
}

std::vector<double> to_doubles(const ir::Tensor& t) {
  std::vector<double> out(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) out[static_cast<size_t>(i)] = t.element_as_double(i);
  return out;
}

ir::Tensor from_doubles(const std::vector<int64_t>& dims, const std::vector<double>& values) {
  std::vector<float> f(values.begin(), values.end());
  return ir::Tensor::from_floats(dims, f);
}

std::string compare_to_reference(const ir::Tensor& got, const std::vector<double>& want,
                                 const std::vector<double>* magnitude) {
  if (static_cast<size_t>(got.numel()) != want.size()) {
    return "got " + std::to_string(got.numel()) + " elements, want " + std::to_string(want.size());
  }
  const Tolerance tol = tolerance_for(got.dtype());
  for (size_t i = 0; i < want.size(); ++i) {
    const double g = got.element_as_double(static_cast<int64_t>(i));
    const double w = want[i];
    if (std::isnan(w) && std::isnan(g)) continue;
    if (std::isinf(w) && g == w) continue;
    const double scale = magnitude ? (*magnitude)[i] : std::fabs(w);
    if (!(std::fabs(g - w) <= tol.atol + tol.rtol * scale)) {
      return "element " + std::to_string(i) + ": got " + std::to_string(g) + ", want " +
             std::to_string(w);
    }
  }
  return "";
}

std::vector<ir::Tensor> run_model(const ir::Model& m, const exec::NamedTensors& feeds) {
  auto ex = exec::Executor::create(m, {.threads = 1});
  EXPECT_TRUE(ex.ok()) << ex.status().to_string();
  if (!ex.ok()) return {};
  auto out = (*ex)->run(feeds);
  EXPECT_TRUE(out.ok()) << out.status().to_string();
  if (!out.ok()) return {};
  return std::move(out).value();
}

int count_ops(const ir::Model& m, std::string_view op) {
  int k = 0;
  for (const auto& n : m.graph().nodes()) k += n->op_type() == op;
  return k;
}

}  // namespace mixq::testing
