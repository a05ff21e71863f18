// CUDA device discovery. Labelled gpu: on a machine without a usable device the device checks
// skip and say why; the build-independent checks run everywhere.
#include <gtest/gtest.h>

#include "mixq/gpu/device.h"

namespace mixq {
namespace {

TEST(GpuDevice, DescribeSaysWhatWasFound) {
  const auto d = gpu::discover_devices();
  const std::string text = gpu::describe(d);
  EXPECT_NE(text.find("CUDA"), std::string::npos) << text;
  if (d.devices.empty()) {
    EXPECT_FALSE(d.reason.empty()) << "no device and no reason";
    if (d.built_with_cuda) {
      EXPECT_NE(text.find(d.reason), std::string::npos) << text;
    }
  }
#ifdef MIXQ_HAVE_CUDA
  EXPECT_TRUE(d.built_with_cuda);
  EXPECT_FALSE(d.runtime_version.empty());
#else
  EXPECT_FALSE(d.built_with_cuda);
#endif
}

TEST(GpuDevice, ListsUsableDevices) {
  const auto d = gpu::discover_devices();
  if (!d.built_with_cuda) GTEST_SKIP() << "built without CUDA: " << d.reason;
  if (d.devices.empty()) GTEST_SKIP() << "no CUDA device here: " << d.reason;
  for (const auto& dev : d.devices) {
    EXPECT_FALSE(dev.name.empty());
    EXPECT_GE(dev.compute_major, 5) << dev.name;
    EXPECT_GT(dev.total_memory, size_t{1} << 30) << dev.name;
  }
}

}  // namespace
}  // namespace mixq
