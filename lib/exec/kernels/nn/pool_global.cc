// Whole-plane pools and unpooling:
// ONNX GlobalAveragePool-1, GlobalMaxPool-1, GlobalLpPool-1/2 (p float in version 1, int from
// 2): [N, C, D...] -> [N, C, 1, ...], reducing each (n, c) plane (sums in float64, one plane
// per chunk).
// ONNX MaxUnpool-9/11: Y = zeros(output shape); X[i] goes to flat index I[i] of the default
// unpooled shape [N, C, (in - 1) * stride + kernel - pads...] (MaxPool's Indices output). With
// an output_shape input the result is that shape, holding the default-shaped result at its
// start (the ONNX reference's and backend tests' reading).
// float16/bfloat16 are computed in float32.
#include <cmath>
#include <cstring>
#include <limits>

#include "kernels/nn/nn_kernels.h"
#include "kernels/nn/nn_util.h"

namespace mixq::exec {
namespace {

enum class GlobalKind { kAverage, kMax, kLp };

template <GlobalKind kKind>
Status global_pool(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const auto& xd = xt.dims();
  if (xd.size() < 2) {
    return ctx.fail("input has shape ", ir::dims_to_string(xd), ", expected rank >= 2");
  }
  double p = 2;
  if constexpr (kKind == GlobalKind::kLp) {
    if (ctx.opset() < 2) {
      MIXQ_ASSIGN_OR_RETURN(const float pf, ctx.node().attr_float("p", 2.0f));
      p = pf;
    } else {
      MIXQ_ASSIGN_OR_RETURN(const int64_t pi, ctx.node().attr_int("p", 2));
      p = static_cast<double>(pi);
    }
    if (!(p > 0)) return ctx.fail("attribute p is ", p, ", must be > 0");
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  const int64_t planes = xd[0] * xd[1];
  const int64_t size = nn::product(xd, 2, xd.size());
  if (planes == 0) return Status::ok_status();
  return visit_dtype(xt.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (!is_float_storage<S>()) {
      return ctx.fail(dtype_name(xt.dtype()), " input is not supported");
    } else {
      using T = Compute<S>;
      const S* x = xt.data<S>();
      S* y = yt->mutable_data<S>();
      const int64_t grain = ThreadPool::grain_for(planes, std::max<int64_t>(1, 16384 / size));
      ctx.pool().parallel_for(planes, grain, [&](int64_t b, int64_t e) {
        for (int64_t pl = b; pl < e; ++pl) {
          const S* xp = x + pl * size;
          if constexpr (kKind == GlobalKind::kMax) {
            T best = -std::numeric_limits<T>::infinity();
            for (int64_t i = 0; i < size; ++i) {
              const T v = load(xp[i]);
              best = (v > best || std::isnan(v)) ? v : best;
            }
            y[pl] = store<S>(best);
          } else if constexpr (kKind == GlobalKind::kAverage) {
            double acc;
            if constexpr (std::is_same_v<S, T>) {
              acc = nn::sum_of(xp, size);
            } else {
              acc = 0;
              for (int64_t i = 0; i < size; ++i) acc += static_cast<double>(load(xp[i]));
            }
            y[pl] = store<S>(static_cast<T>(acc / static_cast<double>(size)));
          } else {
            double acc = 0;
            for (int64_t i = 0; i < size; ++i) {
              const double v = std::fabs(static_cast<double>(load(xp[i])));
              acc += p == 2 ? v * v : p == 1 ? v : std::pow(v, p);
            }
            y[pl] = store<S>(static_cast<T>(p == 2 ? std::sqrt(acc) : std::pow(acc, 1.0 / p)));
          }
        }
      });
      return Status::ok_status();
    }
  });
}

Status max_unpool(KernelContext& ctx) {
  const ir::Tensor& xt = ctx.input(0);
  const ir::Tensor& it = ctx.input(1);
  const auto& xd = xt.dims();
  if (it.dtype() != DType::kInt64) return ctx.fail("indices must be int64");
  if (it.dims() != xd) {
    return ctx.fail("indices ", ir::dims_to_string(it.dims()), " and input ",
                    ir::dims_to_string(xd), " differ in shape");
  }
  if (xd.size() < 3) return ctx.fail("input must have rank >= 3");
  const size_t n = xd.size() - 2;
  MIXQ_ASSIGN_OR_RETURN(const auto kernel, ctx.node().attr_ints("kernel_shape"));
  if (!kernel || kernel->size() != n) {
    return ctx.fail("attribute kernel_shape must have ", n, " values");
  }
  MIXQ_ASSIGN_OR_RETURN(const auto strides, nn::ints_attr(ctx, "strides", n, 1, 1));
  MIXQ_ASSIGN_OR_RETURN(const auto pads, nn::ints_attr(ctx, "pads", 2 * n, 0, 0));
  // The indices address the unpooled tensor of the default shape (MaxPool's input).
  std::vector<int64_t> inferred{xd[0], xd[1]};
  for (size_t i = 0; i < n; ++i) {
    inferred.push_back((xd[i + 2] - 1) * strides[i] - pads[i] - pads[i + n] + (*kernel)[i]);
    if (inferred.back() < 0) return ctx.fail("unpooled size on spatial axis ", i, " is negative");
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * yt, ctx.output(0));
  const auto& yd = yt->dims();
  if (yd.size() != xd.size() || yd[0] != xd[0] || yd[1] != xd[1]) {
    return ctx.fail("output shape ", ir::dims_to_string(yd), " does not fit input ",
                    ir::dims_to_string(xd));
  }
  const size_t es = element_size(xt.dtype());
  if (es == 0) return ctx.fail(dtype_name(xt.dtype()), " input is not supported");
  const int64_t total = nn::product(inferred, 0, inferred.size());
  const std::vector<int64_t> out_strides = strides_of(yd);
  std::byte* y = yt->mutable_raw_data();
  std::memset(y, 0, static_cast<size_t>(yt->numel()) * es);
  const std::byte* x = xt.raw_data();
  const int64_t* ind = it.data<int64_t>();
  // A serial scatter: two inputs naming one output position keep the later one, as written.
  // An output_shape larger than the default places the default-shaped result at its start, as
  // the ONNX reference does.
  for (int64_t i = 0; i < xt.numel(); ++i) {
    int64_t k = ind[i];
    if (k < 0 || k >= total) {
      return ctx.fail("index ", k, " at position ", i, " is outside the unpooled tensor ",
                      ir::dims_to_string(inferred));
    }
    int64_t off = 0;
    for (size_t d = inferred.size(); d-- > 0;) {
      const int64_t c = k % inferred[d];
      k /= inferred[d];
      if (c >= yd[d]) {
        return ctx.fail("index ", ind[i], " falls outside output shape ", ir::dims_to_string(yd));
      }
      off += c * out_strides[d];
    }
    std::memcpy(y + off * static_cast<int64_t>(es), x + i * static_cast<int64_t>(es), es);
  }
  return Status::ok_status();
}

}  // namespace

void register_pool_global_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "GlobalAveragePool", 1, 21, kFloats, 0, global_pool<GlobalKind::kAverage>});
  out.push_back({"", "GlobalMaxPool", 1, 21, kFloats, 0, global_pool<GlobalKind::kMax>});
  out.push_back({"", "GlobalLpPool", 1, 21, kFloats, 0, global_pool<GlobalKind::kLp>});
  out.push_back({"", "MaxUnpool", 9, 21, kFloats, 0, max_unpool});
}

}  // namespace mixq::exec
