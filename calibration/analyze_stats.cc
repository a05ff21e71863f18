#include "mixq/calibration/analyze_stats.h"

#include <cmath>
#include <limits>
#include <vector>

#include "mixq/analysis/metrics.h"

namespace mixq::calib {

namespace {

size_t columns(const ir::Tensor& t) {
  return t.rank() == 0 ? 1 : static_cast<size_t>(t.dims().back());
}

}  // namespace

Status OutputStats::add(const std::string& name, const ir::Tensor& reference,
                        const ir::Tensor& candidate) {
  if (reference.dims() != candidate.dims()) {
    return bad_input("output '", name, "': shapes differ between the models");
  }
  MIXQ_ASSIGN_OR_RETURN(auto r, analysis::tensor_as_doubles("output '" + name + "'", reference));
  MIXQ_ASSIGN_OR_RETURN(auto c, analysis::tensor_as_doubles("output '" + name + "'", candidate));
  for (size_t i = 0; i < r.size(); ++i) {
    const double e = r[i] - c[i];
    signal += r[i] * r[i];
    noise += e * e;
    dot += r[i] * c[i];
    rr += r[i] * r[i];
    cc += c[i] * c[i];
  }
  const size_t cols = columns(reference);
  if (cols > 0) {
    const size_t n = r.size() / cols;
    for (size_t i = 0; i < n; ++i) {
      agree += analysis::argmax_of(&r[i * cols], cols) == analysis::argmax_of(&c[i * cols], cols);
    }
    rows += static_cast<int64_t>(n);
  }
  return Status::ok_status();
}

double OutputStats::sqnr_db() const {
  return noise == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(signal / noise);
}

double OutputStats::cosine() const {
  return rr == 0 || cc == 0 ? (rr == cc ? 1.0 : 0.0) : dot / std::sqrt(rr * cc);
}

double OutputStats::top1_percent() const {
  return rows == 0 ? 100.0 : 100.0 * double(agree) / double(rows);
}

Status TaskStats::add_accuracy(const ir::Tensor& logits, const ir::Tensor& labels) {
  MIXQ_ASSIGN_OR_RETURN(auto x, analysis::tensor_as_doubles("logits", logits));
  MIXQ_ASSIGN_OR_RETURN(auto y, analysis::tensor_as_indexes("labels", labels));
  const size_t cols = columns(logits);
  const size_t n = cols == 0 ? 0 : x.size() / cols;
  if (n != y.size() || n == 0) {
    return bad_input("labels: ", y.size(), " labels for ", n, " rows of logits");
  }
  for (size_t i = 0; i < n; ++i) {
    if (y[i] < 0 || size_t(y[i]) >= cols) {
      return bad_input("labels: class ", y[i], " at row ", rows + int64_t(i), " is outside [0, ",
                       cols, ")");
    }
    right += int64_t(analysis::argmax_of(&x[i * cols], cols)) == y[i];
  }
  rows += static_cast<int64_t>(n);
  return Status::ok_status();
}

Status TaskStats::add_nll(const ir::Tensor& logits, const ir::Tensor& targets) {
  MIXQ_ASSIGN_OR_RETURN(auto x, analysis::tensor_as_doubles("logits", logits));
  MIXQ_ASSIGN_OR_RETURN(auto y, analysis::tensor_as_indexes("targets", targets));
  const size_t cols = columns(logits);
  const size_t n = cols == 0 ? 0 : x.size() / cols;
  if (n != y.size() || n == 0) {
    return bad_input("targets: ", y.size(), " targets for ", n, " rows of logits");
  }
  for (size_t i = 0; i < n; ++i) {
    const double* row = &x[i * cols];
    if (y[i] < 0 || size_t(y[i]) >= cols) {
      return bad_input("targets: class ", y[i], " at row ", rows + int64_t(i), " is outside [0, ",
                       cols, ")");
    }
    double m = row[0];
    for (size_t k = 1; k < cols; ++k) m = std::max(m, row[k]);
    double sum = 0;
    for (size_t k = 0; k < cols; ++k) sum += std::exp(row[k] - m);
    nll += m + std::log(sum) - row[size_t(y[i])];
  }
  rows += static_cast<int64_t>(n);
  return Status::ok_status();
}

double TaskStats::accuracy_percent() const {
  return rows == 0 ? 0.0 : 100.0 * double(right) / double(rows);
}

double TaskStats::perplexity() const { return rows == 0 ? 0.0 : std::exp(nll / double(rows)); }

}  // namespace mixq::calib
