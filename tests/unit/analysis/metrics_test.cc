// Output metrics (lib/analysis/metrics.h) against float64 formulas written out here: SQNR, cosine
// and max abs error on seeded random tensors with perturbations of known power; top-1 agreement
// with a known set of rows whose argmax was moved; accuracy and perplexity on hand-computed cases
// (uniform logits over V classes have perplexity exactly V) and on random logits recomputed with a
// float64 log-softmax. Malformed inputs are refused as bad input, naming the output / argument.
#include "mixq/analysis/metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "kernel_runner.h"
#include "mixq/core/float_bits.h"

namespace mixq::analysis {
namespace {

using Vec = std::vector<double>;

ir::Tensor floats(const std::vector<int64_t>& dims, const std::vector<float>& v) {
  return ir::Tensor::from_floats(dims, v);
}

std::vector<float> values_of(const ir::Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.numel());
}

ir::Tensor int32s(const std::vector<int64_t>& dims, const std::vector<int32_t>& v) {
  ir::Tensor t = ir::Tensor::zeros(DType::kInt32, dims).value();
  for (size_t i = 0; i < v.size(); ++i) t.mutable_data<int32_t>()[i] = v[i];
  return t;
}

// The float64 formulas of metrics.h, on the float32 values as stored.
struct Expected64 {
  double sqnr, cosine, max_abs;
};
Expected64 reference_metrics(const std::vector<float>& r, const std::vector<float>& c) {
  double s = 0, n = 0, d = 0, rr = 0, cc = 0, m = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const double e = double(r[i]) - double(c[i]);
    s += double(r[i]) * r[i];
    n += e * e;
    d += double(r[i]) * c[i];
    rr += double(r[i]) * r[i];
    cc += double(c[i]) * c[i];
    m = std::max(m, std::fabs(e));
  }
  return {10 * std::log10(s / n), d / std::sqrt(rr * cc), m};
}

size_t argmax_row(const float* row, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i) best = row[i] > row[best] ? i : best;
  return best;
}

TEST(Metrics, NamesRoundTrip) {
  for (Metric m :
       {Metric::kSqnr, Metric::kCosine, Metric::kTop1, Metric::kAccuracy, Metric::kPpl}) {
    EXPECT_EQ(parse_metric(metric_name(m)), m) << metric_name(m);
  }
  EXPECT_EQ(parse_metric("SQNR"), std::nullopt);
  EXPECT_STREQ(metric_name(Metric::kPpl), "ppl");
}

// Noise scaled to exactly 1/1000 of the signal's power (before float32 rounding of the candidate)
// gives SQNR 30 dB; the reported numbers equal the float64 formulas on the stored values.
TEST(Metrics, SqnrCosineMaxAbsMatchFloat64FormulasForNoiseOfKnownPower) {
  const ir::Tensor ref = testing::random_floats({16, 50}, 7, -2, 2);
  const std::vector<float> r = values_of(ref);
  std::mt19937 rng(11);
  std::normal_distribution<double> gauss(0, 1);
  Vec noise(r.size());
  double ps = 0, pn = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    noise[i] = gauss(rng);
    ps += double(r[i]) * r[i];
    pn += noise[i] * noise[i];
  }
  for (double want_db : {10.0, 30.0, 60.0}) {
    const double k = std::sqrt(ps / pn / std::pow(10.0, want_db / 10));
    std::vector<float> c(r.size());
    for (size_t i = 0; i < r.size(); ++i) c[i] = static_cast<float>(r[i] + k * noise[i]);
    auto got = compare_outputs("logits", ref, floats({16, 50}, c));
    ASSERT_TRUE(got.ok()) << got.status().to_string();
    const Expected64 want = reference_metrics(r, c);
    EXPECT_EQ(got->name, "logits");
    EXPECT_EQ(got->elements, 800);
    EXPECT_EQ(got->rows, 16);
    EXPECT_NEAR(got->sqnr_db, want.sqnr, 1e-9) << want_db;
    // float32 rounding of the candidate (relative 2^-24) barely moves the noise power, even at
    // 60 dB where the noise is 1e-3 of the signal's amplitude.
    EXPECT_NEAR(got->sqnr_db, want_db, 0.01) << want_db;
    EXPECT_NEAR(got->cosine, want.cosine, 1e-12) << want_db;
    // For noise power P_n = P_s / q: cosine = (1 + <r,e>/P_s) / sqrt(1 + 2<r,e>/P_s + 1/q),
    // close to 1 / sqrt(1 + 1/q) for noise uncorrelated with the signal.
    EXPECT_NEAR(got->cosine, 1 / std::sqrt(1 + std::pow(10.0, -want_db / 10)),
                5 * std::pow(10.0, -want_db / 20) / std::sqrt(double(r.size())))
        << want_db;
    EXPECT_EQ(got->max_abs_error, want.max_abs) << want_db;
  }
}

TEST(Metrics, ScaledCandidateHasCosineOneAndSqnrOfTheScale) {
  const ir::Tensor ref = testing::random_floats({4, 8}, 3);
  std::vector<float> c = values_of(ref);
  for (float& v : c) v *= 0.5f;  // exact in float32
  auto got = compare_outputs("y", ref, floats({4, 8}, c));
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_NEAR(got->cosine, 1.0, 1e-15);
  // Error = r / 2: SQNR = 10 log10(4) dB.
  EXPECT_NEAR(got->sqnr_db, 10 * std::log10(4.0), 1e-12);
  EXPECT_EQ(got->top1_agreement, 100.0);
  // The negated candidate points the other way.
  for (float& v : c) v = -v;
  got = compare_outputs("y", ref, floats({4, 8}, c));
  ASSERT_TRUE(got.ok());
  EXPECT_NEAR(got->cosine, -1.0, 1e-15);
}

TEST(Metrics, IdenticalTensorsGiveInfiniteSqnrAndCosineOne) {
  const ir::Tensor ref = testing::random_floats({3, 5, 7}, 5);
  auto got = compare_outputs("out", ref, ref);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(got->sqnr_db, std::numeric_limits<double>::infinity());
  EXPECT_DOUBLE_EQ(got->cosine, 1.0);
  EXPECT_EQ(got->max_abs_error, 0.0);
  EXPECT_EQ(got->top1_agreement, 100.0);
  EXPECT_EQ(got->rows, 15);
  EXPECT_EQ(got->elements, 105);
  // All-zero outputs are identical too (cosine 1, not NaN); zero against non-zero is 0.
  const ir::Tensor zeros = ir::Tensor::zeros(DType::kFloat32, {2, 3}).value();
  got = compare_outputs("z", zeros, zeros);
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->cosine, 1.0);
  EXPECT_EQ(got->sqnr_db, std::numeric_limits<double>::infinity());
  got = compare_outputs("z", zeros, floats({2, 3}, {0, 0, 1, 0, 0, 0}));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->cosine, 0.0);
  EXPECT_EQ(got->max_abs_error, 1.0);
}

// Rows {1, 4, 6, 9} of 12 get a new argmax: agreement is 8 / 12.
TEST(Metrics, Top1AgreementCountsRowsWhoseArgmaxMoved) {
  const int64_t rows = 12, cols = 9;
  const ir::Tensor ref = testing::random_floats({rows, cols}, 21);
  std::vector<float> c = values_of(ref);
  for (int64_t i : {1, 4, 6, 9}) {
    float* row = &c[size_t(i * cols)];
    const size_t best = argmax_row(row, size_t(cols));
    row[(best + 3) % size_t(cols)] = row[best] + 0.25f;
  }
  auto got = compare_outputs("probs", ref, floats({rows, cols}, c));
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  EXPECT_EQ(got->rows, rows);
  EXPECT_DOUBLE_EQ(got->top1_agreement, 100.0 * 8 / 12);
  EXPECT_EQ(got->max_abs_error, reference_metrics(values_of(ref), c).max_abs);
  EXPECT_GT(got->max_abs_error, 0.25);
  // The same tensors as 3 x 4 rows of 9 (rank 3): rows are taken along the last axis.
  got = compare_outputs("probs", floats({3, 4, cols}, values_of(ref)), floats({3, 4, cols}, c));
  ASSERT_TRUE(got.ok());
  EXPECT_EQ(got->rows, rows);
  EXPECT_DOUBLE_EQ(got->top1_agreement, 100.0 * 8 / 12);
}

TEST(Metrics, ComparesFloat16AgainstFloat32OnDecodedValues) {
  const ir::Tensor ref = testing::random_floats({6, 4}, 9, -3, 3);
  const std::vector<float> r = values_of(ref);
  ir::Tensor half = ir::Tensor::zeros(DType::kFloat16, {6, 4}).value();
  std::vector<float> decoded(r.size());
  for (size_t i = 0; i < r.size(); ++i) {
    half.mutable_data<uint16_t>()[i] = float_to_float16(r[i]);
    decoded[i] = float16_to_float(half.data<uint16_t>()[i]);
  }
  auto got = compare_outputs("h", ref, half);
  ASSERT_TRUE(got.ok()) << got.status().to_string();
  const Expected64 want = reference_metrics(r, decoded);
  EXPECT_NEAR(got->sqnr_db, want.sqnr, 1e-9);
  EXPECT_NEAR(got->cosine, want.cosine, 1e-12);
  EXPECT_EQ(got->max_abs_error, want.max_abs);
  // FP16 rounding (relative error <= 2^-11) bounds the SQNR from below: 20 log10(2^11) = 66 dB.
  EXPECT_GT(got->sqnr_db, 66.0);
  EXPECT_GT(got->max_abs_error, 0.0);
}

TEST(Metrics, AccuracyOnHandComputedCase) {
  // Argmaxes 2, 0, 1, 1 (ties go to the first) against labels 2, 0, 0, 1: 3 of 4.
  const ir::Tensor logits = floats({4, 3}, {0.1f, 0.2f, 0.9f, 5, -1, 4, 0, 3, 3, -2, -1, -3});
  auto acc = accuracy(logits, ir::Tensor::from_int64s({4}, {2, 0, 0, 1}));
  ASSERT_TRUE(acc.ok()) << acc.status().to_string();
  EXPECT_DOUBLE_EQ(*acc, 75.0);
  // int32 labels, shaped like the rows ([2, 2] for logits [2, 2, 3]).
  acc = accuracy(floats({2, 2, 3}, values_of(logits)), int32s({2, 2}, {2, 1, 1, 0}));
  ASSERT_TRUE(acc.ok()) << acc.status().to_string();
  EXPECT_DOUBLE_EQ(*acc, 50.0);
}

TEST(Metrics, AccuracyOnRandomLogitsMatchesArgmaxCount) {
  const int64_t rows = 40, cols = 10;
  const ir::Tensor logits = testing::random_floats({rows, cols}, 31);
  const ir::Tensor labels = testing::random_int64s({rows}, 32, 0, cols - 1);
  int right = 0;
  for (int64_t i = 0; i < rows; ++i) {
    right += int64_t(argmax_row(logits.data<float>() + i * cols, size_t(cols))) ==
             labels.data<int64_t>()[i];
  }
  ASSERT_GT(right, 0);  // the case must tell 0 % from the count
  auto acc = accuracy(logits, labels);
  ASSERT_TRUE(acc.ok()) << acc.status().to_string();
  EXPECT_DOUBLE_EQ(*acc, 100.0 * right / rows);
}

TEST(Metrics, PerplexityOfUniformLogitsIsTheVocabularySize) {
  for (int64_t v : {2, 7, 1000}) {
    const ir::Tensor logits = floats({3, v}, std::vector<float>(size_t(3 * v), 2.5f));
    auto ppl = perplexity(logits, ir::Tensor::from_int64s({3}, {0, v - 1, v / 2}));
    ASSERT_TRUE(ppl.ok()) << ppl.status().to_string();
    EXPECT_NEAR(*ppl, double(v), 1e-12 * double(v)) << v;
  }
}

TEST(Metrics, PerplexityOnHandComputedCase) {
  // Logits [0, ln 3]: probabilities 1/4, 3/4. Targets 0 and 1: ppl = exp((ln 4 + ln 4/3) / 2)
  // = sqrt(16 / 3).
  const float ln3 = static_cast<float>(std::log(3.0));
  auto ppl = perplexity(floats({2, 2}, {0, ln3, 0, ln3}), ir::Tensor::from_int64s({2}, {0, 1}));
  ASSERT_TRUE(ppl.ok()) << ppl.status().to_string();
  // ln3 is rounded to float32: recompute the exact probabilities from the stored value.
  const double p1 = std::exp(double(ln3)) / (1 + std::exp(double(ln3)));
  EXPECT_NEAR(*ppl, std::sqrt(1 / ((1 - p1) * p1)), 1e-12);
  EXPECT_NEAR(*ppl, std::sqrt(16.0 / 3.0), 1e-6);
  // Large logits: the softmax is taken stably (exp(1000) would overflow).
  ppl = perplexity(floats({1, 3}, {1000, 0, -1000}), ir::Tensor::from_int64s({1}, {0}));
  ASSERT_TRUE(ppl.ok());
  EXPECT_NEAR(*ppl, 1.0, 1e-12);
  ppl = perplexity(floats({1, 3}, {1000, 990, -1000}), ir::Tensor::from_int64s({1}, {1}));
  ASSERT_TRUE(ppl.ok());
  EXPECT_NEAR(*ppl, std::exp(std::log1p(std::exp(-10.0)) + 10.0), 1e-9);
}

TEST(Metrics, PerplexityOnRandomLogitsMatchesFloat64LogSoftmax) {
  const int64_t b = 3, t = 5, v = 11;
  const ir::Tensor logits = testing::random_floats({b, t, v}, 41, -4, 4);
  const ir::Tensor targets = testing::random_int64s({b, t}, 42, 0, v - 1);
  double nll = 0;
  for (int64_t r = 0; r < b * t; ++r) {
    const float* row = logits.data<float>() + r * v;
    double m = -INFINITY;
    for (int64_t k = 0; k < v; ++k) m = std::max(m, double(row[k]));
    double s = 0;
    for (int64_t k = 0; k < v; ++k) s += std::exp(double(row[k]) - m);
    const double log_softmax = double(row[targets.data<int64_t>()[r]]) - m - std::log(s);
    nll -= log_softmax;
  }
  const double want = std::exp(nll / double(b * t));
  auto ppl = perplexity(logits, targets);
  ASSERT_TRUE(ppl.ok()) << ppl.status().to_string();
  EXPECT_NEAR(*ppl, want, 1e-12 * want);
  // Not a trivial value: between 1 and the vocabulary... and not uniform.
  EXPECT_GT(std::fabs(*ppl - double(v)), 0.1);
}

void expect_bad_input(const Status& s, const std::string& mention) {
  EXPECT_EQ(s.code(), StatusCode::kBadInput) << s.to_string();
  EXPECT_NE(s.message().find(mention), std::string::npos) << s.message();
}

TEST(Metrics, rejects_mismatched_shapes) {
  auto got = compare_outputs("logits", testing::random_floats({2, 3}, 1),
                             testing::random_floats({3, 2}, 1));
  ASSERT_FALSE(got.ok());
  expect_bad_input(got.status(), "'logits'");
}

TEST(Metrics, rejects_non_float_outputs) {
  const ir::Tensor ids = ir::Tensor::from_int64s({2, 2}, {1, 2, 3, 4});
  auto got = compare_outputs("token_ids", ids, ids);
  ASSERT_FALSE(got.ok());
  expect_bad_input(got.status(), "'token_ids'");
  expect_bad_input(got.status(), "int64");
  auto acc = accuracy(ids, ir::Tensor::from_int64s({2}, {0, 1}));
  ASSERT_FALSE(acc.ok());
  expect_bad_input(acc.status(), "logits");
  auto ppl = perplexity(ids, ir::Tensor::from_int64s({2}, {0, 1}));
  ASSERT_FALSE(ppl.ok());
  expect_bad_input(ppl.status(), "logits");
}

TEST(Metrics, rejects_label_counts_that_differ_from_the_rows) {
  const ir::Tensor logits = testing::random_floats({4, 3}, 2);
  auto acc = accuracy(logits, ir::Tensor::from_int64s({3}, {0, 1, 2}));
  ASSERT_FALSE(acc.ok());
  expect_bad_input(acc.status(), "3 labels for 4 rows");
  auto ppl = perplexity(logits, ir::Tensor::from_int64s({5}, {0, 1, 2, 0, 1}));
  ASSERT_FALSE(ppl.ok());
  expect_bad_input(ppl.status(), "5 targets for 4 rows");
}

TEST(Metrics, rejects_non_integer_labels) {
  const ir::Tensor logits = testing::random_floats({2, 3}, 2);
  auto acc = accuracy(logits, floats({2}, {0, 1}));
  ASSERT_FALSE(acc.ok());
  expect_bad_input(acc.status(), "labels");
  auto ppl = perplexity(logits, floats({2}, {0, 1}));
  ASSERT_FALSE(ppl.ok());
  expect_bad_input(ppl.status(), "targets");
}

TEST(Metrics, rejects_out_of_range_targets) {
  const ir::Tensor logits = testing::random_floats({3, 4}, 2);
  for (int64_t bad : {4, -1}) {
    auto ppl = perplexity(logits, ir::Tensor::from_int64s({3}, {0, bad, 1}));
    ASSERT_FALSE(ppl.ok()) << bad;
    expect_bad_input(ppl.status(), "row 1");
    // metrics.h: accuracy refuses an out-of-range label too (it is not merely a wrong answer).
    auto acc = accuracy(logits, ir::Tensor::from_int64s({3}, {0, bad, 1}));
    ASSERT_FALSE(acc.ok()) << bad;
    expect_bad_input(acc.status(), "row 1");
  }
}

}  // namespace
}  // namespace mixq::analysis
