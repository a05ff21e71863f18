// ONNX Scan-8: (sequence_lens?, states..., scans...) with batch axis 0 and sequence axis 1 on
// every input; batch b runs sequence_lens[b] steps (default: the full length), scan input j read
// backwards when directions[j] = 1; scan outputs are [batch, max_len, ...], zero past each
// batch's length.
// ONNX Scan-9/11/16/19/21: (states..., scans...) without batching; scan input j is sliced along
// scan_input_axes[j] (read backwards when scan_input_directions[j] = 1); scan output j is
// stacked along scan_output_axes[j] (in reverse order when scan_output_directions[j] = 1).
// Both: body(states..., scan slices...) -> (states..., scan output slices...); states keep
// their dtype and shape. Slices along a leading axis share the input's buffer.
#include "kernels/common.h"
#include "kernels/control/control_kernels.h"

namespace mixq::exec {
namespace {

struct ScanSetup {
  const ir::Graph* body = nullptr;
  size_t first = 0;  // index of the first state input (1 for Scan-8: sequence_lens)
  size_t n = 0;      // states
  size_t m = 0;      // scan inputs
  size_t k = 0;      // scan outputs
};

// Reads an ints attribute with `count` entries (fallback when absent), each in [lo, hi].
Expected<std::vector<int64_t>> counted_ints(const KernelContext& ctx, std::string_view name,
                                            size_t count, int64_t lo, int64_t hi) {
  MIXQ_ASSIGN_OR_RETURN(auto v, ctx.node().attr_ints(name));
  if (!v) return std::vector<int64_t>(count, 0);
  if (v->size() != count) {
    return ctx.fail("attribute '", name, "' has ", v->size(), " entries, expected ", count);
  }
  for (int64_t x : *v) {
    if (x < lo || x > hi) {
      return ctx.fail("attribute '", name, "' has entry ", x, ", expected ", lo, "..", hi);
    }
  }
  return *v;
}

Expected<ScanSetup> setup(const KernelContext& ctx, bool batched) {
  ScanSetup s;
  MIXQ_ASSIGN_OR_RETURN(s.body, graph_attribute(ctx, "body"));
  if (ctx.node().attr("num_scan_inputs") == nullptr) {
    return ctx.fail("required attribute 'num_scan_inputs' is missing");
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t m, ctx.node().attr_int("num_scan_inputs", 0));
  s.first = batched ? 1 : 0;
  if (m < 1 || ctx.num_inputs() < s.first + static_cast<size_t>(m)) {
    return ctx.fail("num_scan_inputs is ", m, " with ", ctx.num_inputs() - s.first,
                    " state and scan inputs");
  }
  s.m = static_cast<size_t>(m);
  s.n = ctx.num_inputs() - s.first - s.m;
  if (ctx.num_outputs() < s.n) {
    return ctx.fail("has ", ctx.num_outputs(), " outputs for ", s.n, " states");
  }
  s.k = ctx.num_outputs() - s.n;
  if (s.body->inputs().size() != s.n + s.m || s.body->outputs().size() != s.n + s.k) {
    return ctx.fail("body has ", s.body->inputs().size(), " inputs and ", s.body->outputs().size(),
                    " outputs, expected ", s.n + s.m, " and ", s.n + s.k);
  }
  for (size_t i = s.first; i < ctx.num_inputs(); ++i) {
    if (!ctx.has_input(i)) return ctx.fail("input ", i, " is missing");
  }
  return s;
}

// Runs the body once and moves its state outputs into `state` (checking that they keep dtype
// and dims) and appends its scan outputs to `scans`.
Status step(KernelContext& ctx, const ScanSetup& s, std::vector<ir::Tensor>& state,
            std::vector<ir::Tensor> slices, std::vector<std::vector<ir::Tensor>>& scans) {
  std::vector<ir::Tensor> in = state;
  for (ir::Tensor& t : slices) in.push_back(std::move(t));
  MIXQ_ASSIGN_OR_RETURN(std::vector<ir::Tensor> outs, ctx.run_subgraph(*s.body, std::move(in)));
  for (size_t i = 0; i < s.n; ++i) {
    if (outs[i].dtype() != state[i].dtype() || outs[i].dims() != state[i].dims()) {
      return ctx.fail("state ", i, " changes from ", dtype_name(state[i].dtype()),
                      ir::dims_to_string(state[i].dims()), " to ", dtype_name(outs[i].dtype()),
                      ir::dims_to_string(outs[i].dims()), " in one iteration");
    }
    state[i] = std::move(outs[i]);
  }
  for (size_t j = 0; j < s.k; ++j) scans[j].push_back(std::move(outs[s.n + j]));
  return Status::ok_status();
}

Status scan9(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(ScanSetup s, setup(ctx, false));
  MIXQ_ASSIGN_OR_RETURN(auto in_axes, counted_ints(ctx, "scan_input_axes", s.m, -64, 63));
  MIXQ_ASSIGN_OR_RETURN(auto in_dirs, counted_ints(ctx, "scan_input_directions", s.m, 0, 1));
  MIXQ_ASSIGN_OR_RETURN(auto out_axes, counted_ints(ctx, "scan_output_axes", s.k, -64, 63));
  MIXQ_ASSIGN_OR_RETURN(auto out_dirs, counted_ints(ctx, "scan_output_directions", s.k, 0, 1));

  int64_t len = -1;
  for (size_t j = 0; j < s.m; ++j) {
    const ir::Tensor& x = ctx.input(s.n + j);
    const auto rank = static_cast<int64_t>(x.rank());
    int64_t& ax = in_axes[j];
    if (ax < -rank || ax >= rank) {
      return ctx.fail("scan_input_axes entry ", ax, " is out of range for scan input ", j,
                      " of rank ", rank);
    }
    if (ax < 0) ax += rank;
    const int64_t l = x.dims()[static_cast<size_t>(ax)];
    if (len >= 0 && l != len) {
      return ctx.fail("scan input ", j, " has sequence length ", l, ", an earlier one has ", len);
    }
    len = l;
  }

  std::vector<ir::Tensor> state(s.n);
  for (size_t i = 0; i < s.n; ++i) state[i] = ctx.input(i);
  std::vector<std::vector<ir::Tensor>> scans(s.k);
  for (int64_t t = 0; t < len; ++t) {
    std::vector<ir::Tensor> slices;
    for (size_t j = 0; j < s.m; ++j) {
      const int64_t at = in_dirs[j] ? len - 1 - t : t;
      MIXQ_ASSIGN_OR_RETURN(ir::Tensor sl,
                            slice_at(ctx, ctx.input(s.n + j), static_cast<size_t>(in_axes[j]), at));
      slices.push_back(std::move(sl));
    }
    MIXQ_RETURN_IF_ERROR(step(ctx, s, state, std::move(slices), scans));
  }

  for (size_t i = 0; i < s.n; ++i) {
    if (ctx.has_output(i)) ctx.set_output(i, std::move(state[i]));
  }
  for (size_t j = 0; j < s.k; ++j) {
    if (!ctx.has_output(s.n + j)) continue;
    int64_t ax = out_axes[j];
    if (scans[j].empty()) {
      MIXQ_ASSIGN_OR_RETURN(ir::Tensor e, empty_scan_output(ctx, *s.body, s.n + j, s.n + j, ax));
      ctx.set_output(s.n + j, std::move(e));
      continue;
    }
    const auto rank = static_cast<int64_t>(scans[j][0].rank()) + 1;
    if (ax < -rank || ax >= rank) {
      return ctx.fail("scan_output_axes entry ", ax, " is out of range for scan output ", j,
                      " of rank ", rank);
    }
    if (ax < 0) ax += rank;
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor y, stack_parts(ctx, scans[j], static_cast<size_t>(ax),
                                                    out_dirs[j] != 0, str_cat("scan output ", j)));
    ctx.set_output(s.n + j, std::move(y));
  }
  return Status::ok_status();
}

Status scan8(KernelContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(ScanSetup s, setup(ctx, true));
  MIXQ_ASSIGN_OR_RETURN(auto dirs, counted_ints(ctx, "directions", s.m, 0, 1));
  int64_t batch = -1;
  int64_t max_len = -1;
  for (size_t i = s.first; i < ctx.num_inputs(); ++i) {
    const ir::Tensor& x = ctx.input(i);
    const bool is_scan = i >= s.first + s.n;
    if (x.rank() < (is_scan ? 2u : 1u)) {
      return ctx.fail("input ", i, " has shape ", ir::dims_to_string(x.dims()),
                      is_scan ? ", needs batch and sequence dims" : ", needs a batch dim");
    }
    if (batch >= 0 && x.dims()[0] != batch) {
      return ctx.fail("input ", i, " has batch size ", x.dims()[0], ", an earlier one has ", batch);
    }
    batch = x.dims()[0];
    if (is_scan) {
      if (max_len >= 0 && x.dims()[1] != max_len) {
        return ctx.fail("scan input ", i - s.first - s.n, " has sequence length ", x.dims()[1],
                        ", an earlier one has ", max_len);
      }
      max_len = x.dims()[1];
    }
  }
  std::vector<int64_t> lens(static_cast<size_t>(batch), max_len);
  if (ctx.has_input(0)) {
    const ir::Tensor& sl = ctx.input(0);
    if (sl.dtype() != DType::kInt64 || sl.numel() != batch) {
      return ctx.fail("sequence_lens is ", dtype_name(sl.dtype()), ir::dims_to_string(sl.dims()),
                      ", expected int64[", batch, "]");
    }
    for (int64_t b = 0; b < batch; ++b) {
      const int64_t l = sl.data<int64_t>()[b];
      if (l < 0 || l > max_len) {
        return ctx.fail("sequence_lens[", b, "] is ", l, ", expected 0..", max_len);
      }
      lens[static_cast<size_t>(b)] = l;
    }
  }

  // Per batch: final states and the scan output steps; stacked over the batch at the end.
  std::vector<std::vector<ir::Tensor>> final_states(s.n);
  std::vector<std::vector<std::vector<ir::Tensor>>> outs(s.k);  // [j][b] -> steps
  for (int64_t b = 0; b < batch; ++b) {
    std::vector<ir::Tensor> state(s.n);
    for (size_t i = 0; i < s.n; ++i) {
      MIXQ_ASSIGN_OR_RETURN(state[i], slice_at(ctx, ctx.input(s.first + i), 0, b));
    }
    std::vector<ir::Tensor> rows(s.m);  // scan input j of batch b: [seq, ...]
    for (size_t j = 0; j < s.m; ++j) {
      MIXQ_ASSIGN_OR_RETURN(rows[j], slice_at(ctx, ctx.input(s.first + s.n + j), 0, b));
    }
    std::vector<std::vector<ir::Tensor>> scans(s.k);
    const int64_t len = lens[static_cast<size_t>(b)];
    for (int64_t t = 0; t < len; ++t) {
      std::vector<ir::Tensor> slices;
      for (size_t j = 0; j < s.m; ++j) {
        MIXQ_ASSIGN_OR_RETURN(ir::Tensor sl, slice_at(ctx, rows[j], 0, dirs[j] ? len - 1 - t : t));
        slices.push_back(std::move(sl));
      }
      MIXQ_RETURN_IF_ERROR(step(ctx, s, state, std::move(slices), scans));
    }
    for (size_t i = 0; i < s.n; ++i) final_states[i].push_back(std::move(state[i]));
    for (size_t j = 0; j < s.k; ++j) outs[j].push_back(std::move(scans[j]));
  }

  for (size_t i = 0; i < s.n; ++i) {
    if (!ctx.has_output(i)) continue;
    if (batch == 0) {
      ctx.set_output(i, ctx.input(s.first + i));
      continue;
    }
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor y,
                          stack_parts(ctx, final_states[i], 0, false, str_cat("state ", i)));
    ctx.set_output(i, std::move(y));
  }
  for (size_t j = 0; j < s.k; ++j) {
    if (!ctx.has_output(s.n + j)) continue;
    // The element type of this output: from any step that ran.
    const ir::Tensor* proto = nullptr;
    for (const auto& steps : outs[j]) {
      if (!steps.empty()) proto = &steps[0];
    }
    if (proto == nullptr) {
      MIXQ_ASSIGN_OR_RETURN(ir::Tensor e, empty_scan_output(ctx, *s.body, s.n + j, s.n + j, 0));
      std::vector<int64_t> dims = e.dims();
      dims[0] = max_len;
      dims.insert(dims.begin(), batch);
      auto z = ir::Tensor::zeros(e.dtype(), dims);
      if (!z.ok()) return z.status().with_context(ctx.node().describe());
      ctx.set_output(s.n + j, std::move(z).value());
      continue;
    }
    auto pad = ir::Tensor::zeros(proto->dtype(), proto->dims());
    if (!pad.ok()) return pad.status().with_context(ctx.node().describe());
    std::vector<ir::Tensor> per_batch;
    for (auto& steps : outs[j]) {
      while (static_cast<int64_t>(steps.size()) < max_len) steps.push_back(*pad);
      MIXQ_ASSIGN_OR_RETURN(ir::Tensor y,
                            stack_parts(ctx, steps, 0, false, str_cat("scan output ", j)));
      per_batch.push_back(std::move(y));
    }
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor y,
                          stack_parts(ctx, per_batch, 0, false, str_cat("scan output ", j)));
    ctx.set_output(s.n + j, std::move(y));
  }
  return Status::ok_status();
}

}  // namespace

void register_scan_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Scan", 8, 8, TypeSet::any(), -1, scan8});
  out.push_back({"", "Scan", 9, 21, TypeSet::any(), -1, scan9});
}

}  // namespace mixq::exec
