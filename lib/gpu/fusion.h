// How a model runs on the device: the fusion pass. Host-only (no CUDA), so the graph-level
// tests run on every machine.
//
// Quantized layers run as real low-precision GEMMs, not as Q/DQ emulation. The pattern the
// emitter writes (lib/quant/qdq_emit.h),
//
//     x ─ QuantizeLinear(s_a) ─ DequantizeLinear(s_a) ─┐
//     W_q (INT8/FP8 initializer) ─ DequantizeLinear(s_w per channel) ─ MatMul | Gemm | Conv ─ y
//
// becomes one fused step: quantize x with s_a, a cuBLASLt INT8 (int32 accumulate) or FP8 E4M3
// (FP32 accumulate) GEMM against W_q, and an epilogue that multiplies by s_a·s_w[j] and adds the
// bias. Conv is lowered to GEMM by im2col. Layers whose inputs are FLOAT16 (the FP16 regions of
// lib/quant/fp16_emit.h) run as FP16 GEMMs or cuDNN FP16 convolutions, FP32 layers as FP32 GEMMs
// (TF32 off) or cuDNN FP32 convolutions.
//
// Every other node is a device kernel (device_ops.h), a host step (shape computations on small
// tensors whose values are known from constants and shapes alone: Shape, and whatever consumes
// only such values), or a CPU fallback (no device kernel for its op or dtypes: it runs on the CPU
// executor with copies both ways, and the report lists it; --strict-gpu refuses the model).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"

namespace mixq::gpu {

enum class GemmFormat { kFp32, kFp16, kInt8, kFp8 };
const char* gemm_format_name(GemmFormat f);  // "fp32", "fp16", "int8", "fp8"

// One layer run as a GEMM (or convolution) on the device.
struct FusedGemm {
  GemmFormat format = GemmFormat::kFp32;
  const ir::Node* layer = nullptr;              // MatMul, Gemm or Conv
  const ir::Node* act_quantize = nullptr;       // INT8/FP8: QuantizeLinear on the activation
  const ir::Node* act_dequantize = nullptr;     // INT8/FP8: its DequantizeLinear
  const ir::Node* weight_dequantize = nullptr;  // INT8/FP8: DequantizeLinear of the weight
  const ir::Value* activation = nullptr;        // what the step reads: x before quantization
  const ir::Value* weight = nullptr;        // the constant weight (quantized codes for INT8/FP8)
  const ir::Value* act_scale = nullptr;     // INT8/FP8: per-tensor activation scale
  const ir::Value* weight_scale = nullptr;  // INT8/FP8: per-output-channel weight scales
  const ir::Value* bias = nullptr;          // Gemm C / Conv B, when present
  const ir::Value* output = nullptr;
  // The device kernel: "cublaslt-fp8", "cublaslt-int8", "cublaslt-fp16", "cublaslt-fp32",
  // "im2col+cublaslt-fp8", "im2col+cublaslt-int8", "cudnn-fp16", "cudnn-fp32",
  // "cublaslt-batched-fp16", "cublaslt-batched-fp32" (MatMul of two activations).
  std::string kernel;
};

enum class StepKind {
  kFusedGemm,    // one FusedGemm (its layer node; the Q/DQ nodes it absorbed are kAbsorbed)
  kAbsorbed,     // a Q/DQ node folded into a FusedGemm
  kDevice,       // a device kernel from device_ops.h
  kHost,         // a shape computation on the host (small, values known without the data)
  kCpuFallback,  // no device kernel: runs on the CPU with copies
};
const char* step_kind_name(StepKind k);

struct Step {
  StepKind kind = StepKind::kDevice;
  const ir::Node* node = nullptr;
  size_t gemm = 0;     // kFusedGemm/kAbsorbed: index into DevicePlan::gemms
  std::string reason;  // kCpuFallback: why there is no device kernel; kFusedGemm: the kernel
};

struct DevicePlan {
  std::vector<Step> steps;  // one per main-graph node, in topological order
  std::vector<FusedGemm> gemms;
  // Quantized layers that could not be fused (their Q/DQ nodes then run as standalone device
  // kernels around a float GEMM: emulation), each with the reason.
  std::vector<std::string> not_fused;
  size_t count(StepKind k) const;
};

struct FusionOptions {
  // The device's compute capability: FP8 GEMMs need sm_89 or newer; below it FP8 layers run as
  // FP16 GEMMs on the dequantized weights, with a warning in `not_fused`. 0: assume FP8 support
  // (planning without a device, as the tests do).
  int compute_capability = 0;
};

// Plans `model` (shape inference already run, as onnx::load_model does). Fails only on a graph
// it cannot order; unsupported ops become CPU fallbacks, not errors.
Expected<DevicePlan> plan_device_graph(const ir::Model& model, const FusionOptions& options = {});

}  // namespace mixq::gpu
