#!/usr/bin/env python3
"""PyTorch eager baseline for `reid-explorer bench --pytorch PYTHON`.

The same functions the Rust bench times, written the way a PyTorch user would (the formulation
of ../shared/anchors/README.md): the normalized correlation as unfold + bmm, the Normalized
X-Corr network (docs/network.md) with torch.nn layers, a training step with SGD, and one
query ranked against 1,000 gallery images with trunk features precomputed. The correlation is
checked against the golden vectors before anything is timed (relative L2 < 1e-5), so every
ratio compares two correct implementations.

Prints one JSON object: {"torch", "threads", "xcorr": [{"batch", "millis"}],
"forward_pairs_per_s", "train_pairs_per_s", "rank_1000_seconds", "golden_rel_l2"}.
Run: PYTHON benches/pytorch_baseline.py [--reps N] [--threads T] [--golden DIR] [--quick]
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


def median_ms(reps, f):
    f()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        f()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times)


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
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    err = golden_error(args.golden)
    if err is not None and not err < 1e-5:
        sys.exit(f"pytorch_baseline: correlation disagrees with the golden vectors (rel L2 {err})")

    out = {"torch": torch.__version__, "threads": torch.get_num_threads(), "golden_rel_l2": err, "xcorr": []}
    with torch.no_grad():
        for batch in [1, 32] + ([] if args.quick else [128]):
            x, y = torch.randn(batch, 25, 37, 12), torch.randn(batch, 25, 37, 12)
            out["xcorr"].append({"batch": batch, "millis": median_ms(args.reps, lambda: xcorr(x, y))})

    net = XCorrNet()
    a, b = torch.randn(32, 3, 160, 60), torch.randn(32, 3, 160, 60)
    with torch.no_grad():
        out["forward_pairs_per_s"] = 32 / (median_ms(min(args.reps, 3), lambda: net(a, b)) / 1e3)

    opt = torch.optim.SGD(net.parameters(), lr=1e-6, momentum=0.9)
    labels = torch.randint(0, 2, (32,))

    def step():
        opt.zero_grad()
        F.cross_entropy(net(a, b), labels).backward()
        opt.step()

    out["train_pairs_per_s"] = 32 / (median_ms(min(args.reps, 3), step) / 1e3)

    with torch.no_grad():
        gallery = torch.randn(1000, 25, 37, 12)
        query = torch.randn(1, 25, 37, 12)

        def rank(chunk):
            def run():
                for s in range(0, 1000, chunk):
                    g = gallery[s : s + chunk]
                    torch.softmax(net.head(query.expand(g.shape[0], -1, -1, -1), g), 1)

            t = time.perf_counter()
            run()
            return time.perf_counter() - t

        # The best of several chunk sizes (the anchors found one pair at a time fastest).
        out["rank_1000_seconds"] = min(rank(c) for c in (1, 8, 64))
    print(json.dumps(out))


if __name__ == "__main__":
    main()
