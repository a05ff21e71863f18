// Shared helpers for mixq tests: test data locations, temporary folders, running the CLI.
#pragma once

#include <cstddef>
#include <filesystem>
#include <string>
#include <vector>

namespace mixq::testing {

// Debian's libonnx-testdata root (/usr/share/libonnx-testdata/data unless overridden at build
// time).
std::filesystem::path testdata_dir();

// A fixture committed under tests/data (written by tests/data/make_fixtures.py).
std::filesystem::path fixture(const std::string& name);

// A file of a bundled sample: samples/<sample>/<file> in the source tree.
std::string sample_file(const std::string& sample, const std::string& file);

// Every model.onnx under the test data suites (node, pytorch-converted, pytorch-operator,
// simple), sorted by path.
std::vector<std::filesystem::path> testdata_models();

// A fresh folder under the system temp folder, removed with its contents on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// How many files and folders are below `dir` (recursively): a refused command must not change it.
size_t files_in(const TempDir& dir);

// Writes bytes to a file (not atomic; for fixtures).
void write_bytes(const std::filesystem::path& path, const std::string& bytes);
std::string read_bytes(const std::filesystem::path& path);

// The test name for a test-data model: "node/test_abs".
std::string testdata_case_name(const std::filesystem::path& model);

// The external data files mixq wrote for `model`: "<model file name>.<16 hex digits>.data" in
// its folder (named after their contents, docs/determinism.md), sorted.
std::vector<std::filesystem::path> data_files_of(const std::filesystem::path& model);

}  // namespace mixq::testing

namespace mixq::testing {

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

// Runs the mixq binary (path fixed at build time) with `args`, capturing stdout and stderr.
RunResult run_mixq(const std::vector<std::string>& args);

// Runs any program (argv[0] a path or a name on PATH), capturing stdout and stderr.
RunResult run_command(const std::vector<std::string>& argv);

}  // namespace mixq::testing
