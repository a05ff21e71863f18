#!/usr/bin/env python3
"""Trains samples/tinygpt: a GPT-2-style character-level language model on the Python standard
library sources that ship with Debian (/usr/lib/python3.11/*.py), and writes model.onnx
(opset 17, dynamic batch and sequence), calib.npz, eval.npz and metrics.json.

    /usr/bin/python3 samples/tinygpt/train.py        # Debian python3-torch (CPU)

Model: learned token and position embeddings, 4 pre-LayerNorm blocks of width 128 with 4-head
causal self-attention written with MatMul/Softmax and a GELU MLP (width 512), an untied output
head; context 64, vocabulary the 128 ASCII codes (other bytes map to 0x7f). The top-level .py
files are split by name: every tenth file (sorted) is held out for evaluation. Seeded, CPU-only.
"""
import hashlib
import math
import pathlib
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "common"))
import sample_util as su  # noqa: E402

SEED = 20261124
SOURCE = pathlib.Path("/usr/lib/python3.11")
VOCAB, CTX, WIDTH, LAYERS, HEADS, MLP = 128, 64, 128, 4, 4, 512
STEPS, BATCH, LR = 3000, 32, 2e-3


def load_corpus():
    files = sorted(SOURCE.glob("*.py"))
    if len(files) < 50:
        raise SystemExit(f"expected the Python 3.11 standard library under {SOURCE}")
    train, held_out, digest = [], [], hashlib.sha256()
    for i, f in enumerate(files):
        data = f.read_bytes()
        digest.update(f.name.encode() + b"\0" + data)
        codes = np.minimum(np.frombuffer(data, np.uint8), 127).astype(np.int64)
        (held_out if i % 10 == 0 else train).append(codes)
    return (np.concatenate(train), np.concatenate(held_out), len(files), digest.hexdigest())


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.ln1 = nn.LayerNorm(WIDTH)
        self.qkv = nn.Linear(WIDTH, 3 * WIDTH)
        self.proj = nn.Linear(WIDTH, WIDTH)
        self.ln2 = nn.LayerNorm(WIDTH)
        self.fc = nn.Linear(WIDTH, MLP)
        self.out = nn.Linear(MLP, WIDTH)
        self.register_buffer("causal", torch.ones(CTX, CTX, dtype=torch.bool).tril())

    def forward(self, x):
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q = q.reshape(b, t, HEADS, d // HEADS).transpose(1, 2)
        k = k.reshape(b, t, HEADS, d // HEADS).transpose(1, 2)
        v = v.reshape(b, t, HEADS, d // HEADS).transpose(1, 2)
        att = torch.matmul(q, k.transpose(-2, -1)) * (1.0 / math.sqrt(d // HEADS))
        att = att.masked_fill(~self.causal[:t, :t], float("-inf"))
        y = torch.matmul(torch.softmax(att, dim=-1), v)
        x = x + self.proj(y.transpose(1, 2).reshape(b, t, d))
        return x + self.out(F.gelu(self.fc(self.ln2(x))))


class TinyGpt(nn.Module):
    def __init__(self):
        super().__init__()
        self.tok = nn.Embedding(VOCAB, WIDTH)
        self.pos = nn.Embedding(CTX, WIDTH)
        self.blocks = nn.ModuleList(Block() for _ in range(LAYERS))
        self.ln = nn.LayerNorm(WIDTH)
        self.head = nn.Linear(WIDTH, VOCAB, bias=False)

    def forward(self, ids):
        x = self.tok(ids) + self.pos.weight[: ids.shape[1]]
        for blk in self.blocks:
            x = blk(x)
        return self.head(self.ln(x))


def windows(codes, starts):
    ids = np.stack([codes[s:s + CTX] for s in starts])
    targets = np.stack([codes[s + 1:s + CTX + 1] for s in starts])
    return ids, targets


def perplexity(model, ids, targets):
    model.eval()
    with torch.no_grad():
        logits = model(torch.from_numpy(ids))
        nll = F.cross_entropy(logits.reshape(-1, VOCAB), torch.from_numpy(targets).reshape(-1))
    return float(torch.exp(nll))


def main():
    su.seed_everything(SEED)
    train, held_out, n_files, digest = load_corpus()
    print(f"corpus: {n_files} files, {len(train)} training and {len(held_out)} held-out bytes")
    rng = np.random.default_rng(SEED)
    ev_ids, ev_targets = windows(held_out, rng.choice(len(held_out) - CTX - 1, 256,
                                                      replace=False))
    model = TinyGpt()
    params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=0.01)
    warmup = 200
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * s / STEPS)))
    curve, window_losses, t0 = [], [], time.time()
    for step in range(STEPS):
        model.train()
        ids, targets = windows(train, rng.integers(0, len(train) - CTX - 1, BATCH))
        logits = model(torch.from_numpy(ids))
        loss = F.cross_entropy(logits.reshape(-1, VOCAB), torch.from_numpy(targets).reshape(-1))
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        window_losses.append(loss.item())
        if (step + 1) % 100 == 0:
            curve.append(float(np.mean(window_losses)))
            window_losses = []
            if (step + 1) % 500 == 0:
                ppl = perplexity(model, ev_ids, ev_targets)
                print(f"step {step + 1:5d}  train loss {curve[-1]:.4f}  held-out ppl {ppl:.3f}"
                      f"  ({time.time() - t0:.0f} s)")
    ppl = perplexity(model, ev_ids, ev_targets)
    print(f"held-out perplexity (PyTorch, {ev_ids.shape[0]} x {CTX} tokens): {ppl:.4f}")

    model.eval()
    torch.onnx.export(model, torch.from_numpy(ev_ids[:2, :16]), str(HERE / "model.onnx"),
                      opset_version=17, input_names=["ids"], output_names=["logits"],
                      dynamic_axes={"ids": {0: "batch", 1: "seq"},
                                    "logits": {0: "batch", 1: "seq"}})
    cal_ids, _ = windows(train, rng.integers(0, len(train) - CTX - 1, 128))
    np.savez(HERE / "calib.npz", ids=cal_ids)
    np.savez(HERE / "eval.npz", ids=ev_ids, targets=ev_targets)
    su.write_metrics(HERE, {"metric": "ppl", "pytorch_eval_ppl": ppl,
                            "eval_sequences": int(ev_ids.shape[0]), "context": CTX,
                            "parameters": int(params), "steps": STEPS, "batch": BATCH,
                            "corpus_files": n_files, "corpus_sha256": digest,
                            "loss_curve_per_100_steps": su.curve_summary(curve, 9)})


if __name__ == "__main__":
    main()
