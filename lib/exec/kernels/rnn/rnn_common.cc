#include "kernels/rnn/rnn_common.h"

#include <algorithm>
#include <cctype>

#include "kernels/gemm.h"

namespace mixq::exec {
namespace {

std::string lower(std::string s) {
  for (char& ch : s) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  return s;
}

// Default alpha and beta of each activation (those of the ONNX ops of the same name; Affine
// and ScaledTanh, which have no op, default to the identity scale).
struct ActInfo {
  const char* name;
  ActKind kind;
  bool uses_alpha;
  bool uses_beta;
  double alpha;
  double beta;
};
constexpr ActInfo kActs[] = {
    {"relu", ActKind::kRelu, false, false, 0.0, 0.0},
    {"tanh", ActKind::kTanh, false, false, 0.0, 0.0},
    {"sigmoid", ActKind::kSigmoid, false, false, 0.0, 0.0},
    {"affine", ActKind::kAffine, true, true, 1.0, 0.0},
    {"leakyrelu", ActKind::kLeakyRelu, true, false, 0.01, 0.0},
    {"thresholdedrelu", ActKind::kThresholdedRelu, true, false, 1.0, 0.0},
    {"scaledtanh", ActKind::kScaledTanh, true, true, 1.0, 1.0},
    {"hardsigmoid", ActKind::kHardSigmoid, true, true, 0.2, 0.5},
    {"elu", ActKind::kElu, true, false, 1.0, 0.0},
    {"softsign", ActKind::kSoftsign, false, false, 0.0, 0.0},
    {"softplus", ActKind::kSoftplus, false, false, 0.0, 0.0},
};

const ActInfo* act_info(ActKind k) {
  for (const ActInfo& a : kActs) {
    if (a.kind == k) return &a;
  }
  return nullptr;
}

// activations / activation_alpha / activation_beta: the alpha and beta lists are consumed in
// order by the activations that take them.
Status read_activations(const KernelContext& ctx, RnnShape& s,
                        const std::vector<ActKind>& defaults) {
  const size_t per_dir = defaults.size();
  std::vector<const ActInfo*> infos;
  const ir::Attribute* a = ctx.node().attr("activations");
  if (a != nullptr && a->type == ir::AttrType::kStrings && !a->strings.empty()) {
    for (const std::string& name : a->strings) {
      const std::string l = lower(name);
      const ActInfo* found = nullptr;
      for (const ActInfo& info : kActs) {
        if (l == info.name) found = &info;
      }
      if (found == nullptr) return ctx.fail("unknown activation '", name, "'");
      infos.push_back(found);
    }
  } else {
    for (ActKind k : defaults) infos.push_back(act_info(k));
  }
  if (infos.size() == per_dir && s.dirs == 2) {
    infos.insert(infos.end(), infos.begin(), infos.end());  // same functions both ways
  }
  if (infos.size() != per_dir * static_cast<size_t>(s.dirs)) {
    return ctx.fail("has ", infos.size(), " activations, expected ", per_dir, " per direction (",
                    s.dirs, " direction", s.dirs == 2 ? "s" : "", ")");
  }
  MIXQ_ASSIGN_OR_RETURN(auto alphas, ctx.node().attr_floats("activation_alpha"));
  MIXQ_ASSIGN_OR_RETURN(auto betas, ctx.node().attr_floats("activation_beta"));
  size_t ia = 0, ib = 0;
  for (const ActInfo* info : infos) {
    Activation act{info->kind, info->alpha, info->beta};
    if (info->uses_alpha && alphas && ia < alphas->size()) act.alpha = (*alphas)[ia++];
    if (info->uses_beta && betas && ib < betas->size()) act.beta = (*betas)[ib++];
    s.acts.push_back(act);
  }
  return Status::ok_status();
}

Status expect_dims(const KernelContext& ctx, size_t i, const char* name,
                   const std::vector<int64_t>& want) {
  const ir::Tensor& t = ctx.input(i);
  if (t.dims() != want) {
    return ctx.fail(name, " has shape ", ir::dims_to_string(t.dims()), ", expected ",
                    ir::dims_to_string(want));
  }
  if (t.dtype() != ctx.input(0).dtype()) {
    return ctx.fail(name, " is ", dtype_name(t.dtype()), ", X is ",
                    dtype_name(ctx.input(0).dtype()));
  }
  return Status::ok_status();
}

}  // namespace

Expected<RnnShape> read_rnn_shape(const KernelContext& ctx, int64_t gates,
                                  const std::vector<ActKind>& default_acts) {
  RnnShape s;
  s.gates = gates;
  const ir::Tensor& x = ctx.input(0);
  if (x.rank() != 3) {
    return ctx.fail("X has shape ", ir::dims_to_string(x.dims()), ", expected rank 3");
  }
  if (!ctx.has_input(1) || !ctx.has_input(2)) return ctx.fail("needs the W and R inputs");
  const size_t max_outputs = gates == 4 ? 3 : 2;
  if (ctx.num_outputs() > max_outputs) {
    return ctx.fail("has ", ctx.num_outputs(), " outputs, at most ", max_outputs);
  }
  MIXQ_ASSIGN_OR_RETURN(std::string direction, ctx.node().attr_string("direction", "forward"));
  if (direction == "forward" || direction == "reverse") {
    s.dirs = 1;
    s.reverse = {direction == "reverse"};
  } else if (direction == "bidirectional") {
    s.dirs = 2;
    s.reverse = {false, true};
  } else {
    return ctx.fail("direction is '", direction, "', expected forward, reverse or bidirectional");
  }
  MIXQ_ASSIGN_OR_RETURN(int64_t layout, ctx.node().attr_int("layout", 0));
  if (layout != 0 && layout != 1) return ctx.fail("layout is ", layout, ", expected 0 or 1");
  s.layout_batch_first = layout == 1;
  s.seq = x.dims()[s.layout_batch_first ? 1 : 0];
  s.batch = x.dims()[s.layout_batch_first ? 0 : 1];
  s.input = x.dims()[2];

  const ir::Tensor& r = ctx.input(2);
  if (r.rank() != 3) {
    return ctx.fail("R has shape ", ir::dims_to_string(r.dims()), ", expected rank 3");
  }
  s.hidden = r.dims()[2];
  if (ctx.node().attr("hidden_size") != nullptr) {
    MIXQ_ASSIGN_OR_RETURN(int64_t hs, ctx.node().attr_int("hidden_size", 0));
    if (hs != s.hidden) {
      return ctx.fail("hidden_size is ", hs, " but R has shape ", ir::dims_to_string(r.dims()));
    }
  }
  const int64_t gh = gates * s.hidden;
  MIXQ_RETURN_IF_ERROR(expect_dims(ctx, 1, "W", {s.dirs, gh, s.input}));
  MIXQ_RETURN_IF_ERROR(expect_dims(ctx, 2, "R", {s.dirs, gh, s.hidden}));
  if (ctx.has_input(3)) MIXQ_RETURN_IF_ERROR(expect_dims(ctx, 3, "B", {s.dirs, 2 * gh}));
  const std::vector<int64_t> state_dims = s.layout_batch_first
                                              ? std::vector<int64_t>{s.batch, s.dirs, s.hidden}
                                              : std::vector<int64_t>{s.dirs, s.batch, s.hidden};
  if (ctx.has_input(5)) MIXQ_RETURN_IF_ERROR(expect_dims(ctx, 5, "initial_h", state_dims));
  if (gates == 4) {
    if (ctx.has_input(6)) MIXQ_RETURN_IF_ERROR(expect_dims(ctx, 6, "initial_c", state_dims));
    if (ctx.has_input(7)) MIXQ_RETURN_IF_ERROR(expect_dims(ctx, 7, "P", {s.dirs, 3 * s.hidden}));
  }

  s.lens.assign(static_cast<size_t>(s.batch), s.seq);
  if (ctx.has_input(4)) {
    const ir::Tensor& sl = ctx.input(4);
    if ((sl.dtype() != DType::kInt32 && sl.dtype() != DType::kInt64) ||
        sl.dims() != std::vector<int64_t>{s.batch}) {
      return ctx.fail("sequence_lens is ", dtype_name(sl.dtype()), ir::dims_to_string(sl.dims()),
                      ", expected int32[", s.batch, "]");
    }
    for (int64_t b = 0; b < s.batch; ++b) {
      const int64_t l =
          sl.dtype() == DType::kInt32 ? int64_t{sl.data<int32_t>()[b]} : sl.data<int64_t>()[b];
      if (l < 0 || l > s.seq) {
        return ctx.fail("sequence_lens[", b, "] is ", l, ", expected 0..", s.seq);
      }
      s.lens[static_cast<size_t>(b)] = l;
    }
  }
  if (ctx.node().attr("clip") != nullptr) {
    MIXQ_ASSIGN_OR_RETURN(float clip, ctx.node().attr_float("clip", 0.0f));
    if (!(clip > 0.0f)) return ctx.fail("clip is ", clip, ", must be positive");
    s.clip = clip;
  }
  MIXQ_RETURN_IF_ERROR(read_activations(ctx, s, default_acts));
  return s;
}

template <typename T>
std::vector<T> project_inputs(ThreadPool& pool, const RnnShape& s, const T* x, const T* w_d,
                              const T* bias) {
  const int64_t rows = s.seq * s.batch;
  const int64_t gh = s.gates * s.hidden;
  std::vector<T> out(static_cast<size_t>(rows * gh));
  gemm<T>(&pool, rows, gh, s.input, T(1), x, s.input, false, w_d, s.input, true, T(0), out.data(),
          gh);
  if (bias != nullptr) {
    T* o = out.data();
    pool.parallel_for(rows, ThreadPool::grain_for(rows, std::max<int64_t>(1, 16384 / gh)),
                      [&](int64_t b, int64_t e) {
                        for (int64_t r = b; r < e; ++r) {
                          for (int64_t j = 0; j < gh; ++j) o[r * gh + j] += bias[j];
                        }
                      });
  }
  return out;
}

template <typename S>
Status write_rnn_outputs(KernelContext& ctx, const RnnShape& s,
                         const std::vector<DirectionResult<Compute<S>>>& dirs, bool with_c) {
  const DType dtype = ctx.input(0).dtype();
  const int64_t H = s.hidden, B = s.batch, D = s.dirs, L = s.seq;
  const bool bf = s.layout_batch_first;
  auto copy_row = [](const Compute<S>* src, S* dst, int64_t n) {
    for (int64_t j = 0; j < n; ++j) dst[j] = store<S>(src[j]);
  };
  if (ctx.has_output(0)) {
    const std::vector<int64_t> dims =
        bf ? std::vector<int64_t>{B, L, D, H} : std::vector<int64_t>{L, D, B, H};
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(0, dtype, dims));
    S* out = y->mutable_data<S>();
    for (int64_t d = 0; d < D; ++d) {
      for (int64_t t = 0; t < L; ++t) {
        for (int64_t b = 0; b < B; ++b) {
          const int64_t at = bf ? ((b * L + t) * D + d) * H : ((t * D + d) * B + b) * H;
          copy_row(dirs[static_cast<size_t>(d)].y.data() + (t * B + b) * H, out + at, H);
        }
      }
    }
  }
  const std::vector<int64_t> state_dims =
      bf ? std::vector<int64_t>{B, D, H} : std::vector<int64_t>{D, B, H};
  for (size_t o = 1; o <= (with_c ? 2u : 1u); ++o) {
    if (!ctx.has_output(o)) continue;
    MIXQ_ASSIGN_OR_RETURN(ir::Tensor * y, ctx.output(o, dtype, state_dims));
    S* out = y->mutable_data<S>();
    for (int64_t d = 0; d < D; ++d) {
      const auto& src = o == 1 ? dirs[static_cast<size_t>(d)].h : dirs[static_cast<size_t>(d)].c;
      for (int64_t b = 0; b < B; ++b) {
        S* dst = out + (bf ? (b * D + d) : (d * B + b)) * H;
        if (s.lens[static_cast<size_t>(b)] == 0) {
          std::fill(dst, dst + H, store<S>(Compute<S>(0)));
        } else {
          copy_row(src.data() + b * H, dst, H);
        }
      }
    }
  }
  return Status::ok_status();
}

template std::vector<float> project_inputs<float>(ThreadPool&, const RnnShape&, const float*,
                                                  const float*, const float*);
template std::vector<double> project_inputs<double>(ThreadPool&, const RnnShape&, const double*,
                                                    const double*, const double*);
template Status write_rnn_outputs<float>(KernelContext&, const RnnShape&,
                                         const std::vector<DirectionResult<float>>&, bool);
template Status write_rnn_outputs<double>(KernelContext&, const RnnShape&,
                                          const std::vector<DirectionResult<double>>&, bool);
template Status write_rnn_outputs<Float16>(KernelContext&, const RnnShape&,
                                           const std::vector<DirectionResult<float>>&, bool);
template Status write_rnn_outputs<BFloat16>(KernelContext&, const RnnShape&,
                                            const std::vector<DirectionResult<float>>&, bool);

}  // namespace mixq::exec
