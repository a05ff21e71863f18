#include "mixq/exec/kernel.h"

namespace mixq::exec {

KernelContext::KernelContext(const ir::Node& node, int64_t opset,
                             std::vector<const ir::Tensor*> inputs,
                             std::vector<ir::Tensor>& outputs, std::vector<ir::ValueType> inferred,
                             ThreadPool& pool, SubgraphRunner subgraphs,
                             std::shared_ptr<NodeState>* node_state)
    : node_(node),
      opset_(opset),
      inputs_(std::move(inputs)),
      outputs_(outputs),
      inferred_(std::move(inferred)),
      pool_(pool),
      subgraphs_(std::move(subgraphs)),
      node_state_(node_state) {}

bool KernelContext::input_is_initializer(size_t i) const {
  if (!has_input(i) || i >= node_.inputs().size() || node_.input(i) == nullptr) return false;
  const ir::Tensor* init = node_.input(i)->initializer();
  return init != nullptr && init->raw_data() == input(i).raw_data() &&
         init->dims() == input(i).dims() && init->dtype() == input(i).dtype();
}

const ir::ValueType& KernelContext::inferred_type(size_t i) const {
  static const ir::ValueType unknown;
  return i < inferred_.size() ? inferred_[i] : unknown;
}

Expected<ir::Tensor*> KernelContext::output(size_t i) {
  const ir::ValueType& t = inferred_type(i);
  std::optional<std::vector<int64_t>> dims;
  if (t.is_tensor() && t.shape) dims = ir::shape_to_ints(*t.shape);
  if (!dims || t.dtype == DType::kUndefined) {
    return internal_error(node_.describe(), ": output ", i,
                          " has no inferred type; the kernel must give its dtype and dims");
  }
  return output(i, t.dtype, *dims);
}

Expected<ir::Tensor*> KernelContext::output(size_t i, DType dtype,
                                            const std::vector<int64_t>& dims) {
  if (i >= outputs_.size()) {
    return internal_error(node_.describe(), ": output ", i, " out of range");
  }
  if (i == 0) {
    for (const ir::Tensor* d : donors_) {
      if (d->dtype() != dtype || d->dims() != dims || dtype == DType::kString) continue;
      auto t = ir::Tensor::from_buffer(dtype, dims, d->buffer());
      if (!t.ok()) break;
      outputs_[0] = std::move(t).value();
      donors_.clear();
      return &outputs_[0];
    }
  }
  auto t = ir::Tensor::uninitialized(dtype, dims);
  if (!t.ok()) return t.status().with_context(node_.describe());
  outputs_[i] = std::move(t).value();
  return &outputs_[i];
}

void KernelContext::set_output(size_t i, ir::Tensor t) {
  if (i < outputs_.size()) outputs_[i] = std::move(t);
}

Expected<std::vector<ir::Tensor>> KernelContext::run_subgraph(
    const ir::Graph& g, std::vector<ir::Tensor> inputs) const {
  if (!subgraphs_) return internal_error(node_.describe(), ": no subgraph runner");
  return subgraphs_(g, std::move(inputs));
}

std::string TypeSet::to_string() const {
  if (is_any()) return "any type";
  std::string out;
  for (int32_t i = 1; i < 32; ++i) {
    const auto t = dtype_from_onnx(i);
    if (t && contains(*t)) out += (out.empty() ? "" : ", ") + std::string(dtype_name(*t));
  }
  return out.empty() ? "no type" : out;
}

}  // namespace mixq::exec
