// Throughput of lib/gpu/gemm's cuBLASLt GEMMs: gemm_f32, gemm_f16, gemm_fp8 and gemm_int8 on
// square problems (m = n = k), timed with CUDA events (gpu::time_ms: 3 warm-up calls, then the
// median of 10). A standalone program, not a gtest and not run in CI (target gpu_gemm_bench).
//
//   gpu_gemm_bench [size ...]      default: 4096 8192 16384
//
// Prints one JSON line per format and size:
//   {"device":"NVIDIA H100 80GB HBM3","format":"fp8","out":"bfloat16","epilogue":false,
//    "m":8192,"n":8192,"k":8192,"ms":1.43,"tflops":768.2}
// "epilogue" marks the runs that include mixq's own epilogue kernel (per-channel scale and bias
// for FP8, dequantization for INT8). A size whose buffers do not fit prints "skipped" instead.
// Inputs are random (zeros run faster on these GPUs and would flatter the numbers).
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "mixq/core/dtype.h"
#include "mixq/core/float8.h"
#include "mixq/core/float_bits.h"
#include "mixq/core/status.h"
#include "mixq/gpu/device.h"
#include "mixq/gpu/gemm/gemm.h"
#include "mixq/gpu/memory.h"

namespace {

using namespace mixq;  // NOLINT(google-build-using-namespace)

constexpr int kWarmup = 3;
constexpr int kIters = 10;

// The element bytes of one operand format, and a random pattern of them.
struct Operand {
  const char* name;
  size_t bytes;
  std::vector<uint8_t> pattern;  // 4 MiB, repeated over the buffer
};

Operand make_operand(const char* name, uint32_t seed) {
  constexpr size_t kPatternBytes = size_t{4} << 20;
  Operand op{name, 0, std::vector<uint8_t>(kPatternBytes)};
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  const std::string n = name;
  if (n == "float32") {
    op.bytes = 4;
    for (size_t i = 0; i < kPatternBytes; i += 4) {
      const float v = dist(rng);
      std::memcpy(&op.pattern[i], &v, 4);
    }
  } else if (n == "float16") {
    op.bytes = 2;
    for (size_t i = 0; i < kPatternBytes; i += 2) {
      const uint16_t v = float_to_float16(dist(rng));
      std::memcpy(&op.pattern[i], &v, 2);
    }
  } else if (n == "float8e4m3fn") {
    op.bytes = 1;
    for (uint8_t& b : op.pattern) b = float_to_float8e4m3fn(dist(rng) * 8.0f);
  } else {  // int8
    op.bytes = 1;
    std::uniform_int_distribution<int> idist(-128, 127);
    for (uint8_t& b : op.pattern) b = static_cast<uint8_t>(idist(rng));
  }
  return op;
}

Status fill(void* dst, size_t bytes, const std::vector<uint8_t>& pattern, gpu::StreamHandle s) {
  for (size_t off = 0; off < bytes; off += pattern.size()) {
    const size_t n = std::min(pattern.size(), bytes - off);
    MIXQ_RETURN_IF_ERROR(gpu::copy_to_device(static_cast<char*>(dst) + off, pattern.data(), n, s));
  }
  return Status::ok_status();
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

struct Run {
  const char* format;
  const char* operand;  // element type of A and B
  DType out;
  bool epilogue;
};

// Times one format at m = n = k = size; prints its JSON line. Returns false on a hard error.
bool bench(gpu::GemmContext& ctx, gpu::Stream& stream, const std::string& device, const Run& r,
           int64_t size) {
  const int64_t m = size, n = size, k = size;
  std::printf(
      "{\"device\":\"%s\",\"format\":\"%s\",\"out\":\"%s\",\"epilogue\":%s,\"m\":%lld,"
      "\"n\":%lld,\"k\":%lld,",
      json_escape(device).c_str(), r.format, std::string(dtype_name(r.out)).c_str(),
      r.epilogue ? "true" : "false", static_cast<long long>(m), static_cast<long long>(n),
      static_cast<long long>(k));
  auto skip = [](const Status& st) {
    std::printf("\"skipped\":\"%s\"}\n", json_escape(st.to_string()).c_str());
    std::fflush(stdout);
    return st.code() == StatusCode::kNoDevice || st.code() == StatusCode::kUnsupported;
  };
  const Operand op = make_operand(r.operand, 7);
  const size_t out_bytes = static_cast<size_t>(dtype_bits(r.out) / 8);
  auto a = gpu::DeviceBuffer::allocate(static_cast<size_t>(m * k) * op.bytes);
  if (!a.ok()) return skip(a.status());
  auto b = gpu::DeviceBuffer::allocate(static_cast<size_t>(n * k) * op.bytes);
  if (!b.ok()) return skip(b.status());
  auto y = gpu::DeviceBuffer::allocate(static_cast<size_t>(m * n) * out_bytes);
  if (!y.ok()) return skip(y.status());
  std::vector<float> vec(static_cast<size_t>(n) + 2, 0.01f);
  vec[0] = 0.05f;  // a_scale
  vec[1] = 0.02f;  // b_scale
  auto v = gpu::DeviceBuffer::allocate(vec.size() * sizeof(float));
  if (!v.ok()) return skip(v.status());
  Status st = fill(a->data(), a->bytes(), op.pattern, stream.handle());
  if (st.ok()) st = fill(b->data(), b->bytes(), op.pattern, stream.handle());
  if (st.ok()) st = gpu::copy_to_device(v->data(), vec.data(), v->bytes(), stream.handle());
  if (st.ok()) st = stream.synchronize();
  if (!st.ok()) return skip(st);

  const auto* scales = static_cast<const float*>(v->data());
  const float* per_channel = scales + 2;
  const std::string format = r.format;
  gpu::GemmArgs g{m, n, k, a->data(), b->data(), y->data(), r.epilogue ? per_channel : nullptr};
  std::function<Status()> call;
  if (format == "f32") {
    call = [&] { return gpu::gemm_f32(ctx, g); };
  } else if (format == "f16") {
    call = [&] { return gpu::gemm_f16(ctx, g, r.out); };
  } else if (format == "fp8") {
    call = [&] {
      return gpu::gemm_fp8(ctx, g, scales, scales + 1, r.epilogue ? per_channel : nullptr, r.out);
    };
  } else {
    call = [&] { return gpu::gemm_int8(ctx, g, 0.05f, per_channel, r.out); };
  }
  auto ms = gpu::time_ms(stream.handle(), call, kWarmup, kIters);
  if (!ms.ok()) return skip(ms.status());
  const double tflops = 2.0 * static_cast<double>(m) * n * k / (*ms * 1e-3) / 1e12;
  std::printf("\"ms\":%.4f,\"tflops\":%.1f}\n", *ms, tflops);
  std::fflush(stdout);
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> sizes;
  for (int i = 1; i < argc; ++i) {
    char* end = nullptr;
    const long long v = std::strtoll(argv[i], &end, 10);
    if (end == argv[i] || *end != '\0' || v <= 0) {
      std::fprintf(stderr, "usage: %s [size ...]  (positive integers; default 4096 8192 16384)\n",
                   argv[0]);
      return 1;
    }
    sizes.push_back(v);
  }
  if (sizes.empty()) sizes = {4096, 8192, 16384};

  const gpu::Discovery d = gpu::discover_devices();
  if (!gpu::device_available() || d.devices.empty()) {
    std::fprintf(stderr, "no usable CUDA device: %s\n",
                 d.reason.empty() ? gpu::describe(d).c_str() : d.reason.c_str());
    return 5;
  }
  auto stream = gpu::Stream::create();
  if (!stream.ok()) {
    std::fprintf(stderr, "%s\n", stream.status().to_string().c_str());
    return 5;
  }
  auto ctx = gpu::GemmContext::create(stream->handle());
  if (!ctx.ok()) {
    std::fprintf(stderr, "%s\n", ctx.status().to_string().c_str());
    return 5;
  }
  const Run runs[] = {
      {"f32", "float32", DType::kFloat32, false},
      {"f16", "float16", DType::kFloat16, false},
      {"fp8", "float8e4m3fn", DType::kBFloat16, false},
      {"fp8", "float8e4m3fn", DType::kFloat16, true},
      {"int8", "int8", DType::kFloat16, true},
  };
  bool ok = true;
  for (int64_t size : sizes) {
    for (const Run& r : runs) ok = bench(**ctx, *stream, d.devices[0].name, r, size) && ok;
  }
  return ok ? 0 : 1;
}
