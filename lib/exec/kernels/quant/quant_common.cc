#include "kernels/quant/quant_common.h"

#include <array>

namespace mixq::exec::quant {
namespace {

std::array<float, 256> make_table(float (*decode)(uint8_t)) {
  std::array<float, 256> t{};
  for (int c = 0; c < 256; ++c) t[static_cast<size_t>(c)] = decode(static_cast<uint8_t>(c));
  return t;
}

bool per_tensor(const ir::Tensor& t) { return t.rank() == 0 || (t.rank() == 1 && t.numel() == 1); }

}  // namespace

const float* float8_table(DType t) {
  static const std::array<float, 256> e4m3fn = make_table(float8e4m3fn_to_float);
  static const std::array<float, 256> e4m3fnuz = make_table(float8e4m3fnuz_to_float);
  static const std::array<float, 256> e5m2 = make_table(float8e5m2_to_float);
  static const std::array<float, 256> e5m2fnuz = make_table(float8e5m2fnuz_to_float);
  switch (t) {
    case DType::kFloat8E4M3FN:
      return e4m3fn.data();
    case DType::kFloat8E4M3FNUZ:
      return e4m3fnuz.data();
    case DType::kFloat8E5M2:
      return e5m2.data();
    case DType::kFloat8E5M2FNUZ:
      return e5m2fnuz.data();
    default:
      return nullptr;
  }
}

double element_value(const ir::Tensor& t, int64_t i) {
  if (is_float8(t.dtype())) return float8_table(t.dtype())[t.data<uint8_t>()[i]];
  return t.element_as_double(i);  // handles float16/bfloat16 and the packed 4-bit types
}

std::vector<float> scale_values(const ir::Tensor& t) {
  std::vector<float> v(static_cast<size_t>(t.numel()));
  for (int64_t i = 0; i < t.numel(); ++i) {
    v[static_cast<size_t>(i)] = static_cast<float>(element_value(t, i));
  }
  return v;
}

Expected<std::vector<int32_t>> zero_point_values(const KernelContext& ctx, const ir::Tensor& t,
                                                 const char* what) {
  std::vector<int32_t> v(static_cast<size_t>(t.numel()));
  if (is_float8(t.dtype())) {
    for (int64_t i = 0; i < t.numel(); ++i) {
      const double z = element_value(t, i);
      if (z != 0.0) {
        return ctx.fail(what, " is ", dtype_name(t.dtype()), " with value ", z, " at index ", i,
                        ": a float8 zero point must be 0");
      }
    }
    return v;
  }
  if (!dtype_is_integer(t.dtype())) {
    return ctx.fail(what, " has type ", dtype_name(t.dtype()), ", expected an integer type");
  }
  for (int64_t i = 0; i < t.numel(); ++i) {
    v[static_cast<size_t>(i)] = static_cast<int32_t>(t.element_as_int64(i));
  }
  return v;
}

IntRange int_range(DType t) {
  switch (t) {
    case DType::kInt8:
      return {-128, 127};
    case DType::kUint8:
      return {0, 255};
    case DType::kInt16:
      return {-32768, 32767};
    case DType::kUint16:
      return {0, 65535};
    case DType::kInt4:
      return {-8, 7};
    case DType::kUint4:
      return {0, 15};
    default:
      return {INT32_MIN, INT32_MAX};
  }
}

Expected<QdqLayout> qdq_layout(const KernelContext& ctx, const ir::Tensor& x,
                               const ir::Tensor& scale, const ir::Tensor* zero_point) {
  QdqLayout l;
  l.inner = x.numel();
  if (zero_point && zero_point->dims() != scale.dims() &&
      !(per_tensor(scale) && per_tensor(*zero_point))) {
    return ctx.fail("zero point shape ", ir::dims_to_string(zero_point->dims()),
                    " differs from scale shape ", ir::dims_to_string(scale.dims()));
  }
  int64_t block_size = 0;
  if (ctx.opset() >= 21) {
    MIXQ_ASSIGN_OR_RETURN(block_size, ctx.node().attr_int("block_size", 0));
    if (block_size < 0) return ctx.fail("block_size is ", block_size, ", must be >= 0");
  }
  if (block_size == 0 && per_tensor(scale)) return l;
  if (ctx.opset() < 13) {
    return ctx.fail("scale must be a scalar before opset 13, has shape ",
                    ir::dims_to_string(scale.dims()));
  }
  const auto rank = static_cast<int64_t>(x.rank());
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, ctx.node().attr_int("axis", 1));
  if (axis < -rank || axis >= rank) {
    return ctx.fail("axis ", axis, " is out of range for x of rank ", rank);
  }
  if (axis < 0) axis += rank;
  const auto& xd = x.dims();
  const auto ax = static_cast<size_t>(axis);
  l.outer = 1;
  for (size_t k = 0; k < ax; ++k) l.outer *= xd[k];
  l.axis_len = xd[ax];
  l.inner = 1;
  for (size_t k = ax + 1; k < xd.size(); ++k) l.inner *= xd[k];
  if (block_size == 0) {
    if (scale.rank() != 1 || scale.dims()[0] != l.axis_len) {
      return ctx.fail("per-axis scale has shape ", ir::dims_to_string(scale.dims()), ", expected [",
                      l.axis_len, "] (x shape ", ir::dims_to_string(xd), ", axis ", axis, ")");
    }
    l.kind = QdqLayout::Kind::kPerAxis;
    l.params = l.axis_len;
    return l;
  }
  l.kind = QdqLayout::Kind::kBlocked;
  l.block = block_size;
  l.blocks = (l.axis_len + block_size - 1) / block_size;
  std::vector<int64_t> want = xd;
  want[ax] = l.blocks;
  if (scale.dims() != want) {
    return ctx.fail("blocked scale has shape ", ir::dims_to_string(scale.dims()), ", expected ",
                    ir::dims_to_string(want), " (x shape ", ir::dims_to_string(xd), ", axis ", axis,
                    ", block_size ", block_size, ")");
  }
  l.params = scale.numel();
  return l;
}

void pack_nibbles(ThreadPool& pool, const uint8_t* values, int64_t n, uint8_t* out) {
  const int64_t bytes = (n + 1) / 2;
  pool.parallel_for(bytes, ThreadPool::grain_for(bytes, 16384), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      const uint8_t lo = values[2 * i];
      const uint8_t hi = 2 * i + 1 < n ? values[2 * i + 1] : 0;
      out[i] = pack_4bit(lo, hi);
    }
  });
}

std::vector<int32_t> int_values(const ir::Tensor& t) {
  std::vector<int32_t> v(static_cast<size_t>(t.numel()));
  const int64_t n = t.numel();
  switch (t.dtype()) {
    case DType::kInt8: {
      const int8_t* p = t.data<int8_t>();
      for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = p[i];
      break;
    }
    case DType::kUint8: {
      const uint8_t* p = t.data<uint8_t>();
      for (int64_t i = 0; i < n; ++i) v[static_cast<size_t>(i)] = p[i];
      break;
    }
    default:
      for (int64_t i = 0; i < n; ++i) {
        v[static_cast<size_t>(i)] = static_cast<int32_t>(t.element_as_int64(i));
      }
  }
  return v;
}

}  // namespace mixq::exec::quant
