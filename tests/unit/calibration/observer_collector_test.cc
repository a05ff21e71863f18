// The calibration observer on a small model run twice (batches of 3 and 5): every float
// activation's min/max/absmax and histogram equal those computed directly from the values the
// runs produced, graph inputs included, and for the outputs of value-moving nodes (Identity,
// Transpose, and Pads that pad nothing: by input, Constant or attribute), whose records are
// copied from their inputs', while a Pad that pads is counted; the per-channel absmax of MatMul's
// and Conv's activation inputs is taken along K and the input channels (also for an Identity's
// output); NaN is counted with where it came. channel_absmax split across a pool equals a plain
// loop over the values on large tensors, for the last axis and for a middle one.
#include "mixq/calibration/observers/observer_collector.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <iostream>
#include <limits>
#include <random>
#include <set>
#include <thread>

#include "graph_builder.h"
#include "kernel_runner.h"

namespace mixq::calib {
namespace {

using testing::GraphBuilder;

TEST(StatsCollector, RecordsEveryActivationAndLayerInputChannels) {
  GraphBuilder b(17);
  ir::Value* x = b.input("x", DType::kFloat32, {"N", 4});
  ir::Value* img = b.input("img", DType::kFloat32, {"N", 2, 5, 5});
  ir::Value* w = b.constant("w", testing::random_floats({4, 3}, 1));
  ir::Value* k = b.constant("k", testing::random_floats({3, 2, 3, 3}, 2));
  ir::Value* y = b.node("MatMul", {x, w})[0];
  ir::Value* z = b.node("Relu", {y})[0];
  ir::Value* c = b.node("Conv", {img, k})[0];
  ir::Value* tz = b.node("Transpose", {z})[0];
  ir::Value* iz = b.node("Identity", {z})[0];
  ir::Value* y2 = b.node("MatMul", {iz, b.constant("w2", testing::random_floats({3, 2}, 3))})[0];
  // Pads of the Conv's output: nothing (an initializer's pads, a Constant's), and one that adds
  // a row of zeros, whose record must hold them.
  const auto pad = [&](const std::string& name, std::vector<int64_t> pads, bool constant_node) {
    ir::Tensor t = ir::Tensor::from_int64s({8}, pads);
    ir::Value* p =
        constant_node
            ? b.node("Constant", {}, 1, [&](ir::Node& n) { testing::set_tensor(n, "value", t); })[0]
            : b.constant(name, t);
    return b.node("Pad", {c, p})[0];
  };
  ir::Value* pad0 = pad("pads0", {0, 0, 0, 0, 0, 0, 0, 0}, false);
  ir::Value* pad1 = pad("pads1", {0, 0, 0, 0, 0, 0, 0, 0}, true);
  ir::Value* pad2 = pad("pads2", {0, 0, 1, 0, 0, 0, 0, 0}, false);
  for (ir::Value* v : {y, z, c, tz, iz, y2, pad0, pad1, pad2}) b.output(v);
  auto ex = exec::Executor::create(b.model(), {.threads = 2});
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();

  StatsCollector collector(b.model(), {.bins = 256});
  // The same on the executor's pool (small tensors queued, observed by idle threads or at the
  // end of the run): identical results.
  StatsCollector parallel(b.model(), {.bins = 256, .pool = &(*ex)->pool()});
  ASSERT_EQ(collector.layer_inputs().size(), 3u);
  std::map<std::string, std::vector<float>> seen;  // every value of every tensor, both runs
  std::vector<float> xs;
  for (int64_t n : {3, 5}) {
    ir::Tensor xt = testing::random_floats({n, 4}, 10 + uint32_t(n), -3, 3);
    if (n == 5) xt.mutable_data<float>()[7] = std::numeric_limits<float>::quiet_NaN();
    const exec::NamedTensors feeds = {{"x", xt}, {"img", testing::random_floats({n, 2, 5, 5}, 20)}};
    collector.begin_run(feeds);
    auto out = (*ex)->run(feeds, &collector);
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    parallel.begin_run(feeds);
    ASSERT_TRUE((*ex)->run(feeds, &parallel).ok());
    parallel.end_run();  // observes the queued tensors no idle thread took
    const ir::Tensor* all[] = {&feeds[0].second, &feeds[1].second, &(*out)[0], &(*out)[1],
                               &(*out)[2],       &(*out)[3],       &(*out)[4], &(*out)[5],
                               &(*out)[6],       &(*out)[7],       &(*out)[8]};
    const ir::Value* vals[] = {x, img, y, z, c, tz, iz, y2, pad0, pad1, pad2};
    for (int i = 0; i < 11; ++i) {
      const float* p = all[i]->data<float>();
      seen[vals[i]->name()].insert(seen[vals[i]->name()].end(), p, p + all[i]->numel());
    }
    const float* px = xt.data<float>();
    xs.insert(xs.end(), px, px + xt.numel());
  }
  EXPECT_EQ(collector.runs(), 2);
  int recorded = 0;
  for (const auto& [name, r] : collector.tensors()) recorded += r.dtype != DType::kUndefined;
  ASSERT_EQ(recorded, 11);
  EXPECT_EQ(collector.source_of(pad0->name()), c->name());
  EXPECT_EQ(collector.source_of(pad1->name()), c->name());
  EXPECT_EQ(collector.source_of(pad2->name()), pad2->name());
  for (const auto& [name, values] : seen) {
    const TensorRecord& r = collector.tensors().at(name);
    double lo = INFINITY, hi = -INFINITY, amax = 0;
    int64_t finite = 0;
    AbsHistogram h(256);
    h.add(values.data(), static_cast<int64_t>(values.size()));
    for (float v : values) {
      if (!std::isfinite(v)) continue;
      ++finite;
      lo = std::min(lo, double(v));
      hi = std::max(hi, double(v));
      amax = std::max(amax, std::fabs(double(v)));
    }
    EXPECT_EQ(r.minmax.min, lo) << name;
    EXPECT_EQ(r.minmax.max, hi) << name;
    EXPECT_EQ(r.minmax.absmax, amax) << name;
    EXPECT_EQ(r.minmax.count, finite) << name;
    ASSERT_NE(r.histogram, nullptr);
    EXPECT_EQ(r.histogram->counts(), h.counts()) << name;
    EXPECT_EQ(r.histogram->range(), h.range()) << name;
  }
  for (const auto& [name, r] : collector.tensors()) {
    const TensorRecord& p = parallel.tensors().at(name);
    EXPECT_EQ(p.minmax.min, r.minmax.min) << name;
    EXPECT_EQ(p.minmax.max, r.minmax.max) << name;
    EXPECT_EQ(p.minmax.nonfinite, r.minmax.nonfinite) << name;
    EXPECT_EQ(p.histogram->counts(), r.histogram->counts()) << name;
  }
  // The NaN fed in the second run (run index 1) at element 7 of x; MatMul spreads it to row 1.
  const MinMax& mx = collector.tensors().at("x").minmax;
  EXPECT_EQ(mx.nonfinite, 1);
  EXPECT_EQ(mx.first_nonfinite_run, 1);
  EXPECT_EQ(mx.first_nonfinite_index, 7);
  EXPECT_EQ(collector.tensors().at(y->name()).minmax.first_nonfinite_run, 1);

  // MatMul's input x: absmax per column (K axis), NaN ignored; Conv's input img: per channel.
  for (const auto& l : collector.layer_inputs()) {
    if (l.op_type == "MatMul" && l.tensor == iz->name()) {
      ASSERT_EQ(l.channel_absmax.size(), 3u);
      const auto& v = seen.at(iz->name());
      for (size_t col = 0; col < 3; ++col) {
        float want = 0;
        for (size_t i = col; i < v.size(); i += 3) {
          if (std::isfinite(v[i])) want = std::max(want, std::fabs(v[i]));
        }
        EXPECT_EQ(l.channel_absmax[col], want) << col;
      }
    } else if (l.op_type == "MatMul") {
      EXPECT_EQ(l.tensor, "x");
      ASSERT_EQ(l.channel_absmax.size(), 4u);
      for (size_t col = 0; col < 4; ++col) {
        float want = 0;
        for (size_t i = col; i < xs.size(); i += 4) {
          if (std::isfinite(xs[i])) want = std::max(want, std::fabs(xs[i]));
        }
        EXPECT_EQ(l.channel_absmax[col], want) << col;
      }
    } else {
      EXPECT_EQ(l.op_type, "Conv");
      EXPECT_EQ(l.axis, 1);
      ASSERT_EQ(l.channel_absmax.size(), 2u);
      const auto& v = seen.at("img");
      for (size_t ch = 0; ch < 2; ++ch) {
        float want = 0;
        for (size_t i = 0; i < v.size(); ++i) {
          if ((i / 25) % 2 == ch) want = std::max(want, std::fabs(v[i]));
        }
        EXPECT_EQ(l.channel_absmax[ch], want) << ch;
      }
    }
  }
}

// Pad-2's attribute form: a Pad whose `pads` are all zero is value-moving (its record is its
// input's), one that pads is counted, each equal to a count of the values the run produced.
TEST(StatsCollector, APadOfNothingByAttributeIsValueMoving) {
  GraphBuilder b(10);
  ir::Value* x = b.input("x", DType::kFloat32, {2, 3});
  ir::Value* same = b.node("Pad", {x}, 1, [](ir::Node& n) {
    testing::set_ints(n, "pads", {0, 0, 0, 0});
  })[0];
  ir::Value* wider = b.node("Pad", {x}, 1, [](ir::Node& n) {
    testing::set_ints(n, "pads", {0, 1, 0, 1});
  })[0];
  b.output(same);
  b.output(wider);
  auto ex = exec::Executor::create(b.model(), {});
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  StatsCollector collector(b.model(), {.bins = 128});
  EXPECT_EQ(collector.source_of(same->name()), "x");
  EXPECT_EQ(collector.source_of(wider->name()), wider->name());
  const exec::NamedTensors feeds = {{"x", testing::random_floats({2, 3}, 5, -2, 2)}};
  collector.begin_run(feeds);
  auto out = (*ex)->run(feeds, &collector);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  collector.end_run();
  for (int i = 0; i < 2; ++i) {
    const ir::Tensor& t = (*out)[static_cast<size_t>(i)];
    AbsHistogram h(128);
    h.add(t.data<float>(), t.numel());
    const TensorRecord& r = collector.tensors().at(i == 0 ? same->name() : wider->name());
    EXPECT_EQ(r.minmax.count, t.numel()) << i;
    EXPECT_EQ(r.histogram->counts(), h.counts()) << i;
    EXPECT_EQ(r.histogram->range(), h.range()) << i;
  }
  EXPECT_EQ(collector.tensors().at(wider->name()).minmax.count, 10);  // 2 x (3 + 2)
}

// Layers reading a tensor along its last axis (MatMul's K, Gemm's with transA = 0) take its
// channel maxima from the histogram's counting pass: two layers on one input (the second gets a
// copy), a large input split into chunks across the pool, a small one, NaN and Inf, over two
// runs; equal to a plain loop over the values, on the calling thread and on the pool.
// With the executor's static types, a value they type as an integer (Shape's output) gets no
// record, where without them it does (it might be a float); the float ones, a Cast of it
// included, are recorded the same either way. A value-moving node's output and a Scaled
// output get their histograms from their sources' when a run produced them, and none before.
TEST(StatsCollector, StaticTypesLeaveNonFloatValuesWithoutARecord) {
  GraphBuilder b(17);
  ir::Value* x = b.input("x", DType::kFloat32, {"N", 4});
  ir::Value* shape = b.node("Shape", {x})[0];
  ir::Value* cast =
      b.node("Cast", {shape}, 1, [](ir::Node& n) { testing::set_int(n, "to", 1); })[0];
  ir::Value* relu = b.node("Relu", {x})[0];
  ir::Value* moved = b.node("Identity", {relu})[0];
  ir::Value* half = b.node("Mul", {relu, b.constant("c", ir::Tensor::from_floats({}, {0.5f}))})[0];
  for (ir::Value* v : {shape, cast, moved, half}) b.output(v);
  auto ex = exec::Executor::create(b.model(), {.threads = 1});
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  StatsCollector typed(b.model(), {.bins = 256, .types = &(*ex)->types()});
  StatsCollector untyped(b.model(), {.bins = 256});
  EXPECT_EQ(typed.tensors().count(shape->name()), 0u);
  EXPECT_EQ(untyped.tensors().count(shape->name()), 1u);
  EXPECT_EQ(typed.tensors().size() + 1, untyped.tensors().size());
  for (const ir::Value* v : {moved, half}) {
    EXPECT_EQ(typed.tensors().at(v->name()).histogram, nullptr) << v->name();
  }
  for (int run = 0; run < 2; ++run) {
    const exec::NamedTensors feeds = {{"x", testing::random_floats({3, 4}, 90 + uint32_t(run))}};
    for (StatsCollector* c : {&typed, &untyped}) {
      c->begin_run(feeds);
      ASSERT_TRUE((*ex)->run(feeds, c).ok());
      c->end_run();
    }
  }
  for (const auto& [name, r] : typed.tensors()) {
    const TensorRecord& u = untyped.tensors().at(name);
    EXPECT_EQ(r.dtype, DType::kFloat32) << name;
    EXPECT_EQ(r.minmax.min, u.minmax.min) << name;
    EXPECT_EQ(r.minmax.max, u.minmax.max) << name;
    EXPECT_EQ(r.minmax.count, u.minmax.count) << name;
    ASSERT_NE(r.histogram, nullptr) << name;
    EXPECT_EQ(r.histogram->counts(), u.histogram->counts()) << name;
    EXPECT_EQ(r.histogram->range(), u.histogram->range()) << name;
  }
  EXPECT_EQ(typed.tensors().at(cast->name()).minmax.max, 4.0);  // x's dims (3, 4)
  EXPECT_EQ(typed.tensors().at(moved->name()).histogram->counts(),
            typed.tensors().at(relu->name()).histogram->counts());
  EXPECT_EQ(typed.derived_runs(), 2);
}

// The input of a Split along axis 1 is not counted: its record is the union of its outputs',
// equal to the one made from its own values (a NaN in the second run: its run and sample, but
// no element index); a Split along axis 0 (the batch) leaves its input counted. The same on a
// pool, where the small tensors are queued. Without all of a Split's outputs, finish() refuses.
TEST(StatsCollector, ASplitInputIsTheUnionOfItsOutputs) {
  GraphBuilder b(18);
  ir::Value* x = b.input("x", DType::kFloat32, {"N", 6, 4});
  ir::Value* y = b.node("Abs", {x})[0];
  ir::Value* z = b.node("Neg", {x})[0];
  const auto parts = b.node("Split", {y, b.constant("s", ir::Tensor::from_int64s({2}, {2, 4}))}, 2,
                            [](ir::Node& n) { testing::set_int(n, "axis", 1); });
  const auto rows =
      b.node("Split", {z}, 2, [](ir::Node& n) { testing::set_int(n, "num_outputs", 2); });
  for (ir::Value* v : {parts[0], parts[1], rows[0], rows[1]}) b.output(v);
  auto ex = exec::Executor::create(b.model(), {.threads = 2});
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  StatsCollector serial(b.model(), {.bins = 256, .types = &(*ex)->types()});
  StatsCollector pooled(b.model(), {.bins = 256, .pool = &(*ex)->pool(), .types = &(*ex)->types()});
  EXPECT_EQ(serial.parts_of(y->name()),
            (std::vector<std::string>{parts[0]->name(), parts[1]->name()}));
  EXPECT_TRUE(serial.parts_of(z->name()).empty());
  std::vector<float> ys;
  for (int run = 0; run < 2; ++run) {
    ir::Tensor xt = testing::random_floats({4, 6, 4}, 70 + uint32_t(run), -2, 2);
    if (run == 1) xt.mutable_data<float>()[2 * 24 + 5] = std::numeric_limits<float>::quiet_NaN();
    for (int64_t i = 0; i < xt.numel(); ++i) ys.push_back(std::fabs(xt.data<float>()[i]));
    const exec::NamedTensors feeds = {{"x", xt}};
    for (StatsCollector* c : {&serial, &pooled}) {
      c->begin_run(feeds, 4 * run, 4);
      ASSERT_TRUE((*ex)->run(feeds, c).ok());
      c->end_run();
    }
  }
  AbsHistogram h(256);
  h.add(ys.data(), static_cast<int64_t>(ys.size()));
  double lo = INFINITY, hi = 0;
  for (float v : ys) {
    lo = std::isnan(v) ? lo : std::min(lo, double(v));
    hi = std::isnan(v) ? hi : std::max(hi, double(v));
  }
  for (StatsCollector* c : {&serial, &pooled}) {
    const TensorRecord& r = c->tensors().at(y->name());
    EXPECT_EQ(r.dtype, DType::kFloat32);
    EXPECT_EQ(r.minmax.count, 2 * 96 - 1);
    EXPECT_EQ(r.minmax.nonfinite, 1);
    EXPECT_EQ(r.minmax.min, lo);
    EXPECT_EQ(r.minmax.max, hi);
    EXPECT_EQ(r.minmax.first_nonfinite_run, 1);
    EXPECT_EQ(r.minmax.first_nonfinite_index, -1);
    EXPECT_EQ(r.first_nonfinite_sample, 4 + 2);
    ASSERT_NE(r.histogram, nullptr);
    EXPECT_EQ(r.histogram->counts(), h.counts());
    EXPECT_EQ(r.histogram->range(), h.range());
    // Along axis 0 the input is counted: its NaN has its element.
    EXPECT_EQ(c->tensors().at(z->name()).minmax.first_nonfinite_index, 2 * 24 + 5);
  }
  // A run whose observer passes the Split's input on but not its outputs.
  class Without : public exec::Observer {
   public:
    Without(StatsCollector& c, std::string skip) : c_(c), skip_(std::move(skip)) {}
    void on_output(const ir::Node& n, const ir::Value& v, const ir::Tensor& t) override {
      if (v.name() != skip_) c_.on_output(n, v, t);
    }

   private:
    StatsCollector& c_;
    std::string skip_;
  };
  StatsCollector partial(b.model(), {.bins = 256, .types = &(*ex)->types()});
  Without without(partial, parts[1]->name());
  const exec::NamedTensors feeds = {{"x", testing::random_floats({4, 6, 4}, 75)}};
  partial.begin_run(feeds);
  ASSERT_TRUE((*ex)->run(feeds, &without).ok());
  partial.end_run();
  EXPECT_THROW(partial.finish(), std::logic_error);
}

TEST(StatsCollector, LastAxisChannelMaximaComeFromTheCountingPass) {
  constexpr int64_t kK = 32, kHidden = 16;
  GraphBuilder b(17);
  ir::Value* x = b.input("x", DType::kFloat32, {"N", kK});
  ir::Value* y =
      b.node("MatMul", {x, b.constant("w", testing::random_floats({kK, kHidden}, 1))})[0];
  ir::Value* g = b.node("Gemm", {x, b.constant("v", testing::random_floats({kK, 8}, 2))})[0];
  ir::Value* r = b.node("Relu", {y})[0];
  ir::Value* o =
      b.node("MatMul", {r, b.constant("u", testing::random_floats({kHidden, kHidden}, 3))})[0];
  for (ir::Value* v : {g, r, o}) b.output(v);
  auto ex = exec::Executor::create(b.model(), {.threads = 3});
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  StatsCollector serial(b.model(), {.bins = 512});
  StatsCollector pooled(b.model(), {.bins = 512, .pool = &(*ex)->pool()});
  ASSERT_EQ(serial.layer_inputs().size(), 3u);
  std::map<std::string, std::vector<float>> seen;
  for (int64_t n : {3000, 40}) {  // 96,000 values of x (two chunks and more), then 1,280
    ir::Tensor xt = testing::random_floats({n, kK}, 30 + uint32_t(n), -4, 4);
    float* px = xt.mutable_data<float>();
    for (int64_t i = 0; i < xt.numel(); i += 97) px[i] *= 1 + static_cast<float>(i % 5);
    px[n == 40 ? 5 : 70000] = std::numeric_limits<float>::quiet_NaN();
    px[n == 40 ? 9 : 1000] = -std::numeric_limits<float>::infinity();
    if (n == 40) px[kK * 3 + 17] = 250.0f;  // the small run raises one channel
    const exec::NamedTensors feeds = {{"x", xt}};
    for (StatsCollector* c : {&serial, &pooled}) {
      c->begin_run(feeds);
      auto out = (*ex)->run(feeds, c);
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      c->end_run();
      if (c == &serial) {
        seen["x"].insert(seen["x"].end(), px, px + xt.numel());
        const float* pr = (*out)[1].data<float>();
        seen[r->name()].insert(seen[r->name()].end(), pr, pr + (*out)[1].numel());
      }
    }
  }
  const auto want = [&](const std::string& name, int64_t channels) {
    std::vector<float> m(static_cast<size_t>(channels), 0.0f);
    const auto& v = seen.at(name);
    for (size_t i = 0; i < v.size(); ++i) {
      float& w = m[i % static_cast<size_t>(channels)];
      if (std::isfinite(v[i])) w = std::max(w, std::fabs(v[i]));
    }
    return m;
  };
  for (StatsCollector* c : {&serial, &pooled}) {
    for (const auto& l : c->layer_inputs()) {
      const int64_t channels = l.tensor == "x" ? kK : kHidden;
      EXPECT_EQ(l.channel_absmax, want(l.tensor, channels)) << l.layer;
      EXPECT_EQ(l.axis, l.op_type == "Gemm" ? 1 : -1);
    }
    AbsHistogram h(512);
    h.add(seen.at("x").data(), static_cast<int64_t>(seen.at("x").size()));
    EXPECT_EQ(c->tensors().at("x").histogram->counts(), h.counts());
    EXPECT_EQ(c->tensors().at("x").minmax.nonfinite, 4);
  }
}

// Outputs that are their input times +-2^k, k <= 0 (Mul by 0.5, by -0.25 with the constant
// first, by a Constant node's 0.5 after a Relu, Div by 4) are derived from the input's
// record, not counted; Mul by 3 and by 2 are counted. Over runs of zeros, of subnormals whose
// products round (first while the input's range is that small too: counted and set apart;
// then after a normal run: derived), of normal values with NaN and Inf, and of values near
// the largest float (which overflow times 2 and 3: why only k <= 0 derives), every
// record equals the one computed from the values the runs produced (histogram, min/max,
// counts, where the first NaN came from), and so do the channel maxima of a MatMul reading a
// derived output; on the calling thread and on the pool.
TEST(StatsCollector, PowerOfTwoProductsDeriveExactlyFromTheirInput) {
  constexpr int64_t kK = 16;
  GraphBuilder b(17);
  ir::Value* x = b.input("x", DType::kFloat32, {"N", kK});
  const auto scalar = [&](const std::string& name, float v) {
    return b.constant(name, ir::Tensor::scalar_float(v));
  };
  ir::Value* half = b.node("Mul", {x, scalar("half", 0.5f)})[0];
  ir::Value* quarter = b.node("Mul", {scalar("minus_quarter", -0.25f), x})[0];
  ir::Value* fourth = b.node("Div", {x, scalar("four", 4.0f)})[0];
  ir::Value* thrice = b.node("Mul", {x, scalar("three", 3.0f)})[0];
  ir::Value* twice = b.node("Mul", {x, scalar("two", 2.0f)})[0];
  ir::Value* relu = b.node("Relu", {x})[0];
  ir::Value* c = b.node("Constant", {}, 1, [](ir::Node& n) {
    testing::set_tensor(n, "value", ir::Tensor::scalar_float(0.5f));
  })[0];
  ir::Value* relu_half = b.node("Mul", {relu, c})[0];
  ir::Value* mm = b.node("MatMul", {half, b.constant("w", testing::random_floats({kK, 4}, 1))})[0];
  const std::vector<ir::Value*> outs = {half, quarter, fourth, thrice, twice, relu_half, mm};
  for (ir::Value* v : outs) b.output(v);
  auto ex = exec::Executor::create(b.model(), {.threads = 3});
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  StatsCollector serial(b.model(), {.bins = 256});
  StatsCollector pooled(b.model(), {.bins = 256, .pool = &(*ex)->pool()});
  std::map<std::string, std::vector<float>> seen;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  struct Run {
    int64_t rows;
    // 0: zeros (and -0); -1: subnormals j * 2^-149, |j| < 2^20, some j = 4096 m - 1, whose
    // products round onto a bin edge at y's range (so deriving them would be wrong)
    float scale;
  };
  // The last run's values near the largest float overflow times 2 and 3, not times 0.5.
  // (The first run is large: on the pool a small source would be queued, and its outputs
  // counted from then on; the later small runs are observed as they come.)
  const Run runs[] = {{5000, 0.0f},  {5000, -1.0f}, {7, 1.0f},
                      {5000, -1.0f}, {3, 40.0f},    {2, 1.6e38f}};
  int64_t first_sample = 0;
  std::mt19937 rng(7);
  std::uniform_int_distribution<int> j_of(-(1 << 20) + 1, (1 << 20) - 1);
  for (int i = 0; i < 6; ++i) {
    const int64_t n = runs[i].rows;
    ir::Tensor xt = testing::random_floats({n, kK}, 50 + uint32_t(i), -2, 2);
    float* px = xt.mutable_data<float>();
    for (int64_t j = 0; j < xt.numel(); ++j) {
      int jj = j_of(rng);
      if (j % 50 == 0) jj = (jj < 0 ? -1 : 1) * (4096 * (1 + std::abs(jj) % 255) - 1);
      px[j] = runs[i].scale < 0 ? std::ldexp(static_cast<float>(jj), -149) : px[j] * runs[i].scale;
    }
    if (i == 2) {
      px[2 * kK + 5] = nan;
      px[4 * kK + 1] = -inf;
    }
    const exec::NamedTensors feeds = {{"x", xt}};
    for (StatsCollector* col : {&serial, &pooled}) {
      col->begin_run(feeds, first_sample, n);
      auto out = (*ex)->run(feeds, col);
      ASSERT_TRUE(out.ok()) << out.status().to_string();
      col->end_run();
      if (col != &serial) continue;
      for (size_t o = 0; o < outs.size(); ++o) {
        const float* p = (*out)[o].data<float>();
        seen[outs[o]->name()].insert(seen[outs[o]->name()].end(), p, p + (*out)[o].numel());
      }
      seen["x"].insert(seen["x"].end(), px, px + xt.numel());
    }
    first_sample += n;
  }
  // Derived in the runs of zeros and of normal values, and in the second subnormal run (after
  // a normal one): 5 runs of 4 outputs; the first subnormal run is counted.
  EXPECT_EQ(serial.derived_runs(), 20);
  EXPECT_EQ(pooled.derived_runs(), 20);
  for (StatsCollector* col : {&serial, &pooled}) {
    for (const auto& [name, values] : seen) {
      const TensorRecord& r = col->tensors().at(name);
      AbsHistogram h(256);
      h.add(values.data(), static_cast<int64_t>(values.size()));
      double lo = INFINITY, hi = -INFINITY;
      int64_t finite = 0, first_bad = -1;
      for (size_t j = 0; j < values.size(); ++j) {
        if (!std::isfinite(values[j])) {
          if (first_bad < 0) first_bad = static_cast<int64_t>(j);
          continue;
        }
        ++finite;
        lo = std::min(lo, double(values[j]));
        hi = std::max(hi, double(values[j]));
      }
      EXPECT_EQ(r.histogram->counts(), h.counts()) << name;
      EXPECT_EQ(r.histogram->range(), h.range()) << name;
      EXPECT_EQ(r.histogram->absmax(), h.absmax()) << name;
      EXPECT_EQ(r.histogram->total(), h.total()) << name;
      EXPECT_EQ(r.minmax.min, lo) << name;
      EXPECT_EQ(r.minmax.max, hi) << name;
      EXPECT_EQ(std::signbit(r.minmax.min), std::signbit(lo)) << name;
      EXPECT_EQ(r.minmax.count, finite) << name;
      EXPECT_EQ(r.minmax.nonfinite, static_cast<int64_t>(values.size()) - finite) << name;
      // (MatMul spreads the NaN over its row and overflows; Relu makes both values 0; times 2
      // and 3 overflow in the last run.)
      if (name == mm->name() || name == relu_half->name()) continue;
      if (name == twice->name() || name == thrice->name()) {
        EXPECT_GT(r.minmax.nonfinite, 2) << name;
        continue;
      }
      EXPECT_EQ(r.minmax.nonfinite, 2) << name;
      EXPECT_EQ(r.minmax.first_nonfinite_run, 2) << name;
      EXPECT_EQ(r.minmax.first_nonfinite_index, 2 * kK + 5) << name;
      // Row 2 of the third run, whose first sample is 10000.
      EXPECT_EQ(r.first_nonfinite_sample, 10002) << name;
      EXPECT_EQ(first_bad, (5000 + 5000) * kK + 2 * kK + 5) << name;
    }
    ASSERT_EQ(col->layer_inputs().size(), 1u);
    const LayerInputRecord& l = col->layer_inputs()[0];
    EXPECT_EQ(l.tensor, half->name());
    std::vector<float> want(kK, 0.0f);
    const auto& v = seen.at(half->name());
    for (size_t j = 0; j < v.size(); ++j) {
      if (std::isfinite(v[j])) want[j % kK] = std::max(want[j % kK], std::fabs(v[j]));
    }
    EXPECT_EQ(l.channel_absmax, want);
  }
}

// A derived output's min or max that is a zero: x's extreme times c rounds to a zero whose
// sign can differ from the one a scan of y keeps (the first zero it meets), so y is scanned.
// And a layer reading a derived output along a channel count the counting pass cannot take.
TEST(StatsCollector, PowerOfTwoProductsKeepTheScannedSignOfAZeroExtreme) {
  GraphBuilder b(17);
  ir::Value* x = b.input("x", DType::kFloat32, {4});
  ir::Value* half = b.node("Mul", {x, b.constant("h", ir::Tensor::scalar_float(0.5f))})[0];
  ir::Value* neg = b.node("Mul", {x, b.constant("n", ir::Tensor::scalar_float(-0.5f))})[0];
  // A layer reading `half` along 4 channels: too few for the counting pass to take (its
  // maxima come from a pass over `half` itself).
  ir::Value* mm = b.node("MatMul", {half, b.constant("w", testing::random_floats({4, 2}, 1))})[0];
  b.output(half);
  b.output(neg);
  b.output(mm);
  auto ex = exec::Executor::create(b.model(), {.threads = 1});
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  StatsCollector col(b.model(), {.bins = 256});
  const float tiny = std::ldexp(1.0f, -149);
  // x * 0.5: +0, -0, 0.5, 1 (min: the first zero, +0); x * -0.5: -0, +0, ... (max: -0).
  const exec::NamedTensors feeds = {{"x", ir::Tensor::from_floats({4}, {tiny, -tiny, 1.0f, 2.0f})}};
  col.begin_run(feeds);
  auto out = (*ex)->run(feeds, &col);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  col.end_run();
  EXPECT_EQ(col.derived_runs(), 2);
  const MinMax& h = col.tensors().at(half->name()).minmax;
  const MinMax& n = col.tensors().at(neg->name()).minmax;
  EXPECT_EQ(h.min, 0.0);
  EXPECT_FALSE(std::signbit(h.min));
  EXPECT_EQ(n.max, 0.0);
  EXPECT_TRUE(std::signbit(n.max));
  EXPECT_EQ(n.min, -1.0);
  EXPECT_EQ(h.max, 1.0);
  ASSERT_EQ(col.layer_inputs().size(), 1u);
  EXPECT_EQ(col.layer_inputs()[0].channel_absmax, (std::vector<float>{0.0f, 0.0f, 0.5f, 1.0f}));
}

// calibrate --tensors passes the collector only the selected tensors' outputs: a source
// without its derived output leaves that output unrecorded; the output without its source is
// counted; an output that stops coming after it was derived is an internal error. On a pool,
// an output whose source comes small enough to be queued is counted.
TEST(StatsCollector, PowerOfTwoProductsWithoutTheirSourceOrOutput) {
  GraphBuilder b(17);
  ir::Value* x = b.input("x", DType::kFloat32, {"N", 8});
  ir::Value* y = b.node("Mul", {x, b.constant("h", ir::Tensor::scalar_float(0.5f))})[0];
  b.output(y);
  auto ex = exec::Executor::create(b.model(), {.threads = 1});
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  // Passes on the outputs named in `keep` only.
  class Only : public exec::Observer {
   public:
    Only(StatsCollector& c, std::set<std::string> keep) : c_(c), keep_(std::move(keep)) {}
    void on_output(const ir::Node& n, const ir::Value& v, const ir::Tensor& t) override {
      if (keep_.count(v.name())) c_.on_output(n, v, t);
    }

   private:
    StatsCollector& c_;
    std::set<std::string> keep_;
  };
  std::vector<float> ys;
  StatsCollector source_only(b.model(), {.bins = 256});
  StatsCollector output_only(b.model(), {.bins = 256});
  for (int run = 0; run < 3; ++run) {
    const exec::NamedTensors feeds = {{"x", testing::random_floats({3, 8}, 60 + uint32_t(run))}};
    Only a(source_only, {});
    source_only.begin_run(feeds);
    ASSERT_TRUE((*ex)->run(feeds, &a).ok());
    source_only.end_run();
    Only c(output_only, {y->name()});
    output_only.begin_run({});
    auto out = (*ex)->run(feeds, &c);
    ASSERT_TRUE(out.ok());
    output_only.end_run();
    ys.insert(ys.end(), (*out)[0].data<float>(), (*out)[0].data<float>() + 24);
  }
  EXPECT_EQ(source_only.tensors().at(y->name()).dtype, DType::kUndefined);
  EXPECT_EQ(source_only.tensors().at("x").minmax.count, 72);
  EXPECT_EQ(output_only.derived_runs(), 0);
  AbsHistogram h(256);
  h.add(ys.data(), static_cast<int64_t>(ys.size()));
  EXPECT_EQ(output_only.tensors().at(y->name()).histogram->counts(), h.counts());
  EXPECT_EQ(output_only.tensors().at(y->name()).minmax.count, 72);
  // On a pool, a source small enough to be queued: its output is counted, not derived.
  exec::ThreadPool pool(2);
  StatsCollector queued(b.model(), {.bins = 256, .pool = &pool});
  std::vector<float> all;
  for (int run = 0; run < 3; ++run) {
    const exec::NamedTensors feeds = {{"x", testing::random_floats({3, 8}, 80 + uint32_t(run))}};
    queued.begin_run(feeds);
    auto out = (*ex)->run(feeds, &queued);
    ASSERT_TRUE(out.ok());
    queued.end_run();
    all.insert(all.end(), (*out)[0].data<float>(), (*out)[0].data<float>() + 24);
  }
  EXPECT_EQ(queued.derived_runs(), 0);
  AbsHistogram q(256);
  q.add(all.data(), static_cast<int64_t>(all.size()));
  EXPECT_EQ(queued.tensors().at(y->name()).histogram->counts(), q.counts());
  EXPECT_EQ(queued.tensors().at(y->name()).minmax.count, 72);

  StatsCollector stops(b.model(), {.bins = 256});
  for (int run = 0; run < 3; ++run) {
    const exec::NamedTensors feeds = {{"x", testing::random_floats({3, 8}, 70)}};
    Only d(stops, {run == 0 ? y->name() : std::string()});
    if (run == 2) {  // x comes again after a run without y
      EXPECT_THROW(stops.begin_run(feeds), std::logic_error);
      break;
    }
    stops.begin_run(feeds);
    ASSERT_TRUE((*ex)->run(feeds, &d).ok());
  }
  EXPECT_EQ(stops.derived_runs(), 1);
}

// Many small tensors over many runs, observed by the pool's idle threads while the runs go on:
// every record (min/max, NaN counts and where the first came from, histogram counts and
// range, channel absmax) equals the one observed on the calling thread, run after run. After
// each output the pooled run waits (on the pool, up to a second) until an idle thread has
// observed one more tensor, so that the background path is taken however the machine
// schedules the threads.
class WaitForBackground : public exec::Observer {
 public:
  WaitForBackground(StatsCollector& c, exec::ThreadPool& pool) : c_(c), pool_(pool) {}
  void on_output(const ir::Node& n, const ir::Value& v, const ir::Tensor& t) override {
    const int64_t before = c_.observed_in_background();
    c_.on_output(n, v, t);
    // Whichever thread runs the waiting chunk, the other one, idle, takes the queued tensor.
    pool_.parallel_for(2, 1, [&](int64_t b, int64_t) {
      for (int i = 0; b == 0 && !gave_up_ && c_.observed_in_background() == before; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
        gave_up_ = i == 1000;  // then the test fails on the count, without more waiting
      }
    });
  }

 private:
  bool gave_up_ = false;
  StatsCollector& c_;
  exec::ThreadPool& pool_;
};

TEST(StatsCollector, IdleThreadsObserveAsTheCallingThreadDoes) {
  GraphBuilder b(17);
  ir::Value* x = b.input("x", DType::kFloat32, {"N", 16});
  ir::Value* h = b.node("MatMul", {x, b.constant("w", testing::random_floats({16, 16}, 1))})[0];
  // A power-of-two product of a queued source: counted, and queued like the rest.
  h = b.node("Mul", {h, b.constant("half", ir::Tensor::scalar_float(0.5f))})[0];
  for (int i = 0; i < 12; ++i) {
    ir::Value* t = b.node(i % 3 == 0 ? "Tanh" : (i % 3 == 1 ? "Relu" : "Sigmoid"), {h})[0];
    h = b.node("Add", {t, h})[0];
    h = b.node("MatMul", {h, b.constant("w" + std::to_string(i),
                                        testing::random_floats({16, 16}, 10 + uint32_t(i)))})[0];
  }
  b.output(h);
  auto ex = exec::Executor::create(b.model(), {.threads = 2});
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  StatsCollector alone(b.model(), {.bins = 128});
  StatsCollector pooled(b.model(), {.bins = 128, .pool = &(*ex)->pool()});
  WaitForBackground waiting(pooled, (*ex)->pool());
  const int64_t runs = 40;
  for (int64_t run = 0; run < runs; ++run) {
    // Growing scales send the histograms through their re-binning; one NaN in run 7.
    ir::Tensor xt = testing::random_floats({4, 16}, 100 + uint32_t(run), -1.0f - float(run % 50),
                                           1.0f + float(run % 50));
    if (run == 7) xt.mutable_data<float>()[21] = std::numeric_limits<float>::quiet_NaN();
    const exec::NamedTensors feeds = {{"x", xt}};
    alone.begin_run(feeds, run * 4, 4);
    ASSERT_TRUE((*ex)->run(feeds, &alone).ok());
    alone.end_run();
    pooled.begin_run(feeds, run * 4, 4);
    ASSERT_TRUE((*ex)->run(feeds, &waiting).ok());
    pooled.end_run();
  }
  EXPECT_EQ(alone.observed_in_background(), 0);
  // 38 node outputs per run were each waited for (the graph input is queued too).
  EXPECT_GE(pooled.observed_in_background(), runs * 38);
  EXPECT_EQ(pooled.derived_runs(), 0);
  std::cout << "idle threads observed " << pooled.observed_in_background() << " of " << runs * 39
            << " tensors in " << runs << " runs\n";
  ASSERT_EQ(alone.tensors().size(), pooled.tensors().size());
  for (const auto& [name, r] : alone.tensors()) {
    const TensorRecord& p = pooled.tensors().at(name);
    EXPECT_EQ(p.minmax.min, r.minmax.min) << name;
    EXPECT_EQ(p.minmax.max, r.minmax.max) << name;
    EXPECT_EQ(p.minmax.count, r.minmax.count) << name;
    EXPECT_EQ(p.minmax.nonfinite, r.minmax.nonfinite) << name;
    EXPECT_EQ(p.minmax.first_nonfinite_run, r.minmax.first_nonfinite_run) << name;
    EXPECT_EQ(p.first_nonfinite_sample, r.first_nonfinite_sample) << name;
    EXPECT_EQ(p.histogram->counts(), r.histogram->counts()) << name;
    EXPECT_EQ(p.histogram->range(), r.histogram->range()) << name;
  }
  EXPECT_EQ(alone.tensors().at("x").first_nonfinite_sample, 7 * 4 + 1);  // element 21: row 1
  ASSERT_EQ(alone.layer_inputs().size(), pooled.layer_inputs().size());
  for (size_t i = 0; i < alone.layer_inputs().size(); ++i) {
    EXPECT_EQ(pooled.layer_inputs()[i].channel_absmax, alone.layer_inputs()[i].channel_absmax);
  }
}

TEST(ChannelAbsmax, SplitAcrossAPoolEqualsAPlainLoop) {
  // [outer, channels, inner]: MatMul's last axis (inner 1) and Conv's channel axis, with rows
  // spread over many blocks, NaN and Inf in some channels, and an accumulator already holding
  // values from an earlier run.
  std::mt19937 rng(5);
  std::normal_distribution<float> g(0, 1);
  exec::ThreadPool pool(3);
  for (const std::vector<int64_t>& dims :
       {std::vector<int64_t>{300, 7, 96}, std::vector<int64_t>{8, 3, 40, 200}}) {
    const int64_t axis = dims.size() == 3 ? -1 : 1;
    int64_t n = 1;
    for (int64_t d : dims) n *= d;
    std::vector<float> x(static_cast<size_t>(n));
    for (size_t i = 0; i < x.size(); ++i) x[i] = g(rng) * static_cast<float>(1 + i % 13);
    x[17] = std::numeric_limits<float>::quiet_NaN();
    x[static_cast<size_t>(n / 2)] = -std::numeric_limits<float>::infinity();
    const int64_t a = axis < 0 ? static_cast<int64_t>(dims.size()) - 1 : axis;
    int64_t inner = 1;
    for (size_t d = static_cast<size_t>(a) + 1; d < dims.size(); ++d) inner *= dims[d];
    const int64_t channels = dims[static_cast<size_t>(a)];
    std::vector<float> want(static_cast<size_t>(channels), 0.5f);
    for (int64_t i = 0; i < n; ++i) {
      const float v = std::fabs(x[static_cast<size_t>(i)]);
      float& m = want[static_cast<size_t>((i / inner) % channels)];
      if (std::isfinite(v)) m = std::max(m, v);
    }
    std::vector<float> serial(static_cast<size_t>(channels), 0.5f), split = serial;
    channel_absmax(x.data(), dims, axis, serial);
    channel_absmax(x.data(), dims, axis, split, &pool);
    EXPECT_EQ(serial, want) << dims.size();
    EXPECT_EQ(split, want) << dims.size();
  }
}

}  // namespace
}  // namespace mixq::calib
