#!/usr/bin/env python3
"""Times mixq against ONNX Runtime on the benchmark models, same machine, same inputs, same
thread count, and writes a Markdown table and JSON.

    .venv/bin/python tools/bench/run.py --mixq build/tools/mixq --models DIR --threads 2

For each DIR/<name>.onnx with DIR/<name>.inputs.npz: ONNX Runtime (CPU provider, intra-op
threads = --threads, inter-op 1, default graph optimizations: what users run) and
`mixq bench --data` each do --warmup untimed runs then --iters timed runs; the median wall time
per run is compared. Outputs are checked to agree (relative L2 <= 1e-4) so both do the same work.

Shared or virtual machines drift by tens of percent from minute to minute, so the two are
measured in --rounds alternating rounds (ORT, then mixq, then ORT, ...), and the reported ratio
is the median of the per-round ratios; each side's median is the median of its round medians.
"""
import argparse
import json
import pathlib
import platform
import statistics
import subprocess
import tempfile
import time

import numpy as np
import onnxruntime as ort


def ort_bench(model, feeds, threads, warmup, iters):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    for _ in range(warmup):
        outs = sess.run(None, feeds)
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        outs = sess.run(None, feeds)
        times.append((time.perf_counter() - t0) * 1000)
    return times, dict(zip([o.name for o in sess.get_outputs()], outs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mixq", required=True)
    ap.add_argument("--models", required=True)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--iters", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--out", default=None, help="write results JSON here")
    args = ap.parse_args()
    results = []
    for model in sorted(pathlib.Path(args.models).glob("*.onnx")):
        inputs = model.with_suffix(".inputs.npz")
        with np.load(inputs) as d:
            feeds = {k: d[k] for k in d.files}
        ort_times, ort_out = ort_bench(model, feeds, args.threads, args.warmup, 1)
        with tempfile.TemporaryDirectory() as tmp:
            out_npz = pathlib.Path(tmp) / "out.npz"
            subprocess.run([args.mixq, "run", str(model), "--data", str(inputs), "-o",
                            str(out_npz), "--threads", str(args.threads)], check=True,
                           capture_output=True)
            with np.load(out_npz) as d:
                for name, want in ort_out.items():
                    got = d[name]
                    err = np.linalg.norm(got - want) / max(np.linalg.norm(want), 1e-30)
                    if not err <= 1e-4:
                        raise SystemExit(f"{model.name}: output {name} differs (rel L2 {err})")
        rounds = []
        for _ in range(args.rounds):
            ort_times, _ = ort_bench(model, feeds, args.threads, args.warmup, args.iters)
            j = json.loads(subprocess.run(
                [args.mixq, "bench", str(model), "--data", str(inputs), "--threads",
                 str(args.threads), "--warmup", str(args.warmup), "--iters", str(args.iters),
                 "--json"], check=True, capture_output=True, text=True).stdout)
            rounds.append({"ort_median_ms": statistics.median(ort_times),
                           "ort_min_ms": min(ort_times), "mixq_median_ms": j["median_ms"],
                           "mixq_min_ms": j["min_ms"], "mixq_peak_rss_mb": j["peak_rss_mb"]})
        r = {"model": model.stem, "threads": args.threads, "iters": args.iters,
             "rounds": rounds,
             "ort_median_ms": statistics.median(x["ort_median_ms"] for x in rounds),
             "mixq_median_ms": statistics.median(x["mixq_median_ms"] for x in rounds),
             "ratio": statistics.median(x["mixq_median_ms"] / x["ort_median_ms"]
                                        for x in rounds),
             "mixq_peak_rss_mb": max(x["mixq_peak_rss_mb"] for x in rounds)}
        results.append(r)
    print(f"machine: {platform.processor() or platform.machine()}, "
          f"onnxruntime {ort.__version__}, {args.threads} threads, "
          f"{args.rounds} rounds of {args.iters} runs")
    print("| model | ONNX Runtime median ms | mixq median ms | mixq / ORT (median of rounds) "
          "| mixq peak RSS MiB |")
    print("|---|---|---|---|---|")
    for r in results:
        print(f"| {r['model']} | {r['ort_median_ms']:.2f} | {r['mixq_median_ms']:.2f} | "
              f"{r['ratio']:.2f} | {r['mixq_peak_rss_mb']:.0f} |")
    if args.out:
        pathlib.Path(args.out).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
