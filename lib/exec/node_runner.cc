#include "mixq/exec/node_runner.h"

#include "mixq/exec/kernel.h"
#include "mixq/exec/kernel_registry.h"
#include "mixq/ir/infer_context.h"
#include "mixq/ir/op_schema.h"

namespace mixq::exec {

namespace {

Expected<std::vector<ir::ValueType>> infer(const ir::Node& node, int64_t opset,
                                           const std::vector<NodeInput>& inputs) {
  const ir::OpSchema* schema = ir::find_op_schema(node.domain(), node.op_type(), opset);
  if (schema == nullptr) {
    return unsupported(node.describe(), ": mixq has no shape function for ", node.op_type(), "-",
                       opset);
  }
  std::vector<ir::InferInput> ii(inputs.size());
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (!inputs[k].present) continue;
    ii[k].present = true;
    ii[k].type = ir::ValueType::tensor(inputs[k].dtype, ir::shape_from_ints(inputs[k].dims));
    ii[k].constant = inputs[k].value;
  }
  const size_t n_out = node.outputs().size();
  ir::InferContext ctx(node, opset, std::move(ii), n_out);
  MIXQ_RETURN_IF_ERROR(schema->infer(ctx));
  std::vector<ir::ValueType> out(n_out);
  for (size_t o = 0; o < n_out; ++o) out[o] = ctx.outputs()[o].type;
  return out;
}

}  // namespace

Expected<std::vector<NodeOutputType>> infer_node_outputs(const ir::Node& node, int64_t opset,
                                                         const std::vector<NodeInput>& inputs) {
  MIXQ_ASSIGN_OR_RETURN(auto types, infer(node, opset, inputs));
  std::vector<NodeOutputType> out(types.size());
  for (size_t o = 0; o < types.size(); ++o) {
    if (node.output(o) == nullptr || node.output(o)->name().empty()) continue;
    const auto dims = types[o].shape ? ir::shape_to_ints(*types[o].shape) : std::nullopt;
    if (!types[o].is_tensor() || types[o].dtype == DType::kUndefined || !dims) {
      return unsupported(node.describe(), ": output ", o,
                         " has dims that depend on data the host does not have (",
                         types[o].to_string(), ")");
    }
    out[o].dtype = types[o].dtype;
    out[o].dims = *dims;
  }
  return out;
}

Expected<std::vector<ir::Tensor>> run_node_on_cpu(const ir::Node& node, int64_t opset,
                                                  const std::vector<const ir::Tensor*>& inputs,
                                                  ThreadPool& pool) {
  std::vector<NodeInput> ni(inputs.size());
  std::vector<DType> dtypes(inputs.size(), DType::kUndefined);
  for (size_t k = 0; k < inputs.size(); ++k) {
    if (inputs[k] == nullptr) continue;
    ni[k] = {true, inputs[k]->dtype(), inputs[k]->dims(), inputs[k]};
    dtypes[k] = inputs[k]->dtype();
  }
  std::vector<ir::ValueType> inferred(node.outputs().size());
  if (ir::find_op_schema(node.domain(), node.op_type(), opset) != nullptr) {
    MIXQ_ASSIGN_OR_RETURN(inferred, infer(node, opset, ni));
  }
  const KernelDef* kernel = find_kernel(node.domain(), node.op_type(), opset, dtypes);
  if (kernel == nullptr) {
    return unsupported(describe_kernel_miss(
        node, opset, inputs.empty() || !inputs[0] ? DType::kUndefined : inputs[0]->dtype()));
  }
  std::vector<ir::Tensor> out(node.outputs().size());
  KernelContext ctx(
      node, opset, inputs, out, std::move(inferred), pool,
      [&node](const ir::Graph&, std::vector<ir::Tensor>) -> Expected<std::vector<ir::Tensor>> {
        return unsupported(node.describe(), ": subgraphs do not run outside an Executor");
      });
  MIXQ_RETURN_IF_ERROR(kernel->fn(ctx));
  return out;
}

}  // namespace mixq::exec
