// The device executor's internals, shared by device_executor.cc (the run loop, arena, values),
// device_steps.cc (one handler per device op) and device_gemm.cc (the fused GEMM steps).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "mixq/exec/node_runner.h"
#include "mixq/exec/thread_pool.h"
#include "mixq/gpu/device_executor.h"
#include "mixq/gpu/gemm/gemm.h"
#include "mixq/gpu/memory.h"

namespace mixq::gpu {

// Device memory for the executor: freed blocks are kept by size and handed out again (one
// stream, so a block freed by one step can be reused by the next without synchronizing).
class Arena {
 public:
  class Block {
   public:
    Block(Arena* arena, void* data, size_t bytes) : arena_(arena), data_(data), bytes_(bytes) {}
    ~Block() { arena_->release(data_, bytes_); }
    Block(const Block&) = delete;
    Block& operator=(const Block&) = delete;
    void* data() const { return data_; }
    size_t bytes() const { return bytes_; }

   private:
    Arena* arena_;
    void* data_;
    size_t bytes_;
  };

  Expected<std::shared_ptr<Block>> get(size_t bytes);
  int64_t in_use() const { return in_use_; }
  int64_t peak() const { return peak_; }
  void reset_peak() { peak_ = in_use_; }

 private:
  void release(void* data, size_t bytes);
  std::multimap<size_t, void*> free_;
  std::vector<DeviceBuffer> owned_;
  int64_t in_use_ = 0, peak_ = 0;
};

// A value during a run: on the host, on the device, or both.
struct Slot {
  std::optional<ir::Tensor> host;
  std::shared_ptr<Arena::Block> block;  // device memory (shared by views: Reshape, ...)
  DeviceTensor dev;                     // valid when on_device
  bool on_device = false;
};

// A fused GEMM's weights laid out for its kernel, uploaded once.
struct PreparedGemm {
  const FusedGemm* gemm = nullptr;
  GemmFormat format = GemmFormat::kFp32;  // what actually runs
  bool emulate = false;                   // quantized layer run as Q/DQ emulation + FP32 GEMM
  int64_t n = 0, k = 0;                   // output channels, reduction length (per group)
  DeviceBuffer weight;                    // [n, k] row-major (per group for Conv)
  DeviceBuffer channel_scale;             // n floats (all groups), quantized formats
  DeviceBuffer bias;                      // n floats, optional
  DeviceBuffer act_scale_dev;             // 1 float (FP8 scale pointer / emulation)
  DeviceBuffer one_dev;                   // 1 float: 1.0 (FP8's B scale)
  float act_scale = 1.0f;
  bool has_bias = false;
  std::vector<int64_t> weight_dims;  // the original weight's dims
};

struct DeviceExecutor::Impl {
  const ir::Model& model;
  DeviceExecOptions options;
  DeviceInfo info;
  DevicePlan plan;
  std::vector<std::string> notes;
  std::vector<std::string> fallbacks;
  Stream stream;
  std::unique_ptr<GemmContext> gemm;
  Arena arena;
  exec::ThreadPool pool;
  std::map<const ir::Node*, PreparedGemm> prepared;                     // by layer node
  std::map<const ir::Value*, std::shared_ptr<Arena::Block>> uploaded;   // constants on device
  std::map<const ir::Node*, std::vector<DeviceBuffer>> node_constants;  // BatchNorm a, b, ...
  // Per step, the values no later step reads (released after it). Fused GEMMs read their
  // activation (and, when emulating, the inputs of the Q/DQ nodes they absorbed).
  std::vector<std::vector<const ir::Value*>> release_after;
  DeviceRunStats stats;

  // During a run.
  std::map<const ir::Value*, Slot> values;
  // Timing: inputs already on the device, outputs left there (see DeviceExecutor::time).
  std::map<const ir::Value*, Slot> resident_feeds;
  bool outputs_stay_on_device = false;

  Impl(const ir::Model& m, const DeviceExecOptions& o);

  Status prepare_gemms();
  Expected<std::vector<ir::Tensor>> run(const exec::NamedTensors& feeds);

  // Values.
  Expected<Slot*> slot(const ir::Value* v);
  Status ensure_device(const ir::Value* v);
  Status ensure_host(const ir::Value* v);
  Expected<DeviceTensor> device_input(const ir::Node& n, size_t i);
  Expected<const ir::Tensor*> host_input(const ir::Node& n, size_t i);
  // A fresh device tensor for output `o` of `n`, recorded as the value's slot.
  Expected<DeviceTensor> new_output(const ir::Node& n, size_t o, DType dtype,
                                    const std::vector<int64_t>& dims);
  // Output o shares input i's device memory with new dims (views).
  Status alias_output(const ir::Node& n, size_t o, size_t i, const std::vector<int64_t>& dims);
  Expected<std::shared_ptr<Arena::Block>> scratch(size_t bytes);
  Expected<std::vector<exec::NodeOutputType>> output_types(const ir::Node& n);

  // Steps.
  Status run_on_cpu(const ir::Node& n, bool fallback);
  Status run_device_step(const ir::Node& n);  // device_steps.cc; kUnsupported: CPU instead
  Status run_fused_gemm(const FusedGemm& g);  // device_gemm.cc
  Status run_float_layer(const ir::Node& n);  // unfused MatMul/Gemm/Conv on the device
};

}  // namespace mixq::gpu
