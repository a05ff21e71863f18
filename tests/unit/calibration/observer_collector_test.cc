// The calibration observer on a small model run twice (batches of 3 and 5): every float
// activation's min/max/absmax and histogram equal those computed directly from the values the
// runs produced, graph inputs included, and for the outputs of value-moving nodes (Identity,
// Transpose), whose records are copied from their inputs'; the per-channel absmax of MatMul's
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
  for (ir::Value* v : {y, z, c, tz, iz, y2}) b.output(v);
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
                               &(*out)[2],       &(*out)[3],       &(*out)[4], &(*out)[5]};
    const ir::Value* vals[] = {x, img, y, z, c, tz, iz, y2};
    for (int i = 0; i < 8; ++i) {
      const float* p = all[i]->data<float>();
      seen[vals[i]->name()].insert(seen[vals[i]->name()].end(), p, p + all[i]->numel());
    }
    const float* px = xt.data<float>();
    xs.insert(xs.end(), px, px + xt.numel());
  }
  EXPECT_EQ(collector.runs(), 2);
  int recorded = 0;
  for (const auto& [name, r] : collector.tensors()) recorded += r.dtype != DType::kUndefined;
  ASSERT_EQ(recorded, 8);
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

// Layers reading a tensor along its last axis (MatMul's K, Gemm's with transA = 0) take its
// channel maxima from the histogram's counting pass: two layers on one input (the second gets a
// copy), a large input split into chunks across the pool, a small one, NaN and Inf, over two
// runs; equal to a plain loop over the values, on the calling thread and on the pool.
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
  // 37 node outputs per run were each waited for (the graph input is queued too).
  EXPECT_GE(pooled.observed_in_background(), runs * 37);
  std::cout << "idle threads observed " << pooled.observed_in_background() << " of " << runs * 38
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
