#!/usr/bin/env python3
"""Cost of calibration against a plain forward pass over the same data, and peak memory as the
data grows ten times (docs/benchmarks.md, "Calibration").

    .venv/bin/python tools/bench/calib_cost.py --mixq build/tools/mixq \\
        --model samples/tinygpt/model.onnx --data samples/tinygpt/calib.npz [--rounds 5]

For one model it writes three data sets next to each other in a temporary folder: the
calibration array as one batch, the same samples one per run (a leading sample axis), and the
samples repeated ten times, one per run. For each it times `mixq calibrate` (every observer:
min/max, 2048-bin histograms, per-channel absmax, every range method) and `mixq run` (no
output file) in alternating rounds, each under /usr/bin/time, and reports the medians, their
ratio and the peak RSS.
"""
import argparse
import json
import pathlib
import statistics
import subprocess
import tempfile
import time

import numpy as np


def timed(cmd):
    """(wall seconds, peak RSS MiB) of one process; raises when it fails. The time is taken
    around the process (/usr/bin/time's %e has 10 ms steps), the RSS from /usr/bin/time."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M"] + cmd, capture_output=True,
                       text=True)
    secs = time.perf_counter() - t0
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    line = [l for l in r.stderr.splitlines() if l.startswith("TIME ")][-1]
    return secs, int(line.split()[2]) / 1024


def variants(data, tmp):
    with np.load(data) as d:
        arrays = {k: d[k] for k in d.files}
    n = len(next(iter(arrays.values())))
    one = tmp / "batch.npz"
    np.savez(one, **arrays)
    per = tmp / "per_sample.npz"
    np.savez(per, **{k: v[:, None] for k, v in arrays.items()})
    ten = tmp / "per_sample_x10.npz"
    np.savez(ten, **{k: np.concatenate([v[:, None]] * 10) for k, v in arrays.items()})
    return [(f"{n} samples, one batch", one), (f"{n} samples, one per run", per),
            (f"{10 * n} samples, one per run", ten)]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mixq", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", default="2")
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as t:
        tmp = pathlib.Path(t)
        for label, path in variants(args.data, tmp):
            cal, run = [], []
            for _ in range(args.rounds):
                cal.append(timed([args.mixq, "calibrate", args.model, "--data", str(path),
                                  "--threads", args.threads, "--quiet", "-o",
                                  str(tmp / "r.json")]))
                run.append(timed([args.mixq, "run", args.model, "--data", str(path),
                                  "--threads", args.threads]))
            c = statistics.median(s for s, _ in cal)
            r = statistics.median(s for s, _ in run)
            rows.append({"data": label, "calibrate_s": c, "run_s": r, "ratio": c / r,
                         "calibrate_rss_mib": max(m for _, m in cal),
                         "run_rss_mib": max(m for _, m in run)})
    print(f"model {args.model}, --threads {args.threads}, median of {args.rounds} rounds")
    print("| data | calibrate s | run s | ratio | calibrate peak RSS MiB | run peak RSS MiB |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['data']} | {r['calibrate_s']:.3f} | {r['run_s']:.3f} | {r['ratio']:.2f}x | "
              f"{r['calibrate_rss_mib']:.1f} | {r['run_rss_mib']:.1f} |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
