// ONNX Gather-1/11/13: y = data indexed along `axis` by `indices` (negative indices count from
// the back). ONNX GatherElements-11/13: y[i] = data[i with i[axis] = indices[i]].
// ONNX GatherND-11/12/13: y = data sliced by index tuples (the last dim of `indices`), after
// `batch_dims` leading dims shared by data and indices (12+).
// Any data dtype, int32/int64 indices. Indices are checked in one pass before any copying, so
// an out-of-range index is a bad-input error naming the node.
#include <algorithm>

#include "kernels/tensor/tensor_kernels.h"
#include "kernels/tensor/tensor_util.h"

namespace mixq::exec {
namespace {

int64_t product(const std::vector<int64_t>& dims, size_t from, size_t to) {
  int64_t p = 1;
  for (size_t k = from; k < to; ++k) p *= dims[k];
  return p;
}

Status gather(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kString) return with_string_codes(ctx, gather);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  const ir::Tensor& ind = ctx.input(1);
  const auto rank = static_cast<int64_t>(x.rank());
  if (rank == 0) return ctx.fail("data must have rank >= 1");
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 0));
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, rank));
  const auto ax = static_cast<size_t>(axis);
  const auto& dims = x.dims();
  std::vector<int64_t> out(dims.begin(), dims.begin() + axis);
  out.insert(out.end(), ind.dims().begin(), ind.dims().end());
  out.insert(out.end(), dims.begin() + axis + 1, dims.end());
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), out));

  const int64_t n = dims[ax];
  const int64_t m = ind.numel();
  std::vector<int64_t> storage;
  const int64_t* raw = indices_as_int64(ind, storage);
  std::vector<int64_t> idx(raw, raw + m);
  for (int64_t i = 0; i < m; ++i) {
    if (!fix_index(idx[static_cast<size_t>(i)], n)) {
      return ctx.fail("index ", raw[i], " is out of range for axis ", axis, " of size ", n);
    }
  }
  if (y->numel() == 0) return Status::ok_status();
  const int64_t outer = product(dims, 0, ax);
  const int64_t inner = product(dims, ax + 1, dims.size());
  const int64_t tasks = outer * m;
  visit_size(element_size(x.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* dst = y->mutable_data<T>();
    const int64_t* ix = idx.data();
    const int64_t grain = ThreadPool::grain_for(tasks, std::max<int64_t>(1, 16384 / inner));
    ctx.pool().parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
      int64_t o = b / m, j = b % m;  // outer position and index position of task t
      const T* row = src + o * n * inner;
      for (int64_t t = b; t < e; ++t) {
        if (inner == 1) {
          dst[t] = row[ix[j]];
        } else {
          copy_run(dst + t * inner, row + ix[j] * inner, inner);
        }
        if (++j == m) {
          j = 0;
          row += n * inner;
        }
      }
    });
  });
  return Status::ok_status();
}

Status gather_elements(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kString) return with_string_codes(ctx, gather_elements);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  const ir::Tensor& ind = ctx.input(1);
  const auto rank = static_cast<int64_t>(x.rank());
  if (rank == 0) return ctx.fail("data must have rank >= 1");
  if (ind.rank() != x.rank()) {
    return ctx.fail("indices have rank ", ind.rank(), ", data has rank ", rank);
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 0));
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, rank));
  const auto ax = static_cast<size_t>(axis);
  const auto& dims = x.dims();
  for (size_t k = 0; k < dims.size(); ++k) {
    if (k != ax && ind.dims()[k] > dims[k]) {
      return ctx.fail("indices dim ", k, " is ", ind.dims()[k], ", larger than data's ", dims[k]);
    }
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), ind.dims()));
  const int64_t n = dims[ax];
  const int64_t m = ind.numel();
  std::vector<int64_t> storage;
  const int64_t* ix = indices_as_int64(ind, storage);
  MIXQ_RETURN_IF_ERROR(check_indices(ctx, ix, m, n, axis));
  if (m == 0) return Status::ok_status();
  const std::vector<int64_t> ds = strides_of(dims);
  const int64_t len = ind.dims().back();  // inner run of the output
  const int64_t rows = m / len;
  // Strides of the outer index dims into data; the gathered axis contributes through idx.
  std::vector<int64_t> row_dims(ind.dims().begin(), ind.dims().end() - 1);
  std::vector<int64_t> row_strides(ds.begin(), ds.end() - 1);
  if (ax + 1 < dims.size()) row_strides[ax] = 0;
  const int64_t sa = ds[ax];
  const bool last = ax + 1 == dims.size();
  visit_size(element_size(x.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* dst = y->mutable_data<T>();
    const int64_t grain = ThreadPool::grain_for(rows, std::max<int64_t>(1, 16384 / len));
    ctx.pool().parallel_for(rows, grain, [&](int64_t b, int64_t e) {
      Odometer odo(row_dims.data(), row_strides.data(), row_dims.size());
      odo.seek(b);
      for (int64_t r = b; r < e; ++r, odo.next()) {
        const T* base = src + odo.offset();
        T* to = dst + r * len;
        const int64_t* ir = ix + r * len;
        // Indices were checked: a negative one only needs n added.
        if (last) {
          for (int64_t j = 0; j < len; ++j) to[j] = base[ir[j] + (ir[j] < 0 ? n : 0)];
        } else {
          for (int64_t j = 0; j < len; ++j) to[j] = base[j + (ir[j] + (ir[j] < 0 ? n : 0)) * sa];
        }
      }
    });
  });
  return Status::ok_status();
}

Status gather_nd(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.dtype() == DType::kString) return with_string_codes(ctx, gather_nd);
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  const ir::Tensor& ind = ctx.input(1);
  if (ind.dtype() != DType::kInt64) return ctx.fail("indices must be int64");
  int64_t bd = 0;
  if (ctx.opset() >= 12) {
    MIXQ_ASSIGN_OR_RETURN(bd, ctx.node().attr_int("batch_dims", 0));
  }
  const auto r = static_cast<int64_t>(x.rank());
  const auto q = static_cast<int64_t>(ind.rank());
  if (r < 1 || q < 1) return ctx.fail("data and indices must have rank >= 1");
  if (bd < 0 || bd >= std::min(r, q)) {
    return ctx.fail("batch_dims ", bd, " must be in [0, ", std::min(r, q), ")");
  }
  const auto b = static_cast<size_t>(bd);
  const auto& dd = x.dims();
  const auto& id = ind.dims();
  for (size_t k = 0; k < b; ++k) {
    if (dd[k] != id[k]) {
      return ctx.fail("batch dim ", k, " is ", dd[k], " in data but ", id[k], " in indices");
    }
  }
  const int64_t k = id.back();
  if (k < 1 || k > r - bd) {
    return ctx.fail("indices tuples have length ", k, ", must be in [1, ", r - bd, "]");
  }
  std::vector<int64_t> out(id.begin(), id.end() - 1);
  out.insert(out.end(), dd.begin() + bd + k, dd.end());
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), out));
  const int64_t batches = product(dd, 0, b);
  const int64_t tuples = product(id, b, id.size() - 1);  // per batch
  const int64_t slice = product(dd, b + static_cast<size_t>(k), dd.size());
  const int64_t batch_stride = product(dd, b, dd.size());
  const std::vector<int64_t> ds = strides_of(dd);
  // Source offset of every tuple, validated first.
  std::vector<int64_t> offsets(static_cast<size_t>(batches * tuples));
  const int64_t* ix = ind.data<int64_t>();
  for (int64_t t = 0; t < batches * tuples; ++t) {
    int64_t off = (t / std::max<int64_t>(tuples, 1)) * batch_stride;
    for (int64_t j = 0; j < k; ++j) {
      int64_t v = ix[t * k + j];
      const int64_t n = dd[b + static_cast<size_t>(j)];
      if (!fix_index(v, n)) {
        return ctx.fail("index ", ix[t * k + j], " is out of range for data dim ", bd + j,
                        " of size ", n);
      }
      off += v * ds[b + static_cast<size_t>(j)];
    }
    offsets[static_cast<size_t>(t)] = off;
  }
  if (y->numel() == 0) return Status::ok_status();
  const int64_t tasks = batches * tuples;
  visit_size(element_size(x.dtype()), [&](auto tag) {
    using T = decltype(tag);
    const T* src = x.data<T>();
    T* dst = y->mutable_data<T>();
    const int64_t grain = ThreadPool::grain_for(tasks, std::max<int64_t>(1, 16384 / slice));
    ctx.pool().parallel_for(tasks, grain, [&](int64_t s, int64_t e) {
      for (int64_t t = s; t < e; ++t) {
        copy_run(dst + t * slice, src + offsets[static_cast<size_t>(t)], slice);
      }
    });
  });
  return Status::ok_status();
}

}  // namespace

void register_gather_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Gather", 1, 21, TypeSet::any(), 0, gather});
  out.push_back({"", "GatherElements", 11, 21, TypeSet::any(), 0, gather_elements});
  out.push_back({"", "GatherND", 11, 21, TypeSet::any(), 0, gather_nd});
}

}  // namespace mixq::exec
