#include "test_support.h"

#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>

namespace mixq::testing {

std::filesystem::path testdata_dir() { return MIXQ_TESTDATA_DIR; }

std::string sample_file(const std::string& sample, const std::string& file) {
  return (std::filesystem::path(MIXQ_SOURCE_DIR) / "samples" / sample / file).string();
}

std::filesystem::path fixture(const std::string& name) {
  return std::filesystem::path(MIXQ_SOURCE_DIR) / "tests" / "data" / name;
}

std::vector<std::filesystem::path> testdata_models() {
  std::vector<std::filesystem::path> out;
  for (const char* suite : {"node", "pytorch-converted", "pytorch-operator", "simple"}) {
    const auto dir = testdata_dir() / suite;
    if (!std::filesystem::is_directory(dir)) continue;
    for (const auto& entry : std::filesystem::directory_iterator(dir)) {
      const auto model = entry.path() / "model.onnx";
      if (std::filesystem::is_regular_file(model)) out.push_back(model);
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}

std::string testdata_case_name(const std::filesystem::path& model) {
  const auto case_dir = model.parent_path();
  return case_dir.parent_path().filename().string() + "/" + case_dir.filename().string();
}

std::vector<std::filesystem::path> data_files_of(const std::filesystem::path& model) {
  const std::string name = model.filename().string();
  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(model.parent_path())) {
    const std::string f = e.path().filename().string();
    if (f.size() != name.size() + 22 || f.compare(0, name.size() + 1, name + ".") != 0) continue;
    if (f.compare(name.size() + 17, 5, ".data") != 0) continue;
    if (f.substr(name.size() + 1, 16).find_first_not_of("0123456789abcdef") != std::string::npos) {
      continue;
    }
    files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

TempDir::TempDir() {
  std::random_device rd;
  const auto base = std::filesystem::temp_directory_path();
  for (int i = 0; i < 100; ++i) {
    auto p = base / ("mixq-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(p)) {
      path_ = p;
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary folder");
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_bytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

size_t files_in(const TempDir& dir) {
  size_t n = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir.path())) {
    (void)e;
    ++n;
  }
  return n;
}

std::string read_bytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace mixq::testing

#include <sys/wait.h>

#include <cstdlib>

namespace mixq::testing {

namespace {
std::string shell_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}
}  // namespace

RunResult run_mixq(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {MIXQ_BINARY};
  argv.insert(argv.end(), args.begin(), args.end());
  return run_command(argv);
}

RunResult run_command(const std::vector<std::string>& argv) {
  TempDir dir;
  std::string cmd;
  for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + shell_quote(a);
  cmd += " >" + shell_quote((dir / "out").string()) + " 2>" + shell_quote((dir / "err").string());
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = read_bytes(dir / "out");
  r.err = read_bytes(dir / "err");
  return r;
}

}  // namespace mixq::testing
