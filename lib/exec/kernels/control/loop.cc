// ONNX Loop-1/11/13/16/19/21 (tensor values; sequence and optional types are not executed):
//
//   Loop(M, cond, v_initial...) -> (v_final..., scan_outputs...)
//   for (i = 0; (M absent or i < M) and (cond absent or cond); ++i)
//     cond, v..., so... = body(i, cond, v...)
// Without the cond input the body's cond output is ignored (the spec's for-loop form).
//
// M is an int64 and cond a bool tensor of one element, each optional. Loop-carried values may
// change shape between iterations (not dtype); each scan output must keep one shape and is
// stacked along a new leading axis. Tensors pass between iterations as shared handles.
#include <limits>

#include "kernels/common.h"
#include "kernels/control/control_kernels.h"

namespace mixq::exec {
namespace {

Expected<ir::Tensor> bool_scalar(const KernelContext& ctx, bool v) {
  auto t = ir::Tensor::uninitialized(DType::kBool, {});
  if (!t.ok()) return t.status().with_context(ctx.node().describe());
  t->mutable_data<bool>()[0] = v;
  return std::move(t).value();
}

Status loop_kernel(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(const ir::Graph* body, graph_attribute(ctx, "body"));
  if (ctx.num_inputs() < 2) return ctx.fail("needs the M and cond inputs (possibly empty)");
  const size_t n = ctx.num_inputs() - 2;
  if (ctx.num_outputs() < n) {
    return ctx.fail("has ", ctx.num_outputs(), " outputs for ", n, " loop-carried values");
  }
  const size_t k = ctx.num_outputs() - n;
  if (body->inputs().size() != n + 2) {
    return ctx.fail("body has ", body->inputs().size(), " inputs, expected ", n + 2,
                    " (iteration_num, cond and ", n, " loop-carried values)");
  }
  if (body->outputs().size() != 1 + n + k) {
    return ctx.fail("body has ", body->outputs().size(), " outputs, expected ", 1 + n + k,
                    " (cond, ", n, " loop-carried values and ", k, " scan outputs)");
  }

  int64_t max_trips = std::numeric_limits<int64_t>::max();
  if (ctx.has_input(0)) {
    const ir::Tensor& m = ctx.input(0);
    if (m.dtype() != DType::kInt64 || m.numel() != 1) {
      return ctx.fail("trip count M must be one int64, is ", dtype_name(m.dtype()),
                      ir::dims_to_string(m.dims()));
    }
    max_trips = m.data<int64_t>()[0];
  }
  bool cond = true;
  if (ctx.has_input(1)) {
    const ir::Tensor& c = ctx.input(1);
    if (c.dtype() != DType::kBool || c.numel() != 1) {
      return ctx.fail("cond must be one bool, is ", dtype_name(c.dtype()),
                      ir::dims_to_string(c.dims()));
    }
    cond = c.data<bool>()[0];
  }

  if (!ctx.has_input(0) && !ctx.has_input(1)) {
    // The spec's `for (i = 0; ; ++i)`: the body's cond output is ignored, so nothing ends it.
    return ctx.fail("has neither a trip count M nor a cond input: the loop would never end");
  }
  std::vector<ir::Tensor> state(n);
  for (size_t i = 0; i < n; ++i) {
    if (!ctx.has_input(2 + i)) return ctx.fail("loop-carried input ", i, " is missing");
    state[i] = ctx.input(2 + i);
  }
  std::vector<std::vector<ir::Tensor>> scans(k);

  for (int64_t it = 0; it < max_trips && cond; ++it) {
    std::vector<ir::Tensor> in;
    in.reserve(n + 2);
    in.push_back(ir::Tensor::from_int64s({}, {it}));
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor c, bool_scalar(ctx, cond));
    in.push_back(std::move(c));
    for (const ir::Tensor& s : state) in.push_back(s);
    MIXQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> outs, ctx.run_subgraph(*body, std::move(in)));
    const ir::Tensor& next = outs[0];
    if (next.dtype() != DType::kBool || next.numel() != 1) {
      return ctx.fail("body's cond output is ", dtype_name(next.dtype()),
                      ir::dims_to_string(next.dims()), " in iteration ", it, ", expected one bool");
    }
    if (ctx.has_input(1)) cond = next.data<bool>()[0];
    for (size_t i = 0; i < n; ++i) {
      ir::Tensor& v = outs[1 + i];
      if (v.dtype() != state[i].dtype()) {
        return ctx.fail("loop-carried value ", i, " changes type from ",
                        dtype_name(state[i].dtype()), " to ", dtype_name(v.dtype()),
                        " in iteration ", it);
      }
      state[i] = std::move(v);
    }
    for (size_t j = 0; j < k; ++j) scans[j].push_back(std::move(outs[1 + n + j]));
  }

  for (size_t i = 0; i < n; ++i) {
    if (ctx.has_output(i)) ctx.set_output(i, std::move(state[i]));
  }
  for (size_t j = 0; j < k; ++j) {
    if (!ctx.has_output(n + j)) continue;
    if (scans[j].empty()) {
      MIXQ_ASSIGN_OR_RETURN(ir::Tensor e, empty_scan_output(ctx, *body, 1 + n + j, n + j, 0));
      ctx.set_output(n + j, std::move(e));
      continue;
    }
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor t,
                          stack_parts(ctx, scans[j], 0, false, str_cat("scan output ", j)));
    ctx.set_output(n + j, std::move(t));
  }
  return Status::ok_status();
}

}  // namespace

void register_loop_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Loop", 1, 21, TypeSet::any(), -1, loop_kernel});
}

}  // namespace mixq::exec
