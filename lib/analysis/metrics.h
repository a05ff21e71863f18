// Accuracy metrics of a candidate (quantized) model's outputs against the reference (FP32)
// model's, and task metrics against labels or targets. Sums are taken in float64.
//
//   sqnr      10 log10(sum ref^2 / sum (ref - cand)^2) in dB (infinite when identical)
//   cosine    <ref, cand> / (|ref| |cand|) over the whole tensor
//   top1      share of rows (the last axis holds the classes) whose argmax agrees, in %
//   accuracy  share of rows whose argmax equals the label, in % (needs `labels`)
//   ppl       exp(mean negative log-likelihood of the targets under softmax over the last axis)
//             (needs `targets`: one class index per row)
//
// Budgets (`drop`): top1 100 - agreement (percentage points); accuracy reference - candidate
// (percentage points); ppl relative increase in percent; cosine 1 - cosine; sqnr is a floor.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/tensor.h"

namespace mixq::analysis {

enum class Metric { kSqnr, kCosine, kTop1, kAccuracy, kPpl };

const char* metric_name(Metric m);
std::optional<Metric> parse_metric(const std::string& name);

// Element-wise comparison of one output.
struct OutputComparison {
  std::string name;
  int64_t elements = 0;
  double sqnr_db = 0;
  double cosine = 0;
  double max_abs_error = 0;
  double top1_agreement = 0;  // %, over rows of the last axis
  int64_t rows = 0;
};

// A float32 or float16 tensor's values in float64 (bad input naming `what` for other types).
Expected<std::vector<double>> tensor_as_doubles(const std::string& what, const ir::Tensor& t);
// An int64 or int32 tensor's values as class indexes (bad input naming `what` otherwise).
Expected<std::vector<int64_t>> tensor_as_indexes(const std::string& what, const ir::Tensor& t);
// The first index of the largest of row[0, n).
size_t argmax_of(const double* row, size_t n);

// Compares float tensors of the same shape (float32 or float16). Refuses (bad input) others.
Expected<OutputComparison> compare_outputs(const std::string& name, const ir::Tensor& reference,
                                           const ir::Tensor& candidate);

// Argmax accuracy (%) of `logits` (rows along the last axis) against integer `labels` holding
// one class per row. Bad input when the counts disagree or a label is out of range.
Expected<double> accuracy(const ir::Tensor& logits, const ir::Tensor& labels);

// Perplexity of `logits` [..., V] against integer `targets` [...] (one per row).
Expected<double> perplexity(const ir::Tensor& logits, const ir::Tensor& targets);

}  // namespace mixq::analysis
