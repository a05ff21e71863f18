// The opset upgrade on small models, one per ONNX op change: the CPU executor gives bit-identical
// outputs before and after the upgrade (it implements each op version's own semantics), and the
// node carries the new signature (attributes moved to inputs, renamed, defaults written out).
// Refused upgrades name the node and leave the model untouched.
#include "mixq/passes/opset_upgrade.h"

#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "mixq/exec/executor.h"

namespace mixq {
namespace {

using testing::GraphBuilder;
using testing::set_float;
using testing::set_int;
using testing::set_ints;
using testing::set_string;

std::vector<ir::Tensor> run(const ir::Model& m, const exec::NamedTensors& feeds) {
  return testing::run_model(m, feeds);
}

void expect_identical(const std::vector<ir::Tensor>& want, const std::vector<ir::Tensor>& got) {
  ASSERT_EQ(want.size(), got.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(want[i].dtype(), got[i].dtype()) << "output " << i;
    ASSERT_EQ(want[i].dims(), got[i].dims()) << "output " << i;
    ASSERT_EQ(want[i].nbytes(), got[i].nbytes()) << "output " << i;
    EXPECT_EQ(std::memcmp(want[i].raw_data(), got[i].raw_data(), want[i].nbytes()), 0)
        << "output " << i << " differs";
  }
}

// Runs the model, upgrades it to `target`, runs it again: the outputs are bit-identical.
// Returns the pass log.
std::vector<std::string> upgrade_keeps_outputs(ir::Model& m, int64_t target,
                                               const exec::NamedTensors& feeds) {
  const std::vector<ir::Tensor> before = run(m, feeds);
  std::vector<std::string> log;
  const Status s = passes::upgrade_opset(m, target, &log);
  EXPECT_TRUE(s.ok()) << s.to_string();
  EXPECT_EQ(m.opset(""), target);
  expect_identical(before, run(m, feeds));
  return log;
}

ir::Node* find(ir::Model& m, std::string_view op, int nth = 0) {
  for (const auto& n : m.graph().nodes()) {
    if (n->op_type() == op && nth-- == 0) return n.get();
  }
  return nullptr;
}

int count(const ir::Model& m, std::string_view op) { return testing::count_ops(m, op); }

// The int64 values of constant input i of `n` (empty when it is not a constant).
std::vector<int64_t> const_ints(const ir::Node* n, size_t i) {
  const ir::Value* v = n ? n->input(i) : nullptr;
  if (v == nullptr || v->initializer() == nullptr) return {};
  const ir::Tensor& t = *v->initializer();
  EXPECT_EQ(t.dtype(), DType::kInt64);
  return std::vector<int64_t>(t.data<int64_t>(), t.data<int64_t>() + t.numel());
}

double const_scalar(const ir::Node* n, size_t i) {
  const ir::Value* v = n ? n->input(i) : nullptr;
  if (v == nullptr || v->initializer() == nullptr) return NAN;
  return v->initializer()->element_as_double(0);
}

bool log_mentions(const std::vector<std::string>& log, std::string_view what) {
  for (const auto& line : log) {
    if (line.find(what) != std::string::npos) return true;
  }
  return false;
}

using V = std::vector<int64_t>;

TEST(OpsetUpgrade, SqueezeUnsqueezeAxesBecomeInputsAt13) {
  GraphBuilder b(11);
  auto* x = b.input("x", DType::kFloat32, {2, 1, 3});
  auto* s = b.node("Squeeze", {x}, 1, [](ir::Node& n) { set_ints(n, "axes", {1}); })[0];
  auto* u = b.node("Unsqueeze", {s}, 1, [](ir::Node& n) { set_ints(n, "axes", {0, -1}); })[0];
  b.output(b.node("Squeeze", {u})[0]);  // no axes: every 1-dim, before and after
  b.output(u);
  auto log = upgrade_keeps_outputs(b.model(), 13, {{"x", testing::random_floats({2, 1, 3}, 1)}});
  ir::Node* sq = find(b.model(), "Squeeze");
  ir::Node* un = find(b.model(), "Unsqueeze");
  EXPECT_EQ(sq->attr("axes"), nullptr);
  EXPECT_EQ(const_ints(sq, 1), V({1}));
  EXPECT_EQ(const_ints(un, 1), V({0, -1}));
  EXPECT_EQ(find(b.model(), "Squeeze", 1)->inputs().size(), 1u);
  EXPECT_TRUE(log_mentions(log, "attribute axes [0, -1] -> input")) << log[0];
}

TEST(OpsetUpgrade, SplitSizesBecomeInputAt13AndEqualSplitsGetNumOutputsAt18) {
  GraphBuilder b(11);
  auto* x = b.input("x", DType::kFloat32, {4, 3});
  auto parts = b.node("Split", {x}, 2, [](ir::Node& n) {
    set_int(n, "axis", 1);
    set_ints(n, "split", {1, 2});
  });
  auto halves = b.node("Split", {x}, 2);
  for (auto* v : parts) b.output(v);
  for (auto* v : halves) b.output(v);
  const exec::NamedTensors feeds = {{"x", testing::random_floats({4, 3}, 2)}};

  upgrade_keeps_outputs(b.model(), 13, feeds);
  EXPECT_EQ(const_ints(find(b.model(), "Split"), 1), V({1, 2}));
  EXPECT_EQ(find(b.model(), "Split", 1)->attr("num_outputs"), nullptr) << "not before 18";

  upgrade_keeps_outputs(b.model(), 18, feeds);
  EXPECT_EQ(find(b.model(), "Split")->attr("num_outputs"), nullptr) << "has the split input";
  EXPECT_EQ(find(b.model(), "Split", 1)->attr_int("num_outputs", 0).value(), 2);
}

TEST(OpsetUpgrade, ReduceAxesBecomeInputsAt13ForSumAnd18ForTheRest) {
  const char* ops[] = {"ReduceSum",       "ReduceMean",     "ReduceMax", "ReduceMin",
                       "ReduceProd",      "ReduceL1",       "ReduceL2",  "ReduceLogSum",
                       "ReduceLogSumExp", "ReduceSumSquare"};
  GraphBuilder b(11);
  auto* x = b.input("x", DType::kFloat32, {2, 3, 4});
  for (const char* op : ops) {
    b.output(b.node(op, {x}, 1, [](ir::Node& n) {
      set_ints(n, "axes", {0, -1});
      set_int(n, "keepdims", 0);
    })[0]);
  }
  b.output(b.node("ReduceMean", {x})[0]);  // no axes: all of them
  const exec::NamedTensors feeds = {{"x", testing::random_floats({2, 3, 4}, 3, 0.5f, 2.0f)}};

  upgrade_keeps_outputs(b.model(), 13, feeds);
  EXPECT_EQ(const_ints(find(b.model(), "ReduceSum"), 1), V({0, -1}));
  EXPECT_NE(find(b.model(), "ReduceMean")->attr("axes"), nullptr) << "ReduceMean changes at 18";

  upgrade_keeps_outputs(b.model(), 18, feeds);
  for (const char* op : ops) {
    ir::Node* n = find(b.model(), op);
    EXPECT_EQ(n->attr("axes"), nullptr) << op;
    EXPECT_EQ(const_ints(n, 1), V({0, -1})) << op;
  }
  EXPECT_EQ(find(b.model(), "ReduceMean", 1)->inputs().size(), 1u);
}

TEST(OpsetUpgrade, PadAttributesBecomeInputsAt11) {
  GraphBuilder b(2);
  auto* x = b.input("x", DType::kFloat32, {2, 3});
  b.output(b.node("Pad", {x}, 1, [](ir::Node& n) {
    set_ints(n, "pads", {0, 1, 1, 0});
    set_float(n, "value", 2.5f);
  })[0]);
  b.output(b.node("Pad", {x}, 1, [](ir::Node& n) {
    set_ints(n, "pads", {1, 2, 1, 2});
    set_string(n, "mode", "reflect");
  })[0]);
  b.output(b.node("Pad", {x}, 1, [](ir::Node& n) {
    set_ints(n, "pads", {0, 0, 2, 1});
    set_string(n, "mode", "edge");
  })[0]);
  upgrade_keeps_outputs(b.model(), 11, {{"x", testing::random_floats({2, 3}, 4)}});
  ir::Node* constant = find(b.model(), "Pad");
  EXPECT_EQ(constant->attr("pads"), nullptr);
  EXPECT_EQ(constant->attr("value"), nullptr);
  EXPECT_EQ(const_ints(constant, 1), V({0, 1, 1, 0}));
  EXPECT_EQ(const_scalar(constant, 2), 2.5);
  EXPECT_EQ(constant->input(2)->initializer()->dtype(), DType::kFloat32);
  ir::Node* reflect = find(b.model(), "Pad", 1);
  EXPECT_EQ(reflect->attr_string("mode", "").value(), "reflect");
  EXPECT_EQ(reflect->input(2), nullptr) << "value 0 is the default constant_value";
}

TEST(OpsetUpgrade, PadPaddingsOfOpset1AreRenamedThenMoved) {
  GraphBuilder b(1);
  auto* x = b.input("x", DType::kFloat32, {2, 3});
  b.output(b.node("Pad", {x}, 1, [](ir::Node& n) { set_ints(n, "paddings", {1, 0, 0, 2}); })[0]);
  std::vector<std::string> log;
  ASSERT_TRUE(passes::upgrade_opset(b.model(), 2, &log).ok());
  EXPECT_EQ(find(b.model(), "Pad")->attr_ints("pads").value(), V({1, 0, 0, 2}));
  upgrade_keeps_outputs(b.model(), 21, {{"x", testing::random_floats({2, 3}, 5)}});
  EXPECT_EQ(const_ints(find(b.model(), "Pad"), 1), V({1, 0, 0, 2}));
}

TEST(OpsetUpgrade, ClipMinMaxBecomeInputsOfTheInputTypeAt11) {
  GraphBuilder b(6);
  auto* x = b.input("x", DType::kFloat32, {10});
  b.output(b.node("Clip", {x}, 1, [](ir::Node& n) {
    set_float(n, "min", -0.5f);
    set_float(n, "max", 0.25f);
  })[0]);
  b.output(b.node("Clip", {x}, 1, [](ir::Node& n) { set_float(n, "max", 0.1f); })[0]);
  upgrade_keeps_outputs(b.model(), 11, {{"x", testing::random_floats({10}, 6)}});
  ir::Node* both = find(b.model(), "Clip");
  EXPECT_EQ(const_scalar(both, 1), -0.5);
  EXPECT_EQ(const_scalar(both, 2), 0.25);
  ir::Node* max_only = find(b.model(), "Clip", 1);
  EXPECT_EQ(max_only->input(1), nullptr);
  EXPECT_EQ(const_scalar(max_only, 2), double(0.1f));
  EXPECT_TRUE(max_only->attributes().empty());
}

TEST(OpsetUpgrade, SliceAndTopKAttributesBecomeInputsAt10) {
  GraphBuilder b(9);
  auto* x = b.input("x", DType::kFloat32, {3, 5});
  b.output(b.node("Slice", {x}, 1, [](ir::Node& n) {
    set_ints(n, "starts", {1, -4});
    set_ints(n, "ends", {1000, -1});
    set_ints(n, "axes", {0, 1});
  })[0]);
  b.output(b.node("Slice", {x}, 1, [](ir::Node& n) {
    set_ints(n, "starts", {0});
    set_ints(n, "ends", {2});
  })[0]);
  for (auto* v : b.node("TopK", {x}, 2, [](ir::Node& n) { set_int(n, "k", 2); })) b.output(v);
  upgrade_keeps_outputs(b.model(), 10, {{"x", testing::random_floats({3, 5}, 7)}});
  ir::Node* s = find(b.model(), "Slice");
  EXPECT_TRUE(s->attributes().empty());
  EXPECT_EQ(const_ints(s, 1), V({1, -4}));
  EXPECT_EQ(const_ints(s, 2), V({1000, -1}));
  EXPECT_EQ(const_ints(s, 3), V({0, 1}));
  EXPECT_EQ(find(b.model(), "Slice", 1)->inputs().size(), 3u) << "no axes input";
  ir::Node* topk = find(b.model(), "TopK");
  EXPECT_EQ(topk->attr("k"), nullptr);
  EXPECT_EQ(const_ints(topk, 1), V({2}));
}

TEST(OpsetUpgrade, DropoutLosesIsTestAndItsRatioBecomesAnInputAt12) {
  GraphBuilder b(6);
  auto* x = b.input("x", DType::kFloat32, {4, 4});
  b.output(b.node("Dropout", {x}, 1, [](ir::Node& n) {
    set_float(n, "ratio", 0.3f);
    set_int(n, "is_test", 1);
  })[0]);
  auto log = upgrade_keeps_outputs(b.model(), 12, {{"x", testing::random_floats({4, 4}, 8)}});
  ir::Node* d = find(b.model(), "Dropout");
  EXPECT_TRUE(d->attributes().empty());
  EXPECT_EQ(const_scalar(d, 1), double(0.3f));
  EXPECT_TRUE(log_mentions(log, "dropped attribute is_test (opset 7)"));
}

// A single-axis Softmax equals the 2-D coerced one when every dim after the axis is 1.
TEST(OpsetUpgrade, SoftmaxOverTheLastAxisKeepsItsNode) {
  GraphBuilder b(12);
  auto* x = b.input("x", DType::kFloat32, {2, 3, 4});
  auto* col = b.input("col", DType::kFloat32, {2, 5, 1});
  b.output(b.node("Softmax", {x}, 1, [](ir::Node& n) { set_int(n, "axis", 2); })[0]);
  b.output(b.node("LogSoftmax", {x}, 1, [](ir::Node& n) { set_int(n, "axis", -1); })[0]);
  b.output(b.node("Hardmax", {col})[0]);  // default axis 1, then only a 1-dim
  upgrade_keeps_outputs(b.model(), 13,
                        {{"x", testing::random_floats({2, 3, 4}, 9)},
                         {"col", testing::random_floats({2, 5, 1}, 10)}});
  EXPECT_EQ(b.graph().num_nodes(), 3u);
  EXPECT_EQ(find(b.model(), "Softmax")->attr_int("axis", 0).value(), 2);
  EXPECT_EQ(find(b.model(), "LogSoftmax")->attr_int("axis", 0).value(), 2);
  EXPECT_EQ(find(b.model(), "Hardmax")->attr_int("axis", -1).value(), 1)
      << "the old default axis must be written out (the new default is -1)";
}

// Before:  x[2,3,4] -> Softmax(axis=1, coerced 2-D) -> y
// After:   x -> Flatten(axis=1) -> Softmax(axis=-1) -> Reshape -> y
//          x -> Shape ---------------------------------^
TEST(OpsetUpgrade, SoftmaxOverACoercedAxisGetsFlattenAndReshape) {
  GraphBuilder b(11);
  auto* x = b.input("x", DType::kFloat32, {2, 3, 4});
  auto* u = b.input("u", DType::kFloat32, {}, /*rank_known=*/false);
  auto* y = b.node("Softmax", {x})[0];
  b.output(y);
  b.output(b.node("LogSoftmax", {u}, 1, [](ir::Node& n) { set_int(n, "axis", -2); })[0]);
  auto log = upgrade_keeps_outputs(b.model(), 13,
                                   {{"x", testing::random_floats({2, 3, 4}, 11, -4, 4)},
                                    {"u", testing::random_floats({3, 2, 5}, 12, -4, 4)}});
  EXPECT_EQ(count(b.model(), "Flatten"), 2);
  EXPECT_EQ(count(b.model(), "Shape"), 2);
  EXPECT_EQ(count(b.model(), "Reshape"), 2);
  ir::Node* sm = find(b.model(), "Softmax");
  EXPECT_EQ(sm->attr_int("axis", 0).value(), -1);
  EXPECT_EQ(sm->input(0)->producer()->op_type(), "Flatten");
  EXPECT_EQ(sm->input(0)->producer()->attr_int("axis", 0).value(), 1);
  ASSERT_EQ(y->producer()->op_type(), "Reshape");
  EXPECT_EQ(y->producer()->input(0), sm->output(0));
  EXPECT_TRUE(b.graph().is_output(y));
  EXPECT_EQ(find(b.model(), "LogSoftmax")->input(0)->producer()->attr_int("axis", 0).value(), -2);
  // The node list stays topologically sorted.
  auto order = ir::topological_order(b.graph());
  ASSERT_TRUE(order.ok());
  for (size_t i = 0; i < order->size(); ++i) EXPECT_EQ((*order)[i], b.graph().nodes()[i].get());
  EXPECT_TRUE(log_mentions(log, "inserted Flatten(axis=1)"));
}

TEST(OpsetUpgrade, BatchNormalizationLosesIsTestAndSpatial) {
  GraphBuilder b(5);
  auto* x = b.input("x", DType::kFloat32, {2, 3, 4, 4});
  std::vector<ir::Value*> params;
  for (int i = 0; i < 4; ++i) {
    params.push_back(b.constant("p" + std::to_string(i),
                                testing::random_floats({3}, 20 + uint32_t(i), 0.5f, 1.5f)));
  }
  b.output(b.node("BatchNormalization", {x, params[0], params[1], params[2], params[3]}, 1,
                  [](ir::Node& n) {
                    set_int(n, "is_test", 1);
                    set_int(n, "spatial", 1);
                    set_float(n, "epsilon", 1e-3f);
                    set_ints(n, "consumed_inputs", {0, 0, 0, 1, 1});
                  })[0]);
  auto log =
      upgrade_keeps_outputs(b.model(), 15, {{"x", testing::random_floats({2, 3, 4, 4}, 13)}});
  ir::Node* bn = find(b.model(), "BatchNormalization");
  ASSERT_EQ(bn->attributes().size(), 1u);
  EXPECT_EQ(bn->attributes()[0].name, "epsilon");
  EXPECT_EQ(log.size(), 4u) << "consumed_inputs, is_test, spatial, opset line";
}

TEST(OpsetUpgrade, SeluGetsOpset1DefaultsWrittenOut) {
  GraphBuilder b(1);
  auto* x = b.input("x", DType::kFloat32, {8});
  b.output(b.node("Selu", {x})[0]);
  b.output(b.node("Selu", {x}, 1, [](ir::Node& n) { set_float(n, "alpha", 2.0f); })[0]);
  ASSERT_TRUE(passes::upgrade_opset(b.model(), 6, nullptr).ok());
  ir::Node* s = find(b.model(), "Selu");
  EXPECT_EQ(std::bit_cast<uint32_t>(s->attr_float("alpha", 0).value()), 0x3fd62b6bu);
  EXPECT_EQ(std::bit_cast<uint32_t>(s->attr_float("gamma", 0).value()), 0x3f867d56u);
  EXPECT_EQ(find(b.model(), "Selu", 1)->attr_float("alpha", 0).value(), 2.0f);
}

TEST(OpsetUpgrade, LegacyBroadcastBecomesNumpyBroadcast) {
  GraphBuilder b(6);
  auto* a = b.input("a", DType::kFloat32, {2, 3, 4});
  auto* mid = b.constant("mid", testing::random_floats({3}, 14));
  auto* last = b.constant("last", testing::random_floats({4}, 15));
  b.output(b.node("Add", {a, mid}, 1, [](ir::Node& n) {
    set_int(n, "broadcast", 1);
    set_int(n, "axis", 1);
  })[0]);
  b.output(b.node("Mul", {a, last}, 1, [](ir::Node& n) { set_int(n, "broadcast", 1); })[0]);
  auto log = upgrade_keeps_outputs(b.model(), 7, {{"a", testing::random_floats({2, 3, 4}, 16)}});
  ir::Node* add = find(b.model(), "Add");
  EXPECT_TRUE(add->attributes().empty());
  ASSERT_NE(add->input(1)->initializer(), nullptr);
  EXPECT_EQ(add->input(1)->initializer()->dims(), V({3, 1}));
  EXPECT_EQ(find(b.model(), "Mul")->input(1), last);
  EXPECT_TRUE(find(b.model(), "Mul")->attributes().empty());
}

// PRelu-6 (from Caffe2) read a 1-D slope of X's channel count per channel; from 7 a slope
// broadcasts from the right, so it becomes [C, 1].
TEST(OpsetUpgrade, PReluChannelSlopeIsReshapedForNumpyBroadcasting) {
  GraphBuilder b(6);
  auto* x = b.input("x", DType::kFloat32, {2, 3, 4});
  b.output(b.node("PRelu", {x, b.constant("slope", testing::random_floats({3}, 25))})[0]);
  b.output(b.node("PRelu", {x, b.constant("last", testing::random_floats({4}, 26))})[0]);
  upgrade_keeps_outputs(b.model(), 7, {{"x", testing::random_floats({2, 3, 4}, 27)}});
  EXPECT_EQ(find(b.model(), "PRelu")->input(1)->initializer()->dims(), V({3, 1}));
  EXPECT_EQ(find(b.model(), "PRelu", 1)->input(1)->name(), "last");
}

TEST(OpsetUpgrade, ConcatGetsItsOldDefaultAxis) {
  GraphBuilder b(3);
  auto* x = b.input("x", DType::kFloat32, {2, 3});
  b.output(b.node("Concat", {x, x})[0]);
  upgrade_keeps_outputs(b.model(), 4, {{"x", testing::random_floats({2, 3}, 17)}});
  EXPECT_EQ(find(b.model(), "Concat")->attr_int("axis", -1).value(), 1);
}

TEST(OpsetUpgrade, RoiAlignGridSampleDftAndGroupNormKeepTheirMeaning) {
  GraphBuilder b(15);
  auto* img = b.input("img", DType::kFloat32, {1, 4, 6, 6});
  auto* rois = b.constant("rois", ir::Tensor::from_floats({2, 4}, {0, 0, 3, 3, 1.5f, 1, 5, 4}));
  auto* idx = b.constant("idx", ir::Tensor::from_int64s({2}, {0, 0}));
  b.output(b.node("RoiAlign", {img, rois, idx}, 1, [](ir::Node& n) {
    set_int(n, "output_height", 2);
    set_int(n, "output_width", 2);
  })[0]);
  const exec::NamedTensors feeds = {{"img", testing::random_floats({1, 4, 6, 6}, 18)}};
  upgrade_keeps_outputs(b.model(), 16, feeds);
  EXPECT_EQ(find(b.model(), "RoiAlign")->attr_string("coordinate_transformation_mode", "").value(),
            "output_half_pixel");

  GraphBuilder g(16);
  auto* x = g.input("x", DType::kFloat32, {1, 2, 4, 4});
  auto* grid = g.constant("grid", testing::random_floats({1, 3, 3, 2}, 19, -1, 1));
  g.output(
      g.node("GridSample", {x, grid}, 1, [](ir::Node& n) { set_string(n, "mode", "bicubic"); })[0]);
  auto* sig = g.input("sig", DType::kFloat32, {2, 8, 1});
  g.output(g.node("DFT", {sig})[0]);  // DFT-17's default axis 1 must survive DFT-20's -2
  const exec::NamedTensors gfeeds = {{"x", testing::random_floats({1, 2, 4, 4}, 20)},
                                     {"sig", testing::random_floats({2, 8, 1}, 21)}};
  // DFT exists from 17: give the model that opset first.
  g.model().opset_imports[0].version = 17;
  upgrade_keeps_outputs(g.model(), 20, gfeeds);
  EXPECT_EQ(find(g.model(), "GridSample")->attr_string("mode", "").value(), "cubic");
  EXPECT_EQ(const_scalar(find(g.model(), "DFT"), 2), 1.0);

  GraphBuilder n(18);
  auto* nx = n.input("x", DType::kFloat32, {2, 4, 3});
  auto* scale = n.constant("scale", ir::Tensor::from_floats({2}, {0.5f, 2.0f}));
  auto* bias = n.constant("bias", ir::Tensor::from_floats({2}, {1.0f, -1.0f}));
  n.output(n.node("GroupNormalization", {nx, scale, bias}, 1,
                  [](ir::Node& node) { set_int(node, "num_groups", 2); })[0]);
  upgrade_keeps_outputs(n.model(), 21, {{"x", testing::random_floats({2, 4, 3}, 22)}});
  const ir::Tensor* s = find(n.model(), "GroupNormalization")->input(1)->initializer();
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(testing::to_doubles(*s), std::vector<double>({0.5, 0.5, 2.0, 2.0}));
  EXPECT_EQ(scale->initializer(), nullptr) << "the per-group scale is no longer an initializer";
}

TEST(OpsetUpgrade, RewritesNodesInsideSubgraphs) {
  GraphBuilder b(12);
  auto* cond = b.input("cond", DType::kBool, {});
  auto* x = b.input("x", DType::kFloat32, {1, 3});
  auto* y = b.node("If", {cond}, 1, [&](ir::Node& n) {
    for (const char* branch : {"then_branch", "else_branch"}) {
      auto g = std::make_unique<ir::Graph>(&b.graph(), &n);
      ir::Node* sq = g->add_node("Squeeze", "", std::string(branch) + "_squeeze");
      sq->add_input(x);
      g->note_outer_use(x);
      set_ints(*sq, "axes", {0});
      ir::Value* out = g->create_value(std::string(branch) + "_out");
      (void)sq->add_output(out);
      g->add_output(out);
      testing::set_graph(n, branch, std::move(g));
    }
  })[0];
  b.output(y);
  ir::Tensor yes = ir::Tensor::zeros(DType::kBool, {}).value();
  yes.mutable_data<uint8_t>()[0] = 1;
  upgrade_keeps_outputs(b.model(), 13, {{"cond", yes}, {"x", testing::random_floats({1, 3}, 23)}});
  const ir::Graph& then_branch = *find(b.model(), "If")->attr("then_branch")->g;
  const ir::Node& sq = *then_branch.nodes()[0];
  EXPECT_EQ(sq.attr("axes"), nullptr);
  ASSERT_NE(sq.input(1), nullptr);
  EXPECT_EQ(sq.input(1)->graph(), &then_branch) << "the axes constant lives in the subgraph";
}

TEST(OpsetUpgrade, NoChangeAtOrBelowTheCurrentOpsetAndRaisesIrVersion) {
  GraphBuilder b(13);
  auto* x = b.input("x", DType::kFloat32, {2});
  b.output(b.node("Relu", {x})[0]);
  std::vector<std::string> log;
  ASSERT_TRUE(passes::upgrade_opset(b.model(), 11, &log).ok());
  ASSERT_TRUE(passes::upgrade_opset(b.model(), 13, &log).ok());
  EXPECT_EQ(b.model().opset(""), 13);
  EXPECT_TRUE(log.empty());
  ASSERT_TRUE(passes::upgrade_opset(b.model(), 21, &log).ok());
  EXPECT_EQ(b.model().opset(""), 21);
  EXPECT_EQ(b.model().ir_version, 10);
  EXPECT_EQ(log, std::vector<std::string>({"ai.onnx opset 13 -> 21"}));
}

TEST(OpsetUpgrade, rejects_target_above_21) {
  GraphBuilder b(13);
  const Status s = passes::upgrade_opset(b.model(), 22, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("21"), std::string::npos) << s.message();
}

// Refusals name every node in the way and change nothing.
TEST(OpsetUpgrade, rejects_upsample_scatter_and_resize10_naming_each_node) {
  GraphBuilder b(9);
  auto* x = b.input("x", DType::kFloat32, {1, 1, 2, 2});
  auto* scales = b.constant("scales", ir::Tensor::from_floats({4}, {1, 1, 2, 2}));
  b.output(b.node("Upsample", {x, scales})[0]);
  auto* idx = b.constant("idx", ir::Tensor::from_int64s({1, 1, 1, 1}, {0}));
  b.output(b.node("Scatter", {x, idx, x})[0]);
  std::vector<std::string> log;
  const Status s = passes::upgrade_opset(b.model(), 11, &log);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("Upsample 'Upsample_0'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("deprecated"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Scatter 'Scatter_1'"), std::string::npos) << s.message();
  EXPECT_EQ(b.model().opset(""), 9);
  EXPECT_TRUE(log.empty());

  GraphBuilder r(10);
  auto* rx = r.input("x", DType::kFloat32, {1, 1, 2, 2});
  r.output(r.node("Resize", {rx, r.constant("s", ir::Tensor::from_floats({4}, {1, 1, 2, 2}))})[0]);
  const Status rs = passes::upgrade_opset(r.model(), 13, nullptr);
  EXPECT_EQ(rs.code(), StatusCode::kUnsupported);
  EXPECT_NE(rs.message().find("Resize 'Resize_0'"), std::string::npos) << rs.message();
  EXPECT_NE(rs.message().find("Resize-11"), std::string::npos) << rs.message();
}

TEST(OpsetUpgrade, rejects_batchnorm_spatial_0) {
  GraphBuilder b(7);
  auto* x = b.input("x", DType::kFloat32, {2, 3, 2});
  auto* p = b.constant("p", testing::random_floats({3, 2}, 24, 0.5f, 1.5f));
  b.output(b.node("BatchNormalization", {x, p, p, p, p}, 1,
                  [](ir::Node& n) { set_int(n, "spatial", 0); })[0]);
  const Status s = passes::upgrade_opset(b.model(), 9, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("BatchNormalization 'BatchNormalization_0'"), std::string::npos)
      << s.message();
  EXPECT_NE(s.message().find("spatial"), std::string::npos) << s.message();
  EXPECT_NE(find(b.model(), "BatchNormalization")->attr("spatial"), nullptr);
}

TEST(OpsetUpgrade, rejects_legacy_broadcast_of_a_runtime_input_off_the_last_axes) {
  GraphBuilder b(6);
  auto* a = b.input("a", DType::kFloat32, {2, 3, 4});
  auto* m = b.input("m", DType::kFloat32, {3});
  b.output(b.node("Sub", {a, m}, 1, [](ir::Node& n) {
    set_int(n, "broadcast", 1);
    set_int(n, "axis", 1);
  })[0]);
  const Status s = passes::upgrade_opset(b.model(), 7, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("Sub 'Sub_0'"), std::string::npos) << s.message();
}

TEST(OpsetUpgrade, rejects_clip_attributes_of_unknown_type_and_used_dropout_masks) {
  GraphBuilder b(6);
  auto* x = b.input("x", DType::kUndefined, {}, false);
  b.output(b.node("Clip", {x}, 1, [](ir::Node& n) { set_float(n, "min", 0.0f); })[0]);
  auto* f = b.input("f", DType::kFloat32, {4});
  auto d = b.node("Dropout", {f}, 2);
  b.output(d[0]);
  b.output(d[1]);
  const Status s = passes::upgrade_opset(b.model(), 12, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kUnsupported);
  EXPECT_NE(s.message().find("Clip 'Clip_0'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("Dropout 'Dropout_1'"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("mask"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace mixq
