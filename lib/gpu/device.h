// CUDA device discovery. The only layer that includes CUDA headers; without the CUDA Toolkit it
// builds and reports that no GPU runtime is available.
#pragma once

#include <string>
#include <vector>

namespace mixq::gpu {

struct DeviceInfo {
  int index = 0;
  std::string name;
  int compute_major = 0;
  int compute_minor = 0;
  size_t total_memory = 0;
};

struct Discovery {
  bool built_with_cuda = false;
  std::string runtime_version;  // "13.0" when built with CUDA
  std::vector<DeviceInfo> devices;
  // Why no device is usable ("no CUDA driver", "built without CUDA", ...); empty when devices
  // were found.
  std::string reason;
};

// Lists the CUDA devices visible to this process. Never fails: problems land in `reason`.
Discovery discover_devices();

// One line for `mixq --version`: "CUDA 13.0 runtime; devices: NVIDIA H100 (sm_90, 79 GiB)".
std::string describe(const Discovery& d);

}  // namespace mixq::gpu
