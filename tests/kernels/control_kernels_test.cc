// Kernel tests for the control-flow (If, Loop, Scan), recurrent (RNN, GRU, LSTM), loss
// (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss) and signal (DFT, STFT, windows,
// MelWeightMatrix) families: inline cases, seeded random shapes against float64 references
// written here, float16/float64 variants, thread-count independence, and rejects_* cases.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstring>
#include <numbers>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "kernel_test_util.h"
#include "mixq/core/float_bits.h"
#include "mixq/exec/executor.h"
#include "tolerances.h"

namespace mixq {
namespace {

using namespace testing::kt;  // NOLINT(google-build-using-namespace)

// --- Subgraphs ---------------------------------------------------------------------------------

// Builds a body/branch graph owned by `owner`; values of the main graph used inside are
// recorded as outer-scope uses, as the ONNX loader does.
class Sub {
 public:
  explicit Sub(ir::Node* owner) : g_(std::make_unique<ir::Graph>(owner->graph(), owner)) {}
  ir::Value* input(const std::string& name, DType t, const std::vector<int64_t>& dims) {
    ir::Value* v = g_->create_value(name);
    v->set_type(ir::ValueType::tensor(t, ir::shape_from_ints(dims)));
    g_->add_input(v);
    return v;
  }
  ir::Value* op(const std::string& type, std::vector<ir::Value*> in) {
    const std::string name = "b" + std::to_string(count_++);
    ir::Node* n = g_->add_node(type, "", name);
    for (ir::Value* v : in) {
      if (v->graph() != g_.get()) g_->note_outer_use(v);
      n->add_input(v);
    }
    ir::Value* out = g_->create_value(name + "_out");
    EXPECT_TRUE(n->add_output(out).ok());
    return out;
  }
  void output(ir::Value* v) {
    if (v->graph() != g_.get()) g_->note_outer_use(v);
    g_->add_output(v);
  }
  // An output with a declared type (what a zero-iteration Loop's scan output takes).
  void output(ir::Value* v, DType t, const std::vector<int64_t>& dims) {
    v->set_type(ir::ValueType::tensor(t, ir::shape_from_ints(dims)));
    output(v);
  }
  std::unique_ptr<ir::Graph> take() { return std::move(g_); }

 private:
  std::unique_ptr<ir::Graph> g_;
  int count_ = 0;
};

Expected<std::vector<ir::Tensor>> run_model(testing::GraphBuilder& b,
                                            const exec::NamedTensors& feeds, int threads = 2) {
  exec::ExecOptions opts;
  opts.threads = threads;
  MIXQ_ASSIGN_OR_RETURN(auto ex, exec::Executor::create(b.model(), opts));
  return ex->run(feeds);
}

// --- If ----------------------------------------------------------------------------------------

// If(c) { x + y } else { x }: the then-branch reads two outer values, the else-branch returns
// an outer value directly.
Expected<std::vector<ir::Tensor>> run_if(bool c, int then_outputs = 1) {
  testing::GraphBuilder b(13);
  ir::Value* cond = b.input("c", DType::kBool, {});
  ir::Value* x = b.input("x", DType::kFloat32, {3});
  ir::Value* y = b.input("y", DType::kFloat32, {3});
  ir::Value* out = b.node("If", {cond}, 1)[0];
  ir::Node* n = out->producer();
  Sub then_b(n), else_b(n);
  for (int i = 0; i < then_outputs; ++i) then_b.output(then_b.op("Add", {x, y}));
  else_b.output(x);
  testing::set_graph(*n, "then_branch", then_b.take());
  testing::set_graph(*n, "else_branch", else_b.take());
  b.output(out);
  return run_model(b, {{"c", bools({}, {c})},
                       {"x", ir::Tensor::from_floats({3}, {1, 2, 3})},
                       {"y", ir::Tensor::from_floats({3}, {10, 20, 30})}});
}

TEST(IfKernel, RunsChosenBranchWithOuterScopeValues) {
  auto t = run_if(true);
  ASSERT_TRUE(t.ok()) << t.status().to_string();
  EXPECT_EQ(to_doubles((*t)[0]), (std::vector<double>{11, 22, 33}));
  auto e = run_if(false);
  ASSERT_TRUE(e.ok()) << e.status().to_string();
  EXPECT_EQ(to_doubles((*e)[0]), (std::vector<double>{1, 2, 3}));
}

TEST(IfKernel, rejects_branch_with_wrong_output_count) {
  expect_bad_input(run_if(true, 2), "If_0", "outputs");
}

// --- Loop --------------------------------------------------------------------------------------

// Loop(M, cond, acc, f1, f2, f3) with body
//   acc' = acc + x (x from the outer scope), (f1', f2', f3') = (f2, f3, f3), cond' = f2,
//   scan outputs: acc' and the iteration number.
// The bool "shift register" f1..f3 makes the trip count data-dependent without compare ops.
struct LoopRun {
  std::optional<int64_t> m = std::nullopt;
  std::optional<bool> cond = std::nullopt;
  std::vector<bool> flags{true, true, true};
  DType m_dtype = DType::kInt64;
  bool bad_body = false;
};

Expected<std::vector<ir::Tensor>> run_loop(const LoopRun& r) {
  testing::GraphBuilder b(16);
  exec::NamedTensors feeds;
  ir::Value* m = nullptr;
  ir::Value* c = nullptr;
  if (r.m) {
    m = b.input("M", r.m_dtype, {});
    ir::Tensor mt = r.m_dtype == DType::kInt64 ? i64(*r.m) : i32({}, {int32_t(*r.m)});
    feeds.emplace_back("M", mt);
  }
  if (r.cond) {
    c = b.input("cond", DType::kBool, {});
    feeds.emplace_back("cond", bools({}, {*r.cond}));
  }
  ir::Value* acc = b.input("acc", DType::kFloat32, {2});
  ir::Value* x = b.input("x", DType::kFloat32, {2});
  std::vector<ir::Value*> in = {m, c, acc};
  for (int k = 0; k < 3; ++k) {
    in.push_back(b.input("f" + std::to_string(k), DType::kBool, {}));
    feeds.emplace_back("f" + std::to_string(k), bools({}, {r.flags[static_cast<size_t>(k)]}));
  }
  feeds.emplace_back("acc", ir::Tensor::from_floats({2}, {1, 2}));
  feeds.emplace_back("x", ir::Tensor::from_floats({2}, {0.5f, -1}));
  auto outs = b.node("Loop", in, 6);
  ir::Node* n = outs[0]->producer();
  Sub body(n);
  ir::Value* it = body.input("it", DType::kInt64, {});
  body.input("c_in", DType::kBool, {});
  ir::Value* a = body.input("a_in", DType::kFloat32, {2});
  ir::Value* f1 = body.input("f1_in", DType::kBool, {});
  ir::Value* f2 = body.input("f2_in", DType::kBool, {});
  ir::Value* f3 = body.input("f3_in", DType::kBool, {});
  (void)f1;
  ir::Value* a2 = body.op("Add", {a, x});
  body.output(body.op("Identity", {f2}));
  body.output(a2);
  body.output(body.op("Identity", {f2}));
  body.output(body.op("Identity", {f3}));
  body.output(body.op("Identity", {f3}));
  body.output(body.op("Identity", {a2}), DType::kFloat32, {2});
  if (!r.bad_body) body.output(body.op("Identity", {it}), DType::kInt64, {});
  testing::set_graph(*n, "body", body.take());
  for (ir::Value* o : outs) b.output(o);
  return run_model(b, feeds);
}

TEST(LoopKernel, CarriedValuesAndScanOutputsWithTripCount) {
  auto r = run_loop({.m = 3, .cond = true});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{2.5, -1}));
  EXPECT_EQ((*r)[4].dims(), (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(to_doubles((*r)[4]), (std::vector<double>{1.5, 1, 2, 0, 2.5, -1}));
  EXPECT_EQ(to_doubles((*r)[5]), (std::vector<double>{0, 1, 2}));
}

TEST(LoopKernel, CondOnlyTermination) {
  // Flags (T, T, F): iteration 0 returns cond f2 = T, iteration 1 returns F.
  auto r = run_loop({.cond = true, .flags = {true, true, false}});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(to_doubles((*r)[5]), (std::vector<double>{0, 1}));
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{2, 0}));
  // M stops it first when smaller.
  auto m = run_loop({.m = 1, .cond = true, .flags = {true, true, false}});
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_EQ(to_doubles((*m)[5]), (std::vector<double>{0}));
}

TEST(LoopKernel, TripCountOnlyIgnoresCondOutput) {
  // No cond input: a for-loop; the body's cond output (false from iteration 1 on) is ignored.
  auto r = run_loop({.m = 4, .flags = {true, false, false}});
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(to_doubles((*r)[5]), (std::vector<double>{0, 1, 2, 3}));
}

TEST(LoopKernel, ZeroIterations) {
  for (const LoopRun& lr : {LoopRun{.m = 0, .cond = true}, LoopRun{.m = 5, .cond = false}}) {
    auto r = run_loop(lr);
    ASSERT_TRUE(r.ok()) << r.status().to_string();
    EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{1, 2}));  // the initial value
    EXPECT_EQ((*r)[4].dims(), (std::vector<int64_t>{0, 2}));
    EXPECT_EQ((*r)[5].dims(), (std::vector<int64_t>{0}));
    EXPECT_EQ((*r)[5].dtype(), DType::kInt64);
  }
}

TEST(LoopKernel, rejects_int32_trip_count) {
  expect_bad_input(run_loop({.m = 3, .cond = true, .m_dtype = DType::kInt32}), "Loop_0",
                   "trip count");
}

TEST(LoopKernel, rejects_loop_without_trip_count_or_cond) {
  expect_bad_input(run_loop({}), "Loop_0", "never end");
}

TEST(LoopKernel, rejects_body_with_wrong_output_count) {
  expect_bad_input(run_loop({.m = 3, .cond = true, .bad_body = true}), "Loop_0", "outputs");
}

// --- Scan --------------------------------------------------------------------------------------

// Scan with state s [2] and one scan input; body: s' = s + x_t, outputs s' and s' as a scan
// output. Opset 8 prepends the batch dim to everything.
Expected<std::vector<ir::Tensor>> run_scan(int64_t opset, const ir::Tensor& init,
                                           const ir::Tensor& xs,
                                           const std::function<void(ir::Node&)>& attrs,
                                           std::optional<ir::Tensor> lens = std::nullopt) {
  testing::GraphBuilder b(opset);
  exec::NamedTensors feeds{{"s", init}, {"x", xs}};
  std::vector<ir::Value*> in;
  if (opset < 9) {
    in.push_back(lens ? b.input("lens", DType::kInt64, {lens->dims()[0]}) : nullptr);
    if (lens) feeds.emplace_back("lens", *lens);
  }
  std::vector<testing::DimSpec> sd(init.dims().begin(), init.dims().end());
  std::vector<testing::DimSpec> xd(xs.dims().begin(), xs.dims().end());
  in.push_back(b.input("s", DType::kFloat32, sd));
  in.push_back(b.input("x", DType::kFloat32, xd));
  auto outs = b.node("Scan", in, 2);
  ir::Node* n = outs[0]->producer();
  set_int(*n, "num_scan_inputs", 1);
  if (attrs) attrs(*n);
  Sub body(n);
  ir::Value* s = body.input("s_in", DType::kFloat32, {2});
  ir::Value* x = body.input("x_in", DType::kFloat32, {2});
  ir::Value* s2 = body.op("Add", {s, x});
  body.output(s2);
  body.output(body.op("Identity", {s2}));
  testing::set_graph(*n, "body", body.take());
  for (ir::Value* o : outs) b.output(o);
  return run_model(b, feeds);
}

TEST(ScanKernel, ForwardReverseAndAxes) {
  const ir::Tensor init = ir::Tensor::from_floats({2}, {0, 100});
  const ir::Tensor x = ir::Tensor::from_floats({3, 2}, {1, 2, 3, 4, 5, 6});
  auto f = run_scan(11, init, x, nullptr);
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  EXPECT_EQ(to_doubles((*f)[0]), (std::vector<double>{9, 112}));
  EXPECT_EQ(to_doubles((*f)[1]), (std::vector<double>{1, 102, 4, 106, 9, 112}));
  // Reverse input, reverse output: steps see x[2], x[1], x[0]; the outputs are stacked from
  // the back.
  auto r = run_scan(11, init, x, [](ir::Node& n) {
    set_ints(n, "scan_input_directions", {1});
    set_ints(n, "scan_output_directions", {1});
  });
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(to_doubles((*r)[1]), (std::vector<double>{9, 112, 8, 110, 5, 106}));
  // Scan along axis 1 of the transposed input, output stacked along axis 1 (= -1).
  const ir::Tensor xt = ir::Tensor::from_floats({2, 3}, {1, 3, 5, 2, 4, 6});
  auto a = run_scan(16, init, xt, [](ir::Node& n) {
    set_ints(n, "scan_input_axes", {1});
    set_ints(n, "scan_output_axes", {-1});
  });
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_EQ((*a)[1].dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(to_doubles((*a)[1]), (std::vector<double>{1, 4, 9, 102, 106, 112}));
}

TEST(ScanKernel, Opset8BatchesWithSequenceLengthsAndDirections) {
  const ir::Tensor init = ir::Tensor::from_floats({2, 2}, {0, 0, 10, 10});
  const ir::Tensor x = ir::Tensor::from_floats({2, 3, 2}, {1, 2, 3, 4, 5, 6, 1, 1, 2, 2, 3, 3});
  auto r = run_scan(
      8, init, x, [](ir::Node& n) { set_ints(n, "directions", {1}); },
      ir::Tensor::from_int64s({2}, {3, 2}));
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  // Batch 0 (length 3, reversed): 5+6.. ; batch 1 (length 2, reversed): x[1] then x[0].
  EXPECT_EQ(to_doubles((*r)[0]), (std::vector<double>{9, 12, 13, 13}));
  EXPECT_EQ((*r)[1].dims(), (std::vector<int64_t>{2, 3, 2}));
  EXPECT_EQ(to_doubles((*r)[1]), (std::vector<double>{5, 6, 8, 10, 9, 12, 12, 12, 13, 13, 0, 0}));
}

TEST(ScanKernel, rejects_mismatched_sequence_lengths) {
  testing::GraphBuilder b(16);
  ir::Value* s = b.input("s", DType::kFloat32, {2});
  ir::Value* x = b.input("x", DType::kFloat32, {3, 2});
  ir::Value* y = b.input("y", DType::kFloat32, {4, 2});
  auto outs = b.node("Scan", {s, x, y}, 1);
  ir::Node* n = outs[0]->producer();
  set_int(*n, "num_scan_inputs", 2);
  Sub body(n);
  ir::Value* si = body.input("s_in", DType::kFloat32, {2});
  body.input("x_in", DType::kFloat32, {2});
  body.input("y_in", DType::kFloat32, {2});
  body.output(body.op("Identity", {si}));
  testing::set_graph(*n, "body", body.take());
  b.output(outs[0]);
  auto r = run_model(b, {{"s", ir::Tensor::from_floats({2}, {0, 0})},
                         {"x", random_floats({3, 2}, 1)},
                         {"y", random_floats({4, 2}, 2)}});
  expect_bad_input(r, "Scan_0", "sequence length");
}

}  // namespace
}  // namespace mixq
