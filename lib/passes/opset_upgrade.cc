// Opset upgrade driver and its table of ONNX op changes (docs/Changelog.md of onnx/onnx).
//
// The table lists, for every default-domain op with more than one version up to opset 21, each
// version at which it changed, and what that means for an existing node: compatible, a rewrite,
// or a refusal. Ops with a single version up to 21 (Acos, Einsum, LayerNormalization, ...) never
// changed and are not listed, so a node whose op is not listed is kept as it is (an op unknown to
// ONNX is the executor's business, not this pass's). The list was checked against the version
// history of every ai.onnx schema of ONNX 1.23 (onnx.defs.get_all_schemas_with_history()).
#include "mixq/passes/opset_upgrade.h"

#include <algorithm>
#include <initializer_list>
#include <string_view>

#include "mixq/ir/op_schema.h"
#include "mixq/ir/shape_inference.h"
#include "mixq/ir/walk.h"
#include "opset_upgrade_rules.h"

namespace mixq::passes {
namespace {

using upgrade::Context;

struct OpChange {
  std::string_view op_type;
  int version;  // the opset at which the op changed
  upgrade::Check check = nullptr;
  upgrade::Apply apply = nullptr;
  std::string_view refused = {};  // non-empty: nodes cannot cross this version; what changed
};

void compatible(std::vector<OpChange>& out, std::initializer_list<std::string_view> ops,
                std::initializer_list<int> versions) {
  for (std::string_view op : ops) {
    for (int v : versions) out.push_back({op, v});
  }
}

void rewrite(std::vector<OpChange>& out, std::initializer_list<std::string_view> ops, int version,
             upgrade::Apply apply, upgrade::Check check = nullptr) {
  for (std::string_view op : ops) out.push_back({op, version, check, apply});
}

void refuse(std::vector<OpChange>& out, std::string_view op, int version, std::string_view why) {
  out.push_back({op, version, nullptr, nullptr, why});
}

std::vector<OpChange> build_table() {
  std::vector<OpChange> t;
  using namespace upgrade;  // NOLINT(google-build-using-namespace): the rule functions

  // --- Opset 2-6: Caffe2 leftovers ---------------------------------------------------------
  // consumed_inputs was a memory-reuse hint: dropping it changes nothing.
  rewrite(t, {"Abs",         "Ceil",
              "Clip",        "Elu",
              "Exp",         "Floor",
              "HardSigmoid", "InstanceNormalization",
              "LeakyRelu",   "Log",
              "Max",         "Mean",
              "Min",         "Neg",
              "PRelu",       "Reciprocal",
              "Relu",        "Sigmoid",
              "Sqrt",        "Sum",
              "Tanh",        "BatchNormalization",
              "Add",         "Sub",
              "Mul",         "Div"},
          6, drop_consumed_inputs);
  rewrite(t, {"Selu"}, 6, selu_old_defaults);
  rewrite(t, {"Dropout"}, 6, drop_consumed_inputs);
  rewrite(t, {"Reshape"}, 5, reshape_to_input);
  rewrite(t, {"Pad"}, 2, pad_rename_paddings);
  rewrite(t, {"Split"}, 2, nullptr, check_split_v1);
  rewrite(t, {"Concat"}, 4, concat_default_axis);
  rewrite(t, {"Cast"}, 6, cast_to_enum, check_cast_6);
  rewrite(t, {"LpPool", "GlobalLpPool"}, 2, lp_pool_int_p, check_lp_pool_2);
  refuse(t, "Tile", 6, "inputs tiles and axis were replaced by one repeats input");
  // Gemm-6 only restated the types; GRU-3 fixed the spelling of the default direction and
  // added linear_before_reset whose default 0 is GRU-1's computation.
  compatible(t, {"Gemm"}, {6});
  compatible(t, {"GRU"}, {3});

  // --- Opset 7-10 ----------------------------------------------------------------------------
  // Numpy broadcasting replaced broadcast/axis.
  rewrite(t, {"Add", "Sub", "Mul", "Div", "Pow", "And", "Or", "Xor", "Equal", "Greater", "Less"}, 7,
          apply_legacy_broadcast, check_legacy_broadcast);
  rewrite(t, {"Gemm"}, 7, drop_gemm_broadcast);
  rewrite(t, {"PRelu"}, 7, prelu_channel_slope, check_prelu_7);
  rewrite(t, {"RNN", "GRU", "LSTM"}, 7, rnn_drop_output_sequence);
  rewrite(t, {"BatchNormalization"}, 7, batchnorm_drop_is_test, check_batchnorm_7);
  rewrite(t, {"Dropout"}, 7, dropout_drop_is_test);
  // AveragePool-7 added count_include_pad (default 0: padding not counted, as before).
  compatible(t, {"AveragePool"}, {7});
  // Multidirectional broadcasting where all shapes had to be equal: a superset.
  compatible(t, {"Max", "Min", "Mean", "Sum"}, {8});
  // MaxPool-8 added storage_order (default 0) and the optional Indices output.
  compatible(t, {"MaxPool"}, {8});
  rewrite(t, {"BatchNormalization"}, 9, batchnorm_drop_spatial, check_batchnorm_9);
  refuse(t, "Scan", 9, "the batch axis and the sequence_lens input were removed");
  refuse(t, "Upsample", 7, "height_scale/width_scale were replaced by scales");
  refuse(t, "Upsample", 9, "scales became an input");
  refuse(t, "Upsample", 10, "deprecated in favour of Resize");
  rewrite(t, {"Slice"}, 10, slice_to_inputs, check_slice_10);
  rewrite(t, {"TopK"}, 10, topk_to_input, check_topk_10);
  rewrite(t, {"Dropout"}, 10, dropout_mask_bool, check_dropout_10);
  // AveragePool/MaxPool-10 added ceil_mode (default 0, floor as before) and MaxPool dilations
  // (default 1).
  compatible(t, {"AveragePool", "MaxPool"}, {10});

  // --- Opset 11-13 ---------------------------------------------------------------------------
  // Opset 11 admitted negative axes and indices, spelled out defaults (strides, dilations = 1)
  // and added optional attributes whose defaults are the old behaviour (DepthToSpace mode DCR,
  // TopK largest/sorted 1, If/Loop output shapes may differ per iteration).
  compatible(t,
             {"ArgMax",
              "ArgMin",
              "AveragePool",
              "Compress",
              "Concat",
              "Conv",
              "ConvTranspose",
              "DepthToSpace",
              "Flatten",
              "Gather",
              "Hardmax",
              "LogSoftmax",
              "Softmax",
              "If",
              "Loop",
              "LpPool",
              "MaxPool",
              "MaxUnpool",
              "NonMaxSuppression",
              "OneHot",
              "ReduceL1",
              "ReduceL2",
              "ReduceLogSum",
              "ReduceLogSumExp",
              "ReduceMax",
              "ReduceMean",
              "ReduceMin",
              "ReduceProd",
              "ReduceSum",
              "ReduceSumSquare",
              "Scan",
              "Slice",
              "Split",
              "Squeeze",
              "Unsqueeze",
              "TopK",
              "Equal",
              "Gemm"},
             {11});
  rewrite(t, {"Clip"}, 11, clip_to_inputs, check_clip_11);
  rewrite(t, {"Pad"}, 11, pad_to_inputs, check_pad_11);
  refuse(t, "Resize", 11,
         "roi input and coordinate_transformation_mode were added (Resize-10 "
         "sampling is not rewritten)");
  refuse(t, "Scatter", 11, "deprecated in favour of ScatterElements");
  // Opset 12: ArgMax/ArgMin select_last_index (default 0), GatherND batch_dims (default 0),
  // int8/uint8 for Max/Min/MaxPool/ReduceMax/ReduceMin, integer exponents for Pow, Clip types.
  compatible(t,
             {"ArgMax", "ArgMin", "GatherND", "Max", "Min", "MaxPool", "ReduceMax", "ReduceMin",
              "Pow", "Clip", "Constant"},
             {12});
  rewrite(t, {"Dropout"}, 12, dropout_ratio_to_input);
  // Opset 11/12 Constant added sparse_value and value_* attributes: new spellings only.
  compatible(t, {"Constant"}, {9, 11});
  rewrite(t, {"Softmax", "LogSoftmax", "Hardmax"}, 13, softmax_single_axis);
  rewrite(t, {"Squeeze", "Unsqueeze", "ReduceSum"}, 13, axes_to_input);
  rewrite(t, {"Split"}, 13, split_to_input);
  // Opset 13 added bfloat16 (and a few integer types) almost everywhere; QuantizeLinear and
  // DequantizeLinear gained axis (default 1, meaningful only for the 1-D scales they now
  // admit). Nothing an existing node does changes.
  compatible(t,
             {"Abs",
              "Add",
              "ArgMax",
              "ArgMin",
              "Cast",
              "Ceil",
              "Clip",
              "Concat",
              "Constant",
              "DepthToSpace",
              "DequantizeLinear",
              "Div",
              "Dropout",
              "Equal",
              "Erf",
              "Exp",
              "Expand",
              "Flatten",
              "Floor",
              "Gather",
              "GatherElements",
              "GatherND",
              "Gemm",
              "Greater",
              "Identity",
              "If",
              "IsNaN",
              "LRN",
              "Less",
              "Log",
              "Loop",
              "MatMul",
              "Max",
              "Mean",
              "MeanVarianceNormalization",
              "Min",
              "Mod",
              "Mul",
              "Neg",
              "NegativeLogLikelihoodLoss",
              "NonZero",
              "Pad",
              "Pow",
              "QuantizeLinear",
              "Reciprocal",
              "ReduceL1",
              "ReduceL2",
              "ReduceLogSum",
              "ReduceLogSumExp",
              "ReduceMax",
              "ReduceMean",
              "ReduceMin",
              "ReduceProd",
              "ReduceSumSquare",
              "Relu",
              "Reshape",
              "Resize",
              "ScatterElements",
              "ScatterND",
              "Shape",
              "Sigmoid",
              "Sign",
              "Size",
              "Slice",
              "SoftmaxCrossEntropyLoss",
              "SpaceToDepth",
              "Sqrt",
              "Sub",
              "Sum",
              "Tanh",
              "Tile",
              "Transpose"},
             {13});
  // Cast-9 and Greater/Less-9 (string and integer types), Flatten/Gemm/MatMul/PRelu-9 (more
  // numeric types): types only.
  compatible(t, {"Cast", "Greater", "Less", "Flatten", "Gemm", "MatMul", "PRelu"}, {9});

  // --- Opset 14-21 ---------------------------------------------------------------------------
  rewrite(t, {"BatchNormalization"}, 14, batchnorm_training_mode, check_batchnorm_14);
  // Opset 14: Reshape allowzero (default 0), RNN/GRU/LSTM layout (default 0), and new types
  // (Add/Sub/Mul/Div, CumSum, Identity, Relu).
  compatible(
      t,
      {"Reshape", "RNN", "GRU", "LSTM", "Add", "Sub", "Mul", "Div", "CumSum", "Identity", "Relu"},
      {14});
  // Opset 15: BatchNormalization scale/mean types, Pow types, Shape start/end (defaults: all).
  compatible(t, {"BatchNormalization", "Pow", "Shape"}, {15});
  // Opset 16: Scatter* reduction (default none), new types (bfloat16, optional, ...).
  compatible(t,
             {"GreaterOrEqual", "LessOrEqual", "Identity", "If", "LeakyRelu", "Loop", "PRelu",
              "Scan", "ScatterElements", "ScatterND", "Where"},
             {16});
  rewrite(t, {"RoiAlign"}, 16, roi_align_output_half_pixel);
  rewrite(t,
          {"ReduceL1", "ReduceL2", "ReduceLogSum", "ReduceLogSumExp", "ReduceMax", "ReduceMean",
           "ReduceMin", "ReduceProd", "ReduceSumSquare"},
          18, axes_to_input);
  rewrite(t, {"Split"}, 18, split_num_outputs);
  // Opset 18: Pad axes input (absent: all axes), Resize antialias/axes/keep_aspect_ratio_policy,
  // LpPool ceil_mode/dilations, more Scatter* reductions, optional-typed Optional* inputs.
  compatible(t,
             {"Pad", "Resize", "LpPool", "ScatterElements", "ScatterND", "OptionalGetElement",
              "OptionalHasElement"},
             {18});
  // Opset 19: float8 types (Cast/CastLike saturate only applies to them), AveragePool
  // dilations (default 1), Pad wrap mode, Resize half_pixel_symmetric: new options only.
  compatible(
      t,
      {"AveragePool", "Cast", "CastLike", "Constant", "DequantizeLinear", "Equal", "Identity", "If",
       "Loop", "Pad", "QuantizeLinear", "Reshape", "Resize", "Scan", "Shape", "Size"},
      {19});
  rewrite(t, {"GridSample"}, 20, grid_sample_mode_names);
  rewrite(t, {"DFT"}, 20, dft_axis_to_input);
  // Opset 20: bool for ReduceMax/ReduceMin, float8 for IsInf/IsNaN, ConstantOfShape types.
  compatible(t, {"ReduceMax", "ReduceMin", "IsInf", "IsNaN", "ConstantOfShape"}, {20});
  rewrite(t, {"GroupNormalization"}, 21, group_norm_per_channel, check_group_norm_21);
  // Opset 21: int4/uint4 types, QuantizeLinear/DequantizeLinear block_size (default 0: the old
  // per-tensor/per-axis modes) and output_dtype (default: the zero point's type).
  compatible(t,
             {"Cast", "CastLike", "Constant", "ConstantOfShape", "DequantizeLinear", "Flatten",
              "Identity", "If", "Loop", "Pad", "QLinearMatMul", "QuantizeLinear", "Reshape", "Scan",
              "Shape", "Size", "Squeeze", "Transpose", "Unsqueeze"},
             {21});

  std::stable_sort(t.begin(), t.end(), [](const OpChange& a, const OpChange& b) {
    return a.op_type != b.op_type ? a.op_type < b.op_type : a.version < b.version;
  });
  return t;
}

const std::vector<OpChange>& op_changes() {
  static const std::vector<OpChange> table = build_table();
  return table;
}

// The changes of `op` at versions in (from, to], in version order.
std::vector<const OpChange*> changes_for(std::string_view op, int64_t from, int64_t to) {
  const auto& t = op_changes();
  auto it = std::lower_bound(t.begin(), t.end(), op,
                             [](const OpChange& c, std::string_view o) { return c.op_type < o; });
  std::vector<const OpChange*> out;
  for (; it != t.end() && it->op_type == op; ++it) {
    if (it->version > from && it->version <= to) out.push_back(&*it);
  }
  return out;
}

// The first IR version whose ONNX release carries `opset` (onnx/helper.py VERSION_TABLE).
int64_t min_ir_version(int64_t opset) {
  if (opset <= 8) return 3;
  if (opset == 9) return 4;
  if (opset == 10) return 5;
  if (opset == 11) return 6;
  if (opset <= 14) return 7;
  if (opset <= 18) return 8;
  if (opset <= 20) return 9;
  return 10;
}

// Every default-domain node of the model, subgraphs included, in node-list order.
std::vector<ir::Node*> onnx_nodes(ir::Model& model) {
  std::vector<ir::Node*> out;
  ir::for_each_graph(model.graph(), [&](const ir::Graph& g) {
    for (const auto& n : g.nodes()) {
      if (n->is_onnx_domain()) out.push_back(n.get());
    }
  });
  return out;
}

Status sort_all_graphs(ir::Model& model) {
  std::vector<ir::Graph*> graphs;
  ir::for_each_graph(model.graph(),
                     [&](const ir::Graph& g) { graphs.push_back(const_cast<ir::Graph*>(&g)); });
  for (ir::Graph* g : graphs) MIXQ_RETURN_IF_ERROR(g->sort_nodes());
  return Status::ok_status();
}

}  // namespace

Status upgrade_opset(ir::Model& model, int64_t target, std::vector<std::string>* log) {
  if (target > ir::kMaxSupportedOpset) {
    return unsupported("opset upgrade to ", target, ": mixq implements ai.onnx up to opset ",
                       ir::kMaxSupportedOpset);
  }
  const int64_t from = model.opset("");
  if (target <= from) return Status::ok_status();
  if (from <= 0) {
    return bad_input("opset upgrade: the model imports no ai.onnx opset");
  }

  // Types for the rules that depend on ranks and dtypes; the declared ones when inference
  // does not get through the old model.
  auto inferred = ir::infer_shapes(model);
  Context ctx(model, inferred.ok() ? &*inferred : nullptr, log);

  // Check every node first, so that a refused upgrade leaves the model untouched, and name
  // every node that stands in the way at once.
  const std::vector<ir::Node*> nodes = onnx_nodes(model);
  std::string refusals;
  int refused = 0;
  auto refuse_with = [&](const Status& s) { refusals += (refused++ ? "; " : "") + s.message(); };
  for (const ir::Node* node : nodes) {
    for (const OpChange* c : changes_for(node->op_type(), from, target)) {
      if (!c->refused.empty()) {
        refuse_with(unsupported(node->describe(), ": cannot upgrade to ", c->op_type, "-",
                                c->version, ": ", c->refused));
        break;
      }
      if (c->check == nullptr) continue;
      Status s = c->check(ctx, *node);
      if (!s.ok()) {
        if (s.code() != StatusCode::kUnsupported) return s;
        refuse_with(s);
        break;
      }
    }
  }
  if (refused > 0) {
    return unsupported("opset upgrade ", from, " -> ", target, " refused for ", refused,
                       refused == 1 ? " node: " : " nodes: ", refusals);
  }

  for (ir::Node* node : nodes) {
    for (const OpChange* c : changes_for(node->op_type(), from, target)) {
      if (c->apply == nullptr) continue;
      ctx.version = c->version;
      MIXQ_RETURN_IF_ERROR(c->apply(ctx, *node));
    }
  }
  for (auto& imp : model.opset_imports) {
    if (imp.domain.empty() || imp.domain == "ai.onnx") imp.version = target;
  }
  // Raise the IR version to one whose ONNX release has the target opset, except across IR 4:
  // there, initializers listed as graph inputs stop being constants and become defaults.
  const int64_t ir = min_ir_version(target);
  if (model.ir_version >= 4 && model.ir_version < ir) model.ir_version = ir;
  if (log) log->push_back(str_cat("ai.onnx opset ", from, " -> ", target));
  return sort_all_graphs(model);
}

}  // namespace mixq::passes
