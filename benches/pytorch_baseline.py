#!/usr/bin/env python3
"""PyTorch eager baseline for `reid-explorer bench --pytorch PYTHON`.

The same functions the Rust bench times, written the way a PyTorch user would (the formulation
of ../shared/anchors/README.md): the normalized correlation as unfold + bmm, the Normalized
X-Corr network (docs/network.md) with torch.nn layers, a training step with SGD, and one
query ranked against 1,000 gallery images with trunk features precomputed. The correlation is
checked against the golden vectors before anything is timed (relative L2 < 1e-5), so every
ratio compares two correct implementations.

The two training steps are the app's two batchings (`train --batching pairs|reuse`), with the
authors' SGD (momentum 0.9, dampening 0.9, as Torch7's optim.sgd):
- pairs: 32 pairs, the trunk run on both images of every pair;
- reuse: K identities x M images, the trunk once per image, the head on every pair formed among
  them (every same-identity pair, two negatives each, or exactly --reuse-pairs pairs when the
  Rust bench passes its own count); "pairs per second" counts the pairs the loss scores.

Prints one JSON object: {"torch", "device", "threads", "xcorr": [{"batch", "millis"}],
"forward_pairs_per_s", "train_pairs_per_s", "train_reuse_pairs_per_s", "reuse_k", "reuse_m",
"reuse_pairs", "train_op_forward_ms", "train_op_backward_ms", "rank_1000_seconds",
"golden_rel_l2"}. The training op is the head's first stage, relu(xcorr) and the 1x1
convolution, on the reuse step's pairs of trunk features (gathered per pair), forward alone and
backward alone (forward + backward minus forward).
Run: PYTHON benches/pytorch_baseline.py [--reps N] [--threads T] [--golden DIR] [--quick]
     [--device cpu|cuda] [--reuse-k K] [--reuse-m M] [--reuse-pairs N]
"""

import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

P, D, EPS = 5, 5, 0.01


def xcorr(x, y):
    """x, y [B, C, H, W] -> [B, C*D*W, H, W], depth index c*D*W + dy*W + x'."""
    b, c, h, w = x.shape
    n = P * P

    def norm(t):
        u = F.unfold(t.reshape(b * c, 1, h, w), P, padding=P // 2)  # [B*C, N, H*W]
        mean = u.mean(1, keepdim=True)
        sigma = u.std(1, keepdim=True) + EPS  # N-1 denominator
        return (u - mean) / sigma

    xn = norm(x).transpose(1, 2).reshape(b * c * h, w, n)  # [B*C*H, W, N]
    yn = norm(y).reshape(b * c, n, h, w)
    band = F.pad(yn, (0, 0, D // 2, D // 2)).unfold(2, D, 1)  # [B*C, N, H, W, D]
    band = band.permute(0, 2, 1, 4, 3).reshape(b * c * h, n, D * w)  # [B*C*H, N, D*W]
    out = torch.bmm(xn, band) / (n - 1)  # [B*C*H, W, D*W]
    return out.reshape(b, c, h, w, D * w).permute(0, 1, 4, 2, 3).reshape(b, c * D * w, h, w)


class XCorrNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 20, 5)
        self.conv2 = torch.nn.Conv2d(20, 25, 5)
        self.head1 = torch.nn.Conv2d(1500, 25, 1)
        self.head3 = torch.nn.Conv2d(25, 25, 3)
        self.fc1 = torch.nn.Linear(2125, 500)
        self.fc2 = torch.nn.Linear(500, 2)

    def features(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return F.max_pool2d(F.relu(self.conv2(x)), 2)  # [B, 25, 37, 12]

    def head(self, fa, fb):
        v = F.relu(xcorr(fa, fb))
        v = F.relu(self.head1(v))
        v = F.max_pool2d(self.head3(v), 2).flatten(1)  # [B, 2125]
        return self.fc2(F.relu(self.fc1(v)))

    def forward(self, a, b):
        return self.head(self.features(a), self.features(b))


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def median_ms(reps, f, device=torch.device("cpu")):
    f()  # warm-up
    sync(device)
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        sync(device)
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


def reuse_pairs(k, m, count, gen):
    """Pairs among K identities x M images (image i has identity i // M): every same-identity
    pair, then two negatives per positive drawn at random; cut or topped up with negatives to
    `count` pairs when given. Returns (ia, ib, same) index / label tensors."""
    ia, ib, same = [], [], []
    for ident in range(k):
        for x in range(m):
            for y in range(x + 1, m):
                ia.append(ident * m + x)
                ib.append(ident * m + y)
                same.append(1)
    target = count if count else 3 * len(ia)
    n = k * m
    while len(ia) < target:
        a, b = (int(v) for v in torch.randint(0, n, (2,), generator=gen))
        if a // m != b // m:
            ia.append(a)
            ib.append(b)
            same.append(0)
    return torch.tensor(ia[:target]), torch.tensor(ib[:target]), torch.tensor(same[:target])


def golden_error(root):
    """Largest relative L2 error of `xcorr` over the golden cases (None when absent)."""
    index = os.path.join(root, "index.json")
    if not os.path.exists(index):
        return None
    import numpy as np

    def load(name):
        shape = json.load(open(os.path.join(root, name + ".json")))["shape"]
        return torch.from_numpy(np.fromfile(os.path.join(root, name + ".f32"), "<f4").reshape(shape))

    worst = 0.0
    for case in json.load(open(index)):  # {case: {"input": shape, "output": shape}}
        got = xcorr(load(case + "_x"), load(case + "_y"))
        want = load(case + "_out")
        worst = max(worst, float((got - want).norm() / want.norm()))
    return worst


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--golden", default=os.path.join(os.path.dirname(__file__), "..", "..", "shared", "golden"))
    ap.add_argument("--quick", action="store_true", help="skip batch 128 of the correlation")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--reuse-k", type=int, default=8, help="identities per reuse step")
    ap.add_argument("--reuse-m", type=int, default=4, help="images per identity in a reuse step")
    ap.add_argument("--reuse-pairs", type=int, default=0, help="pairs per reuse step (0: 3 per positive)")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("pytorch_baseline: --device cuda but torch sees no CUDA device")
    dev = torch.device(args.device)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    err = golden_error(args.golden)
    if err is not None and not err < 1e-5:
        sys.exit(f"pytorch_baseline: correlation disagrees with the golden vectors (rel L2 {err})")

    out = {
        "torch": torch.__version__,
        "device": str(dev),
        "threads": torch.get_num_threads(),
        "golden_rel_l2": err,
        "xcorr": [],
    }
    with torch.no_grad():
        for batch in [1, 32] + ([] if args.quick else [128]):
            x, y = torch.randn(batch, 25, 37, 12, device=dev), torch.randn(batch, 25, 37, 12, device=dev)
            out["xcorr"].append({"batch": batch, "millis": median_ms(args.reps, lambda: xcorr(x, y), dev)})

    net = XCorrNet().to(dev)
    a, b = torch.randn(32, 3, 160, 60, device=dev), torch.randn(32, 3, 160, 60, device=dev)
    with torch.no_grad():
        out["forward_pairs_per_s"] = 32 / (median_ms(min(args.reps, 3), lambda: net(a, b), dev) / 1e3)

    # The authors' SGD: Torch7's optim.sgd sets dampening to the momentum.
    opt = torch.optim.SGD(net.parameters(), lr=1e-6, momentum=0.9, dampening=0.9)
    labels = torch.randint(0, 2, (32,), device=dev)

    def step():
        opt.zero_grad()
        F.cross_entropy(net(a, b), labels).backward()
        opt.step()

    out["train_pairs_per_s"] = 32 / (median_ms(min(args.reps, 3), step, dev) / 1e3)

    gen = torch.Generator().manual_seed(0)
    ia, ib, same = reuse_pairs(args.reuse_k, args.reuse_m, args.reuse_pairs, gen)
    ia, ib, same = ia.to(dev), ib.to(dev), same.to(dev)
    images = torch.randn(args.reuse_k * args.reuse_m, 3, 160, 60, device=dev)

    def reuse_step():
        opt.zero_grad()
        f = net.features(images)  # [K*M, 25, 37, 12], once per image
        F.cross_entropy(net.head(f[ia], f[ib]), same).backward()
        opt.step()

    out["train_reuse_pairs_per_s"] = len(same) / (median_ms(min(args.reps, 3), reuse_step, dev) / 1e3)
    out["reuse_k"], out["reuse_m"], out["reuse_pairs"] = args.reuse_k, args.reuse_m, len(same)

    feats = torch.randn(args.reuse_k * args.reuse_m, 25, 37, 12, device=dev, requires_grad=True)
    dz = torch.randn(len(same), 25, 37, 12, device=dev)

    def op_forward():
        return net.head1(F.relu(xcorr(feats[ia], feats[ib])))  # [P, 25, 37, 12]

    def op_both():
        feats.grad = None
        net.head1.zero_grad()
        op_forward().backward(dz)

    with torch.no_grad():
        fwd = median_ms(min(args.reps, 3), op_forward, dev)
    both = median_ms(min(args.reps, 3), op_both, dev)
    out["train_op_forward_ms"], out["train_op_backward_ms"] = fwd, max(both - fwd, 0.0)

    with torch.no_grad():
        gallery = torch.randn(1000, 25, 37, 12, device=dev)
        query = torch.randn(1, 25, 37, 12, device=dev)

        def rank(chunk):
            def run():
                for s in range(0, 1000, chunk):
                    g = gallery[s : s + chunk]
                    torch.softmax(net.head(query.expand(g.shape[0], -1, -1, -1), g), 1)

            sync(dev)
            t = time.perf_counter()
            run()
            sync(dev)
            return time.perf_counter() - t

        # The best of several chunk sizes (the anchors found one pair at a time fastest).
        out["rank_1000_seconds"] = min(rank(c) for c in (1, 8, 64))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
