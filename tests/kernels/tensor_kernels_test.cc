// Kernel tests for the tensor (data movement) and reduce families: inline cases from the spec,
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

// --- N-d index helpers for the references ---------------------------------------------------

// --- Shape, Size, Constant, ConstantOfShape, Range, EyeLike ---------------------------------

TEST(TensorKernels, ShapeAndSize) {
  const ir::Tensor x = f32({2, 3, 4}, std::vector<float>(24));
  EXPECT_EQ(values<int64_t>(run("Shape", {x})[0]), (Dims{2, 3, 4}));
  EXPECT_EQ(values<int64_t>(run("Shape", {x}, {.opset = 15, .attrs = int_attr("start", 1)})[0]),
            (Dims{3, 4}));
  const auto se = both(int_attr("start", -2), int_attr("end", -1));
  EXPECT_EQ(values<int64_t>(run("Shape", {x}, {.opset = 19, .attrs = se})[0]), (Dims{3}));
  const auto clamp = both(int_attr("start", -10), int_attr("end", 10));
  EXPECT_EQ(values<int64_t>(run("Shape", {x}, {.opset = 21, .attrs = clamp})[0]), (Dims{2, 3, 4}));
  // Before opset 15 start/end do not exist.
  EXPECT_EQ(values<int64_t>(run("Shape", {x}, {.opset = 13, .attrs = int_attr("start", 1)})[0]),
            (Dims{2, 3, 4}));
  const ir::Tensor size = run("Size", {x})[0];
  EXPECT_EQ(size.dtype(), DType::kInt64);
  EXPECT_EQ(size.rank(), 0u);
  EXPECT_EQ(values<int64_t>(size), (Dims{24}));
  EXPECT_EQ(values<int64_t>(run("Shape", {strings({2}, {"a", "b"})})[0]), (Dims{2}));
}

TEST(TensorKernels, ConstantAllValueAttributes) {
  const ir::Tensor v = i32({2}, {7, -1});
  auto c = run("Constant", {}, {.attrs = [&](ir::Node& n) { testing::set_tensor(n, "value", v); }});
  EXPECT_EQ(c[0].dtype(), DType::kInt32);
  EXPECT_EQ(values<int32_t>(c[0]), (std::vector<int32_t>{7, -1}));
  c = run("Constant", {},
          {.attrs = [](ir::Node& n) { testing::set_float(n, "value_float", 2.5f); }});
  EXPECT_EQ(values<float>(c[0]), (std::vector<float>{2.5f}));
  c = run("Constant", {}, {.attrs = [](ir::Node& n) {
            testing::set_floats(n, "value_floats", {1, 2});
          }});
  EXPECT_EQ(values<float>(c[0]), (std::vector<float>{1, 2}));
  c = run("Constant", {}, {.attrs = int_attr("value_int", 9)});
  EXPECT_EQ(c[0].rank(), 0u);
  EXPECT_EQ(values<int64_t>(c[0]), (Dims{9}));
  c = run("Constant", {}, {.attrs = ints_attr("value_ints", {3, 4, 5})});
  EXPECT_EQ(values<int64_t>(c[0]), (Dims{3, 4, 5}));
  c = run("Constant", {}, {.attrs = [](ir::Node& n) { set_string(n, "value_string", "hi"); }});
  EXPECT_EQ(c[0].strings(), (std::vector<std::string>{"hi"}));
  c = run("Constant", {}, {.attrs = [](ir::Node& n) {
            auto& a = n.add_attribute("value_strings", ir::AttrType::kStrings);
            a.strings = {"x", "yz"};
          }});
  EXPECT_EQ(c[0].strings(), (std::vector<std::string>{"x", "yz"}));
}

TEST(TensorKernels, ConstantOfShape) {
  auto y = run("ConstantOfShape", {i64({2}, {2, 3})}, {.constant_inputs = {0}})[0];
  EXPECT_EQ(y.dtype(), DType::kFloat32);
  EXPECT_EQ(y.dims(), (Dims{2, 3}));
  EXPECT_EQ(values<float>(y), std::vector<float>(6, 0.0f));
  const auto value = [](ir::Node& n) { testing::set_tensor(n, "value", i32({1}, {-4})); };
  y = run("ConstantOfShape", {i64({3}, {2, 1, 2})}, {.attrs = value, .constant_inputs = {0}})[0];
  EXPECT_EQ(values<int32_t>(y), std::vector<int32_t>(4, -4));
  y = run("ConstantOfShape", {i64({0}, {})}, {.attrs = value, .constant_inputs = {0}})[0];
  EXPECT_EQ(y.rank(), 0u);
  EXPECT_EQ(values<int32_t>(y), std::vector<int32_t>{-4});
  y = run("ConstantOfShape", {i64({2}, {0, 5})}, {.constant_inputs = {0}})[0];
  EXPECT_EQ(y.numel(), 0);
}

TEST(TensorKernels, rejects_constant_of_shape_negative_dim) {
  expect_rejected("ConstantOfShape", {i64({2}, {2, -1})}, {});
}

TEST(TensorKernels, Range) {
  auto y = run("Range", {f32({}, {1}), f32({}, {2.2f}), f32({}, {0.3f})})[0];
  std::vector<double> want;
  for (int i = 0; i < 4; ++i) want.push_back(1 + i * 0.3);
  EXPECT_EQ(compare_to_reference(y, want), "");
  y = run("Range", {i32({}, {10}), i32({}, {4}), i32({}, {-2})})[0];
  EXPECT_EQ(values<int32_t>(y), (std::vector<int32_t>{10, 8, 6}));
  y = run("Range", {i64({}, {3}), i64({}, {3}), i64({}, {1})})[0];
  EXPECT_EQ(y.numel(), 0);
}

TEST(TensorKernels, EyeLike) {
  auto y = run("EyeLike", {f32({3, 4}, std::vector<float>(12, 5))}, {.attrs = int_attr("k", 1)})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1}));
  y = run("EyeLike", {f32({3, 2}, std::vector<float>(6))},
          {.attrs = both(int_attr("k", -1), int_attr("dtype", 7))})[0];
  EXPECT_EQ(y.dtype(), DType::kInt64);
  EXPECT_EQ(values<int64_t>(y), (Dims{0, 0, 1, 0, 0, 1}));
  y = run("EyeLike", {f32({2, 2}, std::vector<float>(4))}, {.attrs = int_attr("k", 5)})[0];
  EXPECT_EQ(values<float>(y), std::vector<float>(4, 0.0f));
}

// --- Transpose ------------------------------------------------------------------------------

std::vector<double> ref_transpose(const std::vector<double>& x, const Dims& d, const Dims& perm) {
  Dims od;
  for (int64_t p : perm) od.push_back(d[static_cast<size_t>(p)]);
  std::vector<double> y(x.size());
  for (int64_t i = 0; i < numel(od); ++i) {
    const Dims oi = unravel(i, od);
    Dims ii(d.size());
    for (size_t k = 0; k < perm.size(); ++k) ii[static_cast<size_t>(perm[k])] = oi[k];
    y[static_cast<size_t>(i)] = x[static_cast<size_t>(ravel(ii, d))];
  }
  return y;
}

TEST(TensorKernels, TransposeInlineAndDefaultPerm) {
  const ir::Tensor x = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  EXPECT_EQ(values<float>(run("Transpose", {x})[0]), (std::vector<float>{1, 4, 2, 5, 3, 6}));
  const ir::Tensor s = strings({2, 2}, {"a", "b", "c", "d"});
  EXPECT_EQ(run("Transpose", {s})[0].strings(), (std::vector<std::string>{"a", "c", "b", "d"}));
}

TEST(TensorKernels, TransposeRandomPermutationsAllElementSizes) {
  std::mt19937 rng(11);
  for (int iter = 0; iter < 60; ++iter) {
    const size_t rank = 1 + iter % 5;
    const Dims d = random_dims(rng, rank, 1, iter < 50 ? 5 : (rank <= 3 ? 40 : 9));
    Dims perm(rank);
    std::iota(perm.begin(), perm.end(), 0);
    std::shuffle(perm.begin(), perm.end(), rng);
    const DType types[] = {DType::kFloat32, DType::kInt8, DType::kFloat16, DType::kInt64};
    const DType t = types[iter % 4];
    const ir::Tensor x = convert(random_floats(d, 100 + iter, -100, 100), t);
    const ir::Tensor y = run("Transpose", {x}, {.attrs = ints_attr("perm", perm)})[0];
    ASSERT_EQ(y.dtype(), t);
    EXPECT_EQ(compare_to_reference(y, ref_transpose(to_doubles(x), d, perm)), "")
        << "dims " << ir::dims_to_string(d) << " perm " << ir::dims_to_string(perm);
  }
}

TEST(TensorKernels, TransposeLargeBlockedAndThreadIndependent) {
  const Dims d = {3, 130, 257};
  const ir::Tensor x = random_floats(d, 5);
  for (const Dims& perm : {Dims{0, 2, 1}, Dims{2, 1, 0}, Dims{1, 0, 2}}) {
    const ir::Tensor y = run("Transpose", {x}, {.attrs = ints_attr("perm", perm)})[0];
    EXPECT_EQ(compare_to_reference(y, ref_transpose(to_doubles(x), d, perm)), "");
    expect_thread_independent("Transpose", {x}, {.attrs = ints_attr("perm", perm)});
  }
}

TEST(TensorKernels, rejects_transpose_bad_perm) {
  expect_rejected("Transpose", {f32({2, 3}, std::vector<float>(6))},
                  {.attrs = ints_attr("perm", {0, 0})});
}

// --- Concat, Split ----------------------------------------------------------------------------

TEST(TensorKernels, ConcatAxesAndOpsets) {
  const ir::Tensor a = f32({2, 2}, {1, 2, 3, 4}), b = f32({2, 1}, {5, 6});
  EXPECT_EQ(values<float>(run("Concat", {a, b}, {.attrs = int_attr("axis", -1)})[0]),
            (std::vector<float>{1, 2, 5, 3, 4, 6}));
  // Concat-1: axis defaults to 1.
  EXPECT_EQ(values<float>(run("Concat", {a, b}, {.opset = 1})[0]),
            (std::vector<float>{1, 2, 5, 3, 4, 6}));
  const ir::Tensor c = f32({1, 2}, {7, 8}), e = f32({0, 2}, {});
  EXPECT_EQ(values<float>(run("Concat", {a, e, c}, {.attrs = int_attr("axis", 0)})[0]),
            (std::vector<float>{1, 2, 3, 4, 7, 8}));
  const auto s = run("Concat", {strings({1}, {"x"}), strings({2}, {"y", "z"})},
                     {.attrs = int_attr("axis", 0)})[0];
  EXPECT_EQ(s.strings(), (std::vector<std::string>{"x", "y", "z"}));
}

TEST(TensorKernels, ConcatSplitRandomRoundTrip) {
  std::mt19937 rng(3);
  for (int iter = 0; iter < 20; ++iter) {
    const size_t rank = 1 + iter % 4;
    const Dims d = random_dims(rng, rank, 1, 6);
    const auto axis =
        static_cast<int64_t>(rng() % rank) - (iter % 2 ? static_cast<int64_t>(rank) : 0);
    const size_t ax = static_cast<size_t>(axis < 0 ? axis + static_cast<int64_t>(rank) : axis);
    std::vector<std::optional<ir::Tensor>> parts;
    Dims sizes;
    for (int p = 0; p < 3; ++p) {
      Dims pd = d;
      pd[ax] = static_cast<int64_t>(rng() % 4);
      sizes.push_back(pd[ax]);
      parts.push_back(convert(random_floats(pd, 40 + p + iter, -50, 50), DType::kInt32));
    }
    const ir::Tensor cat = run("Concat", parts, {.attrs = int_attr("axis", axis)})[0];
    // Reference: element i of the result comes from the part holding its axis index.
    const Dims cd = cat.dims();
    for (int64_t i = 0; i < cat.numel(); ++i) {
      Dims idx = unravel(i, cd);
      size_t p = 0;
      while (idx[ax] >= sizes[p]) idx[ax] -= sizes[p++];
      const ir::Tensor& part = *parts[p];
      ASSERT_EQ(cat.data<int32_t>()[i], part.data<int32_t>()[ravel(idx, part.dims())]);
    }
    // Split-13 with the sizes as input gives the parts back.
    const auto split = run(
        "Split", {cat, i64({3}, sizes)},
        {.opset = 13, .attrs = int_attr("axis", axis), .num_outputs = 3, .constant_inputs = {1}});
    for (size_t p = 0; p < 3; ++p) EXPECT_EQ(bytes(split[p]), bytes(*parts[p]));
  }
}

TEST(TensorKernels, SplitForms) {
  const ir::Tensor x = f32({2, 6}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11});
  // Equal parts (no sizes).
  auto s = run("Split", {x}, {.opset = 11, .attrs = int_attr("axis", 1), .num_outputs = 3});
  EXPECT_EQ(values<float>(s[1]), (std::vector<float>{2, 3, 8, 9}));
  // Split-2/11 attribute.
  s = run("Split", {x},
          {.opset = 2,
           .attrs = both(int_attr("axis", 1), ints_attr("split", {1, 5})),
           .num_outputs = 2});
  EXPECT_EQ(values<float>(s[0]), (std::vector<float>{0, 6}));
  // Split-18 num_outputs: 6 into 4 gives 2, 2, 2, 0.
  s = run("Split", {x},
          {.opset = 18,
           .attrs = both(int_attr("axis", -1), int_attr("num_outputs", 4)),
           .num_outputs = 4});
  EXPECT_EQ(s[2].dims(), (Dims{2, 2}));
  EXPECT_EQ(s[3].dims(), (Dims{2, 0}));
  // Split-1: sizes as a second input.
  s = run("Split", {x, i64({2}, {2, 4})},
          {.opset = 1, .attrs = int_attr("axis", 1), .num_outputs = 2, .constant_inputs = {1}});
  EXPECT_EQ(values<float>(s[1]), (std::vector<float>{2, 3, 4, 5, 8, 9, 10, 11}));
}

TEST(TensorKernels, rejects_split_sizes_not_summing) {
  expect_rejected("Split", {f32({4}, {1, 2, 3, 4}), i64({2}, {1, 2})},
                  {.opset = 13, .num_outputs = 2, .constant_inputs = {1}});
}

TEST(TensorKernels, rejects_concat_mismatched_dims) {
  expect_rejected("Concat", {f32({2, 2}, {1, 2, 3, 4}), f32({3, 1}, {1, 2, 3})},
                  {.attrs = int_attr("axis", 1)});
}

// --- Slice ----------------------------------------------------------------------------------

// numpy-style reference for one axis: the picked indices.
Dims slice_indices(int64_t dim, int64_t start, int64_t end, int64_t step) {
  if (start < 0) start += dim;
  if (end < 0) end += dim;
  Dims out;
  if (step > 0) {
    start = std::clamp<int64_t>(start, 0, dim);
    end = std::clamp<int64_t>(end, 0, dim);
    for (int64_t i = start; i < end; i += step) out.push_back(i);
  } else {
    start = std::clamp<int64_t>(start, 0, dim - 1);
    end = std::clamp<int64_t>(end, -1, dim - 1);
    for (int64_t i = start; i > end; i += step) out.push_back(i);
  }
  return out;
}

TEST(TensorKernels, SliceSpecExamplesAndOpset1) {
  const ir::Tensor x = f32({2, 4}, {1, 2, 3, 4, 5, 6, 7, 8});
  auto y = run("Slice", {x, i64({2}, {1, 0}), i64({2}, {2, 3}), i64({2}, {0, 1}), i64({2}, {1, 2})},
               {.constant_inputs = {1, 2, 3, 4}})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{5, 7}));
  y = run("Slice", {x, i64({2}, {0, 1}), i64({2}, {-1, 1000})}, {.constant_inputs = {1, 2}})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{2, 3, 4}));
  // Negative steps, int32 starts/ends.
  y = run("Slice",
          {x, i32({1}, {-1}), i32({1}, {std::numeric_limits<int32_t>::min()}), i32({1}, {1}),
           i32({1}, {-2})},
          {.constant_inputs = {1, 2, 3, 4}})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{4, 2, 8, 6}));
  // Slice-1: attributes.
  y = run("Slice", {x},
          {.opset = 1,
           .attrs = both(ints_attr("starts", {1}),
                         both(ints_attr("ends", {3}), ints_attr("axes", {1})))})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{2, 3, 6, 7}));
}

TEST(TensorKernels, SliceRandom) {
  std::mt19937 rng(21);
  for (int iter = 0; iter < 40; ++iter) {
    const size_t rank = 1 + iter % 4;
    const Dims d = random_dims(rng, rank, 1, 7);
    Dims starts, ends, axes, steps;
    std::vector<Dims> picked(rank);
    for (size_t k = 0; k < rank; ++k) {
      picked[k].resize(static_cast<size_t>(d[k]));
      std::iota(picked[k].begin(), picked[k].end(), 0);
    }
    for (size_t k = 0; k < rank; ++k) {
      if (rng() % 3 == 0) continue;
      const int64_t dim = d[k];
      const int64_t s = static_cast<int64_t>(rng() % (2 * dim + 3)) - dim - 1;
      const int64_t e = static_cast<int64_t>(rng() % (2 * dim + 3)) - dim - 1;
      int64_t st = static_cast<int64_t>(rng() % 3) + 1;
      if (rng() % 2) st = -st;
      starts.push_back(s);
      ends.push_back(e);
      axes.push_back(rng() % 2 ? static_cast<int64_t>(k)
                               : static_cast<int64_t>(k) - static_cast<int64_t>(rank));
      steps.push_back(st);
      picked[k] = slice_indices(dim, s, e, st);
    }
    const ir::Tensor x = random_floats(d, 300 + iter);
    const auto n = static_cast<int64_t>(starts.size());
    const ir::Tensor y =
        run("Slice", {x, i64({n}, starts), i64({n}, ends), i64({n}, axes), i64({n}, steps)},
            {.constant_inputs = {1, 2, 3, 4}})[0];
    Dims od;
    for (const auto& p : picked) od.push_back(static_cast<int64_t>(p.size()));
    ASSERT_EQ(y.dims(), od);
    std::vector<double> want;
    for (int64_t i = 0; i < numel(od); ++i) {
      Dims idx = unravel(i, od);
      for (size_t k = 0; k < rank; ++k) idx[k] = picked[k][static_cast<size_t>(idx[k])];
      want.push_back(x.data<float>()[ravel(idx, d)]);
    }
    EXPECT_EQ(compare_to_reference(y, want), "") << ir::dims_to_string(d);
  }
}

TEST(TensorKernels, rejects_slice_zero_step) {
  expect_rejected("Slice",
                  {f32({3}, {1, 2, 3}), i64({1}, {0}), i64({1}, {3}), i64({1}, {0}), i64({1}, {0})},
                  {.constant_inputs = {1, 2, 3, 4}});
}

// --- Gather family --------------------------------------------------------------------------

TEST(TensorKernels, GatherInlineAndNegative) {
  const ir::Tensor data = f32({3, 2}, {1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f});
  auto y = run("Gather", {data, i64({2, 2}, {0, 1, 1, -1})})[0];
  EXPECT_EQ(y.dims(), (Dims{2, 2, 2}));
  EXPECT_EQ(values<float>(y), (std::vector<float>{1.0f, 1.2f, 2.3f, 3.4f, 2.3f, 3.4f, 4.5f, 5.7f}));
  y = run("Gather", {data, i32({1, 2}, {0, -1})}, {.opset = 1, .attrs = int_attr("axis", 1)})[0];
  EXPECT_EQ(y.dims(), (Dims{3, 1, 2}));
  EXPECT_EQ(values<float>(y), (std::vector<float>{1.0f, 1.2f, 2.3f, 3.4f, 4.5f, 5.7f}));
  y = run("Gather", {data, i64({}, {2})})[0];
  EXPECT_EQ(y.dims(), (Dims{2}));
  EXPECT_EQ(values<float>(y), (std::vector<float>{4.5f, 5.7f}));
}

TEST(TensorKernels, GatherRandom) {
  std::mt19937 rng(8);
  for (int iter = 0; iter < 30; ++iter) {
    const size_t rank = 1 + iter % 4;
    const Dims d = random_dims(rng, rank, 1, 6);
    const auto axis = static_cast<int64_t>(rng() % rank);
    const Dims id = random_dims(rng, iter % 3, 1, 4);
    const int64_t n = d[static_cast<size_t>(axis)];
    const ir::Tensor ind = random_int64s(id, 50 + iter, -n, n - 1);
    const ir::Tensor x =
        convert(random_floats(d, 60 + iter, -9, 9), iter % 2 ? DType::kInt8 : DType::kFloat64);
    const ir::Tensor y =
        run("Gather", {x, ind},
            {.attrs = int_attr("axis", axis - (iter % 2 ? static_cast<int64_t>(rank) : 0))})[0];
    std::vector<double> want;
    const int64_t outer = numel(Dims(d.begin(), d.begin() + axis));
    const int64_t inner = numel(Dims(d.begin() + axis + 1, d.end()));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t m = 0; m < ind.numel(); ++m) {
        int64_t v = ind.data<int64_t>()[m];
        if (v < 0) v += n;
        for (int64_t i = 0; i < inner; ++i)
          want.push_back(x.element_as_double((o * n + v) * inner + i));
      }
    }
    EXPECT_EQ(compare_to_reference(y, want), "");
  }
}

TEST(TensorKernels, rejects_gather_index_out_of_range) {
  expect_rejected("Gather", {f32({3}, {1, 2, 3}), i64({2}, {0, 3})}, {});
  expect_rejected("Gather", {f32({3}, {1, 2, 3}), i64({1}, {-4})}, {});
}

TEST(TensorKernels, GatherElements) {
  const ir::Tensor data = f32({2, 2}, {1, 2, 3, 4});
  auto y =
      run("GatherElements", {data, i64({2, 2}, {0, 0, 1, 0})}, {.attrs = int_attr("axis", 1)})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{1, 1, 4, 3}));
  const ir::Tensor d3 = f32({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  y = run("GatherElements", {d3, i32({2, 3}, {1, 2, 0, 2, 0, -3})})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{4, 8, 3, 7, 2, 3}));
  // Random: rank 3, each axis, indices smaller than data on the other dims.
  std::mt19937 rng(4);
  for (int axis = -3; axis < 3; ++axis) {
    const Dims d = {3, 4, 5};
    const Dims id = {2, 3, 4};
    const auto ax = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
    const ir::Tensor x = random_floats(d, 70 + axis);
    const ir::Tensor ind = random_int64s(id, 80 + axis, -d[ax], d[ax] - 1);
    y = run("GatherElements", {x, ind}, {.attrs = int_attr("axis", axis)})[0];
    std::vector<double> want;
    for (int64_t i = 0; i < numel(id); ++i) {
      Dims idx = unravel(i, id);
      int64_t v = ind.data<int64_t>()[i];
      idx[ax] = v < 0 ? v + d[ax] : v;
      want.push_back(x.data<float>()[ravel(idx, d)]);
    }
    EXPECT_EQ(compare_to_reference(y, want), "");
  }
}

TEST(TensorKernels, rejects_gather_elements_index_out_of_range) {
  expect_rejected("GatherElements", {f32({2, 2}, {1, 2, 3, 4}), i64({2, 2}, {0, 2, 1, 0})},
                  {.attrs = int_attr("axis", 1)});
}

TEST(TensorKernels, GatherND) {
  const ir::Tensor d2 = i32({2, 2}, {0, 1, 2, 3});
  EXPECT_EQ(values<int32_t>(run("GatherND", {d2, i64({2, 2}, {0, 0, 1, 1})})[0]),
            (std::vector<int32_t>{0, 3}));
  EXPECT_EQ(values<int32_t>(run("GatherND", {d2, i64({2, 1}, {1, 0})})[0]),
            (std::vector<int32_t>{2, 3, 0, 1}));
  const ir::Tensor d3 = i32({2, 2, 2}, {0, 1, 2, 3, 4, 5, 6, 7});
  auto y = run("GatherND", {d3, i64({2, 1, 2}, {0, 1, 1, 0})})[0];
  EXPECT_EQ(y.dims(), (Dims{2, 1, 2}));
  EXPECT_EQ(values<int32_t>(y), (std::vector<int32_t>{2, 3, 4, 5}));
  // batch_dims = 1 (GatherND-12), negative index.
  y = run("GatherND", {d3, i64({2, 1}, {1, -2})},
          {.opset = 12, .attrs = int_attr("batch_dims", 1)})[0];
  EXPECT_EQ(y.dims(), (Dims{2, 2}));
  EXPECT_EQ(values<int32_t>(y), (std::vector<int32_t>{2, 3, 4, 5}));
}

TEST(TensorKernels, rejects_gather_nd_index_out_of_range) {
  expect_rejected("GatherND", {f32({2, 2}, {1, 2, 3, 4}), i64({1, 2}, {0, 2})}, {});
}

// --- Scatter family ---------------------------------------------------------------------------

TEST(TensorKernels, ScatterNDReductions) {
  const ir::Tensor data = f32({8}, {1, 2, 3, 4, 5, 6, 7, 8});
  const ir::Tensor ind = i64({4, 1}, {4, 3, 1, 7});
  const ir::Tensor upd = f32({4}, {9, 10, 11, 12});
  EXPECT_EQ(values<float>(run("ScatterND", {data, ind, upd})[0]),
            (std::vector<float>{1, 11, 3, 10, 9, 6, 7, 12}));
  const ir::Tensor dup = i64({2, 1}, {0, 0});
  const ir::Tensor u2 = f32({2}, {5, 3});
  const auto red = [](const char* r) {
    return [=](ir::Node& n) { set_string(n, "reduction", r); };
  };
  EXPECT_EQ(
      values<float>(run("ScatterND", {data, dup, u2}, {.opset = 16, .attrs = red("add")})[0])[0],
      9);
  EXPECT_EQ(
      values<float>(run("ScatterND", {data, dup, u2}, {.opset = 16, .attrs = red("mul")})[0])[0],
      15);
  EXPECT_EQ(
      values<float>(run("ScatterND", {data, dup, u2}, {.opset = 18, .attrs = red("max")})[0])[0],
      5);
  EXPECT_EQ(
      values<float>(run("ScatterND", {data, dup, u2}, {.opset = 18, .attrs = red("min")})[0])[0],
      1);
  // Duplicates without reduction: the last update wins.
  EXPECT_EQ(values<float>(run("ScatterND", {data, dup, u2})[0])[0], 3);
  // Slices: data [4, 4, 4] with index tuples of length 1 (the spec's second example, shortened).
  const ir::Tensor d3 = f32({2, 2, 2}, {1, 2, 3, 4, 5, 6, 7, 8});
  const auto y = run("ScatterND", {d3, i64({1, 1}, {-1}), f32({1, 2, 2}, {9, 9, 9, 9})})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{1, 2, 3, 4, 9, 9, 9, 9}));
  // Large slices spread over threads with many duplicate tuples: still the sequential result.
  const ir::Tensor big = random_floats({4, 5000}, 1);
  const ir::Tensor many = random_int64s({64, 1}, 2, 0, 3);
  const ir::Tensor updates = random_floats({64, 5000}, 3);
  expect_thread_independent("ScatterND", {big, many, updates}, {.opset = 16, .attrs = red("add")});
}

TEST(TensorKernels, rejects_scatter_nd_index_out_of_range) {
  expect_rejected("ScatterND", {f32({4}, {1, 2, 3, 4}), i64({1, 1}, {4}), f32({1}, {0})}, {});
}

TEST(TensorKernels, ScatterElementsAndScatter) {
  const ir::Tensor data = f32({3, 3}, std::vector<float>(9, 0));
  const ir::Tensor ind = i64({2, 3}, {1, 0, 2, 0, 2, 1});
  const ir::Tensor upd = f32({2, 3}, {1.0f, 1.1f, 1.2f, 2.0f, 2.1f, 2.2f});
  const std::vector<float> want = {2.0f, 1.1f, 0, 1.0f, 0, 2.2f, 0, 2.1f, 1.2f};
  EXPECT_EQ(values<float>(run("ScatterElements", {data, ind, upd})[0]), want);
  EXPECT_EQ(values<float>(run("Scatter", {data, ind, upd}, {.opset = 9})[0]), want);
  const ir::Tensor d1 = f32({1, 5}, {1, 2, 3, 4, 5});
  auto y = run("ScatterElements", {d1, i64({1, 2}, {1, -2}), f32({1, 2}, {1.1f, 2.1f})},
               {.attrs = int_attr("axis", 1)})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{1, 1.1f, 3, 2.1f, 5}));
  const auto red = [](const char* r) {
    return [=](ir::Node& n) { set_string(n, "reduction", r); };
  };
  y = run("ScatterElements", {d1, i64({1, 2}, {1, 1}), f32({1, 2}, {1.1f, 2.1f})},
          {.opset = 16, .attrs = both(int_attr("axis", 1), red("add"))})[0];
  EXPECT_FLOAT_EQ(values<float>(y)[1], 2 + 1.1f + 2.1f);
  // Random along each axis against a sequential reference (add, and none: the last duplicate
  // wins), and thread independence; indices smaller than data on the other dims, and as large.
  for (int axis = 0; axis < 6; ++axis) {
    const Dims d = {6, 7, 8}, id = axis < 3 ? Dims{5, 6, 7} : Dims{6, 7, 8};
    const ir::Tensor x = convert(random_floats(d, 9, -5, 5), DType::kInt64);
    const size_t ax = static_cast<size_t>(axis % 3);
    const ir::Tensor ix = random_int64s(id, 10 + axis, -d[ax], d[ax] - 1);
    const ir::Tensor u = convert(random_floats(id, 20 + axis, -5, 5), DType::kInt64);
    std::vector<int64_t> want_add = values<int64_t>(x), want_set = want_add;
    for (int64_t i = 0; i < numel(id); ++i) {
      Dims idx = unravel(i, id);
      const int64_t v = ix.data<int64_t>()[i];
      idx[ax] = v < 0 ? v + d[ax] : v;
      want_add[static_cast<size_t>(ravel(idx, d))] += u.data<int64_t>()[i];
      want_set[static_cast<size_t>(ravel(idx, d))] = u.data<int64_t>()[i];
    }
    const NodeSpec spec{.opset = 18, .attrs = both(int_attr("axis", axis % 3), red("add"))};
    EXPECT_EQ(values<int64_t>(run("ScatterElements", {x, ix, u}, spec)[0]), want_add);
    expect_thread_independent("ScatterElements", {x, ix, u}, spec);
    const NodeSpec none{.attrs = int_attr("axis", axis % 3)};
    EXPECT_EQ(values<int64_t>(run("ScatterElements", {x, ix, u}, none)[0]), want_set);
  }
}

TEST(TensorKernels, rejects_scatter_elements_index_out_of_range) {
  expect_rejected("ScatterElements",
                  {f32({2, 2}, {1, 2, 3, 4}), i64({1, 1}, {2}), f32({1, 1}, {0})}, {});
}

TEST(TensorKernels, rejects_scatter_unknown_reduction) {
  expect_rejected("ScatterElements", {f32({2}, {1, 2}), i64({1}, {0}), f32({1}, {0})},
                  {.opset = 16, .attrs = [](ir::Node& n) { set_string(n, "reduction", "max"); }});
}

// --- Expand, Tile -----------------------------------------------------------------------------

TEST(TensorKernels, ExpandAndTile) {
  const ir::Tensor x = f32({3, 1}, {1, 2, 3});
  auto y = run("Expand", {x, i64({3}, {2, 1, 2})}, {.constant_inputs = {1}})[0];
  EXPECT_EQ(y.dims(), (Dims{2, 3, 2}));
  EXPECT_EQ(values<float>(y), (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  y = run("Expand", {x, i64({1}, {1})}, {.constant_inputs = {1}})[0];
  EXPECT_EQ(y.dims(), (Dims{3, 1}));
  const ir::Tensor t = f32({2, 2}, {1, 2, 3, 4});
  y = run("Tile", {t, i64({2}, {2, 3})}, {.constant_inputs = {1}})[0];
  EXPECT_EQ(y.dims(), (Dims{4, 6}));
  std::vector<double> want;
  for (int64_t i = 0; i < 4; ++i) {
    for (int64_t j = 0; j < 6; ++j) want.push_back(t.data<float>()[(i % 2) * 2 + j % 2]);
  }
  EXPECT_EQ(compare_to_reference(y, want), "");
  // Tile-1: scalar tiles and axis inputs.
  y = run("Tile", {t, i64({}, {3}), i64({}, {0})}, {.opset = 1, .constant_inputs = {1, 2}})[0];
  EXPECT_EQ(y.dims(), (Dims{6, 2}));
  EXPECT_EQ(values<float>(y), (std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}));
  // Random expand against broadcasting by index.
  std::mt19937 rng(6);
  for (int iter = 0; iter < 20; ++iter) {
    const Dims out = random_dims(rng, 1 + iter % 4, 1, 5);
    Dims in = out;
    for (auto& d : in) {
      if (rng() % 2) d = 1;
    }
    in.erase(in.begin(), in.begin() + static_cast<int64_t>(rng() % in.size()));
    const ir::Tensor xi = random_floats(in, iter);
    y = run("Expand", {xi, i64({static_cast<int64_t>(out.size())}, out)},
            {.constant_inputs = {1}})[0];
    ASSERT_EQ(y.dims(), out);
    std::vector<double> w;
    for (int64_t i = 0; i < numel(out); ++i) {
      const Dims idx = unravel(i, out);
      Dims src(in.size());
      for (size_t k = 0; k < in.size(); ++k) {
        src[k] = in[k] == 1 ? 0 : idx[k + out.size() - in.size()];
      }
      w.push_back(xi.data<float>()[ravel(src, in)]);
    }
    EXPECT_EQ(compare_to_reference(y, w), "");
  }
}

TEST(TensorKernels, rejects_expand_incompatible_and_tile_negative) {
  expect_rejected("Expand", {f32({3}, {1, 2, 3}), i64({1}, {2})}, {.constant_inputs = {1}});
  expect_rejected("Tile", {f32({3}, {1, 2, 3}), i64({1}, {-1})}, {.constant_inputs = {1}});
}

// --- Trilu, NonZero, Compress, OneHot, ReverseSequence, Unique --------------------------------

TEST(TensorKernels, TriluRandom) {
  const Dims d = {2, 4, 5};
  const ir::Tensor x = random_floats(d, 13);
  for (int upper = 0; upper < 2; ++upper) {
    for (int64_t k = -5; k <= 6; ++k) {
      const auto y = run("Trilu", {x, i64({}, {k})},
                         {.attrs = int_attr("upper", upper), .constant_inputs = {1}})[0];
      std::vector<double> want;
      for (int64_t i = 0; i < numel(d); ++i) {
        const Dims idx = unravel(i, d);
        const bool keep = upper ? idx[2] - idx[1] >= k : idx[2] - idx[1] <= k;
        want.push_back(keep ? x.data<float>()[i] : 0.0);
      }
      EXPECT_EQ(compare_to_reference(y, want), "") << "upper " << upper << " k " << k;
    }
  }
  // k omitted: the main diagonal.
  EXPECT_EQ(values<float>(run("Trilu", {f32({2, 2}, {1, 2, 3, 4})})[0]),
            (std::vector<float>{1, 2, 0, 4}));
}

TEST(TensorKernels, NonZero) {
  auto y = run("NonZero", {boolean({2, 2}, {1, 0, 1, 1})})[0];
  EXPECT_EQ(y.dims(), (Dims{2, 3}));
  EXPECT_EQ(values<int64_t>(y), (Dims{0, 1, 1, 0, 0, 1}));
  // Large input: chunks write at their prefix offsets.
  const Dims d = {70, 3000};
  const ir::Tensor x = convert(random_floats(d, 17, -1.5f, 1.5f), DType::kInt32);
  y = run("NonZero", {x})[0];
  Dims want0, want1;
  for (int64_t i = 0; i < x.numel(); ++i) {
    if (x.data<int32_t>()[i] != 0) {
      want0.push_back(i / d[1]);
      want1.push_back(i % d[1]);
    }
  }
  ASSERT_EQ(y.dims(), (Dims{2, static_cast<int64_t>(want0.size())}));
  want0.insert(want0.end(), want1.begin(), want1.end());
  EXPECT_EQ(values<int64_t>(y), want0);
  expect_thread_independent("NonZero", {x}, {});
}

TEST(TensorKernels, Compress) {
  const ir::Tensor x = f32({3, 2}, {1, 2, 3, 4, 5, 6});
  auto y = run("Compress", {x, boolean({3}, {0, 1, 1})}, {.attrs = int_attr("axis", 0)})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{3, 4, 5, 6}));
  y = run("Compress", {x, boolean({2}, {0, 1})}, {.attrs = int_attr("axis", -1)})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{2, 4, 6}));
  y = run("Compress", {x, boolean({5}, {0, 1, 0, 0, 1})})[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{2, 5}));
}

TEST(TensorKernels, rejects_compress_condition_past_the_end) {
  expect_rejected("Compress", {f32({2}, {1, 2}), boolean({3}, {1, 0, 1})},
                  {.attrs = int_attr("axis", 0)});
}

TEST(TensorKernels, OneHot) {
  const ir::Tensor values_t = f32({2}, {-1, 5});
  auto y =
      run("OneHot", {i64({3}, {0, -1, 7}), i64({}, {3}), values_t}, {.constant_inputs = {1}})[0];
  EXPECT_EQ(y.dims(), (Dims{3, 3}));
  EXPECT_EQ(values<float>(y), (std::vector<float>{5, -1, -1, -1, -1, 5, -1, -1, -1}));
  y = run("OneHot", {f32({2}, {1.7f, 0}), f32({1}, {2}), values_t},
          {.attrs = int_attr("axis", 0), .constant_inputs = {1}})[0];
  EXPECT_EQ(y.dims(), (Dims{2, 2}));
  EXPECT_EQ(values<float>(y), (std::vector<float>{-1, 5, 5, -1}));
}

TEST(TensorKernels, ReverseSequence) {
  const ir::Tensor x = f32({4, 4}, {0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15});
  auto y = run("ReverseSequence", {x, i64({4}, {4, 3, 2, 1})},
               {.attrs = both(int_attr("time_axis", 0), int_attr("batch_axis", 1))})[0];
  EXPECT_EQ(values<float>(y),
            (std::vector<float>{3, 6, 9, 12, 2, 5, 8, 13, 1, 4, 10, 14, 0, 7, 11, 15}));
  const ir::Tensor x2 = f32({4, 4}, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15});
  y = run("ReverseSequence", {x2, i64({4}, {1, 2, 3, 4})},
          {.attrs = both(int_attr("time_axis", 1), int_attr("batch_axis", 0))})[0];
  EXPECT_EQ(values<float>(y),
            (std::vector<float>{0, 1, 2, 3, 5, 4, 6, 7, 10, 9, 8, 11, 15, 14, 13, 12}));
}

TEST(TensorKernels, rejects_reverse_sequence_length_too_long) {
  expect_rejected("ReverseSequence", {f32({2, 2}, {1, 2, 3, 4}), i64({2}, {1, 3})}, {});
}

TEST(TensorKernels, UniqueSpecExamples) {
  NodeSpec spec{.attrs = int_attr("sorted", 0), .num_outputs = 4};
  auto u = run("Unique", {f32({6}, {2, 1, 1, 3, 4, 3})}, spec);
  EXPECT_EQ(values<float>(u[0]), (std::vector<float>{2, 1, 3, 4}));
  EXPECT_EQ(values<int64_t>(u[1]), (Dims{0, 1, 3, 4}));
  EXPECT_EQ(values<int64_t>(u[2]), (Dims{0, 1, 1, 2, 3, 2}));
  EXPECT_EQ(values<int64_t>(u[3]), (Dims{1, 2, 2, 1}));
  spec.attrs = nullptr;
  u = run("Unique", {f32({2, 2}, {1, 3, 2, 3})}, spec);
  EXPECT_EQ(values<float>(u[0]), (std::vector<float>{1, 2, 3}));
  EXPECT_EQ(values<int64_t>(u[1]), (Dims{0, 2, 1}));
  EXPECT_EQ(values<int64_t>(u[2]), (Dims{0, 2, 1, 2}));
  EXPECT_EQ(values<int64_t>(u[3]), (Dims{1, 1, 2}));
  spec.attrs = int_attr("axis", 0);
  u = run("Unique", {f32({3, 3}, {1, 0, 0, 1, 0, 0, 2, 3, 4})}, spec);
  EXPECT_EQ(values<float>(u[0]), (std::vector<float>{1, 0, 0, 2, 3, 4}));
  EXPECT_EQ(values<int64_t>(u[1]), (Dims{0, 2}));
  EXPECT_EQ(values<int64_t>(u[2]), (Dims{0, 0, 1}));
  EXPECT_EQ(values<int64_t>(u[3]), (Dims{2, 1}));
  spec.attrs = int_attr("axis", -2);
  u = run("Unique", {f32({2, 4, 2}, {1, 1, 0, 1, 2, 1, 0, 1, 1, 1, 0, 1, 2, 1, 0, 1})}, spec);
  EXPECT_EQ(u[0].dims(), (Dims{2, 3, 2}));
  EXPECT_EQ(values<float>(u[0]), (std::vector<float>{0, 1, 1, 1, 2, 1, 0, 1, 1, 1, 2, 1}));
  EXPECT_EQ(values<int64_t>(u[1]), (Dims{1, 0, 2}));
  EXPECT_EQ(values<int64_t>(u[2]), (Dims{1, 0, 2, 0}));
  EXPECT_EQ(values<int64_t>(u[3]), (Dims{2, 1, 1}));
  // Strings sort as strings.
  spec.attrs = nullptr;
  u = run("Unique", {strings({4}, {"b", "a", "b", "c"})}, spec);
  EXPECT_EQ(u[0].strings(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(values<int64_t>(u[2]), (Dims{1, 0, 1, 2}));
}

TEST(TensorKernels, EmptyTensorsGiveEmptyResults) {
  const ir::Tensor e03 = f32({0, 3}, {}), e30 = f32({3, 0}, {});
  EXPECT_EQ(run("Transpose", {e03})[0].dims(), (Dims{3, 0}));
  EXPECT_EQ(run("Trilu", {e30})[0].dims(), (Dims{3, 0}));
  EXPECT_EQ(run("Trilu", {e03})[0].dims(), (Dims{0, 3}));
  EXPECT_EQ(run("Tile", {e30, i64({2}, {2, 2})}, {.constant_inputs = {1}})[0].dims(), (Dims{6, 0}));
  EXPECT_EQ(run("Gather", {e30, i64({2}, {0, 2})})[0].dims(), (Dims{2, 0}));
  EXPECT_EQ(run("GatherElements", {e30, i64({3, 0}, {})}, {.attrs = int_attr("axis", 1)})[0].dims(),
            (Dims{3, 0}));
  EXPECT_EQ(run("NonZero", {e03})[0].dims(), (Dims{2, 0}));
  EXPECT_EQ(run("Unique", {e03}, {.num_outputs = 4})[0].dims(), (Dims{0}));
  EXPECT_EQ(run("ArgMax", {e03}, {.attrs = int_attr("axis", 1)})[0].dims(), (Dims{0, 1}));
  EXPECT_EQ(run("TopK", {e30, i64({1}, {0})}, {.num_outputs = 2, .constant_inputs = {1}})[0].dims(),
            (Dims{3, 0}));
  EXPECT_EQ(run("ReduceSum", {e03, i64({1}, {1})}, {.constant_inputs = {1}})[0].dims(),
            (Dims{0, 1}));
  EXPECT_EQ(run("ReverseSequence", {f32({2, 2, 0}, {}), i64({2}, {1, 2})})[0].dims(),
            (Dims{2, 2, 0}));
}

}  // namespace
}  // namespace mixq
