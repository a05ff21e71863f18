// ONNX Softmax-13 / LogSoftmax-13 and LayerNormalization-17 on the device (float32 / float16,
// computed in float32). Contiguous row-major DeviceTensors; work is enqueued on stream `s`
// without synchronizing. Every reduction runs in a fixed order (one thread or one block per
// row, a fixed tree inside the block, no atomics), so a launch repeats its result bit for bit.
// No CUDA header here.
#pragma once

#include <cstdint>

#include "mixq/core/status.h"
#include "mixq/gpu/device_tensor.h"

namespace mixq::gpu {

// Softmax-13 (log = false): y = exp(x - max) / sum(exp(x - max)) along `axis`;
// LogSoftmax-13 (log = true): y = (x - max) - log(sum(exp(x - max))).
// `axis` is already normalized to [0, rank). x and y: the same dtype (float32 or float16) and
// dims. Refuses other dtypes (unsupported) and a bad axis or shape mismatch (bad_input).
Status softmax(const DeviceTensor& x, const DeviceTensor& y, int64_t axis, bool log,
               StreamHandle s);

// LayerNormalization-17 (first output only): each index over the dims before `axis` normalizes
// the values of dims [axis, rank): y = (x - mean) / sqrt(var + epsilon) * scale + bias, with
// the biased variance, in float32. `axis` is already normalized to [0, rank).
// scale and bias may be null (1 and 0). They are float32 or float16 and either hold one value
// or have the normalized shape x.dims[axis:] (leading 1s allowed); other shapes that broadcast
// are refused as unsupported, shapes that do not as bad_input.
// x and y: the same dtype (float32 or float16) and dims.
Status layer_norm(const DeviceTensor& x, const DeviceTensor* scale, const DeviceTensor* bias,
                  const DeviceTensor& y, int64_t axis, float epsilon, StreamHandle s);

}  // namespace mixq::gpu
