// Pooling on the device, NCHW, float32 and float16 (computed in float32), for the device
// executor: ONNX MaxPool-12 and AveragePool-19 over two spatial axes, GlobalAveragePool-1 and
// GlobalMaxPool-1 over any number. Output shapes come from the caller (ceil_mode and auto_pad
// are resolved there); windows that run past the end padding are cut at the padded input, as on
// the CPU executor. Results match the CPU executor bit for bit for MaxPool, AveragePool and
// GlobalMaxPool (same float32 operations in the same order) and to the last bit of the
// float32 / float16 rounding for GlobalAveragePool (float64 sums in another order).
#pragma once

#include <cstdint>

#include "mixq/core/status.h"
#include "mixq/gpu/device_tensor.h"

namespace mixq::gpu {

// The window of a 2-D pool: kernel, strides, pads (begin and end per axis), dilations, and
// AveragePool's count_include_pad (divide by the taps inside the padded input instead of the
// taps inside the input).
struct Pool2dParams {
  int64_t kernel_h = 1, kernel_w = 1, stride_h = 1, stride_w = 1, pad_top = 0, pad_left = 0,
          pad_bottom = 0, pad_right = 0, dilation_h = 1, dilation_w = 1;
  bool count_include_pad = false;
};

// y[n, c, oh, ow] = max over the window's taps inside x (-inf when there are none); NaN
// propagates. x is [N, C, H, W], y [N, C, OH, OW] of x's dtype. Refuses other dtypes
// (unsupported), non-positive kernel/stride/dilation, negative pads and mismatched shapes
// (bad input).
Status max_pool2d(const DeviceTensor& x, const Pool2dParams& p, const DeviceTensor& y,
                  StreamHandle s);

// y[n, c, oh, ow] = (float32 sum of the window's taps inside x, in row-major window order) /
// (their number, or with count_include_pad the number of taps inside the padded input).
Status average_pool2d(const DeviceTensor& x, const Pool2dParams& p, const DeviceTensor& y,
                      StreamHandle s);

// x [N, C, D1, ...] (rank >= 3), y [N, C, 1, ...]: the mean (float64 sum) or the max (NaN
// propagates) of each (n, c) plane.
Status global_average_pool(const DeviceTensor& x, const DeviceTensor& y, StreamHandle s);
Status global_max_pool(const DeviceTensor& x, const DeviceTensor& y, StreamHandle s);

}  // namespace mixq::gpu
