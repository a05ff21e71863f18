// Atomic outputs under SIGKILL (docs/determinism.md, "Atomic outputs"): the real mixq binary is
// killed while it runs `convert` (with external data in and out), `calibrate` and `analyze`,
//  - at seeded random times across a measured complete run, and
//  - under strace, exactly before its k-th rename/unlink, for every k (every state between two
//    commits, including the one between the data file's rename and the model's),
// once with the outputs of a previous complete run (made with other options, so old and new
// differ) in place and once with no outputs. After every run each output path holds the previous
// bytes, the new complete file, or (without a previous run) nothing; a model present loads and
// its external data file is the one written with it, byte for byte; the only other files are
// temporaries ".NAME.tmp-PID-N" and the new run's data file. The inputs (model, its external
// data, the .npz files) keep their bytes and mtime. One complete run afterwards removes the
// killed runs' temporaries and superseded data files.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <random>
#include <set>
#include <thread>

#include "mixq/ir/walk.h"
#include "mixq/onnx/model_io.h"
#include "test_support.h"

namespace mixq {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;
using Snapshot = std::map<std::string, std::string>;  // file name -> bytes

// Starts argv[0] with `argv`, stdout and stderr to /dev/null.
pid_t spawn(const std::vector<std::string>& argv) {
  std::vector<char*> cargs;
  for (const auto& a : argv) cargs.push_back(const_cast<char*>(a.c_str()));
  cargs.push_back(nullptr);
  const pid_t pid = fork();
  if (pid == 0) {
    const int null = ::open("/dev/null", O_WRONLY);
    dup2(null, 1);
    dup2(null, 2);
    execvp(cargs[0], cargs.data());
    _exit(127);
  }
  return pid;
}

// Runs to the end; returns the wait status.
int run_to_end(const std::vector<std::string>& argv) {
  const pid_t pid = spawn(argv);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// Sends SIGKILL after `delay` unless the run ended first. True when the kill landed.
bool run_killed_after(const std::vector<std::string>& argv, std::chrono::microseconds delay) {
  const pid_t pid = spawn(argv);
  std::this_thread::sleep_for(delay);
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

// Under strace, SIGKILL on entry to the k-th rename/unlink: the process dies before that call
// takes effect. True when the run did not complete (the k-th call existed).
bool run_killed_at_call(const std::vector<std::string>& argv, int k) {
  const std::string calls = "rename,renameat,renameat2,unlink,unlinkat";
  std::vector<std::string> traced = {"strace",
                                     "-f",
                                     "-qq",
                                     "-o",
                                     "/dev/null",
                                     "-e",
                                     "trace=" + calls,
                                     "-e",
                                     "inject=" + calls + ":signal=KILL:when=" + std::to_string(k)};
  traced.insert(traced.end(), argv.begin(), argv.end());
  const int status = run_to_end(traced);
  return !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

Snapshot snapshot(const fs::path& dir) {
  Snapshot s;
  for (const auto& e : fs::directory_iterator(dir)) {
    s[e.path().filename().string()] = testing::read_bytes(e.path());
  }
  return s;
}

void restore(const fs::path& dir, const Snapshot& s) {
  for (const auto& e : fs::directory_iterator(dir)) fs::remove(e.path());
  for (const auto& [name, bytes] : s) testing::write_bytes(dir / name, bytes);
}

// ".NAME.tmp-PID-N" for an output NAME: a killed writer's temporary file.
bool is_temporary(const std::string& f, const std::set<std::string>& names) {
  for (const auto& n : names) {
    const std::string prefix = "." + n + ".tmp-";
    if (f.compare(0, prefix.size(), prefix) != 0) continue;
    const std::string rest = f.substr(prefix.size());
    const size_t dash = rest.find('-');
    if (dash != std::string::npos && dash > 0 && dash + 1 < rest.size() &&
        rest.find_first_not_of("0123456789-") == std::string::npos) {
      return true;
    }
  }
  return false;
}

// JSON outputs carry timings ("timings_s"); the same run's file equals the reference without it.
bool same_but_timings(const std::string& a, const std::string& b) {
  auto ja = nlohmann::json::parse(a, nullptr, false), jb = nlohmann::json::parse(b, nullptr, false);
  if (ja.is_discarded() || jb.is_discarded() || !ja.is_object() || !jb.is_object()) return false;
  ja.erase("timings_s");
  jb.erase("timings_s");
  return ja == jb;
}

struct Inputs {
  struct Entry {
    std::string bytes;
    timespec mtime;
  };
  std::map<fs::path, Entry> files;

  explicit Inputs(const fs::path& dir) {
    for (const auto& e : fs::directory_iterator(dir)) {
      struct stat st {};
      EXPECT_EQ(stat(e.path().c_str(), &st), 0);
      files[e.path()] = {testing::read_bytes(e.path()), st.st_mtim};
    }
  }
  void expect_unchanged(const std::string& when) const {
    for (const auto& [path, entry] : files) {
      struct stat st {};
      ASSERT_EQ(stat(path.c_str(), &st), 0) << when << ": input " << path << " is gone";
      EXPECT_TRUE(testing::read_bytes(path) == entry.bytes) << when << ": " << path << " changed";
      EXPECT_EQ(st.st_mtim.tv_sec, entry.mtime.tv_sec) << when << ": " << path;
      EXPECT_EQ(st.st_mtim.tv_nsec, entry.mtime.tv_nsec) << when << ": " << path;
    }
  }
};

// The external data files a model in `dir` refers to.
std::set<std::string> data_files_referenced(const fs::path& model) {
  std::set<std::string> files;
  auto m = onnx::load_model(model);
  EXPECT_TRUE(m.ok()) << m.status().to_string();
  if (!m.ok()) return files;
  ir::for_each_tensor((*m)->graph(), [&](const ir::Tensor& t, const ir::Value*, const ir::Node*) {
    if (t.storage().form == ir::TensorStorage::Form::kExternal) {
      files.insert(t.storage().external_location);
    }
  });
  return files;
}

struct Tally {
  int runs = 0, killed = 0, old_kept = 0, new_written = 0, mixed = 0, temporaries = 0;
};

// Checks the output folder after a killed run against the previous outputs `old` (empty when
// there were none) and the outputs `fresh` of a complete run of the same command in this folder.
void check_outputs(const fs::path& dir, const Snapshot& old, const Snapshot& fresh,
                   const std::string& model_name, const std::string& when, Tally* tally) {
  std::set<std::string> names;
  for (const auto& [n, b] : old) names.insert(n);
  for (const auto& [n, b] : fresh) names.insert(n);
  // The data file is written as ".MODEL.data.tmp-PID-N" and renamed after its contents.
  if (!model_name.empty()) names.insert(model_name + ".data");
  int olds = 0, news = 0;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string f = e.path().filename().string();
    if (is_temporary(f, names)) {
      ++tally->temporaries;
      continue;
    }
    const std::string bytes = testing::read_bytes(e.path());
    const auto o = old.find(f), n = fresh.find(f);
    if (o != old.end() && bytes == o->second) {
      ++olds;
    } else if (n != fresh.end() && (bytes == n->second || same_but_timings(bytes, n->second))) {
      ++news;
    } else {
      ADD_FAILURE() << when << ": " << f << " (" << bytes.size()
                    << " bytes) is neither the previous nor the new complete file";
    }
  }
  if (olds > 0 && news > 0) ++tally->mixed;
  if (news == 0) ++tally->old_kept;
  if (olds == 0 && news > 0) ++tally->new_written;

  // A model present is one of the complete ones, and its data files are its own.
  const fs::path model = dir / model_name;
  if (!model_name.empty() && fs::exists(model)) {
    const std::string bytes = testing::read_bytes(model);
    const Snapshot& own = (old.count(model_name) && old.at(model_name) == bytes) ? old : fresh;
    ASSERT_TRUE(bytes == own.at(model_name)) << when;
    for (const auto& loc : data_files_referenced(model)) {
      ASSERT_TRUE(fs::exists(dir / loc))
          << when << ": " << model_name << " refers to " << loc << ", which is missing";
      ASSERT_TRUE(own.count(loc)) << when << ": " << loc;
      EXPECT_TRUE(testing::read_bytes(dir / loc) == own.at(loc))
          << when << ": " << model_name << " and " << loc << " come from different runs";
    }
  }
}

struct Command {
  std::string what;
  std::vector<std::string> previous;  // another complete run to the same outputs
  std::vector<std::string> run;       // the run that is killed
  std::string model_name;             // the ONNX output in out/, if any
};

// Fixture folders: in/ holds the inputs (digits_cnn with its weights in external data, the
// .npz files), out/ the outputs.
struct Folders {
  TempDir tmp;
  fs::path in = tmp / "in";
  fs::path out = tmp / "out";
  Folders() {
    fs::create_directories(in);
    fs::create_directories(out);
    auto m = onnx::load_model(testing::sample_file("digits_cnn", "model.onnx"));
    EXPECT_TRUE(m.ok());
    onnx::SaveOptions so;
    so.external_data = onnx::SaveOptions::ExternalData::kThreshold;
    so.external_threshold = 1024;
    EXPECT_TRUE(onnx::save_model(**m, in / "model.onnx", so).ok());
    EXPECT_EQ(testing::data_files_of(in / "model.onnx").size(), 1u);
    fs::copy_file(testing::sample_file("digits_cnn", "calib.npz"), in / "calib.npz");
    fs::copy_file(testing::sample_file("digits_cnn", "eval.npz"), in / "eval.npz");
  }
  std::string model() const { return (in / "model.onnx").string(); }
  std::string calib() const { return (in / "calib.npz").string(); }
  std::string eval() const { return (in / "eval.npz").string(); }
};

// Runs the whole protocol for one command; `random_kills` seeded random kill times per
// situation. Returns the tally.
Tally exercise(const Folders& f, const Command& c, int random_kills, unsigned seed) {
  Tally t;
  const Inputs inputs(f.in);
  const bool have_strace = run_to_end({"strace", "-V"}) == 0;
  EXPECT_TRUE(have_strace) << "strace is needed to kill at each commit step (apt install strace)";

  for (const bool with_previous : {true, false}) {
    const std::string situation = c.what + (with_previous ? " over previous outputs" : " fresh");
    restore(f.out, {});
    Snapshot old;
    if (with_previous) {
      EXPECT_EQ(run_to_end(c.previous), 0) << situation;
      old = snapshot(f.out);
    }
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(run_to_end(c.run), 0) << situation;
    const auto duration = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - start);
    const Snapshot fresh = snapshot(f.out);
    EXPECT_NE(old, fresh) << situation << ": the previous run must write other bytes";
    inputs.expect_unchanged(situation + ", complete run");

    // Seeded random kill times across the run's duration (and a little past it), until
    // `random_kills` kills have landed. One measured duration is noisy on a loaded machine: a
    // run that ends before its kill shows that it takes less than that delay, so later delays
    // are drawn below it. The attempts are capped, so a run too short to kill fails the count.
    std::mt19937 rng(seed + (with_previous ? 1 : 0));
    int64_t bound = duration.count() * 11 / 10;
    int landed = 0;
    for (int attempt = 0; landed < random_kills && attempt < 4 * random_kills; ++attempt) {
      restore(f.out, old);
      const auto delay =
          std::chrono::microseconds(std::uniform_int_distribution<int64_t>(0, bound)(rng));
      const std::string when = situation + ", SIGKILL after " + std::to_string(delay.count()) +
                               " us of " + std::to_string(duration.count());
      const bool killed = run_killed_after(c.run, delay);
      landed += killed;
      if (!killed) bound = std::min(bound, delay.count());
      ++t.runs;
      check_outputs(f.out, old, fresh, c.model_name, when, &t);
      inputs.expect_unchanged(when);
    }
    t.killed += landed;
    EXPECT_EQ(landed, random_kills) << situation << ": runs of " << duration.count()
                                    << " us ended before the kill; last bound " << bound << " us";
    // Every step between two commits: SIGKILL before the k-th rename or unlink.
    for (int k = 1; have_strace && k <= 40; ++k) {
      restore(f.out, old);
      const std::string when = situation + ", SIGKILL before rename/unlink #" + std::to_string(k);
      const bool killed = run_killed_at_call(c.run, k);
      ++t.runs;
      t.killed += killed;
      check_outputs(f.out, old, fresh, c.model_name, when, &t);
      inputs.expect_unchanged(when);
      if (!killed) break;
    }
    // Leftovers of a killed run: the next complete run to the same outputs removes them
    // (temporaries of dead processes, a data file no model refers to), leaving exactly its own
    // outputs. Killed before the 2nd commit step, a convert leaves its new data file behind.
    restore(f.out, old);
    EXPECT_TRUE(run_killed_at_call(c.run, c.model_name.empty() ? 1 : 2)) << situation;
    bool had_temporary = false, had_orphan = false;
    for (const auto& e : fs::directory_iterator(f.out)) {
      const std::string n = e.path().filename().string();
      had_temporary |= n[0] == '.';
      had_orphan |= !old.count(n) && n[0] != '.';
    }
    EXPECT_TRUE(!have_strace || had_temporary) << situation << ": the kill left no temporary";
    if (!c.model_name.empty()) {
      EXPECT_TRUE(!have_strace || had_orphan) << situation << ": the kill left no data file";
    }
    const auto& again = with_previous ? c.previous : c.run;
    EXPECT_EQ(run_to_end(again), 0) << situation;
    std::set<std::string> names, want;
    for (const auto& e : fs::directory_iterator(f.out)) names.insert(e.path().filename().string());
    for (const auto& [n, b] : with_previous ? old : fresh) want.insert(n);
    EXPECT_EQ(names, want) << situation << ": leftovers of a killed run were not cleaned up";
  }
  return t;
}

void print(const Command& c, const Tally& t) {
  std::cout << c.what << ": " << t.runs << " runs, " << t.killed << " killed; outputs all old "
            << t.old_kept << ", all new " << t.new_written << ", old and new side by side "
            << t.mixed << "; temporaries left " << t.temporaries << "\n";
}

TEST(CliAtomic, ConvertWithExternalDataKilledAnywhereLeavesOldOrNewConsistentPairs) {
  Folders f;
  const std::string out = (f.out / "q.onnx").string();
  auto convert = [&](const std::string& precision) {
    return std::vector<std::string>{MIXQ_BINARY, "convert",   f.model(), "--data",
                                    f.calib(),   "--eval",    f.eval(),  "--precision",
                                    precision,   "--threads", "2",       "--external-data",
                                    "-o",        out,         "--quiet"};
  };
  const Command c{"convert", convert("fp8"), convert("int8"), "q.onnx"};
  const Tally t = exercise(f, c, 12, 1234);
  print(c, t);
  EXPECT_GE(t.killed, 20);
  EXPECT_GT(t.mixed, 0) << "no kill landed between two commits";

  // The complete model passes onnx.checker, external data included (when the venv is there).
  const fs::path python = fs::path(MIXQ_SOURCE_DIR) / ".venv" / "bin" / "python";
  if (fs::exists(python)) {
    auto r = testing::run_command(
        {python.string(), "-c", "import onnx,sys; onnx.checker.check_model(sys.argv[1])", out});
    EXPECT_EQ(r.exit_code, 0) << r.err;
  }
}

TEST(CliAtomic, CalibrateKilledAnywhereLeavesOldOrNewRanges) {
  Folders f;
  auto calibrate = [&](const std::string& method) {
    return std::vector<std::string>{MIXQ_BINARY,
                                    "calibrate",
                                    f.model(),
                                    "--data",
                                    f.calib(),
                                    "--method",
                                    method,
                                    "--threads",
                                    "2",
                                    "-o",
                                    (f.out / "r.json").string(),
                                    "--quiet"};
  };
  const Command c{"calibrate", calibrate("minmax"), calibrate("entropy"), ""};
  const Tally t = exercise(f, c, 16, 99);
  print(c, t);
  EXPECT_GE(t.killed, 20);
}

TEST(CliAtomic, AnalyzeKilledAnywhereLeavesOldOrNewSensitivity) {
  Folders f;
  auto analyze = [&](const std::string& formats) {
    return std::vector<std::string>{MIXQ_BINARY,
                                    "analyze",
                                    f.model(),
                                    "--data",
                                    f.calib(),
                                    "--eval",
                                    f.eval(),
                                    "--formats",
                                    formats,
                                    "--max-layers",
                                    "3",
                                    "--threads",
                                    "2",
                                    "-o",
                                    (f.out / "s.json").string(),
                                    "--html",
                                    (f.out / "s.html").string(),
                                    "--quiet"};
  };
  const Command c{"analyze", analyze("int8"), analyze("fp8,int8"), ""};
  const Tally t = exercise(f, c, 12, 7);
  print(c, t);
  EXPECT_GE(t.killed, 20);
}

}  // namespace
}  // namespace mixq
