// The cuBLASLt GEMMs and the cuDNN convolution of lib/gpu/gemm against float64 references and
// the CPU executor, on seeded random inputs. Labelled gpu: without a usable CUDA device every
// test skips and says why.
//
// Error bounds (u = 2^-24, float32's unit roundoff; S = sum_l |a_l b_l|, the dot product's
// magnitude, computed alongside the reference):
//   float32 GEMM:   any summation order of k float32 products, each addition (or FMA) rounded
//                   once, is within gamma_k * S of the exact sum (Higham, Accuracy and Stability,
//                   §3.1): (k + 2) u S with the bias addition and the output rounding. TF32
//                   (10-bit significands) would miss this by three orders of magnitude.
//   float16 GEMM:   products of float16 values are exact in float32; tensor cores add them with
//                   truncation rather than rounding (Fasi, Higham, Mikaitis, Pranesh 2021: up
//                   to 2u per addition), so 2 (k + 2) u S, plus one float16 rounding of the
//                   result (2^-11 relative, 2^-25 absolute below float16's normal range) and
//                   of the bias (cuBLASLt's fused bias is float16 too) for a float16 output.
//                   float16 accumulation would miss this by far.
//   FP8 GEMM:       the reference dequantizes the E4M3 codes exactly and sums in float64
//                   (exact: products of 4-bit significands over k <= 4096 span fewer than 53
//                   bits). The GPU does not accumulate in true float32: Hopper's FP8 tensor
//                   cores align the products of a block to the largest exponent and keep about
//                   14 significand bits (DeepSeek-V3 technical report, §3.3.2); cuBLASLt's
//                   precise mode (FAST_ACCUM off) adds those block sums in float32. Measured on
//                   an H100 (cuBLASLt 13.1), max |error| / S was 2^-14.1 at k = 64 (2^-12.6
//                   with the float32 epilogue), 2^-14.4 at k = 512 and 2^-16.7 at k = 4096,
//                   where k u would be 2^-18, 2^-15 and 2^-12: not a k u S bound. The
//                   bound is 2^-11 S (four times the worst seen) + 2 (k + 2) u S for the float32
//                   part, scaled by a_scale * b_scale * channel_scale; then the scalings and
//                   the bias, each one float32 rounding (4 u |y| in all), and one rounding to
//                   a 16-bit output (2^-11 float16, 2^-8 bfloat16). A wrong scale, operand
//                   order or format is off by O(|y|) or O(S) and fails it.
//   INT8 GEMM:      the int32 accumulator must equal the int64 host dot product exactly (read
//                   back through a unit-scale float32 output, exact below 2^24). Dequantized:
//                   float(acc) * fl(a_scale * channel_scale) + bias in one FMA is within
//                   2 u |acc a_scale cs| + u |y| of the exact value, plus the float16 rounding.
//   Convolution:    the CPU executor and cuDNN each sum K = c/group * kh * kw float32 products
//                   within (K + 2) u S, so they differ by at most 2 (K + 2) u S; S is the
//                   executor's Conv of |x| and |w| (and |bias|). float16 adds the tensor-core
//                   factor 2 and two float16 roundings: the convolution's (of y - bias, which
//                   can be larger than y) and then the bias addition's.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "kernel_runner.h"
#include "kernel_test_util.h"
#include "mixq/core/float8.h"
#include "mixq/core/float_bits.h"
#include "mixq/gpu/device.h"
#include "mixq/gpu/gemm/gemm.h"
#include "mixq/gpu/memory.h"

namespace mixq {
namespace {

using namespace testing::kt;  // NOLINT(google-build-using-namespace)

constexpr double kU = 0x1p-24;         // float32 unit roundoff
constexpr double kU16 = 0x1p-11;       // float16
constexpr double kUBf16 = 0x1p-8;      // bfloat16
constexpr double kHalfTiny = 0x1p-25;  // half of float16's subnormal spacing
// FP8 tensor-core accumulation error relative to S (see the file comment): 4x the worst seen.
constexpr double kFp8Accumulation = 0x1p-11;

double output_rounding(DType out) {
  switch (out) {
    case DType::kFloat16:
      return kU16;
    case DType::kBFloat16:
      return kUBf16;
    default:
      return kU;
  }
}
double output_tiny(DType out) { return out == DType::kFloat16 ? kHalfTiny : 0x1p-149; }

// Every test needs a device, a stream and a GEMM context.
class GpuGemm : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!gpu::device_available()) {
      const gpu::Discovery d = gpu::discover_devices();
      GTEST_SKIP() << "no usable CUDA device: " << (d.reason.empty() ? gpu::describe(d) : d.reason)
                   << " — run on a GPU machine";
    }
    auto stream = gpu::Stream::create();
    ASSERT_TRUE(stream.ok()) << stream.status().to_string();
    stream_ = std::move(*stream);
    auto ctx = gpu::GemmContext::create(stream_.handle());
    ASSERT_TRUE(ctx.ok()) << ctx.status().to_string();
    ctx_ = std::move(*ctx);
  }

  gpu::StreamHandle s() const { return stream_.handle(); }
  gpu::GemmContext& ctx() { return *ctx_; }

  // A device copy of `v` (plus `extra` bytes, for deliberately misaligned views).
  template <typename T>
  gpu::DeviceBuffer up(const std::vector<T>& v, size_t offset_bytes = 0) {
    auto b = gpu::DeviceBuffer::allocate(v.size() * sizeof(T) + offset_bytes + 1);
    EXPECT_TRUE(b.ok()) << b.status().to_string();
    if (!b.ok()) {
      buffers_failed_ = true;
      return {};
    }
    const Status st = gpu::copy_to_device(static_cast<char*>(b->data()) + offset_bytes, v.data(),
                                          v.size() * sizeof(T), s());
    EXPECT_TRUE(st.ok()) << st.to_string();
    const Status sync = stream_.synchronize();
    EXPECT_TRUE(sync.ok()) << sync.to_string();
    if (!st.ok() || !sync.ok()) buffers_failed_ = true;
    return std::move(*b);
  }
  gpu::DeviceBuffer zeros(size_t bytes) {
    auto b = gpu::DeviceBuffer::allocate(bytes);
    EXPECT_TRUE(b.ok()) << b.status().to_string();
    if (!b.ok()) {
      buffers_failed_ = true;
      return {};
    }
    const Status st = gpu::memset_device(b->data(), 0, bytes, s());
    EXPECT_TRUE(st.ok()) << st.to_string();
    if (!st.ok()) buffers_failed_ = true;
    return std::move(*b);
  }
  template <typename T>
  std::vector<T> down(const void* p, size_t count) {
    std::vector<T> v(count);
    const Status st = gpu::copy_to_host(v.data(), p, count * sizeof(T), s());
    EXPECT_TRUE(st.ok()) << st.to_string();
    return v;
  }
  // True once an upload or allocation above failed (and reported it).
  bool buffers_failed() const { return buffers_failed_; }

  // y read back as doubles, whatever its dtype.
  std::vector<double> down_as_doubles(const void* p, size_t count, DType t) {
    std::vector<double> out(count);
    if (t == DType::kFloat32) {
      const auto v = down<float>(p, count);
      std::copy(v.begin(), v.end(), out.begin());
    } else {
      const auto v = down<uint16_t>(p, count);
      for (size_t i = 0; i < count; ++i) {
        out[i] = t == DType::kFloat16 ? float16_to_float(v[i]) : bfloat16_to_float(v[i]);
      }
    }
    return out;
  }

 private:
  gpu::Stream stream_;
  std::unique_ptr<gpu::GemmContext> ctx_;  // after stream_: destroyed first
  bool buffers_failed_ = false;
};

std::vector<float> uniform(size_t n, uint32_t seed, float lo, float hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = dist(rng);
  return v;
}

// Checks |got - want| <= bound elementwise; on failure names the first few offenders and the
// largest error relative to its bound.
void expect_within(const std::vector<double>& got, const std::vector<double>& want,
                   const std::vector<double>& bound, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  double worst = 0.0;
  std::string first;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::fabs(got[i] - want[i]);
    const double ratio = bound[i] > 0 ? err / bound[i] : (err > 0 ? INFINITY : 0.0);
    worst = std::max(worst, ratio);
    if (!(err <= bound[i])) {
      if (bad < 3) {
        first += str_cat(" [", i, "] got ", got[i], " want ", want[i], " (error ", err, ", bound ",
                         bound[i], ")");
      }
      ++bad;
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size()
                    << " elements out of bounds; worst error/bound " << worst << ";" << first;
}

// The float64 product of row-major A[m,k] and B[n,k]^T (from float values) with its magnitude
// S = sum |a b|, both [m, n].
void reference_gemm(const std::vector<double>& a, const std::vector<double>& b, int64_t m,
                    int64_t n, int64_t k, std::vector<double>* y, std::vector<double>* mag) {
  y->assign(static_cast<size_t>(m * n), 0.0);
  mag->assign(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0.0, sa = 0.0;
      for (int64_t l = 0; l < k; ++l) {
        const double p = a[static_cast<size_t>(i * k + l)] * b[static_cast<size_t>(j * k + l)];
        s += p;
        sa += std::fabs(p);
      }
      (*y)[static_cast<size_t>(i * n + j)] = s;
      (*mag)[static_cast<size_t>(i * n + j)] = sa;
    }
  }
}

struct Shape {
  int64_t m, n, k;
};

// --- float32 ----------------------------------------------------------------------------------

TEST_F(GpuGemm, F32MatchesFloat64Reference) {
  const Shape shapes[] = {{1, 1, 1}, {7, 13, 5}, {64, 96, 128}, {129, 257, 300}, {3, 2048, 1024}};
  uint32_t seed = 1;
  for (const Shape& sh : shapes) {
    for (bool with_bias : {false, true}) {
      const auto a = uniform(static_cast<size_t>(sh.m * sh.k), seed++, -1.0f, 1.0f);
      const auto b = uniform(static_cast<size_t>(sh.n * sh.k), seed++, -1.0f, 1.0f);
      const auto bias = uniform(static_cast<size_t>(sh.n), seed++, -2.0f, 2.0f);
      gpu::DeviceBuffer da = up(a), db = up(b), dbias = up(bias);
      gpu::DeviceBuffer dy = zeros(static_cast<size_t>(sh.m * sh.n) * 4);
      ASSERT_FALSE(buffers_failed());
      gpu::GemmArgs g{sh.m,
                      sh.n,
                      sh.k,
                      da.data(),
                      db.data(),
                      dy.data(),
                      with_bias ? static_cast<const float*>(dbias.data()) : nullptr};
      const std::string what =
          str_cat("gemm_f32 m=", sh.m, " n=", sh.n, " k=", sh.k, " bias=", with_bias);
      const Status st = gpu::gemm_f32(ctx(), g);
      ASSERT_TRUE(st.ok()) << what << ": " << st.to_string();
      std::vector<double> want, mag;
      reference_gemm({a.begin(), a.end()}, {b.begin(), b.end()}, sh.m, sh.n, sh.k, &want, &mag);
      std::vector<double> bound(want.size());
      for (size_t i = 0; i < want.size(); ++i) {
        const double bj = with_bias ? bias[i % static_cast<size_t>(sh.n)] : 0.0;
        want[i] += bj;
        bound[i] = (static_cast<double>(sh.k) + 2) * kU * (mag[i] + std::fabs(bj)) * 1.01;
      }
      expect_within(down_as_doubles(dy.data(), want.size(), DType::kFloat32), want, bound, what);
    }
  }
}

// Attention-style strided batches in one call: every matrix against its own float64 product
// (float32, and float16 inputs with float32 output), and stride mistakes would mix matrices.
TEST_F(GpuGemm, BatchedMatchesPerMatrixReference) {
  const int64_t batch = 6, m = 5, n = 7, k = 9;
  for (DType in : {DType::kFloat32, DType::kFloat16}) {
    auto a = uniform(static_cast<size_t>(batch * m * k), 41, -1.0f, 1.0f);
    auto b = uniform(static_cast<size_t>(batch * n * k), 42, -1.0f, 1.0f);
    gpu::DeviceBuffer da, db;
    if (in == DType::kFloat16) {
      std::vector<uint16_t> ha(a.size()), hb(b.size());
      for (size_t i = 0; i < a.size(); ++i) ha[i] = float_to_float16(a[i]);
      for (size_t i = 0; i < b.size(); ++i) hb[i] = float_to_float16(b[i]);
      for (size_t i = 0; i < a.size(); ++i) a[i] = float16_to_float(ha[i]);
      for (size_t i = 0; i < b.size(); ++i) b[i] = float16_to_float(hb[i]);
      da = up(ha);
      db = up(hb);
    } else {
      da = up(a);
      db = up(b);
    }
    gpu::DeviceBuffer dy = zeros(static_cast<size_t>(batch * m * n) * 4);
    ASSERT_FALSE(buffers_failed());
    const gpu::GemmArgs g{m, n, k, da.data(), db.data(), dy.data(), nullptr};
    const Status st = gpu::gemm_batched(ctx(), g, batch, m * k, n * k, m * n, in, DType::kFloat32);
    ASSERT_TRUE(st.ok()) << st.to_string();
    const auto got =
        down_as_doubles(dy.data(), static_cast<size_t>(batch * m * n), DType::kFloat32);
    for (int64_t i = 0; i < batch; ++i) {
      std::vector<double> want, mag;
      reference_gemm({a.begin() + i * m * k, a.begin() + (i + 1) * m * k},
                     {b.begin() + i * n * k, b.begin() + (i + 1) * n * k}, m, n, k, &want, &mag);
      std::vector<double> bound(want.size());
      for (size_t j = 0; j < want.size(); ++j) bound[j] = 2 * (k + 2) * kU * mag[j] * 1.01;
      expect_within({got.begin() + i * m * n, got.begin() + (i + 1) * m * n}, want, bound,
                    str_cat("gemm_batched ", dtype_name(in), " matrix ", i));
    }
  }
  // A bias is refused (the batched call takes none).
  float bias = 0;
  const gpu::GemmArgs with_bias{m, n, k, nullptr, nullptr, nullptr, &bias};
  EXPECT_EQ(
      gpu::gemm_batched(ctx(), with_bias, batch, 0, 0, 0, DType::kFloat32, DType::kFloat32).code(),
      StatusCode::kUnsupported);
}

// Operands at 4-byte (not 16- or 256-byte) aligned addresses: the heuristic is told the real
// alignment and must pick a kernel that copes.
TEST_F(GpuGemm, F32HandlesMisalignedPointers) {
  const int64_t m = 33, n = 17, k = 29;
  const auto a = uniform(static_cast<size_t>(m * k), 11, -1.0f, 1.0f);
  const auto b = uniform(static_cast<size_t>(n * k), 12, -1.0f, 1.0f);
  gpu::DeviceBuffer da = up(a, 4), db = up(b, 12);
  gpu::DeviceBuffer dy = zeros(static_cast<size_t>(m * n) * 4 + 8);
  ASSERT_FALSE(buffers_failed());
  void* y = static_cast<char*>(dy.data()) + 4;
  gpu::GemmArgs g{
      m, n, k, static_cast<char*>(da.data()) + 4, static_cast<char*>(db.data()) + 12, y, nullptr};
  const Status st = gpu::gemm_f32(ctx(), g);
  ASSERT_TRUE(st.ok()) << st.to_string();
  std::vector<double> want, mag;
  reference_gemm({a.begin(), a.end()}, {b.begin(), b.end()}, m, n, k, &want, &mag);
  std::vector<double> bound(want.size());
  for (size_t i = 0; i < want.size(); ++i) bound[i] = (k + 2) * kU * mag[i] * 1.01;
  expect_within(down_as_doubles(y, want.size(), DType::kFloat32), want, bound, "misaligned");
}

// k = 0: the empty sum, so y is the bias.
TEST_F(GpuGemm, EmptyKGivesTheBias) {
  const std::vector<float> bias = {1.5f, -2.0f, 0.25f};
  gpu::DeviceBuffer dbias = up(bias);
  gpu::DeviceBuffer dy = zeros(2 * 3 * 4);
  ASSERT_FALSE(buffers_failed());
  gpu::GemmArgs g{2, 3, 0, nullptr, nullptr, dy.data(), static_cast<const float*>(dbias.data())};
  ASSERT_TRUE(gpu::gemm_f32(ctx(), g).ok());
  EXPECT_EQ(down<float>(dy.data(), 6),
            (std::vector<float>{1.5f, -2.0f, 0.25f, 1.5f, -2.0f, 0.25f}));
}

// --- float16 ----------------------------------------------------------------------------------

std::vector<uint16_t> to_half(const std::vector<float>& v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i) h[i] = float_to_float16(v[i]);
  return h;
}
std::vector<double> half_values(const std::vector<uint16_t>& h) {
  std::vector<double> d(h.size());
  for (size_t i = 0; i < h.size(); ++i) d[i] = float16_to_float(h[i]);
  return d;
}

TEST_F(GpuGemm, F16MatchesFloat64ReferenceOfRoundedInputs) {
  const Shape shapes[] = {{3, 5, 7}, {16, 24, 40}, {100, 72, 264}, {256, 512, 1024}};
  uint32_t seed = 100;
  for (const Shape& sh : shapes) {
    for (DType out : {DType::kFloat32, DType::kFloat16}) {
      for (bool with_bias : {false, true}) {
        const auto a = to_half(uniform(static_cast<size_t>(sh.m * sh.k), seed++, -2.0f, 2.0f));
        const auto b = to_half(uniform(static_cast<size_t>(sh.n * sh.k), seed++, -2.0f, 2.0f));
        const auto bias = uniform(static_cast<size_t>(sh.n), seed++, -4.0f, 4.0f);
        gpu::DeviceBuffer da = up(a), db = up(b), dbias = up(bias);
        gpu::DeviceBuffer dy = zeros(static_cast<size_t>(sh.m * sh.n) * 4);
        ASSERT_FALSE(buffers_failed());
        gpu::GemmArgs g{sh.m,
                        sh.n,
                        sh.k,
                        da.data(),
                        db.data(),
                        dy.data(),
                        with_bias ? static_cast<const float*>(dbias.data()) : nullptr};
        const std::string what = str_cat("gemm_f16 m=", sh.m, " n=", sh.n, " k=", sh.k, " out ",
                                         dtype_name(out), " bias=", with_bias);
        const Status st = gpu::gemm_f16(ctx(), g, out);
        ASSERT_TRUE(st.ok()) << what << ": " << st.to_string();
        std::vector<double> want, mag;
        reference_gemm(half_values(a), half_values(b), sh.m, sh.n, sh.k, &want, &mag);
        std::vector<double> bound(want.size());
        for (size_t i = 0; i < want.size(); ++i) {
          const double bj = with_bias ? bias[i % static_cast<size_t>(sh.n)] : 0.0;
          want[i] += bj;
          bound[i] = 2 * (static_cast<double>(sh.k) + 2) * kU * (mag[i] + std::fabs(bj)) * 1.01;
          // float16 out: the result's rounding, and the bias's (cuBLASLt's fused bias has D's
          // type).
          if (out == DType::kFloat16) {
            bound[i] += kU16 * (std::fabs(want[i]) + std::fabs(bj)) * 1.01 + kHalfTiny;
          }
        }
        expect_within(down_as_doubles(dy.data(), want.size(), out), want, bound, what);
      }
    }
  }
}

TEST_F(GpuGemm, rejects_f16_bfloat16_output) {
  gpu::GemmArgs g{4, 4, 4, nullptr, nullptr, nullptr, nullptr};
  const Status st = gpu::gemm_f16(ctx(), g, DType::kBFloat16);
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
  EXPECT_NE(st.message().find("bfloat16"), std::string::npos) << st.message();
}

// --- FP8 ----------------------------------------------------------------------------------------

struct Fp8Case {
  Shape shape;
  DType out;
  bool channel_scale;
  bool bias;
};

TEST_F(GpuGemm, Fp8MatchesQdqSimulation) {
  if (ctx().compute_capability() < 89) {
    GTEST_SKIP() << "FP8 needs sm_89+; this device is sm_" << ctx().compute_capability()
                 << " (Fp8UnsupportedBeforeSm89 covers it)";
  }
  const Fp8Case cases[] = {
      {{16, 32, 64}, DType::kFloat32, true, true},
      {{16, 32, 64}, DType::kFloat32, false, false},
      {{128, 256, 512}, DType::kFloat32, true, true},
      {{128, 256, 512}, DType::kFloat16, true, true},
      {{128, 256, 512}, DType::kBFloat16, true, false},
      {{128, 256, 512}, DType::kBFloat16, false, false},
      {{128, 256, 512}, DType::kFloat16, false, false},
      // m is cuBLASLt's column count: no alignment rule applies to it.
      {{33, 48, 64}, DType::kFloat32, true, true},
      {{33, 48, 64}, DType::kFloat16, false, true},
      // Many promotions of partial sums to float32.
      {{64, 128, 4096}, DType::kFloat32, false, false},
  };
  uint32_t seed = 200;
  for (const Fp8Case& tc : cases) {
    const Shape sh = tc.shape;
    // Codes of values in [-6, 6]: normals and subnormals of E4M3 (largest 448).
    auto encode = [](const std::vector<float>& v) {
      std::vector<uint8_t> c(v.size());
      for (size_t i = 0; i < v.size(); ++i) c[i] = float_to_float8e4m3fn(v[i]);
      return c;
    };
    auto decode = [](const std::vector<uint8_t>& c) {
      std::vector<double> d(c.size());
      for (size_t i = 0; i < c.size(); ++i) d[i] = float8e4m3fn_to_float(c[i]);
      return d;
    };
    const auto a = encode(uniform(static_cast<size_t>(sh.m * sh.k), seed++, -6.0f, 6.0f));
    const auto b = encode(uniform(static_cast<size_t>(sh.n * sh.k), seed++, -6.0f, 6.0f));
    const auto cs = uniform(static_cast<size_t>(sh.n), seed++, 0.25f, 2.0f);
    const auto bias = uniform(static_cast<size_t>(sh.n), seed++, -3.0f, 3.0f);
    const std::vector<float> scales = {0.0371f, 0.5f};
    gpu::DeviceBuffer da = up(a), db = up(b), dcs = up(cs), dbias = up(bias), dsc = up(scales);
    gpu::DeviceBuffer dy = zeros(static_cast<size_t>(sh.m * sh.n) * 4);
    ASSERT_FALSE(buffers_failed());
    const auto* sc = static_cast<const float*>(dsc.data());
    gpu::GemmArgs g{sh.m,
                    sh.n,
                    sh.k,
                    da.data(),
                    db.data(),
                    dy.data(),
                    tc.bias ? static_cast<const float*>(dbias.data()) : nullptr};
    const Status st =
        gpu::gemm_fp8(ctx(), g, sc, sc + 1,
                      tc.channel_scale ? static_cast<const float*>(dcs.data()) : nullptr, tc.out);
    const std::string what =
        str_cat("gemm_fp8 m=", sh.m, " n=", sh.n, " k=", sh.k, " out ", dtype_name(tc.out),
                " channel_scale=", tc.channel_scale, " bias=", tc.bias);
    ASSERT_TRUE(st.ok()) << what << ": " << st.to_string();
    std::vector<double> want, mag;
    reference_gemm(decode(a), decode(b), sh.m, sh.n, sh.k, &want, &mag);
    std::vector<double> bound(want.size());
    for (size_t i = 0; i < want.size(); ++i) {
      const size_t j = i % static_cast<size_t>(sh.n);
      const double s =
          static_cast<double>(scales[0]) * scales[1] * (tc.channel_scale ? cs[j] : 1.0);
      const double bj = tc.bias ? bias[j] : 0.0;
      want[i] = want[i] * s + bj;
      bound[i] = ((kFp8Accumulation + 2 * (static_cast<double>(sh.k) + 2) * kU) * mag[i] * s +
                  4 * kU * (std::fabs(want[i]) + std::fabs(bj)) +
                  output_rounding(tc.out) * std::fabs(want[i])) *
                     1.01 +
                 output_tiny(tc.out);
    }
    const auto got = down_as_doubles(dy.data(), want.size(), tc.out);
    expect_within(got, want, bound, what);
  }
}

// Shapes that break cuBLASLt's FP8 rules are refused, naming m, n and k, so that the caller can
// fall back to FP16.
TEST_F(GpuGemm, rejects_fp8_shapes_off_16_bytes) {
  if (ctx().compute_capability() < 89) GTEST_SKIP() << "FP8 needs sm_89+";
  gpu::DeviceBuffer buf = zeros(1 << 16);
  ASSERT_FALSE(buffers_failed());
  gpu::GemmArgs g{16, 32, 40, buf.data(), buf.data(), buf.data(), nullptr};
  Status st = gpu::gemm_fp8(ctx(), g, nullptr, nullptr, nullptr, DType::kFloat32);
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
  EXPECT_NE(st.message().find("m=16 n=32 k=40"), std::string::npos) << st.message();
  // n * sizeof(float16) = 40 bytes.
  g = {16, 20, 64, buf.data(), buf.data(), buf.data(), nullptr};
  st = gpu::gemm_fp8(ctx(), g, nullptr, nullptr, nullptr, DType::kFloat16);
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
  EXPECT_NE(st.message().find("m=16 n=20 k=64"), std::string::npos) << st.message();
}

TEST_F(GpuGemm, Fp8UnsupportedBeforeSm89) {
  gpu::DeviceBuffer buf = zeros(1 << 16);
  ASSERT_FALSE(buffers_failed());
  const gpu::GemmArgs g{16, 32, 64, buf.data(), buf.data(), buf.data(), nullptr};
  if (ctx().compute_capability() < 89) {
    const Status st = gpu::gemm_fp8(ctx(), g, nullptr, nullptr, nullptr, DType::kFloat32);
    EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
  }
  // On any device: behaving as an sm_86 (Ampere) part, FP8 is refused before cuBLASLt is asked.
  ctx().limit_compute_capability_for_testing(86);
  const Status st = gpu::gemm_fp8(ctx(), g, nullptr, nullptr, nullptr, DType::kFloat32);
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
  EXPECT_NE(st.message().find("sm_89"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("sm_86"), std::string::npos) << st.message();
}

// --- INT8 ---------------------------------------------------------------------------------------

std::vector<int8_t> random_int8(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> dist(-128, 127);
  std::vector<int8_t> v(n);
  for (int8_t& x : v) x = static_cast<int8_t>(dist(rng));
  return v;
}

std::vector<int64_t> int_gemm(const std::vector<int8_t>& a, const std::vector<int8_t>& b, int64_t m,
                              int64_t n, int64_t k) {
  std::vector<int64_t> y(static_cast<size_t>(m * n));
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      int64_t s = 0;
      for (int64_t l = 0; l < k; ++l) {
        s += int64_t{a[static_cast<size_t>(i * k + l)]} * b[static_cast<size_t>(j * k + l)];
      }
      y[static_cast<size_t>(i * n + j)] = s;
    }
  }
  return y;
}

// Unit scale, no bias, float32 out: y is float(acc), exact below 2^24 and otherwise the one
// round-to-nearest conversion both sides make.
TEST_F(GpuGemm, Int8AccumulatesExactly) {
  // The third shape sums 4096 products (|acc| up to 2^26: the conversion to float rounds, the
  // same way on both sides); the last spans two row blocks of the int32 scratch (128 MiB /
  // (4096 * 4 bytes) = 8192 rows per block).
  const Shape shapes[] = {{16, 32, 64}, {77, 128, 516}, {5, 8, 4096}, {8256, 4096, 16}};
  uint32_t seed = 300;
  for (const Shape& sh : shapes) {
    const auto a = random_int8(static_cast<size_t>(sh.m * sh.k), seed++);
    const auto b = random_int8(static_cast<size_t>(sh.n * sh.k), seed++);
    gpu::DeviceBuffer da = up(a), db = up(b);
    gpu::DeviceBuffer dy = zeros(static_cast<size_t>(sh.m * sh.n) * 4);
    ASSERT_FALSE(buffers_failed());
    gpu::GemmArgs g{sh.m, sh.n, sh.k, da.data(), db.data(), dy.data(), nullptr};
    const Status st = gpu::gemm_int8(ctx(), g, 1.0f, nullptr, DType::kFloat32);
    ASSERT_TRUE(st.ok()) << "m=" << sh.m << " n=" << sh.n << " k=" << sh.k << ": "
                         << st.to_string();
    const auto want = int_gemm(a, b, sh.m, sh.n, sh.k);
    const auto got = down<float>(dy.data(), want.size());
    int bad = 0;
    std::string first;
    for (size_t i = 0; i < want.size(); ++i) {
      if (got[i] != static_cast<float>(want[i])) {
        if (bad++ == 0) first = str_cat("[", i, "] got ", got[i], " want ", want[i]);
      }
    }
    EXPECT_EQ(bad, 0) << "gemm_int8 m=" << sh.m << " n=" << sh.n << " k=" << sh.k << ": " << bad
                      << " inexact; first " << first;
  }
}

TEST_F(GpuGemm, Int8Dequantizes) {
  const Shape sh{48, 64, 128};
  const auto a = random_int8(static_cast<size_t>(sh.m * sh.k), 400);
  const auto b = random_int8(static_cast<size_t>(sh.n * sh.k), 401);
  const auto cs = uniform(static_cast<size_t>(sh.n), 402, 1e-4f, 1e-2f);
  const auto bias = uniform(static_cast<size_t>(sh.n), 403, -2.0f, 2.0f);
  const float a_scale = 0.0123f;
  gpu::DeviceBuffer da = up(a), db = up(b), dcs = up(cs), dbias = up(bias);
  gpu::DeviceBuffer dy = zeros(static_cast<size_t>(sh.m * sh.n) * 4);
  ASSERT_FALSE(buffers_failed());
  const auto acc = int_gemm(a, b, sh.m, sh.n, sh.k);
  for (DType out : {DType::kFloat32, DType::kFloat16}) {
    gpu::GemmArgs g{
        sh.m, sh.n, sh.k, da.data(), db.data(), dy.data(), static_cast<const float*>(dbias.data())};
    const Status st = gpu::gemm_int8(ctx(), g, a_scale, static_cast<const float*>(dcs.data()), out);
    ASSERT_TRUE(st.ok()) << st.to_string();
    std::vector<double> want(acc.size()), bound(acc.size());
    for (size_t i = 0; i < acc.size(); ++i) {
      const size_t j = i % static_cast<size_t>(sh.n);
      const double scaled = static_cast<double>(acc[i]) * a_scale * cs[j];
      want[i] = scaled + bias[j];
      bound[i] = (2 * kU * std::fabs(scaled) + kU * std::fabs(want[i])) * 1.01;
      if (out == DType::kFloat16) bound[i] += kU16 * std::fabs(want[i]) * 1.01 + kHalfTiny;
    }
    expect_within(down_as_doubles(dy.data(), acc.size(), out), want, bound,
                  str_cat("gemm_int8 dequantized to ", dtype_name(out)));
  }
}

TEST_F(GpuGemm, rejects_int8_k_not_multiple_of_4) {
  gpu::DeviceBuffer buf = zeros(1 << 16);
  ASSERT_FALSE(buffers_failed());
  gpu::GemmArgs g{8, 8, 6, buf.data(), buf.data(), buf.data(), nullptr};
  Status st = gpu::gemm_int8(ctx(), g, 1.0f, nullptr, DType::kFloat32);
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
  EXPECT_NE(st.message().find("m=8 n=8 k=6"), std::string::npos) << st.message();
  g.k = 8;
  st = gpu::gemm_int8(ctx(), g, 1.0f, nullptr, DType::kBFloat16);
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
}

// --- Convolution --------------------------------------------------------------------------------

struct ConvCase {
  std::vector<int64_t> x;  // n, c, h, w
  int64_t out_c, kh, kw;
  std::vector<int64_t> pads;  // ONNX order: top, left, bottom, right
  std::vector<int64_t> strides, dilations;
  int64_t group;
  bool bias;
};

std::vector<float> abs_values(std::vector<float> v) {
  for (float& x : v) x = std::fabs(x);
  return v;
}

class GpuConv : public GpuGemm {
 protected:
  void run_case(const ConvCase& tc, DType dtype, uint32_t seed) {
    const int64_t n = tc.x[0], c = tc.x[1], h = tc.x[2], w = tc.x[3];
    const std::vector<int64_t> wdims = {tc.out_c, c / tc.group, tc.kh, tc.kw};
    auto xs = uniform(static_cast<size_t>(n * c * h * w), seed, -1.0f, 1.0f);
    auto ws = uniform(static_cast<size_t>(tc.out_c * (c / tc.group) * tc.kh * tc.kw), seed + 1,
                      -1.0f, 1.0f);
    const auto bs = uniform(static_cast<size_t>(tc.out_c), seed + 2, -1.0f, 1.0f);
    if (dtype == DType::kFloat16) {  // the reference sees the float16 values the device sees
      for (float& v : xs) v = float16_to_float(float_to_float16(v));
      for (float& v : ws) v = float16_to_float(float_to_float16(v));
    }
    auto attrs = [&](ir::Node& node) {
      set_ints(node, "pads", tc.pads);
      set_ints(node, "strides", tc.strides);
      set_ints(node, "dilations", tc.dilations);
      set_int(node, "group", tc.group);
    };
    std::vector<std::optional<ir::Tensor>> in = {f32(tc.x, xs), f32(wdims, ws)};
    std::vector<std::optional<ir::Tensor>> in_abs = {f32(tc.x, abs_values(xs)),
                                                     f32(wdims, abs_values(ws))};
    if (tc.bias) {
      in.push_back(f32({tc.out_c}, bs));
      in_abs.push_back(f32({tc.out_c}, abs_values(bs)));
    }
    auto want = run_node("Conv", in, {.opset = 17, .attrs = attrs});
    auto mag = run_node("Conv", in_abs, {.opset = 17, .attrs = attrs});
    ASSERT_TRUE(want.ok()) << want.status().to_string();
    ASSERT_TRUE(mag.ok()) << mag.status().to_string();
    const ir::Tensor& yref = (*want)[0];
    ASSERT_EQ(yref.rank(), 4u);

    gpu::ConvArgs a;
    a.n = n;
    a.c = c;
    a.h = h;
    a.w = w;
    a.out_c = tc.out_c;
    a.kernel_h = tc.kh;
    a.kernel_w = tc.kw;
    a.stride_h = tc.strides[0];
    a.stride_w = tc.strides[1];
    a.pad_top = tc.pads[0];
    a.pad_left = tc.pads[1];
    a.pad_bottom = tc.pads[2];
    a.pad_right = tc.pads[3];
    a.dilation_h = tc.dilations[0];
    a.dilation_w = tc.dilations[1];
    a.group = tc.group;
    a.out_h = yref.dims()[2];
    a.out_w = yref.dims()[3];
    a.dtype = dtype;
    gpu::DeviceBuffer dx, dw;
    if (dtype == DType::kFloat16) {
      dx = up(to_half(xs));
      dw = up(to_half(ws));
    } else {
      dx = up(xs);
      dw = up(ws);
    }
    gpu::DeviceBuffer db = up(bs);
    const size_t count = static_cast<size_t>(yref.numel());
    gpu::DeviceBuffer dy = zeros(count * 4);
    ASSERT_FALSE(buffers_failed());
    a.x = dx.data();
    a.weight = dw.data();
    a.bias = tc.bias ? static_cast<const float*>(db.data()) : nullptr;
    a.y = dy.data();
    const Status st = gpu::conv2d_cudnn(ctx(), a);
    ASSERT_TRUE(st.ok()) << st.to_string();

    const double kk = static_cast<double>((c / tc.group) * tc.kh * tc.kw);
    const std::vector<double> ref = to_doubles(yref), m = to_doubles((*mag)[0]);
    const size_t plane = static_cast<size_t>(yref.dims()[2] * yref.dims()[3]);
    std::vector<double> bound(count);
    for (size_t i = 0; i < count; ++i) {
      bound[i] = 2 * (kk + 2) * kU * m[i] * 1.01;
      if (dtype == DType::kFloat16) {
        // cuDNN rounds the convolution (before the bias) to float16, the bias kernel rounds
        // again: half an ulp of each.
        const double b = tc.bias ? bs[(i / plane) % static_cast<size_t>(tc.out_c)] : 0.0;
        bound[i] = 2 * bound[i] + kU16 * (std::fabs(ref[i] - b) + std::fabs(ref[i])) * 1.01 +
                   2 * kHalfTiny;
      }
    }
    expect_within(down_as_doubles(dy.data(), count, dtype), ref, bound,
                  str_cat("conv2d_cudnn ", dtype_name(dtype), " x=", ir::dims_to_string(tc.x),
                          " out_c=", tc.out_c, " k=", tc.kh, "x", tc.kw, " pads=",
                          ir::dims_to_string(tc.pads), " strides=", ir::dims_to_string(tc.strides),
                          " dilations=", ir::dims_to_string(tc.dilations), " group=", tc.group));
  }
};

const ConvCase kConvCases[] = {
    {{2, 3, 9, 11}, 4, 3, 3, {1, 1, 1, 1}, {1, 1}, {1, 1}, 1, true},
    {{1, 4, 13, 12}, 6, 3, 3, {2, 1, 2, 1}, {2, 2}, {2, 2}, 2, true},
    {{2, 8, 10, 10}, 8, 3, 3, {1, 1, 1, 1}, {1, 1}, {1, 1}, 8, false},  // depthwise
    {{1, 6, 15, 14}, 12, 5, 3, {2, 1, 2, 1}, {1, 2}, {1, 3}, 3, true},
    // Asymmetric pads (SAME_UPPER-like): padded explicitly before cuDNN.
    {{2, 3, 8, 9}, 5, 3, 3, {0, 1, 1, 2}, {2, 2}, {1, 1}, 1, true},
    {{1, 64, 20, 20}, 96, 1, 1, {0, 0, 0, 0}, {1, 1}, {1, 1}, 1, true},
    {{1, 32, 28, 28}, 64, 3, 3, {1, 1, 1, 1}, {1, 1}, {1, 1}, 1, false},
};

TEST_F(GpuConv, Float32MatchesCpuExecutor) {
  uint32_t seed = 500;
  for (const ConvCase& tc : kConvCases) {
    run_case(tc, DType::kFloat32, seed);
    seed += 3;
  }
}

TEST_F(GpuConv, Float16MatchesCpuExecutorOnRoundedInputs) {
  uint32_t seed = 600;
  for (const ConvCase& tc : kConvCases) {
    run_case(tc, DType::kFloat16, seed);
    seed += 3;
  }
}

TEST_F(GpuConv, rejects_wrong_output_size) {
  gpu::DeviceBuffer buf = zeros(1 << 16);
  ASSERT_FALSE(buffers_failed());
  gpu::ConvArgs a;
  a.n = 1;
  a.c = 2;
  a.h = 5;
  a.w = 5;
  a.out_c = 2;
  a.kernel_h = 3;
  a.kernel_w = 3;
  a.out_h = 5;  // no padding: 3x3 is right
  a.out_w = 5;
  a.x = a.weight = buf.data();
  a.y = buf.data();
  const Status st = gpu::conv2d_cudnn(ctx(), a);
  EXPECT_EQ(st.code(), StatusCode::kBadInput) << st.to_string();
  EXPECT_NE(st.message().find("give 3x3"), std::string::npos) << st.message();
}

}  // namespace
}  // namespace mixq
