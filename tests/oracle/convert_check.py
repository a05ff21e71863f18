#!/usr/bin/env python3
"""Checks a model written by `mixq convert` with the reference tools, for convert_oracle_test.

    convert_check.py MODEL EVAL.npz MIXQ_OUTPUTS.npz LEVELS RESULT.json

- the latest ONNX checker (PyPI onnx, check_model(full_check=True)) must accept MODEL;
- ONNX Runtime (CPU, one thread) loads and runs it on EVAL.npz at each optimization level of
  LEVELS (comma-separated: disable_all, basic, extended, all); its first output is compared with
  mixq's executor's output on the same model (MIXQ_OUTPUTS.npz, from `mixq run`) by relative L2
  error. RESULT.json gets {"checker": "ok" | error, "levels": {level: rel_l2 | error}}.

ORT runs with session.x64quantprecision=1: on x86 CPUs without VNNI its u8s8 integer MatMul
(what `extended` fuses INT8 Q/DQ around MatMul into) can overflow; the option makes it use
u8u8 there. Without it, tinygpt's INT8 output at `extended` on an AVX2 EPYC was 2.56e-2 from
ORT's own unoptimized output (2.06e-3 with it). It changes nothing on CPUs with VNNI.
"""
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

LEVELS = {
    "disable_all": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
    "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
    "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
}


def main():
    model, eval_path, mixq_path, levels, result_path = sys.argv[1:6]
    result = {"checker": "ok", "levels": {}}
    try:
        onnx.checker.check_model(onnx.load(model), full_check=True)
    except Exception as e:  # the checker's verdict is the result
        result["checker"] = f"{type(e).__name__}: {e}"[:2000]
    with np.load(mixq_path) as m:
        ours = m[m.files[0]].astype(np.float64)
    with np.load(eval_path) as d:
        data = {k: d[k] for k in d.files}
    for level in levels.split(","):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.graph_optimization_level = LEVELS[level]
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.x64quantprecision", "1")
        try:
            sess = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
            feeds = {i.name: data[i.name] for i in sess.get_inputs()}
            theirs = sess.run(None, feeds)[0].astype(np.float64)
            err = np.linalg.norm(theirs - ours) / max(np.linalg.norm(theirs), 1e-30)
            result["levels"][level] = float(err)
        except Exception as e:
            result["levels"][level] = f"{type(e).__name__}: {e}"[:2000]
    with open(result_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
