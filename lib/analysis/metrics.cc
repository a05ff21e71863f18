#include "mixq/analysis/metrics.h"

#include <cmath>
#include <limits>
#include <vector>

#include "mixq/core/float_bits.h"

namespace mixq::analysis {

const char* metric_name(Metric m) {
  switch (m) {
    case Metric::kSqnr:
      return "sqnr";
    case Metric::kCosine:
      return "cosine";
    case Metric::kTop1:
      return "top1";
    case Metric::kAccuracy:
      return "accuracy";
    case Metric::kPpl:
      return "ppl";
  }
  return "?";
}

std::optional<Metric> parse_metric(const std::string& name) {
  for (Metric m :
       {Metric::kSqnr, Metric::kCosine, Metric::kTop1, Metric::kAccuracy, Metric::kPpl}) {
    if (name == metric_name(m)) return m;
  }
  return std::nullopt;
}

Expected<std::vector<double>> tensor_as_doubles(const std::string& what, const ir::Tensor& t) {
  const auto n = static_cast<size_t>(t.numel());
  std::vector<double> v(n);
  if (t.dtype() == DType::kFloat32) {
    for (size_t i = 0; i < n; ++i) v[i] = t.data<float>()[i];
  } else if (t.dtype() == DType::kFloat16) {
    for (size_t i = 0; i < n; ++i) v[i] = float16_to_float(t.data<uint16_t>()[i]);
  } else {
    return bad_input(what, ": ", dtype_name(t.dtype()), " output cannot be compared (float only)");
  }
  return v;
}

Expected<std::vector<int64_t>> tensor_as_indexes(const std::string& what, const ir::Tensor& t) {
  const auto n = static_cast<size_t>(t.numel());
  std::vector<int64_t> v(n);
  if (t.dtype() == DType::kInt64) {
    for (size_t i = 0; i < n; ++i) v[i] = t.data<int64_t>()[i];
  } else if (t.dtype() == DType::kInt32) {
    for (size_t i = 0; i < n; ++i) v[i] = t.data<int32_t>()[i];
  } else {
    return bad_input(what, ": expected int64 or int32 class indexes, got ", dtype_name(t.dtype()));
  }
  return v;
}

size_t argmax_of(const double* row, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i) {
    if (row[i] > row[best]) best = i;
  }
  return best;
}

Expected<OutputComparison> compare_outputs(const std::string& name, const ir::Tensor& reference,
                                           const ir::Tensor& candidate) {
  if (reference.dims() != candidate.dims()) {
    return bad_input("output '", name, "': shapes differ between the models");
  }
  MIXQ_ASSIGN_OR_RETURN(auto r, tensor_as_doubles("output '" + name + "'", reference));
  MIXQ_ASSIGN_OR_RETURN(auto c, tensor_as_doubles("output '" + name + "'", candidate));
  OutputComparison out;
  out.name = name;
  out.elements = static_cast<int64_t>(r.size());
  double signal = 0, noise = 0, dot = 0, rr = 0, cc = 0;
  for (size_t i = 0; i < r.size(); ++i) {
    const double e = r[i] - c[i];
    signal += r[i] * r[i];
    noise += e * e;
    dot += r[i] * c[i];
    rr += r[i] * r[i];
    cc += c[i] * c[i];
    out.max_abs_error = std::max(out.max_abs_error, std::fabs(e));
  }
  out.sqnr_db =
      noise == 0 ? std::numeric_limits<double>::infinity() : 10.0 * std::log10(signal / noise);
  out.cosine = rr == 0 || cc == 0 ? (rr == cc ? 1.0 : 0.0) : dot / std::sqrt(rr * cc);
  const size_t cols = reference.rank() == 0 ? 1 : static_cast<size_t>(reference.dims().back());
  if (cols > 0) {
    const size_t rows = r.size() / cols;
    int64_t agree = 0;
    for (size_t i = 0; i < rows; ++i) {
      agree += argmax_of(&r[i * cols], cols) == argmax_of(&c[i * cols], cols);
    }
    out.rows = static_cast<int64_t>(rows);
    out.top1_agreement = rows == 0 ? 100.0 : 100.0 * double(agree) / double(rows);
  }
  return out;
}

Expected<double> accuracy(const ir::Tensor& logits, const ir::Tensor& labels) {
  MIXQ_ASSIGN_OR_RETURN(auto x, tensor_as_doubles("logits", logits));
  MIXQ_ASSIGN_OR_RETURN(auto y, tensor_as_indexes("labels", labels));
  const size_t cols = logits.rank() == 0 ? 1 : static_cast<size_t>(logits.dims().back());
  const size_t rows = cols == 0 ? 0 : x.size() / cols;
  if (rows != y.size() || rows == 0) {
    return bad_input("labels: ", y.size(), " labels for ", rows, " rows of logits");
  }
  int64_t right = 0;
  for (size_t i = 0; i < rows; ++i) {
    // metrics.h promises bad input here: a label outside the classes is a broken label file,
    // not a wrong answer.
    if (y[i] < 0 || size_t(y[i]) >= cols) {
      return bad_input("labels: class ", y[i], " at row ", i, " is outside [0, ", cols, ")");
    }
    right += int64_t(argmax_of(&x[i * cols], cols)) == y[i];
  }
  return 100.0 * double(right) / double(rows);
}

Expected<double> perplexity(const ir::Tensor& logits, const ir::Tensor& targets) {
  MIXQ_ASSIGN_OR_RETURN(auto x, tensor_as_doubles("logits", logits));
  MIXQ_ASSIGN_OR_RETURN(auto y, tensor_as_indexes("targets", targets));
  const size_t cols = logits.rank() == 0 ? 1 : static_cast<size_t>(logits.dims().back());
  const size_t rows = cols == 0 ? 0 : x.size() / cols;
  if (rows != y.size() || rows == 0) {
    return bad_input("targets: ", y.size(), " targets for ", rows, " rows of logits");
  }
  double nll = 0;
  for (size_t i = 0; i < rows; ++i) {
    const double* row = &x[i * cols];
    if (y[i] < 0 || size_t(y[i]) >= cols) {
      return bad_input("targets: class ", y[i], " at row ", i, " is outside [0, ", cols, ")");
    }
    double m = row[0];
    for (size_t k = 1; k < cols; ++k) m = std::max(m, row[k]);
    double sum = 0;
    for (size_t k = 0; k < cols; ++k) sum += std::exp(row[k] - m);
    nll += m + std::log(sum) - row[size_t(y[i])];
  }
  return std::exp(nll / double(rows));
}

}  // namespace mixq::analysis
