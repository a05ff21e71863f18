// ONNX Cast-1/6/9/13/19/21 and CastLike-15/19/21: y = x converted to the type named by `to`
// (Cast-1..5: a type name string) or to the type of CastLike's second input.
//
// Conversions (Operators.md, Cast):
//   to a float type:  nearest even, +-Inf when out of range; every source is rounded once (float64
//                     and 64-bit integer sources go through round-to-odd), so no double rounding.
//   to FP8 (19+):     nearest even with the `saturate` tables (lib/core/float8.h).
//   to int4/uint4 (21+): round half to even, then keep the low four bits (technical/int4.md:
//                     "rounding ... and truncating"); from integers the low four bits.
//   float to integer: toward zero (numpy, C). Out of range is undefined in the spec; mixq wraps
//                     values that fit int64 (two's complement) and clamps beyond, NaN gives 0.
//   integer to integer: low bits, two's complement. To bool: x != 0 (NaN is true).
// String tensors are not supported (no kernel is registered for string inputs; a string `to`
// is refused as unsupported).
#include <limits>

#include "kernels/quant/quant_common.h"
#include "kernels/quant/quant_kernels.h"

namespace mixq::exec {
namespace {

using quant::is_4bit;
using quant::is_float8;

// |v| rounded to odd at 53 bits, with v's sign: exact below 2^53, and a correct first step for
// rounding a 64-bit integer once to float16 / bfloat16 / FP8.
template <typename I>
double int_to_double_odd(I v) {
  const bool neg = v < 0;
  const uint64_t u = neg ? uint64_t{0} - static_cast<uint64_t>(v) : static_cast<uint64_t>(v);
  if (u < (uint64_t{1} << 53)) return neg ? -static_cast<double>(u) : static_cast<double>(u);
  const int shift = std::bit_width(u) - 53;
  uint64_t t = u >> shift;
  if (u & ((uint64_t{1} << shift) - 1)) t |= 1;
  const double r = std::ldexp(static_cast<double>(t), shift);
  return neg ? -r : r;
}

// A source value as float64 rounded to odd where it is not exact (for 16- and 8-bit targets).
template <typename V>
double as_double_odd(V v) {
  if constexpr (std::is_same_v<V, int64_t> || std::is_same_v<V, uint64_t>) {
    return int_to_double_odd(v);
  } else {
    return static_cast<double>(v);
  }
}

// Float to integer: toward zero; wraps within int64 range, clamps outside it, NaN gives 0.
template <typename D>
D float_to_int(double v) {
  if (std::isnan(v)) return D(0);
  v = std::trunc(v);
  if constexpr (std::is_same_v<D, uint64_t>) {
    if (v >= 0 && v < 18446744073709551616.0) return static_cast<uint64_t>(v);
  }
  if (v >= -9223372036854775808.0 && v < 9223372036854775808.0) {
    return static_cast<D>(static_cast<int64_t>(v));
  }
  return v > 0 ? std::numeric_limits<D>::max() : std::numeric_limits<D>::min();
}

// One element, source value type V (float, double, bool or an integer) to storage type D.
template <typename D, typename V>
D convert(V v) {
  constexpr bool kFloatSrc = std::is_floating_point_v<V>;
  if constexpr (std::is_same_v<D, bool>) {
    return v != V(0);
  } else if constexpr (std::is_same_v<V, bool>) {
    return store<D>(v ? Compute<D>(1) : Compute<D>(0));
  } else if constexpr (std::is_same_v<D, float> || std::is_same_v<D, double>) {
    return static_cast<D>(v);
  } else if constexpr (std::is_same_v<D, Float16>) {
    if constexpr (std::is_same_v<V, float>) return Float16{float_to_float16(v)};
    return Float16{double_to_float16(as_double_odd(v))};
  } else if constexpr (std::is_same_v<D, BFloat16>) {
    if constexpr (std::is_same_v<V, float>) return BFloat16{float_to_bfloat16(v)};
    return BFloat16{double_to_bfloat16(as_double_odd(v))};
  } else if constexpr (kFloatSrc) {
    return float_to_int<D>(static_cast<double>(v));
  } else {
    return static_cast<D>(v);  // integer to integer: two's complement wrap
  }
}

// FP8 target: encoder tag E (quant::E4M3FN, ...).
template <typename E, typename V>
uint8_t convert_float8(V v, bool saturate) {
  if constexpr (std::is_same_v<V, float>) {
    return E::encode(v, saturate);
  } else if constexpr (std::is_same_v<V, bool>) {
    return E::encode(v ? 1.0f : 0.0f, saturate);
  } else {
    return E::encode(float_round_to_odd(as_double_odd(v)), saturate);
  }
}

// 4-bit target: the low nibble.
template <typename V>
uint8_t convert_4bit(V v) {
  if constexpr (std::is_floating_point_v<V>) {
    return double_to_int4(static_cast<double>(v), false);  // same low bits for uint4
  } else if constexpr (std::is_same_v<V, bool>) {
    return v ? 1 : 0;
  } else {
    return static_cast<uint8_t>(static_cast<uint64_t>(v) & 0xfu);
  }
}

// Calls fn(get) where get(i) is element i of x as its exact value type.
template <typename Fn>
Status visit_source(const ir::Tensor& x, Fn&& fn) {
  const DType t = x.dtype();
  if (is_float8(t)) {
    const float* table = quant::float8_table(t);
    const uint8_t* p = x.data<uint8_t>();
    return fn([table, p](int64_t i) { return table[p[i]]; });
  }
  if (t == DType::kInt4) {
    const uint8_t* p = x.data<uint8_t>();
    return fn([p](int64_t i) { return static_cast<int32_t>(int4_to_int(get_4bit(p, i))); });
  }
  if (t == DType::kUint4) {
    const uint8_t* p = x.data<uint8_t>();
    return fn([p](int64_t i) { return static_cast<int32_t>(uint4_to_int(get_4bit(p, i))); });
  }
  return visit_dtype(t, [&](auto tag) -> Status {
    using S = decltype(tag);
    const S* p = x.data<S>();
    return fn([p](int64_t i) { return load(p[i]); });
  });
}

Status cast_to(KernelContext& ctx, DType to, bool saturate) {
  const ir::Tensor& x = ctx.input(0);
  const int64_t opset = ctx.opset();
  if (to == DType::kString) return ctx.not_supported("casting to string is not supported");
  if ((to == DType::kBFloat16 && opset < 13) || (is_float8(to) && opset < 19) ||
      (is_4bit(to) && opset < 21) || to == DType::kFloat4E2M1 || to == DType::kComplex64 ||
      to == DType::kComplex128 || to == DType::kUndefined) {
    return ctx.fail("cannot cast to ", dtype_name(to), " at opset ", opset);
  }
  if (to == x.dtype()) {  // nothing to convert: share the buffer
    ctx.set_output(0, x);
    return Status::ok_status();
  }
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0));
  const int64_t n = x.numel();
  ThreadPool& pool = ctx.pool();
  const int64_t grain = ThreadPool::grain_for(n, 16384);
  return visit_source(x, [&](auto get) -> Status {
    if (is_float8(to)) {
      return quant::visit_float8(to, [&](auto enc) -> Status {
        using E = decltype(enc);
        uint8_t* out = y->mutable_data<uint8_t>();
        pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
          for (int64_t i = b; i < e; ++i) out[i] = convert_float8<E>(get(i), saturate);
        });
        return Status::ok_status();
      });
    }
    if (is_4bit(to)) {
      uint8_t* out = y->mutable_data<uint8_t>();
      const int64_t bytes = (n + 1) / 2;
      pool.parallel_for(bytes, ThreadPool::grain_for(bytes, 8192), [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) {
          const uint8_t hi = 2 * i + 1 < n ? convert_4bit(get(2 * i + 1)) : 0;
          out[i] = pack_4bit(convert_4bit(get(2 * i)), hi);
        }
      });
      return Status::ok_status();
    }
    return visit_dtype(to, [&](auto dtag) -> Status {
      using D = decltype(dtag);
      D* out = y->mutable_data<D>();
      pool.parallel_for(n, grain, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) out[i] = convert<D>(get(i));
      });
      return Status::ok_status();
    });
  });
}

Expected<bool> read_saturate(const KernelContext& ctx) {
  if (ctx.opset() < 19) return true;
  MIXQ_ASSIGN_OR_RETURN(int64_t s, ctx.node().attr_int("saturate", 1));
  if (s != 0 && s != 1) return ctx.fail("attribute saturate is ", s, ", expected 0 or 1");
  return s == 1;
}

Status cast(KernelContext& ctx) {
  const ir::Attribute* to = ctx.node().attr("to");
  std::optional<DType> dtype;
  if (to && to->type == ir::AttrType::kString) {
    dtype = dtype_from_onnx_name(to->s);
  } else if (to && to->type == ir::AttrType::kInt) {
    dtype = dtype_from_onnx(static_cast<int32_t>(to->i));
  }
  if (!dtype) return ctx.fail("attribute 'to' does not name a data type");
  MIXQ_ASSIGN_OR_RETURN(bool saturate, read_saturate(ctx));
  return cast_to(ctx, *dtype, saturate);
}

Status cast_like(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(bool saturate, read_saturate(ctx));
  return cast_to(ctx, ctx.input(1).dtype(), saturate);
}

}  // namespace

void register_cast_kernels(std::vector<KernelDef>& out) {
  using namespace types;
  const TypeSet base = kNumeric | kBool;  // kNumeric includes bfloat16, refused below 13
  const TypeSet v9 = kFloat32 | TypeSet{DType::kFloat16, DType::kFloat64} | kInts | kBool;
  const TypeSet fp8{DType::kFloat8E4M3FN, DType::kFloat8E4M3FNUZ, DType::kFloat8E5M2,
                    DType::kFloat8E5M2FNUZ};
  const TypeSet int4{DType::kInt4, DType::kUint4};
  out.push_back({"", "Cast", 1, 12, v9, 0, cast});
  out.push_back({"", "Cast", 13, 18, base, 0, cast});
  out.push_back({"", "Cast", 19, 20, base | fp8, 0, cast});
  out.push_back({"", "Cast", 21, 21, base | fp8 | int4, 0, cast});
  out.push_back({"", "CastLike", 15, 18, base, 0, cast_like});
  out.push_back({"", "CastLike", 19, 20, base | fp8, 0, cast_like});
  out.push_back({"", "CastLike", 21, 21, base | fp8 | int4, 0, cast_like});
}

}  // namespace mixq::exec
