#!/usr/bin/env python3
"""A model over 2 GB through the whole mixq CLI, with peak memory per step.

  large_model.py generate --out DIR [--layers 9] [--dim 8192] [--batch 4] [--seed 1]
      writes DIR/large.onnx (+ DIR/large.onnx.data, the weights as external data) and the
      inputs DIR/calib.npz and DIR/eval.npz.
  large_model.py bench --mixq build/tools/mixq --dir DIR [--layers 9] [--dim 8192] [--keep]
      generates the model in DIR, then runs inspect, calibrate (a subset of the layers' outputs),
      convert --weights-only (int8 and fp8), inspect and run of the converted models, each under
      `/usr/bin/time -f '%e s %M KiB'`, and prints a Markdown table: wall time, peak RSS (%M,
      which counts the model's mmap'ed file pages the step touched) and peak anonymous memory
      (RssAnon from /proc/PID/status, polled every 10 ms: the copies mixq itself made).
      Removes DIR's files at the end unless --keep.

The model is an MLP: x[batch, dim] -> MatMul(W0) -> Relu -> ... -> MatMul(W{n-1}) -> y, with
float32 weights [dim, dim] (8192: 256 MiB each; 9 layers: 2.42 GB) stored in one external data
file, each at a 4 KiB-aligned offset. The weights are real non-zero values (every page of the
file is touched when it is read), uniform in [-a, a] with a = sqrt(6 / dim) so that the
activations keep their scale through the Relus. They come from a 32-bit integer hash of the
element index, layer and seed (numpy, chunk by chunk: generating needs a few MiB, not the model).
"""

import argparse
import math
import os
import subprocess
import sys
import time

import numpy as np
import onnx
from onnx import TensorProto, helper

CHUNK_ROWS = 256


def weight_chunk(layer, seed, dim, row0, rows):
    """Rows [row0, row0 + rows) of layer `layer`'s weight: a hash of the element index."""
    i = np.arange(row0 * dim, (row0 + rows) * dim, dtype=np.uint64).astype(np.uint32)
    u = i * np.uint32(2654435761) + np.uint32((0x9E3779B9 * (layer + 1) + seed * 40503) & 0xFFFFFFFF)
    u ^= u >> np.uint32(16)
    u *= np.uint32(0x7FEB352D)
    u ^= u >> np.uint32(15)
    u *= np.uint32(0x846CA68B)
    u ^= u >> np.uint32(16)
    a = math.sqrt(6.0 / dim)
    w = (u >> np.uint32(8)).astype(np.float32) * np.float32(2.0 * a / (1 << 24)) - np.float32(a)
    return w.reshape(rows, dim)


def generate(out, layers, dim, batch, seed):
    os.makedirs(out, exist_ok=True)
    data_name = "large.onnx.data"
    nodes, inits = [], []
    offset = 0
    with open(os.path.join(out, data_name), "wb") as f:
        for layer in range(layers):
            length = dim * dim * 4
            for row0 in range(0, dim, CHUNK_ROWS):
                rows = min(CHUNK_ROWS, dim - row0)
                f.write(weight_chunk(layer, seed, dim, row0, rows).tobytes())
            t = TensorProto()
            t.name = f"layer{layer}.weight"
            t.data_type = TensorProto.FLOAT
            t.dims.extend([dim, dim])
            t.data_location = TensorProto.EXTERNAL
            for k, v in (("location", data_name), ("offset", str(offset)), ("length", str(length))):
                e = t.external_data.add()
                e.key, e.value = k, v
            inits.append(t)
            offset += length
            pad = (-offset) % 4096
            f.write(b"\0" * pad)
            offset += pad
    x = "x"
    for layer in range(layers):
        last = layer == layers - 1
        mm = "y" if last else f"layer{layer}.matmul"
        nodes.append(helper.make_node("MatMul", [x, f"layer{layer}.weight"], [mm],
                                      name=f"layer{layer}/MatMul"))
        x = mm
        if not last:
            x = f"layer{layer}.relu"
            nodes.append(helper.make_node("Relu", [mm], [x], name=f"layer{layer}/Relu"))
    graph = helper.make_graph(
        nodes, "large_mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [batch, dim])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [batch, dim])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)],
                              producer_name="tools/bench/large_model.py")
    model.ir_version = 8
    # The weights are already in the data file: serialize only the structure (a few KiB).
    with open(os.path.join(out, "large.onnx"), "wb") as f:
        f.write(model.SerializeToString())
    for name, s in (("calib.npz", seed), ("eval.npz", seed + 1000)):
        rng = np.random.default_rng(s)
        np.savez(os.path.join(out, name), x=rng.standard_normal((batch, dim)).astype(np.float32))
    return offset


def rss_anon_kib(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def timed(step, argv, rows):
    """Runs argv under /usr/bin/time; records (step, seconds, peak RSS KiB, peak anon KiB)."""
    fmt = "@@TIME %e s %M KiB"
    proc = subprocess.Popen(["/usr/bin/time", "-f", fmt] + argv, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    peak_anon = 0
    child = None
    while proc.poll() is None:
        if child is None:
            try:
                with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                    ids = f.read().split()
                    child = int(ids[0]) if ids else None
            except OSError:
                pass
        if child is not None:
            peak_anon = max(peak_anon, rss_anon_kib(child))
        time.sleep(0.01)
    out, err = proc.communicate()
    line = [l for l in err.splitlines() if l.startswith("@@TIME")]
    if proc.returncode != 0 or not line:
        sys.exit(f"{step} failed (exit {proc.returncode}):\n{out}\n{err}")
    _, secs, _, kib, _ = line[-1].split()
    rows.append((step, float(secs), int(kib), peak_anon))
    print(f"{step}: {secs} s, peak RSS {int(kib) / 1024:.0f} MiB, peak anon {peak_anon / 1024:.0f} "
          f"MiB  ({' '.join(argv)})", flush=True)
    return out


def bench(args):
    d = args.dir
    os.makedirs(d, exist_ok=True)
    rows = []
    model = os.path.join(d, "large.onnx")
    gen = [sys.executable, os.path.abspath(__file__), "generate", "--out", d, "--layers",
           str(args.layers), "--dim", str(args.dim), "--batch", str(args.batch)]
    if not args.skip_generate:
        timed("generate", gen, rows)
    mixq = args.mixq
    calib, ev = os.path.join(d, "calib.npz"), os.path.join(d, "eval.npz")
    observed = ",".join(f"layer{i}.relu" for i in range(0, args.layers - 1, 3))
    steps = [
        ("inspect", [mixq, "inspect", model]),
        ("calibrate", [mixq, "calibrate", model, "--data", calib, "--quiet", "-o",
                       os.path.join(d, "ranges.json")] +
         ([] if args.all_tensors else ["--tensors", observed])),
    ]
    for p in ("int8", "fp8"):
        out = os.path.join(d, f"large_{p}.onnx")
        steps += [
            (f"convert {p}", [mixq, "convert", model, "--precision", p, "--weights-only", "--eval",
                              ev, "--external-data", "--quiet", "-o", out]),
            (f"inspect {p}", [mixq, "inspect", out]),
            (f"run {p}", [mixq, "run", out, "--data", ev]),
        ]
    steps.append(("run fp32", [mixq, "run", model, "--data", ev]))
    for step, argv in steps:
        timed(step, argv, rows)
    sizes = {}
    for f in sorted(os.listdir(d)):
        sizes[f] = os.path.getsize(os.path.join(d, f))
    print("\nfiles: " + ", ".join(f"{f} {s / 1e6:.1f} MB" for f, s in sizes.items()))
    print("\n| step | wall s | peak RSS MiB | peak anon MiB |\n|---|---|---|---|")
    for step, secs, kib, anon in rows:
        print(f"| {step} | {secs:.1f} | {kib / 1024:.0f} | {anon / 1024:.0f} |")
    if not args.keep:
        for f in sizes:
            os.remove(os.path.join(d, f))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("generate")
    g.add_argument("--out", required=True)
    for p in (g, b := sub.add_parser("bench")):
        p.add_argument("--layers", type=int, default=9)
        p.add_argument("--dim", type=int, default=8192)
        p.add_argument("--batch", type=int, default=4)
    g.add_argument("--seed", type=int, default=1)
    b.add_argument("--mixq", default="build/tools/mixq")
    b.add_argument("--dir", default="/work/large-tmp/bench")
    b.add_argument("--keep", action="store_true")
    b.add_argument("--all-tensors", action="store_true",
                   help="calibrate every tensor (mixq builds without calibrate --tensors)")
    b.add_argument("--skip-generate", action="store_true", help="reuse the model in --dir")
    args = ap.parse_args()
    if args.cmd == "generate":
        t0 = time.time()
        n = generate(args.out, args.layers, args.dim, args.batch, args.seed)
        print(f"wrote {args.out}/large.onnx with {n} bytes of external data "
              f"({args.layers} x [{args.dim}, {args.dim}] float32) in {time.time() - t0:.1f} s")
    else:
        bench(args)


if __name__ == "__main__":
    main()
