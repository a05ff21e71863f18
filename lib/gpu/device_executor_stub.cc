// The device executor in a build without CUDA: create() says so (exit 5).
#include "mixq/gpu/device_executor.h"

namespace mixq::gpu {

struct DeviceExecutor::Impl {
  DevicePlan plan;
  DeviceInfo info;
  std::vector<std::string> notes;
  DeviceRunStats stats;
};

Expected<std::unique_ptr<DeviceExecutor>> DeviceExecutor::create(const ir::Model&,
                                                                 const DeviceExecOptions&) {
  return Status(StatusCode::kNoDevice,
                "mixq was built without CUDA (configure with -DMIXQ_CUDA=ON to require it)");
}

DeviceExecutor::DeviceExecutor(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
DeviceExecutor::~DeviceExecutor() = default;
const DevicePlan& DeviceExecutor::plan() const { return impl_->plan; }
const DeviceInfo& DeviceExecutor::device() const { return impl_->info; }
std::vector<std::string> DeviceExecutor::cpu_fallbacks() const { return {}; }
const std::vector<std::string>& DeviceExecutor::notes() const { return impl_->notes; }
const DeviceRunStats& DeviceExecutor::last_run_stats() const { return impl_->stats; }
Expected<std::vector<ir::Tensor>> DeviceExecutor::run(const exec::NamedTensors&) {
  return Status(StatusCode::kNoDevice, "mixq was built without CUDA");
}
Expected<double> DeviceExecutor::time(const exec::NamedTensors&, int, int) {
  return Status(StatusCode::kNoDevice, "mixq was built without CUDA");
}

}  // namespace mixq::gpu
