// The node rewrites of the opset upgrade, one function per ONNX op change (see ONNX
// docs/Changelog.md for each "<Op>-<version>" named here). The table in opset_upgrade.cc says
// which function handles which op at which version.
#include "opset_upgrade_rules.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "mixq/core/float_bits.h"
#include "mixq/ir/walk.h"

namespace mixq::passes::upgrade {

// ---------------------------------------------------------------------------------------------
// Context

Context::Context(ir::Model& model, const ir::InferenceResult* types, std::vector<std::string>* log)
    : model_(model), types_(types), log_(log) {
  ir::for_each_graph(model.graph(), [&](const ir::Graph& g) {
    for (const auto& v : g.values()) names_.insert(v->name());
  });
}

const ir::ValueType& Context::type_of(const ir::Value* v) const {
  return types_ ? types_->type_of(v) : v->type();
}

std::string Context::fresh_name(const ir::Node& node, std::string_view suffix) {
  std::string base = !node.name().empty()                                  ? node.name()
                     : (node.output(0) && !node.output(0)->name().empty()) ? node.output(0)->name()
                                                                           : node.op_type();
  base += "_";
  base += suffix;
  // Unique across the whole model, not just up the parent chain: a subgraph below must not
  // end up shadowing the new name either.
  std::string name = base;
  for (int i = 1; names_.count(name) || node.graph()->lookup_value(name); ++i) {
    name = base + "_" + std::to_string(i);
  }
  names_.insert(name);
  return name;
}

ir::Value* Context::add_constant(ir::Node& node, std::string_view suffix, ir::Tensor t) {
  ir::Graph* g = node.graph();
  ir::Value* v = g->create_value(fresh_name(node, suffix));
  t.set_name(v->name());
  v->set_type(ir::ValueType::tensor(t.dtype(), ir::shape_from_ints(t.dims())));
  g->add_initializer(v, std::move(t));
  // IR version 3 lists every initializer among the graph inputs.
  if (model_.ir_version < 4 && g->parent() == nullptr) g->add_input(v);
  return v;
}

ir::Value* Context::add_value(ir::Node& node, std::string_view suffix) {
  return node.graph()->create_value(fresh_name(node, suffix));
}

ir::Node* Context::add_node(ir::Node& near, std::string op_type, std::string_view suffix) {
  std::string name = near.name().empty() ? std::string() : near.name() + "_" + std::string(suffix);
  return near.graph()->add_node(std::move(op_type), "", std::move(name));
}

void Context::note(const ir::Node& node, std::string_view what) {
  if (log_) log_->push_back(str_cat(node.describe(), ": ", what, " (opset ", version, ")"));
}

// ---------------------------------------------------------------------------------------------
// Helpers

bool remove_attr(ir::Node& node, std::string_view name) {
  auto& attrs = node.mutable_attributes();
  auto it = std::find_if(attrs.begin(), attrs.end(), [&](const auto& a) { return a.name == name; });
  if (it == attrs.end()) return false;
  attrs.erase(it);
  return true;
}

std::optional<ir::Tensor> float_scalar(DType dtype, double v) {
  auto t = ir::Tensor::zeros(dtype, {});
  if (!t.ok()) return std::nullopt;
  switch (dtype) {
    case DType::kFloat32:
      t->mutable_data<float>()[0] = static_cast<float>(v);
      return std::move(t).value();
    case DType::kFloat64:
      t->mutable_data<double>()[0] = v;
      return std::move(t).value();
    case DType::kFloat16:
      t->mutable_data<uint16_t>()[0] = double_to_float16(v);
      return std::move(t).value();
    case DType::kBFloat16:
      t->mutable_data<uint16_t>()[0] = double_to_bfloat16(v);
      return std::move(t).value();
    default:
      return std::nullopt;
  }
}

namespace {

void set_int_attr(ir::Node& node, const std::string& name, int64_t v) {
  remove_attr(node, name);
  node.add_attribute(name, ir::AttrType::kInt).i = v;
}

void set_string_attr(ir::Node& node, const std::string& name, std::string v) {
  remove_attr(node, name);
  node.add_attribute(name, ir::AttrType::kString).s = std::move(v);
}

// A value that something reads: a node input or a graph output.
bool is_used(const ir::Value* v) {
  return v != nullptr && (!v->uses().empty() || v->graph()->is_output(v));
}

Status refuse(const ir::Node& node, int version, std::string_view what) {
  return unsupported(node.describe(), ": cannot upgrade to ", node.op_type(), "-", version, ": ",
                     what);
}

// Moves the ints attribute `attr` to int64 input `index` ([n]). Absent attribute: nothing to do.
Status ints_attr_to_input(Context& ctx, ir::Node& node, const std::string& attr, size_t index) {
  MIXQ_ASSIGN_OR_RETURN(auto values, node.attr_ints(attr));
  if (!values) return Status::ok_status();
  const auto n = static_cast<int64_t>(values->size());
  ir::Value* v = ctx.add_constant(node, attr, ir::Tensor::from_int64s({n}, *values));
  node.set_input(index, v);
  remove_attr(node, attr);
  ctx.note(node, str_cat("attribute ", attr, " ", ir::dims_to_string(*values), " -> input '",
                         v->name(), "'"));
  return Status::ok_status();
}

// Replaces constant input `index` of `node` by a copy padded with trailing 1-dims to `rank`
// (same data), dropping the old initializer when nothing else reads it.
Expected<ir::Value*> reshaped_constant(Context& ctx, ir::Node& node, size_t index, int64_t rank) {
  ir::Value* old = node.input(index);
  const ir::Tensor& t = *old->initializer();
  std::vector<int64_t> dims = t.dims();
  dims.resize(static_cast<size_t>(rank), 1);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor copy, ir::Tensor::from_buffer(t.dtype(), dims, t.buffer()));
  ir::Value* v = ctx.add_constant(node, old->name(), std::move(copy));
  node.set_input(index, v);
  if (old->uses().empty() && !old->graph()->is_output(old) && !old->graph()->is_input(old)) {
    old->graph()->remove_initializer(old);
  }
  return v;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Opset 1 leftovers

Status drop_consumed_inputs(Context& ctx, ir::Node& node) {
  // A memory-reuse hint for Caffe2; it never changed what the op computes.
  if (remove_attr(node, "consumed_inputs")) ctx.note(node, "dropped attribute consumed_inputs");
  return Status::ok_status();
}

Status check_legacy_broadcast(const Context& ctx, const ir::Node& node) {
  MIXQ_ASSIGN_OR_RETURN(const int64_t broadcast, node.attr_int("broadcast", 0));
  if (broadcast == 0 || node.attr("axis") == nullptr) return Status::ok_status();
  // broadcast=1 with axis: B's dims line up with A's from `axis`. That is numpy broadcasting
  // when B ends at A's last dim; otherwise a constant B can be given trailing 1-dims.
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, node.attr_int("axis", 0));
  const auto& a = ctx.type_of(node.input(0)).shape;
  const ir::Value* b = node.input(1);
  const auto& bs = ctx.type_of(b).shape;
  if (!a || !bs) {
    return refuse(node, 7, "legacy broadcast with axis needs the ranks of both inputs");
  }
  const auto ra = static_cast<int64_t>(a->size()), rb = static_cast<int64_t>(bs->size());
  if (axis < 0) axis += ra;
  if (axis + rb == ra) return Status::ok_status();
  if (axis < 0 || axis + rb > ra || !ctx.is_constant(b)) {
    return refuse(node, 7,
                  str_cat("legacy broadcast of B (rank ", rb, ") at axis ", axis, " of A (rank ",
                          ra, ") has no numpy equivalent unless B is a constant"));
  }
  return Status::ok_status();
}

Status apply_legacy_broadcast(Context& ctx, ir::Node& node) {
  MIXQ_RETURN_IF_ERROR(drop_consumed_inputs(ctx, node));
  MIXQ_ASSIGN_OR_RETURN(const int64_t broadcast, node.attr_int("broadcast", 0));
  MIXQ_ASSIGN_OR_RETURN(int64_t axis, node.attr_int("axis", -1));
  const bool had_axis = node.attr("axis") != nullptr;
  remove_attr(node, "axis");
  if (!remove_attr(node, "broadcast")) return Status::ok_status();
  if (broadcast != 0 && had_axis) {
    // check_legacy_broadcast saw both ranks, and a constant B unless B already ends at A's
    // last dim.
    const auto ra = static_cast<int64_t>(ctx.type_of(node.input(0)).shape->size());
    ir::Value* b = node.input(1);
    const auto rb = static_cast<int64_t>(ctx.type_of(b).shape->size());
    if (axis < 0) axis += ra;
    if (axis + rb != ra) {
      // Trailing 1-dims put B's dims where the legacy rule put them.
      MIXQ_ASSIGN_OR_RETURN(ir::Value * nb, reshaped_constant(ctx, node, 1, ra - axis));
      ctx.note(node, str_cat("legacy broadcast at axis ", axis, ": B '", b->name(), "' -> '",
                             nb->name(), "' ", ir::dims_to_string(nb->initializer()->dims())));
      return Status::ok_status();
    }
  }
  ctx.note(node, "dropped attributes broadcast/axis (numpy broadcasting gives the same result)");
  return Status::ok_status();
}

Status drop_gemm_broadcast(Context& ctx, ir::Node& node) {
  // Gemm-7 always broadcasts C unidirectionally, which covers both broadcast=0 (C is M x N)
  // and broadcast=1.
  if (remove_attr(node, "broadcast")) ctx.note(node, "dropped attribute broadcast");
  return Status::ok_status();
}

Status selu_old_defaults(Context& ctx, ir::Node& node) {
  MIXQ_RETURN_IF_ERROR(drop_consumed_inputs(ctx, node));
  // Selu-6 changed the default alpha and gamma in their last bits; write Selu-1's.
  if (node.attr("alpha") == nullptr) {
    node.add_attribute("alpha", ir::AttrType::kFloat).f = std::bit_cast<float>(0x3fd62b6bu);
    ctx.note(node, "wrote Selu-1's default alpha 1.6732");
  }
  if (node.attr("gamma") == nullptr) {
    node.add_attribute("gamma", ir::AttrType::kFloat).f = std::bit_cast<float>(0x3f867d56u);
    ctx.note(node, "wrote Selu-1's default gamma 1.0507");
  }
  return Status::ok_status();
}

Status concat_default_axis(Context& ctx, ir::Node& node) {
  // Concat-1 defaulted axis to 1; Concat-4 requires it.
  if (node.attr("axis") == nullptr) {
    set_int_attr(node, "axis", 1);
    ctx.note(node, "wrote the old default axis=1");
  }
  return Status::ok_status();
}

Status check_cast_6(const Context&, const ir::Node& node) {
  const ir::Attribute* to = node.attr("to");
  if (to == nullptr || to->type != ir::AttrType::kString) return Status::ok_status();
  if (!dtype_from_onnx_name(to->s))
    return refuse(node, 6, str_cat("unknown type name '", to->s, "'"));
  return Status::ok_status();
}

Status cast_to_enum(Context& ctx, ir::Node& node) {
  const ir::Attribute* to = node.attr("to");
  if (to == nullptr || to->type != ir::AttrType::kString) return Status::ok_status();
  const std::string name = to->s;
  set_int_attr(node, "to", dtype_to_onnx(*dtype_from_onnx_name(name)));
  ctx.note(node,
           str_cat("attribute to '", name, "' -> ", dtype_to_onnx(*dtype_from_onnx_name(name))));
  return Status::ok_status();
}

Status check_lp_pool_2(const Context&, const ir::Node& node) {
  const ir::Attribute* p = node.attr("p");
  if (p != nullptr && p->type == ir::AttrType::kFloat && p->f != static_cast<int64_t>(p->f)) {
    return refuse(node, 2, str_cat("p became an integer and ", p->f, " is not one"));
  }
  if (node.op_type() == "LpPool" && node.attr("kernel_shape") == nullptr) {
    return refuse(node, 2, "kernel_shape became required and is missing");
  }
  return Status::ok_status();
}

Status lp_pool_int_p(Context& ctx, ir::Node& node) {
  const ir::Attribute* p = node.attr("p");
  if (p == nullptr || p->type != ir::AttrType::kFloat) return Status::ok_status();
  const auto v = static_cast<int64_t>(p->f);
  set_int_attr(node, "p", v);
  ctx.note(node, str_cat("attribute p float -> int ", v));
  return Status::ok_status();
}

Status rnn_drop_output_sequence(Context& ctx, ir::Node& node) {
  // Whether Y is produced is said by the output being named, from opset 7 on.
  if (remove_attr(node, "output_sequence")) ctx.note(node, "dropped attribute output_sequence");
  return Status::ok_status();
}

namespace {
// PRelu-6 came from Caffe2, where a 1-D slope of X's channel count is per channel (axis 1).
bool is_caffe2_channel_slope(const Context& ctx, const ir::Node& node) {
  const ir::Value* slope = node.input(1);
  const auto& s = ctx.type_of(slope).shape;
  const auto& x = ctx.type_of(node.input(0)).shape;
  return s && x && s->size() == 1 && x->size() >= 3 && (*s)[0].is_known() && (*s)[0].value() > 1 &&
         ir::same_size((*s)[0], (*x)[1]);
}
}  // namespace

Status check_prelu_7(const Context& ctx, const ir::Node& node) {
  // From 7 the slope broadcasts numpy-style from the right. A per-channel slope of PRelu-6
  // becomes [C, 1, ..., 1] when it is a constant; other shapes must already broadcast.
  const ir::Value* slope = node.input(1);
  if (slope == nullptr) return Status::ok_status();
  if (is_caffe2_channel_slope(ctx, node)) {
    if (!ctx.is_constant(slope)) {
      return refuse(node, 7, "a per-channel slope of PRelu-6 must be a constant to be reshaped");
    }
    return Status::ok_status();
  }
  const auto& s = ctx.type_of(slope).shape;
  const auto& x = ctx.type_of(node.input(0)).shape;
  if (s) {
    const auto n = ir::shape_to_ints(*s);
    if (n && std::all_of(n->begin(), n->end(), [](int64_t d) { return d == 1; })) {
      return Status::ok_status();
    }
  }
  if (!s || !x || s->size() > x->size()) {
    return refuse(node, 7, "slope broadcasting became numpy-style; slope and X shapes unknown");
  }
  for (size_t i = 0; i < s->size(); ++i) {
    const ir::Dim& sd = (*s)[s->size() - 1 - i];
    const ir::Dim& xd = (*x)[x->size() - 1 - i];
    if (!(sd.is_known() && sd.value() == 1) && !ir::same_size(sd, xd)) {
      return refuse(
          node, 7,
          str_cat("slope ", ir::shape_to_string(*s), " does not broadcast numpy-style to X ",
                  ir::shape_to_string(*x), " (opset 7 semantics)"));
    }
  }
  return Status::ok_status();
}

Status prelu_channel_slope(Context& ctx, ir::Node& node) {
  if (!is_caffe2_channel_slope(ctx, node)) return Status::ok_status();
  const auto rank = static_cast<int64_t>(ctx.type_of(node.input(0)).shape->size()) - 1;
  const std::string old = node.input(1)->name();
  MIXQ_ASSIGN_OR_RETURN(ir::Value * v, reshaped_constant(ctx, node, 1, rank));
  ctx.note(node, str_cat("per-channel slope '", old, "' -> '", v->name(), "' ",
                         ir::dims_to_string(v->initializer()->dims())));
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Attributes that became inputs

Status axes_to_input(Context& ctx, ir::Node& node) {
  // Squeeze/Unsqueeze-13, ReduceSum-13, Reduce*-18: an absent axes attribute is an absent
  // input (squeeze every 1-dim / reduce every axis, noop_with_empty_axes defaults to 0).
  return ints_attr_to_input(ctx, node, "axes", 1);
}

Status split_to_input(Context& ctx, ir::Node& node) {
  return ints_attr_to_input(ctx, node, "split", 1);
}

Status split_num_outputs(Context& ctx, ir::Node& node) {
  // Split-18 wants either the split input or num_outputs; an equal split into as many parts
  // as the node has outputs is num_outputs = that count.
  if (node.input(1) != nullptr || node.attr("num_outputs") != nullptr) return Status::ok_status();
  const auto n = static_cast<int64_t>(node.outputs().size());
  set_int_attr(node, "num_outputs", n);
  ctx.note(node, str_cat("wrote num_outputs=", n, " for the equal split"));
  return Status::ok_status();
}

Status check_split_v1(const Context&, const ir::Node& node) {
  if (node.input(1) != nullptr) {
    return refuse(node, 2, "the split sizes given as a second input became an attribute only");
  }
  return Status::ok_status();
}

Status check_slice_10(const Context&, const ir::Node& node) {
  if (node.attr("starts") == nullptr || node.attr("ends") == nullptr) {
    return bad_input(node.describe(), ": Slice-1 needs attributes starts and ends");
  }
  return Status::ok_status();
}

Status slice_to_inputs(Context& ctx, ir::Node& node) {
  // Slice-10: same clamping of out-of-range starts/ends; steps absent means 1.
  MIXQ_RETURN_IF_ERROR(ints_attr_to_input(ctx, node, "starts", 1));
  MIXQ_RETURN_IF_ERROR(ints_attr_to_input(ctx, node, "ends", 2));
  return ints_attr_to_input(ctx, node, "axes", 3);
}

Status check_topk_10(const Context&, const ir::Node& node) {
  MIXQ_ASSIGN_OR_RETURN(const int64_t k, node.attr_int("k", -1));
  if (k < 0) return bad_input(node.describe(), ": TopK-1 needs a non-negative attribute k");
  return Status::ok_status();
}

Status topk_to_input(Context& ctx, ir::Node& node) {
  MIXQ_ASSIGN_OR_RETURN(const int64_t k, node.attr_int("k", -1));
  ir::Value* v = ctx.add_constant(node, "K", ir::Tensor::from_int64s({1}, {k}));
  node.set_input(1, v);
  remove_attr(node, "k");
  ctx.note(node, str_cat("attribute k ", k, " -> input '", v->name(), "'"));
  return Status::ok_status();
}

Status reshape_to_input(Context& ctx, ir::Node& node) {
  MIXQ_RETURN_IF_ERROR(drop_consumed_inputs(ctx, node));
  if (node.input(1) != nullptr) return Status::ok_status();
  return ints_attr_to_input(ctx, node, "shape", 1);
}

Status check_clip_11(const Context& ctx, const ir::Node& node) {
  if (node.attr("min") == nullptr && node.attr("max") == nullptr) return Status::ok_status();
  const DType t = ctx.type_of(node.input(0)).dtype;
  if (!float_scalar(t, 0)) {
    return refuse(node, 11,
                  str_cat("min/max became inputs of the input's type, which is ",
                          t == DType::kUndefined ? "unknown" : dtype_name(t)));
  }
  return Status::ok_status();
}

Status clip_to_inputs(Context& ctx, ir::Node& node) {
  const DType t = ctx.type_of(node.input(0)).dtype;
  const char* names[] = {"min", "max"};
  for (size_t i = 0; i < 2; ++i) {
    const ir::Attribute* a = node.attr(names[i]);
    if (a == nullptr) continue;
    const float value = a->f;
    ir::Value* v = ctx.add_constant(node, names[i], *float_scalar(t, value));
    node.set_input(i + 1, v);
    remove_attr(node, names[i]);
    ctx.note(node, str_cat("attribute ", names[i], " ", value, " -> input '", v->name(), "'"));
  }
  return Status::ok_status();
}

Status pad_rename_paddings(Context& ctx, ir::Node& node) {
  // Pad-2 renamed paddings to pads (same [x1_begin, x2_begin, ..., x1_end, x2_end] layout).
  for (auto& a : node.mutable_attributes()) {
    if (a.name == "paddings") {
      a.name = "pads";
      ctx.note(node, "renamed attribute paddings -> pads");
    }
  }
  return Status::ok_status();
}

Status check_pad_11(const Context& ctx, const ir::Node& node) {
  MIXQ_ASSIGN_OR_RETURN(const std::string mode, node.attr_string("mode", "constant"));
  // Pad-2 and Pad-11 spell the modes alike; anything else was never valid.
  if (mode != "constant" && mode != "reflect" && mode != "edge") {
    return refuse(node, 11, str_cat("unknown mode '", mode, "'"));
  }
  if (node.attr("pads") == nullptr && node.attr("paddings") == nullptr) {
    return refuse(node, 11, "pads became an input and the attribute is missing");
  }
  MIXQ_ASSIGN_OR_RETURN(const float value, node.attr_float("value", 0.0f));
  const DType t = ctx.type_of(node.input(0)).dtype;
  if (value != 0.0f && !float_scalar(t, value)) {
    return refuse(node, 11,
                  str_cat("value became an input of the data's type, which is ",
                          t == DType::kUndefined ? "unknown" : dtype_name(t)));
  }
  return Status::ok_status();
}

Status pad_to_inputs(Context& ctx, ir::Node& node) {
  MIXQ_RETURN_IF_ERROR(pad_rename_paddings(ctx, node));
  MIXQ_RETURN_IF_ERROR(ints_attr_to_input(ctx, node, "pads", 1));
  MIXQ_ASSIGN_OR_RETURN(const float value, node.attr_float("value", 0.0f));
  // constant_value absent means 0, as the attribute's default did.
  if (remove_attr(node, "value") && value != 0.0f) {
    ir::Value* v =
        ctx.add_constant(node, "value", *float_scalar(ctx.type_of(node.input(0)).dtype, value));
    node.set_input(2, v);
    ctx.note(node, str_cat("attribute value ", value, " -> input '", v->name(), "'"));
  }
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Dropout

Status dropout_drop_is_test(Context& ctx, ir::Node& node) {
  MIXQ_RETURN_IF_ERROR(drop_consumed_inputs(ctx, node));
  // Dropout-7 leaves test vs training mode to the runtime; mixq runs inference, where Dropout
  // is the identity, as Dropout-6 with is_test set was.
  if (remove_attr(node, "is_test")) ctx.note(node, "dropped attribute is_test");
  return Status::ok_status();
}

Status check_dropout_10(const Context&, const ir::Node& node) {
  if (is_used(node.output(1))) {
    return refuse(node, 10, "the mask output changed from the input's type to bool and is used");
  }
  return Status::ok_status();
}

Status dropout_mask_bool(Context& ctx, ir::Node& node) {
  ir::Value* mask = node.output(1);
  if (mask != nullptr && mask->type().is_tensor() && mask->type().dtype != DType::kBool) {
    mask->mutable_type().dtype = DType::kBool;
    ctx.note(node, str_cat("unused mask '", mask->name(), "' typed bool"));
  }
  return Status::ok_status();
}

Status dropout_ratio_to_input(Context& ctx, ir::Node& node) {
  // Dropout-12: ratio is an input; training_mode absent means inference, as before.
  const ir::Attribute* a = node.attr("ratio");
  if (a == nullptr) return Status::ok_status();
  const float ratio = a->f;
  ir::Value* v = ctx.add_constant(node, "ratio", ir::Tensor::scalar_float(ratio));
  node.set_input(1, v);
  remove_attr(node, "ratio");
  ctx.note(node, str_cat("attribute ratio ", ratio, " -> input '", v->name(), "'"));
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Softmax, LogSoftmax, Hardmax

Status softmax_single_axis(Context& ctx, ir::Node& node) {
  // Before 13 the input was coerced to 2-D [d0*...*d(axis-1), d(axis)*...*d(r-1)] and the op
  // ran over the second dim (default axis 1); from 13 it runs over one axis (default -1). The
  // two agree when every dim after `axis` is 1; otherwise Flatten/Reshape keep the old meaning.
  MIXQ_ASSIGN_OR_RETURN(const int64_t axis, node.attr_int("axis", 1));
  ir::Value* x = node.input(0);
  const ir::ValueType& xt = ctx.type_of(x);
  if (xt.shape) {
    const auto r = static_cast<int64_t>(xt.shape->size());
    const int64_t a = axis < 0 ? axis + r : axis;
    bool same = a >= 0 && a < r;
    for (int64_t i = a + 1; same && i < r; ++i) {
      const ir::Dim& d = (*xt.shape)[static_cast<size_t>(i)];
      same = d.is_known() && d.value() == 1;
    }
    if (same) {
      if (node.attr("axis") == nullptr || axis != a) {
        set_int_attr(node, "axis", a);
        ctx.note(node, str_cat("wrote axis=", a, " (the default became -1)"));
      }
      return Status::ok_status();
    }
  }
  // X -> Flatten(axis) -> op(axis=-1) -> Reshape(to Shape(X)) -> Y
  ir::Value* y = node.output(0);
  ir::Node* flatten = ctx.add_node(node, "Flatten", "flatten");
  flatten->add_input(x);
  set_int_attr(*flatten, "axis", axis);
  ir::Value* flat = ctx.add_value(node, "2d");
  MIXQ_RETURN_IF_ERROR(flatten->add_output(flat));
  node.set_input(0, flat);
  ir::Value* flat_out = ctx.add_value(node, "2d_out");
  MIXQ_RETURN_IF_ERROR(node.replace_output(0, flat_out));
  set_int_attr(node, "axis", -1);
  ir::Node* shape = ctx.add_node(node, "Shape", "shape");
  shape->add_input(x);
  ir::Value* dims = ctx.add_value(node, "shape");
  MIXQ_RETURN_IF_ERROR(shape->add_output(dims));
  ir::Node* reshape = ctx.add_node(node, "Reshape", "reshape");
  reshape->add_input(flat_out);
  reshape->add_input(dims);
  MIXQ_RETURN_IF_ERROR(reshape->add_output(y));
  if (xt.is_tensor()) {
    flat->set_type(ir::ValueType::tensor(xt.dtype));
    flat_out->set_type(ir::ValueType::tensor(xt.dtype));
  }
  dims->set_type(ir::ValueType::tensor(DType::kInt64, ir::Shape{ir::Dim()}));
  ctx.note(node, str_cat("axis=", axis, " over ", xt.to_string(), ": inserted Flatten(axis=", axis,
                         ") before and Reshape to Shape('", x->name(), "') after, axis=-1"));
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// BatchNormalization

namespace {
bool has_output(const ir::Node& node, size_t from) {
  for (size_t i = from; i < node.outputs().size(); ++i) {
    if (node.output(i) != nullptr) return true;
  }
  return false;
}
}  // namespace

Status check_batchnorm_7(const Context&, const ir::Node& node) {
  // BatchNormalization-6 with is_test set and statistics outputs ran in test mode; from 7 those
  // outputs mean training mode.
  MIXQ_ASSIGN_OR_RETURN(const int64_t is_test, node.attr_int("is_test", 0));
  if (is_test != 0 && has_output(node, 1)) {
    return refuse(node, 7, "is_test was removed; with statistics outputs it becomes training mode");
  }
  return Status::ok_status();
}

Status batchnorm_drop_is_test(Context& ctx, ir::Node& node) {
  if (remove_attr(node, "is_test")) ctx.note(node, "dropped attribute is_test");
  return Status::ok_status();
}

Status check_batchnorm_9(const Context&, const ir::Node& node) {
  MIXQ_ASSIGN_OR_RETURN(const int64_t spatial, node.attr_int("spatial", 1));
  if (spatial != 1) {
    return refuse(node, 9, "spatial=0 (per-activation statistics) was removed");
  }
  return Status::ok_status();
}

Status batchnorm_drop_spatial(Context& ctx, ir::Node& node) {
  if (remove_attr(node, "spatial")) ctx.note(node, "dropped attribute spatial=1 (the only mode)");
  return Status::ok_status();
}

Status check_batchnorm_14(const Context&, const ir::Node& node) {
  if (has_output(node, 3)) {
    return refuse(node, 14, "outputs saved_mean/saved_var were removed");
  }
  return Status::ok_status();
}

Status batchnorm_training_mode(Context& ctx, ir::Node& node) {
  // Before 14, running mean/var outputs selected training mode; from 14 the attribute does.
  if (has_output(node, 1) && node.attr("training_mode") == nullptr) {
    set_int_attr(node, "training_mode", 1);
    ctx.note(node, "statistics outputs -> training_mode=1");
  }
  return Status::ok_status();
}

// ---------------------------------------------------------------------------------------------
// Opsets 16-21

Status roi_align_output_half_pixel(Context& ctx, ir::Node& node) {
  // RoiAlign-16 added coordinate_transformation_mode with default half_pixel; RoiAlign-10
  // behaved as output_half_pixel.
  if (node.attr("coordinate_transformation_mode") == nullptr) {
    set_string_attr(node, "coordinate_transformation_mode", "output_half_pixel");
    ctx.note(node, "wrote coordinate_transformation_mode='output_half_pixel' (RoiAlign-10)");
  }
  return Status::ok_status();
}

Status grid_sample_mode_names(Context& ctx, ir::Node& node) {
  // GridSample-20 renamed bilinear -> linear and bicubic -> cubic (the defaults correspond).
  MIXQ_ASSIGN_OR_RETURN(const std::string mode, node.attr_string("mode", ""));
  const std::string renamed = mode == "bilinear" ? "linear" : mode == "bicubic" ? "cubic" : "";
  if (!renamed.empty()) {
    set_string_attr(node, "mode", renamed);
    ctx.note(node, str_cat("mode '", mode, "' -> '", renamed, "'"));
  }
  return Status::ok_status();
}

Status dft_axis_to_input(Context& ctx, ir::Node& node) {
  // DFT-20: axis became an input whose default is -2; DFT-17's default was 1, so always write it.
  MIXQ_ASSIGN_OR_RETURN(const int64_t axis, node.attr_int("axis", 1));
  ir::Value* v = ctx.add_constant(node, "axis", ir::Tensor::from_int64s({}, {axis}));
  node.set_input(2, v);
  remove_attr(node, "axis");
  ctx.note(node, str_cat("attribute axis ", axis, " -> input '", v->name(), "'"));
  return Status::ok_status();
}

Status check_group_norm_21(const Context& ctx, const ir::Node& node) {
  // GroupNormalization-21 takes scale and bias per channel instead of per group.
  MIXQ_ASSIGN_OR_RETURN(const int64_t groups, node.attr_int("num_groups", 0));
  const auto& xs = ctx.type_of(node.input(0)).shape;
  const bool channels_known = xs && xs->size() >= 2 && (*xs)[1].is_known();
  const int64_t c = channels_known ? (*xs)[1].value() : 0;
  if (channels_known && c == groups) return Status::ok_status();
  for (size_t i = 1; i <= 2; ++i) {
    const ir::Value* v = node.input(i);
    if (!channels_known || groups <= 0 || c % groups != 0 || v == nullptr || !ctx.is_constant(v) ||
        v->initializer()->numel() != groups || dtype_bits(v->initializer()->dtype()) % 8 != 0) {
      return refuse(node, 21,
                    "scale and bias became per-channel; expanding per-group ones needs them "
                    "constant and the channel count known");
    }
  }
  return Status::ok_status();
}

Status group_norm_per_channel(Context& ctx, ir::Node& node) {
  MIXQ_ASSIGN_OR_RETURN(const int64_t groups, node.attr_int("num_groups", 0));
  const int64_t c = (*ctx.type_of(node.input(0)).shape)[1].value();
  if (c == groups) return Status::ok_status();
  const char* names[] = {"", "scale", "bias"};
  for (size_t i = 1; i <= 2; ++i) {
    ir::Value* old = node.input(i);
    const ir::Tensor& t = *old->initializer();
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor expanded, ir::Tensor::zeros(t.dtype(), {c}));
    const size_t es = static_cast<size_t>(dtype_bits(t.dtype()) / 8);
    for (int64_t ch = 0; ch < c; ++ch) {
      std::memcpy(expanded.mutable_raw_data() + static_cast<size_t>(ch) * es,
                  t.raw_data() + static_cast<size_t>(ch / (c / groups)) * es, es);
    }
    ir::Value* v = ctx.add_constant(node, names[i], std::move(expanded));
    node.set_input(i, v);
    if (old->uses().empty() && !old->graph()->is_output(old) && !old->graph()->is_input(old)) {
      old->graph()->remove_initializer(old);
    }
    ctx.note(node, str_cat(names[i], " '", old->name(), "' per group [", groups,
                           "] -> per channel '", v->name(), "' [", c, "]"));
  }
  return Status::ok_status();
}

}  // namespace mixq::passes::upgrade
