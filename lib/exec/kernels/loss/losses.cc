// ONNX NegativeLogLikelihoodLoss-12/13 and SoftmaxCrossEntropyLoss-12/13.
//
// input x: [N, C, d1..dk] (log-probabilities for NLL, scores for SCE), target: [N, d1..dk]
// (int32/int64 class indices), weight: optional [C]. For each sample (n, d) with c = target:
//   loss[n, d] = -x[n, c, d] * weight[c]   (weight 1 without the input)
//   loss[n, d] = 0 and its weight 0        when c == ignore_index
// reduction "none": loss itself; "sum": sum(loss); "mean": sum(loss) / sum(weight[c] over the
// samples, ignored ones counting 0), the spec's weighted mean (with neither weights nor ignored
// samples it is sum / (N * d1 * ... * dk)).
// SCE applies NLL to log_prob = x - max_c(x) - log(sum_c exp(x - max_c(x))) (LogSoftmax over
// axis 1), which is its optional second output.
// float16/bfloat16 are computed in float32; sums are accumulated in float64 in a fixed order,
// so results do not depend on the thread count. A target outside [0, C) that is not
// ignore_index is a bad-input error.
#include <cmath>
#include <optional>

#include "kernels/common.h"
#include "kernels/loss/loss_kernels.h"

namespace mixq::exec {
namespace {

enum class Reduction { kNone, kSum, kMean };

struct LossSetup {
  int64_t n = 0, c = 0, d = 0;  // d: product of the dims after C
  Reduction reduction = Reduction::kMean;
  std::optional<int64_t> ignore_index;
  std::vector<int64_t> loss_dims;  // [N, d1..dk]
};

Expected<LossSetup> setup(const KernelContext& ctx) {
  LossSetup s;
  const ir::Tensor& x = ctx.input(0);
  const ir::Tensor& t = ctx.input(1);
  if (x.rank() < 2) {
    return ctx.fail("input has shape ", ir::dims_to_string(x.dims()), ", needs [N, C, ...]");
  }
  if (t.dtype() != DType::kInt32 && t.dtype() != DType::kInt64) {
    return ctx.fail("target is ", dtype_name(t.dtype()), ", expected int32 or int64");
  }
  s.loss_dims = x.dims();
  s.loss_dims.erase(s.loss_dims.begin() + 1);
  if (t.dims() != s.loss_dims) {
    return ctx.fail("target has shape ", ir::dims_to_string(t.dims()), ", expected ",
                    ir::dims_to_string(s.loss_dims), " for input ", ir::dims_to_string(x.dims()));
  }
  s.n = x.dims()[0];
  s.c = x.dims()[1];
  s.d = 1;
  for (size_t k = 2; k < x.rank(); ++k) s.d *= x.dims()[k];
  if (ctx.has_input(2)) {
    const ir::Tensor& w = ctx.input(2);
    if (w.dtype() != x.dtype() || w.rank() != 1 || w.dims()[0] != s.c) {
      return ctx.fail("weight is ", dtype_name(w.dtype()), ir::dims_to_string(w.dims()),
                      ", expected ", dtype_name(x.dtype()), "[", s.c, "]");
    }
  }
  MIXQ_ASSIGN_OR_RETURN(std::string red, ctx.node().attr_string("reduction", "mean"));
  if (red == "none") {
    s.reduction = Reduction::kNone;
  } else if (red == "sum") {
    s.reduction = Reduction::kSum;
  } else if (red == "mean") {
    s.reduction = Reduction::kMean;
  } else {
    return ctx.fail("reduction is '", red, "', expected none, sum or mean");
  }
  if (ctx.node().attr("ignore_index") != nullptr) {
    MIXQ_ASSIGN_OR_RETURN(int64_t ii, ctx.node().attr_int("ignore_index", 0));
    s.ignore_index = ii;
  }
  return s;
}

// The loss of every sample from log-probabilities `lp` ([N, C, D] in compute type T) into
// `loss`, and the weight applied to each (0 for ignored samples) into `applied`. Parallel over
// samples; each sample is one element.
template <typename S, typename I, typename T>
Status sample_losses(KernelContext& ctx, const LossSetup& s, const T* lp, std::vector<T>& loss,
                     std::vector<T>& applied) {
  const I* target = ctx.input(1).data<I>();
  const S* weight = ctx.has_input(2) ? ctx.input(2).data<S>() : nullptr;
  const int64_t total = s.n * s.d;
  loss.resize(static_cast<size_t>(total));
  applied.resize(static_cast<size_t>(total));
  const bool has_ii = s.ignore_index.has_value();
  const int64_t ii = has_ii ? *s.ignore_index : 0;
  // Validate serially first so the error names the first bad sample.
  int64_t first_bad = -1;
  for (int64_t i = 0; i < total; ++i) {
    const auto cls = static_cast<int64_t>(target[i]);
    if (has_ii && cls == ii) continue;
    if (cls < 0 || cls >= s.c) {
      first_bad = i;
      break;
    }
  }
  if (first_bad >= 0) {
    return ctx.fail("target[", first_bad, "] is ", static_cast<int64_t>(target[first_bad]),
                    ", outside [0, ", s.c, ")",
                    has_ii ? str_cat(" and not ignore_index ", ii) : std::string(""));
  }
  T* out = loss.data();
  T* wout = applied.data();
  ctx.pool().parallel_for(total, ThreadPool::grain_for(total, 4096), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const auto cls = static_cast<int64_t>(target[i]);
      if (has_ii && cls == ii) {
        out[i] = T(0);
        wout[i] = T(0);
        continue;
      }
      const int64_t nn = i / s.d;
      const int64_t dd = i - nn * s.d;
      const T w = weight ? static_cast<T>(load(weight[cls])) : T(1);
      out[i] = -lp[(nn * s.c + cls) * s.d + dd] * w;
      wout[i] = w;
    }
  });
  return Status::ok_status();
}

// Writes the reduced (or per-sample) loss into output 0.
template <typename S, typename T>
Status write_loss(KernelContext& ctx, const LossSetup& s, const std::vector<T>& loss,
                  const std::vector<T>& applied) {
  if (s.reduction == Reduction::kNone) {
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, ctx.input(0).dtype(), s.loss_dims));
    S* p = y->mutable_data<S>();
    for (size_t i = 0; i < loss.size(); ++i) p[i] = store<S>(static_cast<Compute<S>>(loss[i]));
    return Status::ok_status();
  }
  // Fixed-order float64 sums: the same result for any thread count.
  double sum = 0.0;
  double wsum = 0.0;
  for (size_t i = 0; i < loss.size(); ++i) {
    sum += static_cast<double>(loss[i]);
    wsum += static_cast<double>(applied[i]);
  }
  const double r = s.reduction == Reduction::kSum ? sum : sum / wsum;
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, ctx.input(0).dtype(), {}));
  y->mutable_data<S>()[0] = store<S>(static_cast<Compute<S>>(r));
  return Status::ok_status();
}

template <typename S, typename I>
Status nll_typed(KernelContext& ctx, const LossSetup& s) {
  using T = Compute<S>;
  const ir::Tensor& x = ctx.input(0);
  std::vector<T> converted;
  const T* lp = nullptr;
  if constexpr (std::is_same_v<S, T>) {
    lp = x.data<S>();
  } else {
    converted.resize(static_cast<size_t>(x.numel()));
    const S* p = x.data<S>();
    for (size_t i = 0; i < converted.size(); ++i) converted[i] = load(p[i]);
    lp = converted.data();
  }
  std::vector<T> loss, applied;
  MIXQ_RETURN_IF_ERROR((sample_losses<S, I, T>(ctx, s, lp, loss, applied)));
  return write_loss<S, T>(ctx, s, loss, applied);
}

// LogSoftmax over axis 1 of x ([N, C, D]) into `lp`, parallel over (n, block of d).
template <typename S, typename T>
void log_softmax(ThreadPool& pool, const S* x, int64_t n, int64_t c, int64_t d, T* lp) {
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (d + kBlock - 1) / kBlock;
  const int64_t total = n * blocks;
  const int64_t grain = ThreadPool::grain_for(total, std::max<int64_t>(1, 4096 / (c * kBlock)));
  pool.parallel_for(total, grain, [&](int64_t b, int64_t e) {
    T mx[kBlock];
    T sum[kBlock];
    for (int64_t job = b; job < e; ++job) {
      const int64_t nn = job / blocks;
      const int64_t d0 = (job % blocks) * kBlock;
      const int64_t len = std::min(kBlock, d - d0);
      const S* xb = x + nn * c * d + d0;
      T* lb = lp + nn * c * d + d0;
      for (int64_t j = 0; j < len; ++j) {
        mx[j] = -INFINITY;
        sum[j] = T(0);
      }
      for (int64_t k = 0; k < c; ++k) {
        for (int64_t j = 0; j < len; ++j) mx[j] = std::max(mx[j], T(load(xb[k * d + j])));
      }
      for (int64_t k = 0; k < c; ++k) {
        for (int64_t j = 0; j < len; ++j) {
          const T v = T(load(xb[k * d + j])) - mx[j];
          lb[k * d + j] = v;
          sum[j] += std::exp(v);
        }
      }
      for (int64_t j = 0; j < len; ++j) sum[j] = std::log(sum[j]);
      for (int64_t k = 0; k < c; ++k) {
        for (int64_t j = 0; j < len; ++j) lb[k * d + j] -= sum[j];
      }
    }
  });
}

template <typename S, typename I>
Status sce_typed(KernelContext& ctx, const LossSetup& s) {
  using T = Compute<S>;
  const ir::Tensor& x = ctx.input(0);
  // log_prob goes straight into output 1 when it is wanted in the compute type.
  T* lp = nullptr;
  std::vector<T> buf;
  ir::Tensor* log_prob = nullptr;
  if (ctx.has_output(1)) {
    MIXQ_ASSIGN_OR_RETURN(log_prob, ctx.output(1, x.dtype(), x.dims()));
    if constexpr (std::is_same_v<S, T>) lp = log_prob->mutable_data<S>();
  }
  if (lp == nullptr) {
    buf.resize(static_cast<size_t>(x.numel()));
    lp = buf.data();
  }
  log_softmax<S, T>(ctx.pool(), x.data<S>(), s.n, s.c, s.d, lp);
  std::vector<T> loss, applied;
  MIXQ_RETURN_IF_ERROR((sample_losses<S, I, T>(ctx, s, lp, loss, applied)));
  MIXQ_RETURN_IF_ERROR((write_loss<S, T>(ctx, s, loss, applied)));
  if (log_prob != nullptr && !buf.empty()) {
    S* p = log_prob->mutable_data<S>();
    for (size_t i = 0; i < buf.size(); ++i) p[i] = store<S>(buf[i]);
  }
  return Status::ok_status();
}

template <bool kSoftmax>
Status loss_kernel(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(LossSetup s, setup(ctx));
  return visit_dtype(ctx.input(0).dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (is_float_storage<S>()) {
      if (ctx.input(1).dtype() == DType::kInt32) {
        return kSoftmax ? sce_typed<S, int32_t>(ctx, s) : nll_typed<S, int32_t>(ctx, s);
      }
      return kSoftmax ? sce_typed<S, int64_t>(ctx, s) : nll_typed<S, int64_t>(ctx, s);
    } else {
      return ctx.fail("input is ", dtype_name(ctx.input(0).dtype()), ", expected a float type");
    }
  });
}

}  // namespace

void register_losses_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "NegativeLogLikelihoodLoss", 12, 21, types::kFloats, 0, loss_kernel<false>});
  out.push_back({"", "SoftmaxCrossEntropyLoss", 12, 21, types::kFloats, 0, loss_kernel<true>});
}

}  // namespace mixq::exec
