// The device kernels of lib/gpu/kernels (elementwise, normalize, reduce) against the CPU
// executor: each case runs one ONNX node through testing::run_node and the same op on the
// device, on seeded random inputs, and compares the two outputs. Labelled gpu: without a usable
// CUDA device every test skips and says why.
//
// Tolerances (|got - want| <= rtol * |want| + atol; float16 also passes within 1 ulp):
//   kExact:       integer, bool and data-movement results, and float ops that IEEE 754 rounds
//                 correctly on both sides (+ - * /, sqrt, min/max, floor/ceil, fmod, casts).
//   kSameFormula: the same float formula, where nvcc contracts a*b+c into one FMA (one rounding
//                 fewer than the CPU): within an ulp or two.
//   kLibm:        transcendental functions: CUDA's expf/tanhf/erff/... and glibc's or Eigen's
//                 are each a few ulp from exact; 1e-5 relative is ~80 float32 ulp, and the
//                 absolute 1e-6 covers results that come out of a cancellation (GELU's
//                 1 + erf(x) for negative x, the CPU Elu's exp(x) - 1 near 0).
//   kSums:        reductions: both sides accumulate float32 input in float64 and round once,
//                 so they differ by at most an ulp of the result (2e-6 leaves room for ~16).
//   kSoftmax:     the softmax denominator is a float32 sum in a different order on each side
//                 (rounding grows like sqrt(len) ulps): 1e-5 relative.
//   kLayerNorm:   the device takes mean and variance in float32, the CPU in float64; x - mean
//                 then carries an absolute error of ~1e-6 |x|, hence atol 1e-5.
//   float16:      both sides compute in float32 and round once, so results agree to 1 ulp of
//                 float16, or 1e-3 relative (about 1 ulp) where float32 inputs to the final
//                 rounding already differ.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "kernel_runner.h"
#include "kernel_test_util.h"
#include "mixq/core/float_bits.h"
#include "mixq/gpu/device.h"
#include "mixq/gpu/kernels/elementwise.h"
#include "mixq/gpu/kernels/normalize.h"
#include "mixq/gpu/kernels/reduce.h"
#include "mixq/gpu/memory.h"

namespace mixq {
namespace {

using namespace testing::kt;  // NOLINT(google-build-using-namespace)

struct Tol {
  double rtol;
  double atol;
};
constexpr Tol kExact{0.0, 0.0};
constexpr Tol kSameFormula{1e-6, 1e-7};
constexpr Tol kLibm{1e-5, 1e-6};
constexpr Tol kSums{2e-6, 1e-9};
constexpr Tol kLogSumExp{2e-6, 1e-6};  // log(sum) has the sum's relative error as absolute
constexpr Tol kSoftmax{1e-5, 1e-6};
constexpr Tol kLayerNorm{1e-5, 1e-5};
constexpr Tol kHalf{1e-3, 1e-6};
constexpr Tol kHalfLayerNorm{1e-3, 1e-3};

constexpr float kInf = std::numeric_limits<float>::infinity();
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// Every test needs a device; each gets its own non-blocking stream.
class GpuKernels : public ::testing::Test {
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
  }
  gpu::StreamHandle s() const { return stream_.handle(); }

 private:
  gpu::Stream stream_;
};

// --- Comparison
// -----------------------------------------------------------------------------------

uint16_t bits16(const ir::Tensor& t, int64_t i) { return t.data<uint16_t>()[i]; }

// Distance in units in the last place between two finite 16-bit floats of the same format.
int64_t ulps16(uint16_t a, uint16_t b) {
  auto ordered = [](uint16_t v) {
    return (v & 0x8000u) ? -static_cast<int64_t>(v & 0x7fffu) : static_cast<int64_t>(v);
  };
  return std::llabs(ordered(a) - ordered(b));
}

// "" when `got` matches `want` (same dtype and dims; values within `tol`, see the file
// comment), else the first mismatch.
std::string compare(const ir::Tensor& got, const ir::Tensor& want, Tol tol) {
  if (got.dtype() != want.dtype() || got.dims() != want.dims()) {
    return "got " + std::string(dtype_name(got.dtype())) + " " + ir::dims_to_string(got.dims()) +
           ", want " + std::string(dtype_name(want.dtype())) + " " +
           ir::dims_to_string(want.dims());
  }
  const DType t = got.dtype();
  const bool is16 = t == DType::kFloat16 || t == DType::kBFloat16;
  const bool exact = tol.rtol == 0.0 && tol.atol == 0.0;
  for (int64_t i = 0; i < got.numel(); ++i) {
    bool ok = false;
    const double g = got.element_as_double(i), w = want.element_as_double(i);
    if (t == DType::kFloat32 || is16) {
      if (std::isnan(g) || std::isnan(w)) {
        ok = std::isnan(g) && std::isnan(w);  // NaN payloads may differ
      } else if (exact) {
        ok = g == w && std::signbit(g) == std::signbit(w);
      } else if (std::isinf(g) || std::isinf(w)) {
        ok = g == w;
      } else {
        ok = std::fabs(g - w) <= tol.rtol * std::fabs(w) + tol.atol ||
             (is16 && ulps16(bits16(got, i), bits16(want, i)) <= 1);
      }
    } else {
      ok = got.element_as_int64(i) == want.element_as_int64(i);
    }
    if (!ok) {
      return "element " + std::to_string(i) + " of " + std::to_string(got.numel()) + ": got " +
             std::to_string(g) + ", want " + std::to_string(w);
    }
  }
  return "";
}

// --- Inputs
// -----------------------------------------------------------------------------------------

ir::Tensor as_int32(const ir::Tensor& t) {
  ir::Tensor out = ir::Tensor::zeros(DType::kInt32, t.dims()).value();
  for (int64_t i = 0; i < t.numel(); ++i) {
    out.mutable_data<int32_t>()[i] = static_cast<int32_t>(t.data<int64_t>()[i]);
  }
  return out;
}

ir::Tensor random_bools(const Dims& dims, uint32_t seed) {
  const ir::Tensor v = random_int64s(dims, seed, 0, 1);
  ir::Tensor out = ir::Tensor::zeros(DType::kBool, dims).value();
  for (int64_t i = 0; i < v.numel(); ++i) out.mutable_data<bool>()[i] = v.data<int64_t>()[i] != 0;
  return out;
}

// Random multiples of 0.5 in [-2, 2]: comparisons then see equal pairs too.
ir::Tensor coarse_floats(const Dims& dims, uint32_t seed) {
  ir::Tensor t = random_int64s(dims, seed, -4, 4);
  std::vector<float> v;
  for (int64_t i = 0; i < t.numel(); ++i)
    v.push_back(0.5f * static_cast<float>(t.data<int64_t>()[i]));
  return f32(dims, v);
}

// numpy broadcast of two shapes (the test's shapes always broadcast).
Dims broadcast_dims(const Dims& a, const Dims& b) {
  const size_t r = std::max(a.size(), b.size());
  Dims out(r, 1);
  for (size_t i = 0; i < r; ++i) {
    const int64_t da = i + a.size() >= r ? a[i + a.size() - r] : 1;
    const int64_t db = i + b.size() >= r ? b[i + b.size() - r] : 1;
    out[i] = da == 1 ? db : da;
  }
  return out;
}

// --- Device runs --------------------------------------------------------------------------------

Expected<ir::Tensor> gpu_unary(gpu::UnaryOp op, const ir::Tensor& x, gpu::UnaryParams p,
                               gpu::StreamHandle s) {
  MIXQ_ASSIGN_OR_RETURN(auto dx, gpu::upload(x, s));
  MIXQ_ASSIGN_OR_RETURN(auto dy, gpu::allocate_tensor(x.dtype(), x.dims()));
  MIXQ_RETURN_IF_ERROR(gpu::unary(op, dx.view, dy.view, p, s));
  return gpu::download(dy.view, s);
}

Expected<ir::Tensor> gpu_binary(gpu::BinaryOp op, const ir::Tensor& a, const ir::Tensor& b,
                                DType out_dtype, gpu::StreamHandle s) {
  MIXQ_ASSIGN_OR_RETURN(auto da, gpu::upload(a, s));
  MIXQ_ASSIGN_OR_RETURN(auto db, gpu::upload(b, s));
  MIXQ_ASSIGN_OR_RETURN(auto dy,
                        gpu::allocate_tensor(out_dtype, broadcast_dims(a.dims(), b.dims())));
  MIXQ_RETURN_IF_ERROR(gpu::binary(op, da.view, db.view, dy.view, s));
  return gpu::download(dy.view, s);
}

Expected<ir::Tensor> gpu_reduce(gpu::ReduceOp op, const ir::Tensor& x, const Dims& axes,
                                const Dims& out_dims, gpu::StreamHandle s) {
  MIXQ_ASSIGN_OR_RETURN(auto dx, gpu::upload(x, s));
  MIXQ_ASSIGN_OR_RETURN(auto dy, gpu::allocate_tensor(x.dtype(), out_dims));
  MIXQ_RETURN_IF_ERROR(gpu::reduce(op, dx.view, axes, dy.view, s));
  return gpu::download(dy.view, s);
}

// The CPU executor's output 0, or an empty tensor after recording the failure.
ir::Tensor cpu(const std::string& op, const std::vector<std::optional<ir::Tensor>>& in,
               const NodeSpec& spec = {}) {
  auto r = run_node(op, in, spec);
  EXPECT_TRUE(r.ok()) << op << " on the CPU: " << r.status().to_string();
  return r.ok() ? (*r)[0] : ir::Tensor();
}

#define GPU_RUN(var, expr)                                                              \
  auto var##_result = (expr);                                                           \
  ASSERT_TRUE(var##_result.ok()) << #expr << ": " << var##_result.status().to_string(); \
  const ir::Tensor& var = *var##_result

// --- Unary ---------------------------------------------------------------------------------------

struct UnaryCase {
  gpu::UnaryOp op;
  std::string onnx;
  Attrs attrs;
  gpu::UnaryParams params;
  float lo, hi;
  Tol tol;
};

std::vector<UnaryCase> unary_cases() {
  using U = gpu::UnaryOp;
  const Attrs none;
  return {
      {U::kRelu, "Relu", none, {}, -4, 4, kExact},
      {U::kSigmoid, "Sigmoid", none, {}, -8, 8, kLibm},
      {U::kTanh, "Tanh", none, {}, -4, 4, kLibm},
      {U::kErf, "Erf", none, {}, -3, 3, kLibm},
      {U::kGeluErf, "Gelu", none, {}, -4, 4, kLibm},
      {U::kGeluTanh,
       "Gelu",
       [](ir::Node& n) { set_string(n, "approximate", "tanh"); },
       {},
       -4,
       4,
       kLibm},
      {U::kExp, "Exp", none, {}, -8, 8, kLibm},
      {U::kLog, "Log", none, {}, 0.01f, 20, kLibm},
      {U::kSqrt, "Sqrt", none, {}, 0, 20, kExact},
      {U::kReciprocal, "Reciprocal", none, {}, -4, 4, kExact},
      {U::kNeg, "Neg", none, {}, -4, 4, kExact},
      {U::kAbs, "Abs", none, {}, -4, 4, kExact},
      {U::kLeakyRelu, "LeakyRelu", float_attr("alpha", 0.1f), {0.1f, 0}, -4, 4, kExact},
      {U::kClip, "Clip", none, {-0.5f, 0.7f}, -2, 2, kExact},
      {U::kHardSigmoid,
       "HardSigmoid",
       both(float_attr("alpha", 0.3f), float_attr("beta", 0.4f)),
       {0.3f, 0.4f},
       -4,
       4,
       kSameFormula},
      {U::kHardSwish, "HardSwish", none, {}, -5, 5, kExact},
      {U::kSoftplus, "Softplus", none, {}, -10, 10, kLibm},
      {U::kElu, "Elu", float_attr("alpha", 0.7f), {0.7f, 0}, -4, 4, kLibm},
      {U::kIdentity, "Identity", none, {}, -4, 4, kExact},
      {U::kFloor, "Floor", none, {}, -4, 4, kExact},
      {U::kCeil, "Ceil", none, {}, -4, 4, kExact},
      {U::kSin, "Sin", none, {}, -6, 6, kLibm},
      {U::kCos, "Cos", none, {}, -6, 6, kLibm},
  };
}

// Runs every float unary op in `dtype` on [3, 67] (201 elements: not a multiple of a block).
void check_unary(DType dtype, gpu::StreamHandle s) {
  uint32_t seed = 100;
  for (const UnaryCase& c : unary_cases()) {
    const ir::Tensor x = convert(random_floats({3, 67}, ++seed, c.lo, c.hi), dtype);
    std::vector<std::optional<ir::Tensor>> in = {x};
    if (c.op == gpu::UnaryOp::kClip) {
      in.push_back(convert(f32({}, {c.params.alpha}), dtype));
      in.push_back(convert(f32({}, {c.params.beta}), dtype));
    }
    const ir::Tensor want = cpu(c.onnx, in, spec(21, c.attrs));
    auto got = gpu_unary(c.op, x, c.params, s);
    ASSERT_TRUE(got.ok()) << c.onnx << ": " << got.status().to_string();
    EXPECT_EQ(compare(*got, want, dtype == DType::kFloat16 ? kHalf : c.tol), "")
        << c.onnx << " " << dtype_name(dtype) << " (UnaryOp " << static_cast<int>(c.op) << ")";
  }
}

TEST_F(GpuKernels, UnaryFloat32MatchesCpu) { check_unary(DType::kFloat32, s()); }

TEST_F(GpuKernels, UnaryFloat16MatchesCpu) { check_unary(DType::kFloat16, s()); }

// NaN and the infinities take the CPU kernels' paths (Relu(NaN) = 0, Clip passes NaN, ...).
TEST_F(GpuKernels, UnarySpecialValuesMatchCpu) {
  const ir::Tensor x = f32({6}, {kNaN, kInf, -kInf, 0.0f, -0.0f, 1e-30f});
  for (const UnaryCase& c : unary_cases()) {
    std::vector<std::optional<ir::Tensor>> in = {x};
    if (c.op == gpu::UnaryOp::kClip) {
      in.push_back(f32({}, {c.params.alpha}));
      in.push_back(f32({}, {c.params.beta}));
    }
    const ir::Tensor want = cpu(c.onnx, in, spec(21, c.attrs));
    GPU_RUN(got, gpu_unary(c.op, x, c.params, s()));
    EXPECT_EQ(compare(got, want, c.tol), "") << c.onnx;
  }
}

TEST_F(GpuKernels, NotMatchesCpu) {
  const ir::Tensor x = random_bools({5, 41}, 3);
  GPU_RUN(got, gpu_unary(gpu::UnaryOp::kNot, x, {}, s()));
  EXPECT_EQ(compare(got, cpu("Not", {x}), kExact), "");
}

// --- Binary --------------------------------------------------------------------------------------

// Shape pairs: equal, suffix, two-sided stretch, scalars, rank 5 with alternating broadcasts.
const std::vector<std::pair<Dims, Dims>> kShapePairs = {{{2, 3, 4}, {2, 3, 4}},
                                                        {{2, 3, 4}, {4}},
                                                        {{2, 1, 4}, {3, 1}},
                                                        {{5, 1}, {}},
                                                        {{}, {3, 2}},
                                                        {{1}, {2, 3}},
                                                        {{2, 1, 3, 1, 2}, {1, 4, 1, 5, 1}},
                                                        {{7, 1, 1}, {1, 1, 9}}};

struct BinaryCase {
  gpu::BinaryOp op;
  std::string onnx;
  Attrs attrs;
};

const std::vector<BinaryCase> kArith = {
    {gpu::BinaryOp::kAdd, "Add", {}}, {gpu::BinaryOp::kSub, "Sub", {}},
    {gpu::BinaryOp::kMul, "Mul", {}}, {gpu::BinaryOp::kDiv, "Div", {}},
    {gpu::BinaryOp::kMax, "Max", {}}, {gpu::BinaryOp::kMin, "Min", {}},
};
const std::vector<BinaryCase> kCompare = {
    {gpu::BinaryOp::kEqual, "Equal", {}},
    {gpu::BinaryOp::kLess, "Less", {}},
    {gpu::BinaryOp::kLessOrEqual, "LessOrEqual", {}},
    {gpu::BinaryOp::kGreater, "Greater", {}},
    {gpu::BinaryOp::kGreaterOrEqual, "GreaterOrEqual", {}},
};

void check_binary(const BinaryCase& c, const ir::Tensor& a, const ir::Tensor& b, DType out, Tol tol,
                  gpu::StreamHandle s) {
  const ir::Tensor want = cpu(c.onnx, {a, b}, spec(21, c.attrs));
  auto got = gpu_binary(c.op, a, b, out, s);
  ASSERT_TRUE(got.ok()) << c.onnx << ": " << got.status().to_string();
  EXPECT_EQ(compare(*got, want, tol), "")
      << c.onnx << " " << dtype_name(a.dtype()) << " " << ir::dims_to_string(a.dims()) << " x "
      << ir::dims_to_string(b.dims());
}

TEST_F(GpuKernels, BinaryFloat32BroadcastsLikeCpu) {
  uint32_t seed = 200;
  for (const auto& [da, db] : kShapePairs) {
    const ir::Tensor a = random_floats(da, ++seed, -3, 3);
    const ir::Tensor b = random_floats(db, ++seed, -3, 3);
    for (const BinaryCase& c : kArith) check_binary(c, a, b, DType::kFloat32, kExact, s());
    check_binary({gpu::BinaryOp::kFmod, "Mod", int_attr("fmod", 1)}, a, b, DType::kFloat32, kExact,
                 s());
    // Pow: positive bases (negative ones with fractional exponents are NaN on both sides).
    const ir::Tensor base = random_floats(da, ++seed, 0.1f, 3.0f);
    check_binary({gpu::BinaryOp::kPow, "Pow", {}}, base, b, DType::kFloat32, kLibm, s());
    const ir::Tensor ca = coarse_floats(da, ++seed), cb = coarse_floats(db, ++seed);
    for (const BinaryCase& c : kCompare) check_binary(c, ca, cb, DType::kBool, kExact, s());
  }
}

TEST_F(GpuKernels, BinaryFloat16MatchesCpu) {
  const ir::Tensor a = convert(random_floats({2, 3, 4}, 301, -3, 3), DType::kFloat16);
  const ir::Tensor b = convert(random_floats({4}, 302, -3, 3), DType::kFloat16);
  for (const BinaryCase& c : kArith) check_binary(c, a, b, DType::kFloat16, kHalf, s());
  const ir::Tensor base = convert(random_floats({2, 3, 4}, 303, 0.1f, 3), DType::kFloat16);
  check_binary({gpu::BinaryOp::kPow, "Pow", {}}, base, b, DType::kFloat16, kHalf, s());
  // Exponent 2 as a scalar: the CPU's x * x path.
  check_binary({gpu::BinaryOp::kPow, "Pow", {}}, a, convert(f32({}, {2.0f}), DType::kFloat16),
               DType::kFloat16, kHalf, s());
  const ir::Tensor ca = convert(coarse_floats({2, 1, 4}, 304), DType::kFloat16);
  const ir::Tensor cb = convert(coarse_floats({3, 1}, 305), DType::kFloat16);
  for (const BinaryCase& c : kCompare) check_binary(c, ca, cb, DType::kBool, kExact, s());
}

TEST_F(GpuKernels, BinaryIntegersMatchCpu) {
  uint32_t seed = 400;
  for (DType dt : {DType::kInt64, DType::kInt32}) {
    for (const auto& [da, db] : kShapePairs) {
      auto ints = [&](const Dims& d, int64_t lo, int64_t hi) {
        const ir::Tensor t = random_int64s(d, ++seed, lo, hi);
        return dt == DType::kInt32 ? as_int32(t) : t;
      };
      const ir::Tensor a = ints(da, -20, 20);
      // Nonzero divisors of both signs: the CPU refuses division by zero.
      ir::Tensor b64 = random_int64s(db, ++seed, -9, 9);
      for (int64_t i = 0; i < b64.numel(); ++i) {
        if (b64.data<int64_t>()[i] == 0) b64.mutable_data<int64_t>()[i] = 3;
      }
      const ir::Tensor b = dt == DType::kInt32 ? as_int32(b64) : b64;
      for (const BinaryCase& c : kArith) check_binary(c, a, b, dt, kExact, s());
      check_binary({gpu::BinaryOp::kMod, "Mod", int_attr("fmod", 0)}, a, b, dt, kExact, s());
      check_binary({gpu::BinaryOp::kFmod, "Mod", int_attr("fmod", 1)}, a, b, dt, kExact, s());
      check_binary({gpu::BinaryOp::kPow, "Pow", {}}, ints(da, -5, 5), ints(db, 0, 6), dt, kExact,
                   s());
      const ir::Tensor ca = ints(da, -2, 2), cb = ints(db, -2, 2);
      for (const BinaryCase& c : kCompare) check_binary(c, ca, cb, DType::kBool, kExact, s());
    }
  }
}

// Two's complement wrapping, truncating division and the sign rules of Mod at the extremes.
TEST_F(GpuKernels, BinaryIntegerEdgesMatchCpu) {
  const int32_t kMin = std::numeric_limits<int32_t>::min();
  const int32_t kMax = std::numeric_limits<int32_t>::max();
  const ir::Tensor a = i32({6}, {kMax, kMin, -7, 7, kMin, 46341});
  const ir::Tensor b = i32({6}, {2, -1, 2, -2, 3, 46341});
  for (const BinaryCase& c : kArith) check_binary(c, a, b, DType::kInt32, kExact, s());
  check_binary({gpu::BinaryOp::kMod, "Mod", int_attr("fmod", 0)}, a, b, DType::kInt32, kExact, s());
  check_binary({gpu::BinaryOp::kFmod, "Mod", int_attr("fmod", 1)}, a, b, DType::kInt32, kExact,
               s());
  check_binary({gpu::BinaryOp::kPow, "Pow", {}}, a, i32({6}, {2, 3, 3, 0, 1, 2}), DType::kInt32,
               kExact, s());
}

TEST_F(GpuKernels, BinaryBoolMatchesCpu) {
  const ir::Tensor a = random_bools({2, 1, 4}, 501), b = random_bools({3, 1}, 502);
  const std::vector<BinaryCase> ops = {{gpu::BinaryOp::kAnd, "And", {}},
                                       {gpu::BinaryOp::kOr, "Or", {}},
                                       {gpu::BinaryOp::kXor, "Xor", {}},
                                       {gpu::BinaryOp::kEqual, "Equal", {}},
                                       {gpu::BinaryOp::kLess, "Less", {}}};
  for (const BinaryCase& c : ops) check_binary(c, a, b, DType::kBool, kExact, s());
}

TEST_F(GpuKernels, rejects_shapes_that_do_not_broadcast) {
  const ir::Tensor a = random_floats({2, 3}, 1), b = random_floats({4}, 2);
  auto da = gpu::upload(a, s());
  auto db = gpu::upload(b, s());
  auto dy = gpu::allocate_tensor(DType::kFloat32, {2, 3});
  ASSERT_TRUE(da.ok() && db.ok() && dy.ok());
  const Status st = gpu::binary(gpu::BinaryOp::kAdd, da->view, db->view, dy->view, s());
  EXPECT_EQ(st.code(), StatusCode::kBadInput) << st.to_string();
  EXPECT_NE(st.message().find("Add"), std::string::npos) << st.to_string();
}

TEST_F(GpuKernels, rejects_float_mod_without_fmod_and_integer_mean) {
  auto da = gpu::upload(random_floats({4}, 1), s());
  auto dy = gpu::allocate_tensor(DType::kFloat32, {4});
  ASSERT_TRUE(da.ok() && dy.ok());
  const Status mod = gpu::binary(gpu::BinaryOp::kMod, da->view, da->view, dy->view, s());
  EXPECT_EQ(mod.code(), StatusCode::kUnsupported) << mod.to_string();
  EXPECT_NE(mod.message().find("Mod"), std::string::npos) << mod.to_string();
  auto di = gpu::upload(random_int64s({4}, 1, 0, 5), s());
  auto dm = gpu::allocate_tensor(DType::kInt64, {});
  ASSERT_TRUE(di.ok() && dm.ok());
  const Status mean = gpu::reduce(gpu::ReduceOp::kMean, di->view, {}, dm->view, s());
  EXPECT_EQ(mean.code(), StatusCode::kUnsupported) << mean.to_string();
  EXPECT_NE(mean.message().find("ReduceMean"), std::string::npos) << mean.to_string();
  EXPECT_NE(mean.message().find("int64"), std::string::npos) << mean.to_string();
}

// --- Where, Expand, Cast -----------------------------------------------------------------------

TEST_F(GpuKernels, WhereBroadcastsAllThreeLikeCpu) {
  const ir::Tensor cond = random_bools({2, 1, 4}, 601);
  const std::vector<std::pair<ir::Tensor, ir::Tensor>> pairs = {
      {random_floats({3, 1}, 602), random_floats({4}, 603)},
      {random_int64s({3, 1}, 604, -100, 100), random_int64s({4}, 605, -100, 100)},
      {convert(random_floats({3, 1}, 606), DType::kFloat16),
       convert(random_floats({4}, 607), DType::kFloat16)},
      {random_bools({3, 1}, 608), random_bools({4}, 609)},
  };
  for (const auto& [x, y] : pairs) {
    const ir::Tensor want = cpu("Where", {cond, x, y});
    auto dc = gpu::upload(cond, s());
    auto dx = gpu::upload(x, s());
    auto dy = gpu::upload(y, s());
    auto dout = gpu::allocate_tensor(x.dtype(), {2, 3, 4});
    ASSERT_TRUE(dc.ok() && dx.ok() && dy.ok() && dout.ok());
    const Status st = gpu::where(dc->view, dx->view, dy->view, dout->view, s());
    ASSERT_TRUE(st.ok()) << st.to_string();
    GPU_RUN(got, gpu::download(dout->view, s()));
    EXPECT_EQ(compare(got, want, kExact), "") << dtype_name(x.dtype());
  }
}

TEST_F(GpuKernels, ExpandMatchesCpu) {
  const std::vector<std::pair<ir::Tensor, Dims>> cases = {
      {random_floats({3, 1}, 701), {2, 3, 4}},
      {random_int64s({4}, 702, -50, 50), {2, 3, 4}},
      {u8({}, {7}), {5}},
      {convert(random_floats({1, 3, 1}, 703), DType::kFloat16), {2, 3, 4}},
      {random_bools({2, 1}, 704), {3, 2, 6}},
  };
  for (const auto& [x, shape] : cases) {
    NodeSpec sp = spec(21);
    sp.constant_inputs = {1};
    const ir::Tensor want =
        cpu("Expand", {x, i64({static_cast<int64_t>(shape.size())}, shape)}, sp);
    auto dx = gpu::upload(x, s());
    auto dy = gpu::allocate_tensor(x.dtype(), want.dims());
    ASSERT_TRUE(dx.ok() && dy.ok());
    const Status st = gpu::expand(dx->view, dy->view, s());
    ASSERT_TRUE(st.ok()) << st.to_string();
    GPU_RUN(got, gpu::download(dy->view, s()));
    EXPECT_EQ(compare(got, want, kExact), "") << dtype_name(x.dtype());
  }
}

// Every ordered pair of the eight types, on values that exercise rounding, truncation toward
// zero, wrapping, saturation, NaN and the signed zeros.
TEST_F(GpuKernels, CastAllPairsMatchCpu) {
  const std::vector<float> fv = {0.0f,   -0.0f,   1.5f,     -1.5f, 2.5f,           -2.7f,
                                 200.7f, -129.9f, 70000.0f, 3e9f,  -3e9f,          1e30f,
                                 -1e30f, kNaN,    kInf,     -kInf, 1.00048828125f, 0.1f};
  const int64_t big = (int64_t{1} << 40) + (int64_t{1} << 32) + 1;  // double rounding trap
  const std::vector<int64_t> iv = {
      0,      1,   -1,   127,        128,
      -129,   255, 256,  65519,      65520,
      -70000, big, -big, 2147483648, std::numeric_limits<int64_t>::min(),
      3,      300, 2049};
  const Dims d = {static_cast<int64_t>(fv.size())};
  const ir::Tensor floats = f32(d, fv);
  const ir::Tensor ints = i64(d, iv);
  auto source = [&](DType t) -> ir::Tensor {
    switch (t) {
      case DType::kFloat32:
      case DType::kFloat16:
      case DType::kBFloat16:
        return convert(floats, t);
      case DType::kBool: {
        std::vector<bool> b;
        for (int64_t v : iv) b.push_back(v % 2 != 0);
        return bools(d, b);
      }
      default: {
        // Integers: the int64 values taken to the type's width through the CPU Cast itself.
        if (t == DType::kInt64) return ints;
        return cpu("Cast", {ints}, spec(21, int_attr("to", dtype_to_onnx(t))));
      }
    }
  };
  const std::vector<DType> types = {DType::kFloat32, DType::kFloat16, DType::kBFloat16,
                                    DType::kInt32,   DType::kInt64,   DType::kInt8,
                                    DType::kUint8,   DType::kBool};
  for (DType from : types) {
    const ir::Tensor x = source(from);
    for (DType to : types) {
      const ir::Tensor want = cpu("Cast", {x}, spec(21, int_attr("to", dtype_to_onnx(to))));
      auto dx = gpu::upload(x, s());
      auto dy = gpu::allocate_tensor(to, x.dims());
      ASSERT_TRUE(dx.ok() && dy.ok());
      const Status st = gpu::cast(dx->view, dy->view, s());
      ASSERT_TRUE(st.ok()) << st.to_string();
      GPU_RUN(got, gpu::download(dy->view, s()));
      EXPECT_EQ(compare(got, want, kExact), "")
          << "Cast " << dtype_name(from) << " -> " << dtype_name(to);
    }
  }
}

// --- Softmax, LogSoftmax, LayerNormalization ----------------------------------------------------

// Shapes and axes that reach each kernel: short rows (column kernel), long contiguous rows and
// strided rows (row kernel), many strided rows (column kernel along a middle axis).
const std::vector<std::pair<Dims, int64_t>> kSoftmaxCases = {
    {{4, 5, 37}, 0},   {{4, 5, 37}, 1},   {{4, 5, 37}, 2}, {{2, 300}, 1},
    {{3, 50, 100}, 1}, {{64, 40, 80}, 1}, {{10, 7}, 1},    {{1, 5000}, 1}};

void check_softmax(DType dtype, gpu::StreamHandle s) {
  uint32_t seed = 800;
  for (const auto& [dims, axis] : kSoftmaxCases) {
    ir::Tensor x32 = random_floats(dims, ++seed, -5, 5);
    x32.mutable_data<float>()[1] = -kInf;  // a masked logit
    const ir::Tensor x = convert(x32, dtype);
    for (bool log : {false, true}) {
      const char* op = log ? "LogSoftmax" : "Softmax";
      const ir::Tensor want = cpu(op, {x}, spec(21, int_attr("axis", axis)));
      auto dx = gpu::upload(x, s);
      auto dy = gpu::allocate_tensor(dtype, dims);
      ASSERT_TRUE(dx.ok() && dy.ok());
      const Status st = gpu::softmax(dx->view, dy->view, axis, log, s);
      ASSERT_TRUE(st.ok()) << st.to_string();
      GPU_RUN(got, gpu::download(dy->view, s));
      EXPECT_EQ(compare(got, want, dtype == DType::kFloat16 ? kHalf : kSoftmax), "")
          << op << " " << dtype_name(dtype) << " " << ir::dims_to_string(dims) << " axis " << axis;
    }
  }
}

TEST_F(GpuKernels, SoftmaxFloat32MatchesCpuOnEveryAxis) { check_softmax(DType::kFloat32, s()); }

TEST_F(GpuKernels, SoftmaxFloat16MatchesCpuOnEveryAxis) { check_softmax(DType::kFloat16, s()); }

struct LayerNormCase {
  Dims dims;
  int64_t axis;
  bool with_bias;
  bool scalar_scale;
};

void check_layer_norm(DType dtype, gpu::StreamHandle s) {
  const std::vector<LayerNormCase> cases = {
      {{4, 6, 96}, 2, true, false}, {{4, 6, 96}, 1, true, false}, {{4, 6, 96}, 2, false, false},
      {{50, 8}, 1, true, false},    {{3, 2000}, 1, false, false}, {{5, 64}, 1, true, true}};
  uint32_t seed = 900;
  for (const LayerNormCase& c : cases) {
    // An offset mean, so the statistics must subtract it accurately.
    const ir::Tensor x = convert(random_floats(c.dims, ++seed, 1.0f, 3.0f), dtype);
    const Dims norm(c.dims.begin() + c.axis, c.dims.end());
    const ir::Tensor scale =
        convert(random_floats(c.scalar_scale ? Dims{1} : norm, ++seed, 0.5f, 1.5f), dtype);
    const ir::Tensor bias = convert(random_floats(norm, ++seed, -1, 1), dtype);
    std::vector<std::optional<ir::Tensor>> in = {x, scale};
    if (c.with_bias) in.push_back(bias);
    const ir::Tensor want =
        cpu("LayerNormalization", in,
            spec(17, both(int_attr("axis", c.axis), float_attr("epsilon", 1e-5f))));
    auto dx = gpu::upload(x, s);
    auto ds = gpu::upload(scale, s);
    auto db = gpu::upload(bias, s);
    auto dy = gpu::allocate_tensor(dtype, c.dims);
    ASSERT_TRUE(dx.ok() && ds.ok() && db.ok() && dy.ok());
    const Status st = gpu::layer_norm(dx->view, &ds->view, c.with_bias ? &db->view : nullptr,
                                      dy->view, c.axis, 1e-5f, s);
    ASSERT_TRUE(st.ok()) << st.to_string();
    GPU_RUN(got, gpu::download(dy->view, s));
    EXPECT_EQ(compare(got, want, dtype == DType::kFloat16 ? kHalfLayerNorm : kLayerNorm), "")
        << dtype_name(dtype) << " " << ir::dims_to_string(c.dims) << " axis " << c.axis
        << (c.with_bias ? " with bias" : " without bias")
        << (c.scalar_scale ? ", scalar scale" : "");
  }
}

TEST_F(GpuKernels, LayerNormFloat32MatchesCpu) { check_layer_norm(DType::kFloat32, s()); }

TEST_F(GpuKernels, LayerNormFloat16MatchesCpu) { check_layer_norm(DType::kFloat16, s()); }

// A null scale is a scale of ones.
TEST_F(GpuKernels, LayerNormWithoutScaleMatchesCpuWithOnes) {
  const ir::Tensor x = random_floats({6, 80}, 950, -2, 2);
  const ir::Tensor ones = f32({80}, std::vector<float>(80, 1.0f));
  const ir::Tensor want =
      cpu("LayerNormalization", {x, ones}, spec(17, float_attr("epsilon", 1e-3f)));
  auto dx = gpu::upload(x, s());
  auto dy = gpu::allocate_tensor(DType::kFloat32, {6, 80});
  ASSERT_TRUE(dx.ok() && dy.ok());
  const Status st = gpu::layer_norm(dx->view, nullptr, nullptr, dy->view, 1, 1e-3f, s());
  ASSERT_TRUE(st.ok()) << st.to_string();
  GPU_RUN(got, gpu::download(dy->view, s()));
  EXPECT_EQ(compare(got, want, kLayerNorm), "");
}

// --- Reductions ---------------------------------------------------------------------------------

struct ReduceCase {
  gpu::ReduceOp op;
  std::string onnx;
  float lo, hi;  // input range (products stay within float range)
  Tol tol;
};

const std::vector<ReduceCase> kReduceOps = {
    {gpu::ReduceOp::kSum, "ReduceSum", -1, 1, kSums},
    {gpu::ReduceOp::kMean, "ReduceMean", -1, 1, kSums},
    {gpu::ReduceOp::kMax, "ReduceMax", -1, 1, kExact},
    {gpu::ReduceOp::kMin, "ReduceMin", -1, 1, kExact},
    {gpu::ReduceOp::kProd, "ReduceProd", 0.9f, 1.1f, kSums},
    {gpu::ReduceOp::kSumSquare, "ReduceSumSquare", -1, 1, kSums},
    {gpu::ReduceOp::kL1, "ReduceL1", -1, 1, kSums},
    {gpu::ReduceOp::kL2, "ReduceL2", -1, 1, kSums},
    {gpu::ReduceOp::kLogSumExp, "ReduceLogSumExp", -5, 5, kLogSumExp},
};

// Reduces x on both sides; `axes` empty reduces everything (the CPU node then has no axes).
void check_reduce(const ReduceCase& c, const ir::Tensor& x, const Dims& axes, Tol tol,
                  gpu::StreamHandle s) {
  std::vector<std::optional<ir::Tensor>> in = {x};
  NodeSpec sp = spec(21);
  if (!axes.empty()) {
    in.push_back(i64({static_cast<int64_t>(axes.size())}, axes));
    sp.constant_inputs = {1};
  }
  const ir::Tensor want = cpu(c.onnx, in, sp);
  auto got = gpu_reduce(c.op, x, axes, want.dims(), s);
  ASSERT_TRUE(got.ok()) << c.onnx << ": " << got.status().to_string();
  EXPECT_EQ(compare(*got, want, tol), "")
      << c.onnx << " " << dtype_name(x.dtype()) << " " << ir::dims_to_string(x.dims()) << " axes "
      << ir::dims_to_string(axes);
}

const std::vector<Dims> kAxisSets = {{},     {0},    {1},          {3},   {1, 2},
                                     {0, 2}, {2, 3}, {0, 1, 2, 3}, {0, 3}};

TEST_F(GpuKernels, ReduceFloat32MatchesCpuOverAxisSets) {
  uint32_t seed = 1000;
  for (const ReduceCase& c : kReduceOps) {
    const ir::Tensor x = random_floats({3, 4, 5, 6}, ++seed, c.lo, c.hi);
    for (const Dims& axes : kAxisSets) check_reduce(c, x, axes, c.tol, s());
  }
}

// Shapes that take the chunked paths (few outputs, many terms) and both kernels' long loops.
TEST_F(GpuKernels, ReduceFloat32LargeShapesMatchCpu) {
  const std::vector<std::pair<Dims, Dims>> shapes = {{{2, 20000}, {1}}, {{20000, 3}, {0}},
                                                     {{100000}, {}},    {{3, 100, 7}, {1}},
                                                     {{5, 200}, {1}},   {{40, 30, 50}, {0, 2}}};
  uint32_t seed = 1100;
  for (const ReduceCase& c : kReduceOps) {
    for (const auto& [dims, axes] : shapes) {
      // Long products under- or overflow float32 whatever the order; keep them short.
      if (c.op == gpu::ReduceOp::kProd && numel(dims) > 20000) continue;
      check_reduce(c, random_floats(dims, ++seed, c.lo, c.hi), axes, c.tol, s());
    }
  }
}

TEST_F(GpuKernels, ReduceFloat16MatchesCpu) {
  uint32_t seed = 1200;
  for (const ReduceCase& c : kReduceOps) {
    const ir::Tensor x = convert(random_floats({3, 4, 5, 6}, ++seed, c.lo, c.hi), DType::kFloat16);
    for (const Dims& axes : {Dims{}, Dims{1}, Dims{3}, Dims{0, 2}}) {
      check_reduce(c, x, axes, kHalf, s());
    }
  }
}

TEST_F(GpuKernels, ReduceIntegersMatchCpu) {
  uint32_t seed = 1300;
  for (DType dt : {DType::kInt64, DType::kInt32}) {
    for (const ReduceCase& c : {kReduceOps[0], kReduceOps[2], kReduceOps[3], kReduceOps[4]}) {
      const ir::Tensor x64 = random_int64s({3, 4, 5, 6}, ++seed, -3, 3);
      const ir::Tensor x = dt == DType::kInt32 ? as_int32(x64) : x64;
      for (const Dims& axes : kAxisSets) check_reduce(c, x, axes, kExact, s());
    }
  }
}

// A reduced dim of size 0: every output is the op's identity (0, 1, -inf, +inf, NaN, -inf).
TEST_F(GpuKernels, ReduceEmptyGivesIdentityLikeCpu) {
  const ir::Tensor x = ir::Tensor::zeros(DType::kFloat32, {3, 0, 4}).value();
  for (const ReduceCase& c : kReduceOps) check_reduce(c, x, {1}, kExact, s());
}

// NaN propagates through Max / Min whichever thread or chunk meets it.
TEST_F(GpuKernels, ReduceMaxMinPropagateNaNLikeCpu) {
  ir::Tensor x = random_floats({4, 30000}, 1400);
  x.mutable_data<float>()[17] = kNaN;
  x.mutable_data<float>()[2 * 30000 + 29999] = kNaN;
  for (const ReduceCase& c : {kReduceOps[2], kReduceOps[3]}) {
    check_reduce(c, x, {1}, kExact, s());
    check_reduce(c, x, {0}, kExact, s());
  }
}

// The same reduction twice gives the same bits (fixed trees, no atomics), on the chunked row
// and column paths and on the one-block-per-output path.
TEST_F(GpuKernels, ReduceIsBitIdenticalAcrossLaunches) {
  const std::vector<std::pair<Dims, Dims>> shapes = {
      {{2, 50000}, {1}}, {{50000, 3}, {0}}, {{300, 1000}, {1}}};
  uint32_t seed = 1500;
  for (const auto& [dims, axes] : shapes) {
    const ir::Tensor x = random_floats(dims, ++seed, -1, 1);
    for (gpu::ReduceOp op : {gpu::ReduceOp::kSum, gpu::ReduceOp::kLogSumExp}) {
      Dims out = dims;
      for (int64_t a : axes) out[static_cast<size_t>(a)] = 1;
      GPU_RUN(first, gpu_reduce(op, x, axes, out, s()));
      GPU_RUN(second, gpu_reduce(op, x, axes, out, s()));
      EXPECT_TRUE(same_bytes(first, second))
          << ir::dims_to_string(dims) << " axes " << ir::dims_to_string(axes);
    }
  }
}

}  // namespace
}  // namespace mixq
