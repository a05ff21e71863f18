#!/usr/bin/env python3
"""Automatic per-layer plans (`mixq convert --precision auto`) against the uniform formats, and
optionally against peer quantizers, on the three samples (issue 7's acceptance measurements).

    .venv/bin/python tools/bench/plan_frontier.py --mixq build/tools/mixq [--peers]
        [--modelopt-python /tmp/modelopt-venv/bin/python] [--samples tinygpt,digits_cnn]

For every sample, `mixq convert MODEL --data calib.npz --eval eval.npz -o OUT --quiet` runs with
--precision fp8, int8, fp16 and with --precision auto under each budget of AUTO below; each
OUT's report (OUT without .onnx + .report.json) gives the task metric (FP32 -> converted), the
file size and the estimated latency of the quantizable layers (h100 profile, docs/plan.md). A
row is on the metric-vs-latency frontier of the uniform choices (FP32, FP16, INT8, FP8) when no
uniform choice is at least as good in both the drop and the estimated latency and strictly
better in one. Drops are in the budget's units: accuracy points lost, perplexity % increase.

--peers adds, on the same model and data:
  * ONNX Runtime's static quantizer (onnxruntime.quantization.quantize_static: QDQ, INT8
    activations and weights, per_channel=True) with each of its calibrators (MinMax, Entropy,
    Percentile), after quant_pre_process; errors are recorded, not raised.
  * NVIDIA ModelOpt (`python -m modelopt.onnx.quantization`, --quantize_mode fp8 and int8) when
    --modelopt-python names a Python that has it (run as a subprocess).
Peer outputs are measured with ONNX Runtime on CPU (ORT_ENABLE_BASIC) on eval.npz: accuracy
from `labels` (argmax of the logits) or perplexity from `targets` (softmax over the last axis),
next to the FP32 model measured the same way. Latency estimates exist only for mixq's outputs
(mixq's cost model); peers get their quantization wall time instead.

All outputs go to a temporary folder (--keep DIR keeps them there instead).
"""
import argparse
import json
import math
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx.version_converter  # noqa: F401

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = ["tinygpt", "digits_cnn", "digits_mobile"]
METRIC = {"tinygpt": "ppl", "digits_cnn": "accuracy", "digits_mobile": "accuracy"}
AUTO = {"tinygpt": [1.0], "digits_cnn": [0.5], "digits_mobile": [0.5, 0.2, 0.0]}
UNIFORM = ["fp8", "int8", "fp16"]
NOTES = []


# ---------------------------------------------------------------------------------------------
# mixq


def mixq_convert(mixq, sample, out, precision, budget=None):
    d = ROOT / "samples" / sample
    cmd = [str(mixq), "convert", str(d / "model.onnx"), "--data", str(d / "calib.npz"),
           "--eval", str(d / "eval.npz"), "-o", str(out), "--quiet", "--precision", precision]
    if budget is not None:
        cmd += ["--metric", METRIC[sample], "--max-drop", f"{budget:g}"]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True)
    secs = time.perf_counter() - t0
    rep_path = out.with_suffix("").with_name(out.stem + ".report.json")
    if r.returncode not in (0, 4) or not rep_path.exists():
        raise SystemExit(f"{' '.join(cmd)} failed ({r.returncode}): {r.stderr.strip()}")
    rep = json.loads(rep_path.read_text())
    task = rep["verification"]["task"]
    est = rep["estimate"]
    return {
        "cmd": cmd, "rc": r.returncode, "secs": secs,
        "metric": task["metric"], "fp32": task["fp32"], "q": task["quantized"],
        "drop": drop(task["metric"], task["fp32"], task["quantized"]),
        "bytes": rep["sizes"]["output_bytes"], "fp32_bytes": rep["sizes"]["model_bytes"],
        "lat": est["time_us"]["plan"], "lat_fp32": est["time_us"]["fp32"],
        "lat_fp16": est["time_us"]["fp16"], "speedup": est["speedup_vs_fp32"],
        "counts": rep.get("layer_counts", {}), "budget": rep.get("budget"),
        "rounds": len(rep.get("auto", {}).get("rounds", [])) if rep.get("auto") else None,
    }


def drop(metric, fp32, q):
    """In the budget's units: accuracy points lost, perplexity percent increase."""
    if metric == "ppl":
        return 100.0 * (q / fp32 - 1.0)
    return fp32 - q


def dominates(a, b, eps=1e-9):
    """a at least as good as b in drop and latency, strictly better in one."""
    ge = a["drop"] <= b["drop"] + eps and a["lat"] <= b["lat"] * (1 + eps)
    gt = a["drop"] < b["drop"] - eps or a["lat"] < b["lat"] * (1 - eps)
    return ge and gt


# ---------------------------------------------------------------------------------------------
# ONNX Runtime evaluation and peers


def ort_eval(model_path, sample):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    sess = ort.InferenceSession(str(model_path), so, providers=["CPUExecutionProvider"])
    with np.load(ROOT / "samples" / sample / "eval.npz") as d:
        arrays = {k: d[k] for k in d.files}
    names = [i.name for i in sess.get_inputs()]
    logits = sess.run(None, {n: arrays[n] for n in names})[0].astype(np.float64)
    if METRIC[sample] == "accuracy":
        return 100.0 * float((logits.argmax(axis=-1) == arrays["labels"]).mean())
    mx = logits.max(axis=-1, keepdims=True)
    logz = (mx + np.log(np.exp(logits - mx).sum(axis=-1, keepdims=True)))[..., 0]
    picked = np.take_along_axis(logits, arrays["targets"][..., None], axis=-1)[..., 0]
    return float(np.exp((logz - picked).mean()))


def ort_quantize(sample, method, out_dir):
    """One quantize_static run; returns (output path, wall seconds) or raises."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat,
                                          QuantType, quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    d = ROOT / "samples" / sample
    calib = d / "calib.npz"

    class Reader(CalibrationDataReader):
        def __init__(self):
            with np.load(calib) as z:
                self.feeds = iter([{k: z[k] for k in z.files}])  # the whole array, one batch

        def get_next(self):
            return next(self.feeds, None)

    pre = out_dir / f"{sample}.ort_pre.onnx"
    out = out_dir / f"{sample}.ort_{method.lower()}.onnx"
    t0 = time.perf_counter()
    src = d / "model.onnx"
    import onnx
    m = onnx.load(str(src))
    opset = next(o.version for o in m.opset_import if o.domain in ("", "ai.onnx"))
    if opset < 13:  # per-axis DequantizeLinear needs 13; ORT writes it into an opset-11 model
        up = out_dir / f"{sample}.opset13.onnx"
        onnx.save(onnx.version_converter.convert_version(m, 13), str(up))
        src = up
    quant_pre_process(str(src), str(pre), skip_symbolic_shape=True)  # no sympy in .venv
    quantize_static(str(pre), str(out), Reader(), quant_format=QuantFormat.QDQ,
                    activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                    per_channel=True, calibrate_method=getattr(CalibrationMethod, method))
    return out, time.perf_counter() - t0


def modelopt_quantize(python, sample, mode, out_dir):
    d = ROOT / "samples" / sample
    out = out_dir / f"{sample}.modelopt_{mode}.onnx"
    # ModelOpt 0.47 writes the inferred shapes back into --onnx_path: give it a copy
    src = out_dir / f"{sample}.modelopt_{mode}.input.onnx"
    shutil.copyfile(d / "model.onnx", src)
    cmd = [python, "-m", "modelopt.onnx.quantization", "--onnx_path", str(src),
           "--quantize_mode", mode, "--calibration_data_path", str(d / "calib.npz"),
           "--calibration_eps", "cpu", "--output_path", str(out)]
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    secs = time.perf_counter() - t0
    if r.returncode != 0 or not out.exists():
        lines = [l for l in (r.stderr + r.stdout).splitlines() if l.strip()]
        raise RuntimeError(f"exit {r.returncode}: " + (lines[-1] if lines else ""))
    return out, secs, cmd


def first_line(e):
    s = str(e).strip().splitlines()
    return (type(e).__name__ + ": " + (s[0] if s else "")).replace("|", "\\|")[:300]


# ---------------------------------------------------------------------------------------------


def fmt_metric(metric, v):
    return f"{v:.4f}" if metric == "ppl" else f"{v:.1f}"


def fmt_drop(metric, v):
    return f"{v:+.3f} %" if metric == "ppl" else f"{v:+.1f} pt"


def fmt_secs(s):
    return "-" if s is None else f"{s:.1f}"


def fmt_counts(c):
    return ", ".join(f"{n} {k.upper()}" for k, n in sorted(c.items(), key=lambda kv: -kv[1]))


def run_sample(args, sample, tmp):
    rows = []
    for p in UNIFORM:
        r = mixq_convert(args.mixq, sample, tmp / f"{sample}.{p}.onnx", p)
        r["name"] = f"uniform {p.upper()}"
        r["uniform"] = True
        rows.append(r)
    base = rows[0]
    fp32 = {"name": "FP32 (input model)", "uniform": True, "metric": base["metric"],
            "fp32": base["fp32"], "q": base["fp32"], "drop": 0.0, "bytes": base["fp32_bytes"],
            "lat": base["lat_fp32"], "counts": {}, "secs": None, "rc": 0}
    rows.insert(0, fp32)
    # The FP16 conversion's own report estimates from other layer dims (its "fp32" time differs
    # from the INT8/FP8 reports'); use the all-FP16 figure of the INT8 report, whose dims match
    # every other report, and keep the FP16 report's own figure as a note.
    ref = rows[2]  # uniform INT8
    for r in rows[1:]:
        if r["secs"] is not None and abs(r["lat_fp32"] - ref["lat_fp32"]) > 1e-3 * ref["lat_fp32"]:
            r["note"] = (f"own report: {r['lat']:.3f} µs, FP32 {r['lat_fp32']:.3f} µs "
                         f"(inconsistent dims)")
            if r["name"] == "uniform FP16":
                r["lat"] = ref["lat_fp16"]
            NOTES.append(f"{sample} {r['name']}: report estimate FP32 {r['lat_fp32']:.4f} µs "
                         f"vs {ref['lat_fp32']:.4f} µs in the INT8 report")
    for b in AUTO[sample]:
        r = mixq_convert(args.mixq, sample, tmp / f"{sample}.auto_{b:g}.onnx", "auto", b)
        r["name"] = f"auto, --max-drop {b:g}"
        r["uniform"] = False
        r["max_drop"] = b
        rows.append(r)
    uni = [r for r in rows if r["uniform"]]
    for r in rows:
        by = [u["name"] for u in uni if u is not r and dominates(u, r)]
        beyond = [u["name"] for u in uni if u is not r and dominates(r, u)]
        if by:
            r["frontier"] = "no: dominated by " + ", ".join(by)
        elif not r["uniform"] and beyond:
            r["frontier"] = "yes (dominates " + ", ".join(beyond) + ")"
        else:
            r["frontier"] = "yes"
    return rows


def print_table(sample, rows, out):
    m = rows[0]["metric"]
    unit = "perplexity" if m == "ppl" else "accuracy %"
    out.append(f"### {sample} ({unit} on eval.npz; drop in "
               f"{'% perplexity increase' if m == 'ppl' else 'accuracy points'})\n")
    out.append("| configuration | " + unit + " (FP32 → converted) | drop | size KiB | "
               "est. latency µs (h100) | layers | convert s | on uniform frontier |")
    out.append("|---|---|---|---|---|---|---|---|")
    for r in rows:
        met = ""
        if r.get("budget") and r["budget"].get("max_drop") is not None and not r["uniform"]:
            met = " (met)" if r["budget"]["met"] else f" (NOT met, exit {r['rc']})"
        out.append(
            f"| {r['name']}{met} | {fmt_metric(m, r['fp32'])} → {fmt_metric(m, r['q'])} | "
            f"{fmt_drop(m, r['drop'])} | {r['bytes'] / 1024:.1f} | {r['lat']:.2f} | "
            f"{fmt_counts(r['counts']) or '-'} | "
            f"{fmt_secs(r.get('secs'))} | "
            f"{r['frontier']}{'; ' + r['note'] if r.get('note') else ''} |")
    out.append("")
    uni = [r for r in rows if r["uniform"]]
    for r in rows:
        if r["uniform"]:
            continue
        b = r["max_drop"]
        ok = [u for u in uni if u["drop"] <= b + 1e-9]
        best = min(ok, key=lambda u: u["lat"])
        out.append(f"- budget {b:g}: uniform choices within it: "
                   f"{', '.join(u['name'] for u in ok)}; fastest {best['name']} at "
                   f"{best['lat']:.2f} µs; auto {r['lat']:.2f} µs "
                   f"({'faster' if r['lat'] < best['lat'] * (1 - 1e-9) else 'not faster'}), "
                   f"drop {fmt_drop(m, r['drop'])}.")
    out.append("")


def print_peers(sample, rows, peers, out):
    m = rows[0]["metric"]
    unit = "perplexity" if m == "ppl" else "accuracy %"
    out.append(f"#### {sample}: peers (ONNX Runtime 1.30 CPU, ORT_ENABLE_BASIC, on eval.npz)\n")
    out.append(f"| tool / configuration | {unit} (FP32 → quantized) | drop | size KiB | "
               "quantize wall s | note |")
    out.append("|---|---|---|---|---|---|")
    for p in peers:
        if p.get("error"):
            out.append(f"| {p['name']} | - | - | - | "
                       f"{fmt_secs(p.get('secs'))}"
                       f" | failed: {p['error']} |")
            continue
        out.append(f"| {p['name']} | {fmt_metric(m, p['fp32'])} → {fmt_metric(m, p['q'])} | "
                   f"{fmt_drop(m, p['drop'])} | {p['bytes'] / 1024:.1f} | {p['secs']:.1f} | "
                   f"{p.get('note', '')} |")
    out.append("")


def run_peers(args, sample, tmp, rows):
    peers = []
    fp32_ort = ort_eval(ROOT / "samples" / sample / "model.onnx", sample)
    m = METRIC[sample]
    # mixq's own outputs measured the same way (ORT CPU, basic), for a like-for-like column
    for r in rows:
        if r["name"].startswith("FP32"):
            continue
        path = tmp / (f"{sample}." + (r["name"].split()[1].lower() if r["uniform"]
                                      else f"auto_{r['max_drop']:g}") + ".onnx")
        try:
            q = ort_eval(path, sample)
            peers.append({"name": f"mixq {r['name']}", "fp32": fp32_ort, "q": q,
                          "drop": drop(m, fp32_ort, q), "bytes": path.stat().st_size,
                          "secs": r["secs"], "note": "mixq output measured by ORT; wall s "
                                                    "includes mixq's verification"})
        except Exception as e:  # noqa: BLE001
            peers.append({"name": f"mixq {r['name']}", "error": first_line(e)})
    best = None
    for method in ["MinMax", "Entropy", "Percentile"]:
        name = f"ORT quantize_static INT8 QDQ per-channel, {method}"
        try:
            out, secs = ort_quantize(sample, method, tmp)
            q = ort_eval(out, sample)
            p = {"name": name, "fp32": fp32_ort, "q": q, "drop": drop(m, fp32_ort, q),
                 "bytes": out.stat().st_size, "secs": secs}
            if best is None or p["drop"] < best["drop"]:
                best = p
        except Exception as e:  # noqa: BLE001
            p = {"name": name, "error": first_line(e)}
        peers.append(p)
    if best is not None:
        best["note"] = "best ORT calibrator by the task metric"
    if args.modelopt_python:
        for mode in ["fp8", "int8"]:
            name = f"ModelOpt {mode.upper()} (default calibration)"
            t0 = time.perf_counter()
            try:
                out, secs, _ = modelopt_quantize(args.modelopt_python, sample, mode, tmp)
                q = ort_eval(out, sample)
                peers.append({"name": name, "fp32": fp32_ort, "q": q,
                              "drop": drop(m, fp32_ort, q), "bytes": out.stat().st_size,
                              "secs": secs})
            except Exception as e:  # noqa: BLE001
                peers.append({"name": name, "error": first_line(e),
                              "secs": time.perf_counter() - t0})
    return peers


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mixq", default=str(ROOT / "build/tools/mixq"))
    ap.add_argument("--samples", default=",".join(SAMPLES))
    ap.add_argument("--peers", action="store_true")
    ap.add_argument("--modelopt-python", help="a Python with nvidia-modelopt (needs --peers)")
    ap.add_argument("--keep", help="write outputs here instead of a temporary folder")
    args = ap.parse_args()
    args.mixq = pathlib.Path(args.mixq).resolve()

    tmpdir = None
    if args.keep:
        tmp = pathlib.Path(args.keep)
        tmp.mkdir(parents=True, exist_ok=True)
    else:
        tmpdir = tempfile.mkdtemp(prefix="plan_frontier.")
        tmp = pathlib.Path(tmpdir)
    out = []
    try:
        for sample in args.samples.split(","):
            rows = run_sample(args, sample, tmp)
            print_table(sample, rows, out)
            if args.peers:
                print_peers(sample, rows, run_peers(args, sample, tmp, rows), out)
            print("\n".join(out), flush=True)
            out.clear()
        for n in NOTES:
            print("- estimate inconsistency:", n)
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
