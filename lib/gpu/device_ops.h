// Which nodes have a device kernel: the op types, opset ranges and dtypes lib/gpu's kernels
// implement (kernels/*.cu, gemm/). Host-only, so the fusion pass and its tests use it on every
// machine; the device executor dispatches on the same table, and a test checks the two agree.
#pragma once

#include <string>
#include <vector>

#include "mixq/ir/model.h"
#include "mixq/ir/shape_inference.h"

namespace mixq::gpu {

struct DeviceOp {
  std::string op_type;
  int64_t since = 1, until = 1000;  // ai.onnx opset range
  std::vector<DType> dtypes;        // element types of the first input it accepts
  const char* kernel;               // the kernel family (file) that runs it
};

// The table, sorted by op type.
const std::vector<DeviceOp>& device_ops();

// True when `node` (in `model`, for its opset) has a device kernel for its input dtypes (from
// `types`, the model's shape inference); else
// false with the reason ("no device kernel for Resize", "Softmax-11 on the device needs opset
// 13 semantics", "Add float64: the device kernels take float32, float16, int32, int64").
bool has_device_kernel(const ir::Model& model, const ir::Node& node,
                       const ir::InferenceResult& types, std::string* why_not);

}  // namespace mixq::gpu
