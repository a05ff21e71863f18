// ONNX Runtime as the oracle: mixq's CPU executor and ONNX Runtime (pinned in
// tests/requirements.txt, in the .venv that `tools/dev.sh test` creates) run the same models on
// the same seeded inputs, and every output must agree: relative L2 error <= 1e-4 for floating
// outputs (positions where both are NaN agree), exact equality otherwise.
//
// Models: every pytorch-converted and pytorch-operator model of Debian's libonnx-testdata that
// ONNX Runtime runs (random inputs of the declared shapes), and every samples/*/model.onnx (on its
// eval.npz when present, else random inputs).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <functional>

#include "mixq/calibration/data/batcher.h"
#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/dataset_run.h"
#include "mixq/calibration/data/npz_writer.h"
#include "mixq/calibration/data/random_inputs.h"
#include "mixq/exec/executor.h"
#include "mixq/onnx/model_io.h"
#include "test_support.h"

namespace mixq {
namespace {

struct Case {
  std::string name;
  std::filesystem::path model;
  std::unique_ptr<ir::Model> loaded;
  std::unique_ptr<exec::Executor> ex;
  std::vector<calib::Feeds> runs;  // inputs of each run
  std::string error;               // mixq could not prepare or run it
};

// Relative L2 distance of two float tensors; NaN positions must coincide.
std::string compare(const ir::Tensor& got, const ir::Tensor& want, const std::string& name) {
  if (got.dtype() != want.dtype() || got.dims() != want.dims()) {
    return str_cat(name, ": mixq ", dtype_name(got.dtype()), ir::dims_to_string(got.dims()),
                   ", ORT ", dtype_name(want.dtype()), ir::dims_to_string(want.dims()));
  }
  const int64_t n = got.numel();
  if (!dtype_is_float(got.dtype())) {
    for (int64_t i = 0; i < n; ++i) {
      if (got.element_as_int64(i) != want.element_as_int64(i)) {
        return str_cat(name, ": element ", i, " is ", got.element_as_int64(i), ", ORT has ",
                       want.element_as_int64(i));
      }
    }
    return "";
  }
  double diff = 0, norm = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double g = got.element_as_double(i);
    const double w = want.element_as_double(i);
    if (std::isnan(g) || std::isnan(w)) {
      if (std::isnan(g) != std::isnan(w)) return str_cat(name, ": NaN at ", i, " in one only");
      continue;
    }
    if (std::isinf(g) || std::isinf(w)) {
      if (g != w) return str_cat(name, ": element ", i, " is ", g, ", ORT has ", w);
      continue;
    }
    diff += (g - w) * (g - w);
    norm += w * w;
  }
  const double rel = norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff);
  if (!(rel <= 1e-4)) return str_cat(name, ": relative L2 error ", rel, " > 1e-4");
  return "";
}

std::vector<std::filesystem::path> oracle_models() {
  std::vector<std::filesystem::path> out;
  for (const auto& m : testing::testdata_models()) {
    const std::string suite = m.parent_path().parent_path().filename().string();
    if (suite == "pytorch-converted" || suite == "pytorch-operator") out.push_back(m);
  }
  const auto samples = std::filesystem::path(MIXQ_SOURCE_DIR) / "samples";
  for (const auto& e : std::filesystem::directory_iterator(samples)) {
    if (std::filesystem::exists(e.path() / "model.onnx")) out.push_back(e.path() / "model.onnx");
  }
  return out;
}

TEST(Oracle, MixqAgreesWithOnnxRuntime) {
  const std::filesystem::path python = MIXQ_PYTHON;
  ASSERT_TRUE(std::filesystem::exists(python))
      << "the test Python (" << python << ") is missing: run tools/dev.sh test, which creates "
      << ".venv with the pinned packages of tests/requirements.txt";
  testing::TempDir dir;
  std::vector<Case> cases;
  std::ofstream manifest(dir / "manifest.tsv");
  size_t job = 0;
  for (const auto& path : oracle_models()) {
    Case c;
    c.model = path;
    c.name = path.parent_path().filename().string();
    auto model = onnx::load_model(path);
    if (!model.ok()) {
      c.error = model.status().to_string();
      cases.push_back(std::move(c));
      continue;
    }
    c.loaded = std::move(model).value();
    exec::ExecOptions opts;
    opts.threads = 2;
    auto ex = exec::Executor::create(*c.loaded, opts);
    if (!ex.ok()) {
      c.error = ex.status().to_string();
    } else {
      c.ex = std::move(ex).value();
      const auto eval = path.parent_path() / "eval.npz";
      if (std::filesystem::exists(eval)) {
        auto data = calib::DataSource::open(eval);
        auto batcher = data.ok() ? calib::Batcher::create(**data, calib::input_specs(*c.ex))
                                 : Expected<calib::Batcher>(data.status());
        if (!batcher.ok()) {
          c.error = batcher.status().to_string();
        } else {
          for (int64_t i = 0; i < batcher->num_runs() && c.error.empty(); ++i) {
            auto feeds = batcher->run(i);
            if (feeds.ok()) {
              c.runs.push_back(std::move(feeds).value());
            } else {
              c.error = feeds.status().to_string();
            }
          }
        }
      } else {
        std::map<std::string, int64_t> dims;  // symbolic dims of random inputs: 2
        for (const ir::Value* v : c.ex->inputs()) {
          if (v->type().shape) {
            for (const ir::Dim& d : *v->type().shape) {
              if (d.is_symbolic()) dims[d.to_string()] = 2;
            }
          }
        }
        const auto seed = static_cast<uint32_t>(std::hash<std::string>{}(c.name));
        // Integers in [0, 3]: valid indices even for the smallest lookup tables of the suite.
        auto feeds = calib::random_inputs(calib::input_specs(*c.ex), dims, seed, 3);
        if (feeds.ok()) {
          c.runs.push_back(std::move(feeds).value());
        } else {
          c.error = feeds.status().to_string();
        }
      }
    }
    for (size_t r = 0; r < c.runs.size(); ++r, ++job) {
      const auto in = dir / ("in" + std::to_string(job) + ".npz");
      auto w = calib::NpzWriter::create(in);
      ASSERT_TRUE(w.ok());
      for (const auto& [name, t] : c.runs[r]) ASSERT_TRUE((*w)->add(name, t).ok());
      ASSERT_TRUE((*w)->commit().ok());
      manifest << path.string() << "\t" << in.string() << "\t"
               << (dir / ("out" + std::to_string(job) + ".npz")).string() << "\n";
    }
    cases.push_back(std::move(c));
  }
  manifest.close();
  const std::string cmd = "'" + python.string() + "' '" + MIXQ_SOURCE_DIR +
                          "/tests/oracle/ort_run.py' '" + (dir / "manifest.tsv").string() + "'";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << "ONNX Runtime runner failed: " << cmd;

  int compared = 0, ort_refused = 0, failures = 0, samples = 0;
  job = 0;
  for (auto& c : cases) {
    if (!c.error.empty() && c.runs.empty()) {
      ADD_FAILURE() << c.name << ": mixq cannot prepare the model: " << c.error;
      ++failures;
      continue;
    }
    bool ok = true, refused = false;
    for (size_t r = 0; r < c.runs.size(); ++r, ++job) {
      const auto out = dir / ("out" + std::to_string(job) + ".npz");
      if (std::filesystem::exists(out.string() + ".err")) {
        refused = true;
        std::cout << "ORT cannot run " << c.name << ": "
                  << testing::read_bytes(out.string() + ".err") << "\n";
        continue;
      }
      auto got = c.ex->run(c.runs[r]);
      if (!got.ok()) {
        ADD_FAILURE() << c.name
                      << ": mixq failed where ONNX Runtime ran: " << got.status().to_string();
        ok = false;
        continue;
      }
      auto want = calib::DataSource::open(out);
      ASSERT_TRUE(want.ok()) << want.status().to_string();
      for (size_t o = 0; o < got->size(); ++o) {
        const std::string name = c.ex->outputs()[o]->name();
        calib::ArrayReader* a = (*want)->find(name);
        if (a == nullptr) {
          ADD_FAILURE() << c.name << ": ORT produced no output '" << name << "'";
          ok = false;
          continue;
        }
        auto w = a->read_all();
        ASSERT_TRUE(w.ok()) << w.status().to_string();
        const std::string diff = compare((*got)[o], *w, name);
        if (!diff.empty()) {
          ADD_FAILURE() << c.name << " run " << r << ": " << diff;
          ok = false;
        }
      }
    }
    const bool is_sample = c.model.parent_path().parent_path().filename() == "samples";
    samples += is_sample;
    if (refused && is_sample) {
      ADD_FAILURE() << "samples/" << c.name << ": ONNX Runtime must run every bundled sample";
      ++failures;
    } else if (refused) {
      ++ort_refused;
    } else {
      compared += ok;
      failures += !ok;
    }
  }
  std::cout << cases.size() << " models: " << compared << " agree with ONNX Runtime, " << failures
            << " disagree or fail, " << ort_refused << " ONNX Runtime cannot run\n";
  // ONNX Runtime 1.30 no longer implements the opset <= 6 versions of several ops used by 34 of
  // the pytorch-converted models; the rest, and every sample, must all be compared.
  EXPECT_GE(samples, 3) << "samples/ has fewer models than the three bundled ones";
  EXPECT_GE(compared, 83 + samples) << "too few models compared";
}

}  // namespace
}  // namespace mixq
