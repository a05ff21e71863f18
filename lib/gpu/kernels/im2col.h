// Lowering ONNX Conv-11 (2-D, NCHW, groups, pads, strides, dilations) to GEMMs on the device:
// im2col() lays one group's input windows out as the rows of a matrix, a GEMM multiplies them by
// that group's weights ([out_c / group, c / group * kernel_h * kernel_w], row-major: ONNX's
// weight layout), and scatter_gemm_output() puts the product's rows back into NCHW.
#pragma once

#include <cstdint>

#include "mixq/core/status.h"
#include "mixq/gpu/device_tensor.h"

namespace mixq::gpu {

// The convolution: input [n, c, h, w], weight [out_c, c / group, kernel_h, kernel_w], output
// [n, out_c, out_h, out_w], with out_h = (h + pad_top + pad_bottom - dilation_h * (kernel_h - 1)
// - 1) / stride_h + 1 (floor) and out_w likewise.
struct Conv2dGeometry {
  int64_t n, c, h, w;
  int64_t out_c, kernel_h, kernel_w, stride_h, stride_w, pad_top, pad_left, pad_bottom, pad_right,
      dilation_h, dilation_w, group, out_h, out_w;
};

// For group g = group_index: cols[(n * out_h + oh) * out_w + ow][(ci * kernel_h + kh) * kernel_w
// + kw] = x[n][g * c / group + ci][oh * stride_h - pad_top + kh * dilation_h][ow * stride_w -
// pad_left + kw * dilation_w], 0 in the padding, ci in [0, c / group).
// x: [n, c, h, w] of float32, float16, int8 or float8e4m3fn; cols: a device buffer of
// n * out_h * out_w * (c / group) * kernel_h * kernel_w elements of x's dtype, row-major. The
// bytes are copied; the padding is the all-zero code (+0 for the float types, 0 for int8: an
// int8 input with a nonzero zero point needs the GEMM to account for it).
// Refuses other dtypes (unsupported) and an inconsistent geometry or x shape (bad input).
Status im2col(const DeviceTensor& x, const Conv2dGeometry& g, int64_t group_index, void* cols,
              StreamHandle s);

// The inverse layout step after the GEMM, for group g = group_index:
// y[n][g * out_c / group + oc][oh][ow] = rows[(n * out_h + oh) * out_w + ow][oc], with rows
// row-major [n * out_h * out_w, out_c / group] of y's dtype (float32 or float16). y is
// [n, out_c, out_h, out_w]; the other groups' channels are left as they are.
Status scatter_gemm_output(const void* rows, const Conv2dGeometry& g, int64_t group_index,
                           const DeviceTensor& y, StreamHandle s);

}  // namespace mixq::gpu
