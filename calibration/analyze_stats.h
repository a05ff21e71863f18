// Streaming forms of lib/analysis/metrics.h for `mixq analyze`: the sums and counts behind
// SQNR, cosine, top-1 agreement, accuracy and perplexity, accumulated run by run. The
// arithmetic is the same as metrics.cc's, element for element and in the same order, so runs
// added in data-set order give exactly the metric of the joined outputs.
#pragma once

#include <cstdint>

#include "mixq/core/status.h"
#include "mixq/ir/tensor.h"

namespace mixq::calib {

// A candidate output against the reference output (float32 or float16, same shape).
struct OutputStats {
  double signal = 0, noise = 0, dot = 0, rr = 0, cc = 0;
  int64_t agree = 0, rows = 0;

  // Refuses (bad input, naming `name`) different shapes and non-float tensors.
  Status add(const std::string& name, const ir::Tensor& reference, const ir::Tensor& candidate);
  double sqnr_db() const;       // infinite when identical
  double cosine() const;        // 1 when both are zero
  double top1_percent() const;  // 100 when there were no rows
};

// Argmax accuracy against labels, or the negative log-likelihood of targets.
struct TaskStats {
  int64_t right = 0, rows = 0;
  double nll = 0;

  // One class index per row of `logits` (rows along the last axis). Bad input when the counts
  // disagree or an index is out of range.
  Status add_accuracy(const ir::Tensor& logits, const ir::Tensor& labels);
  Status add_nll(const ir::Tensor& logits, const ir::Tensor& targets);
  double accuracy_percent() const;
  double perplexity() const;
};

}  // namespace mixq::calib
