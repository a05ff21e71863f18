#include "kernels/tensor/tensor_util.h"

#include <algorithm>
#include <string>

namespace mixq::exec {

Status check_copyable(const KernelContext& ctx, DType t) {
  const size_t es = element_size(t);
  if (es == 1 || es == 2 || es == 4 || es == 8 || es == 16) return Status::ok_status();
  return ctx.not_supported(dtype_name(t), " tensors are not supported by this kernel");
}

Expected<int64_t> normalize_axis(const KernelContext& ctx, int64_t axis, int64_t rank,
                                 const char* what) {
  if (axis < -rank || axis >= rank) {
    return ctx.fail(what, " ", axis, " is out of range for rank ", rank);
  }
  return axis < 0 ? axis + rank : axis;
}

std::vector<int64_t> read_ints(const ir::Tensor& t) {
  std::vector<int64_t> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) v[static_cast<size_t>(i)] = t.element_as_int64(i);
  return v;
}

const int64_t* indices_as_int64(const ir::Tensor& t, std::vector<int64_t>& storage) {
  if (t.dtype() == DType::kInt64) return t.data<int64_t>();
  storage.resize(static_cast<size_t>(t.numel()));
  if (t.dtype() == DType::kInt32) {
    const int32_t* p = t.data<int32_t>();
    for (size_t i = 0; i < storage.size(); ++i) storage[i] = p[i];
  } else {
    for (size_t i = 0; i < storage.size(); ++i)
      storage[i] = t.element_as_int64(static_cast<int64_t>(i));
  }
  return storage.data();
}

Status check_indices(const KernelContext& ctx, const int64_t* idx, int64_t m, int64_t n,
                     int64_t axis) {
  for (int64_t i = 0; i < m; ++i) {
    if (idx[i] < -n || idx[i] >= n) {
      return ctx.fail("index ", idx[i], " is out of range for axis ", axis, " of size ", n);
    }
  }
  return Status::ok_status();
}

Expected<std::vector<int64_t>> inferred_dims(const KernelContext& ctx, size_t i) {
  const ir::ValueType& t = ctx.inferred_type(i);
  std::optional<std::vector<int64_t>> dims;
  if (t.is_tensor() && t.shape) dims = ir::shape_to_ints(*t.shape);
  if (!dims) {
    return internal_error(ctx.node().describe(), ": the shape of output ", i, " was not inferred");
  }
  return *dims;
}

void strided_copy(ThreadPool& pool, size_t es, const std::byte* src, std::vector<int64_t> dims,
                  std::vector<int64_t> strides, std::byte* dst) {
  // Drop size-1 dims and merge dims that form one stride.
  std::vector<int64_t> d, s;
  for (size_t k = 0; k < dims.size(); ++k) {
    if (dims[k] == 0) return;
    if (dims[k] == 1) continue;
    if (!d.empty() && s.back() == strides[k] * dims[k]) {
      d.back() *= dims[k];
      s.back() = strides[k];
    } else {
      d.push_back(dims[k]);
      s.push_back(strides[k]);
    }
  }
  if (d.empty()) {
    std::memcpy(dst, src, es);
    return;
  }
  const int64_t n = d.back();
  const int64_t step = s.back();
  const size_t outer_rank = d.size() - 1;
  int64_t outer = 1;
  for (size_t k = 0; k < outer_rank; ++k) outer *= d[k];
  // Long runs are split so that a single row still spreads over threads.
  constexpr int64_t kPiece = 32768;
  const int64_t pieces = n >= 2 * kPiece ? (n + kPiece - 1) / kPiece : 1;
  const int64_t piece_len = (n + pieces - 1) / pieces;
  const int64_t tasks = outer * pieces;
  const int64_t grain = ThreadPool::grain_for(tasks, std::max<int64_t>(1, 16384 / piece_len));
  visit_size(es, [&](auto tag) {
    using T = decltype(tag);
    const T* x = reinterpret_cast<const T*>(src);
    T* y = reinterpret_cast<T*>(dst);
    pool.parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
      Odometer odo(d.data(), s.data(), outer_rank);
      int64_t row = b / pieces;
      odo.seek(row);
      for (int64_t t = b; t < e; ++t) {
        const int64_t q = t / pieces;
        if (q != row) {
          odo.next();
          row = q;
        }
        const int64_t start = (t % pieces) * piece_len;
        const int64_t len = std::min(piece_len, n - start);
        const T* from = x + odo.offset() + start * step;
        T* to = y + q * n + start;
        if (step == 1 && len * static_cast<int64_t>(sizeof(T)) >= 64) {
          std::memcpy(to, from, static_cast<size_t>(len) * sizeof(T));
        } else if (step == 0) {
          const T v = *from;
          for (int64_t i = 0; i < len; ++i) to[i] = v;
        } else {
          for (int64_t i = 0; i < len; ++i) to[i] = from[i * step];
        }
      }
    });
  });
}

void copy_rows(ThreadPool& pool, size_t es, int64_t rows, int64_t row_elems, const std::byte* src,
               int64_t src_stride, std::byte* dst, int64_t dst_stride) {
  if (rows == 0 || row_elems == 0) return;
  constexpr int64_t kPiece = 32768;
  const int64_t pieces = row_elems >= 2 * kPiece ? (row_elems + kPiece - 1) / kPiece : 1;
  const int64_t piece_len = (row_elems + pieces - 1) / pieces;
  const int64_t tasks = rows * pieces;
  const int64_t grain = ThreadPool::grain_for(tasks, std::max<int64_t>(1, 16384 / piece_len));
  visit_size(es, [&](auto tag) {
    using T = decltype(tag);
    const T* x = reinterpret_cast<const T*>(src);
    T* y = reinterpret_cast<T*>(dst);
    pool.parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
      for (int64_t t = b; t < e; ++t) {
        const int64_t r = t / pieces;
        const int64_t start = (t % pieces) * piece_len;
        const int64_t len = std::min(piece_len, row_elems - start);
        const T* from = x + r * src_stride + start;
        T* to = y + r * dst_stride + start;
        if (len * static_cast<int64_t>(sizeof(T)) >= 64) {
          std::memcpy(to, from, static_cast<size_t>(len) * sizeof(T));
        } else {
          for (int64_t i = 0; i < len; ++i) to[i] = from[i];
        }
      }
    });
  });
}

Status with_string_codes(KernelContext& ctx, KernelFn fn, bool by_rank) {
  // The strings all codes index into.
  std::vector<std::string> table;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i) || ctx.input(i).dtype() != DType::kString) continue;
    const auto& s = ctx.input(i).strings();
    table.insert(table.end(), s.begin(), s.end());
  }
  if (by_rank) {
    std::sort(table.begin(), table.end());
    table.erase(std::unique(table.begin(), table.end()), table.end());
  }
  std::vector<ir::Tensor> coded(ctx.num_inputs());
  std::vector<const ir::Tensor*> inputs(ctx.num_inputs(), nullptr);
  int64_t next = 0;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) continue;
    const ir::Tensor& in = ctx.input(i);
    if (in.dtype() != DType::kString) {
      inputs[i] = &in;
      continue;
    }
    MIXQ_ASSIGN_OR_RETURN(coded[i], ir::Tensor::uninitialized(DType::kInt64, in.dims()));
    int64_t* c = coded[i].mutable_data<int64_t>();
    const auto& s = in.strings();
    for (size_t j = 0; j < s.size(); ++j) {
      c[j] = by_rank ? std::lower_bound(table.begin(), table.end(), s[j]) - table.begin() : next++;
    }
    inputs[i] = &coded[i];
  }
  std::vector<ir::ValueType> inferred(ctx.num_outputs());
  for (size_t i = 0; i < ctx.num_outputs(); ++i) {
    inferred[i] = ctx.inferred_type(i);
    if (inferred[i].dtype == DType::kString) inferred[i].dtype = DType::kInt64;
  }
  std::vector<ir::Tensor> outputs(ctx.num_outputs());
  KernelContext sub(ctx.node(), ctx.opset(), std::move(inputs), outputs, inferred, ctx.pool(),
                    nullptr);
  MIXQ_RETURN_IF_ERROR(fn(sub));
  for (size_t i = 0; i < outputs.size(); ++i) {
    ir::Tensor& out = outputs[i];
    if (ctx.inferred_type(i).dtype != DType::kString || out.dtype() != DType::kInt64) {
      ctx.set_output(i, std::move(out));
      continue;
    }
    std::vector<std::string> strings(static_cast<size_t>(out.numel()));
    const int64_t* c = out.data<int64_t>();
    for (size_t j = 0; j < strings.size(); ++j) {
      if (c[j] < 0 || c[j] >= static_cast<int64_t>(table.size())) {
        return internal_error(ctx.node().describe(), ": string code ", c[j], " out of range");
      }
      strings[j] = table[static_cast<size_t>(c[j])];
    }
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor t, ir::Tensor::from_strings(out.dims(), std::move(strings)));
    ctx.set_output(i, std::move(t));
  }
  return Status::ok_status();
}

}  // namespace mixq::exec
