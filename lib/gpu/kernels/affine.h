// Per-channel affine maps and constant padding on the device, for the device executor:
// ONNX BatchNormalization-15 in inference mode (folded on the host into y = x·a[c] + b[c] with
// a = scale / sqrt(var + epsilon), b = B - mean·a) and ONNX Pad-21 in constant mode.
#pragma once

#include <cstdint>
#include <vector>

#include "mixq/core/status.h"
#include "mixq/gpu/device_tensor.h"

namespace mixq::gpu {

// y = x·a[c] + b[c] with c the index along dim 1 (NC...), a and b device float32 arrays of
// x.dims[1] entries. x, y float32 or float16 (computed in float32), same dims.
Status channel_affine(const DeviceTensor& x, const float* a, const float* b, const DeviceTensor& y,
                      StreamHandle s);

// y[i] = x[i - begin] where that lies inside x, else the constant whose bytes (the element's
// bit pattern, low bytes first) are `value_bits`. begin[k] >= 0 per dim (negative pads, i.e.
// crops, are done by the executor with slice()); y.dims from the host. Any dtype of 1, 2, 4 or 8
// bytes per element.
Status pad_constant(const DeviceTensor& x, const std::vector<int64_t>& begin, uint64_t value_bits,
                    const DeviceTensor& y, StreamHandle s);

}  // namespace mixq::gpu
