// Ops that make tensors from shapes and attributes rather than from input data:
// ONNX Shape-1/13/15/19/21 (int64 dims, `start`/`end` since 15), Size-1/13/19/21 (int64 element
// count), Constant-1/9/11/12/13/19/21 (value, value_float(s), value_int(s), value_string(s);
// sparse_value is not supported), ConstantOfShape-9/20/21 (fill with the one-element `value`,
// float32 0 by default), Range-11 (output[i] = start + i * delta), EyeLike-9 (ones on diagonal
// `k`, dtype from `dtype` or the input).
#include <algorithm>
#include <cmath>

#include "kernels/tensor/tensor_kernels.h"
#include "kernels/tensor/tensor_util.h"

namespace mixq::exec {
namespace {

Status shape(KernelContext& ctx) {
  const auto& dims = ctx.input(0).dims();
  const auto rank = static_cast<int64_t>(dims.size());
  int64_t start = 0, end = rank;
  if (ctx.opset() >= 15) {
    MIXQ_ASSIGN_OR_RETURN(start, ctx.node().attr_int("start", 0));
    MIXQ_ASSIGN_OR_RETURN(end, ctx.node().attr_int("end", rank));
    auto clamp = [&](int64_t v) { return std::clamp<int64_t>(v < 0 ? v + rank : v, 0, rank); };
    start = clamp(start);
    end = clamp(end);
  }
  const int64_t n = std::max<int64_t>(0, end - start);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, DType::kInt64, {n}));
  int64_t* out = y->mutable_data<int64_t>();
  for (int64_t k = 0; k < n; ++k) out[k] = dims[static_cast<size_t>(start + k)];
  return Status::ok_status();
}

Status size(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, DType::kInt64, {}));
  *y->mutable_data<int64_t>() = ctx.input(0).numel();
  return Status::ok_status();
}

Status constant(KernelContext& ctx) {
  const auto& attrs = ctx.node().attributes();
  if (attrs.size() != 1) {
    return ctx.fail("needs exactly one value attribute, has ", attrs.size());
  }
  const ir::Attribute& a = attrs[0];
  const auto count = [](size_t n) { return std::vector<int64_t>{static_cast<int64_t>(n)}; };
  if (a.name == "value") {
    ctx.set_output(0, a.t);
  } else if (a.name == "value_float") {
    ctx.set_output(0, ir::Tensor::scalar_float(a.f));
  } else if (a.name == "value_floats") {
    ctx.set_output(0, ir::Tensor::from_floats(count(a.floats.size()), a.floats));
  } else if (a.name == "value_int") {
    ctx.set_output(0, ir::Tensor::from_int64s({}, {a.i}));
  } else if (a.name == "value_ints") {
    ctx.set_output(0, ir::Tensor::from_int64s(count(a.ints.size()), a.ints));
  } else if (a.name == "value_string") {
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor t, ir::Tensor::from_strings({}, {a.s}));
    ctx.set_output(0, std::move(t));
  } else if (a.name == "value_strings") {
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor t,
                          ir::Tensor::from_strings(count(a.strings.size()), a.strings));
    ctx.set_output(0, std::move(t));
  } else if (a.name == "sparse_value") {
    return ctx.not_supported("sparse_value constants are not supported");
  } else {
    return ctx.fail("unknown attribute '", a.name, "'");
  }
  return Status::ok_status();
}

// Fills `y` with copies of the one element at `value`.
void fill(ThreadPool& pool, ir::Tensor& y, const std::byte* value) {
  const int64_t n = y.numel();
  visit_size(element_size(y.dtype()), [&](auto tag) {
    using T = decltype(tag);
    T v;
    std::memcpy(&v, value, sizeof(T));
    T* out = y.mutable_data<T>();
    pool.parallel_for(n, ThreadPool::grain_for(n, 32768), [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) out[i] = v;
    });
  });
}

Status constant_of_shape(KernelContext& ctx) {
  const ir::Tensor& s = ctx.input(0);
  if (s.rank() != 1) return ctx.fail("input must be 1-D, has rank ", s.rank());
  const std::vector<int64_t> dims = read_ints(s);
  for (int64_t d : dims) {
    if (d < 0) return ctx.fail("shape has negative dim ", d);
  }
  ir::Tensor value = ir::Tensor::scalar_float(0.0f);
  if (const ir::Attribute* a = ctx.node().attr("value")) {
    if (a->type != ir::AttrType::kTensor || a->t.numel() != 1) {
      return ctx.fail("attribute 'value' must be a tensor of one element");
    }
    value = a->t;
  }
  if (value.dtype() == DType::kString) {
    const auto n = ir::checked_numel(dims);
    if (!n) return ctx.fail("shape ", ir::dims_to_string(dims), " is too large");
    std::vector<std::string> values(static_cast<size_t>(*n), value.strings()[0]);
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor t, ir::Tensor::from_strings(dims, std::move(values)));
    ctx.set_output(0, std::move(t));
    return Status::ok_status();
  }
  MIXQ_RETURN_IF_ERROR(check_copyable(ctx, value.dtype()));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, value.dtype(), dims));
  fill(ctx.pool(), *y, value.raw_data());
  return Status::ok_status();
}

Status range(KernelContext& ctx) {
  for (size_t i = 0; i < 3; ++i) {
    if (ctx.input(i).numel() != 1) return ctx.fail("input ", i, " must be a scalar");
    if (ctx.input(i).dtype() != ctx.input(0).dtype()) {
      return ctx.fail("start, limit and delta must have one type");
    }
  }
  const DType dtype = ctx.input(0).dtype();
  MIXQ_ASSIGN_OR_RETURN(std::vector<int64_t> dims, inferred_dims(ctx, 0));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, dtype, dims));
  const int64_t n = y->numel();
  return visit_dtype(dtype, [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool inputs are not supported");
    } else {
      S* out = y->mutable_data<S>();
      const S start = ctx.input(0).data<S>()[0];
      const S delta = ctx.input(2).data<S>()[0];
      if constexpr (is_float_storage<S>()) {
        // Each element computed on its own (not by accumulation), in double.
        const double s = load(start), d = load(delta);
        if (d == 0) return ctx.fail("delta is 0");
        for (int64_t i = 0; i < n; ++i) {
          out[i] = store<S>(static_cast<Compute<S>>(s + static_cast<double>(i) * d));
        }
      } else {
        if (delta == 0) return ctx.fail("delta is 0");
        // Unsigned arithmetic: wraps instead of overflowing (the count keeps values in range).
        const auto s = static_cast<uint64_t>(static_cast<int64_t>(start));
        const auto d = static_cast<uint64_t>(static_cast<int64_t>(delta));
        for (int64_t i = 0; i < n; ++i) {
          out[i] = static_cast<S>(static_cast<int64_t>(s + static_cast<uint64_t>(i) * d));
        }
      }
      return Status::ok_status();
    }
  });
}

Status eye_like(KernelContext& ctx) {
  const ir::Tensor& x = ctx.input(0);
  if (x.rank() != 2) return ctx.fail("input must have rank 2, has rank ", x.rank());
  DType dtype = x.dtype();
  if (ctx.node().attr("dtype") != nullptr) {
    MIXQ_ASSIGN_OR_RETURN(int64_t v, ctx.node().attr_int("dtype", 0));
    const auto t = dtype_from_onnx(static_cast<int32_t>(v));
    if (!t || *t == DType::kUndefined) return ctx.fail("attribute 'dtype' = ", v, " is not a type");
    dtype = *t;
  }
  if (!(types::kNumeric | types::kBool).contains(dtype)) {
    return ctx.not_supported("output type ", dtype_name(dtype));
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t k, ctx.node().attr_int("k", 0));
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, dtype, x.dims()));
  std::memset(y->mutable_raw_data(), 0, y->nbytes());
  const int64_t rows = x.dims()[0], cols = x.dims()[1];
  return visit_dtype(dtype, [&](auto tag) -> Status {
    using S = decltype(tag);
    S* out = y->mutable_data<S>();
    const S one = store<S>(Compute<S>(1));
    if (k >= cols || k <= -rows) return Status::ok_status();  // no diagonal inside
    for (int64_t i = std::max<int64_t>(0, -k); i < rows && i + k < cols; ++i) {
      out[i * cols + i + k] = one;
    }
    return Status::ok_status();
  });
}

}  // namespace

void register_generate_kernels(std::vector<KernelDef>& out) {
  const TypeSet any = TypeSet::any();
  out.push_back({"", "Shape", 1, 21, any, 0, shape});
  out.push_back({"", "Size", 1, 21, any, 0, size});
  out.push_back({"", "Constant", 1, 21, any, -1, constant});
  out.push_back({"", "ConstantOfShape", 9, 21, any, 0, constant_of_shape});
  out.push_back({"", "Range", 11, 21, types::kNumeric, 0, range});
  out.push_back({"", "EyeLike", 9, 21, types::kNumeric | types::kBool, 0, eye_like});
}

}  // namespace mixq::exec
