#!/usr/bin/env python3
"""Trains samples/digits_cnn: a small CNN on scikit-learn's bundled digits, and writes
model.onnx (opset 13, BatchNormalization kept as nodes), calib.npz, eval.npz and metrics.json.

    /usr/bin/python3 samples/digits_cnn/train.py     # Debian python3-torch, python3-sklearn

Seeded and CPU-only: a rerun on the same packages reproduces the same files.
"""
import pathlib
import sys

import torch
import torch.nn as nn

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "common"))
import sample_util as su  # noqa: E402

SEED = 20261122


class DigitsCnn(nn.Module):
    """Three Conv-BN-ReLU stages (8x8 -> 4x4 -> 2x2) and a two-layer Gemm head."""

    def __init__(self):
        super().__init__()

        def stage(cin, cout):
            return [nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                    nn.ReLU()]

        self.features = nn.Sequential(*stage(1, 16), *stage(16, 32), nn.MaxPool2d(2),
                                      *stage(32, 64), nn.AvgPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 2 * 2, 64), nn.ReLU(),
                                  nn.Linear(64, 10))

    def forward(self, x):
        return self.head(self.features(x))


def main():
    # TrainingMode.PRESERVE on a model in eval mode skips the Conv+BatchNormalization fusion
    # that the default export applies, so BatchNormalization stays a node (inference form).
    su.train_and_export_digits(DigitsCnn, HERE, SEED, epochs=40, opset=13,
                               training=torch.onnx.TrainingMode.PRESERVE)


if __name__ == "__main__":
    main()
