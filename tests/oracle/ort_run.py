#!/usr/bin/env python3
"""Runs ONNX models through ONNX Runtime for mixq's oracle test.

    ort_run.py MANIFEST

Each line of MANIFEST is "MODEL<TAB>INPUTS.npz<TAB>OUTPUTS.npz". For each line the model runs on
CPU (one thread, all graph optimizations disabled so ORT computes what the graph says) with the
inputs from INPUTS.npz; the outputs are written to OUTPUTS.npz keyed by output name. When ORT
cannot load or run a model, OUTPUTS.npz.err gets the reason instead.
"""
import sys

import numpy as np
import onnxruntime as ort


def run(model, inputs_path, outputs_path):
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    opts.log_severity_level = 3
    try:
        sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
        with np.load(inputs_path) as data:
            feeds = {i.name: data[i.name] for i in sess.get_inputs() if i.name in data.files}
        names = [o.name for o in sess.get_outputs()]
        outs = sess.run(names, feeds)
    except Exception as e:  # ORT refusing a model is a result, not a crash of this script
        with open(outputs_path + ".err", "w") as f:
            f.write(f"{type(e).__name__}: {e}"[:2000])
        return
    np.savez(outputs_path, **dict(zip(names, outs)))


def main():
    with open(sys.argv[1]) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                run(*line.split("\t"))


if __name__ == "__main__":
    main()
