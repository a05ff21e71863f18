// Shape functions for the matrix-product ops.
// ONNX Operators.md: MatMul-1/9/13 (numpy.matmul: a 1-D operand is promoted to a matrix and the
// added dim removed again, batch dims broadcast), Gemm-1/6/7/9/11/13 (transA/transB; C
// unidirectionally broadcast to [M, N]: before 7 only with `broadcast` = 1, optional since 11),
// Einsum-12 (explicit and implicit output, `...` broadcast), MatMulInteger-10 (int32 result),
// QLinearMatMul-10/21 (result type is y_zero_point's).
#include <algorithm>
#include <map>
#include <string>

#include "mixq/ir/op_schema.h"

namespace mixq::ir {
namespace {

bool known_mismatch(const Dim& a, const Dim& b) {
  return a.is_known() && b.is_known() && a.value() != b.value();
}

// numpy.matmul on inputs `ia` and `ib`; nullopt when either rank is unknown.
Expected<std::optional<Shape>> matmul_shape(const InferContext& ctx, size_t ia, size_t ib) {
  const Shape* a = ctx.input_shape(ia);
  const Shape* b = ctx.input_shape(ib);
  if (a == nullptr || b == nullptr) return std::optional<Shape>();
  if (a->empty() || b->empty()) {
    return ctx.fail("operands must have rank >= 1, got ", shape_to_string(*a), " and ",
                    shape_to_string(*b));
  }
  Shape sa = *a;
  Shape sb = *b;
  const bool a_vector = sa.size() == 1;
  const bool b_vector = sb.size() == 1;
  if (a_vector) sa.insert(sa.begin(), Dim::known(1));
  if (b_vector) sb.push_back(Dim::known(1));
  if (known_mismatch(sa.back(), sb[sb.size() - 2])) {
    return ctx.fail("inner dims differ: A ", shape_to_string(*a), ", B ", shape_to_string(*b));
  }
  MIXQ_ASSIGN_OR_RETURN(Shape out, broadcast_shapes(ctx, Shape(sa.begin(), sa.end() - 2),
                                                    Shape(sb.begin(), sb.end() - 2)));
  if (!a_vector) out.push_back(sa[sa.size() - 2]);
  if (!b_vector) out.push_back(sb.back());
  return std::optional<Shape>(std::move(out));
}

Status infer_matmul(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(auto shape, matmul_shape(ctx, 0, 1));
  ctx.set_output(0, first_known_dtype(ctx, 0, 2), std::move(shape));
  return Status::ok_status();
}

// MatMulInteger(A, B, a_zero_point, b_zero_point): int32 accumulators.
Status infer_matmul_integer(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(auto shape, matmul_shape(ctx, 0, 1));
  ctx.set_output(0, DType::kInt32, std::move(shape));
  return Status::ok_status();
}

// QLinearMatMul(a, a_scale, a_zp, b, b_scale, b_zp, y_scale, y_zp).
Status infer_qlinear_matmul(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(auto shape, matmul_shape(ctx, 0, 3));
  ctx.set_output(0, ctx.input_dtype(7), std::move(shape));
  return Status::ok_status();
}

// C must reach [M, N] by unidirectional broadcasting (Gemm-7+, or `broadcast` = 1 before), or
// have exactly that shape (Gemm-1/6 with `broadcast` = 0).
Status check_gemm_c(const InferContext& ctx, const Shape& c, const Shape& mn, bool broadcast) {
  if (!broadcast) {
    if (c.size() != 2 || known_mismatch(c[0], mn[0]) || known_mismatch(c[1], mn[1])) {
      return ctx.fail("C has shape ", shape_to_string(c), ", expected ", shape_to_string(mn),
                      " (attribute broadcast is 0)");
    }
    return Status::ok_status();
  }
  if (c.size() > 2) {
    return ctx.fail("C has rank ", c.size(), ", must broadcast to ", shape_to_string(mn));
  }
  for (size_t k = 0; k < c.size(); ++k) {
    const Dim& d = c[k];
    const Dim& target = mn[2 - c.size() + k];
    if (d.is_known() && d.value() != 1 && known_mismatch(d, target)) {
      return ctx.fail("C has shape ", shape_to_string(c), ", cannot broadcast to ",
                      shape_to_string(mn));
    }
  }
  return Status::ok_status();
}

Status infer_gemm(InferContext& ctx) {
  MIXQ_ASSIGN_OR_RETURN(int64_t trans_a, ctx.attr_int("transA", 0));
  MIXQ_ASSIGN_OR_RETURN(int64_t trans_b, ctx.attr_int("transB", 0));
  // C became optional in Gemm-11.
  if (ctx.opset() < 11 && !ctx.has_input(2)) return ctx.fail("input C is required before opset 11");
  const Shape* a = ctx.input_shape(0);
  const Shape* b = ctx.input_shape(1);
  if (a && a->size() != 2) return ctx.fail("A must be 2-D, got ", shape_to_string(*a));
  if (b && b->size() != 2) return ctx.fail("B must be 2-D, got ", shape_to_string(*b));
  const Dim m = a ? (*a)[trans_a ? 1 : 0] : Dim();
  const Dim ka = a ? (*a)[trans_a ? 0 : 1] : Dim();
  const Dim n = b ? (*b)[trans_b ? 0 : 1] : Dim();
  const Dim kb = b ? (*b)[trans_b ? 1 : 0] : Dim();
  if (known_mismatch(ka, kb)) {
    return ctx.fail("inner dims differ: A ", shape_to_string(*a), " (transA=", trans_a, "), B ",
                    shape_to_string(*b), " (transB=", trans_b, ")");
  }
  Shape out{m, n};
  if (const Shape* c = ctx.input_shape(2)) {
    bool broadcast = true;
    if (ctx.opset() < 7) {
      MIXQ_ASSIGN_OR_RETURN(int64_t attr, ctx.attr_int("broadcast", 0));
      broadcast = attr != 0;
    }
    MIXQ_RETURN_IF_ERROR(check_gemm_c(ctx, *c, out, broadcast));
  }
  ctx.set_output(0, first_known_dtype(ctx, 0, 2), std::move(out));
  return Status::ok_status();
}

// --- Einsum ---------------------------------------------------------------------------------

// One term of an equation: its labels in order, with '.' standing for the ellipsis.
using EinsumTerm = std::string;

// The term as written in the equation, for messages.
std::string term_text(const EinsumTerm& term) {
  std::string out;
  for (char c : term) out += c == '.' ? std::string("...") : std::string(1, c);
  return out;
}

Expected<EinsumTerm> parse_einsum_term(const InferContext& ctx, std::string_view text) {
  EinsumTerm term;
  bool ellipsis = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      if (ellipsis || text.substr(i, 3) != "...") {
        return ctx.fail("equation term '", text, "' has a malformed or repeated ellipsis");
      }
      ellipsis = true;
      term.push_back('.');
      i += 2;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      term.push_back(c);
    } else {
      return ctx.fail("equation term '", text, "' has invalid character '", c, "'");
    }
  }
  return term;
}

// Two sizes of one label. A size 1 broadcasts (as numpy and ONNX Runtime allow); any other
// known sizes must agree.
Expected<Dim> merge_label_dim(const InferContext& ctx, char label, const Dim& a, const Dim& b) {
  const bool a1 = a.is_known() && a.value() == 1;
  const bool b1 = b.is_known() && b.value() == 1;
  if (a1) return b;
  if (b1) return a;
  if (known_mismatch(a, b)) {
    return ctx.fail("label '", label, "' has sizes ", a.value(), " and ", b.value());
  }
  if (a.is_known() || same_size(a, b)) return a;
  if (b.is_known()) return b;
  return Dim();
}

Status infer_einsum(InferContext& ctx) {
  const DType dtype = first_known_dtype(ctx);
  if (ctx.node().attr("equation") == nullptr) {
    return ctx.fail("required attribute 'equation' is missing");
  }
  MIXQ_ASSIGN_OR_RETURN(std::string eq, ctx.attr_string("equation", ""));
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  const size_t arrow = eq.find("->");
  const bool explicit_output = arrow != std::string::npos;
  const std::string lhs = explicit_output ? eq.substr(0, arrow) : eq;

  std::vector<EinsumTerm> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    MIXQ_ASSIGN_OR_RETURN(EinsumTerm t, parse_einsum_term(ctx, lhs.substr(start, comma - start)));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ctx.num_inputs()) {
    return ctx.fail("equation '", eq, "' has ", terms.size(), " input terms for ", ctx.num_inputs(),
                    " inputs");
  }

  std::map<char, Dim> label_dims;
  std::map<char, int> label_count;
  bool any_ellipsis = false;
  bool ellipsis_known = true;  // false when an input with an ellipsis has unknown rank
  Shape ellipsis_dims;
  for (size_t i = 0; i < terms.size(); ++i) {
    const EinsumTerm& term = terms[i];
    const bool has_ellipsis = term.find('.') != std::string::npos;
    const size_t n_labels = term.size() - (has_ellipsis ? 1 : 0);
    any_ellipsis |= has_ellipsis;
    for (char c : term) {
      if (c != '.') ++label_count[c];
    }
    const Shape* s = ctx.input_shape(i);
    if (s == nullptr) {
      if (has_ellipsis) ellipsis_known = false;
      for (char c : term) {
        if (c != '.' && !label_dims.count(c)) label_dims[c] = Dim();
      }
      continue;
    }
    if (has_ellipsis ? s->size() < n_labels : s->size() != n_labels) {
      return ctx.fail("equation term '", term_text(term), "' does not match input ", i,
                      " of shape ", shape_to_string(*s));
    }
    const size_t ellipsis_rank = s->size() - n_labels;
    size_t pos = 0;
    for (char c : term) {
      if (c == '.') {
        const Shape part(s->begin() + static_cast<std::ptrdiff_t>(pos),
                         s->begin() + static_cast<std::ptrdiff_t>(pos + ellipsis_rank));
        MIXQ_ASSIGN_OR_RETURN(ellipsis_dims, broadcast_shapes(ctx, ellipsis_dims, part));
        pos += ellipsis_rank;
        continue;
      }
      const Dim& d = (*s)[pos++];
      auto it = label_dims.find(c);
      if (it == label_dims.end()) {
        label_dims[c] = d;
      } else {
        MIXQ_ASSIGN_OR_RETURN(it->second, merge_label_dim(ctx, c, it->second, d));
      }
    }
  }

  EinsumTerm output;
  if (explicit_output) {
    MIXQ_ASSIGN_OR_RETURN(output, parse_einsum_term(ctx, std::string_view(eq).substr(arrow + 2)));
    for (size_t k = 0; k < output.size(); ++k) {
      const char c = output[k];
      if (c == '.') continue;
      if (!label_count.count(c)) {
        return ctx.fail("output label '", c, "' does not appear in the inputs");
      }
      if (output.find(c, k + 1) != std::string::npos) {
        return ctx.fail("output label '", c, "' appears twice");
      }
    }
  } else {
    // Implicit mode: ellipsis dims first, then the labels used exactly once in ASCII order
    // (std::map iterates in that order).
    if (any_ellipsis) output.push_back('.');
    for (const auto& [c, n] : label_count) {
      if (n == 1) output.push_back(c);
    }
  }

  Shape out;
  for (char c : output) {
    if (c == '.') {
      if (!ellipsis_known) {
        ctx.set_output(0, dtype, std::nullopt);
        return Status::ok_status();
      }
      out.insert(out.end(), ellipsis_dims.begin(), ellipsis_dims.end());
    } else {
      out.push_back(label_dims[c]);
    }
  }
  ctx.set_output(0, dtype, std::move(out));
  return Status::ok_status();
}

}  // namespace

void register_math_schemas(std::vector<OpSchema>& out) {
  // MatMul-1/9/13 differ only in types; Gemm-1..13 branch on ctx.opset() for `broadcast` and
  // the optional C.
  out.push_back({"", "MatMul", 1, infer_matmul});
  out.push_back({"", "Gemm", 1, infer_gemm});
  out.push_back({"", "Einsum", 12, infer_einsum});
  out.push_back({"", "MatMulInteger", 10, infer_matmul_integer});
  out.push_back({"", "QLinearMatMul", 10, infer_qlinear_matmul});
}

}  // namespace mixq::ir
