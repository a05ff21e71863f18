#!/usr/bin/env python3
"""End-to-end GPU benchmark on a GEMM-bound model (docs/benchmarks.md, "GPU").

Generates a wide MLP (L blocks of MatMul D->H, Relu, MatMul H->D; float32 weights as external
data), converts it with `mixq convert` to FP8 and INT8 (calibrated on a few rows), validates each
with `mixq validate --device cuda` on a large batch (which also times the FP32 reference and an
all-FP16 version of it), and prints latencies, speedups, the time split per kind of step, and the
gap to the roofline floor (FLOPs / peak and bytes / bandwidth of the GEMMs, H100 SXM dense peaks).

    python3 tools/bench/gpu_e2e.py --mixq build/tools/mixq --work /tmp/e2e [--d 4096 --h 16384]
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

PEAK_TFLOPS = {"fp8": 1978.9, "int8": 1978.9, "fp16": 989.4, "fp32": 67.0}  # H100 SXM, dense
BANDWIDTH_GBS = 3350.0


def make_model(path, d, h, layers, seed):
    rng = np.random.default_rng(seed)
    inits, nodes = [], []
    x = "x"
    for i in range(layers):
        w1 = (rng.standard_normal((d, h), dtype=np.float32) / np.sqrt(d)).astype(np.float32)
        w2 = (rng.standard_normal((h, d), dtype=np.float32) / np.sqrt(h)).astype(np.float32)
        inits += [numpy_helper.from_array(w1, f"w1_{i}"), numpy_helper.from_array(w2, f"w2_{i}")]
        nodes += [
            helper.make_node("MatMul", [x, f"w1_{i}"], [f"h_{i}"], name=f"/blocks.{i}/up/MatMul"),
            helper.make_node("Relu", [f"h_{i}"], [f"r_{i}"], name=f"/blocks.{i}/act/Relu"),
            helper.make_node("MatMul", [f"r_{i}", f"w2_{i}"], [f"y_{i}"],
                             name=f"/blocks.{i}/down/MatMul"),
        ]
        x = f"y_{i}"
    graph = helper.make_graph(
        nodes, "wide_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["tokens", d])],
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["tokens", d])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path, save_as_external_data=True, all_tensors_to_one_file=True,
              location=os.path.basename(path) + ".data")


def run(cmd):
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True)
    if p.returncode not in (0, 4):
        sys.exit(f"failed ({p.returncode}): {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")
    return p, time.time() - t0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mixq", required=True)
    ap.add_argument("--work", required=True)
    ap.add_argument("--d", type=int, default=4096)
    ap.add_argument("--h", type=int, default=16384)
    ap.add_argument("--layers", type=int, default=2)
    ap.add_argument("--tokens", type=int, default=8192)
    ap.add_argument("--iters", type=int, default=20)
    ap.add_argument("--formats", default="fp8,int8")
    args = ap.parse_args()
    os.makedirs(args.work, exist_ok=True)
    model = os.path.join(args.work, "wide_mlp.onnx")
    make_model(model, args.d, args.h, args.layers, seed=0)
    rng = np.random.default_rng(1)
    np.savez(os.path.join(args.work, "calib.npz"),
             x=rng.standard_normal((256, args.d), dtype=np.float32))
    np.savez(os.path.join(args.work, "eval.npz"),
             x=rng.standard_normal((args.tokens, args.d), dtype=np.float32))
    gemms = 2 * args.layers
    flops = gemms * 2.0 * args.tokens * args.d * args.h
    results = {"model": {"d": args.d, "h": args.h, "layers": args.layers, "tokens": args.tokens,
                         "gemm_tflop": flops / 1e12}}
    for fmt in args.formats.split(","):
        out = os.path.join(args.work, f"q_{fmt}.onnx")
        _, conv_s = run([args.mixq, "convert", model, "--data", os.path.join(args.work, "calib.npz"),
                         "--precision", fmt, "-o", out, "--external-data", "--quiet"])
        report = os.path.join(args.work, f"v_{fmt}.json")
        p, val_s = run([args.mixq, "validate", os.path.join(args.work, f"q_{fmt}.validate.json"),
                        "--data", os.path.join(args.work, "eval.npz"), "--device", "cuda",
                        "--iters", str(args.iters), "--report", report])
        v = json.load(open(report))
        lat = v["latency_ms"]

        def floor_ms(precision):
            w = {"fp8": 1, "int8": 1, "fp16": 2, "fp32": 4}[precision]
            compute = flops / (PEAK_TFLOPS[precision] * 1e12) * 1e3
            byts = gemms * w * (args.tokens * args.d + args.tokens * args.h + args.d * args.h)
            return compute, byts / (BANDWIDTH_GBS * 1e9) * 1e3

        c, b = floor_ms(fmt)
        c16, b16 = floor_ms("fp16")
        results[fmt] = {
            "convert_s": conv_s,
            "latency_ms": lat,
            "speedup_vs_fp16": lat["fp16"] / lat["quantized"],
            "speedup_vs_fp32": lat["fp32"] / lat["quantized"],
            "roofline_floor_ms": {"compute": c, "bytes": b, "bound": max(c, b)},
            "roofline_floor_fp16_ms": {"compute": c16, "bytes": b16, "bound": max(c16, b16)},
            "gemm_tflops_achieved": None,
            "time_by_kind_ms": v.get("time_by_kind_ms"),
            "cosine": v["verification"]["outputs"][0]["cosine"],
            "device": v["device"]["name"],
            "cpu_fallbacks": v["device"]["models"]["quantized"]["cpu_fallbacks"],
        }
        prof = v.get("time_by_kind_ms", {}).get("quantized", {})
        gemm_ms = sum(ms for k, ms in prof.items() if k.startswith("gemm"))
        if gemm_ms > 0:
            results[fmt]["gemm_tflops_achieved"] = flops / (gemm_ms * 1e-3) / 1e12
        print(json.dumps({fmt: results[fmt]}), flush=True)
    json.dump(results, open(os.path.join(args.work, "e2e.json"), "w"), indent=2)


if __name__ == "__main__":
    main()
