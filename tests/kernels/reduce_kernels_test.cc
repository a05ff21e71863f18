// Kernel tests for the reductions, ArgMax/ArgMin and TopK.
// seeded random shapes against naive references, every opset form, thread-count determinism and
// rejects_* cases that check the error code and that the node is named.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <random>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "kernel_test_util.h"
#include "mixq/core/float_bits.h"
#include "tolerances.h"

namespace mixq {
namespace {

using namespace testing::kt;  // NOLINT(google-build-using-namespace)

constexpr double kInf = std::numeric_limits<double>::infinity();

// --- Reductions -------------------------------------------------------------------------------

struct RefReduce {
  std::vector<double> value, magnitude;
};

// Float64 reference over the `reduced` dims of x (noop: reduce nothing).
RefReduce ref_reduce(const std::string& op, const std::vector<double>& x, const Dims& d,
                     const std::vector<bool>& reduced) {
  Dims od;
  for (size_t k = 0; k < d.size(); ++k) od.push_back(reduced[k] ? 1 : d[k]);
  const auto n = static_cast<size_t>(numel(od));
  std::vector<std::vector<double>> sets(n);
  for (int64_t i = 0; i < numel(d); ++i) {
    Dims idx = unravel(i, d);
    for (size_t k = 0; k < d.size(); ++k) {
      if (reduced[k]) idx[k] = 0;
    }
    sets[static_cast<size_t>(ravel(idx, od))].push_back(x[static_cast<size_t>(i)]);
  }
  RefReduce r;
  for (const auto& s : sets) {
    double sum = 0, abs = 0, sq = 0, prod = 1, mx = -kInf, mn = kInf, se = 0;
    for (double v : s) {
      sum += v;
      abs += std::fabs(v);
      sq += v * v;
      prod *= v;
      mx = std::max(mx, v);
      mn = std::min(mn, v);
      se += std::exp(v);
    }
    const auto cnt = static_cast<double>(s.size());
    double v = 0, mag = 0;
    if (op == "ReduceSum") v = sum, mag = abs;
    if (op == "ReduceMean") v = sum / cnt, mag = abs / cnt;
    if (op == "ReduceProd") v = prod, mag = std::fabs(prod);
    if (op == "ReduceL1") v = abs, mag = abs;
    if (op == "ReduceL2") v = std::sqrt(sq), mag = std::sqrt(sq);
    if (op == "ReduceSumSquare") v = sq, mag = sq;
    if (op == "ReduceLogSum") v = std::log(sum), mag = 1;
    if (op == "ReduceLogSumExp") v = std::log(se), mag = 1 + std::fabs(std::log(se));
    if (op == "ReduceMax") v = mx, mag = std::fabs(mx);
    if (op == "ReduceMin") v = mn, mag = std::fabs(mn);
    r.value.push_back(v);
    r.magnitude.push_back(mag);
  }
  return r;
}

const char* const kReduceOps[] = {"ReduceSum", "ReduceMean",      "ReduceProd",   "ReduceL1",
                                  "ReduceL2",  "ReduceSumSquare", "ReduceLogSum", "ReduceLogSumExp",
                                  "ReduceMax", "ReduceMin"};

TEST(ReduceKernels, RandomAxesAllOpsBothAxesForms) {
  std::mt19937 rng(31);
  for (int iter = 0; iter < 24; ++iter) {
    const size_t rank = 1 + iter % 4;
    const Dims d = random_dims(rng, rank, 1, 7);
    Dims axes;
    std::vector<bool> reduced(rank, false);
    for (size_t k = 0; k < rank; ++k) {
      if (rng() % 2) {
        axes.push_back(rng() % 2 ? static_cast<int64_t>(k)
                                 : static_cast<int64_t>(k) - static_cast<int64_t>(rank));
        reduced[k] = true;
      }
    }
    if (axes.empty()) reduced.assign(rank, true);  // no axes: reduce everything
    const int64_t keep = iter % 2;
    for (const char* op : kReduceOps) {
      const std::string name = op;
      // Positive inputs keep logs defined and products tame.
      const bool positive = name == "ReduceLogSum" || name == "ReduceProd";
      const ir::Tensor x =
          random_floats(d, 500 + iter, positive ? 0.5f : -2.0f, positive ? 1.5f : 2.0f);
      const RefReduce ref = ref_reduce(name, to_doubles(x), d, reduced);
      // The attribute form (opset 11) and the input form (opset 18).
      const ir::Tensor a = run(
          name, {x},
          {.opset = 11,
           .attrs = axes.empty() ? both(int_attr("keepdims", keep), [](ir::Node&) {})
                                 : both(int_attr("keepdims", keep), ints_attr("axes", axes))})[0];
      std::vector<std::optional<ir::Tensor>> in = {x};
      if (!axes.empty()) in.push_back(i64({static_cast<int64_t>(axes.size())}, axes));
      const ir::Tensor b = run(
          name, in, {.opset = 18, .attrs = int_attr("keepdims", keep), .constant_inputs = {1}})[0];
      Dims want_dims;
      for (size_t k = 0; k < rank; ++k) {
        if (!reduced[k])
          want_dims.push_back(d[k]);
        else if (keep)
          want_dims.push_back(1);
      }
      EXPECT_EQ(a.dims(), want_dims) << name;
      EXPECT_EQ(compare_to_reference(a, ref.value, &ref.magnitude), "")
          << name << ir::dims_to_string(d);
      EXPECT_EQ(bytes(a), bytes(b)) << name;
    }
  }
}

TEST(ReduceKernels, ReduceSumAxesInputSinceOpset13) {
  const ir::Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  auto y = run("ReduceSum", {x, i64({1}, {-1})}, {.opset = 13, .constant_inputs = {1}})[0];
  EXPECT_EQ(y.dims(), (Dims{2, 1}));
  EXPECT_EQ(values<float>(y), (std::vector<float>{6, 15}));
  y = run("ReduceSum", {x},
          {.opset = 1, .attrs = both(ints_attr("axes", {0}), int_attr("keepdims", 0))})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{5, 7, 9}));
}

TEST(ReduceKernels, NoopWithEmptyAxesAppliesElementStep) {
  const ir::Tensor x = f32({2, 2}, {1, -2, 3, 4});
  const NodeSpec spec{.opset = 18, .attrs = int_attr("noop_with_empty_axes", 1)};
  EXPECT_EQ(values<float>(run("ReduceSumSquare", {x}, spec)[0]), (std::vector<float>{1, 4, 9, 16}));
  EXPECT_EQ(values<float>(run("ReduceL1", {x}, spec)[0]), (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(values<float>(run("ReduceMean", {x}, spec)[0]), (std::vector<float>{1, -2, 3, 4}));
  EXPECT_EQ(compare_to_reference(run("ReduceLogSumExp", {x}, spec)[0], {1, -2, 3, 4}), "");
  const NodeSpec sum13{
      .opset = 13, .attrs = int_attr("noop_with_empty_axes", 1), .constant_inputs = {1}};
  EXPECT_EQ(values<float>(run("ReduceSum", {x, i64({0}, {})}, sum13)[0]),
            (std::vector<float>{1, -2, 3, 4}));
  // Without noop, an empty axes input reduces everything.
  EXPECT_EQ(
      values<float>(run("ReduceSum", {x, i64({0}, {})}, {.opset = 13, .constant_inputs = {1}})[0]),
      (std::vector<float>{6}));
}

TEST(ReduceKernels, EmptyReductionsGiveIdentities) {
  const ir::Tensor x = f32({0, 3}, {});
  const auto first = [&](const char* op) {
    return values<float>(run(op, {x}, {.opset = 11, .attrs = ints_attr("axes", {0})})[0]);
  };
  EXPECT_EQ(first("ReduceSum"), std::vector<float>(3, 0));
  EXPECT_EQ(first("ReduceProd"), std::vector<float>(3, 1));
  EXPECT_EQ(first("ReduceMax")[0], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(first("ReduceMin")[0], std::numeric_limits<float>::infinity());
  EXPECT_EQ(first("ReduceLogSumExp")[0], -std::numeric_limits<float>::infinity());
  EXPECT_EQ(first("ReduceLogSum")[0], -std::numeric_limits<float>::infinity());
  EXPECT_TRUE(std::isnan(first("ReduceMean")[0]));
  const auto imax = run("ReduceMax", {convert(x, DType::kInt32)},
                        {.opset = 11, .attrs = ints_attr("axes", {0})})[0];
  EXPECT_EQ(values<int32_t>(imax)[0], std::numeric_limits<int32_t>::lowest());
}

TEST(ReduceKernels, IntegerHalfAndBoolTypes) {
  const ir::Tensor xi = i32({2, 3}, {1, -2, 3, 4, 5, -7});
  const NodeSpec ax1{.opset = 11, .attrs = ints_attr("axes", {1})};
  EXPECT_EQ(values<int32_t>(run("ReduceSum", {xi}, ax1)[0]), (std::vector<int32_t>{2, 2}));
  EXPECT_EQ(values<int32_t>(run("ReduceMean", {xi}, ax1)[0]), (std::vector<int32_t>{0, 0}));
  EXPECT_EQ(values<int32_t>(run("ReduceProd", {xi}, ax1)[0]), (std::vector<int32_t>{-6, -140}));
  EXPECT_EQ(values<int32_t>(run("ReduceL1", {xi}, ax1)[0]), (std::vector<int32_t>{6, 16}));
  EXPECT_EQ(values<int32_t>(run("ReduceMin", {xi}, ax1)[0]), (std::vector<int32_t>{-2, -7}));
  const ir::Tensor xb = boolean({2, 2}, {0, 1, 0, 0});
  EXPECT_EQ(values<uint8_t>(
                run("ReduceMax", {xb},
                    {.opset = 20, .attrs = int_attr("keepdims", 0), .constant_inputs = {}})[0]),
            (std::vector<uint8_t>{1}));
  const ir::Tensor xf = random_floats({3, 40}, 77);
  for (DType t : {DType::kFloat16, DType::kBFloat16, DType::kFloat64}) {
    const ir::Tensor x = convert(xf, t);
    const RefReduce ref = ref_reduce("ReduceSum", to_doubles(x), {3, 40}, {false, true});
    const auto y = run("ReduceSum", {x, i64({1}, {1})}, {.constant_inputs = {1}})[0];
    EXPECT_EQ(y.dtype(), t);
    EXPECT_EQ(compare_to_reference(y, ref.value, &ref.magnitude), "") << dtype_name(t);
  }
}

TEST(ReduceKernels, LongAxisAccurateAndThreadIndependent) {
  // 2^20 values of 0.1f: float32 sequential summation drifts far; double accumulation does not.
  const Dims d = {1, 1 << 20};
  const ir::Tensor x = f32(d, std::vector<float>(1 << 20, 0.1f));
  const auto y = run("ReduceSum", {x}, {.opset = 11})[0];
  EXPECT_NEAR(values<float>(y)[0], static_cast<double>(0.1f) * (1 << 20), 1e-2);
  const ir::Tensor r = random_floats({64, 300, 70}, 99);
  for (const Dims& axes : {Dims{0}, Dims{1}, Dims{2}, Dims{0, 2}}) {
    const NodeSpec spec{.opset = 11, .attrs = ints_attr("axes", axes)};
    for (const char* op : {"ReduceSum", "ReduceMax", "ReduceLogSumExp"}) {
      expect_thread_independent(op, {r}, spec);
    }
  }
}

TEST(ReduceKernels, rejects_bad_axis) {
  expect_rejected("ReduceSum", {f32({2}, {1, 2}), i64({1}, {2})}, {.constant_inputs = {1}});
  expect_rejected("ReduceMax", {f32({2}, {1, 2})}, {.opset = 11, .attrs = ints_attr("axes", {-2})});
}

TEST(ReduceKernels, ArgMaxArgMin) {
  const ir::Tensor x = f32({2, 3}, {2, 5, 5, 7, 1, 7});
  auto y = run("ArgMax", {x}, {.attrs = int_attr("axis", 1)})[0];
  EXPECT_EQ(y.dims(), (Dims{2, 1}));
  EXPECT_EQ(values<int64_t>(y), (Dims{1, 0}));
  y = run("ArgMax", {x},
          {.attrs = both(int_attr("axis", -1), int_attr("select_last_index", 1))})[0];
  EXPECT_EQ(values<int64_t>(y), (Dims{2, 2}));
  y = run("ArgMin", {x}, {.attrs = int_attr("keepdims", 0)})[0];
  EXPECT_EQ(y.dims(), (Dims{3}));
  EXPECT_EQ(values<int64_t>(y), (Dims{0, 1, 0}));
  // Random, axis with inner dims, ties from a small integer range.
  const Dims d = {4, 9, 300};
  const ir::Tensor r = convert(random_floats(d, 5, -3, 3), DType::kInt32);
  for (int last = 0; last < 2; ++last) {
    const NodeSpec spec{.attrs = both(int_attr("axis", 1), int_attr("select_last_index", last))};
    y = run("ArgMax", {r}, spec)[0];
    for (int64_t o = 0; o < 4; ++o) {
      for (int64_t i = 0; i < 300; ++i) {
        int64_t best = 0;
        for (int64_t j = 1; j < 9; ++j) {
          const int32_t v = r.data<int32_t>()[(o * 9 + j) * 300 + i];
          const int32_t b = r.data<int32_t>()[(o * 9 + best) * 300 + i];
          if (v > b || (last && v == b)) best = j;
        }
        ASSERT_EQ(y.data<int64_t>()[o * 300 + i], best);
      }
    }
    expect_thread_independent("ArgMin", {r}, spec);
  }
}

TEST(ReduceKernels, NaNPropagatesAndRanksHighest) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const ir::Tensor x = f32({2, 3}, {1, nan, 3, 4, 5, 6});
  const NodeSpec ax1{.opset = 11, .attrs = ints_attr("axes", {1})};
  for (const char* op : {"ReduceMax", "ReduceMin", "ReduceSum", "ReduceLogSumExp"}) {
    const auto y = values<float>(run(op, {x}, ax1)[0]);
    EXPECT_TRUE(std::isnan(y[0])) << op;
    EXPECT_FALSE(std::isnan(y[1])) << op;
  }
  EXPECT_EQ(values<int64_t>(run("ArgMax", {x}, {.attrs = int_attr("axis", 1)})[0]), (Dims{1, 2}));
  EXPECT_EQ(values<int64_t>(run("ArgMin", {x}, {.attrs = int_attr("axis", 1)})[0]), (Dims{1, 0}));
  const auto t = run("TopK", {x, i64({1}, {2})}, {.num_outputs = 2, .constant_inputs = {1}});
  EXPECT_EQ(values<int64_t>(t[1]), (Dims{1, 2, 2, 1}));
  // Large inputs stay finite in ReduceLogSumExp.
  const auto l = run("ReduceLogSumExp", {f32({2}, {1000, 1000})}, {.opset = 11})[0];
  EXPECT_NEAR(values<float>(l)[0], 1000 + std::log(2.0), 1e-3);
}

TEST(ReduceKernels, rejects_argmax_bad_axis) {
  expect_rejected("ArgMax", {f32({2}, {1, 2})}, {.attrs = int_attr("axis", 1)});
}

TEST(ReduceKernels, TopK) {
  const ir::Tensor x = f32({2, 4}, {1, 3, 3, 2, 0, -1, 5, 5});
  auto r = run("TopK", {x, i64({1}, {3})}, {.num_outputs = 2, .constant_inputs = {1}});
  EXPECT_EQ(values<float>(r[0]), (std::vector<float>{3, 3, 2, 5, 5, 0}));
  EXPECT_EQ(values<int64_t>(r[1]), (Dims{1, 2, 3, 2, 3, 0}));
  r = run("TopK", {x, i64({1}, {2})},
          {.attrs = int_attr("largest", 0), .num_outputs = 2, .constant_inputs = {1}});
  EXPECT_EQ(values<float>(r[0]), (std::vector<float>{1, 2, -1, 0}));
  EXPECT_EQ(values<int64_t>(r[1]), (Dims{0, 3, 1, 0}));
  // TopK-1: k attribute, axis 0.
  r = run("TopK", {x},
          {.opset = 1, .attrs = both(int_attr("k", 1), int_attr("axis", 0)), .num_outputs = 2});
  EXPECT_EQ(values<float>(r[0]), (std::vector<float>{1, 3, 5, 5}));
  EXPECT_EQ(values<int64_t>(r[1]), (Dims{0, 0, 1, 1}));
  // Random against a stable sort, axis with inner dims.
  const Dims d = {3, 50, 7};
  const ir::Tensor rx = convert(random_floats(d, 8, -5, 5), DType::kInt64);
  for (int largest = 0; largest < 2; ++largest) {
    // k = 10 takes the one-pass path, k = 40 nth_element.
    const int64_t k = largest ? 10 : 40;
    r = run("TopK", {rx, i64({1}, {k})},
            {.attrs = both(int_attr("axis", -2), int_attr("largest", largest)),
             .num_outputs = 2,
             .constant_inputs = {1}});
    for (int64_t o = 0; o < 3; ++o) {
      for (int64_t i = 0; i < 7; ++i) {
        Dims idx(50);
        std::iota(idx.begin(), idx.end(), 0);
        const auto at = [&](int64_t j) { return rx.data<int64_t>()[(o * 50 + j) * 7 + i]; };
        std::stable_sort(idx.begin(), idx.end(), [&](int64_t a, int64_t b) {
          return largest ? at(a) > at(b) : at(a) < at(b);
        });
        for (int64_t j = 0; j < k; ++j) {
          ASSERT_EQ(r[1].data<int64_t>()[(o * k + j) * 7 + i], idx[static_cast<size_t>(j)]);
          ASSERT_EQ(r[0].data<int64_t>()[(o * k + j) * 7 + i], at(idx[static_cast<size_t>(j)]));
        }
      }
    }
  }
}

TEST(ReduceKernels, rejects_topk_k_too_large) {
  expect_rejected("TopK", {f32({3}, {1, 2, 3}), i64({1}, {4})},
                  {.num_outputs = 2, .constant_inputs = {1}});
}

}  // namespace
}  // namespace mixq
