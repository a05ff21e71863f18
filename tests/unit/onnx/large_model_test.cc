// A model over 2 GiB: written with external data and read back.
//
// The 2.2 GB tensor lives in untouched anonymous pages (zeros that cost no memory) with a few
// marker bytes; the saver leaves its zero blocks as holes, so the test needs little disk. A
// second tensor is stored after it, past the 2 GiB offset, which checks 64-bit offsets.
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "mixq/core/logging.h"
#include "mixq/onnx/model_io.h"
#include "test_support.h"

namespace mixq {
namespace {

constexpr size_t kBig = 2'200'000'000;

std::unique_ptr<ir::Model> make_large_model() {
  auto model = std::make_unique<ir::Model>();
  model->ir_version = 8;
  model->opset_imports.push_back({"", 17});
  ir::Graph& g = model->graph();
  void* p = mmap(nullptr, kBig, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                 -1, 0);
  EXPECT_NE(p, MAP_FAILED);
  auto* bytes = static_cast<unsigned char*>(p);
  bytes[0] = 0x11;
  bytes[kBig / 2] = 0x22;
  bytes[kBig - 1] = 0x33;
  auto owner = std::shared_ptr<void>(p, [](void* q) { munmap(q, kBig); });
  auto big = ir::Tensor::from_buffer(DType::kUint8, {static_cast<int64_t>(kBig)},
                                     ir::Buffer::view(p, kBig, owner));
  EXPECT_TRUE(big.ok());
  ir::Value* big_v = g.create_value("big");
  g.add_initializer(big_v, std::move(big).value());
  ir::Value* after = g.create_value("after");
  // 4 KiB: over the external threshold, so it is stored after `big`, past 2 GiB.
  std::vector<float> after_values(1024, 0.25f);
  after_values[1] = -2.5f;
  after_values[1023] = 1e30f;
  g.add_initializer(after, ir::Tensor::from_floats({1024}, after_values));

  ir::Value* shape_out = g.create_value("big_shape");
  ir::Node* shape = g.add_node("Shape", "", "shape0");
  shape->add_input(big_v);
  EXPECT_TRUE(shape->add_output(shape_out).ok());
  g.add_output(shape_out);
  g.add_output(after);
  return model;
}

TEST(LargeModel, WritesAndRereadsAModelOver2GiB) {
  testing::TempDir dir;
  auto model = make_large_model();

  // Inline is impossible: serialize_model refuses, save_model moves tensors out on its own.
  auto inline_bytes = onnx::serialize_model(*model);
  ASSERT_FALSE(inline_bytes.ok());
  EXPECT_EQ(inline_bytes.status().code(), StatusCode::kBadInput);

  set_log_level(LogLevel::kError);
  const auto path = dir.path() / "large.onnx";
  ASSERT_TRUE(onnx::save_model(*model, path).ok());
  const auto data_files = testing::data_files_of(path);  // large.onnx.<content hash>.data
  ASSERT_EQ(data_files.size(), 1u);
  const auto data = data_files[0];
  EXPECT_GE(std::filesystem::file_size(data), kBig + 4096);
  EXPECT_LT(std::filesystem::file_size(path), 4096u);
  struct stat st {};
  ASSERT_EQ(stat(data.c_str(), &st), 0);
  std::cout << "data file: " << std::filesystem::file_size(data) << " bytes, " << st.st_blocks * 512
            << " bytes on disk\n";

  auto reloaded = onnx::load_model(path);
  ASSERT_TRUE(reloaded.ok()) << reloaded.status().to_string();
  const ir::Tensor& big = *(*reloaded)->graph().find_value("big")->initializer();
  ASSERT_EQ(big.dims(), std::vector<int64_t>{static_cast<int64_t>(kBig)});
  EXPECT_EQ(big.storage().form, ir::TensorStorage::Form::kExternal);
  const auto* b = reinterpret_cast<const unsigned char*>(big.raw_data());
  EXPECT_EQ(b[0], 0x11);
  EXPECT_EQ(b[1], 0x00);
  EXPECT_EQ(b[kBig / 2], 0x22);
  EXPECT_EQ(b[kBig - 1], 0x33);
  const ir::Tensor& after = *(*reloaded)->graph().find_value("after")->initializer();
  EXPECT_EQ(after.storage().form, ir::TensorStorage::Form::kExternal);
  EXPECT_EQ(after.element_as_double(0), 0.25);
  EXPECT_EQ(after.element_as_double(1), -2.5);
  EXPECT_EQ(after.element_as_double(1023), static_cast<double>(1e30f));

  // Saving the reloaded model again (same file names, another folder) gives the same bytes.
  std::filesystem::create_directory(dir.path() / "again");
  const auto path2 = dir.path() / "again" / "large.onnx";
  ASSERT_TRUE(onnx::save_model(**reloaded, path2).ok());
  EXPECT_EQ(testing::read_bytes(path), testing::read_bytes(path2));
  const auto again_files = testing::data_files_of(path2);
  ASSERT_EQ(again_files.size(), 1u);
  EXPECT_EQ(again_files[0].filename(), data.filename());
  EXPECT_EQ(std::filesystem::file_size(data), std::filesystem::file_size(again_files[0]));
}

}  // namespace
}  // namespace mixq
