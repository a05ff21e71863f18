// `mixq inspect` (text and --json) on every model of Debian's ONNX test data: exit 0, and the
// JSON has the documented keys with the model's inputs and outputs.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "test_support.h"

namespace mixq {
namespace {

TEST(CliInspectTestData, EveryModelInspects) {
  const auto models = testing::testdata_models();
  ASSERT_GT(models.size(), 1000u);
  int ok = 0;
  for (const auto& path : models) {
    auto text = testing::run_mixq({"inspect", path.string()});
    EXPECT_EQ(text.exit_code, 0) << path << "\n" << text.err;
    auto js = testing::run_mixq({"inspect", "--json", path.string()});
    EXPECT_EQ(js.exit_code, 0) << path << "\n" << js.err;
    if (js.exit_code != 0) continue;
    auto j = nlohmann::json::parse(js.out, nullptr, /*allow_exceptions=*/false);
    ASSERT_FALSE(j.is_discarded()) << path << ": not JSON";
    for (const char* key :
         {"inputs", "outputs", "opsets", "ops", "parameters", "quantizable", "unsupported"}) {
      EXPECT_TRUE(j.contains(key)) << path << ": no " << key;
    }
    EXPECT_FALSE(j["outputs"].empty()) << path;
    ok += text.exit_code == 0;
  }
  std::cout << ok << " of " << models.size() << " models inspected\n";
}

}  // namespace
}  // namespace mixq
