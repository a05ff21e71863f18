// Models written by `mixq convert` against the reference tools: for every sample and precision
// the latest ONNX checker (PyPI onnx, full_check) accepts the file, and ONNX Runtime loads and
// runs it and agrees with mixq's executor on the quantized model. ORT is run with graph
// optimizations off (the graph as written) and at `basic`; INT8 and FP16 also at `extended`.
// FP8 is not run at `extended`: ONNX Runtime 1.30 fuses FP8 Q/DQ around MatMul and pooling into
// integer kernels that refuse float8 inputs (an ORT limitation, recorded in docs/convert.md).
//
// Agreement (relative L2 of the first output): 2e-3 with optimizations off, except tinygpt.
// Two correct executors that differ in the last bits of a float (Erf, LayerNorm, accumulation
// order) put an activation on different sides of a quantization step now and then; the step
// propagates. On tinygpt's four blocks the first such flip is 1 value in 1M at the first block's
// GELU and the output differs by 1.5e-3 (INT8) and 4.5e-3 (FP8): bound 1e-2; digits_mobile INT8
// reaches 1.08e-3. ORT's `basic` and `extended` rewrites change its float numerics
// (digits_mobile: 1.2e-2 from the same flips): bound 2e-2 there. Measured values are in
// docs/convert.md.
#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace mixq {
namespace {

using testing::run_mixq;
using testing::TempDir;

TEST(ConvertOracle, OnnxCheckerAndOnnxRuntimeAcceptEveryConvertedSample) {
  const std::filesystem::path python = MIXQ_PYTHON;
  if (!std::filesystem::exists(python)) {
    GTEST_SKIP() << "no " << python << " (tools/dev.sh test creates the .venv)";
  }
  TempDir dir;
  for (const std::string name : {"digits_cnn", "digits_mobile", "tinygpt"}) {
    for (const std::string p : {"fp8", "int8", "fp16"}) {
      const std::string tag = name + "_" + p;
      const auto out = dir / (tag + ".onnx");
      auto r = run_mixq({"convert", testing::sample_file(name, "model.onnx"), "--data",
                         testing::sample_file(name, "calib.npz"), "--eval",
                         testing::sample_file(name, "eval.npz"), "--precision", p, "-o",
                         out.string(), "--quiet"});
      ASSERT_EQ(r.exit_code, 0) << tag << ": " << r.err;
      const auto ours = dir / (tag + "_mixq.npz");
      r = run_mixq({"run", out.string(), "--data", testing::sample_file(name, "eval.npz"), "-o",
                    ours.string()});
      ASSERT_EQ(r.exit_code, 0) << tag << ": " << r.err;
      const std::string levels = p == "fp8" ? "disable_all,basic" : "disable_all,basic,extended";
      const auto result = dir / (tag + ".json");
      const std::string cmd = "'" + python.string() + "' '" + MIXQ_SOURCE_DIR +
                              "/tests/oracle/convert_check.py' '" + out.string() + "' '" +
                              testing::sample_file(name, "eval.npz") + "' '" + ours.string() +
                              "' " + levels + " '" + result.string() + "'";
      ASSERT_EQ(std::system(cmd.c_str()), 0) << cmd;
      const auto j = nlohmann::json::parse(testing::read_bytes(result));
      EXPECT_EQ(j["checker"], "ok") << tag;
      for (const auto& [level, v] : j["levels"].items()) {
        ASSERT_TRUE(v.is_number()) << tag << " at " << level << ": " << v;
        const double bound = level != "disable_all" ? 2e-2 : (name == "tinygpt" ? 1e-2 : 2e-3);
        EXPECT_LE(v.get<double>(), bound) << tag << " at " << level;
        std::cout << tag << " " << level << " rel L2 " << v.get<double>() << "\n";
      }
    }
  }
}

}  // namespace
}  // namespace mixq
