// The ONNX backend test cases of Debian's libonnx-testdata, run on mixq's CPU executor.
//
// Every case (model.onnx + test_data_set_*/{input,output}_N.pb) runs in a forked child with a
// time limit, so a crash or hang is one failed case. Outputs are compared with the recorded ones
// (floating types: |got - want| <= 1e-5 + 1e-3 * |want|, NaN matching NaN; everything else
// exactly). skip_list.txt names cases not run, each with its reason.
//
// The test fails when a case listed in passing.txt (the baseline) no longer passes, or when the
// pass rates fall below the targets: 97% of the cases whose ops are all in the executor's op
// list, 85% of all cases. Run with MIXQ_CONFORMANCE_UPDATE=1 to rewrite passing.txt.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "mixq/exec/executor.h"
#include "mixq/ir/walk.h"
#include "mixq/onnx/model_io.h"
#include "test_support.h"

namespace mixq {
namespace {

// The op list of the executor issue: cases using only these ops count toward the 97% target.
const std::set<std::string> kListedOps = {"Add",
                                          "Sub",
                                          "Mul",
                                          "Div",
                                          "Pow",
                                          "Sqrt",
                                          "Exp",
                                          "Log",
                                          "Neg",
                                          "Abs",
                                          "Reciprocal",
                                          "Erf",
                                          "Tanh",
                                          "Sigmoid",
                                          "Relu",
                                          "LeakyRelu",
                                          "PRelu",
                                          "Elu",
                                          "Selu",
                                          "HardSigmoid",
                                          "HardSwish",
                                          "Softplus",
                                          "Softsign",
                                          "Clip",
                                          "Min",
                                          "Max",
                                          "Sum",
                                          "Mean",
                                          "Floor",
                                          "Ceil",
                                          "Round",
                                          "Sign",
                                          "Sin",
                                          "Cos",
                                          "Mod",
                                          "IsNaN",
                                          "IsInf",
                                          "MatMul",
                                          "Gemm",
                                          "Softmax",
                                          "LogSoftmax",
                                          "Gelu",
                                          "CumSum",
                                          "Einsum",
                                          "Conv",
                                          "ConvTranspose",
                                          "BatchNormalization",
                                          "InstanceNormalization",
                                          "LayerNormalization",
                                          "GroupNormalization",
                                          "MaxPool",
                                          "AveragePool",
                                          "GlobalAveragePool",
                                          "GlobalMaxPool",
                                          "LpNormalization",
                                          "Dropout",
                                          "Resize",
                                          "Pad",
                                          "DepthToSpace",
                                          "SpaceToDepth",
                                          "ReduceMean",
                                          "ReduceSum",
                                          "ReduceMax",
                                          "ReduceMin",
                                          "ReduceProd",
                                          "ReduceL1",
                                          "ReduceL2",
                                          "ReduceSumSquare",
                                          "ReduceLogSumExp",
                                          "ArgMax",
                                          "ArgMin",
                                          "TopK",
                                          "Shape",
                                          "Size",
                                          "Reshape",
                                          "Flatten",
                                          "Squeeze",
                                          "Unsqueeze",
                                          "Transpose",
                                          "Concat",
                                          "Split",
                                          "Slice",
                                          "Gather",
                                          "GatherElements",
                                          "GatherND",
                                          "ScatterND",
                                          "ScatterElements",
                                          "Expand",
                                          "Tile",
                                          "Where",
                                          "Equal",
                                          "Less",
                                          "LessOrEqual",
                                          "Greater",
                                          "GreaterOrEqual",
                                          "Not",
                                          "And",
                                          "Or",
                                          "Xor",
                                          "Cast",
                                          "CastLike",
                                          "Constant",
                                          "ConstantOfShape",
                                          "Identity",
                                          "Range",
                                          "Trilu",
                                          "NonZero",
                                          "OneHot",
                                          "QuantizeLinear",
                                          "DequantizeLinear"};

enum class Outcome : char {
  kPass = 'P',
  kFail = 'F',
  kUnsupported = 'U',
  kCrash = 'C',
  kSkip = 'S'
};

struct CaseResult {
  std::string name;
  std::string suite;
  Outcome outcome = Outcome::kFail;
  std::string detail;
  bool listed = false;
};

std::filesystem::path conformance_dir() {
  return std::filesystem::path(MIXQ_SOURCE_DIR) / "tests" / "conformance";
}

// "pattern<whitespace>reason" lines; a pattern ending in '*' matches by prefix.
std::vector<std::pair<std::string, std::string>> read_skip_list() {
  std::vector<std::pair<std::string, std::string>> out;
  std::ifstream in(conformance_dir() / "skip_list.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream s(line);
    std::string pattern, reason;
    s >> pattern;
    std::getline(s, reason);
    reason.erase(0, reason.find_first_not_of(" \t"));
    out.emplace_back(pattern, reason);
  }
  return out;
}

std::set<std::string> read_baseline() {
  std::set<std::string> out;
  std::ifstream in(conformance_dir() / "passing.txt");
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line[0] != '#') out.insert(line);
  }
  return out;
}

bool matches(const std::string& pattern, const std::string& name) {
  if (!pattern.empty() && pattern.back() == '*') {
    return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  }
  return pattern == name;
}

// "" when equal; else a description of the first difference.
std::string compare_tensors(const ir::Tensor& got, const ir::Tensor& want) {
  // ONNX 1.12's test data records bfloat16 outputs as uint16 tensors with the same bits.
  const bool bf16_quirk = got.dtype() == DType::kBFloat16 && want.dtype() == DType::kUint16;
  if (got.dtype() != want.dtype() && !bf16_quirk) {
    return str_cat("dtype ", dtype_name(got.dtype()), ", want ", dtype_name(want.dtype()));
  }
  if (got.dims() != want.dims()) {
    return str_cat("shape ", ir::dims_to_string(got.dims()), ", want ",
                   ir::dims_to_string(want.dims()));
  }
  if (got.dtype() == DType::kString) {
    for (size_t i = 0; i < got.strings().size(); ++i) {
      if (got.strings()[i] != want.strings()[i]) return str_cat("string ", i, " differs");
    }
    return "";
  }
  const int64_t n = got.numel();
  if (dtype_is_float(got.dtype())) {
    for (int64_t i = 0; i < n; ++i) {
      const double g = got.element_as_double(i);
      const double w = want.element_as_double(i);
      if (std::isnan(w) && std::isnan(g)) continue;
      if (std::isinf(w) && g == w) continue;
      if (!(std::fabs(g - w) <= 1e-5 + 1e-3 * std::fabs(w))) {
        return str_cat("element ", i, " is ", g, ", want ", w);
      }
    }
    return "";
  }
  if (got.nbytes() != want.nbytes() || std::memcmp(got.raw_data(), want.raw_data(), got.nbytes())) {
    for (int64_t i = 0; i < n; ++i) {
      if (got.element_as_int64(i) != want.element_as_int64(i)) {
        return str_cat("element ", i, " is ", got.element_as_int64(i), ", want ",
                       want.element_as_int64(i));
      }
    }
    return "bytes differ";
  }
  return "";
}

// Runs one case in this process: outcome and detail.
std::pair<Outcome, std::string> run_case(const std::filesystem::path& model_path) {
  auto model = onnx::load_model(model_path);
  if (!model.ok()) return {Outcome::kFail, "load: " + model.status().to_string()};
  exec::ExecOptions opts;
  opts.threads = 2;
  auto ex = exec::Executor::create(**model, opts);
  if (!ex.ok()) {
    const bool unsup = ex.status().code() == StatusCode::kUnsupported;
    return {unsup ? Outcome::kUnsupported : Outcome::kFail, ex.status().to_string()};
  }
  int sets = 0;
  for (int s = 0;; ++s) {
    const auto dir = model_path.parent_path() / ("test_data_set_" + std::to_string(s));
    if (!std::filesystem::is_directory(dir)) break;
    ++sets;
    exec::NamedTensors feeds;
    size_t k = 0;
    for (const ir::Value* v : (*model)->graph().inputs()) {
      if ((*model)->is_constant_initializer(v)) continue;
      const auto file = dir / ("input_" + std::to_string(k++) + ".pb");
      if (!std::filesystem::exists(file)) continue;  // an optional input left out
      auto t = onnx::load_tensor_file(file);
      if (!t.ok()) return {Outcome::kFail, "input: " + t.status().to_string()};
      // ONNX 1.12's test data stores bfloat16 tensors as uint16 with the same bits.
      if (t->dtype() == DType::kUint16 && v->type().dtype == DType::kBFloat16) {
        auto bf = ir::Tensor::from_buffer(DType::kBFloat16, t->dims(), t->buffer());
        if (!bf.ok()) return {Outcome::kFail, "input: " + bf.status().to_string()};
        t = std::move(bf).value();
      }
      feeds.emplace_back(v->name(), std::move(t).value());
    }
    auto outs = (*ex)->run(feeds);
    if (!outs.ok()) {
      const bool unsup = outs.status().code() == StatusCode::kUnsupported;
      return {unsup ? Outcome::kUnsupported : Outcome::kFail, outs.status().to_string()};
    }
    for (size_t o = 0; o < outs->size(); ++o) {
      const auto file = dir / ("output_" + std::to_string(o) + ".pb");
      auto want = onnx::load_tensor_file(file);
      if (!want.ok()) return {Outcome::kFail, "expected output: " + want.status().to_string()};
      const std::string diff = compare_tensors((*outs)[o], *want);
      if (!diff.empty()) {
        return {Outcome::kFail, str_cat("set ", s, " output ", o, " ('",
                                        (*ex)->outputs()[o]->name(), "'): ", diff)};
      }
    }
  }
  if (sets == 0) return {Outcome::kFail, "no test_data_set"};
  return {Outcome::kPass, ""};
}

// Runs one case in a child process with a time limit.
std::pair<Outcome, std::string> run_case_isolated(const std::filesystem::path& model_path) {
  int fds[2];
  if (pipe(fds) != 0) return {Outcome::kCrash, "pipe failed"};
  const pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    alarm(120);
    auto [outcome, detail] = run_case(model_path);
    std::string msg(1, static_cast<char>(outcome));
    msg += detail.substr(0, 2000);
    ssize_t unused = write(fds[1], msg.data(), msg.size());
    (void)unused;
    close(fds[1]);
    _exit(0);
  }
  close(fds[1]);
  std::string msg;
  char buf[4096];
  ssize_t n;
  while ((n = read(fds[0], buf, sizeof buf)) > 0) msg.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (msg.empty()) {
    if (WIFSIGNALED(status)) {
      return {Outcome::kCrash, str_cat("killed by signal ", WTERMSIG(status),
                                       WTERMSIG(status) == SIGALRM ? " (timeout)" : "")};
    }
    return {Outcome::kCrash, "no result"};
  }
  return {static_cast<Outcome>(msg[0]), msg.substr(1)};
}

bool only_listed_ops(const ir::Model& model) {
  bool ok = true;
  ir::for_each_graph(model.graph(), [&](const ir::Graph& g) {
    for (const auto& n : g.nodes()) ok &= n->is_onnx_domain() && kListedOps.count(n->op_type());
  });
  return ok;
}

TEST(Conformance, OnnxBackendTestData) {
  const auto models = testing::testdata_models();
  ASSERT_GT(models.size(), 1000u);
  const auto skips = read_skip_list();
  const std::set<std::string> baseline = read_baseline();
  std::vector<CaseResult> results;
  for (const auto& path : models) {
    CaseResult r;
    r.name = testing::testdata_case_name(path);
    r.suite = r.name.substr(0, r.name.find('/'));
    if (auto m = onnx::load_model(path); m.ok()) r.listed = only_listed_ops(**m);
    std::string skip_reason;
    for (const auto& [pattern, reason] : skips) {
      if (matches(pattern, r.name)) skip_reason = reason;
    }
    if (!skip_reason.empty()) {
      r.outcome = Outcome::kSkip;
      r.detail = skip_reason;
    } else {
      std::tie(r.outcome, r.detail) = run_case_isolated(path);
    }
    results.push_back(std::move(r));
  }

  struct Tally {
    int total = 0, pass = 0, fail = 0, unsupported = 0, crash = 0, skip = 0;
  };
  std::map<std::string, Tally> by_suite;
  Tally all, listed;
  for (const auto& r : results) {
    // The listed-ops target counts the cases that run (the 786 exclude the skipped).
    const bool in_listed = r.listed && r.outcome != Outcome::kSkip;
    for (Tally* t : {&by_suite[r.suite], &all, in_listed ? &listed : nullptr}) {
      if (!t) continue;
      ++t->total;
      switch (r.outcome) {
        case Outcome::kPass:
          ++t->pass;
          break;
        case Outcome::kFail:
          ++t->fail;
          break;
        case Outcome::kUnsupported:
          ++t->unsupported;
          break;
        case Outcome::kCrash:
          ++t->crash;
          break;
        case Outcome::kSkip:
          ++t->skip;
          break;
      }
    }
  }
  auto row = [](const std::string& label, const Tally& t) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "%-22s %6d %6d %6d %6d %6d %6d   %5.1f%%\n", label.c_str(),
                  t.total, t.pass, t.fail, t.unsupported, t.crash, t.skip,
                  t.total ? 100.0 * t.pass / t.total : 0.0);
    return std::string(buf);
  };
  std::string table = "suite                   cases   pass   fail  unsup  crash   skip   passed\n";
  for (const auto& [suite, t] : by_suite) table += row(suite, t);
  table += row("all", all) + row("ops in executor list", listed);
  std::cout << "\n" << table << "\n";
  for (const auto& r : results) {
    if (r.outcome == Outcome::kFail || r.outcome == Outcome::kCrash ||
        r.outcome == Outcome::kUnsupported) {
      std::cout << static_cast<char>(r.outcome) << " " << r.name << ": " << r.detail.substr(0, 300)
                << "\n";
    }
  }

  if (std::getenv("MIXQ_CONFORMANCE_UPDATE")) {
    std::ofstream out(conformance_dir() / "passing.txt");
    out << "# Cases that pass; the conformance test fails if one stops passing.\n"
        << "# Regenerate with MIXQ_CONFORMANCE_UPDATE=1 after making more cases pass.\n";
    for (const auto& r : results) {
      if (r.outcome == Outcome::kPass) out << r.name << "\n";
    }
  }
  for (const auto& r : results) {
    if (baseline.count(r.name) && r.outcome != Outcome::kPass) {
      ADD_FAILURE() << "regression: " << r.name << " passed before: " << r.detail;
    }
  }
  EXPECT_GE(listed.pass, 0.97 * listed.total) << "fewer than 97% of the cases with listed ops pass";
  EXPECT_GE(all.pass, 0.85 * all.total) << "fewer than 85% of all cases pass";
}

}  // namespace
}  // namespace mixq
