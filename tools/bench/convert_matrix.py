#!/usr/bin/env python3
"""Accuracy and size of `mixq convert` on every bundled sample, for every precision and (for INT8
and FP8) every activation-range method: the table of docs/convert.md.

    python3 tools/bench/convert_matrix.py --mixq build/tools/mixq [--samples DIR]

Each conversion calibrates on the sample's calib.npz and verifies on its held-out eval.npz; the
task metric is accuracy (digits samples, `labels`) or perplexity (tinygpt, `targets`). Prints a
Markdown table and, per sample and format, the method with the best task metric.
"""
import argparse
import json
import pathlib
import subprocess
import tempfile

SAMPLES = ["digits_cnn", "digits_mobile", "tinygpt"]
METHODS = ["minmax", "percentile", "entropy", "mse"]


def convert(mixq, sample_dir, precision, method, out):
    cmd = [mixq, "convert", str(sample_dir / "model.onnx"), "--data",
           str(sample_dir / "calib.npz"), "--eval", str(sample_dir / "eval.npz"), "--precision",
           precision, "-o", str(out), "--quiet"]
    if method:
        cmd += ["--method", method]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{r.stderr}")
    return json.loads(out.with_suffix(".report.json").read_text())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--mixq", required=True)
    ap.add_argument("--samples", default=str(pathlib.Path(__file__).parents[2] / "samples"))
    args = ap.parse_args()
    print("| sample | precision | method | metric | FP32 | converted | output SQNR dB | "
          "size KiB (FP32 → converted) |")
    print("|---|---|---|---|---|---|---|---|")
    best = {}
    with tempfile.TemporaryDirectory() as tmp:
        for s in SAMPLES:
            d = pathlib.Path(args.samples) / s
            for p in ["fp16", "int8", "fp8"]:
                for m in [None] if p == "fp16" else METHODS:
                    r = convert(args.mixq, d, p, m, pathlib.Path(tmp) / f"{s}_{p}_{m}.onnx")
                    t = r["verification"]["task"]
                    o = r["verification"]["outputs"][0]
                    sizes = r["sizes"]
                    used = r["flags"]["method"] or "-"
                    print(f"| {s} | {p} | {used} | {t['metric']} | {t['fp32']:.4f} | "
                          f"{t['quantized']:.4f} | {o['sqnr_db']:.2f} | "
                          f"{sizes['model_bytes'] / 1024:.1f} → {sizes['output_bytes'] / 1024:.1f} |")
                    if m:
                        # Higher accuracy, lower perplexity; ties broken by SQNR.
                        key = (t["quantized"] if t["metric"] == "accuracy" else -t["quantized"],
                               o["sqnr_db"])
                        if (s, p) not in best or key > best[(s, p)][0]:
                            best[(s, p)] = (key, m)
    print()
    for (s, p), (_, m) in best.items():
        print(f"best method for {s} {p}: {m}")


if __name__ == "__main__":
    main()
