#!/usr/bin/env python3
"""Measures a sample's FP32 quality on its eval.npz with both executors: ONNX Runtime, and
mixq (`mixq run MODEL --data eval.npz -o OUT.npz`). Prints one line per executor.

    .venv/bin/python samples/common/evaluate.py samples/digits_cnn [--mixq build/tools/mixq]

Metric by sample: accuracy (top-1 against `labels`) for classifiers, perplexity (exp of the mean
negative log-likelihood of `targets`) for language models; which one comes from metrics.json.
"""
import argparse
import json
import pathlib
import subprocess
import tempfile

import numpy as np
import onnxruntime as ort


def metric(name, logits, ref):
    logits = logits.astype(np.float64)
    if name == "accuracy":
        return float((logits.argmax(axis=-1) == ref).mean())
    if name == "ppl":
        mx = logits.max(axis=-1, keepdims=True)
        logz = (mx + np.log(np.exp(logits - mx).sum(axis=-1, keepdims=True)))[..., 0]
        picked = np.take_along_axis(logits, ref[..., None], axis=-1)[..., 0]
        return float(np.exp((logz - picked).mean()))
    raise SystemExit(f"unknown metric {name}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("sample")
    ap.add_argument("--mixq", default="build/tools/mixq")
    args = ap.parse_args()
    sample = pathlib.Path(args.sample)
    name = json.loads((sample / "metrics.json").read_text())["metric"]
    with np.load(sample / "eval.npz") as d:
        data = {k: d[k] for k in d.files}
    ref = data["labels"] if name == "accuracy" else data["targets"]
    sess = ort.InferenceSession(str(sample / "model.onnx"), providers=["CPUExecutionProvider"])
    feeds = {i.name: data[i.name] for i in sess.get_inputs()}
    ort_logits = sess.run(None, feeds)[0]
    with tempfile.TemporaryDirectory() as tmp:
        out = pathlib.Path(tmp) / "out.npz"
        subprocess.run([args.mixq, "run", str(sample / "model.onnx"), "--data",
                        str(sample / "eval.npz"), "-o", str(out)], check=True)
        with np.load(out) as d:
            mixq_logits = d[sess.get_outputs()[0].name]
    print(f"{sample.name}: {name} on {len(ref)} eval rows")
    print(f"  ONNX Runtime {ort.__version__}: {metric(name, ort_logits, ref):.4f}")
    print(f"  mixq:                 {metric(name, mixq_logits, ref):.4f}")


if __name__ == "__main__":
    main()
