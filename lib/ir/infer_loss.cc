// Shape functions for the losses.
// ONNX Operators.md / Changelog.md: NegativeLogLikelihoodLoss-12/13, SoftmaxCrossEntropyLoss-12/13.
// input/scores [N, C, d1..dk], target/labels [N, d1..dk]: the loss is [N, d1..dk] with reduction
// "none" and a scalar otherwise; SoftmaxCrossEntropyLoss's optional log_prob has the scores'
// shape. Every output has the input's dtype.
#include "mixq/ir/op_schema.h"

namespace mixq::ir {
namespace {

bool known_mismatch(const Dim& a, const Dim& b) {
  return a.is_known() && b.is_known() && a.value() != b.value();
}

Status infer_loss(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(std::string reduction, ctx.attr_string("reduction", "mean"));
  if (reduction != "none" && reduction != "sum" && reduction != "mean") {
    return ctx.fail("reduction is '", reduction, "', expected none, sum or mean");
  }
  const DType dtype = ctx.input_dtype(0);
  const Shape* x = ctx.input_shape(0);
  const Shape* t = ctx.input_shape(1);
  if (x && x->size() < 2) {
    return ctx.fail("input has shape ", shape_to_string(*x), ", needs [N, C, ...]");
  }
  std::optional<Shape> loss;
  if (x) {
    loss = *x;
    loss->erase(loss->begin() + 1);
  }
  if (t) {
    if (loss && loss->size() != t->size()) {
      return ctx.fail("target has shape ", shape_to_string(*t), ", input ", shape_to_string(*x));
    }
    if (!loss) loss = *t;
    for (size_t k = 0; k < t->size(); ++k) {
      if (known_mismatch((*loss)[k], (*t)[k])) {
        return ctx.fail("target has shape ", shape_to_string(*t), ", input ", shape_to_string(*x));
      }
      if (!(*loss)[k].is_known()) (*loss)[k] = (*t)[k];
    }
  }
  ctx.set_output(0, dtype, reduction == "none" ? loss : std::optional<Shape>(Shape{}));
  if (ctx.has_output(1)) ctx.set_output(1, dtype, ctx.input_shape_opt(0));
  return Status::ok_status();
}

}  // namespace

void register_loss_schemas(std::vector<OpSchema>& out) {
  out.push_back({"", "NegativeLogLikelihoodLoss", 12, infer_loss});
  out.push_back({"", "SoftmaxCrossEntropyLoss", 12, infer_loss});
}

}  // namespace mixq::ir
