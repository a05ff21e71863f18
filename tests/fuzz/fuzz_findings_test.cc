// What the fuzzers found (docs/fuzzing.md), as unit tests that run in every build: each input
// that crashed a harness, reduced to the field that mattered, must now be refused with a
// bad-input Status naming the file (and the entry), or read without undefined behaviour. The
// exact crashing inputs are replayed by the fuzz_*_regressions tests of the fuzz build.
#include <gtest/gtest.h>

#include <string>

#include <nlohmann/json.hpp>

#include "mixq/calibration/calibrate.h"
#include "mixq/calibration/convert.h"
#include "mixq/calibration/data/data_source.h"
#include "test_support.h"

namespace mixq {
namespace {

using testing::TempDir;

const std::string kHash(64, '0');

Status load_ranges_text(const TempDir& dir, const std::string& text) {
  const auto path = dir / "RANGES.json";
  testing::write_bytes(path, text);
  return calib::load_ranges(path, kHash).status();
}

Status load_plan_text(const TempDir& dir, const std::string& text) {
  const auto path = dir / "PLAN.json";
  testing::write_bytes(path, text);
  return calib::load_plan(path, kHash, [](const std::string&) {}).status();
}

void expect_bad_input(const Status& s, const std::string& name) {
  EXPECT_EQ(s.code(), StatusCode::kBadInput) << s.message();
  EXPECT_NE(s.message().find(name), std::string::npos) << s.message();
}

// A RANGES.json header that passes the schema, version and model checks.
std::string ranges_with(const std::string& activations) {
  return R"({"schema":"mixq.ranges","version":1,"model":{"sha256":")" + kHash +
         R"("},"activations":)" + activations + "}";
}

TEST(FuzzFindings, rejects_ranges_whose_header_fields_have_the_wrong_type) {
  TempDir dir;
  // Each of these threw nlohmann::json::type_error out of load_ranges (exit 70 or abort).
  expect_bad_input(load_ranges_text(dir, R"({"schema":1})"), "RANGES.json");
  expect_bad_input(load_ranges_text(dir, R"({"schema":"mixq.ranges","version":"1"})"),
                   "RANGES.json");
  expect_bad_input(load_ranges_text(dir, R"({"schema":"mixq.ranges","version":1,"model":[]})"),
                   "RANGES.json");
  expect_bad_input(
      load_ranges_text(dir, R"({"schema":"mixq.ranges","version":1,"model":{"sha256":5}})"),
      "RANGES.json");
}

TEST(FuzzFindings, rejects_ranges_whose_activation_entries_have_the_wrong_type) {
  TempDir dir;
  expect_bad_input(load_ranges_text(dir, ranges_with("[]")), "activations");
  expect_bad_input(load_ranges_text(dir, ranges_with(R"({"act_a":7})")), "act_a");
  expect_bad_input(load_ranges_text(dir, ranges_with(R"({"act_b":{"ranges":[]}})")), "act_b");
  expect_bad_input(load_ranges_text(dir, ranges_with(R"({"act_c":{"ranges":{"minmax":"1"}}})")),
                   "act_c");
  expect_bad_input(load_ranges_text(dir, ranges_with(R"({"act_d":{"ranges":{"mse":1}}})")),
                   "act_d");
  expect_bad_input(
      load_ranges_text(dir, ranges_with(R"({"act_e":{"ranges":{"mse":{"int8":null}}}})")), "act_e");
  expect_bad_input(load_ranges_text(dir, ranges_with(R"({"act_f":{"absmax":"2"}})")), "act_f");
}

TEST(FuzzFindings, range_for_reads_a_missing_mse_entry_as_no_range) {
  // range_for indexed the const JSON with ["mse"]: undefined behaviour when it is missing.
  TempDir dir;
  const auto path = dir / "RANGES.json";
  testing::write_bytes(path, ranges_with(R"({"t":{"ranges":{"minmax":3.5}}})"));
  auto ranges = calib::load_ranges(path, kHash);
  ASSERT_TRUE(ranges.ok()) << ranges.status().message();
  EXPECT_EQ(calib::range_for(*ranges, "t", quant::Precision::kInt8, calib::Method::kMinMax), 3.5);
  EXPECT_EQ(calib::range_for(*ranges, "t", quant::Precision::kInt8, calib::Method::kMse),
            std::nullopt);
  EXPECT_EQ(calib::range_for(*ranges, "t", quant::Precision::kFp8, calib::Method::kMse),
            std::nullopt);
}

TEST(FuzzFindings, rejects_plans_whose_fields_have_the_wrong_type) {
  TempDir dir;
  expect_bad_input(load_plan_text(dir, R"({"schema":[],"version":1,"layers":[]})"), "PLAN.json");
  expect_bad_input(load_plan_text(dir, R"({"schema":"mixq.plan","version":"x","layers":[]})"),
                   "PLAN.json");
  expect_bad_input(
      load_plan_text(dir, R"({"schema":"mixq.plan","version":1,"model":3,"layers":[]})"),
      "PLAN.json");
  expect_bad_input(
      load_plan_text(
          dir,
          R"({"schema":"mixq.plan","version":1,"layers":[{"name":"conv_7","precision":"int8","op_type":4}]})"),
      "conv_7");
  expect_bad_input(
      load_plan_text(
          dir,
          R"({"schema":"mixq.plan","version":1,"layers":[{"name":"conv_8","precision":"int8","reason":{}}]})"),
      "conv_8");
}

TEST(FuzzFindings, a_plan_with_well_typed_fields_still_loads) {
  TempDir dir;
  const auto path = dir / "PLAN.json";
  testing::write_bytes(
      path,
      R"({"schema":"mixq.plan","version":1,"model":{"sha256":"ab"},"layers":[{"name":"c","precision":"fp8","op_type":"Conv","reason":"r"}]})");
  int warnings = 0;
  auto plan = calib::load_plan(path, kHash, [&](const std::string&) { ++warnings; });
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  ASSERT_EQ(plan->layers.size(), 1u);
  EXPECT_EQ(plan->layers[0].op_type, "Conv");
  EXPECT_EQ(plan->layers[0].precision, quant::Precision::kFp8);
  EXPECT_EQ(warnings, 1);  // made for another model's hash
}

// Arrays whose declared byte size overflows, or whose header offset plus byte size wraps past
// 2^64: both passed the "data is truncated" check, and reading the last row read far past the
// mapping. Each must be refused on open, naming the array.
void expect_open_refused(const std::string& file, const std::string& name) {
  const auto path =
      std::filesystem::path(MIXQ_SOURCE_DIR) / "tests/fuzz/regressions/fuzz_npy" / file;
  auto src = calib::DataSource::open(path);
  ASSERT_FALSE(src.ok()) << file;
  expect_bad_input(src.status(), name);
}

TEST(FuzzFindings, rejects_a_stored_npz_member_whose_byte_size_overflows) {
  // shape (2^61,) float64: 2^64 bytes, which wrapped to 0.
  expect_open_refused("npz_stored_size_overflow.npz", "huge");
}

TEST(FuzzFindings, rejects_arrays_whose_header_offset_plus_byte_size_wraps) {
  // shape (2^61 - 1,) float64: 2^64 - 8 bytes, plus the 128-byte header wraps to 120.
  expect_open_refused("npy_size_plus_offset_wraps.npy", "npy_size_plus_offset_wraps.npy");
  expect_open_refused("npz_stored_size_plus_offset_wraps.npz", "wraps");
}

}  // namespace
}  // namespace mixq
