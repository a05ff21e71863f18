#!/usr/bin/env python3
"""Exports the benchmark models with PyTorch (Debian's python3-torch, CPU) into OUT_DIR:

  gpt.onnx      GPT-style decoder (random weights, seed 0): vocab 256, 4 layers, width 256,
                4 heads, MLP 1024, pre-LayerNorm, causal attention written with MatMul/Softmax,
                GELU; opset 17, dynamic batch and sequence; input ids int64 [1, 128].
  resnet.onnx   ResNet-18 layout (random weights, seed 0): BasicBlocks 64-128-256-512 with
                BatchNormalization, ReLU, max pooling, global average pooling, Gemm head of 1000;
                opset 13; input float32 [1, 3, 224, 224].

Each model gets OUT_DIR/<name>.inputs.npz with its benchmark input (seeded).

    /usr/bin/python3 tools/bench/make_models.py OUT_DIR
"""
import math
import pathlib
import sys

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class Block(nn.Module):
    def __init__(self, d, heads, mlp):
        super().__init__()
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.proj = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc = nn.Linear(d, mlp)
        self.out = nn.Linear(mlp, d)
        self.heads = heads

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        h = self.heads
        q = q.view(b, t, h, d // h).transpose(1, 2)
        k = k.view(b, t, h, d // h).transpose(1, 2)
        v = v.view(b, t, h, d // h).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(d // h))
        mask = torch.ones(t, t, dtype=torch.bool).tril()
        att = att.masked_fill(~mask, float("-inf")).softmax(dim=-1)
        y = (att @ v).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class Gpt(nn.Module):
    def __init__(self, vocab=256, d=256, layers=4, heads=4, mlp=1024, ctx=128):
        super().__init__()
        self.tok = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(ctx, d)
        self.blocks = nn.ModuleList(Block(d, heads, mlp) for _ in range(layers))
        self.ln = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab, bias=False)

    def forward(self, ids):
        t = ids.shape[1]
        x = self.tok(ids) + self.pos(torch.arange(t, device=ids.device))
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.c1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.b1 = nn.BatchNorm2d(cout)
        self.c2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.b2 = nn.BatchNorm2d(cout)
        self.down = None
        if stride != 1 or cin != cout:
            self.down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                      nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.b1(self.c1(x)))
        y = self.b2(self.c2(y))
        return F.relu(y + (x if self.down is None else self.down(x)))


class ResNet18(nn.Module):
    def __init__(self, classes=1000):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(), nn.MaxPool2d(3, 2, 1))
        layers, cin = [], 64
        for cout, stride in [(64, 1), (128, 2), (256, 2), (512, 2)]:
            layers += [BasicBlock(cin, cout, stride), BasicBlock(cout, cout, 1)]
            cin = cout
        self.layers = nn.Sequential(*layers)
        self.fc = nn.Linear(512, classes)

    def forward(self, x):
        x = self.layers(self.stem(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(0)
    gpt = Gpt().eval()
    ids = torch.randint(0, 256, (1, 128), generator=torch.Generator().manual_seed(1))
    torch.onnx.export(gpt, (ids,), out / "gpt.onnx", input_names=["ids"],
                      output_names=["logits"], opset_version=17,
                      dynamic_axes={"ids": {0: "batch", 1: "seq"},
                                    "logits": {0: "batch", 1: "seq"}})
    np.savez(out / "gpt.inputs.npz", ids=ids.numpy())

    torch.manual_seed(0)
    net = ResNet18().eval()
    # Non-trivial running statistics, as a trained network has.
    for m in net.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
    x = torch.rand(1, 3, 224, 224, generator=torch.Generator().manual_seed(2))
    torch.onnx.export(net, (x,), out / "resnet.onnx", input_names=["input"],
                      output_names=["logits"], opset_version=13,
                      training=torch.onnx.TrainingMode.EVAL, do_constant_folding=False)
    np.savez(out / "resnet.inputs.npz", input=x.numpy())
    print("wrote", sorted(p.name for p in out.iterdir()))


if __name__ == "__main__":
    main()
