// The device executor: runs a model on one CUDA device, step by step as the fusion pass planned
// it (fusion.h). One stream; device memory from an arena that reuses freed blocks; shape
// computations on the host (each step's output dims from the node's shape function on the
// concrete input dims, exec/node_runner.h); quantized layers as real INT8/FP8 GEMMs; nodes
// without a device kernel on the CPU with copies both ways, listed in cpu_fallbacks()
// (strict_gpu makes them an error).
//
// Built without CUDA, create() returns kNoDevice (exit 5) saying so.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/exec/executor.h"
#include "mixq/gpu/device.h"
#include "mixq/gpu/fusion.h"
#include "mixq/ir/model.h"

namespace mixq::gpu {

struct DeviceExecOptions {
  bool strict_gpu = false;  // a node without a device kernel is an error, not a CPU fallback
  int threads = 0;          // CPU threads for host steps and fallbacks (<= 0: all)
  int device = 0;           // CUDA device index
  // Time every step with CUDA events (DeviceRunStats::ms_by_kind); adds a little per step, so
  // latency measurements run without it.
  bool profile = false;
};

struct DeviceRunStats {
  int64_t peak_device_bytes = 0;  // weights + the arena's high-water mark + GEMM workspace
  int64_t weight_bytes = 0;       // constants resident on the device
  int64_t copied_bytes = 0;       // host<->device traffic of host steps and CPU fallbacks
  int64_t device_steps = 0, fused_gemms = 0, host_steps = 0, cpu_fallbacks = 0;
  // With profile: milliseconds per kind of step ("gemm cublaslt-fp8", "op Softmax", "host",
  // "cpu-fallback Resize"), summed over the run.
  std::map<std::string, double> ms_by_kind;
};

class DeviceExecutor {
 public:
  // Plans and prepares `model` (which must outlive the executor): uploads and lays out the
  // weights of every fused GEMM. Errors: kNoDevice without a usable device; kUnsupported for
  // a CPU fallback under strict_gpu (naming every such node).
  static Expected<std::unique_ptr<DeviceExecutor>> create(const ir::Model& model,
                                                          const DeviceExecOptions& options = {});
  ~DeviceExecutor();
  DeviceExecutor(const DeviceExecutor&) = delete;
  DeviceExecutor& operator=(const DeviceExecutor&) = delete;

  const DevicePlan& plan() const;
  const DeviceInfo& device() const;
  // "Resize 'up' (#12): no device kernel for Resize", one per node that ran on the CPU, in the
  // order they ran (planned ones, and device steps a kernel refused at run time).
  std::vector<std::string> cpu_fallbacks() const;
  // Layers planned as fused GEMMs that run differently, with the reason (an FP8 layer on a
  // device below sm_89 runs as FP16; a shape cuBLASLt refuses runs as emulated Q/DQ + FP32).
  const std::vector<std::string>& notes() const;

  // Runs the model on `feeds` and returns the outputs on the host, in model order.
  Expected<std::vector<ir::Tensor>> run(const exec::NamedTensors& feeds);
  // Median milliseconds of a run over `iters` runs after `warmup` runs, timed with CUDA events
  // on the executor's stream, with the inputs uploaded once before and the outputs left on the
  // device (the model's time, without the PCIe copies).
  Expected<double> time(const exec::NamedTensors& feeds, int warmup, int iters);
  const DeviceRunStats& last_run_stats() const;

  struct Impl;

 private:
  explicit DeviceExecutor(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace mixq::gpu
