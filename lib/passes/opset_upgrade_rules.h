// Internal to lib/passes: the per-op rewrites of the opset upgrade and the context they share.
//
// Each op change has a `check` (const: may the node be upgraded across this version?) that runs
// for the whole model before anything changes, and an `apply` that rewrites the node. Either may
// be null: no check means always possible, no apply means the node stays as it is. A check
// returns kUnsupported for a node it cannot upgrade (naming it), or kBadInput for a malformed
// one; an apply only fails on what its check accepted through an internal error.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"
#include "mixq/ir/shape_inference.h"

namespace mixq::passes::upgrade {

class Context {
 public:
  Context(ir::Model& model, const ir::InferenceResult* types, std::vector<std::string>* log);

  // The inferred type of `v` when inference succeeded, else its declared type.
  const ir::ValueType& type_of(const ir::Value* v) const;
  // True when `v` holds constant data (Model::is_constant_initializer).
  bool is_constant(const ir::Value* v) const { return model_.is_constant_initializer(v); }
  // An int64/float/... constant input for `node`: an initializer of the node's graph named
  // "<node or output name>_<suffix>" (made unique across the whole model).
  ir::Value* add_constant(ir::Node& node, std::string_view suffix, ir::Tensor t);
  // A fresh value in the node's graph for an inserted node's output.
  ir::Value* add_value(ir::Node& node, std::string_view suffix);
  // A node in the same graph as `near`, named after it.
  ir::Node* add_node(ir::Node& near, std::string op_type, std::string_view suffix);
  // Appends "<node>: <what>" to the pass log.
  void note(const ir::Node& node, std::string_view what);

  // The version of the change being applied (for log lines).
  int64_t version = 0;

 private:
  std::string fresh_name(const ir::Node& node, std::string_view suffix);

  ir::Model& model_;
  const ir::InferenceResult* types_;
  std::vector<std::string>* log_;
  std::unordered_set<std::string> names_;  // every value name in the model, and the new ones
};

using Check = Status (*)(const Context& ctx, const ir::Node& node);
using Apply = Status (*)(Context& ctx, ir::Node& node);

// Attribute helpers.
bool remove_attr(ir::Node& node, std::string_view name);
// A scalar tensor of `dtype` (a floating type) holding `v`; nullopt for other dtypes.
std::optional<ir::Tensor> float_scalar(DType dtype, double v);

// --- Rewrites, by op family (opset_upgrade_rules.cc) -------------------------------------------
// consumed_inputs (a memory-reuse hint of opset 1) was removed at 6 (Reshape: 5).
Status drop_consumed_inputs(Context& ctx, ir::Node& node);
// Legacy broadcast=1/axis of the binary ops before 7 -> numpy broadcasting.
Status check_legacy_broadcast(const Context& ctx, const ir::Node& node);
Status apply_legacy_broadcast(Context& ctx, ir::Node& node);
Status drop_gemm_broadcast(Context& ctx, ir::Node& node);
// Attributes that became inputs.
Status axes_to_input(Context& ctx, ir::Node& node);      // Squeeze/Unsqueeze/Reduce*
Status split_to_input(Context& ctx, ir::Node& node);     // Split-13
Status split_num_outputs(Context& ctx, ir::Node& node);  // Split-18
Status check_split_v1(const Context& ctx, const ir::Node& node);
Status check_slice_10(const Context& ctx, const ir::Node& node);
Status slice_to_inputs(Context& ctx, ir::Node& node);  // Slice-10
Status check_topk_10(const Context& ctx, const ir::Node& node);
Status topk_to_input(Context& ctx, ir::Node& node);     // TopK-10
Status reshape_to_input(Context& ctx, ir::Node& node);  // Reshape-5
Status check_clip_11(const Context& ctx, const ir::Node& node);
Status clip_to_inputs(Context& ctx, ir::Node& node);       // Clip-11
Status pad_rename_paddings(Context& ctx, ir::Node& node);  // Pad-2
Status check_pad_11(const Context& ctx, const ir::Node& node);
Status pad_to_inputs(Context& ctx, ir::Node& node);         // Pad-11
Status dropout_drop_is_test(Context& ctx, ir::Node& node);  // Dropout-7
Status check_dropout_10(const Context& ctx, const ir::Node& node);
Status dropout_mask_bool(Context& ctx, ir::Node& node);       // Dropout-10
Status dropout_ratio_to_input(Context& ctx, ir::Node& node);  // Dropout-12
// Softmax/LogSoftmax/Hardmax-13: single-axis semantics.
Status softmax_single_axis(Context& ctx, ir::Node& node);
// BatchNormalization: is_test (7), spatial (9), training outputs (14).
Status check_batchnorm_7(const Context& ctx, const ir::Node& node);
Status batchnorm_drop_is_test(Context& ctx, ir::Node& node);
Status check_batchnorm_9(const Context& ctx, const ir::Node& node);
Status batchnorm_drop_spatial(Context& ctx, ir::Node& node);
Status check_batchnorm_14(const Context& ctx, const ir::Node& node);
Status batchnorm_training_mode(Context& ctx, ir::Node& node);
// Smaller ones.
Status selu_old_defaults(Context& ctx, ir::Node& node);    // Selu-6
Status concat_default_axis(Context& ctx, ir::Node& node);  // Concat-4
Status check_cast_6(const Context& ctx, const ir::Node& node);
Status cast_to_enum(Context& ctx, ir::Node& node);  // Cast-6
Status check_lp_pool_2(const Context& ctx, const ir::Node& node);
Status lp_pool_int_p(Context& ctx, ir::Node& node);             // LpPool/GlobalLpPool-2
Status rnn_drop_output_sequence(Context& ctx, ir::Node& node);  // RNN/GRU/LSTM-7
Status check_prelu_7(const Context& ctx, const ir::Node& node);
Status prelu_channel_slope(Context& ctx, ir::Node& node);          // PRelu-7
Status roi_align_output_half_pixel(Context& ctx, ir::Node& node);  // RoiAlign-16
Status grid_sample_mode_names(Context& ctx, ir::Node& node);       // GridSample-20
Status dft_axis_to_input(Context& ctx, ir::Node& node);            // DFT-20
Status check_group_norm_21(const Context& ctx, const ir::Node& node);
Status group_norm_per_channel(Context& ctx, ir::Node& node);  // GroupNormalization-21

}  // namespace mixq::passes::upgrade
