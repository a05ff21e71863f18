#include "mixq/gpu/memory.h"

#include <cstring>
#include <utility>

#ifdef MIXQ_HAVE_CUDA
#include <cuda_runtime_api.h>
#endif

namespace mixq::gpu {

#ifdef MIXQ_HAVE_CUDA

namespace {

cudaStream_t raw(StreamHandle s) { return static_cast<cudaStream_t>(s); }

// Out of device memory is "no usable device for this job" (exit 5); anything else from CUDA is
// a fault mixq did not expect.
Status cuda_status(cudaError_t e, const char* what) {
  if (e == cudaSuccess) return Status::ok_status();
  if (e == cudaErrorMemoryAllocation) {
    return Status(StatusCode::kNoDevice, std::string(what) + ": out of device memory");
  }
  if (e == cudaErrorNoDevice || e == cudaErrorInsufficientDriver) {
    return Status(StatusCode::kNoDevice, std::string(what) + ": " + cudaGetErrorString(e));
  }
  return internal_error(what, ": CUDA error ", cudaGetErrorName(e), " (", cudaGetErrorString(e),
                        ")");
}

}  // namespace

bool device_available() {
  int count = 0;
  return cudaGetDeviceCount(&count) == cudaSuccess && count > 0;
}

Expected<DeviceBuffer> DeviceBuffer::allocate(size_t bytes) {
  DeviceBuffer b;
  if (bytes == 0) return b;
  void* p = nullptr;
  MIXQ_RETURN_IF_ERROR(cuda_status(cudaMalloc(&p, bytes), "cudaMalloc"));
  b.data_ = p;
  b.bytes_ = bytes;
  return b;
}

DeviceBuffer::~DeviceBuffer() {
  if (data_ != nullptr) cudaFree(data_);
}

Expected<Stream> Stream::create() {
  cudaStream_t s = nullptr;
  MIXQ_RETURN_IF_ERROR(
      cuda_status(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate"));
  Stream out;
  out.handle_ = s;
  return out;
}

Stream::~Stream() {
  if (handle_ != nullptr) cudaStreamDestroy(raw(handle_));
}

Status Stream::synchronize() const {
  return cuda_status(cudaStreamSynchronize(raw(handle_)), "cudaStreamSynchronize");
}

Status copy_to_device(void* dst, const void* src, size_t bytes, StreamHandle s) {
  if (bytes == 0) return Status::ok_status();
  return cuda_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, raw(s)),
                     "copy to device");
}

Status copy_to_host(void* dst, const void* src, size_t bytes, StreamHandle s) {
  if (bytes == 0) return Status::ok_status();
  MIXQ_RETURN_IF_ERROR(cuda_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, raw(s)),
                                   "copy to host"));
  return cuda_status(cudaStreamSynchronize(raw(s)), "copy to host");
}

Status copy_device_to_device(void* dst, const void* src, size_t bytes, StreamHandle s) {
  if (bytes == 0) return Status::ok_status();
  return cuda_status(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, raw(s)),
                     "device copy");
}

Status memset_device(void* dst, int value, size_t bytes, StreamHandle s) {
  if (bytes == 0) return Status::ok_status();
  return cuda_status(cudaMemsetAsync(dst, value, bytes, raw(s)), "cudaMemset");
}

Status last_launch_error(const char* what) { return cuda_status(cudaGetLastError(), what); }

Expected<Event> Event::create() {
  cudaEvent_t e = nullptr;
  MIXQ_RETURN_IF_ERROR(cuda_status(cudaEventCreate(&e), "cudaEventCreate"));
  Event out;
  out.handle_ = e;
  return out;
}

Event::~Event() {
  if (handle_ != nullptr) cudaEventDestroy(static_cast<cudaEvent_t>(handle_));
}

Status Event::record(StreamHandle s) {
  return cuda_status(cudaEventRecord(static_cast<cudaEvent_t>(handle_), raw(s)), "cudaEventRecord");
}

Expected<float> Event::elapsed_ms(const Event& start, const Event& end) {
  MIXQ_RETURN_IF_ERROR(
      cuda_status(cudaEventSynchronize(static_cast<cudaEvent_t>(end.handle_)), "event wait"));
  float ms = 0;
  MIXQ_RETURN_IF_ERROR(
      cuda_status(cudaEventElapsedTime(&ms, static_cast<cudaEvent_t>(start.handle_),
                                       static_cast<cudaEvent_t>(end.handle_)),
                  "cudaEventElapsedTime"));
  return ms;
}

#else  // built without CUDA: every call says so

namespace {
Status built_without_toolkit() {
  return Status(StatusCode::kNoDevice,
                "mixq was built without CUDA (configure with -DMIXQ_CUDA=ON to require it)");
}
}  // namespace

bool device_available() { return false; }
Expected<DeviceBuffer> DeviceBuffer::allocate(size_t) { return built_without_toolkit(); }
DeviceBuffer::~DeviceBuffer() = default;
Expected<Stream> Stream::create() { return built_without_toolkit(); }
Stream::~Stream() = default;
Status Stream::synchronize() const { return built_without_toolkit(); }
Status copy_to_device(void*, const void*, size_t, StreamHandle) { return built_without_toolkit(); }
Status copy_to_host(void*, const void*, size_t, StreamHandle) { return built_without_toolkit(); }
Status copy_device_to_device(void*, const void*, size_t, StreamHandle) {
  return built_without_toolkit();
}
Status memset_device(void*, int, size_t, StreamHandle) { return built_without_toolkit(); }
Status last_launch_error(const char*) { return built_without_toolkit(); }
Expected<Event> Event::create() { return built_without_toolkit(); }
Event::~Event() = default;
Status Event::record(StreamHandle) { return built_without_toolkit(); }
Expected<float> Event::elapsed_ms(const Event&, const Event&) { return built_without_toolkit(); }

#endif

DeviceBuffer::DeviceBuffer(DeviceBuffer&& o) noexcept
    : data_(std::exchange(o.data_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& o) noexcept {
  if (this != &o) {
    DeviceBuffer old(std::move(*this));
    data_ = std::exchange(o.data_, nullptr);
    bytes_ = std::exchange(o.bytes_, 0);
  }
  return *this;
}

Event::Event(Event&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}

Event& Event::operator=(Event&& o) noexcept {
  if (this != &o) {
    Event old(std::move(*this));
    handle_ = std::exchange(o.handle_, nullptr);
  }
  return *this;
}

Stream::Stream(Stream&& o) noexcept : handle_(std::exchange(o.handle_, nullptr)) {}

Stream& Stream::operator=(Stream&& o) noexcept {
  if (this != &o) {
    Stream old(std::move(*this));
    handle_ = std::exchange(o.handle_, nullptr);
  }
  return *this;
}

Expected<DeviceTensorBuffer> allocate_tensor(DType dtype, const std::vector<int64_t>& dims) {
  DeviceTensorBuffer out;
  out.view.dtype = dtype;
  out.view.dims = dims;
  for (int64_t d : dims) {
    if (d < 0) return bad_input("negative dimension in a device tensor");
  }
  const auto bytes = dtype_storage_bytes(dtype, static_cast<uint64_t>(out.view.numel()));
  if (!bytes) return bad_input("device tensor of ", dtype_name(dtype), " is too large");
  MIXQ_ASSIGN_OR_RETURN(out.buffer, DeviceBuffer::allocate(*bytes));
  out.view.data = out.buffer.data();
  return out;
}

Expected<DeviceTensorBuffer> upload(const ir::Tensor& t, StreamHandle s) {
  if (t.dtype() == DType::kString) return unsupported("string tensors cannot go to the device");
  MIXQ_ASSIGN_OR_RETURN(auto out, allocate_tensor(t.dtype(), t.dims()));
  MIXQ_RETURN_IF_ERROR(copy_to_device(out.view.data, t.raw_data(), t.nbytes(), s));
#ifdef MIXQ_HAVE_CUDA
  MIXQ_RETURN_IF_ERROR(cuda_status(cudaStreamSynchronize(raw(s)), "upload"));
#endif
  return out;
}

Expected<ir::Tensor> download(const DeviceTensor& t, StreamHandle s) {
  MIXQ_ASSIGN_OR_RETURN(auto host, ir::Tensor::uninitialized(t.dtype, t.dims));
  MIXQ_RETURN_IF_ERROR(copy_to_host(host.mutable_raw_data(), t.data, host.nbytes(), s));
  return host;
}

}  // namespace mixq::gpu
