// The packed-weight GEMM (lib/exec/kernels/packed_gemm.h) against float64 products, on shapes
// that exercise every row and column tail of its 12 × 32 tiles; bit-identity across thread
// counts; and MatMul, Gemm and Conv nodes whose weight is an initializer (packed once) against
// the same nodes with the weight fed as an input (packed per call) and in float64 (Eigen).
#include <gtest/gtest.h>

#include <random>

#include "kernel_runner.h"
#include "kernel_test_util.h"
#include "kernels/packed_gemm.h"

namespace mixq {
namespace {

using namespace testing::kt;  // NOLINT(google-build-using-namespace)

#define SKIP_WITHOUT_PACKED_GEMM()                                                     \
  if (!exec::packed_gemm_available()) {                                                \
    GTEST_SKIP() << "this build has no packed GEMM (MIXQ_NATIVE=OFF or a CPU without " \
                    "AVX-512 or AVX2 with FMA); MatMul, Gemm and Conv use Eigen";      \
  }

std::vector<float> random_vector(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(-1.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// C = A B in float64, and the sum of |a||b| per element (the rounding error scales with it).
void reference(const std::vector<float>& a, const std::vector<float>& b, int64_t M, int64_t N,
               int64_t K, std::vector<double>& c, std::vector<double>& mag) {
  c.assign(static_cast<size_t>(M * N), 0.0);
  mag.assign(c.size(), 0.0);
  for (int64_t i = 0; i < M; ++i) {
    for (int64_t j = 0; j < N; ++j) {
      for (int64_t k = 0; k < K; ++k) {
        const double p = double(a[size_t(i * K + k)]) * double(b[size_t(k * N + j)]);
        c[size_t(i * N + j)] += p;
        mag[size_t(i * N + j)] += std::abs(p);
      }
    }
  }
}

std::string check(const std::vector<float>& got, int64_t M, int64_t N,
                  const std::vector<double>& want, const std::vector<double>& mag) {
  return compare_to_reference(ir::Tensor::from_floats({M, N}, got), want, &mag);
}

struct Shape {
  int64_t M, N, K;
};
// Every row count of a tile (1..12: M, and 13, 37 leave one row) and column tails on both
// sides of the AVX2 pieces' 8- and 16-column halves (N = 8, 9, 15, 17, 20, 24, 31, 33, ...).
const Shape kShapes[] = {{1, 1, 1},      {5, 16, 7},  {12, 32, 64},   {13, 33, 3},
                         {37, 100, 300}, {24, 31, 1}, {128, 96, 256}, {2, 8, 3},
                         {3, 24, 2},     {4, 17, 2},  {6, 15, 2},     {7, 20, 5},
                         {8, 40, 4},     {9, 9, 6},   {10, 48, 3},    {11, 64, 2}};

TEST(PackedGemm, RightMatchesFloat64OnEveryTail) {
  SKIP_WITHOUT_PACKED_GEMM();
  exec::ThreadPool pool(2);
  uint32_t seed = 1;
  for (const auto& s : kShapes) {
    const auto a = random_vector(size_t(s.M * s.K), seed++);
    const auto b = random_vector(size_t(s.K * s.N), seed++);
    std::vector<double> want, mag;
    reference(a, b, s.M, s.N, s.K, want, mag);
    // B as given, and the same B stored transposed ([N, K]) with trans_b.
    std::vector<float> bt(b.size());
    for (int64_t k = 0; k < s.K; ++k) {
      for (int64_t j = 0; j < s.N; ++j) bt[size_t(j * s.K + k)] = b[size_t(k * s.N + j)];
    }
    for (bool trans : {false, true}) {
      auto packed = trans ? exec::pack_right(bt.data(), s.K, s.N, s.K, true)
                          : exec::pack_right(b.data(), s.K, s.N, s.N, false);
      std::vector<float> c(size_t(s.M * s.N), -7.0f);
      exec::gemm_packed_right(&pool, s.M, a.data(), s.K, *packed, c.data(), s.N);
      EXPECT_EQ(check(c, s.M, s.N, want, mag), "")
          << s.M << "x" << s.N << "x" << s.K << " trans_b " << trans;
    }
  }
}

TEST(PackedGemm, LeftMatchesFloat64OnEveryTailWithStridedX) {
  SKIP_WITHOUT_PACKED_GEMM();
  exec::ThreadPool pool(2);
  uint32_t seed = 100;
  for (const auto& s : kShapes) {
    const auto w = random_vector(size_t(s.M * s.K), seed++);
    const auto x = random_vector(size_t(s.K * s.N), seed++);
    std::vector<double> want, mag;
    reference(w, x, s.M, s.N, s.K, want, mag);
    // X read with a leading dimension larger than N, and C written with one too.
    const int64_t ldx = s.N + 5, ldc = s.N + 3;
    std::vector<float> xs(size_t(s.K * ldx), 99.0f);
    for (int64_t k = 0; k < s.K; ++k) {
      for (int64_t j = 0; j < s.N; ++j) xs[size_t(k * ldx + j)] = x[size_t(k * s.N + j)];
    }
    auto packed = exec::pack_left(w.data(), s.M, s.K, s.K);
    std::vector<float> c(size_t(s.M * ldc), -7.0f);
    exec::gemm_packed_left(&pool, *packed, s.N, xs.data(), ldx, c.data(), ldc);
    std::vector<float> dense(size_t(s.M * s.N));
    for (int64_t i = 0; i < s.M; ++i) {
      for (int64_t j = 0; j < s.N; ++j) dense[size_t(i * s.N + j)] = c[size_t(i * ldc + j)];
      for (int64_t j = s.N; j < ldc; ++j) {
        EXPECT_EQ(c[size_t(i * ldc + j)], -7.0f) << "wrote past column " << s.N;
      }
    }
    EXPECT_EQ(check(dense, s.M, s.N, want, mag), "") << s.M << "x" << s.N << "x" << s.K;
  }
}

TEST(PackedGemm, BitIdenticalForAnyThreadCount) {
  SKIP_WITHOUT_PACKED_GEMM();
  const int64_t M = 77, N = 130, K = 257;
  const auto a = random_vector(size_t(M * K), 7);
  const auto b = random_vector(size_t(K * N), 8);
  auto right = exec::pack_right(b.data(), K, N, N, false);
  auto left = exec::pack_left(a.data(), M, K, K);
  std::vector<std::vector<float>> outs;
  for (int threads : {1, 2, 5}) {
    exec::ThreadPool pool(threads);
    std::vector<float> c1(size_t(M * N)), c2(size_t(M * N));
    exec::gemm_packed_right(&pool, M, a.data(), K, *right, c1.data(), N);
    exec::gemm_packed_left(&pool, *left, N, b.data(), N, c2.data(), N);
    EXPECT_EQ(c1, c2) << "left and right are the same products in the same order";
    outs.push_back(c1);
  }
  EXPECT_EQ(outs[0], outs[1]);
  EXPECT_EQ(outs[0], outs[2]);
  exec::ThreadPool pool(2);
  std::vector<float> serial(size_t(M * N));
  exec::gemm_packed_right(nullptr, M, a.data(), K, *right, serial.data(), N);
  EXPECT_EQ(serial, outs[0]);
}

// The node with its weight as an initializer (packed once and kept) and fed as an input
// (packed for the call) gives the same bytes, and both agree with the node run in float64
// (Eigen, no packing) within float32 rounding.
void expect_paths_agree(const std::string& op, const std::vector<std::optional<ir::Tensor>>& in,
                        NodeSpec spec) {
  spec.constant_inputs = {};
  auto fed = run_node(op, in, spec);
  std::vector<std::optional<ir::Tensor>> in64;
  for (const auto& t : in) {
    in64.push_back(t ? std::optional<ir::Tensor>(convert(*t, DType::kFloat64)) : std::nullopt);
  }
  auto f64 = run_node(op, in64, spec);
  spec.constant_inputs = {1};
  auto constant = run_node(op, in, spec);
  ASSERT_TRUE(fed.ok()) << fed.status().to_string();
  ASSERT_TRUE(f64.ok()) << f64.status().to_string();
  ASSERT_TRUE(constant.ok()) << constant.status().to_string();
  const ir::Tensor& a = (*fed)[0];
  const ir::Tensor& b = (*constant)[0];
  ASSERT_EQ(a.dims(), b.dims());
  EXPECT_EQ(to_doubles(a), to_doubles(b)) << op << ": fed and initializer weights differ";
  std::vector<double> want = to_doubles((*f64)[0]), mag(want.size());
  for (size_t i = 0; i < want.size(); ++i) mag[i] = std::abs(want[i]) + 1.0;
  EXPECT_EQ(compare_to_reference(b, want, &mag), "") << op;
}

TEST(PackedGemm, MatMulGemmConvWithInitializerWeightsMatchFedWeights) {
  SKIP_WITHOUT_PACKED_GEMM();
  expect_paths_agree("MatMul", {random_floats({2, 3, 40, 70}, 1), random_floats({70, 45}, 2)},
                     spec(17));
  expect_paths_agree(
      "Gemm", {random_floats({30, 50}, 3), random_floats({20, 50}, 4), random_floats({20}, 5)},
      spec(13, both(int_attr("transB", 1), float_attr("alpha", 0.5f))));
  expect_paths_agree(
      "Conv",
      {random_floats({2, 8, 9, 11}, 6), random_floats({20, 4, 3, 3}, 7), random_floats({20}, 8)},
      spec(13, both(int_attr("group", 2), ints_attr("pads", {1, 0, 1, 2}))));
  expect_paths_agree("Conv", {random_floats({1, 16, 7, 7}, 9), random_floats({24, 16, 1, 1}, 10)},
                     spec(11));
}

// A weight that is not an initializer (in a QDQ model, a DequantizeLinear output) is packed
// for the call, so a row's (an image's) outputs do not depend on how many share the call. With
// such weights multiplied by Eigen, the sums changed with the row count on an AVX2 CPU, and a
// QDQ model's outputs with the data's layout (docs/determinism.md).
TEST(PackedGemm, FedWeightsGiveTheSameBytesForAnyRowCount) {
  SKIP_WITHOUT_PACKED_GEMM();
  expect_rows_independent("MatMul", {random_floats({37, 300}, 40), random_floats({300, 45}, 41)},
                          spec(17));
  expect_rows_independent(
      "Gemm", {random_floats({37, 300}, 42), random_floats({45, 300}, 43), random_floats({45}, 44)},
      spec(13, int_attr("transB", 1)));
  expect_rows_independent("Conv",
                          {random_floats({9, 8, 12, 12}, 45), random_floats({16, 8, 3, 3}, 46),
                           random_floats({16}, 47)},
                          spec(13, ints_attr("pads", {1, 1, 1, 1})));
}

// An empty batch (zero rows) writes nothing and does not divide by its zero blocks; the
// nodes give empty outputs of the right shape on both paths.
TEST(PackedGemm, EmptyBatchGivesEmptyOutputs) {
  SKIP_WITHOUT_PACKED_GEMM();
  exec::ThreadPool pool(2);
  const auto b = random_vector(size_t(7 * 40), 30);
  auto right = exec::pack_right(b.data(), 7, 40, 40, false);
  auto left = exec::pack_left(b.data(), 7, 40, 40);
  float sentinel = -7.0f;
  exec::gemm_packed_right(&pool, 0, nullptr, 7, *right, &sentinel, 40);
  exec::gemm_packed_left(&pool, *left, 0, nullptr, 0, &sentinel, 0);
  EXPECT_EQ(sentinel, -7.0f);
  expect_paths_agree("MatMul", {random_floats({0, 70}, 31), random_floats({70, 45}, 32)}, spec(17));
  expect_paths_agree("MatMul", {random_floats({3, 0, 70}, 33), random_floats({70, 45}, 34)},
                     spec(17));
  expect_paths_agree(
      "Gemm", {random_floats({0, 50}, 35), random_floats({20, 50}, 36), random_floats({20}, 37)},
      spec(13, int_attr("transB", 1)));
}

// Stride-1 convolutions whose padded rows are at least 16 wide take the im2col-free path
// (shifted rows of a padded copy of the input); strided ones take im2col with the packed
// weight. The fed-weight runs use im2col and Eigen.
TEST(PackedGemm, PackedConvPathsMatchEigen) {
  SKIP_WITHOUT_PACKED_GEMM();
  // Asymmetric pads, a 3x5 kernel, two groups, bias, two images: padded width 23, output 9x19.
  expect_paths_agree(
      "Conv",
      {random_floats({2, 6, 10, 20}, 11), random_floats({8, 3, 3, 5}, 12), random_floats({8}, 13)},
      spec(13, both(int_attr("group", 2), ints_attr("pads", {1, 2, 0, 1}))));
  // A ResNet-like layer: 40 output channels (a 4-row tile tail), 32x32 with pads of 1, and
  // enough rows for several items across threads.
  expect_paths_agree("Conv",
                     {random_floats({1, 16, 32, 32}, 14), random_floats({40, 16, 3, 3}, 15)},
                     spec(13, ints_attr("pads", {1, 1, 1, 1})));
  // No padding: the output is narrower than the input rows it reads.
  expect_paths_agree("Conv", {random_floats({1, 4, 6, 30}, 16), random_floats({5, 4, 2, 3}, 17)},
                     spec(13));
  // Stride 2: a 3x3 with pads of 1 on an odd size, a ResNet stem (7x7, pads 3, 3 channels),
  // a 1x1 downsample, and asymmetric pads with a 4x3 kernel.
  const auto stride = [](int64_t s, std::vector<int64_t> pads) {
    return both(ints_attr("strides", {s, s}), ints_attr("pads", pads));
  };
  expect_paths_agree("Conv",
                     {random_floats({2, 8, 33, 35}, 18), random_floats({20, 8, 3, 3}, 19),
                      random_floats({20}, 20)},
                     spec(13, stride(2, {1, 1, 1, 1})));
  expect_paths_agree("Conv", {random_floats({1, 3, 40, 40}, 21), random_floats({16, 3, 7, 7}, 22)},
                     spec(13, stride(2, {3, 3, 3, 3})));
  expect_paths_agree("Conv",
                     {random_floats({1, 16, 40, 40}, 23), random_floats({24, 16, 1, 1}, 24)},
                     spec(13, stride(2, {0, 0, 0, 0})));
  expect_paths_agree("Conv", {random_floats({1, 6, 21, 50}, 25), random_floats({7, 6, 4, 3}, 26)},
                     spec(13, stride(2, {0, 1, 2, 0})));
  // Stride 3, grouped.
  expect_paths_agree("Conv", {random_floats({1, 4, 30, 60}, 27), random_floats({6, 2, 3, 3}, 28)},
                     spec(13, both(int_attr("group", 2), stride(3, {1, 1, 1, 1}))));
}

}  // namespace
}  // namespace mixq
