"""Helpers shared by the samples' train.py scripts: seeding, the scikit-learn digits split,
a training loop that logs its loss curve, .npz writing and metric summaries.

Run with Debian's PyTorch and scikit-learn (python3-torch, python3-sklearn) by the system Python;
see each sample's README for the exact command.
"""
import json
import pathlib
import random
import time

import numpy as np
import torch


def seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    torch.set_num_threads(2)
    torch.use_deterministic_algorithms(True)


def digits_split(seed, n_eval=500):
    """scikit-learn's bundled digits (1797 8x8 images, 16 grey levels) as float32 [N, 1, 8, 8]
    in [0, 1]; a seeded stratified split into training and held-out evaluation images."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype(np.float32) / 16.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    x_tr, x_ev, y_tr, y_ev = train_test_split(x, y, test_size=n_eval, random_state=seed,
                                              stratify=y)
    return x_tr, y_tr, x_ev, y_ev


def augment_shift(x, rng):
    """Random translations by up to one pixel (zero fill), a cheap augmentation for 8x8 digits."""
    out = np.zeros_like(x)
    for i in range(x.shape[0]):
        dy, dx = rng.integers(-1, 2, size=2)
        src = x[i, 0]
        dst = out[i, 0]
        ys = slice(max(dy, 0), 8 + min(dy, 0))
        xs = slice(max(dx, 0), 8 + min(dx, 0))
        yd = slice(max(-dy, 0), 8 + min(-dy, 0))
        xd = slice(max(-dx, 0), 8 + min(-dx, 0))
        dst[yd, xd] = src[ys, xs]
    return out


def train_classifier(model, x_tr, y_tr, epochs, lr, seed, batch=64, log_every=5):
    """Adam with cosine decay and shift augmentation; returns the loss curve (mean loss per
    epoch)."""
    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    steps = epochs * ((len(x_tr) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    curve = []
    t0 = time.time()
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(len(x_tr))
        xa = augment_shift(x_tr, rng)
        total, count = 0.0, 0
        for i in range(0, len(order), batch):
            idx = order[i:i + batch]
            xb = torch.from_numpy(xa[idx])
            yb = torch.from_numpy(y_tr[idx])
            loss = torch.nn.functional.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
            count += len(idx)
        curve.append(total / count)
        if epoch % log_every == 0 or epoch == epochs - 1:
            print(f"epoch {epoch:3d}  train loss {curve[-1]:.4f}  ({time.time() - t0:.0f} s)")
    return curve


def accuracy(model, x, y):
    model.eval()
    with torch.no_grad():
        pred = model(torch.from_numpy(x)).argmax(dim=1).numpy()
    return float((pred == y).mean())


def curve_summary(curve, points=6):
    """A few (step, loss) points of a loss curve, first and last included."""
    idx = sorted(set(np.linspace(0, len(curve) - 1, points).round().astype(int).tolist()))
    return [[int(i), round(float(curve[i]), 4)] for i in idx]


def train_and_export_digits(make_model, out_dir, seed, epochs, opset, **export_options):
    """The digits samples' whole job: split, train, measure held-out accuracy, export to
    out_dir/model.onnx (input `input`, output `logits`, dynamic batch), and write calib.npz
    (256 seeded training images), eval.npz (held-out `input`, `labels`) and metrics.json."""
    out_dir = pathlib.Path(out_dir)
    seed_everything(seed)
    x_tr, y_tr, x_ev, y_ev = digits_split(seed)
    model = make_model()  # after seeding: the initial weights are part of the recipe
    curve = train_classifier(model, x_tr, y_tr, epochs=epochs, lr=3e-3, seed=seed)
    acc = accuracy(model, x_ev, y_ev)
    print(f"held-out top-1 accuracy (PyTorch, {len(y_ev)} images): {acc:.4f}")
    model.eval()
    torch.onnx.export(model, torch.from_numpy(x_ev[:1]), str(out_dir / "model.onnx"),
                      opset_version=opset, input_names=["input"], output_names=["logits"],
                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                      do_constant_folding=True, **export_options)
    rng = np.random.default_rng(seed)
    np.savez(out_dir / "calib.npz", input=x_tr[rng.choice(len(x_tr), 256, replace=False)])
    np.savez(out_dir / "eval.npz", input=x_ev, labels=y_ev)
    write_metrics(out_dir, {"metric": "accuracy", "pytorch_eval_accuracy": acc,
                            "eval_images": int(len(y_ev)), "train_images": int(len(y_tr)),
                            "epochs": len(curve), "loss_curve": curve_summary(curve)})


def write_metrics(out_dir, metrics):
    path = pathlib.Path(out_dir) / "metrics.json"
    path.write_text(json.dumps(metrics, indent=2) + "\n")
    print(f"wrote {path}")
