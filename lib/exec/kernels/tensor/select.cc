// Ops that select or place elements by position or by a mask:
// ONNX NonZero-9/13: int64 [rank, count] coordinates of the non-zero elements, row-major order
// (a scalar counts as 1-D). ONNX Compress-9/11: the slices along `axis` (or elements of the
// flattened input) whose condition is true; condition entries past the end must be false.
// ONNX Trilu-14: keeps elements with j - i >= k (upper) or j - i <= k (lower) of the last two
// dims, zeroes the rest. ONNX ReverseSequence-10: reverses the first sequence_lens[b] entries
// along `time_axis` of every batch entry b. ONNX OneHot-9/11: `values[1]` at the index
// (negative counts from the back) along a new `axis` of size depth, `values[0]` elsewhere.
#include <algorithm>
#include <cmath>

#include "kernels/tensor/tensor_kernels.h"
#include "kernels/tensor/tensor_util.h"

namespace mixq::exec {
namespace {

Status nonzero(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  const int64_t n = x.numel();
  const std::vector<int64_t> dims = x.rank() == 0 ? std::vector<int64_t>{1} : x.dims();
  const auto rank = static_cast<int64_t>(dims.size());
  // Count per fixed chunk, then each chunk writes from its prefix offset.
  const int64_t grain = ThreadPool::grain_for(n, 16384);
  const int64_t chunks = n == 0 ? 0 : (n + grain - 1) / grain;
  std::vector<int64_t> counts(static_cast<size_t>(chunks) + 1, 0);
  return visit_dtype(x.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    const S* p = x.data<S>();
    const auto nz = [](const S& v) { return load(v) != Compute<S>(0); };
    ctx.pool().parallel_for(n, grain, [&](int64_t b, int64_t e) {
      int64_t c = 0;
      for (int64_t i = b; i < e; ++i) c += nz(p[i]) ? 1 : 0;
      counts[static_cast<size_t>(b / grain) + 1] = c;
    });
    for (size_t c = 1; c < counts.size(); ++c) counts[c] += counts[c - 1];
    const int64_t total = counts.back();
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, DType::kInt64, {rank, total}));
    int64_t* out = y->mutable_data<int64_t>();
    ctx.pool().parallel_for(n, grain, [&](int64_t b, int64_t e) {
      int64_t pos = counts[static_cast<size_t>(b / grain)];
      std::vector<int64_t> idx(static_cast<size_t>(rank));
      int64_t rest = b;
      for (int64_t k = rank; k-- > 0;) {
        idx[static_cast<size_t>(k)] = rest % dims[static_cast<size_t>(k)];
        rest /= dims[static_cast<size_t>(k)];
      }
      for (int64_t i = b; i < e; ++i) {
        if (nz(p[i])) {
          for (int64_t k = 0; k < rank; ++k) out[k * total + pos] = idx[static_cast<size_t>(k)];
          ++pos;
        }
        for (int64_t k = rank; k-- > 0;) {
          if (++idx[static_cast<size_t>(k)] < dims[static_cast<size_t>(k)]) break;
          idx[static_cast<size_t>(k)] = 0;
        }
      }
    });
    return Status::ok_status();
  });
}

Status compress(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kString) return with_string_codes(ctx, compress);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  const ir::Tensor& cond = ctx.input(1);
  if (cond.dtype() != DType::kBool || cond.rank() != 1) {
    return ctx.fail("condition must be a 1-D bool tensor, is ", dtype_name(cond.dtype()),
                    ir::dims_to_string(cond.dims()));
  }
  const bool has_axis = ctx.node().attr("axis") != nullptr;
  std::vector<int64_t> dims = has_axis ? x.dims() : std::vector<int64_t>{x.numel()};
  int64_t axis = 0;
  if (has_axis) {
    MIXQ_ASSIGN_OR_RETURN(axis, ctx.node().attr_int("axis", 0));
    MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, static_cast<int64_t>(x.rank())));
  }
  const auto ax = static_cast<size_t>(axis);
  const int64_t n = dims[ax];
  const bool* c = cond.data<bool>();
  std::vector<int64_t> picked;
  for (int64_t j = 0; j < cond.numel(); ++j) {
    if (!c[j]) continue;
    if (j >= n) return ctx.fail("condition selects index ", j, " of a dim of size ", n);
    picked.push_back(j);
  }
  dims[ax] = static_cast<int64_t>(picked.size());
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), dims));
  if (y->numel() == 0) return Status::ok_status();
  int64_t outer = 1, inner = 1;
  for (size_t k = 0; k < ax; ++k) outer *= dims[k];
  for (size_t k = ax + 1; k < dims.size(); ++k) inner *= dims[k];
  const auto m = static_cast<int64_t>(picked.size());
  const int64_t tasks = outer * m;
  visit_size(element_size(x.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* dst = y->mutable_data<T>();
    const int64_t grain = ThreadPool::grain_for(tasks, std::max<int64_t>(1, 16384 / inner));
    ctx.pool().parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const T* from = src + ((t / m) * n + picked[static_cast<size_t>(t % m)]) * inner;
        copy_run(dst + t * inner, from, inner);
      }
    });
  });
  return Status::ok_status();
}

Status trilu(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  if (x.rank() < 2) return ctx.fail("input has rank ", x.rank(), ", needs rank >= 2");
  int64_t k = 0;
  if (ctx.has_input(1)) {
    if (ctx.input(1).numel() != 1) return ctx.fail("k must have one element");
    k = ctx.input(1).element_as_int64(0);
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t upper, ctx.node().attr_int("upper", 1));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  if (y->numel() == 0) return Status::ok_status();
  const int64_t rows = x.dims()[x.rank() - 2], cols = x.dims()[x.rank() - 1];
  const int64_t total_rows = x.numel() / cols;
  const size_t es = element_size(x.dtype());
  const std::byte* src = x.raw_data();
  std::byte* dst = y->mutable_raw_data();
  const int64_t grain = ThreadPool::grain_for(total_rows, std::max<int64_t>(1, 16384 / cols));
  ctx.pool().parallel_for(total_rows, grain, [&](int64_t b, int64_t e) {
    for (int64_t r = b; r < e; ++r) {
      const int64_t i = r % rows;
      // Kept columns [lo, hi): upper keeps j >= i + k, lower keeps j <= i + k.
      const int64_t lo = upper != 0 ? std::clamp<int64_t>(i + k, 0, cols) : 0;
      const int64_t hi = upper != 0 ? cols : std::clamp<int64_t>(i + k + 1, 0, cols);
      const auto at = [&](int64_t j) { return static_cast<size_t>(r * cols + j) * es; };
      std::memset(dst + at(0), 0, static_cast<size_t>(lo) * es);
      if (hi > lo) std::memcpy(dst + at(lo), src + at(lo), static_cast<size_t>(hi - lo) * es);
      std::memset(dst + at(std::max(lo, hi)), 0, static_cast<size_t>(cols - std::max(lo, hi)) * es);
    }
  });
  return Status::ok_status();
}

Status reverse_sequence(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kString) return with_string_codes(ctx, reverse_sequence);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  MIXQ_ASSIGN_OR_RETURN(int64_t batch_axis, ctx.node().attr_int("batch_axis", 1));
  MIXQ_ASSIGN_OR_RETURN(int64_t time_axis, ctx.node().attr_int("time_axis", 0));
  if (x.rank() < 2) return ctx.fail("input has rank ", x.rank(), ", needs rank >= 2");
  if ((batch_axis != 0 && batch_axis != 1) || time_axis != 1 - batch_axis) {
    return ctx.fail("batch_axis ", batch_axis, " and time_axis ", time_axis,
                    " must be 0 and 1 in some order");
  }
  const int64_t steps = x.dims()[static_cast<size_t>(time_axis)];
  const int64_t batch = x.dims()[static_cast<size_t>(batch_axis)];
  const ir::Tensor& lens_t = ctx.input(1);
  if (lens_t.rank() != 1 || lens_t.numel() != batch) {
    return ctx.fail("sequence_lens has shape ", ir::dims_to_string(lens_t.dims()),
                    " for batch size ", batch);
  }
  const std::vector<int64_t> lens = read_ints(lens_t);
  for (int64_t len : lens) {
    if (len < 0 || len > steps) {
      return ctx.fail("sequence length ", len, " is outside [0, ", steps, "]");
    }
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  int64_t inner = 1;
  for (size_t k = 2; k < x.rank(); ++k) inner *= x.dims()[k];
  // Element offsets of (t, b) rows.
  const int64_t st = time_axis == 0 ? batch * inner : inner;
  const int64_t sb = time_axis == 0 ? inner : steps * inner;
  const size_t es = element_size(x.dtype());
  const int64_t tasks = steps * batch;
  const int64_t grain =
      ThreadPool::grain_for(tasks, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, inner)));
  ctx.pool().parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
    for (int64_t task = b; task < e; ++task) {
      const int64_t t = task / batch, bi = task % batch;
      const int64_t len = lens[static_cast<size_t>(bi)];
      const int64_t from_t = t < len ? len - 1 - t : t;
      std::memcpy(y->mutable_raw_data() + static_cast<size_t>(t * st + bi * sb) * es,
                  x.raw_data() + static_cast<size_t>(from_t * st + bi * sb) * es,
                  static_cast<size_t>(inner) * es);
    }
  });
  return Status::ok_status();
}

Status one_hot(KernelContext& ctx) {
  const ir::Tensor& values = ctx.input(2);
  if (values.dtype() == DType::kString) return with_string_codes(ctx, one_hot);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, values.dtype()));
  if (values.rank() != 1 || values.numel() != 2) {
    return ctx.fail("values must be a 1-D tensor of 2 elements, has shape ",
                    ir::dims_to_string(values.dims()));
  }
  const ir::Tensor& ind = ctx.input(0);
  const ir::Tensor& depth_t = ctx.input(1);
  if (depth_t.numel() != 1) return ctx.fail("depth must have one element");
  const int64_t depth = depth_t.element_as_int64(0);
  if (depth < 1) return ctx.fail("depth is ", depth, ", must be >= 1");
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", -1));
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, static_cast<int64_t>(ind.rank()) + 1));
  std::vector<int64_t> dims = ind.dims();
  dims.insert(dims.begin() + axis, depth);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, values.dtype(), dims));
  // Index values as int64; -1 marks one outside [-depth, depth) (a row of off values).
  const int64_t m = ind.numel();
  std::vector<int64_t> idx(static_cast<size_t>(m));
  MIXQ_RETURN_IF_ERROR(visit_dtype(ind.dtype(), [&](auto tag) -> Status {
    using S = decltype(tag);
    const S* p = ind.data<S>();
    for (int64_t i = 0; i < m; ++i) {
      int64_t v = -1;
      const auto c = load(p[i]);
      if constexpr (std::is_floating_point_v<decltype(c)>) {
        if (std::isfinite(c) && std::fabs(c) < 9.0e18)
          v = static_cast<int64_t>(c);
        else
          v = depth;  // out of range
      } else {
        v = static_cast<int64_t>(c);
      }
      idx[static_cast<size_t>(i)] = fix_index(v, depth) ? v : -1;
    }
    return Status::ok_status();
  }));
  int64_t outer = 1;
  for (int64_t k = 0; k < axis; ++k) outer *= ind.dims()[static_cast<size_t>(k)];
  const int64_t inner = outer == 0 ? 0 : m / outer;
  visit_size(element_size(values.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const T off = values.data<T>()[0], on = values.data<T>()[1];
    T* out = y->mutable_data<T>();
    const int64_t grain = ThreadPool::grain_for(
        outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, depth * inner)));
    ctx.pool().parallel_for(outer, grain, [&](int64_t b, int64_t e) {
      for (int64_t o = b; o < e; ++o) {
        T* block = out + o * depth * inner;
        for (int64_t i = 0; i < depth * inner; ++i) block[i] = off;
        for (int64_t i = 0; i < inner; ++i) {
          const int64_t v = idx[static_cast<size_t>(o * inner + i)];
          if (v >= 0) block[v * inner + i] = on;
        }
      }
    });
  });
  return Status::ok_status();
}

}  // namespace

void register_select_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  out.push_back({"", "NonZero", 9, 21, kNumeric | kBool, 0, nonzero});
  out.push_back({"", "Compress", 9, 21, TypeSet::any(), 0, compress});
  out.push_back({"", "Trilu", 14, 21, TypeSet::any(), 0, trilu});
  out.push_back({"", "ReverseSequence", 10, 21, TypeSet::any(), 0, reverse_sequence});
  out.push_back({"", "OneHot", 9, 21, kNumeric, 0, one_hot});
}

}  // namespace mixq::exec
