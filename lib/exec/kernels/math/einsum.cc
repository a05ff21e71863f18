// ONNX Einsum-12: Einstein summation over any number of operands, e.g. "bhqd,bhkd->bhqk".
// Supports explicit and implicit outputs (implicit: the ellipsis dims, then the labels used
// once, in ASCII order), "..." broadcasting, repeated labels within one term (diagonals,
// "ii->i"), and size-1 dims broadcasting against a label's size. Each operand is reduced to
// its distinct labels (diagonal), labels nobody else needs are summed out early, and operands
// are contracted left to right as batched GEMMs on the shared blocked GEMM after transposes
// (skipped, or folded into the GEMM's transpose flags, when the layout already fits).
// float16/bfloat16 are computed in float32, 8/16-bit integers in 64 bits (wrapping, so the
// stored result equals what the narrow type would give).
#include <algorithm>
#include <array>
#include <string>

#include "kernels/common.h"
#include "kernels/gemm.h"
#include "kernels/math/math_kernels.h"

namespace mixq::exec {
namespace {

// Labels: a letter is its ASCII code; ellipsis dim k (of the broadcast ellipsis rank) is
// kEllipsis + k.
constexpr int kEllipsis = 128;
constexpr int kMaxLabels = 256;
using LabelSet = std::array<bool, kMaxLabels>;

struct Equation {
  std::vector<std::vector<int>> inputs;  // per input, one label per dim
  std::vector<int> output;
  std::array<int64_t, kMaxLabels> size{};  // the label's size after broadcasting
};

// A term's letters, and where its "..." stands among them (-1: none).
struct Term {
  std::string letters;
  int ellipsis_at = -1;
};

Expected<Term> parse_term(const KernelContext& ctx, std::string_view text) {
  Term t;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '.') {
      if (t.ellipsis_at >= 0 || text.substr(i, 3) != "...") {
        return ctx.fail("equation term '", text, "' has a malformed or repeated ellipsis");
      }
      t.ellipsis_at = static_cast<int>(t.letters.size());
      i += 2;
    } else if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) {
      t.letters.push_back(c);
    } else {
      return ctx.fail("equation term '", text, "' has invalid character '", c, "'");
    }
  }
  return t;
}

std::string label_name(int l) {
  return l >= kEllipsis ? std::string("...") : std::string(1, static_cast<char>(l));
}

std::vector<int> expand(const Term& t, int ellipsis_rank, int max_rank) {
  std::vector<int> labels;
  for (int i = 0; i <= static_cast<int>(t.letters.size()); ++i) {
    if (i == t.ellipsis_at) {
      for (int k = 0; k < ellipsis_rank; ++k)
        labels.push_back(kEllipsis + max_rank - ellipsis_rank + k);
    }
    if (i < static_cast<int>(t.letters.size()))
      labels.push_back(static_cast<unsigned char>(t.letters[static_cast<size_t>(i)]));
  }
  return labels;
}

Expected<Equation> parse_equation(const KernelContext& ctx) {
  if (ctx.node().attr("equation") == nullptr) {
    return ctx.fail("required attribute 'equation' is missing");
  }
  MIXQ_ASSIGN_OR_RETURN(std::string eq, ctx.node().attr_string("equation", ""));
  eq.erase(std::remove(eq.begin(), eq.end(), ' '), eq.end());
  const size_t arrow = eq.find("->");
  const std::string lhs = arrow == std::string::npos ? eq : eq.substr(0, arrow);
  std::vector<Term> terms;
  for (size_t start = 0;;) {
    const size_t comma = lhs.find(',', start);
    MIXQ_ASSIGN_OR_RETURN(Term t,
                          parse_term(ctx, std::string_view(lhs).substr(start, comma - start)));
    terms.push_back(std::move(t));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (terms.size() != ctx.num_inputs()) {
    return ctx.fail("equation '", eq, "' has ", terms.size(), " input terms for ", ctx.num_inputs(),
                    " inputs");
  }
  // The ellipsis covers the dims the letters leave; ranks broadcast right-aligned.
  std::vector<int> ellipsis_rank(terms.size(), 0);
  int max_rank = 0;
  for (size_t i = 0; i < terms.size(); ++i) {
    const auto rank = static_cast<int>(ctx.input(i).rank());
    const auto letters = static_cast<int>(terms[i].letters.size());
    if (terms[i].ellipsis_at >= 0 ? rank < letters : rank != letters) {
      return ctx.fail("equation term ", i, " has ", letters, " labels",
                      terms[i].ellipsis_at >= 0 ? " and '...'" : "", " for input ", i, " of shape ",
                      ir::dims_to_string(ctx.input(i).dims()));
    }
    if (terms[i].ellipsis_at >= 0) ellipsis_rank[i] = rank - letters;
    max_rank = std::max(max_rank, ellipsis_rank[i]);
  }
  if (max_rank > kMaxLabels - kEllipsis) {
    return ctx.fail("'...' stands for ", max_rank, " dims, at most ", kMaxLabels - kEllipsis,
                    " are supported");
  }
  Equation e;
  e.size.fill(-1);
  std::array<int, kMaxLabels> count{};
  for (size_t i = 0; i < terms.size(); ++i) {
    e.inputs.push_back(expand(terms[i], ellipsis_rank[i], max_rank));
    const auto& dims = ctx.input(i).dims();
    for (size_t p = 0; p < dims.size(); ++p) {
      const int l = e.inputs[i][p];
      ++count[static_cast<size_t>(l)];
      int64_t& s = e.size[static_cast<size_t>(l)];
      if (s == -1 || s == 1) {
        s = dims[p];
      } else if (dims[p] != 1 && dims[p] != s) {
        return ctx.fail("label '", label_name(l), "' has sizes ", s, " and ", dims[p]);
      }
    }
  }
  if (arrow != std::string::npos) {
    MIXQ_ASSIGN_OR_RETURN(Term out, parse_term(ctx, std::string_view(eq).substr(arrow + 2)));
    e.output = expand(out, max_rank, max_rank);
    LabelSet seen{};
    for (int l : e.output) {
      if (l < kEllipsis && count[static_cast<size_t>(l)] == 0) {
        return ctx.fail("output label '", static_cast<char>(l), "' does not appear in the inputs");
      }
      if (seen[static_cast<size_t>(l)]) {
        return ctx.fail("output label '", static_cast<char>(l), "' appears twice");
      }
      seen[static_cast<size_t>(l)] = true;
    }
  } else {
    bool any_ellipsis = false;
    for (const Term& t : terms) any_ellipsis |= t.ellipsis_at >= 0;
    if (any_ellipsis) {
      for (int k = 0; k < max_rank; ++k) e.output.push_back(kEllipsis + k);
    }
    for (int l = 0; l < kEllipsis; ++l) {
      if (count[static_cast<size_t>(l)] == 1) e.output.push_back(l);
    }
  }
  return e;
}

// --- Operands in the compute type T --------------------------------------------------------

// An operand: its data (borrowed from the input tensor or owned), dims and one label per dim.
template <typename T>
struct Operand {
  std::vector<T> own;
  const T* data = nullptr;
  std::vector<int64_t> dims;
  std::vector<int> labels;

  void adopt(std::vector<T>&& v) {
    own = std::move(v);
    data = own.data();
  }
};

// out[idx] = in[sum_k idx_k * in_strides[k]] over out_dims: transposes and diagonals.
template <typename T>
std::vector<T> strided_copy(ThreadPool& pool, const T* in, const std::vector<int64_t>& out_dims,
                            const std::vector<int64_t>& in_strides) {
  int64_t numel = 1;
  for (int64_t d : out_dims) numel *= d;
  std::vector<T> out(static_cast<size_t>(numel));
  if (numel == 0) return out;
  if (out_dims.empty()) {
    out[0] = in[0];
    return out;
  }
  const size_t r = out_dims.size();
  const int64_t inner = out_dims[r - 1];
  const int64_t step = in_strides[r - 1];
  const int64_t rows = numel / inner;
  pool.parallel_for(rows, ThreadPool::grain_for(rows, std::max<int64_t>(1, 16384 / inner)),
                    [&](int64_t b, int64_t e) {
                      for (int64_t row = b; row < e; ++row) {
                        int64_t off = 0;
                        for (size_t k = r - 1, rem = static_cast<size_t>(row); k-- > 0;) {
                          const auto d = static_cast<size_t>(out_dims[k]);
                          off += static_cast<int64_t>(rem % d) * in_strides[k];
                          rem /= d;
                        }
                        T* dst = out.data() + row * inner;
                        const T* src = in + off;
                        if (step == 1) {
                          std::copy(src, src + inner, dst);
                        } else {
                          for (int64_t i = 0; i < inner; ++i) dst[i] = src[i * step];
                        }
                      }
                    });
  return out;
}

// Repeated labels become their diagonal, then size-1 dims are dropped: such a dim broadcasts
// against its label's size, or the label has size 1 everywhere and only the output's shape
// (which comes from the label sizes) still shows it.
template <typename T>
Status distinct_labels(const KernelContext& ctx, ThreadPool& pool, Operand<T>& op) {
  const std::vector<int64_t> strides = strides_of(op.dims);
  std::vector<int64_t> dims, in_strides;
  std::vector<int> labels;
  for (size_t p = 0; p < op.dims.size(); ++p) {
    const auto it = std::find(labels.begin(), labels.end(), op.labels[p]);
    if (it == labels.end()) {
      labels.push_back(op.labels[p]);
      dims.push_back(op.dims[p]);
      in_strides.push_back(strides[p]);
      continue;
    }
    const auto q = static_cast<size_t>(it - labels.begin());
    if (dims[q] != op.dims[p]) {
      return ctx.fail("label '", label_name(op.labels[p]), "' repeats with sizes ", dims[q],
                      " and ", op.dims[p]);
    }
    in_strides[q] += strides[p];  // walking the diagonal steps along both dims at once
  }
  if (labels.size() != op.labels.size()) op.adopt(strided_copy(pool, op.data, dims, in_strides));
  op.dims.clear();
  op.labels.clear();
  for (size_t q = 0; q < dims.size(); ++q) {
    if (dims[q] == 1) continue;
    op.dims.push_back(dims[q]);
    op.labels.push_back(labels[q]);
  }
  return Status::ok_status();
}

// Sums out every label of `op` not in `keep`.
template <typename T>
void reduce_labels(ThreadPool& pool, Operand<T>& op, const LabelSet& keep) {
  for (size_t p = op.labels.size(); p-- > 0;) {
    if (keep[static_cast<size_t>(op.labels[p])]) continue;
    int64_t outer = 1, inner = 1;
    for (size_t k = 0; k < p; ++k) outer *= op.dims[k];
    for (size_t k = p + 1; k < op.dims.size(); ++k) inner *= op.dims[k];
    const int64_t len = op.dims[p];
    std::vector<T> out(static_cast<size_t>(outer * inner), T(0));
    const T* in = op.data;
    pool.parallel_for(outer,
                      ThreadPool::grain_for(
                          outer, std::max<int64_t>(1, 16384 / std::max<int64_t>(1, len * inner))),
                      [&](int64_t b, int64_t e) {
                        for (int64_t o = b; o < e; ++o) {
                          T* dst = out.data() + o * inner;
                          for (int64_t j = 0; j < len; ++j) {
                            const T* src = in + (o * len + j) * inner;
                            for (int64_t i = 0; i < inner; ++i) dst[i] += src[i];
                          }
                        }
                      });
    op.adopt(std::move(out));
    op.dims.erase(op.dims.begin() + static_cast<std::ptrdiff_t>(p));
    op.labels.erase(op.labels.begin() + static_cast<std::ptrdiff_t>(p));
  }
}

// Reorders op's dims to `order` (a permutation of its labels); no copy when already in order.
template <typename T>
void permute_to(ThreadPool& pool, Operand<T>& op, const std::vector<int>& order) {
  if (order == op.labels) return;
  const std::vector<int64_t> strides = strides_of(op.dims);
  std::vector<int64_t> dims, in_strides;
  for (int l : order) {
    const auto p =
        static_cast<size_t>(std::find(op.labels.begin(), op.labels.end(), l) - op.labels.begin());
    dims.push_back(op.dims[p]);
    in_strides.push_back(strides[p]);
  }
  op.adopt(strided_copy(pool, op.data, dims, in_strides));
  op.dims = std::move(dims);
  op.labels = order;
}

std::vector<int> concat(std::initializer_list<const std::vector<int>*> parts) {
  std::vector<int> out;
  for (const auto* p : parts) out.insert(out.end(), p->begin(), p->end());
  return out;
}

// a x b summed over their common labels not in `keep`; common labels in `keep` are batch dims.
// When the result's labels come out as `final_order`, it is written straight to `dst` (the
// output tensor) when that is given, saving a copy of the largest tensor of the op.
template <typename T>
Operand<T> contract(ThreadPool& pool, Operand<T>& a, Operand<T>& b, const LabelSet& keep,
                    const Equation& eq, const std::vector<int>& final_order, T* dst) {
  LabelSet in_a{}, in_b{};
  for (int l : a.labels) in_a[static_cast<size_t>(l)] = true;
  for (int l : b.labels) in_b[static_cast<size_t>(l)] = true;
  std::vector<int> batch, a_only, summed, b_only;
  for (int l : a.labels) {
    if (!in_b[static_cast<size_t>(l)]) {
      a_only.push_back(l);
    } else if (keep[static_cast<size_t>(l)]) {
      batch.push_back(l);
    } else {
      summed.push_back(l);
    }
  }
  for (int l : b.labels) {
    if (!in_a[static_cast<size_t>(l)]) b_only.push_back(l);
  }
  // Layouts the GEMM reads directly: [batch, M, K] or [batch, K, M] for a; [batch, K, N] or
  // [batch, N, K] for b.
  bool trans_a = false, trans_b = false;
  if (a.labels == concat({&batch, &summed, &a_only}) && !a_only.empty() && !summed.empty()) {
    trans_a = true;
  } else {
    permute_to(pool, a, concat({&batch, &a_only, &summed}));
  }
  if (b.labels == concat({&batch, &b_only, &summed}) && !b_only.empty() && !summed.empty()) {
    trans_b = true;
  } else {
    permute_to(pool, b, concat({&batch, &summed, &b_only}));
  }
  auto product = [&](const std::vector<int>& labels) {
    int64_t n = 1;
    for (int l : labels) n *= eq.size[static_cast<size_t>(l)];
    return n;
  };
  const int64_t batches = product(batch), m = product(a_only), k = product(summed),
                n = product(b_only);
  Operand<T> out;
  out.labels = concat({&batch, &a_only, &b_only});
  for (int l : out.labels) out.dims.push_back(eq.size[static_cast<size_t>(l)]);
  const bool into_dst = dst != nullptr && out.labels == final_order;
  std::vector<T> own(into_dst ? 0 : static_cast<size_t>(batches * m * n));
  T* c = into_dst ? dst : own.data();
  const T* pa = a.data;
  const T* pb = b.data;
  const int64_t lda = trans_a ? m : k;
  const int64_t ldb = trans_b ? k : n;
  auto one = [&](ThreadPool* p, int64_t i) {
    gemm<T>(p, m, n, k, T(1), pa + i * m * k, lda, trans_a, pb + i * k * n, ldb, trans_b, T(0),
            c + i * m * n, n);
  };
  if (batches > 1 && m * n * k < (int64_t{1} << 20)) {
    // Many small products (attention heads): one whole product per chunk.
    pool.parallel_for(batches, ThreadPool::grain_for(batches, 1), [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) one(nullptr, i);
    });
  } else {
    for (int64_t i = 0; i < batches; ++i) one(&pool, i);
  }
  if (into_dst) {
    out.data = c;
  } else {
    out.adopt(std::move(own));
  }
  return out;
}

template <typename S, typename T>
Status einsum_typed(KernelContext& ctx, const Equation& eq, ir::Tensor& y) {
  ThreadPool& pool = ctx.pool();
  const size_t n_in = ctx.num_inputs();
  std::vector<Operand<T>> ops(n_in);
  for (size_t i = 0; i < n_in; ++i) {
    const ir::Tensor& t = ctx.input(i);
    Operand<T>& op = ops[i];
    op.dims = t.dims();
    op.labels = eq.inputs[i];
    if constexpr (std::is_same_v<S, T>) {
      op.data = t.data<T>();
    } else {
      std::vector<T> v(static_cast<size_t>(t.numel()));
      const S* p = t.data<S>();
      for (size_t k = 0; k < v.size(); ++k) v[k] = static_cast<T>(load(p[k]));
      op.adopt(std::move(v));
    }
    MIXQ_RETURN_IF_ERROR(distinct_labels(ctx, pool, op));
  }
  LabelSet in_output{};
  for (int l : eq.output) in_output[static_cast<size_t>(l)] = true;
  // needed_after[i]: labels of operands after i, and of the output.
  std::vector<LabelSet> needed_after(n_in, in_output);
  for (size_t i = n_in - 1; i-- > 0;) {
    needed_after[i] = needed_after[i + 1];
    for (int l : ops[i + 1].labels) needed_after[i][static_cast<size_t>(l)] = true;
  }
  // The output's labels that survive to the end (the others have size 1).
  LabelSet present{};
  for (const auto& op : ops) {
    for (int l : op.labels) present[static_cast<size_t>(l)] = true;
  }
  std::vector<int> order;
  for (int l : eq.output) {
    if (present[static_cast<size_t>(l)]) order.push_back(l);
  }
  S* py = y.mutable_data<S>();
  T* direct = nullptr;
  if constexpr (std::is_same_v<S, T>) direct = py;
  Operand<T> acc = std::move(ops[0]);
  for (size_t i = 1; i < n_in; ++i) {
    Operand<T>& b = ops[i];
    LabelSet keep_a = needed_after[i], keep_b = needed_after[i];
    for (int l : b.labels) keep_a[static_cast<size_t>(l)] = true;
    for (int l : acc.labels) keep_b[static_cast<size_t>(l)] = true;
    reduce_labels(pool, acc, keep_a);
    reduce_labels(pool, b, keep_b);
    acc = contract(pool, acc, b, needed_after[i], eq, order, i + 1 == n_in ? direct : nullptr);
  }
  reduce_labels(pool, acc, in_output);
  permute_to(pool, acc, order);
  if (static_cast<const void*>(acc.data) == static_cast<const void*>(py))
    return Status::ok_status();
  // Dims dropped along the way all have size 1, so acc's elements are y's in order.
  for (int64_t i = 0, n = y.numel(); i < n; ++i) {
    py[i] = store<S>(static_cast<Compute<S>>(acc.data[i]));
  }
  return Status::ok_status();
}

Status einsum(KernelContext& ctx) {
  if (ctx.num_inputs() == 0) return ctx.fail("needs at least one input");
  const DType dtype = ctx.input(0).dtype();
  for (size_t i = 1; i < ctx.num_inputs(); ++i) {
    if (ctx.input(i).dtype() != dtype) {
      return ctx.fail("input ", i, " is ", dtype_name(ctx.input(i).dtype()), ", input 0 is ",
                      dtype_name(dtype));
    }
  }
  MIXQ_ASSIGN_OR_RETURN(Equation eq, parse_equation(ctx));
  std::vector<int64_t> out_dims;
  for (int l : eq.output) out_dims.push_back(eq.size[static_cast<size_t>(l)]);
  MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, dtype, out_dims));
  // A label of size 0 empties the output or makes every sum empty.
  for (const auto& labels : eq.inputs) {
    for (int l : labels) {
      if (eq.size[static_cast<size_t>(l)] == 0) {
        std::fill(y->mutable_raw_data(), y->mutable_raw_data() + y->nbytes(), std::byte{0});
        return Status::ok_status();
      }
    }
  }
  return visit_dtype(dtype, [&](auto tag) -> Status {
    using S = decltype(tag);
    if constexpr (is_float_storage<S>()) {
      using T = std::conditional_t<std::is_same_v<S, double>, double, float>;
      return einsum_typed<S, T>(ctx, eq, *y);
    } else if constexpr (std::is_same_v<S, int32_t> || std::is_same_v<S, uint32_t>) {
      return einsum_typed<S, S>(ctx, eq, *y);
    } else if constexpr (std::is_same_v<S, bool>) {
      return ctx.fail("bool inputs are not supported");
    } else if constexpr (std::is_signed_v<S>) {
      return einsum_typed<S, int64_t>(ctx, eq, *y);
    } else {
      return einsum_typed<S, uint64_t>(ctx, eq, *y);
    }
  });
}

}  // namespace

void register_einsum_kernels(std::vector<KernelDef>& out) {
  out.push_back({"", "Einsum", 12, 21, types::kNumeric, 0, einsum});
}

}  // namespace mixq::exec
