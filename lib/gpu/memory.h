// Device memory, streams and copies behind a host-only interface (no CUDA header), for the
// device executor and the gpu-labelled tests. Every call reports CUDA errors as Status
// (kInternal with the CUDA error string, or kUnsupported when mixq was built without CUDA).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "mixq/core/status.h"
#include "mixq/gpu/device_tensor.h"
#include "mixq/ir/tensor.h"

namespace mixq::gpu {

// True when built with CUDA and at least one device is usable.
bool device_available();

// Owns one cudaMalloc'd block; freed on destruction.
class DeviceBuffer {
 public:
  static Expected<DeviceBuffer> allocate(size_t bytes);
  DeviceBuffer() = default;
  ~DeviceBuffer();
  DeviceBuffer(DeviceBuffer&& o) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* data() const { return data_; }
  size_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  size_t bytes_ = 0;
};

// One CUDA stream (non-blocking), destroyed with the object.
class Stream {
 public:
  static Expected<Stream> create();
  Stream() = default;
  ~Stream();
  Stream(Stream&& o) noexcept;
  Stream& operator=(Stream&& o) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  StreamHandle handle() const { return handle_; }
  Status synchronize() const;

 private:
  StreamHandle handle_ = nullptr;
};

// A CUDA event (timing enabled), for per-step profiles: record on a stream, then the elapsed
// milliseconds between two recorded events once the stream reached them.
class Event {
 public:
  static Expected<Event> create();
  Event() = default;
  ~Event();
  Event(Event&& o) noexcept;
  Event& operator=(Event&& o) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  Status record(StreamHandle s);
  // Milliseconds from `start` to `end` (synchronizes on `end`).
  static Expected<float> elapsed_ms(const Event& start, const Event& end);

 private:
  void* handle_ = nullptr;  // cudaEvent_t
};

Status copy_to_device(void* dst, const void* src, size_t bytes, StreamHandle s);
Status copy_to_host(void* dst, const void* src, size_t bytes, StreamHandle s);
Status copy_device_to_device(void* dst, const void* src, size_t bytes, StreamHandle s);
Status memset_device(void* dst, int value, size_t bytes, StreamHandle s);
// The last asynchronous error of a kernel launch on this thread (cudaGetLastError), as Status;
// `what` names the kernel in the message.
Status last_launch_error(const char* what);

// A tensor in device memory with its buffer: upload() copies a host tensor (synchronously);
// download() copies back into a fresh host tensor of the same dtype and dims.
struct DeviceTensorBuffer {
  DeviceBuffer buffer;
  DeviceTensor view;
};
Expected<DeviceTensorBuffer> upload(const ir::Tensor& t, StreamHandle s);
Expected<DeviceTensorBuffer> allocate_tensor(DType dtype, const std::vector<int64_t>& dims);
Expected<ir::Tensor> download(const DeviceTensor& t, StreamHandle s);

}  // namespace mixq::gpu
