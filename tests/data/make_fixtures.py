#!/usr/bin/env python3
"""Writes the committed test fixtures in this folder with the official `onnx` package, so that
mixq's reader is checked against files it did not write itself.

    python3 -m venv /tmp/fx && /tmp/fx/bin/pip install onnx==1.23.2 numpy==2.4.6
    /tmp/fx/bin/python tests/data/make_fixtures.py

opset21_fp8_int4.onnx (IR 10, opset 21): an FP8 E4M3FN weight with DequantizeLinear, a blocked
INT4 QuantizeLinear/DequantizeLinear pair on the activation, and symbolic batch.
"""
import pathlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

here = pathlib.Path(__file__).parent
rng = np.random.default_rng(5)

w_fp8 = helper.make_tensor("w_fp8", TensorProto.FLOAT8E4M3FN, [8, 16],
                           rng.standard_normal(128).astype(np.float32).tolist())
w_scale = numpy_helper.from_array(np.full([8], 0.05, np.float32), "w_scale")
w_zp = helper.make_tensor("w_zp", TensorProto.FLOAT8E4M3FN, [8], [0.0] * 8)
a_scale = numpy_helper.from_array(np.full([4, 2], 0.1, np.float32), "a_scale")  # blocks of 8
a_zp = helper.make_tensor("a_zp", TensorProto.INT4, [4, 2], [0] * 8)

nodes = [
    helper.make_node("DequantizeLinear", ["w_fp8", "w_scale", "w_zp"], ["w"], name="dq_w",
                     axis=0),
    helper.make_node("QuantizeLinear", ["x", "a_scale", "a_zp"], ["x_q"], name="q_x", axis=1,
                     block_size=8),
    helper.make_node("DequantizeLinear", ["x_q", "a_scale", "a_zp"], ["x_dq"], name="dq_x",
                     axis=1, block_size=8),
    helper.make_node("Transpose", ["w"], ["w_t"], name="tr", perm=[1, 0]),
    helper.make_node("MatMul", ["x_dq", "w_t"], ["y"], name="mm"),
]
graph = helper.make_graph(
    nodes, "opset21_fp8_int4",
    [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 16])],
    [helper.make_tensor_value_info("y", TensorProto.FLOAT, [4, 8])],
    [w_fp8, w_scale, w_zp, a_scale, a_zp])
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 21)], ir_version=10,
                          producer_name="mixq-fixtures")
onnx.checker.check_model(model, full_check=True)
onnx.save(model, here / "opset21_fp8_int4.onnx")
print("wrote", here / "opset21_fp8_int4.onnx")

# --- Data files written by NumPy (numpy==2.4.6), read by mixq's data layer -------------------
# arrays.npz (savez) and arrays_compressed.npz (savez_compressed) hold the same arrays:
#   x   float32 [6, 3]  = arange(18) / 4
#   ids int64   [6, 4]  = arange(24) * 1000003
#   m   bool    [6]     = [True, False] * 3
#   h   float16 [2, 2]  = [[1, -2], [0.5, 65504]]
# npy_folder/ holds x.npy and ids.npy.
data = {
    "x": (np.arange(18, dtype=np.float32) / 4).reshape(6, 3),
    "ids": (np.arange(24, dtype=np.int64) * 1000003).reshape(6, 4),
    "m": np.array([True, False] * 3),
    "h": np.array([[1, -2], [0.5, 65504]], dtype=np.float16),
}
np.savez(here / "arrays.npz", **data)
np.savez_compressed(here / "arrays_compressed.npz", **data)
(here / "npy_folder").mkdir(exist_ok=True)
np.save(here / "npy_folder" / "x.npy", data["x"])
np.save(here / "npy_folder" / "ids.npy", data["ids"])
np.save(here / "fortran.npy", np.asfortranarray(np.ones((2, 3), np.float32)))
np.save(here / "bigendian.npy", np.ones(3, dtype=">f4"))
print("wrote the data fixtures")
