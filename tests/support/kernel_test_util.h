// Small helpers shared by the kernel tests (tests/kernels/*_kernels_test.cc): tensor literals,
// dtype conversion of float32 test data, attribute setters, byte views for bit-identity checks
// and row-major index arithmetic for the float64 references. Header-only; a test file pulls
// them in with `using namespace testing::kt;`.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "mixq/core/float_bits.h"
#include "mixq/ir/tensor.h"

namespace mixq::testing::kt {

using Dims = std::vector<int64_t>;
using Attrs = std::function<void(ir::Node&)>;
using testing::compare_to_reference;
using testing::from_doubles;
using testing::NodeSpec;
using testing::random_floats;
using testing::random_int64s;
using testing::run_node;
using testing::set_float;
using testing::set_int;
using testing::set_ints;
using testing::set_string;
using testing::to_doubles;

// --- Tensor literals ---------------------------------------------------------------------------

template <typename T>
ir::Tensor make(DType dtype, const Dims& dims, const std::vector<T>& v) {
  ir::Tensor t = ir::Tensor::zeros(dtype, dims).value();
  std::copy(v.begin(), v.end(), t.mutable_data<T>());
  return t;
}
inline ir::Tensor f32(const Dims& d, const std::vector<float>& v) {
  return ir::Tensor::from_floats(d, v);
}
inline ir::Tensor i64(const Dims& d, const std::vector<int64_t>& v) {
  return ir::Tensor::from_int64s(d, v);
}
inline ir::Tensor i32(const Dims& d, const std::vector<int32_t>& v) {
  return make(DType::kInt32, d, v);
}
inline ir::Tensor u8(const Dims& d, const std::vector<uint8_t>& v) {
  return make(DType::kUint8, d, v);
}
inline ir::Tensor i8(const Dims& d, const std::vector<int8_t>& v) {
  return make(DType::kInt8, d, v);
}
inline ir::Tensor boolean(const Dims& d, const std::vector<uint8_t>& v) {
  return make(DType::kBool, d, v);
}
inline ir::Tensor i64(int64_t v) { return ir::Tensor::from_int64s({}, {v}); }
inline ir::Tensor bools(const Dims& dims, const std::vector<bool>& v) {
  ir::Tensor t = ir::Tensor::zeros(DType::kBool, dims).value();
  for (size_t i = 0; i < v.size(); ++i) t.mutable_data<bool>()[i] = v[i];
  return t;
}
inline ir::Tensor strings(const Dims& d, const std::vector<std::string>& v) {
  return ir::Tensor::from_strings(d, v).value();
}

// float32 values converted to another dtype, rounded (16-bit floats) or truncated (integers)
// as a Cast would. float32 is returned unchanged.
inline ir::Tensor convert(const ir::Tensor& t, DType to) {
  if (to == DType::kFloat32) return t;
  ir::Tensor out = ir::Tensor::zeros(to, t.dims()).value();
  const float* p = t.data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) {
    switch (to) {
      case DType::kFloat16:
        out.mutable_data<uint16_t>()[i] = float_to_float16(p[i]);
        break;
      case DType::kBFloat16:
        out.mutable_data<uint16_t>()[i] = float_to_bfloat16(p[i]);
        break;
      case DType::kFloat64:
        out.mutable_data<double>()[i] = p[i];
        break;
      case DType::kInt8:
        out.mutable_data<int8_t>()[i] = static_cast<int8_t>(p[i]);
        break;
      case DType::kInt32:
        out.mutable_data<int32_t>()[i] = static_cast<int32_t>(p[i]);
        break;
      case DType::kInt64:
        out.mutable_data<int64_t>()[i] = static_cast<int64_t>(p[i]);
        break;
      case DType::kUint8:
        out.mutable_data<uint8_t>()[i] = static_cast<uint8_t>(p[i]);
        break;
      default:
        ADD_FAILURE() << "convert: unhandled dtype";
    }
  }
  return out;
}

template <typename T>
std::vector<T> values(const ir::Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

// The tensor's bytes (strings NUL-separated), for bit-identity across thread counts.
inline std::string bytes(const ir::Tensor& t) {
  if (t.dtype() == DType::kString) {
    std::string s;
    for (const auto& e : t.strings()) s += e + '\0';
    return s;
  }
  return std::string(reinterpret_cast<const char*>(t.raw_data()), t.nbytes());
}
inline bool same_bytes(const ir::Tensor& a, const ir::Tensor& b) {
  return a.dims() == b.dims() && a.nbytes() == b.nbytes() &&
         std::memcmp(a.raw_data(), b.raw_data(), a.nbytes()) == 0;
}

// --- Attributes --------------------------------------------------------------------------------

inline Attrs int_attr(std::string name, int64_t v) {
  return [=](ir::Node& n) { set_int(n, name, v); };
}
inline Attrs float_attr(std::string name, float v) {
  return [=](ir::Node& n) { set_float(n, name, v); };
}
inline Attrs ints_attr(std::string name, std::vector<int64_t> v) {
  return [=](ir::Node& n) { set_ints(n, name, v); };
}
inline Attrs both(Attrs a, Attrs b) {
  return [=](ir::Node& n) {
    a(n);
    b(n);
  };
}

// --- Running nodes ----------------------------------------------------------------------------

inline NodeSpec spec(int64_t opset, Attrs attrs = nullptr, size_t outputs = 1, int threads = 2) {
  NodeSpec s;
  s.opset = opset;
  s.attrs = std::move(attrs);
  s.num_outputs = outputs;
  s.threads = threads;
  return s;
}

// Runs the node and asserts success.
inline std::vector<ir::Tensor> run(const std::string& op,
                                   const std::vector<std::optional<ir::Tensor>>& in,
                                   const NodeSpec& spec = {}) {
  auto r = run_node(op, in, spec);
  EXPECT_TRUE(r.ok()) << op << ": " << r.status().to_string();
  return r.ok() ? *r : std::vector<ir::Tensor>(spec.num_outputs);
}

// The run failed with `code` and a message naming the node ("Gather 'Gather_0'" in run_node
// graphs).
inline void expect_rejected(const Expected<std::vector<ir::Tensor>>& r, StatusCode code,
                            const std::string& op) {
  ASSERT_FALSE(r.ok()) << op << " unexpectedly succeeded";
  EXPECT_EQ(r.status().code(), code) << r.status().to_string();
  EXPECT_NE(r.status().message().find(op + " '" + op + "_0'"), std::string::npos)
      << r.status().to_string();
}
inline void expect_rejected(const std::string& op, const std::vector<std::optional<ir::Tensor>>& in,
                            const NodeSpec& spec, StatusCode code = StatusCode::kBadInput) {
  expect_rejected(run_node(op, in, spec), code, op);
}

// Every output is bit-identical with 1 and with 3 threads.
inline void expect_thread_independent(const std::string& op,
                                      const std::vector<std::optional<ir::Tensor>>& in,
                                      NodeSpec spec) {
  spec.threads = 1;
  const auto one = run(op, in, spec);
  spec.threads = 3;
  const auto three = run(op, in, spec);
  ASSERT_EQ(one.size(), three.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(bytes(one[i]), bytes(three[i]))
        << op << " output " << i << " differs across thread counts";
  }
}

// The first and the last row of input 0 (an image, a token), run alone, give the same bytes
// of output 0 as in the run of the whole batch: a row's outputs do not depend on how many rows
// share the call (the layout of the data in runs).
inline void expect_rows_independent(const std::string& op,
                                    const std::vector<std::optional<ir::Tensor>>& in,
                                    const NodeSpec& spec) {
  auto all = run_node(op, in, spec);
  ASSERT_TRUE(all.ok()) << op << ": " << all.status().to_string();
  const ir::Tensor& whole = (*all)[0];
  const ir::Tensor& x = *in[0];
  const int64_t rows = x.dims()[0];
  const int64_t in_size = x.numel() / rows, out_size = whole.numel() / rows;
  for (const int64_t i : {int64_t{0}, rows - 1}) {
    Dims one = x.dims();
    one[0] = 1;
    const float* xi = x.data<float>() + i * in_size;
    std::vector<std::optional<ir::Tensor>> alone = in;
    alone[0] = make<float>(DType::kFloat32, one, std::vector<float>(xi, xi + in_size));
    auto r = run_node(op, alone, spec);
    ASSERT_TRUE(r.ok()) << op << ": " << r.status().to_string();
    const ir::Tensor& yi = (*r)[0];
    ASSERT_EQ(yi.numel(), out_size);
    EXPECT_EQ(std::memcmp(yi.data<float>(), whole.data<float>() + i * out_size,
                          static_cast<size_t>(out_size) * sizeof(float)),
              0)
        << op << " " << ir::dims_to_string(x.dims()) << ": row " << i << " alone";
  }
}

// The run failed with kBadInput and a message naming `node` and containing `text`.
inline void expect_bad_input(const Expected<std::vector<ir::Tensor>>& r, const std::string& node,
                             const std::string& text) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kBadInput) << r.status().to_string();
  EXPECT_NE(r.status().message().find(node), std::string::npos) << r.status().to_string();
  EXPECT_NE(r.status().message().find(text), std::string::npos) << r.status().to_string();
}

// --- Row-major index arithmetic for references -------------------------------------------------

inline int64_t numel(const Dims& d) {
  int64_t n = 1;
  for (int64_t v : d) n *= v;
  return n;
}
// Row-major odometer: advances idx within dims; false after the last index.
inline bool next_index(Dims& idx, const Dims& dims) {
  for (size_t d = dims.size(); d-- > 0;) {
    if (++idx[d] < dims[d]) return true;
    idx[d] = 0;
  }
  return false;
}
inline int64_t flat(const Dims& idx, const Dims& dims) {
  int64_t f = 0;
  for (size_t d = 0; d < dims.size(); ++d) f = f * dims[d] + idx[d];
  return f;
}
inline int64_t ravel(const Dims& idx, const Dims& dims) { return flat(idx, dims); }
inline Dims unravel(int64_t i, const Dims& d) {
  Dims idx(d.size());
  for (size_t k = d.size(); k-- > 0;) {
    idx[k] = i % d[k];
    i /= d[k];
  }
  return idx;
}
inline Dims random_dims(std::mt19937& rng, size_t rank, int64_t lo, int64_t hi) {
  std::uniform_int_distribution<int64_t> dist(lo, hi);
  Dims d(rank);
  for (auto& v : d) v = dist(rng);
  return d;
}

}  // namespace mixq::testing::kt

// Runs `op` and binds its first output to `var` (asserting success).
#define RUN(var, ...)                                                  \
  auto var##_result = run_node(__VA_ARGS__);                           \
  ASSERT_TRUE(var##_result.ok()) << var##_result.status().to_string(); \
  const ir::Tensor& var = (*var##_result)[0]
