// Load -> save round trip over every model of Debian's ONNX test data.
//
// The reference is protobuf itself: the saved model must be field-for-field equivalent to the
// file as protobuf parses it (MessageDifferencer), and a second round trip must reproduce the
// first one's bytes exactly.
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>
#include <onnx/onnx_pb.h>

#include "mixq/onnx/model_io.h"
#include "test_support.h"

namespace mixq {
namespace {

using testing::testdata_models;

class RoundTripTestData : public ::testing::TestWithParam<std::filesystem::path> {};

TEST_P(RoundTripTestData, KeepsEveryFieldAndIsByteStable) {
  const auto& path = GetParam();
  const std::string original_bytes = testing::read_bytes(path);
  ::onnx::ModelProto original;
  ASSERT_TRUE(original.ParseFromString(original_bytes));

  auto model = onnx::load_model(path);
  ASSERT_TRUE(model.ok()) << model.status().to_string();
  auto saved1 = onnx::serialize_model(**model);
  ASSERT_TRUE(saved1.ok()) << saved1.status().to_string();

  ::onnx::ModelProto first;
  ASSERT_TRUE(first.ParseFromString(*saved1));
  google::protobuf::util::MessageDifferencer diff;
  diff.set_message_field_comparison(google::protobuf::util::MessageDifferencer::EQUIVALENT);
  std::string report;
  diff.ReportDifferencesToString(&report);
  EXPECT_TRUE(diff.Compare(original, first)) << report;

  auto reloaded = onnx::parse_model(*saved1, path.parent_path(), "saved1");
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().to_string();
  auto saved2 = onnx::serialize_model(**reloaded);
  ASSERT_TRUE(saved2.ok()) << saved2.status().to_string();
  EXPECT_TRUE(*saved1 == *saved2) << "second round trip changed the bytes";
}

INSTANTIATE_TEST_SUITE_P(AllModels, RoundTripTestData, ::testing::ValuesIn(testdata_models()),
                         [](const auto& info) {
                           std::string n = testing::testdata_case_name(info.param);
                           for (char& c : n) {
                             if (!isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

TEST(RoundTripTestData, FindsTheTestData) {
  // The suite above is empty when the test data is missing; fail loudly instead.
  EXPECT_GT(testdata_models().size(), 1000u) << "libonnx-testdata not installed?";
}

}  // namespace
}  // namespace mixq
