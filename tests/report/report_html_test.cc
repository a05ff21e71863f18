// REPORT.html and SENS.html as a person sees them: each page is rendered by headless Chromium
// (Debian `chromium`, which tools/dev.sh test installs) and must print nothing to the console
// (no error, warning or log line), run its script to the end (body data-rendered="yes"), fetch
// nothing, and draw one sensitivity bar per layer and format, one plan cell per layer and one
// chart point per verified round. A control page with a script error proves the console check
// can fail.
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "test_support.h"

namespace mixq {
namespace {

using testing::run_command;
using testing::run_mixq;
using testing::TempDir;

struct Rendered {
  int exit_code = -1;
  std::string dom;                   // the DOM after the page's scripts ran
  std::vector<std::string> console;  // every console message Chromium logged
  std::string err;
};

size_t count(const std::string& haystack, const std::string& needle) {
  size_t n = 0;
  for (size_t at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size())) {
    ++n;
  }
  return n;
}

Rendered render(const std::filesystem::path& html) {
  const std::string chromium = MIXQ_CHROMIUM;
  Rendered out;
  if (chromium.empty() || chromium.find("NOTFOUND") != std::string::npos) {
    ADD_FAILURE() << "Chromium was not found when the tests were configured; tools/dev.sh test "
                     "installs Debian's chromium package";
    return out;
  }
  TempDir profile;
  const auto r = run_command(
      {chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
       "--no-first-run", "--user-data-dir=" + profile.path().string(), "--enable-logging=stderr",
       "--v=0", "--dump-dom", "file://" + std::filesystem::absolute(html).string()});
  out.exit_code = r.exit_code;
  out.dom = r.out;
  out.err = r.err;
  size_t start = 0;
  while (start < r.err.size()) {
    size_t end = r.err.find('\n', start);
    if (end == std::string::npos) end = r.err.size();
    const std::string line = r.err.substr(start, end - start);
    if (line.find(":CONSOLE") != std::string::npos) out.console.push_back(line);
    start = end + 1;
  }
  return out;
}

std::string joined(const std::vector<std::string>& lines) {
  std::string s;
  for (const auto& l : lines) s += l + "\n";
  return s;
}

// The page's source references nothing outside itself.
void expect_self_contained(const std::string& html) {
  for (const char* ref : {"src=", "href=", "url(", "@import", "http://", "https://"}) {
    EXPECT_EQ(html.find(ref), std::string::npos) << "the page references '" << ref << "'";
  }
}

void expect_clean_render(const Rendered& r) {
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE(r.console.empty()) << "console output:\n" << joined(r.console);
  EXPECT_NE(r.dom.find("data-rendered=\"yes\""), std::string::npos)
      << "the page's script did not run to the end";
}

TEST(ReportHtml, TheConsoleCheckSeesScriptErrors) {
  TempDir dir;
  testing::write_bytes(dir / "bad.html",
                       "<!DOCTYPE html><html><body><p>x</p><script>console.error('first');"
                       "undefined_function();</script></body></html>");
  const auto r = render(dir / "bad.html");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  ASSERT_EQ(r.console.size(), 2u) << r.err;
  EXPECT_NE(r.console[0].find("first"), std::string::npos) << r.console[0];
  EXPECT_NE(r.console[1].find("undefined_function"), std::string::npos) << r.console[1];
}

TEST(ReportHtml, AutoConvertReportRendersOneBarPerLayerAndFormat) {
  TempDir dir;
  const auto model = testing::sample_file("digits_mobile", "model.onnx");
  const auto r = run_mixq(
      {"convert", model, "--data", testing::sample_file("digits_mobile", "calib.npz"), "--eval",
       testing::sample_file("digits_mobile", "eval.npz"), "--precision", "auto", "--metric",
       "cosine", "--max-drop", "1e-4", "-o", (dir / "q.onnx").string(), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto report = nlohmann::json::parse(testing::read_bytes(dir / "q.report.json"));
  const size_t layers = report["layers"].size();
  ASSERT_EQ(layers, 18u);
  const std::string html = testing::read_bytes(dir / "q.report.html");
  expect_self_contained(html);
  const auto page = render(dir / "q.report.html");
  expect_clean_render(page);
  for (const char* f : {"fp8", "int8", "fp16"}) {
    EXPECT_EQ(count(page.dom, "class=\"sens-bar\" data-format=\"" + std::string(f) + "\""), layers)
        << f;
  }
  EXPECT_EQ(count(page.dom, "class=\"sens-bar\""), 3 * layers);
  EXPECT_EQ(count(page.dom, "class=\"plan-cell\""), layers);
  // Each plan cell shows the precision the report gives that layer.
  for (const auto& l : report["layers"]) {
    const std::string cell =
        "class=\"plan-cell\" data-format=\"" + l["precision"].get<std::string>() + "\"";
    EXPECT_NE(page.dom.find(cell), std::string::npos) << l["name"];
  }
  EXPECT_EQ(count(page.dom, "class=\"pt-round\""), report["auto"]["rounds"].size());
  size_t uniform = 0, frontier = 0;
  for (const auto& c : report["auto"]["candidates"])
    (c["kind"] == "uniform" ? uniform : frontier)++;
  EXPECT_EQ(uniform, 4u);  // fp32, fp8, int8, fp16
  EXPECT_EQ(count(page.dom, "class=\"pt-uniform\""), uniform);
  EXPECT_EQ(count(page.dom, "class=\"pt-frontier\""), frontier);
  EXPECT_GE(frontier, 2u);
}

TEST(ReportHtml, AnalyzeReportRendersOneBarPerLayerAndFormat) {
  TempDir dir;
  const auto r =
      run_mixq({"analyze", testing::sample_file("digits_cnn", "model.onnx"), "--data",
                testing::sample_file("digits_cnn", "calib.npz"), "--eval",
                testing::sample_file("digits_cnn", "eval.npz"), "--formats", "fp8,int8", "-o",
                (dir / "s.json").string(), "--html", (dir / "s.html").string(), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string html = testing::read_bytes(dir / "s.html");
  expect_self_contained(html);
  const auto page = render(dir / "s.html");
  expect_clean_render(page);
  EXPECT_EQ(count(page.dom, "class=\"sens-bar\" data-format=\"fp8\""), 5u);
  EXPECT_EQ(count(page.dom, "class=\"sens-bar\" data-format=\"int8\""), 5u);
  EXPECT_EQ(count(page.dom, "class=\"sens-bar\" data-format=\"fp16\""), 0u);
}

TEST(ReportHtml, UniformConvertReportRenders) {
  TempDir dir;
  const auto r = run_mixq({"convert", testing::sample_file("digits_cnn", "model.onnx"), "--data",
                           testing::sample_file("digits_cnn", "calib.npz"), "--precision", "int8",
                           "-o", (dir / "q.onnx").string(), "--quiet"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  expect_self_contained(testing::read_bytes(dir / "q.report.html"));
  const auto page = render(dir / "q.report.html");
  expect_clean_render(page);
  EXPECT_EQ(count(page.dom, "class=\"plan-cell\" data-format=\"int8\""), 5u);
  EXPECT_EQ(count(page.dom, "class=\"sens-bar\""), 0u);  // no sensitivity without auto
}

}  // namespace
}  // namespace mixq
