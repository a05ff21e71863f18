#!/usr/bin/env python3
"""Writes samples/mlp_tiny/model.onnx: a small two-layer MLP with a symbolic batch dimension.

A placeholder sample for `mixq inspect` until the trained samples exist: its weights are seeded
random numbers, not a trained network. Reproduce with pinned packages:

    python3 -m venv /tmp/mlp-venv && /tmp/mlp-venv/bin/pip install onnx==1.23.2 numpy==2.4.6
    /tmp/mlp-venv/bin/python samples/mlp_tiny/make_model.py
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(20261122)
d_in, d_hidden, d_out = 64, 128, 10
w1 = (rng.standard_normal((d_in, d_hidden)) / np.sqrt(d_in)).astype(np.float32)
b1 = np.zeros(d_hidden, np.float32)
w2 = (rng.standard_normal((d_hidden, d_out)) / np.sqrt(d_hidden)).astype(np.float32)
b2 = np.zeros(d_out, np.float32)

nodes = [
    helper.make_node("MatMul", ["input", "fc1.weight"], ["fc1.mm"], name="fc1"),
    helper.make_node("Add", ["fc1.mm", "fc1.bias"], ["fc1.out"], name="fc1.bias_add"),
    helper.make_node("Relu", ["fc1.out"], ["act"], name="relu"),
    helper.make_node("MatMul", ["act", "fc2.weight"], ["fc2.mm"], name="fc2"),
    helper.make_node("Add", ["fc2.mm", "fc2.bias"], ["logits"], name="fc2.bias_add"),
    helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=-1),
]
graph = helper.make_graph(
    nodes,
    "mlp_tiny",
    [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", d_in])],
    [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", d_out])],
    [numpy_helper.from_array(a, n) for n, a in
     [("fc1.weight", w1), ("fc1.bias", b1), ("fc2.weight", w2), ("fc2.bias", b2)]],
)
model = helper.make_model(graph, producer_name="mixq-samples", producer_version="1",
                          opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
model.doc_string = "Placeholder MLP with seeded random weights (not trained)."
onnx.checker.check_model(model, full_check=True)
out = pathlib.Path(__file__).with_name("model.onnx")
onnx.save(model, out)
print(f"wrote {out} ({out.stat().st_size} bytes)")
