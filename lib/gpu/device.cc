#include "mixq/gpu/device.h"

#include <sstream>

#ifdef MIXQ_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mixq::gpu {

Discovery discover_devices() {
  Discovery d;
#ifdef MIXQ_HAVE_CUDA
  d.built_with_cuda = true;
  int rt = 0;
  if (cudaRuntimeGetVersion(&rt) == cudaSuccess) {
    d.runtime_version = std::to_string(rt / 1000) + "." + std::to_string((rt % 1000) / 10);
  }
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    d.reason = std::string("CUDA reports no usable device: ") + cudaGetErrorString(err);
    return d;
  }
  for (int i = 0; i < count; ++i) {
    cudaDeviceProp prop{};
    if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) continue;
    d.devices.push_back(DeviceInfo{i, prop.name, prop.major, prop.minor, prop.totalGlobalMem});
  }
  if (d.devices.empty()) d.reason = "CUDA found no device";
#else
  d.reason = "mixq was built without CUDA (configure with -DMIXQ_CUDA=ON to require it)";
#endif
  return d;
}

std::string describe(const Discovery& d) {
  std::ostringstream out;
  if (!d.built_with_cuda) {
    out << "CUDA: not built in";
    return out.str();
  }
  out << "CUDA " << d.runtime_version << " runtime; ";
  if (d.devices.empty()) {
    out << "no device (" << d.reason << ")";
    return out.str();
  }
  out << "devices:";
  for (const auto& dev : d.devices) {
    out << " [" << dev.index << "] " << dev.name << " (sm_" << dev.compute_major
        << dev.compute_minor << ", " << (dev.total_memory >> 30) << " GiB)";
  }
  return out.str();
}

}  // namespace mixq::gpu
