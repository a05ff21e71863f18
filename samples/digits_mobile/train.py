#!/usr/bin/env python3
"""Trains samples/digits_mobile: a MobileNetV2-style network on scikit-learn's bundled digits
(depthwise-separable inverted residual blocks, residual Add, ReLU6 as Clip, HardSwish, global
average pooling), and writes model.onnx (opset 11), calib.npz, eval.npz and metrics.json.

    /usr/bin/python3 samples/digits_mobile/train.py  # Debian python3-torch, python3-sklearn

The export folds BatchNormalization into the convolutions, as deployment exports do: the
depthwise weights then carry per-channel ranges that differ widely within a layer (up to 14x
in the committed model), the classic INT8 trouble spot this sample exists to exercise. Seeded
and CPU-only.
"""
import pathlib
import sys

import torch.nn as nn

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "common"))
import sample_util as su  # noqa: E402

SEED = 20261123


def conv_bn(cin, cout, k, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6())
    return layers


class InvertedResidual(nn.Module):
    """1x1 expand -> 3x3 depthwise -> 1x1 linear projection, with a residual Add when the
    block keeps the shape."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        mid = cin * expand
        self.body = nn.Sequential(*conv_bn(cin, mid, 1), *conv_bn(mid, mid, 3, stride, mid),
                                  *conv_bn(mid, cout, 1, act=False))
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class DigitsMobile(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn(1, 16, 3),
            InvertedResidual(16, 16, 1, 4),
            InvertedResidual(16, 24, 2, 4),   # 8x8 -> 4x4
            InvertedResidual(24, 24, 1, 4),
            InvertedResidual(24, 32, 1, 4),
            InvertedResidual(32, 32, 1, 4),
            nn.Conv2d(32, 128, 1, bias=False), nn.BatchNorm2d(128), nn.Hardswish(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(128, 10)

    def forward(self, x):
        return self.classifier(self.features(x))


def main():
    su.train_and_export_digits(DigitsMobile, HERE, SEED, epochs=60, opset=11)


if __name__ == "__main__":
    main()
