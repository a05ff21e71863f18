// ONNX ScatterND-11/13/16/18: output = data with slices data[indices[t]] replaced by (or
// combined under `reduction` add/mul (16+), max/min (18+) with) updates[t].
// ONNX ScatterElements-11/13/16/18 and the deprecated Scatter-9/11: output = data with
// output[i with i[axis] = indices[i]] = updates[i] (or combined under `reduction`).
// Updates apply in index order, so duplicate indices give the result of a sequential loop (the
// last one wins for `none`). Work is split only where updates cannot collide (ScatterElements:
// lines along `axis`; ScatterND: positions within a slice), so results do not depend on the
// thread count. Any dtype for `none`; numeric and bool for the reductions.
#include <algorithm>
#include <string>

#include "kernels/tensor/tensor_kernels.h"
#include "kernels/tensor/tensor_util.h"

namespace mixq::exec {
namespace {

enum class Red { kNone, kAdd, kMul, kMax, kMin };

Expected<Red> reduction_attr(const KernelContext& ctx) {
  if (ctx.node().op_type() == "Scatter" || ctx.opset() < 16) return Red::kNone;
  MIXQ_ASSIGN_OR_RETURN(std::string r, ctx.node().attr_string("reduction", "none"));
  if (r == "none") return Red::kNone;
  if (r == "add") return Red::kAdd;
  if (r == "mul") return Red::kMul;
  if (ctx.opset() >= 18 && r == "max") return Red::kMax;
  if (ctx.opset() >= 18 && r == "min") return Red::kMin;
  return ctx.fail("unknown reduction '", r, "'");
}

template <Red R, typename S>
inline void combine(S& out, const S& upd) {
  if constexpr (R == Red::kNone) {
    out = upd;
  } else if constexpr (std::is_same_v<S, bool>) {
    if constexpr (R == Red::kAdd || R == Red::kMax) out = out || upd;
    if constexpr (R == Red::kMul || R == Red::kMin) out = out && upd;
  } else {
    const Compute<S> a = load(out), b = load(upd);
    if constexpr (R == Red::kAdd) out = store<S>(static_cast<Compute<S>>(a + b));
    if constexpr (R == Red::kMul) out = store<S>(static_cast<Compute<S>>(a * b));
    if constexpr (R == Red::kMax) out = store<S>(b > a ? b : a);
    if constexpr (R == Red::kMin) out = store<S>(b < a ? b : a);
  }
}

// Calls fn.template operator()<R, S>() for the reduction and the element type: S is a same-size
// unsigned integer for `none` (any dtype), the storage type otherwise.
template <typename Fn>
Status dispatch(const KernelContext& ctx, Red red, DType dtype, Fn&& fn) {
  if (red == Red::kNone) {
    visit_size(element_size(dtype),
               [&](auto tag) { fn.template operator()<Red::kNone, decltype(tag)>(); });
    return Status::ok_status();
  }
  if (!(types::kNumeric | types::kBool).contains(dtype)) {
    return ctx.not_supported("reduction on ", dtype_name(dtype), " data");
  }
  return visit_dtype(dtype, [&](auto tag) -> Status {
    using S = decltype(tag);
    switch (red) {
      case Red::kAdd:
        fn.template operator()<Red::kAdd, S>();
        break;
      case Red::kMul:
        fn.template operator()<Red::kMul, S>();
        break;
      case Red::kMax:
        fn.template operator()<Red::kMax, S>();
        break;
      default:
        fn.template operator()<Red::kMin, S>();
        break;
    }
    return Status::ok_status();
  });
}

// Output starts as a copy of data.
Expected<ir::Tensor*> copy_data(KernelContext& ctx, const ir::Tensor& x) {
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, x.dtype(), x.dims()));
  copy_rows(ctx.pool(), element_size(x.dtype()), 1, x.numel(), x.raw_data(), 0,
            y->mutable_raw_data(), 0);
  return y;
}

Status scatter_nd(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  MIXQ_ASSIGN_OR_RETURN(Red red, reduction_attr(ctx));
  if (x.dtype() == DType::kString) {
    if (red != Red::kNone) return ctx.fail("reduction on string data");
    return with_string_codes(ctx, scatter_nd);
  }
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  const ir::Tensor& ind = ctx.input(1);
  const ir::Tensor& upd = ctx.input(2);
  if (upd.dtype() != x.dtype()) return ctx.fail("updates and data differ in type");
  if (ind.dtype() != DType::kInt64) return ctx.fail("indices must be int64");
  const auto& dd = x.dims();
  const auto& id = ind.dims();
  if (id.empty()) return ctx.fail("indices must have rank >= 1");
  const int64_t k = id.back();
  if (k < 0 || k > static_cast<int64_t>(dd.size())) {
    return ctx.fail("indices tuples have length ", k, " for data of rank ", dd.size());
  }
  std::vector<int64_t> want(id.begin(), id.end() - 1);
  want.insert(want.end(), dd.begin() + k, dd.end());
  if (upd.dims() != want) {
    return ctx.fail("updates have shape ", ir::dims_to_string(upd.dims()), ", expected ",
                    ir::dims_to_string(want));
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, copy_data(ctx, x));
  int64_t slice = 1;
  for (size_t j = static_cast<size_t>(k); j < dd.size(); ++j) slice *= dd[j];
  int64_t tuples = 1;
  for (size_t j = 0; j + 1 < id.size(); ++j) tuples *= id[j];
  const std::vector<int64_t> ds = strides_of(dd);
  std::vector<int64_t> offsets(static_cast<size_t>(tuples));
  const int64_t* ix = ind.data<int64_t>();
  for (int64_t t = 0; t < tuples; ++t) {
    int64_t off = 0;
    for (int64_t j = 0; j < k; ++j) {
      int64_t v = ix[t * k + j];
      const int64_t n = dd[static_cast<size_t>(j)];
      if (!fix_index(v, n)) {
        return ctx.fail("index ", ix[t * k + j], " is out of range for data dim ", j, " of size ",
                        n);
      }
      off += v * ds[static_cast<size_t>(j)];
    }
    offsets[static_cast<size_t>(t)] = off;
  }
  if (slice == 0 || tuples == 0) return Status::ok_status();
  // Chunks split the slice; each applies every tuple, in order, to its part of the slice.
  return dispatch(ctx, red, x.dtype(), [&]<Red R, typename S>() {
    S* out = y->mutable_data<S>();
    const S* u = upd.data<S>();
    const int64_t grain =
        ThreadPool::grain_for(slice, std::max<int64_t>(1024, 65536 / std::max<int64_t>(1, tuples)));
    ctx.pool().parallel_for(slice, grain, [&](int64_t b, int64_t e) {
      for (int64_t t = 0; t < tuples; ++t) {
        S* o = out + offsets[static_cast<size_t>(t)];
        const S* v = u + t * slice;
        for (int64_t i = b; i < e; ++i) combine<R>(o[i], v[i]);
      }
    });
  });
}

Status scatter_elements(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  MIXQ_ASSIGN_OR_RETURN(Red red, reduction_attr(ctx));
  if (x.dtype() == DType::kString) {
    if (red != Red::kNone) return ctx.fail("reduction on string data");
    return with_string_codes(ctx, scatter_elements);
  }
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, x.dtype()));
  const ir::Tensor& ind = ctx.input(1);
  const ir::Tensor& upd = ctx.input(2);
  if (upd.dtype() != x.dtype()) return ctx.fail("updates and data differ in type");
  const auto rank = static_cast<int64_t>(x.rank());
  if (rank == 0) return ctx.fail("data must have rank >= 1");
  if (ind.rank() != x.rank() || upd.dims() != ind.dims()) {
    return ctx.fail("indices ", ir::dims_to_string(ind.dims()), " and updates ",
                    ir::dims_to_string(upd.dims()), " must have one shape of data's rank ", rank);
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 0));
  MIXQ_ASSIGN_OR_RETURN(axis, normalize_axis(ctx, axis, rank));
  const auto ax = static_cast<size_t>(axis);
  const auto& dd = x.dims();
  const auto& id = ind.dims();
  for (size_t k = 0; k < dd.size(); ++k) {
    if (k != ax && id[k] > dd[k]) {
      return ctx.fail("indices dim ", k, " is ", id[k], ", larger than data's ", dd[k]);
    }
  }
  const int64_t n = dd[ax];
  const int64_t m = ind.numel();
  std::vector<int64_t> storage;
  const int64_t* ix = indices_as_int64(ind, storage);
  MIXQ_RETURN_IF_ERROR(check_indices(ctx, ix, m, n, axis));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, copy_data(ctx, x));
  if (m == 0) return Status::ok_status();
  // Updates meet only when they share every coordinate but `axis`. Work items are (outer
  // position, block of inner positions); each applies j = 0, 1, ... along the axis in order.
  const std::vector<int64_t> ds = strides_of(dd);
  const std::vector<int64_t> outer_dims(id.begin(), id.begin() + axis);
  const std::vector<int64_t> outer_strides(ds.begin(), ds.begin() + axis);
  const std::vector<int64_t> inner_dims(id.begin() + axis + 1, id.end());
  int64_t inner = 1;
  for (int64_t d : inner_dims) inner *= d;
  const int64_t len = id[ax];
  // Data offset of each inner position (only needed when indices are smaller than data there).
  std::vector<int64_t> inner_off;
  if (!std::equal(inner_dims.begin(), inner_dims.end(), dd.begin() + axis + 1)) {
    Odometer odo(inner_dims.data(), ds.data() + axis + 1, inner_dims.size());
    odo.seek(0);
    for (int64_t i = 0; i < inner; ++i, odo.next()) inner_off.push_back(odo.offset());
  }
  constexpr int64_t kBlock = 1024;
  const int64_t blocks = (inner + kBlock - 1) / kBlock;
  const int64_t outer = m / (len * inner);
  const int64_t tasks = outer * blocks;
  const int64_t sa = ds[ax];
  return dispatch(ctx, red, x.dtype(), [&]<Red R, typename S>() {
    S* out = y->mutable_data<S>();
    const S* u = upd.data<S>();
    const int64_t grain =
        ThreadPool::grain_for(tasks, std::max<int64_t>(1, 16384 / (len * std::min(inner, kBlock))));
    ctx.pool().parallel_for(tasks, grain, [&](int64_t b, int64_t e) {
      Odometer od(outer_dims.data(), outer_strides.data(), outer_dims.size());
      for (int64_t t = b; t < e; ++t) {
        const int64_t o = t / blocks;
        od.seek(o);
        const int64_t i0 = (t % blocks) * kBlock;
        const int64_t i1 = std::min(inner, i0 + kBlock);
        S* base = out + od.offset();
        for (int64_t j = 0; j < len; ++j) {
          const int64_t row = (o * len + j) * inner;
          const int64_t* iv = ix + row;
          const S* uv = u + row;
          for (int64_t i = i0; i < i1; ++i) {
            const int64_t v = iv[i] + (iv[i] < 0 ? n : 0);
            const int64_t at = v * sa + (inner_off.empty() ? i : inner_off[static_cast<size_t>(i)]);
            combine<R>(base[at], uv[i]);
          }
        }
      }
    });
  });
}

}  // namespace

void register_scatter_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "ScatterND", 11, 21, TypeSet::any(), 0, scatter_nd});
  out.push_back({"", "ScatterElements", 11, 21, TypeSet::any(), 0, scatter_elements});
  out.push_back({"", "Scatter", 9, 21, TypeSet::any(), 0, scatter_elements});
}

}  // namespace mixq::exec
