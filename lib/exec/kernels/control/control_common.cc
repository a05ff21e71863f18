// Tensor plumbing shared by Loop and Scan (declared in control_kernels.h).
#include <algorithm>
#include <cstring>

#include "kernels/common.h"
#include "kernels/control/control_kernels.h"

namespace mixq::exec {

Expected<const ir::Graph*> graph_attribute(const KernelContext& ctx, std::string_view name) {
  const ir::Attribute* a = ctx.node().attr(name);
  if (a == nullptr || a->type != ir::AttrType::kGraph || a->g == nullptr) {
    return ctx.fail("graph attribute '", name, "' is missing");
  }
  return a->g.get();
}

Expected<ir::Tensor> slice_at(const KernelContext& ctx, const ir::Tensor& t, size_t axis,
                              int64_t index) {
  const std::vector<int64_t>& dims = t.dims();
  if (axis >= dims.size() || index < 0 || index >= dims[axis]) {
    return internal_error(ctx.node().describe(), ": slice ", index, " on axis ", axis, " of ",
                          ir::dims_to_string(dims));
  }
  std::vector<int64_t> out_dims = dims;
  out_dims.erase(out_dims.begin() + static_cast<std::ptrdiff_t>(axis));
  int64_t outer = 1;
  for (size_t k = 0; k < axis; ++k) outer *= dims[k];
  int64_t inner = 1;  // elements of one slice row
  for (size_t k = axis + 1; k < dims.size(); ++k) inner *= dims[k];
  const int64_t len = dims[axis];

  if (t.dtype() == DType::kString) {
    std::vector<std::string> s(static_cast<size_t>(outer * inner));
    for (int64_t o = 0; o < outer; ++o) {
      for (int64_t i = 0; i < inner; ++i) {
        s[static_cast<size_t>(o * inner + i)] =
            t.strings()[static_cast<size_t>((o * len + index) * inner + i)];
      }
    }
    return ir::Tensor::from_strings(std::move(out_dims), std::move(s));
  }
  const size_t es = element_size(t.dtype());
  if (es == 0) return ctx.not_supported("cannot scan over ", dtype_name(t.dtype()), " tensors");
  const size_t row = static_cast<size_t>(inner) * es;
  if (outer == 1 && t.buffer()) {
    // One contiguous block: a view into the input's buffer, kept alive by it.
    auto view = ir::Buffer::view(t.raw_data() + static_cast<size_t>(index) * row, row,
                                 std::shared_ptr<const void>(t.buffer()));
    auto v = ir::Tensor::from_buffer(t.dtype(), std::move(out_dims), std::move(view));
    if (!v.ok()) return v.status().with_context(ctx.node().describe());
    return std::move(v).value();
  }
  auto r = ir::Tensor::uninitialized(t.dtype(), out_dims);
  if (!r.ok()) return r.status().with_context(ctx.node().describe());
  ir::Tensor out = std::move(r).value();
  std::byte* dst = out.mutable_raw_data();
  const std::byte* src = t.raw_data();
  for (int64_t o = 0; o < outer && row > 0; ++o) {
    std::memcpy(dst + static_cast<size_t>(o) * row,
                src + (static_cast<size_t>(o * len + index)) * row, row);
  }
  return out;
}

Expected<ir::Tensor> stack_parts(const KernelContext& ctx, const std::vector<ir::Tensor>& parts,
                                 size_t axis, bool reverse, std::string_view what) {
  if (parts.empty()) return internal_error(ctx.node().describe(), ": nothing to stack");
  const ir::Tensor& first = parts.front();
  for (size_t i = 1; i < parts.size(); ++i) {
    if (parts[i].dtype() != first.dtype() || parts[i].dims() != first.dims()) {
      return ctx.fail(what, " is ", dtype_name(parts[i].dtype()),
                      ir::dims_to_string(parts[i].dims()), " in iteration ", i, " but ",
                      dtype_name(first.dtype()), ir::dims_to_string(first.dims()),
                      " in iteration 0");
    }
  }
  const std::vector<int64_t>& dims = first.dims();
  if (axis > dims.size()) {
    return internal_error(ctx.node().describe(), ": stack axis ", axis, " for rank ", dims.size());
  }
  const auto count = static_cast<int64_t>(parts.size());
  std::vector<int64_t> out_dims = dims;
  out_dims.insert(out_dims.begin() + static_cast<std::ptrdiff_t>(axis), count);
  int64_t outer = 1;
  for (size_t k = 0; k < axis; ++k) outer *= dims[k];
  int64_t inner = 1;
  for (size_t k = axis; k < dims.size(); ++k) inner *= dims[k];
  auto position = [&](size_t i) {
    return reverse ? count - 1 - static_cast<int64_t>(i) : static_cast<int64_t>(i);
  };

  if (first.dtype() == DType::kString) {
    std::vector<std::string> s(static_cast<size_t>(outer * count * inner));
    for (size_t i = 0; i < parts.size(); ++i) {
      const int64_t p = position(i);
      for (int64_t o = 0; o < outer; ++o) {
        for (int64_t e = 0; e < inner; ++e) {
          s[static_cast<size_t>((o * count + p) * inner + e)] =
              parts[i].strings()[static_cast<size_t>(o * inner + e)];
        }
      }
    }
    return ir::Tensor::from_strings(std::move(out_dims), std::move(s));
  }
  const size_t es = element_size(first.dtype());
  if (es == 0) {
    return ctx.not_supported("cannot stack ", dtype_name(first.dtype()), " tensors");
  }
  auto r = ir::Tensor::uninitialized(first.dtype(), out_dims);
  if (!r.ok()) return r.status().with_context(ctx.node().describe());
  ir::Tensor out = std::move(r).value();
  const size_t row = static_cast<size_t>(inner) * es;
  if (row == 0 || outer == 0) return out;
  std::byte* dst = out.mutable_raw_data();
  for (size_t i = 0; i < parts.size(); ++i) {
    const int64_t p = position(i);
    const std::byte* src = parts[i].raw_data();
    for (int64_t o = 0; o < outer; ++o) {
      std::memcpy(dst + static_cast<size_t>(o * count + p) * row,
                  src + static_cast<size_t>(o) * row, row);
    }
  }
  return out;
}

Expected<ir::Tensor> empty_scan_output(const KernelContext& ctx, const ir::Graph& body,
                                       size_t body_output, size_t node_output, int64_t axis) {
  const ir::ValueType& t = body.outputs()[body_output]->type();
  DType dtype = t.is_tensor() ? t.dtype : DType::kUndefined;
  if (dtype == DType::kUndefined && ctx.node().output(node_output)) {
    const ir::ValueType& nt = ctx.node().output(node_output)->type();
    if (nt.is_tensor()) dtype = nt.dtype;
  }
  if (dtype == DType::kUndefined) {
    return ctx.not_supported("the loop ran no iteration and the type of scan output ", node_output,
                             " is not declared");
  }
  // Element dims as declared; dims the body leaves open are 0 (the output is empty anyway).
  std::vector<int64_t> dims;
  if (t.is_tensor() && t.shape) {
    for (const ir::Dim& d : *t.shape) dims.push_back(d.is_known() ? d.value() : 0);
  }
  const auto rank = static_cast<int64_t>(dims.size()) + 1;
  const int64_t at = std::clamp(axis < 0 ? axis + rank : axis, int64_t{0}, rank - 1);
  dims.insert(dims.begin() + at, 0);
  auto r = ir::Tensor::zeros(dtype, dims);
  if (!r.ok()) return r.status().with_context(ctx.node().describe());
  return std::move(r).value();
}

}  // namespace mixq::exec
