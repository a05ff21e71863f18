#!/usr/bin/env python3
"""Calibration side by side: `mixq calibrate` against ONNX Runtime's calibrators
(onnxruntime.quantization: MinMax, Entropy, Percentile) on the same model and data, each in
its own process under /usr/bin/time (peak RSS), wall time measured around the process, in
--rounds alternating rounds per method (medians reported: one run on a shared VM can be 2x off).

    .venv/bin/python tools/bench/calib_vs_ort.py --mixq build/tools/mixq \\
        --model samples/tinygpt/model.onnx --data samples/tinygpt/calib.npz

Both get the same batches: the whole calibration array as one batch, or with --batch N runs of
N samples (repeated --repeat times to make a larger data set). ORT's calibrators add every intermediate
tensor as a model output, keep the outputs of all batches, and build histograms in NumPy;
mixq streams them through its observers. Needs the packages of tools/bench/requirements.txt.
"""
import argparse
import json
import pathlib
import subprocess
import sys
import statistics
import tempfile
import time

METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}


def ort_calibrate(model, data, method):
    """data: an .npz whose arrays hold [runs, batch, ...]: one get_next() per run."""
    import numpy as np
    from onnxruntime.quantization.calibrate import CalibrationDataReader, CalibrationMethod
    from onnxruntime.quantization.calibrate import create_calibrator

    class Reader(CalibrationDataReader):
        def __init__(self):
            with np.load(data) as d:
                arrays = {k: d[k] for k in d.files}
            runs = len(next(iter(arrays.values())))
            self.feeds = iter([{k: v[r] for k, v in arrays.items()} for r in range(runs)])

        def get_next(self):
            return next(self.feeds, None)

    with tempfile.TemporaryDirectory() as tmp:
        kwargs = {}
        if method == "Percentile":
            kwargs["extra_options"] = {"percentile": 99.99}
        cal = create_calibrator(model, augmented_model_path=str(pathlib.Path(tmp) / "aug.onnx"),
                                calibrate_method=getattr(CalibrationMethod, method), **kwargs)
        cal.collect_data(Reader())
        ranges = cal.compute_data()
    print(f"{len(ranges.data)} tensors")


def timed(cmd):
    """(wall seconds, peak RSS MiB, error or None) of one process: the time from
    time.perf_counter around it (/usr/bin/time's %e has 10 ms steps), the RSS from
    /usr/bin/time."""
    t0 = time.perf_counter()
    r = subprocess.run(["/usr/bin/time", "-f", "TIME %e %M"] + cmd, capture_output=True,
                       text=True)
    secs = time.perf_counter() - t0
    line = [l for l in r.stderr.splitlines() if l.startswith("TIME ")][-1]
    kb = line.split()[2]
    error = None
    if r.returncode != 0:
        lines = [l for l in r.stderr.splitlines() if l and not l.startswith(("TIME", "Command"))]
        error = lines[-1] if lines else f"exit {r.returncode}"
    return float(secs), int(kb) / 1024, error


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--ort-child":
        ort_calibrate(sys.argv[2], sys.argv[3], sys.argv[4])
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("--mixq", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--data", required=True)
    ap.add_argument("--threads", default="2")
    ap.add_argument("--batch", type=int, default=0, help="samples per run (default: all)")
    ap.add_argument("--repeat", type=int, default=1, help="repeat the data set this many times")
    ap.add_argument("--rounds", type=int, default=3,
                    help="alternating mixq/ORT rounds per method; medians are reported")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        # The runs, as one array per input with a leading run axis (mixq's sample axis).
        import numpy as np
        with np.load(args.data) as d:
            arrays = {k: np.concatenate([d[k]] * args.repeat) for k in d.files}
        n = len(next(iter(arrays.values())))
        batch = args.batch or n
        runs = n // batch
        data = str(pathlib.Path(tmp) / "runs.npz")
        np.savez(data, **{k: v[:runs * batch].reshape((runs, batch) + v.shape[1:])
                          for k, v in arrays.items()})
        args.data = data
        for ours, theirs in METHODS.items():
            ms, os_ = [], []
            for _ in range(args.rounds):  # alternating, so a slow spell of the machine hits both
                m = timed([args.mixq, "calibrate", args.model, "--data", args.data, "--method",
                           ours, "--threads", args.threads, "--quiet", "-o",
                           str(pathlib.Path(tmp) / "r.json")])
                if m[2]:
                    raise SystemExit(f"mixq calibrate --method {ours} failed: {m[2]}")
                o = timed([sys.executable, __file__, "--ort-child", args.model, args.data, theirs])
                ms.append(m)
                os_.append(o)
                if o[2]:
                    break  # ORT fails the same way every round
            rows.append({"method": ours, "mixq_s": statistics.median(m[0] for m in ms),
                         "mixq_rss_mib": max(m[1] for m in ms),
                         "ort_s": statistics.median(o[0] for o in os_),
                         "ort_rss_mib": max(o[1] for o in os_), "ort_error": os_[-1][2],
                         "rounds": [[round(m[0], 3), round(o[0], 3)] for m, o in zip(ms, os_)]})
    print(f"model {args.model}, {runs} runs of {batch} samples, mixq --threads {args.threads}, "
          f"median of {args.rounds} alternating rounds (peak RSS: the largest)")
    print("| method | mixq s | mixq peak RSS MiB | ORT s | ORT peak RSS MiB | ORT / mixq time |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        ours = f"| {r['method']} | {r['mixq_s']:.3f} | {r['mixq_rss_mib']:.0f} |"
        if r["ort_error"]:
            print(f"{ours} failed after {r['ort_s']:.2f} s: {r['ort_error']} | "
                  f"{r['ort_rss_mib']:.0f} | - |")
        else:
            print(f"{ours} {r['ort_s']:.2f} | {r['ort_rss_mib']:.0f} | "
                  f"{r['ort_s'] / r['mixq_s']:.1f}x |")
    print(json.dumps(rows))


if __name__ == "__main__":
    main()
