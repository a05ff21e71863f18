// FP16 emission: selected layers, and the elementwise and data-movement ops connected to them,
// run in FLOAT16, with Cast nodes where float tensors cross the region's boundary.
//
// The region starts from the layers and grows through float edges to neighbouring ops of an
// allow list (elementwise arithmetic and activations, Reshape/Transpose/Concat/Slice/Gather and
// the like, pooling). Ops in `keep_fp32` (by default Softmax, LayerNormalization, reductions,
// Exp, Pow, ...) and any node whose float inputs or outputs were observed beyond FP16's range
// (|x| > 65504) stay in FP32. Inside the region, float initializers are stored as FLOAT16 (the
// float32 copy goes when nothing else reads it); a float input from outside gets one Cast to
// FLOAT16 shared by its region consumers; a region output read outside (or a graph output) is
// cast back to FLOAT under its original name, so the model's interface does not change.
#pragma once

#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/ir/model.h"

namespace mixq::quant {

// The ops kept in FP32 unless the user says otherwise.
const std::set<std::string>& default_fp16_keep_fp32();

struct Fp16Options {
  std::set<std::string> keep_fp32 = default_fp16_keep_fp32();
  // Largest observed |x| of a tensor; nullopt when unknown (then the tensor is not checked).
  std::function<std::optional<double>(const std::string& tensor)> absmax;
};

// Rewrites the main graph (value types must be known: run shape inference first). Returns the
// nodes that now run in FP16 through `region` (may be null) and appends to `log`.
Status emit_fp16(ir::Model& model, const std::vector<ir::Node*>& layers, const Fp16Options& options,
                 std::vector<std::string>& log, std::vector<const ir::Node*>* region = nullptr);

}  // namespace mixq::quant
