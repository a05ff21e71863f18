// The CPU executor's machinery: kernel registry, thread pool determinism, liveness (tensors
// freed after their last use), the observer, and refusals of bad feeds and unsupported ops.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <map>
#include <numeric>
#include <thread>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "mixq/exec/executor.h"
#include "mixq/exec/kernel_registry.h"
#include "mixq/exec/thread_pool.h"

namespace mixq {
namespace {

using testing::GraphBuilder;

Status dummy_kernel(exec::KernelContext&) { return Status::ok_status(); }

TEST(KernelRegistry, IsConsistentAndRefusesOverlaps) {
  EXPECT_EQ(exec::check_kernel_list(exec::cpu_kernels()), "");
  std::vector<exec::KernelDef> defs = {
      {"", "Foo", 1, 12, exec::TypeSet{DType::kFloat32}, 0, dummy_kernel},
      {"", "Foo", 13, 21, exec::TypeSet{DType::kFloat32}, 0, dummy_kernel},
      {"", "Foo", 7, 21, exec::TypeSet{DType::kInt64}, 0, dummy_kernel},
  };
  EXPECT_EQ(exec::check_kernel_list(defs), "");
  defs.push_back(
      {"", "Foo", 10, 14, exec::TypeSet{DType::kFloat32, DType::kFloat16}, 0, dummy_kernel});
  const std::string conflict = exec::check_kernel_list(defs);
  EXPECT_NE(conflict.find("overlap"), std::string::npos) << conflict;
}

TEST(KernelRegistry, MissNamesNodeOpsetDtypeAndWhatExists) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kUint8, {4});
  b.node("Exp", {x});
  const ir::Node& n = *b.graph().nodes()[0];
  const std::string msg = exec::describe_kernel_miss(n, 17, DType::kUint8);
  EXPECT_NE(msg.find("Exp-17"), std::string::npos) << msg;
  EXPECT_NE(msg.find("uint8"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Exp 'Exp_0'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Exp-1..21 for float32"), std::string::npos) << msg;
}

TEST(ThreadPool, ChunksDoNotDependOnThreadCount) {
  for (int threads : {1, 2, 3, 8}) {
    exec::ThreadPool pool(threads);
    std::vector<std::pair<int64_t, int64_t>> chunks(100, {-1, -1});
    pool.parallel_for(1000, 10, [&](int64_t b, int64_t e) { chunks[b / 10] = {b, e}; });
    for (int64_t k = 0; k < 100; ++k) {
      EXPECT_EQ(chunks[k].first, k * 10);
      EXPECT_EQ(chunks[k].second, k * 10 + 10);
    }
    std::atomic<int64_t> sum{0};
    pool.parallel_for(100000, 7, [&](int64_t b, int64_t e) {
      int64_t s = 0;
      for (int64_t i = b; i < e; ++i) s += i;
      sum += s;
    });
    EXPECT_EQ(sum.load(), 4999950000);
  }
}

// Background work (calibration's observers): an idle worker takes it without any job running;
// the thread in parallel_for takes it while it waits for a worker's chunk; set_idle_work(null)
// returns only once no thread is inside the old function, which is never called after; the
// jobs' chunks are all run, once, whatever the background work does meanwhile.
TEST(ThreadPool, IdleThreadsTakeBackgroundWorkAndUnsettingWaitsForIt) {
  exec::ThreadPool pool(2);
  std::atomic<int> items{40};  // background work left
  std::atomic<int> by_worker{0}, by_caller{0};
  const auto caller = std::this_thread::get_id();
  pool.set_idle_work([&] {
    if (items.load() <= 0 || items.fetch_sub(1) <= 0) return false;
    (std::this_thread::get_id() == caller ? by_caller : by_worker)++;
    return true;
  });
  // Nothing runs on the pool: the worker alone empties the queue.
  for (int i = 0; i < 2000 && items.load() > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_LE(items.load(), 0);
  EXPECT_EQ(by_worker.load(), 40);
  EXPECT_EQ(by_caller.load(), 0);

  // A job whose chunks all wait for the worker to take one: the caller, done with its own,
  // waits in parallel_for and meanwhile takes background work.
  items = 1000000;
  std::atomic<bool> worker_in_job{false};
  std::vector<std::atomic<int>> runs(8);
  pool.parallel_for(8, 1, [&](int64_t b, int64_t) {
    runs[size_t(b)]++;
    if (std::this_thread::get_id() != caller) {
      worker_in_job = true;
      // Hold the chunk until the caller has done some background work.
      for (int i = 0; i < 5000 && by_caller.load() == 0; ++i) {
        std::this_thread::sleep_for(std::chrono::microseconds(200));
      }
    } else {
      while (!worker_in_job.load()) std::this_thread::yield();
    }
  });
  for (const auto& r : runs) EXPECT_EQ(r.load(), 1);
  EXPECT_GT(by_caller.load(), 0);

  // Unsetting waits for a call in progress, and the old function is not called again.
  std::atomic<bool> inside{false}, released{false};
  std::atomic<int> calls_after{0};
  std::atomic<bool> unset{false};
  pool.set_idle_work([&] {
    if (unset.load()) calls_after++;
    if (released.load()) return false;
    inside = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    released = true;
    return true;
  });
  while (!inside.load()) std::this_thread::yield();
  pool.set_idle_work(nullptr);
  unset = true;
  EXPECT_TRUE(released.load());  // the call in progress had finished
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  pool.parallel_for(100, 1, [](int64_t, int64_t) {});
  EXPECT_EQ(calls_after.load(), 0);
}

TEST(Executor, MatMulMatchesFloat64AndIsBitIdenticalAcrossThreadCounts) {
  const ir::Tensor a = testing::random_floats({3, 70, 96}, 1);
  const ir::Tensor b = testing::random_floats({96, 130}, 2);
  std::vector<std::string> bits;
  for (int threads : {1, 2, 3, 8}) {
    testing::NodeSpec spec;
    spec.threads = threads;
    auto out = testing::run_node("MatMul", {a, b}, spec);
    ASSERT_TRUE(out.ok()) << out.status().to_string();
    const ir::Tensor& y = (*out)[0];
    ASSERT_EQ(y.dims(), (std::vector<int64_t>{3, 70, 130}));
    bits.emplace_back(reinterpret_cast<const char*>(y.raw_data()), y.nbytes());
    if (threads == 1) {
      const auto av = testing::to_doubles(a);
      const auto bv = testing::to_doubles(b);
      std::vector<double> want(static_cast<size_t>(y.numel())), mag(want.size());
      for (int64_t s = 0; s < 3; ++s) {
        for (int64_t i = 0; i < 70; ++i) {
          for (int64_t j = 0; j < 130; ++j) {
            double acc = 0, abs_acc = 0;
            for (int64_t k = 0; k < 96; ++k) {
              const double t = av[(s * 70 + i) * 96 + k] * bv[k * 130 + j];
              acc += t;
              abs_acc += std::fabs(t);
            }
            want[static_cast<size_t>((s * 70 + i) * 130 + j)] = acc;
            mag[static_cast<size_t>((s * 70 + i) * 130 + j)] = abs_acc;
          }
        }
      }
      EXPECT_EQ(testing::compare_to_reference(y, want, &mag), "");
    }
  }
  for (size_t i = 1; i < bits.size(); ++i) EXPECT_TRUE(bits[i] == bits[0]) << "threads differ";
}

// x -> Relu -> Exp -> ... (10 nodes) on 4 MiB tensors: freeing after last use keeps at most a
// couple alive at once.
TEST(Executor, FreesIntermediatesAfterTheirLastUse) {
  GraphBuilder b(17);
  ir::Value* v = b.input("x", DType::kFloat32, {1 << 20});
  for (int i = 0; i < 10; ++i) v = b.node(i % 2 ? "Exp" : "Relu", {v})[0];
  b.output(v);
  auto ex = exec::Executor::create(b.model());
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  const ir::Tensor x = testing::random_floats({1 << 20}, 3);
  auto out = (*ex)->run({{"x", x}});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  const int64_t tensor_bytes = 4 << 20;
  const int64_t peak = (*ex)->last_run_stats().peak_bytes;
  EXPECT_GE(peak, tensor_bytes);
  EXPECT_LE(peak, 3 * tensor_bytes) << "intermediates were not freed";
  EXPECT_EQ((*ex)->last_run_stats().nodes_run, 10);
}

TEST(Executor, ObserverSeesEveryNodeOutputInOrder) {
  struct Recorder : exec::Observer {
    std::vector<std::string> names;
    std::vector<float> first;
    void on_output(const ir::Node& node, const ir::Value& value, const ir::Tensor& t) override {
      names.push_back(node.name() + ":" + value.name());
      first.push_back(t.data<float>()[0]);
    }
  } rec;
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {2});
  auto* y = b.node("Neg", {x})[0];
  auto* z = b.node("Add", {y, x})[0];
  auto* w = b.node("Exp", {z})[0];
  b.output(w);
  auto ex = exec::Executor::create(b.model());
  ASSERT_TRUE(ex.ok());
  auto out = (*ex)->run({{"x", ir::Tensor::from_floats({2}, {3.0f, 1.0f})}}, &rec);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(rec.names,
            (std::vector<std::string>{"Neg_0:Neg_0_out0", "Add_1:Add_1_out0", "Exp_2:Exp_2_out0"}));
  EXPECT_EQ(rec.first, (std::vector<float>{-3.0f, 0.0f, 1.0f}));
}

TEST(Executor, rejects_bad_feeds_naming_the_input) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {"N", 3});
  auto* y = b.input("y", DType::kFloat32, {"N", 3});
  b.output(b.node("Add", {x, y})[0]);
  auto ex = exec::Executor::create(b.model());
  ASSERT_TRUE(ex.ok());
  const ir::Tensor good = testing::random_floats({2, 3}, 1);
  auto expect_bad = [&](const exec::NamedTensors& feeds, std::vector<std::string> needles) {
    auto out = (*ex)->run(feeds);
    ASSERT_FALSE(out.ok());
    EXPECT_EQ(out.status().code(), StatusCode::kBadInput);
    for (const auto& n : needles) {
      EXPECT_NE(out.status().message().find(n), std::string::npos) << out.status().message();
    }
  };
  expect_bad({{"x", good}}, {"input 'y'", "missing"});
  expect_bad({{"x", good}, {"y", good}, {"z", good}}, {"no input 'z'"});
  expect_bad({{"x", good}, {"y", ir::Tensor::from_int64s({2, 3}, {1, 2, 3, 4, 5, 6})}},
             {"input 'y'", "int64", "float32[N, 3]"});
  expect_bad({{"x", good}, {"y", testing::random_floats({2, 4}, 2)}},
             {"input 'y'", "[2, 4]", "float32[N, 3]"});
  expect_bad({{"x", good}, {"y", testing::random_floats({5, 3}, 2)}}, {"N = 5", "N = 2"});
  EXPECT_TRUE((*ex)->run({{"x", good}, {"y", good}}).ok());
}

TEST(Executor, rejects_model_with_ops_it_cannot_run) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {2});
  b.output(b.node("FancyOp", {x}, 1, nullptr, "com.example")[0]);
  b.model().opset_imports.push_back({"com.example", 1});
  auto ex = exec::Executor::create(b.model());
  ASSERT_FALSE(ex.ok());
  EXPECT_EQ(ex.status().code(), StatusCode::kUnsupported);
  EXPECT_NE(ex.status().message().find("FancyOp 'FancyOp_0'"), std::string::npos)
      << ex.status().message();
}

// Where each node's output lives (op type -> first byte), without holding the tensors.
struct OutputAddresses : exec::Observer {
  std::map<std::string, const std::byte*> at;
  void on_output(const ir::Node& node, const ir::Value&, const ir::Tensor& t) override {
    at[node.op_type()] = t.raw_data();
  }
};

// Keeps every node output (as analyze and calibrate's queue do): nothing may be written over.
struct KeepOutputs : exec::Observer {
  std::map<std::string, ir::Tensor> kept;
  void on_output(const ir::Node& node, const ir::Value&, const ir::Tensor& t) override {
    kept[node.op_type()] = t;
  }
};

std::vector<float> floats_of(const ir::Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

// x -> Neg -> Relu -> Add(., c) -> Exp, Mul(Exp, Add): Relu and Add (in-place kernels) write
// over the dead output before them; Exp (not in place) and the feed and initializer never.
TEST(Executor, InPlaceKernelsWriteOverInputsNothingElseHolds) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {4096});
  const ir::Tensor c_values = testing::random_floats({4096}, 7);
  auto* c = b.constant("c", c_values);
  auto* n = b.node("Neg", {x})[0];
  auto* r = b.node("Relu", {n})[0];
  auto* a = b.node("Add", {r, c})[0];
  auto* e = b.node("Exp", {a})[0];
  b.output(b.node("Mul", {e, a})[0]);
  b.output(
      b.node("Sub", {x, c})[0]);  // the feed's last reader is in place, but the caller holds it
  auto ex = exec::Executor::create(b.model());
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  const ir::Tensor x_values = testing::random_floats({4096}, 8);
  const std::vector<float> x_before = floats_of(x_values);

  OutputAddresses addr;
  auto out = (*ex)->run({{"x", x_values}}, &addr);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(addr.at["Relu"], addr.at["Neg"]) << "Relu allocated instead of reusing Neg's output";
  EXPECT_EQ(addr.at["Add"], addr.at["Neg"]) << "Add allocated instead of reusing Relu's output";
  EXPECT_NE(addr.at["Exp"], addr.at["Neg"]) << "Exp is not an in-place kernel";
  EXPECT_NE(addr.at["Sub"], x_values.raw_data()) << "Sub wrote over the feed";
  EXPECT_EQ(floats_of(x_values), x_before);
  EXPECT_EQ(floats_of(*c->initializer()), floats_of(c_values)) << "the initializer changed";

  // An observer holding the outputs turns every reuse off; the results are the same bytes, and
  // what it holds is each node's own output.
  KeepOutputs keep;
  auto kept_out = (*ex)->run({{"x", x_values}}, &keep);
  ASSERT_TRUE(kept_out.ok()) << kept_out.status().to_string();
  EXPECT_EQ(floats_of((*kept_out)[0]), floats_of((*out)[0]));
  const std::vector<float> neg = floats_of(keep.kept["Neg"]);
  const std::vector<float> relu = floats_of(keep.kept["Relu"]);
  const std::vector<float> add = floats_of(keep.kept["Add"]);
  for (size_t i = 0; i < x_before.size(); ++i) {
    ASSERT_EQ(neg[i], -x_before[i]) << i;
    ASSERT_EQ(relu[i], std::max(-x_before[i], 0.0f)) << i;
    ASSERT_EQ(add[i], relu[i] + c_values.data<float>()[i]) << i;
  }
  EXPECT_NE(keep.kept["Relu"].raw_data(), keep.kept["Neg"].raw_data());
  // A second run gives the same bytes (nothing the first run wrote over was reused).
  auto again = (*ex)->run({{"x", x_values}});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(floats_of((*again)[0]), floats_of((*out)[0]));
}

// An input read again later is not written over; a broadcast input (other dims than the
// output) is not either, while the full-size one is.
TEST(Executor, InPlaceSkipsInputsReadLaterAndBroadcastInputs) {
  GraphBuilder b(17);
  auto* x = b.input("x", DType::kFloat32, {2, 3});
  auto* y = b.input("y", DType::kFloat32, {3});
  auto* n = b.node("Neg", {x})[0];
  auto* r = b.node("Relu", {n})[0];  // n is read again by Exp below
  auto* e = b.node("Exp", {n})[0];
  auto* s = b.node("Sqrt", {y})[0];                        // [3], dead after the Add
  auto* a = b.node("Add", {s, b.node("Abs", {r})[0]})[0];  // [3] + [2, 3]: only Abs's fits
  b.output(e);
  b.output(a);
  auto ex = exec::Executor::create(b.model());
  ASSERT_TRUE(ex.ok()) << ex.status().to_string();
  const ir::Tensor xv = ir::Tensor::from_floats({2, 3}, {1.5f, -2.0f, 0.25f, -0.5f, 3.0f, -4.0f});
  const ir::Tensor yv = ir::Tensor::from_floats({3}, {4.0f, 9.0f, 16.0f});
  OutputAddresses addr;
  auto out = (*ex)->run({{"x", xv}, {"y", yv}}, &addr);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_NE(addr.at["Relu"], addr.at["Neg"]) << "Relu wrote over a tensor Exp still reads";
  EXPECT_NE(addr.at["Add"], addr.at["Sqrt"]) << "Add wrote a [2, 3] output over a [3] input";
  EXPECT_EQ(addr.at["Add"], addr.at["Abs"]);
  const std::vector<float> x0 = floats_of(xv);
  const std::vector<float> ev = floats_of((*out)[0]), av = floats_of((*out)[1]);
  const float sq[3] = {2.0f, 3.0f, 4.0f};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_NEAR(ev[i], std::exp(-x0[i]), 1e-6f * std::exp(-x0[i]))
        << i << ": Exp saw Relu's output";
    EXPECT_EQ(av[i], sq[i % 3] + std::fabs(std::max(-x0[i], 0.0f))) << i;
  }
}

TEST(Executor, ViewOpsShareTheInputBuffer) {
  const ir::Tensor x = testing::random_floats({2, 3, 4}, 5);
  testing::NodeSpec spec;
  spec.constant_inputs = {1};
  auto out = testing::run_node("Reshape", {x, ir::Tensor::from_int64s({2}, {6, -1})}, spec);
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ((*out)[0].dims(), (std::vector<int64_t>{6, 4}));
  EXPECT_EQ((*out)[0].raw_data(), x.raw_data()) << "Reshape copied its input";
}

}  // namespace
}  // namespace mixq
