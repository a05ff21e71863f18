// The data layer against files NumPy wrote (tests/data, from make_fixtures.py): .npz from savez
// and savez_compressed, a folder of .npy, and ONNX test_data_set folders; the npz writer; the
// rules that cut data into runs; and the refusals of bad data.
#include <gtest/gtest.h>

#include <cstring>

#include "graph_builder.h"
#include "mixq/calibration/data/batcher.h"
#include "mixq/calibration/data/data_source.h"
#include "mixq/calibration/data/npy.h"
#include "mixq/calibration/data/npz_writer.h"
#include "test_support.h"

namespace mixq {
namespace {

using calib::DataSource;
using testing::fixture;

void expect_numpy_arrays(const DataSource& src, bool has_all) {
  calib::ArrayReader* x = src.find("x");
  ASSERT_NE(x, nullptr);
  EXPECT_EQ(x->dtype(), DType::kFloat32);
  EXPECT_EQ(x->dims(), (std::vector<int64_t>{6, 3}));
  auto all = x->read_all();
  ASSERT_TRUE(all.ok()) << all.status().to_string();
  for (int64_t i = 0; i < 18; ++i) EXPECT_EQ(all->element_as_double(i), i / 4.0);
  // Rows stream: rows 2..3, then 5, then back to 0 (restarts a compressed member).
  auto rows = x->read_rows(2, 2);
  ASSERT_TRUE(rows.ok());
  EXPECT_EQ(rows->dims(), (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(rows->element_as_double(0), 6 / 4.0);
  EXPECT_EQ(x->read_rows(5, 1)->element_as_double(2), 17 / 4.0);
  EXPECT_EQ(x->read_rows(0, 1)->element_as_double(1), 1 / 4.0);
  calib::ArrayReader* ids = src.find("ids");
  ASSERT_NE(ids, nullptr);
  EXPECT_EQ(ids->dtype(), DType::kInt64);
  EXPECT_EQ(ids->read_rows(3, 1)->element_as_int64(1), 13 * 1000003);
  if (!has_all) return;
  calib::ArrayReader* m = src.find("m");
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->dtype(), DType::kBool);
  EXPECT_EQ(m->read_all()->element_as_int64(1), 0);
  EXPECT_EQ(m->read_all()->element_as_int64(2), 1);
  calib::ArrayReader* h = src.find("h");
  ASSERT_NE(h, nullptr);
  EXPECT_EQ(h->dtype(), DType::kFloat16);
  EXPECT_EQ(h->read_all()->element_as_double(3), 65504.0);
}

TEST(DataSource, ReadsNumpySavez) {
  auto src = DataSource::open(fixture("arrays.npz"));
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  EXPECT_EQ((*src)->arrays().size(), 4u);
  expect_numpy_arrays(**src, true);
}

TEST(DataSource, StreamsNumpySavezCompressed) {
  auto src = DataSource::open(fixture("arrays_compressed.npz"));
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  expect_numpy_arrays(**src, true);
}

TEST(DataSource, ReadsAFolderOfNpy) {
  auto src = DataSource::open(fixture("npy_folder"));
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  EXPECT_EQ((*src)->arrays().size(), 2u);
  expect_numpy_arrays(**src, false);
}

TEST(DataSource, ReadsOnnxTestDataSets) {
  const auto dir = testing::testdata_dir() / "node" / "test_add" / "test_data_set_0";
  auto src = DataSource::open(dir, {"x", "y"});
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  ASSERT_EQ((*src)->arrays().size(), 2u);
  EXPECT_EQ((*src)->arrays()[0]->dims(), (std::vector<int64_t>{3, 4, 5}));
}

TEST(NpzWriter, RoundTripsThroughTheReader) {
  testing::TempDir dir;
  const auto path = dir / "out.npz";
  auto w = calib::NpzWriter::create(path);
  ASSERT_TRUE(w.ok());
  const ir::Tensor a = ir::Tensor::from_floats({2, 2}, {1.5f, -2.0f, 3.0f, 0.25f});
  const ir::Tensor b = ir::Tensor::from_int64s({3}, {7, -8, 1LL << 40});
  ASSERT_TRUE((*w)->add("a", a).ok());
  ASSERT_TRUE((*w)->add("b/c", b).ok());
  EXPECT_EQ((*w)->add("bad", ir::Tensor::zeros(DType::kBFloat16, {1}).value()).code(),
            StatusCode::kUnsupported);
  ASSERT_TRUE((*w)->commit().ok());
  auto src = DataSource::open(path);
  ASSERT_TRUE(src.ok()) << src.status().to_string();
  EXPECT_EQ((*src)->find("a")->read_all()->element_as_double(1), -2.0);
  EXPECT_EQ((*src)->find("b/c")->read_all()->element_as_int64(2), 1LL << 40);
  // Data starts on a 64-byte boundary of the .npy stream.
  const std::string header = calib::make_npy_header(DType::kFloat32, {2, 2});
  EXPECT_EQ(header.size() % 64, 0u);
}

TEST(DataSource, rejects_bad_files_naming_them) {
  testing::TempDir dir;
  auto expect_bad = [](const std::filesystem::path& p, const std::string& needle) {
    auto src = DataSource::open(p);
    ASSERT_FALSE(src.ok()) << p;
    EXPECT_EQ(src.status().code(), StatusCode::kBadInput);
    EXPECT_NE(src.status().message().find(p.filename().string()), std::string::npos)
        << src.status().message();
    EXPECT_NE(src.status().message().find(needle), std::string::npos) << src.status().message();
  };
  expect_bad(fixture("fortran.npy"), "Fortran");
  expect_bad(fixture("bigendian.npy"), "big-endian");
  expect_bad(dir / "absent.npz", "does not exist");
  const std::string npz = testing::read_bytes(fixture("arrays.npz"));
  testing::write_bytes(dir / "cut.npz", npz.substr(0, npz.size() / 2));
  expect_bad(dir / "cut.npz", "cut.npz");
  testing::write_bytes(dir / "junk.npz", std::string(300, 'x'));
  expect_bad(dir / "junk.npz", "not a valid .npz");
  const std::string npy = testing::read_bytes(fixture("npy_folder/x.npy"));
  testing::write_bytes(dir / "short.npy", npy.substr(0, npy.size() - 8));
  expect_bad(dir / "short.npy", "truncated");
  testing::write_bytes(dir / "data.txt", "1 2 3");
  expect_bad(dir / "data.txt", "unknown data format");
}

// Model inputs for the batching rules: x float32[N, 3] and ids int64[N, 4].
std::vector<calib::InputSpec> specs(std::vector<ir::Dim> batch = {ir::Dim::symbol("N")}) {
  return {{"x", ir::ValueType::tensor(DType::kFloat32, ir::Shape{batch[0], ir::Dim::known(3)})},
          {"ids", ir::ValueType::tensor(DType::kInt64, ir::Shape{batch[0], ir::Dim::known(4)})}};
}

TEST(Batcher, WholeArraysAreOneRun) {
  auto src = DataSource::open(fixture("arrays.npz"));
  ASSERT_TRUE(src.ok());
  auto b = calib::Batcher::create(**src, specs());
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->num_runs(), 1);
  EXPECT_EQ(b->samples_per_run(), 6);  // the rows of the whole array
  auto feeds = b->run(0);
  ASSERT_TRUE(feeds.ok());
  EXPECT_EQ((*feeds)[0].second.dims(), (std::vector<int64_t>{6, 3}));
}

TEST(Batcher, FixedBatchSizeFeedsChunksAndJoinsThem) {
  auto src = DataSource::open(fixture("arrays_compressed.npz"));
  ASSERT_TRUE(src.ok());
  auto b = calib::Batcher::create(**src, specs({ir::Dim::known(2)}));
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->num_runs(), 3);
  EXPECT_EQ(b->layout(), calib::Batcher::Layout::kChunks);
  EXPECT_EQ(b->samples_per_run(), 2);
  std::vector<ir::Tensor> parts;
  for (int64_t i = 0; i < 3; ++i) {
    auto feeds = b->run(i);
    ASSERT_TRUE(feeds.ok());
    EXPECT_EQ((*feeds)[0].second.dims(), (std::vector<int64_t>{2, 3}));
    EXPECT_EQ((*feeds)[0].second.element_as_double(0), i * 6 / 4.0);
    parts.push_back((*feeds)[0].second);
  }
  auto joined = calib::Batcher::join(b->layout(), parts, "x");
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->dims(), (std::vector<int64_t>{6, 3}));
  EXPECT_EQ(joined->element_as_double(17), 17 / 4.0);
}

TEST(Batcher, SampleAxisGivesOneRunPerSampleAndStacksResults) {
  // Model inputs of rank 1: the arrays' axis 0 holds samples.
  std::vector<calib::InputSpec> s = {
      {"x", ir::ValueType::tensor(DType::kFloat32, ir::Shape{ir::Dim::known(3)})}};
  auto src = DataSource::open(fixture("arrays.npz"));
  auto b = calib::Batcher::create(**src, s);
  ASSERT_TRUE(b.ok()) << b.status().to_string();
  EXPECT_EQ(b->num_runs(), 6);
  EXPECT_EQ(b->layout(), calib::Batcher::Layout::kSamples);
  EXPECT_EQ(b->samples_per_run(), 1);
  // The same arrays for an input whose dim 0 is a batch axis: each entry is a batch of 3.
  std::vector<calib::InputSpec> batched = {
      {"x", ir::ValueType::tensor(DType::kFloat32, ir::Shape{ir::Dim::symbol("N")})}};
  auto bb = calib::Batcher::create(**src, batched);
  ASSERT_TRUE(bb.ok()) << bb.status().to_string();
  EXPECT_EQ(bb->layout(), calib::Batcher::Layout::kSamples);
  EXPECT_EQ(bb->samples_per_run(), 3);
  auto feeds = b->run(4);
  ASSERT_TRUE(feeds.ok());
  EXPECT_EQ((*feeds)[0].second.dims(), (std::vector<int64_t>{3}));
  EXPECT_EQ((*feeds)[0].second.element_as_double(0), 12 / 4.0);
  auto joined = calib::Batcher::join(b->layout(), {(*feeds)[0].second, (*feeds)[0].second}, "y");
  ASSERT_TRUE(joined.ok());
  EXPECT_EQ(joined->dims(), (std::vector<int64_t>{2, 3}));
}

TEST(Batcher, rejects_data_that_does_not_fit_the_model) {
  auto src = DataSource::open(fixture("arrays.npz"));
  ASSERT_TRUE(src.ok());
  auto expect_bad = [&](std::vector<calib::InputSpec> s, std::vector<std::string> needles) {
    auto b = calib::Batcher::create(**src, s);
    ASSERT_FALSE(b.ok());
    EXPECT_EQ(b.status().code(), StatusCode::kBadInput);
    for (const auto& n : needles) {
      EXPECT_NE(b.status().message().find(n), std::string::npos) << b.status().message();
    }
  };
  expect_bad({{"tokens", ir::ValueType::tensor(DType::kInt64, ir::Shape{ir::Dim::known(4)})}},
             {"no array for model input 'tokens'", "ids"});
  expect_bad({{"x", ir::ValueType::tensor(DType::kFloat64, ir::Shape{ir::Dim::known(3)})}},
             {"input 'x'", "float32", "float64[3]"});
  expect_bad({{"x", ir::ValueType::tensor(DType::kFloat32, ir::Shape{ir::Dim::known(4)})}},
             {"input 'x'", "[3]", "float32[4]"});
  expect_bad({{"x", ir::ValueType::tensor(DType::kFloat32,
                                          ir::Shape{ir::Dim(), ir::Dim(), ir::Dim(), ir::Dim()})}},
             {"input 'x'", "rank 2"});
  expect_bad({{"x", ir::ValueType::tensor(DType::kFloat32, ir::Shape{ir::Dim::known(3)})},
              {"ids", ir::ValueType::tensor(DType::kInt64, ir::Shape{ir::Dim(), ir::Dim()})}},
             {"same number of samples"});
}

}  // namespace
}  // namespace mixq
