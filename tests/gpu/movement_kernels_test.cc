// The data-movement, pooling, Q/DQ and im2col CUDA kernels (lib/gpu/kernels/{movement,pool,
// qdq,im2col}) against the CPU executor (testing::run_node) on seeded random inputs.
// Labelled gpu: every test skips, saying why, where no CUDA device is usable.
//
// Data movement, MaxPool, GlobalMaxPool and quantized codes must match the CPU byte for byte.
// Float results: AveragePool and DequantizeLinear also byte for byte (the kernels perform the
// CPU's IEEE operations in the CPU's order), GlobalAveragePool within one unit in the last place
// (float64 sums in another order, rounded to y's type), Conv through im2col + a float64 host
// GEMM within float32's kernel tolerance (see ConvThroughIm2colMatchesCpu).
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <cstring>
#include <deque>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernel_runner.h"
#include "kernel_test_util.h"
#include "mixq/core/float_bits.h"
#include "mixq/gpu/device.h"
#include "mixq/gpu/kernels/im2col.h"
#include "mixq/gpu/kernels/movement.h"
#include "mixq/gpu/kernels/pool.h"
#include "mixq/gpu/kernels/qdq.h"
#include "mixq/gpu/memory.h"

namespace mixq {
namespace {

using namespace testing::kt;  // NOLINT(google-build-using-namespace)
using ir::Tensor;
using Inputs = std::vector<std::optional<Tensor>>;

// Device buffers and one non-blocking stream for a test; a CUDA failure fails the test.
class Dev {
 public:
  Dev() {
    auto s = gpu::Stream::create();
    EXPECT_TRUE(s.ok()) << s.status().to_string();
    if (s.ok()) stream_ = std::move(*s);
  }
  gpu::StreamHandle stream() const { return stream_.handle(); }

  gpu::DeviceTensor up(const Tensor& t) {
    auto r = gpu::upload(t, stream());
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    if (!r.ok()) return {};
    held_.push_back(std::move(*r));
    return held_.back().view;
  }
  // Filled with 0xab bytes, so that an element a kernel fails to write shows.
  gpu::DeviceTensor alloc(DType dtype, const Dims& dims) {
    auto r = gpu::allocate_tensor(dtype, dims);
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    if (!r.ok()) return {};
    const Status st = gpu::memset_device(r->view.data, 0xab, r->buffer.bytes(), stream());
    EXPECT_TRUE(st.ok()) << st.to_string();
    held_.push_back(std::move(*r));
    return held_.back().view;
  }
  Tensor down(const gpu::DeviceTensor& t) {
    auto r = gpu::download(t, stream());
    EXPECT_TRUE(r.ok()) << r.status().to_string();
    return r.ok() ? std::move(*r) : Tensor();
  }

 private:
  gpu::Stream stream_;
  std::deque<gpu::DeviceTensorBuffer> held_;
};

Tensor cpu(const std::string& op, const Inputs& in, const NodeSpec& spec) {
  auto r = run_node(op, in, spec);
  EXPECT_TRUE(r.ok()) << op << ": " << r.status().to_string();
  return r.ok() ? (*r)[0] : Tensor();
}

// Random bytes of any fixed-size dtype (bool: 0 or 1).
Tensor random_bytes(DType dtype, const Dims& dims, uint32_t seed) {
  Tensor t = Tensor::zeros(dtype, dims).value();
  std::mt19937 rng(seed);
  auto* p = reinterpret_cast<uint8_t*>(t.mutable_raw_data());
  const uint32_t mask = dtype == DType::kBool ? 1u : 0xffu;
  for (size_t i = 0; i < t.nbytes(); ++i) p[i] = static_cast<uint8_t>(rng() & mask);
  return t;
}

Tensor i32_from(const Tensor& t64) {
  Tensor t = Tensor::zeros(DType::kInt32, t64.dims()).value();
  for (int64_t i = 0; i < t.numel(); ++i) {
    t.mutable_data<int32_t>()[i] = static_cast<int32_t>(t64.data<int64_t>()[i]);
  }
  return t;
}

std::string hex(const uint8_t* p, size_t n) {
  static const char* kDigits = "0123456789abcdef";
  std::string s;
  for (size_t i = n; i-- > 0;) {
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 0xf];
  }
  return s;
}

// Byte-identical; with nan_aware, float elements that are NaN on both sides also match (NaN
// payloads are not part of any contract).
void expect_same(const Tensor& got, const Tensor& want, const std::string& what,
                 bool nan_aware = false) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.dims(), want.dims()) << what;
  ASSERT_EQ(got.nbytes(), want.nbytes()) << what;
  if (got.numel() == 0) return;
  const size_t es = got.nbytes() / static_cast<size_t>(got.numel());
  const auto* g = reinterpret_cast<const uint8_t*>(got.raw_data());
  const auto* w = reinterpret_cast<const uint8_t*>(want.raw_data());
  for (int64_t i = 0; i < got.numel(); ++i) {
    const size_t at = static_cast<size_t>(i) * es;
    if (std::memcmp(g + at, w + at, es) == 0) continue;
    if (nan_aware && std::isnan(got.element_as_double(i)) &&
        std::isnan(want.element_as_double(i))) {
      continue;
    }
    ADD_FAILURE() << what << ": element " << i << " is 0x" << hex(g + at, es) << " ("
                  << got.element_as_double(i) << "), the CPU gives 0x" << hex(w + at, es) << " ("
                  << want.element_as_double(i) << ")";
    return;
  }
}

// Within `ulps` units in the last place of y's type (float32 or float16), compared on the bit
// patterns: for same-sign values the distance of the patterns is the distance in ulps.
void expect_within_ulps(const Tensor& got, const Tensor& want, int64_t ulps,
                        const std::string& what) {
  ASSERT_EQ(got.dtype(), want.dtype()) << what;
  ASSERT_EQ(got.dims(), want.dims()) << what;
  for (int64_t i = 0; i < got.numel(); ++i) {
    int64_t a, b;
    if (got.dtype() == DType::kFloat32) {
      a = std::bit_cast<int32_t>(got.data<float>()[i]);
      b = std::bit_cast<int32_t>(want.data<float>()[i]);
    } else {
      a = static_cast<int16_t>(got.data<uint16_t>()[i]);
      b = static_cast<int16_t>(want.data<uint16_t>()[i]);
    }
    if ((a < 0) != (b < 0) || std::llabs(a - b) > ulps) {
      ADD_FAILURE() << what << ": element " << i << " is " << got.element_as_double(i)
                    << ", the CPU gives " << want.element_as_double(i) << " (more than " << ulps
                    << " ulp apart)";
      return;
    }
  }
}

// --- Transpose, Gather, Concat, Slice -----------------------------------------------------------

TEST(GpuMovement, TransposeMatchesCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  struct Case {
    Dims dims;
    Dims perm;
  };
  // Permutations that move the last dim (element-sized copies), keep it (wide copies of whole
  // rows), collapse into fewer dims, and carry size-1 dims; a large one for many blocks.
  const std::vector<Case> cases = {
      {{2, 3, 4}, {2, 0, 1}},
      {{2, 3, 4}, {1, 0, 2}},
      {{2, 3, 4}, {0, 2, 1}},
      {{2, 3, 4, 5}, {0, 2, 3, 1}},
      {{2, 3, 4, 5}, {3, 2, 1, 0}},
      {{7}, {0}},
      {{2, 1, 3, 2, 1, 4}, {5, 3, 1, 0, 2, 4}},
      {{64, 33, 8}, {1, 0, 2}},
      {{96, 130}, {1, 0}},
      {{2, 2, 2, 2, 2, 2, 2, 3}, {7, 0, 6, 1, 5, 2, 4, 3}},
  };
  const std::vector<DType> dtypes = {DType::kFloat32, DType::kUint8, DType::kFloat16, DType::kInt64,
                                     DType::kBool};
  Dev dev;
  uint32_t seed = 1;
  for (const Case& c : cases) {
    for (DType dt : dtypes) {
      const Tensor x = random_bytes(dt, c.dims, seed++);
      const Tensor want = cpu("Transpose", {x}, spec(21, ints_attr("perm", c.perm)));
      const gpu::DeviceTensor dx = dev.up(x);
      const gpu::DeviceTensor dy = dev.alloc(dt, want.dims());
      const Status st = gpu::transpose(dx, c.perm, dy, dev.stream());
      ASSERT_TRUE(st.ok()) << st.to_string();
      expect_same(dev.down(dy), want,
                  "Transpose " + ir::dims_to_string(c.dims) + " perm " +
                      ir::dims_to_string(c.perm) + " " + std::string(dtype_name(dt)));
    }
  }
}

TEST(GpuMovement, GatherMatchesCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  uint32_t seed = 100;
  const Dims data_dims = {5, 4, 6};
  for (DType dt : {DType::kFloat32, DType::kUint8, DType::kFloat16, DType::kInt64}) {
    const Tensor data = random_bytes(dt, data_dims, seed++);
    for (int64_t axis : {0, 1, -1}) {
      const int64_t n = data_dims[static_cast<size_t>(axis < 0 ? axis + 3 : axis)];
      for (bool wide : {true, false}) {
        for (const Dims& ind_dims : {Dims{2, 3}, Dims{}, Dims{7}}) {
          // Every index in [-n, n): negative ones count from the back.
          const Tensor ind64 = random_int64s(ind_dims, seed++, -n, n - 1);
          const Tensor ind = wide ? ind64 : i32_from(ind64);
          const Tensor want = cpu("Gather", {data, ind}, spec(13, int_attr("axis", axis)));
          const gpu::DeviceTensor dd = dev.up(data);
          const gpu::DeviceTensor di = dev.up(ind);
          const gpu::DeviceTensor dy = dev.alloc(dt, want.dims());
          const Status st = gpu::gather(dd, di, axis, dy, dev.stream());
          ASSERT_TRUE(st.ok()) << st.to_string();
          expect_same(dev.down(dy), want,
                      "Gather axis " + std::to_string(axis) + " " + std::string(dtype_name(dt)) +
                          (wide ? " int64" : " int32") + " indices " +
                          ir::dims_to_string(ind_dims));
        }
      }
    }
  }
}

TEST(GpuMovement, rejects_out_of_range_gather_index) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  const Tensor data = random_floats({5, 3}, 7);
  for (bool wide : {true, false}) {
    const Tensor ind64 = i64({4}, {1, -5, 9, -6});  // 9 (position 2) is the first bad one
    const Tensor ind = wide ? ind64 : i32_from(ind64);
    // The CPU refuses the same index.
    expect_rejected("Gather", {data, ind}, spec(13, int_attr("axis", 0)));
    const gpu::DeviceTensor dy = dev.alloc(DType::kFloat32, {4, 3});
    const Status st = gpu::gather(dev.up(data), dev.up(ind), 0, dy, dev.stream());
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.code(), StatusCode::kBadInput) << st.to_string();
    EXPECT_NE(st.message().find("Gather"), std::string::npos) << st.to_string();
    EXPECT_NE(st.message().find("index 9 at position 2"), std::string::npos) << st.to_string();
  }
}

TEST(GpuMovement, ConcatMatchesCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  uint32_t seed = 200;
  const Dims base = {2, 3, 4};
  for (DType dt : {DType::kFloat32, DType::kUint8, DType::kFloat16}) {
    for (int64_t axis : {0, 1, 2, -1}) {
      const auto ax = static_cast<size_t>(axis < 0 ? axis + 3 : axis);
      // Three inputs of different lengths on the axis; the second case has an empty one.
      for (const Dims& lens : {Dims{1, 3, 2}, Dims{2, 0, 5}}) {
        std::vector<Tensor> xs;
        Inputs in;
        std::vector<gpu::DeviceTensor> dxs;
        for (int64_t len : lens) {
          Dims d = base;
          d[ax] = len;
          xs.push_back(random_bytes(dt, d, seed++));
          in.push_back(xs.back());
          dxs.push_back(dev.up(xs.back()));
        }
        const Tensor want = cpu("Concat", in, spec(13, int_attr("axis", axis)));
        const gpu::DeviceTensor dy = dev.alloc(dt, want.dims());
        const Status st = gpu::concat(dxs, axis, dy, dev.stream());
        ASSERT_TRUE(st.ok()) << st.to_string();
        expect_same(dev.down(dy), want,
                    "Concat axis " + std::to_string(axis) + " lengths " + ir::dims_to_string(lens) +
                        " " + std::string(dtype_name(dt)));
      }
    }
  }
}

// Slice's starts/ends/axes/steps resolved per dim as the caller does it (Operators.md clamping,
// the CPU kernel's rule): the first element and the step of every dim of x, and y's dims.
struct ResolvedSlice {
  Dims starts, steps, counts;
};
ResolvedSlice resolve_slice(const Dims& dims, const Dims& starts, const Dims& ends,
                            const Dims& axes, const Dims& steps) {
  ResolvedSlice r{Dims(dims.size(), 0), Dims(dims.size(), 1), dims};
  for (size_t j = 0; j < starts.size(); ++j) {
    const auto a =
        static_cast<size_t>(axes[j] < 0 ? axes[j] + static_cast<int64_t>(dims.size()) : axes[j]);
    const int64_t dim = dims[a], st = steps[j];
    int64_t s = starts[j] < 0 ? starts[j] + dim : starts[j];
    int64_t e = ends[j] < 0 ? ends[j] + dim : ends[j];
    if (st > 0) {
      s = std::clamp<int64_t>(s, 0, dim);
      e = std::clamp<int64_t>(e, 0, dim);
      r.counts[a] = e > s ? (e - s - 1) / st + 1 : 0;
    } else {
      s = std::clamp<int64_t>(s, 0, dim - 1);
      e = std::clamp<int64_t>(e, -1, dim - 1);
      r.counts[a] = s > e ? (s - e - 1) / (-st) + 1 : 0;
    }
    r.starts[a] = s;
    r.steps[a] = st;
  }
  return r;
}

TEST(GpuMovement, SliceMatchesCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  struct Case {
    Dims starts, ends, axes, steps;
  };
  const int64_t kBig = std::numeric_limits<int64_t>::max();
  const std::vector<Case> cases = {
      {{-1}, {-kBig}, {0}, {-1}},                    // reverse dim 0
      {{10}, {-10}, {2}, {-2}},                      // every other element backwards, clamped
      {{5, 3}, {0, -10}, {0, 2}, {-2, -1}},          // two negative steps
      {{1, 0, 1}, {5, 4, 7}, {0, 1, 2}, {2, 3, 1}},  // positive steps, whole rows kept
      {{0, 1}, {6, 3}, {-1, 1}, {1, 1}},             // contiguous runs (wide copies)
      {{3}, {1}, {1}, {1}},                          // empty result
      {{-2, 4}, {-kBig, -kBig}, {1, 0}, {-3, -1}},
  };
  Dev dev;
  uint32_t seed = 300;
  const Dims dims = {6, 5, 7};
  for (DType dt : {DType::kFloat32, DType::kUint8, DType::kFloat16}) {
    const Tensor x = random_bytes(dt, dims, seed++);
    for (const Case& c : cases) {
      const auto n = static_cast<int64_t>(c.starts.size());
      NodeSpec sp = spec(13);
      sp.constant_inputs = {1, 2, 3, 4};
      const Tensor want =
          cpu("Slice",
              {x, i64({n}, c.starts), i64({n}, c.ends), i64({n}, c.axes), i64({n}, c.steps)}, sp);
      const ResolvedSlice r = resolve_slice(dims, c.starts, c.ends, c.axes, c.steps);
      ASSERT_EQ(r.counts, want.dims()) << "the test's slice resolution disagrees with the CPU";
      const gpu::DeviceTensor dy = dev.alloc(dt, want.dims());
      const Status st = gpu::slice(dev.up(x), r.starts, r.steps, dy, dev.stream());
      ASSERT_TRUE(st.ok()) << st.to_string();
      expect_same(dev.down(dy), want,
                  "Slice starts " + ir::dims_to_string(c.starts) + " steps " +
                      ir::dims_to_string(c.steps) + " " + std::string(dtype_name(dt)));
    }
  }
}

TEST(GpuMovement, rejects_slice_reaching_outside_x) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  const gpu::DeviceTensor x = dev.up(random_floats({4, 3}, 9));
  const gpu::DeviceTensor y = dev.alloc(DType::kFloat32, {3, 3});
  // Start 2 with step 1 reaches row 4; start 1 with step -1 reaches row -1.
  for (const Dims& start_step : {Dims{2, 1}, Dims{1, -1}}) {
    const Status st = gpu::slice(x, {start_step[0], 0}, {start_step[1], 1}, y, dev.stream());
    EXPECT_EQ(st.code(), StatusCode::kBadInput) << st.to_string();
    EXPECT_NE(st.message().find("Slice"), std::string::npos) << st.to_string();
  }
  // Strings and packed 4-bit types are refused before any device work.
  gpu::DeviceTensor s4 = x;
  s4.dtype = DType::kInt4;
  gpu::DeviceTensor y4 = y;
  y4.dtype = DType::kInt4;
  const Status st = gpu::transpose(s4, {1, 0}, y4, dev.stream());
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
  EXPECT_NE(st.message().find("Transpose"), std::string::npos) << st.to_string();
}

// --- Pooling ------------------------------------------------------------------------------------

struct PoolCase {
  Dims kernel, strides, pads, dilations;  // pads: top, left, bottom, right (ONNX order)
  bool ceil = false;
};

gpu::Pool2dParams pool_params(const PoolCase& c, bool count_include_pad) {
  gpu::Pool2dParams p;
  p.kernel_h = c.kernel[0];
  p.kernel_w = c.kernel[1];
  p.stride_h = c.strides[0];
  p.stride_w = c.strides[1];
  p.pad_top = c.pads[0];
  p.pad_left = c.pads[1];
  p.pad_bottom = c.pads[2];
  p.pad_right = c.pads[3];
  p.dilation_h = c.dilations[0];
  p.dilation_w = c.dilations[1];
  p.count_include_pad = count_include_pad;
  return p;
}

Attrs pool_attrs(const PoolCase& c) {
  return [c](ir::Node& n) {
    set_ints(n, "kernel_shape", c.kernel);
    set_ints(n, "strides", c.strides);
    set_ints(n, "pads", c.pads);
    set_ints(n, "dilations", c.dilations);
    set_int(n, "ceil_mode", c.ceil ? 1 : 0);
  };
}

const std::vector<PoolCase>& pool_cases() {
  static const std::vector<PoolCase> cases = {
      {{3, 3}, {2, 2}, {1, 1, 1, 1}, {1, 1}},       {{2, 3}, {1, 2}, {0, 1, 1, 2}, {2, 1}},
      {{3, 3}, {2, 2}, {0, 0, 0, 0}, {1, 1}, true},  // last windows run past the input
      {{3, 2}, {3, 1}, {2, 1, 2, 1}, {1, 3}, true}, {{1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}},
  };
  return cases;
}

TEST(GpuPool, MaxPoolMatchesCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  Tensor x32 = random_floats({2, 3, 9, 11}, 400, -2.0f, 2.0f);
  x32.mutable_data<float>()[15] = std::numeric_limits<float>::quiet_NaN();  // propagates
  for (DType dt : {DType::kFloat32, DType::kFloat16}) {
    // float16 without the NaN: float16 NaN payloads are not compared.
    const Tensor x = dt == DType::kFloat32 ? x32 : convert(random_floats({2, 3, 9, 11}, 401), dt);
    for (const PoolCase& c : pool_cases()) {
      const Tensor want = cpu("MaxPool", {x}, spec(12, pool_attrs(c)));
      const gpu::DeviceTensor dy = dev.alloc(dt, want.dims());
      const Status st = gpu::max_pool2d(dev.up(x), pool_params(c, false), dy, dev.stream());
      ASSERT_TRUE(st.ok()) << st.to_string();
      expect_same(dev.down(dy), want,
                  "MaxPool kernel " + ir::dims_to_string(c.kernel) + " pads " +
                      ir::dims_to_string(c.pads) + " " + std::string(dtype_name(dt)));
    }
  }
}

TEST(GpuPool, AveragePoolMatchesCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  for (DType dt : {DType::kFloat32, DType::kFloat16}) {
    const Tensor x = convert(random_floats({2, 3, 9, 11}, 410), dt);
    for (const PoolCase& c : pool_cases()) {
      for (bool include_pad : {false, true}) {
        const Tensor want =
            cpu("AveragePool", {x},
                spec(19, both(pool_attrs(c), int_attr("count_include_pad", include_pad ? 1 : 0))));
        const gpu::DeviceTensor dy = dev.alloc(dt, want.dims());
        const Status st =
            gpu::average_pool2d(dev.up(x), pool_params(c, include_pad), dy, dev.stream());
        ASSERT_TRUE(st.ok()) << st.to_string();
        // Exact: the same float32 additions in the same window order and one IEEE division by
        // the same count, then the same rounding to float16.
        expect_same(dev.down(dy), want,
                    "AveragePool kernel " + ir::dims_to_string(c.kernel) + " pads " +
                        ir::dims_to_string(c.pads) + (include_pad ? " count_include_pad " : " ") +
                        std::string(dtype_name(dt)));
      }
    }
  }
}

TEST(GpuPool, GlobalPoolsMatchCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  uint32_t seed = 420;
  for (const Dims& dims : {Dims{2, 3, 7, 9}, Dims{2, 4, 1000}, Dims{1, 2, 3, 4, 5}}) {
    for (DType dt : {DType::kFloat32, DType::kFloat16}) {
      const Tensor x = convert(random_floats(dims, seed++, -1.0f, 3.0f), dt);
      const Tensor want_avg = cpu("GlobalAveragePool", {x}, spec(21));
      const Tensor want_max = cpu("GlobalMaxPool", {x}, spec(21));
      const gpu::DeviceTensor dx = dev.up(x);
      const gpu::DeviceTensor avg = dev.alloc(dt, want_avg.dims());
      const gpu::DeviceTensor mx = dev.alloc(dt, want_max.dims());
      Status st = gpu::global_average_pool(dx, avg, dev.stream());
      ASSERT_TRUE(st.ok()) << st.to_string();
      st = gpu::global_max_pool(dx, mx, dev.stream());
      ASSERT_TRUE(st.ok()) << st.to_string();
      const std::string what = ir::dims_to_string(dims) + " " + std::string(dtype_name(dt));
      // Both sum in float64, in different orders: the means differ by ~1e-16 relative, which
      // moves the rounding to float32 (then float16) by at most one unit in the last place.
      expect_within_ulps(dev.down(avg), want_avg, 1, "GlobalAveragePool " + what);
      expect_same(dev.down(mx), want_max, "GlobalMaxPool " + what);
    }
  }
}

// --- QuantizeLinear / DequantizeLinear ----------------------------------------------------------

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// x = specials followed by seeded random values in [-range, range].
Tensor qdq_input(const Dims& dims, const std::vector<float>& specials, float range, uint32_t seed) {
  Tensor x = random_floats(dims, seed, -range, range);
  for (size_t i = 0; i < specials.size(); ++i) x.mutable_data<float>()[i] = specials[i];
  return x;
}

Tensor zero_points(DType dt, const Dims& dims, int64_t lo, int64_t hi, uint32_t seed) {
  const Tensor v = random_int64s(dims, seed, lo, hi);
  Tensor z = Tensor::zeros(dt, dims).value();
  for (int64_t i = 0; i < z.numel(); ++i) {
    if (dt == DType::kInt8) z.mutable_data<int8_t>()[i] = static_cast<int8_t>(v.data<int64_t>()[i]);
    if (dt == DType::kUint8) {
      z.mutable_data<uint8_t>()[i] = static_cast<uint8_t>(v.data<int64_t>()[i]);
    }
  }
  return z;  // float8e4m3fn: all +0
}

// Runs QuantizeLinear-21 on the CPU and the device and compares the codes.
void check_quantize(Dev& dev, const Tensor& x, const Tensor& scale, const Tensor& zp, int64_t axis,
                    const std::string& what) {
  const Tensor want = cpu("QuantizeLinear", {x, scale, zp}, spec(21, int_attr("axis", axis)));
  const gpu::DeviceTensor dzp = dev.up(zp);
  const gpu::DeviceTensor dy = dev.alloc(zp.dtype(), x.dims());
  const Status st = gpu::quantize_linear(dev.up(x), dev.up(scale), &dzp, axis, dy, dev.stream());
  ASSERT_TRUE(st.ok()) << what << ": " << st.to_string();
  expect_same(dev.down(dy), want, "QuantizeLinear " + what);
}

TEST(GpuQdq, QuantizeLinearMatchesCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  // With scale 0.5: ties of round-half-even (0.25 -> 0.5, 0.75 -> 1.5, -1.25 -> -2.5, ...),
  // values past both ends of int8 and uint8, +-Inf and NaN (-> the zero point).
  const std::vector<float> int_specials = {0.25f,   0.75f,  -1.25f,  1.25f, -0.25f,  63.75f,
                                           -64.25f, 100.0f, -100.0f, 1e30f, -1e30f,  kInf,
                                           -kInf,   kNaN,   0.0f,    -0.0f, 127.25f, 64.25f};
  // With scale 1: float8e4m3fn ties (1.0625 -> 1.0, 1.1875 -> 1.25, subnormal 2^-10 -> 0 and
  // 3 * 2^-10 -> 2^-8), 464 (the tie of 448 and the missing 480 -> 448), values past 448, +-Inf
  // (-> +-448), NaN of both signs, -0, the smallest normal and just below it.
  const std::vector<float> fp8_specials = {1.0625f,
                                           1.1875f,
                                           std::ldexp(1.0f, -10),
                                           3 * std::ldexp(1.0f, -10),
                                           464.0f,
                                           -464.0f,
                                           465.0f,
                                           480.0f,
                                           1e6f,
                                           kInf,
                                           -kInf,
                                           kNaN,
                                           -kNaN,
                                           -0.0f,
                                           std::ldexp(1.0f, -6),
                                           std::nextafter(std::ldexp(1.0f, -6), 0.0f),
                                           1e-30f,
                                           -3.4e38f,
                                           448.0f,
                                           -0.001953125f};
  const Dims dims = {3, 4, 5};
  uint32_t seed = 500;
  for (DType xt : {DType::kFloat32, DType::kFloat16}) {
    for (DType yt : {DType::kInt8, DType::kUint8, DType::kFloat8E4M3FN}) {
      const bool fp8 = yt == DType::kFloat8E4M3FN;
      const float range = fp8 ? 600.0f : 80.0f;
      const Tensor x =
          convert(qdq_input(dims, fp8 ? fp8_specials : int_specials, range, seed++), xt);
      const std::string name = std::string(dtype_name(xt)) + " -> " + std::string(dtype_name(yt));
      const int64_t zlo = yt == DType::kInt8 ? -10 : 100, zhi = yt == DType::kInt8 ? 10 : 150;
      // Per tensor.
      check_quantize(dev, x, convert(f32({}, {fp8 ? 1.0f : 0.5f}), xt),
                     zero_points(yt, {}, zlo, zhi, seed++), 1, name + " per tensor");
      // Per axis, on each axis (and the last one as -1).
      for (int64_t axis : {0, 1, -1}) {
        const int64_t len = dims[static_cast<size_t>(axis < 0 ? axis + 3 : axis)];
        Tensor scale = random_floats({len}, seed++, 0.05f, 1.5f);
        scale.mutable_data<float>()[0] = fp8 ? 1.0f : 0.5f;  // the specials' ties stay ties
        check_quantize(dev, x, convert(scale, xt), zero_points(yt, {len}, zlo, zhi, seed++), axis,
                       name + " axis " + std::to_string(axis));
      }
    }
  }
}

// A zero scale: +-x / 0 is +-Inf and saturates, 0 / 0 is NaN and gives the zero point, or for
// float8e4m3fn the code of the NaN's sign: on x86-64 the CPU executor's division returns the
// negative default NaN (0xff), which the kernel reproduces (elsewhere that sign may differ).
TEST(GpuQdq, QuantizeLinearZeroScaleMatchesCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  const Tensor x = f32({8}, {0.0f, -0.0f, 1.0f, -1.0f, kInf, -kInf, kNaN, -kNaN});
  for (DType yt : {DType::kInt8, DType::kUint8, DType::kFloat8E4M3FN}) {
#if !defined(__x86_64__)
    if (yt == DType::kFloat8E4M3FN) continue;
#endif
    check_quantize(dev, x, f32({}, {0.0f}), zero_points(yt, {}, 7, 7, 1), 0,
                   std::string("zero scale -> ") + std::string(dtype_name(yt)));
  }
}

// Floats whose top 16 bits run through all 65536 patterns, each with the low 16 bits 0x0000,
// 0x0001, 0x7fff, 0x8000 and 0xffff: every sign and exponent, every float8 and int8 rounding
// tie (those have short significands), both sides of each tie, Inf, and NaNs.
TEST(GpuQdq, QuantizeLinearSweepMatchesCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  const uint32_t lows[] = {0x0000u, 0x0001u, 0x7fffu, 0x8000u, 0xffffu};
  std::vector<float> v;
  for (uint32_t hi = 0; hi < 0x10000u; ++hi) {
    for (uint32_t lo : lows) v.push_back(std::bit_cast<float>((hi << 16) | lo));
  }
  const Tensor x = f32({static_cast<int64_t>(v.size())}, v);
  Dev dev;
  for (DType yt : {DType::kFloat8E4M3FN, DType::kInt8, DType::kUint8}) {
    check_quantize(dev, x, f32({}, {1.0f}), zero_points(yt, {}, 3, 3, 1), 0,
                   std::string("sweep -> ") + std::string(dtype_name(yt)));
  }
}

void check_dequantize(Dev& dev, const Tensor& x, const Tensor& scale, const Tensor* zp,
                      int64_t axis, const std::string& what) {
  Inputs in = {x, scale};
  if (zp) in.push_back(*zp);
  const Tensor want = cpu("DequantizeLinear", in, spec(21, int_attr("axis", axis)));
  gpu::DeviceTensor dzp;
  if (zp) dzp = dev.up(*zp);
  const gpu::DeviceTensor dy = dev.alloc(scale.dtype(), x.dims());
  const Status st =
      gpu::dequantize_linear(dev.up(x), dev.up(scale), zp ? &dzp : nullptr, axis, dy, dev.stream());
  ASSERT_TRUE(st.ok()) << what << ": " << st.to_string();
  // Exact: both round the exact (x - zero point) * scale once to y's type.
  expect_same(dev.down(dy), want, "DequantizeLinear " + what, /*nan_aware=*/true);
}

TEST(GpuQdq, DequantizeLinearMatchesCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  uint32_t seed = 600;
  const Dims dims = {16, 4, 4};  // 256 elements: every 8-bit code appears in the fp8 case
  for (DType yt : {DType::kFloat32, DType::kFloat16}) {
    for (DType xt : {DType::kInt8, DType::kUint8, DType::kInt32, DType::kFloat8E4M3FN}) {
      Tensor x;
      if (xt == DType::kInt32) {
        // Full-range int32: the products need more than float64's 53 bits (rounded to odd).
        x = i32_from(random_int64s(dims, seed++, std::numeric_limits<int32_t>::min(),
                                   std::numeric_limits<int32_t>::max()));
      } else if (xt == DType::kFloat8E4M3FN) {
        std::vector<uint8_t> codes(256);
        for (int c = 0; c < 256; ++c) codes[static_cast<size_t>(c)] = static_cast<uint8_t>(c);
        x = make(DType::kFloat8E4M3FN, dims, codes);
      } else {
        x = random_bytes(xt, dims, seed++);
      }
      const bool has_zp = xt == DType::kInt8 || xt == DType::kUint8;
      const std::string name = std::string(dtype_name(xt)) + " -> " + std::string(dtype_name(yt));
      const Tensor scale = convert(random_floats({}, seed++, 0.001f, 0.3f), yt);
      const Tensor zp = zero_points(xt, {}, has_zp ? 5 : 0, has_zp ? 9 : 0, seed++);
      check_dequantize(dev, x, scale, has_zp ? &zp : nullptr, 1, name + " per tensor");
      for (int64_t axis : {0, 1, -1}) {
        const int64_t len = dims[static_cast<size_t>(axis < 0 ? axis + 3 : axis)];
        const Tensor s = convert(random_floats({len}, seed++, 0.001f, 0.3f), yt);
        const Tensor z = zero_points(xt, {len}, has_zp ? -3 : 0, has_zp ? 140 : 0, seed++);
        check_dequantize(dev, x, s, has_zp ? &z : nullptr, axis,
                         name + " axis " + std::to_string(axis));
      }
    }
  }
}

TEST(GpuQdq, rejects_unsupported_types) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  const gpu::DeviceTensor x = dev.up(random_floats({4}, 1));
  const gpu::DeviceTensor scale = dev.up(f32({}, {0.5f}));
  const gpu::DeviceTensor y16 = dev.alloc(DType::kInt16, {4});
  Status st = gpu::quantize_linear(x, scale, nullptr, 0, y16, dev.stream());
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
  EXPECT_NE(st.message().find("QuantizeLinear"), std::string::npos) << st.to_string();
  // A per-axis scale of the wrong length is bad input.
  const gpu::DeviceTensor y8 = dev.alloc(DType::kInt8, {4});
  st = gpu::quantize_linear(x, dev.up(f32({3}, {1, 2, 3})), nullptr, 0, y8, dev.stream());
  EXPECT_EQ(st.code(), StatusCode::kBadInput) << st.to_string();
  st = gpu::dequantize_linear(x, scale, nullptr, 0, dev.alloc(DType::kFloat32, {4}), dev.stream());
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
  EXPECT_NE(st.message().find("DequantizeLinear"), std::string::npos) << st.to_string();
}

// --- im2col -------------------------------------------------------------------------------------

struct ConvCase {
  Dims x;
  int64_t out_c;
  Dims kernel, strides, pads, dilations;  // pads: top, left, bottom, right
  int64_t group;
};

gpu::Conv2dGeometry geometry(const ConvCase& c, const Dims& y_dims) {
  gpu::Conv2dGeometry g{};
  g.n = c.x[0];
  g.c = c.x[1];
  g.h = c.x[2];
  g.w = c.x[3];
  g.out_c = c.out_c;
  g.kernel_h = c.kernel[0];
  g.kernel_w = c.kernel[1];
  g.stride_h = c.strides[0];
  g.stride_w = c.strides[1];
  g.pad_top = c.pads[0];
  g.pad_left = c.pads[1];
  g.pad_bottom = c.pads[2];
  g.pad_right = c.pads[3];
  g.dilation_h = c.dilations[0];
  g.dilation_w = c.dilations[1];
  g.group = c.group;
  g.out_h = y_dims[2];
  g.out_w = y_dims[3];
  return g;
}

// The host im2col of group `gi`, element bytes copied, zero bytes in the padding.
std::vector<uint8_t> host_im2col(const Tensor& x, const gpu::Conv2dGeometry& g, int64_t gi) {
  const size_t es = x.nbytes() / static_cast<size_t>(x.numel());
  const int64_t cg = g.c / g.group, k = cg * g.kernel_h * g.kernel_w;
  const int64_t rows = g.n * g.out_h * g.out_w;
  std::vector<uint8_t> cols(static_cast<size_t>(rows * k) * es, 0);
  const auto* xp = reinterpret_cast<const uint8_t*>(x.raw_data());
  for (int64_t b = 0; b < g.n; ++b) {
    for (int64_t oh = 0; oh < g.out_h; ++oh) {
      for (int64_t ow = 0; ow < g.out_w; ++ow) {
        const int64_t r = (b * g.out_h + oh) * g.out_w + ow;
        for (int64_t ci = 0; ci < cg; ++ci) {
          for (int64_t kh = 0; kh < g.kernel_h; ++kh) {
            for (int64_t kw = 0; kw < g.kernel_w; ++kw) {
              const int64_t ih = oh * g.stride_h - g.pad_top + kh * g.dilation_h;
              const int64_t iw = ow * g.stride_w - g.pad_left + kw * g.dilation_w;
              if (ih < 0 || ih >= g.h || iw < 0 || iw >= g.w) continue;
              const int64_t col = (ci * g.kernel_h + kh) * g.kernel_w + kw;
              const int64_t src = ((b * g.c + gi * cg + ci) * g.h + ih) * g.w + iw;
              std::memcpy(&cols[static_cast<size_t>(r * k + col) * es],
                          xp + static_cast<size_t>(src) * es, es);
            }
          }
        }
      }
    }
  }
  return cols;
}

const std::vector<ConvCase>& conv_cases() {
  static const std::vector<ConvCase> cases = {
      {{2, 4, 9, 10}, 6, {3, 3}, {2, 1}, {1, 2, 0, 1}, {1, 2}, 2},
      {{1, 3, 7, 7}, 5, {1, 1}, {1, 1}, {0, 0, 0, 0}, {1, 1}, 1},
      {{2, 4, 8, 6}, 8, {3, 2}, {1, 2}, {2, 1, 1, 0}, {2, 1}, 4},  // depthwise, multiplier 2
      {{1, 6, 5, 5}, 4, {2, 2}, {2, 2}, {1, 1, 1, 1}, {1, 1}, 1},
  };
  return cases;
}

Attrs conv_attrs(const ConvCase& c) {
  return [c](ir::Node& n) {
    set_ints(n, "kernel_shape", c.kernel);
    set_ints(n, "strides", c.strides);
    set_ints(n, "pads", c.pads);
    set_ints(n, "dilations", c.dilations);
    set_int(n, "group", c.group);
  };
}

TEST(GpuIm2col, ConvThroughIm2colMatchesCpu) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  uint32_t seed = 700;
  for (const ConvCase& c : conv_cases()) {
    const int64_t cg = c.x[1] / c.group, ocg = c.out_c / c.group;
    const Tensor x = random_floats(c.x, seed++);
    const Tensor w = random_floats({c.out_c, cg, c.kernel[0], c.kernel[1]}, seed++);
    const Tensor want = cpu("Conv", {x, w}, spec(11, conv_attrs(c)));
    const gpu::Conv2dGeometry g = geometry(c, want.dims());
    const int64_t rows = g.n * g.out_h * g.out_w, k = cg * g.kernel_h * g.kernel_w;
    const gpu::DeviceTensor dx = dev.up(x);
    const gpu::DeviceTensor dy = dev.alloc(DType::kFloat32, want.dims());
    std::vector<double> magnitude(static_cast<size_t>(want.numel()));
    const std::string what =
        "Conv x " + ir::dims_to_string(c.x) + " group " + std::to_string(c.group);
    for (int64_t gi = 0; gi < c.group; ++gi) {
      const gpu::DeviceTensor cols = dev.alloc(DType::kFloat32, {rows, k});
      Status st = gpu::im2col(dx, g, gi, cols.data, dev.stream());
      ASSERT_TRUE(st.ok()) << st.to_string();
      const Tensor got_cols = dev.down(cols);
      const std::vector<uint8_t> want_cols = host_im2col(x, g, gi);
      ASSERT_EQ(got_cols.nbytes(), want_cols.size());
      EXPECT_EQ(std::memcmp(got_cols.raw_data(), want_cols.data(), want_cols.size()), 0)
          << what << ": im2col of group " << gi << " differs from the host layout";
      // The GEMM on the host in float64: rows[r][oc] = cols[r] . W[g * ocg + oc].
      const float* cp = got_cols.data<float>();
      const float* wp = w.data<float>() + gi * ocg * k;
      Tensor gemm = Tensor::zeros(DType::kFloat32, {rows, ocg}).value();
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t oc = 0; oc < ocg; ++oc) {
          double acc = 0, mag = 0;
          for (int64_t j = 0; j < k; ++j) {
            const double t = static_cast<double>(cp[r * k + j]) * wp[oc * k + j];
            acc += t;
            mag += std::fabs(t);
          }
          gemm.mutable_data<float>()[r * ocg + oc] = static_cast<float>(acc);
          const int64_t plane = g.out_h * g.out_w;
          const int64_t b = r / plane, p = r % plane;
          magnitude[static_cast<size_t>((b * c.out_c + gi * ocg + oc) * plane + p)] = mag;
        }
      }
      const gpu::DeviceTensor drows = dev.up(gemm);
      st = gpu::scatter_gemm_output(drows.data, g, gi, dy, dev.stream());
      ASSERT_TRUE(st.ok()) << st.to_string();
    }
    // The device path is the float64 sum rounded once (half an ulp); the CPU Conv accumulates
    // its k <= 36 products in float32, off by at most about k * 2^-24 of the sum of their
    // magnitudes (2.2e-6): float32's kernel tolerance (1e-5 of that magnitude, 1e-6 absolute)
    // covers both with room, and a misplaced element is off by O(1).
    const std::string diff = compare_to_reference(dev.down(dy), to_doubles(want), &magnitude);
    EXPECT_EQ(diff, "") << what;
  }
}

TEST(GpuIm2col, CopiesBytesOfEveryDtype) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  uint32_t seed = 800;
  const ConvCase& c = conv_cases()[0];
  const Tensor ref = cpu("Conv",
                         {random_floats(c.x, 1),
                          random_floats({c.out_c, c.x[1] / c.group, c.kernel[0], c.kernel[1]}, 2)},
                         spec(11, conv_attrs(c)));
  const gpu::Conv2dGeometry g = geometry(c, ref.dims());
  const int64_t rows = g.n * g.out_h * g.out_w, k = g.c / g.group * g.kernel_h * g.kernel_w;
  for (DType dt : {DType::kFloat16, DType::kInt8, DType::kFloat8E4M3FN, DType::kFloat32}) {
    const Tensor x = random_bytes(dt, c.x, seed++);
    for (int64_t gi = 0; gi < g.group; ++gi) {
      const gpu::DeviceTensor cols = dev.alloc(dt, {rows, k});
      const Status st = gpu::im2col(dev.up(x), g, gi, cols.data, dev.stream());
      ASSERT_TRUE(st.ok()) << st.to_string();
      const Tensor got = dev.down(cols);
      const std::vector<uint8_t> want = host_im2col(x, g, gi);
      ASSERT_EQ(got.nbytes(), want.size());
      EXPECT_EQ(std::memcmp(got.raw_data(), want.data(), want.size()), 0)
          << "im2col " << dtype_name(dt) << " group " << gi;
    }
  }
  // scatter_gemm_output writes only its group's channels: y keeps the 0xab fill elsewhere.
  for (DType dt : {DType::kFloat16, DType::kFloat32}) {
    const int64_t ocg = g.out_c / g.group, plane = g.out_h * g.out_w;
    const Tensor r = random_bytes(dt, {rows, ocg}, seed++);
    const gpu::DeviceTensor dy = dev.alloc(dt, ref.dims());
    const Status st = gpu::scatter_gemm_output(dev.up(r).data, g, 1, dy, dev.stream());
    ASSERT_TRUE(st.ok()) << st.to_string();
    Tensor want = Tensor::zeros(dt, ref.dims()).value();
    const size_t es = want.nbytes() / static_cast<size_t>(want.numel());
    auto* wp = reinterpret_cast<uint8_t*>(want.mutable_raw_data());
    std::memset(wp, 0xab, want.nbytes());
    const auto* rp = reinterpret_cast<const uint8_t*>(r.raw_data());
    for (int64_t row = 0; row < rows; ++row) {
      for (int64_t oc = 0; oc < ocg; ++oc) {
        const int64_t b = row / plane, p = row % plane;
        const int64_t dst = (b * g.out_c + ocg + oc) * plane + p;  // group 1
        std::memcpy(wp + static_cast<size_t>(dst) * es,
                    rp + static_cast<size_t>(row * ocg + oc) * es, es);
      }
    }
    expect_same(dev.down(dy), want, "scatter_gemm_output " + std::string(dtype_name(dt)));
  }
}

TEST(GpuIm2col, rejects_inconsistent_geometry) {
  if (!gpu::device_available()) {
    GTEST_SKIP() << "no usable CUDA device: " << gpu::discover_devices().reason
                 << " — run on a GPU machine";
  }
  Dev dev;
  const ConvCase& c = conv_cases()[0];
  const gpu::DeviceTensor x = dev.up(random_floats(c.x, 3));
  // Conv's output here: (9 + 1 + 0 - 1 * 2 - 1) / 2 + 1 = 4 rows, (10 + 2 + 1 - 2 * 2 - 1) + 1 = 9
  // columns.
  gpu::Conv2dGeometry g = geometry(c, {2, 6, 4, 9});
  const gpu::DeviceTensor cols = dev.alloc(DType::kFloat32, {2 * 4 * 9, 2 * 9});
  Status st = gpu::im2col(x, g, 0, cols.data, dev.stream());
  ASSERT_TRUE(st.ok()) << st.to_string();
  g.out_h = 5;
  st = gpu::im2col(x, g, 0, cols.data, dev.stream());
  EXPECT_EQ(st.code(), StatusCode::kBadInput) << st.to_string();
  g.out_h = 4;
  st = gpu::im2col(x, g, 2, cols.data, dev.stream());  // group index past the 2 groups
  EXPECT_EQ(st.code(), StatusCode::kBadInput) << st.to_string();
  gpu::DeviceTensor xu8 = x;
  xu8.dtype = DType::kUint8;
  st = gpu::im2col(xu8, g, 0, cols.data, dev.stream());
  EXPECT_EQ(st.code(), StatusCode::kUnsupported) << st.to_string();
}

}  // namespace
}  // namespace mixq
