// Kernel tests for Softmax, CumSum, LpNormalization, Gemm, Einsum, Det and Dropout.
// reference, float16/bfloat16 variants, thread-count determinism, and rejects_* cases.
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "graph_builder.h"
#include "kernel_runner.h"
#include "kernel_test_util.h"
#include "mixq/core/float_bits.h"
#include "tolerances.h"

namespace mixq {
namespace {

using namespace testing::kt;  // NOLINT(google-build-using-namespace)

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

// --- Softmax family ------------------------------------------------------------------------

// Reference over [outer, len, inner].
std::vector<double> softmax_ref(const std::vector<double>& x, int64_t outer, int64_t len,
                                int64_t inner, const std::string& op) {
  std::vector<double> y(x.size());
  for (int64_t o = 0; o < outer; ++o) {
    for (int64_t i = 0; i < inner; ++i) {
      auto at = [&](int64_t j) { return static_cast<size_t>((o * len + j) * inner + i); };
      double mx = -INFINITY, sum = 0;
      int64_t best = 0;
      for (int64_t j = 0; j < len; ++j) {
        if (x[at(j)] > mx) {
          mx = x[at(j)];
          best = j;
        }
      }
      for (int64_t j = 0; j < len; ++j) sum += std::exp(x[at(j)] - mx);
      for (int64_t j = 0; j < len; ++j) {
        if (op == "Softmax") y[at(j)] = std::exp(x[at(j)] - mx) / sum;
        if (op == "LogSoftmax") y[at(j)] = x[at(j)] - mx - std::log(sum);
        if (op == "Hardmax") y[at(j)] = j == best ? 1 : 0;
      }
    }
  }
  return y;
}

TEST(MathKernels, SoftmaxFamilyAxisRulesPerOpset) {
  const ir::Tensor x = random_floats({3, 4, 5}, 61, -5.0f, 5.0f);
  const auto xv = to_doubles(x);
  for (const std::string op : {"Softmax", "LogSoftmax", "Hardmax"}) {
    // Opset 11, axis 1: coerced to [3, 20].
    RUN(v11, op, {x}, {.opset = 11});
    EXPECT_EQ(compare_to_reference(v11, softmax_ref(xv, 3, 20, 1, op)), "") << op;
    // Opset 13, axis 1: only the middle dim.
    RUN(v13, op, {x}, {.opset = 13, .attrs = int_attr("axis", 1)});
    EXPECT_EQ(compare_to_reference(v13, softmax_ref(xv, 3, 4, 5, op)), "") << op;
    RUN(last, op, {x}, {.opset = 13});
    EXPECT_EQ(compare_to_reference(last, softmax_ref(xv, 12, 5, 1, op)), "") << op;
    RUN(first, op, {x}, {.opset = 13, .attrs = int_attr("axis", -3)});
    EXPECT_EQ(compare_to_reference(first, softmax_ref(xv, 1, 3, 20, op)), "") << op;
    const ir::Tensor xh = convert(x, DType::kFloat16);
    RUN(half, op, {xh}, {.opset = 13});
    EXPECT_EQ(compare_to_reference(half, softmax_ref(to_doubles(xh), 12, 5, 1, op)), "") << op;
  }
  // Large inputs: the max is subtracted first; Hardmax takes the first of equal maxima.
  RUN(big, "LogSoftmax", {f32({3}, {10000.0f, 10001.0f, 10002.0f})});
  EXPECT_EQ(compare_to_reference(big, softmax_ref({10000, 10001, 10002}, 1, 3, 1, "LogSoftmax")),
            "");
  RUN(tie, "Hardmax", {f32({4}, {1, 3, 3, 0})});
  EXPECT_EQ(values<float>(tie), (std::vector<float>{0, 1, 0, 0}));
}

TEST(MathKernels, SoftmaxIsBitIdenticalAcrossThreadCounts) {
  const ir::Tensor x = random_floats({64, 300, 7}, 62, -3.0f, 3.0f);
  for (int64_t axis : {1, 2}) {
    std::string first;
    for (int threads : {1, 2, 5}) {
      RUN(y, "Softmax", {x}, {.opset = 13, .attrs = int_attr("axis", axis), .threads = threads});
      if (first.empty()) {
        first = bytes(y);
      } else {
        EXPECT_TRUE(bytes(y) == first) << "axis " << axis << " threads " << threads;
      }
    }
  }
}

// Every parallel math kernel gives the same bits for any thread count (chunks depend on sizes
// only). Inputs are large enough to split into many chunks.
TEST(MathKernels, ParallelKernelsAreBitIdenticalAcrossThreadCounts) {
  const ir::Tensor x = random_floats({8, 64, 300}, 63, -3.0f, 3.0f);
  const ir::Tensor z = random_floats({64, 1}, 64, 0.5f, 2.0f);
  const ir::Tensor cond = run_node("Greater", {x, f32({}, {0.0f})}).value()[0];
  struct Case {
    std::string op;
    std::vector<std::optional<ir::Tensor>> in;
    std::function<void(ir::Node&)> attrs;
  };
  const std::vector<Case> cases = {
      {"Add", {x, z}, nullptr},
      {"Pow", {x, z}, nullptr},
      {"Gelu", {x}, nullptr},
      {"Sigmoid", {x}, nullptr},
      {"PRelu", {x, z}, nullptr},
      {"Where", {cond, x, z}, nullptr},
      {"Mean", {x, z, x}, nullptr},
      {"CumSum", {x, i64({}, {1})}, nullptr},
      {"LpNormalization", {x}, int_attr("axis", 1)},
      {"LogSoftmax", {x}, int_attr("axis", 1)},
      {"Gemm", {random_floats({300, 200}, 65), random_floats({200, 250}, 66)}, nullptr},
      {"Einsum",
       {x, random_floats({8, 300, 40}, 67)},
       [](ir::Node& n) { set_string(n, "equation", "bij,bjk->bik"); }},
  };
  for (const Case& c : cases) {
    std::string first;
    for (int threads : {1, 4}) {
      RUN(y, c.op, c.in, {.attrs = c.attrs, .threads = threads});
      if (threads == 1) {
        first = bytes(y);
      } else {
        EXPECT_TRUE(bytes(y) == first) << c.op;
      }
    }
  }
}

// --- CumSum, LpNormalization -------------------------------------------------------------

TEST(MathKernels, CumSumSpecExamples) {
  const ir::Tensor x = f32({5}, {1, 2, 3, 4, 5});
  const ir::Tensor axis = i32({}, {0});
  auto attrs = [](int64_t exclusive, int64_t reverse) {
    return [=](ir::Node& n) {
      set_int(n, "exclusive", exclusive);
      set_int(n, "reverse", reverse);
    };
  };
  RUN(plain, "CumSum", {x, axis});
  EXPECT_EQ(values<float>(plain), (std::vector<float>{1, 3, 6, 10, 15}));
  RUN(excl, "CumSum", {x, axis}, {.attrs = attrs(1, 0)});
  EXPECT_EQ(values<float>(excl), (std::vector<float>{0, 1, 3, 6, 10}));
  RUN(rev, "CumSum", {x, axis}, {.attrs = attrs(0, 1)});
  EXPECT_EQ(values<float>(rev), (std::vector<float>{15, 14, 12, 9, 5}));
  RUN(both, "CumSum", {x, axis}, {.attrs = attrs(1, 1)});
  EXPECT_EQ(values<float>(both), (std::vector<float>{14, 12, 9, 5, 0}));
  RUN(rows, "CumSum", {i32({2, 3}, {1, 2, 3, 4, 5, 6}), i64({}, {-1})});
  EXPECT_EQ(values<int32_t>(rows), (std::vector<int32_t>{1, 3, 6, 4, 9, 15}));
  RUN(cols, "CumSum", {i64({2, 3}, {1, 2, 3, 4, 5, 6}), i32({1}, {0})});
  EXPECT_EQ(values<int64_t>(cols), (std::vector<int64_t>{1, 2, 3, 5, 7, 9}));
}

TEST(MathKernels, CumSumMatchesReferenceOnEveryAxis) {
  const ir::Tensor x = random_floats({4, 50, 30}, 71);
  const auto xv = to_doubles(x);
  const Dims d{4, 50, 30};
  for (int64_t axis = 0; axis < 3; ++axis) {
    for (DType dt : {DType::kFloat32, DType::kFloat16}) {
      const ir::Tensor in = dt == DType::kFloat32 ? x : convert(x, dt);
      RUN(y, "CumSum", {in, i64({}, {axis})}, {.attrs = int_attr("reverse", 1)});
      int64_t outer = 1, inner = 1;
      for (int64_t k = 0; k < axis; ++k) outer *= d[k];
      for (int64_t k = axis + 1; k < 3; ++k) inner *= d[k];
      const auto iv = to_doubles(in);
      std::vector<double> want(iv.size()), mag(iv.size());
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t i = 0; i < inner; ++i) {
          double s = 0, m = 0;
          for (int64_t j = d[axis] - 1; j >= 0; --j) {
            const auto at = static_cast<size_t>((o * d[axis] + j) * inner + i);
            s += iv[at];
            m += std::fabs(iv[at]);
            want[at] = s;
            mag[at] = m;
          }
        }
      }
      EXPECT_EQ(compare_to_reference(y, want, &mag), "") << axis << " " << dtype_name(dt);
    }
  }
}

TEST(MathKernels, LpNormalizationAlongAxis) {
  const ir::Tensor x = f32({2, 3}, {3, 0, -4, 0, 0, 0});
  RUN(l2, "LpNormalization", {x});
  EXPECT_EQ(compare_to_reference(l2, {0.6, 0, -0.8, 0, 0, 0}), "");
  RUN(l1, "LpNormalization", {x}, {.attrs = int_attr("p", 1)});
  EXPECT_EQ(compare_to_reference(l1, {3.0 / 7, 0, -4.0 / 7, 0, 0, 0}), "");
  RUN(a0, "LpNormalization", {x}, {.attrs = int_attr("axis", 0)});
  EXPECT_EQ(compare_to_reference(a0, {1, 0, -1, 0, 0, 0}), "");
  // Values near float32's limits do not overflow the norm.
  RUN(huge, "LpNormalization", {f32({2}, {1.8e38f, 2.4e38f})});
  EXPECT_EQ(compare_to_reference(huge, {0.6, 0.8}), "");
}

TEST(MathKernels, rejects_lp_normalization_with_p_3) {
  expect_rejected(run_node("LpNormalization", {f32({2}, {1, 2})}, {.attrs = int_attr("p", 3)}),
                  StatusCode::kBadInput, "LpNormalization");
}

// --- Gemm --------------------------------------------------------------------------------

TEST(MathKernels, GemmAttributesAndBiasShapes) {
  const int64_t m = 37, n = 29, k = 41;
  const ir::Tensor a = random_floats({k, m}, 81);  // transA
  const ir::Tensor b = random_floats({n, k}, 82);  // transB
  const auto av = to_doubles(a), bv = to_doubles(b);
  const std::vector<Dims> c_shapes = {{m, n}, {n}, {m, 1}, {}, {1, n}};
  for (const Dims& cd : c_shapes) {
    const ir::Tensor c = random_floats(cd, 83);
    const auto cv = to_doubles(c);
    RUN(y, "Gemm", {a, b, c}, {.opset = 13, .attrs = [](ir::Node& nd) {
                                 set_int(nd, "transA", 1);
                                 set_int(nd, "transB", 1);
                                 set_float(nd, "alpha", 0.5f);
                                 set_float(nd, "beta", -2.0f);
                               }});
    std::vector<double> want, mag;
    for (int64_t i = 0; i < m; ++i) {
      for (int64_t j = 0; j < n; ++j) {
        double s = 0, sm = 0;
        for (int64_t p = 0; p < k; ++p) {
          s += av[p * m + i] * bv[j * k + p];
          sm += std::fabs(av[p * m + i] * bv[j * k + p]);
        }
        const int64_t ci = (cd.size() == 2 ? (cd[0] == 1 ? 0 : i) * cd[1] : 0) +
                           (cd.empty() || cd.back() == 1 ? 0 : j);
        const double cval = cv[static_cast<size_t>(ci)];
        want.push_back(0.5 * s - 2.0 * cval);
        mag.push_back(0.5 * sm + 2.0 * std::fabs(cval));
      }
    }
    EXPECT_EQ(compare_to_reference(y, want, &mag), "") << ir::dims_to_string(cd);
  }
}

TEST(MathKernels, GemmOptionalCIntegerAndHalfTypes) {
  const ir::Tensor a = f32({2, 3}, {1, 2, 3, 4, 5, 6});
  const ir::Tensor b = f32({3, 2}, {1, 0, 0, 1, 1, 1});
  RUN(noc, "Gemm", {a, b}, {.opset = 11});
  EXPECT_EQ(values<float>(noc), (std::vector<float>{4, 5, 10, 11}));
  RUN(half, "Gemm",
      {convert(a, DType::kFloat16), convert(b, DType::kFloat16),
       convert(f32({1}, {0.5f}), DType::kFloat16)});
  EXPECT_EQ(to_doubles(half), (std::vector<double>{4.5, 5.5, 10.5, 11.5}));
  RUN(ints, "Gemm",
      {i32({2, 3}, {1, 2, 3, 4, 5, 6}), i32({3, 2}, {1, 0, 0, 1, 1, 1}), i32({2}, {10, 20})},
      {.attrs = float_attr("alpha", 2.0f)});
  EXPECT_EQ(values<int32_t>(ints), (std::vector<int32_t>{18, 30, 30, 42}));
  // Opset 6 with broadcast = 1 takes a vector C.
  RUN(v6, "Gemm", {a, b, f32({2}, {1, 2})}, {.opset = 6, .attrs = int_attr("broadcast", 1)});
  EXPECT_EQ(values<float>(v6), (std::vector<float>{5, 7, 11, 13}));
}

TEST(MathKernels, rejects_gemm_vector_c_without_broadcast_before_opset_7) {
  expect_rejected(
      run_node("Gemm", {f32({1, 1}, {1}), f32({1, 2}, {1, 2}), f32({2}, {1, 2})}, {.opset = 6}),
      StatusCode::kBadInput, "Gemm");
}

// --- Einsum ------------------------------------------------------------------------------

// A naive evaluation of an explicit letters-only equation ("ij,jk->ik") over every label
// assignment.
std::vector<double> einsum_ref(const std::string& eq, const std::vector<ir::Tensor>& ins) {
  const size_t arrow = eq.find("->");
  std::vector<std::string> terms;
  for (size_t s = 0, c;; s = c + 1) {
    c = eq.find(',', s);
    terms.push_back(eq.substr(s, std::min(c, arrow) - s));
    if (c > arrow) break;
  }
  const std::string out = eq.substr(arrow + 2);
  std::map<char, int64_t> size;
  for (size_t i = 0; i < terms.size(); ++i)
    for (size_t p = 0; p < terms[i].size(); ++p)
      size[terms[i][p]] = std::max(size[terms[i][p]], ins[i].dims()[p]);
  std::vector<std::vector<double>> v;
  for (const auto& t : ins) v.push_back(to_doubles(t));
  int64_t out_n = 1;
  for (char c : out) out_n *= size[c];
  std::vector<double> y(static_cast<size_t>(out_n), 0.0);
  std::vector<char> labels;
  int64_t total = 1;
  for (auto [c, s] : size) {
    labels.push_back(c);
    total *= s;
  }
  std::map<char, int64_t> idx;
  for (int64_t combo = 0; combo < total; ++combo) {
    for (int64_t r = combo, k = static_cast<int64_t>(labels.size()) - 1; k >= 0; --k) {
      idx[labels[k]] = r % size[labels[k]];
      r /= size[labels[k]];
    }
    double prod = 1;
    for (size_t i = 0; i < terms.size(); ++i) {
      int64_t off = 0;
      for (size_t p = 0; p < terms[i].size(); ++p) {
        const int64_t d = ins[i].dims()[p];
        off = off * d + (d == 1 ? 0 : idx[terms[i][p]]);  // size-1 dims broadcast
      }
      prod *= v[i][static_cast<size_t>(off)];
    }
    int64_t o = 0;
    for (char c : out) o = o * size[c] + idx[c];
    y[static_cast<size_t>(o)] += prod;
  }
  return y;
}

TEST(MathKernels, EinsumMatchesNaiveReference) {
  struct Case {
    std::string eq, ref_eq;  // ref_eq: the explicit letters-only form for the reference
    std::vector<Dims> shapes;
  };
  const std::vector<Case> cases = {
      {"ij,jk->ik", "ij,jk->ik", {{5, 7}, {7, 3}}},
      {"ij,kj->ik", "ij,kj->ik", {{5, 7}, {4, 7}}},
      {"ji,jk", "ji,jk->ik", {{7, 5}, {7, 3}}},  // implicit output: ik
      {"bhqd,bhkd->bhqk", "bhqd,bhkd->bhqk", {{2, 3, 5, 8}, {2, 3, 6, 8}}},
      {"bqd,bkd->bkq", "bqd,bkd->bkq", {{2, 5, 8}, {2, 6, 8}}},
      {"ii->i", "ii->i", {{4, 4}}},
      {"ii", "ii->", {{4, 4}}},
      {"bii->bi", "bii->bi", {{3, 4, 4}}},
      {"ij->ji", "ij->ji", {{3, 5}}},
      {"ij->", "ij->", {{3, 5}}},
      {"i,i", "i,i->", {{6}, {6}}},
      {"i,j->ij", "i,j->ij", {{3}, {4}}},
      {"ij,jk,kl->il", "ij,jk,kl->il", {{3, 4}, {4, 5}, {5, 2}}},
      {"ijk,ikl->jl", "ijk,ikl->jl", {{2, 3, 4}, {2, 4, 5}}},
      {"ij,ij->ij", "ij,ij->ij", {{1, 3}, {4, 3}}},  // size-1 broadcast
      {"...ij,...jk->...ik", "aij,ajk->aik", {{2, 3, 4}, {1, 4, 5}}},
      {"...ii->...i", "aii->ai", {{3, 4, 4}}},
      {"i...,i...", "ia,ia->a", {{3, 2}, {3, 2}}},  // implicit: the ellipsis dims stay
      {"ab,bc->", "ab,bc->", {{3, 4}, {4, 2}}},
  };
  uint32_t seed = 90;
  for (const Case& c : cases) {
    std::vector<std::optional<ir::Tensor>> ins;
    std::vector<ir::Tensor> plain;
    for (const Dims& d : c.shapes) {
      plain.push_back(random_floats(d, seed++));
      ins.push_back(plain.back());
    }
    auto out =
        run_node("Einsum", ins, {.attrs = [&](ir::Node& n) { set_string(n, "equation", c.eq); }});
    ASSERT_TRUE(out.ok()) << c.eq << ": " << out.status().to_string();
    const std::vector<double> want = einsum_ref(c.ref_eq, plain);
    std::vector<double> mag(want.size(), 10.0);  // sums of at most ~10 unit-sized terms
    EXPECT_EQ(compare_to_reference((*out)[0], want, &mag), "") << c.eq;
  }
}

TEST(MathKernels, EinsumIntegerHalfAndThreads) {
  auto eq = [](const char* e) { return [e](ir::Node& n) { set_string(n, "equation", e); }; };
  RUN(ints, "Einsum", {i32({2, 2}, {1, 2, 3, 4}), i32({2, 2}, {5, 6, 7, 8})},
      {.attrs = eq("ij,jk->ik")});
  EXPECT_EQ(values<int32_t>(ints), (std::vector<int32_t>{19, 22, 43, 50}));
  RUN(small, "Einsum", {i8({3}, {100, 100, 100}), i8({3}, {2, 1, 1})}, {.attrs = eq("i,i")});
  EXPECT_EQ(values<int8_t>(small), (std::vector<int8_t>{static_cast<int8_t>(400 - 256)}));
  RUN(half, "Einsum", {convert(f32({2, 2}, {1, 2, 3, 4}), DType::kFloat16)},
      {.attrs = eq("ij->j")});
  EXPECT_EQ(to_doubles(half), (std::vector<double>{4, 6}));
  const ir::Tensor q = random_floats({4, 8, 33, 16}, 97), k = random_floats({4, 8, 40, 16}, 98);
  std::string first;
  for (int threads : {1, 3}) {
    RUN(y, "Einsum", {q, k}, {.attrs = eq("bhqd,bhkd->bhqk"), .threads = threads});
    if (first.empty()) first = bytes(y);
    EXPECT_TRUE(bytes(y) == first);
  }
}

TEST(MathKernels, rejects_einsum_with_wrong_term_count) {
  expect_rejected(run_node("Einsum", {f32({2}, {1, 2})},
                           {.attrs = [](ir::Node& n) { set_string(n, "equation", "i,i->i"); }}),
                  StatusCode::kBadInput, "Einsum");
}

// --- Det, Dropout -----------------------------------------------------------------------

double det_ref(std::vector<double> a, int64_t n) {
  double d = 1;
  for (int64_t c = 0; c < n; ++c) {
    int64_t p = c;
    for (int64_t r = c + 1; r < n; ++r)
      if (std::fabs(a[r * n + c]) > std::fabs(a[p * n + c])) p = r;
    if (a[p * n + c] == 0) return 0;
    if (p != c) {
      for (int64_t k = 0; k < n; ++k) std::swap(a[p * n + k], a[c * n + k]);
      d = -d;
    }
    d *= a[c * n + c];
    for (int64_t r = c + 1; r < n; ++r) {
      const double f = a[r * n + c] / a[c * n + c];
      for (int64_t k = c; k < n; ++k) a[r * n + k] -= f * a[c * n + k];
    }
  }
  return d;
}

TEST(MathKernels, DetOfBatchedMatrices) {
  RUN(two, "Det", {f32({2, 2}, {1, 2, 3, 4})});
  EXPECT_EQ(two.dims(), Dims{});
  EXPECT_EQ(compare_to_reference(two, {-2.0}), "");
  const ir::Tensor x = random_floats({2, 3, 5, 5}, 99);
  RUN(y, "Det", {x});
  ASSERT_EQ(y.dims(), (Dims{2, 3}));
  const auto xv = to_doubles(x);
  std::vector<double> want;
  for (int b = 0; b < 6; ++b) {
    want.push_back(det_ref(std::vector<double>(xv.begin() + b * 25, xv.begin() + b * 25 + 25), 5));
  }
  EXPECT_EQ(compare_to_reference(y, want), "");
  RUN(singular, "Det", {f32({2, 2}, {1, 2, 2, 4})});
  EXPECT_EQ(values<float>(singular)[0], 0.0f);
}

TEST(MathKernels, DropoutIsIdentityWithAllTrueMask) {
  const ir::Tensor x = random_floats({3, 4}, 100);
  auto out = run_node("Dropout", {x, f32({}, {0.3f})}, {.opset = 13, .num_outputs = 2});
  ASSERT_TRUE(out.ok()) << out.status().to_string();
  EXPECT_EQ(bytes((*out)[0]), bytes(x));
  EXPECT_EQ(values<uint8_t>((*out)[1]), std::vector<uint8_t>(12, 1));
  auto old = run_node("Dropout", {x}, {.opset = 7, .num_outputs = 2});
  ASSERT_TRUE(old.ok()) << old.status().to_string();
  EXPECT_EQ(values<float>((*old)[1]), std::vector<float>(12, 1.0f));
  // Training with ratio 0 keeps every element.
  RUN(train0, "Dropout", {x, f32({}, {0.0f}), boolean({}, {1})}, {.opset = 13});
  EXPECT_EQ(bytes(train0), bytes(x));
}

TEST(MathKernels, rejects_dropout_in_training_mode) {
  expect_rejected(
      run_node("Dropout", {f32({2}, {1, 2}), f32({}, {0.5f}), boolean({}, {1})}, {.opset = 13}),
      StatusCode::kUnsupported, "Dropout");
}

}  // namespace
}  // namespace mixq
