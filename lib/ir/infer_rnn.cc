// Shape functions for the recurrent layers.
// ONNX Operators.md / Changelog.md: RNN-1/7/14, GRU-1/3/7/14, LSTM-1/7/14.
// With S = seq_length, B = batch_size, D = num_directions (2 for bidirectional), H = hidden_size
// (the attribute, else R's last dim):
//   layout 0: X [S, B, I], Y [S, D, B, H], Y_h = Y_c = [D, B, H]
//   layout 1: X [B, S, I], Y [B, S, D, H], Y_h = Y_c = [B, D, H]
// Every output has X's dtype.
#include "mixq/ir/op_schema.h"

namespace mixq::ir {
namespace {

bool known_mismatch(const Dim& a, const Dim& b) {
  return a.is_known() && b.is_known() && a.value() != b.value();
}

Status infer_recurrent(InferContext& ctx) {
  const size_t max_outputs = ctx.node().op_type() == "LSTM" ? 3 : 2;  // Y, Y_h (, Y_c)
  if (ctx.num_outputs() > max_outputs) {
    return ctx.fail("has ", ctx.num_outputs(), " outputs, at most ", max_outputs);
  }
  MIXQ_ASSIGN_OR_RETURN(std::string direction, ctx.attr_string("direction", "forward"));
  int64_t dirs = 1;
  if (direction == "bidirectional") {
    dirs = 2;
  } else if (direction != "forward" && direction != "reverse") {
    return ctx.fail("direction is '", direction, "', expected forward, reverse or bidirectional");
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t layout, ctx.attr_int("layout", 0));
  if (layout != 0 && layout != 1) return ctx.fail("layout is ", layout, ", expected 0 or 1");
  const bool batch_first = layout == 1;

  Dim seq, batch, hidden;
  if (const Shape* x = ctx.input_shape(0)) {
    if (x->size() != 3) return ctx.fail("X has shape ", shape_to_string(*x), ", expected rank 3");
    seq = (*x)[batch_first ? 1 : 0];
    batch = (*x)[batch_first ? 0 : 1];
  }
  if (const Shape* r = ctx.input_shape(2); r && r->size() == 3) {
    hidden = (*r)[2];
    if (known_mismatch((*r)[0], Dim::known(dirs))) {
      return ctx.fail("R has shape ", shape_to_string(*r), " for ", dirs, " direction(s)");
    }
  }
  if (ctx.node().attr("hidden_size") != nullptr) {
    MIXQ_ASSIGN_OR_RETURN(int64_t hs, ctx.attr_int("hidden_size", 0));
    if (known_mismatch(hidden, Dim::known(hs))) {
      return ctx.fail("hidden_size is ", hs, " but R has hidden size ", hidden.to_string());
    }
    hidden = Dim::known(hs);
  }
  const DType dtype = ctx.input_dtype(0);
  const Dim d = Dim::known(dirs);
  if (ctx.has_output(0)) {
    ctx.set_output(0, dtype,
                   batch_first ? Shape{batch, seq, d, hidden} : Shape{seq, d, batch, hidden});
  }
  for (size_t o = 1; o < ctx.num_outputs(); ++o) {
    if (ctx.has_output(o)) {
      ctx.set_output(o, dtype, batch_first ? Shape{batch, d, hidden} : Shape{d, batch, hidden});
    }
  }
  return Status::ok_status();
}

}  // namespace

void register_rnn_schemas(std::vector<OpSchema>& out) {
  out.push_back({"", "RNN", 1, infer_recurrent});
  out.push_back({"", "GRU", 1, infer_recurrent});
  out.push_back({"", "LSTM", 1, infer_recurrent});
}

}  // namespace mixq::ir
