// Small element-wise kernels around the cuBLASLt GEMMs and the cuDNN convolution (epilogue.cu):
// dequantization and per-channel scaling of accumulators, bias addition, explicit padding.
// Internal to lib/gpu/gemm. Each launcher checks the launch and returns its error as Status;
// all run on `stream` and return without waiting.
#pragma once

#include <cstdint>

#include "mixq/core/dtype.h"
#include "mixq/core/status.h"
#include "mixq/gpu/device_tensor.h"

namespace mixq::gpu::gemm_detail {

// For a row-major [m, n] result:
//   y[i,j] = src[i,j] * (scale * channel_scale[j]) + bias[j]
// computed in float32 with one fused multiply-add (the product scale * channel_scale[j] rounded
// once first), then rounded once to `out` (float32, float16 or bfloat16). src may be nullptr
// (zeros: a k = 0 product), channel_scale nullptr (1), bias nullptr (0). src == y is allowed
// when out is float32 (in place).
Status finish_f32(const float* src, float scale, const float* channel_scale, const float* bias,
                  void* y, DType out, int64_t m, int64_t n, StreamHandle stream);
// The same from exact int32 accumulators: float(acc) is exact up to 2^24 in magnitude.
Status finish_i32(const int32_t* src, float scale, const float* channel_scale, const float* bias,
                  void* y, DType out, int64_t m, int64_t n, StreamHandle stream);

// out[i] = float16(in[i]), rounded to nearest even, for n elements.
Status floats_to_half(const float* in, void* out, int64_t n, StreamHandle stream);

// y[b, c, p] += bias[c] for an NCHW tensor of `dtype` (float32 or float16; float16 adds in
// float32 and rounds once more).
Status add_channel_bias(void* y, DType dtype, const float* bias, int64_t batch, int64_t channels,
                        int64_t spatial, StreamHandle stream);

// out[b, c, i, j] = x[b, c, i - top, j - left] inside x, else 0, for out of [batch, channels,
// out_h, out_w]; elements of `elem_bytes` (2 or 4) bytes.
Status pad_nchw(const void* x, void* out, int elem_bytes, int64_t batch, int64_t channels,
                int64_t h, int64_t w, int64_t top, int64_t left, int64_t out_h, int64_t out_w,
                StreamHandle stream);

}  // namespace mixq::gpu::gemm_detail
