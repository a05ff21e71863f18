// One node outside an Executor (exec/node_runner.h), as the device executor uses it for output
// dims, host shape computations and CPU fallbacks: shape functions on concrete dims (with the
// host values of shape inputs), CPU kernels on host tensors, and the errors that name the node.
#include "mixq/exec/node_runner.h"

#include <gtest/gtest.h>

#include "graph_builder.h"
#include "mixq/ir/tensor.h"

namespace mixq {
namespace {

TEST(NodeRunner, InfersOutputDimsFromConcreteDimsAndHostShapeValues) {
  testing::GraphBuilder b(21);
  auto* x = b.input("x", DType::kFloat32, {"N", 12});
  auto* shape = b.input("shape", DType::kInt64, {3});
  auto* y = b.node("Reshape", {x, shape})[0];
  const ir::Node& n = *y->producer();
  const auto target = ir::Tensor::from_int64s({3}, {2, -1, 3});
  auto out = exec::infer_node_outputs(
      n, 21, {{true, DType::kFloat32, {5, 12}, nullptr}, {true, DType::kInt64, {3}, &target}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 1u);
  EXPECT_EQ((*out)[0].dtype, DType::kFloat32);
  EXPECT_EQ((*out)[0].dims, (std::vector<int64_t>{2, 10, 3}));  // 60 elements, -1 inferred
  // Without the shape's values the dims depend on data the host does not have.
  auto unknown = exec::infer_node_outputs(
      n, 21, {{true, DType::kFloat32, {5, 12}, nullptr}, {true, DType::kInt64, {3}, nullptr}});
  ASSERT_FALSE(unknown.ok());
  EXPECT_EQ(unknown.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(unknown.status().message().find("Reshape"), std::string::npos);
}

TEST(NodeRunner, RunsTheCpuKernelAndNamesTheNodeOnBadInput) {
  testing::GraphBuilder b(21);
  auto* a = b.input("a", DType::kFloat32, {2, 3});
  auto* c = b.input("c", DType::kFloat32, {3});
  auto* y = b.node("Add", {a, c})[0];
  const ir::Node& n = *y->producer();
  exec::ThreadPool pool(1);
  const auto ta = ir::Tensor::from_floats({2, 3}, {1, 2, 3, 4, 5, 6});
  const auto tc = ir::Tensor::from_floats({3}, {10, 20, 30});
  auto out = exec::run_node_on_cpu(n, 21, {&ta, &tc}, pool);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  ASSERT_EQ(out->size(), 1u);
  const float* v = (*out)[0].data<float>();
  EXPECT_EQ((*out)[0].dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(std::vector<float>(v, v + 6), (std::vector<float>{11, 22, 33, 14, 25, 36}));
  // Shapes that do not broadcast: bad input naming the node.
  const auto bad = ir::Tensor::from_floats({4}, {1, 2, 3, 4});
  auto err = exec::run_node_on_cpu(n, 21, {&ta, &bad}, pool);
  ASSERT_FALSE(err.ok());
  EXPECT_EQ(err.status().code(), StatusCode::kBadInput);
  EXPECT_NE(err.status().message().find("Add"), std::string::npos) << err.status().to_string();
}

}  // namespace
}  // namespace mixq
