#!/usr/bin/env python3
"""Load the weights of `reid-explorer export --format safetensors` into the PyTorch network of
benches/pytorch_baseline.py (its XCorrNet, the same network with torch.nn layers).

    reid-explorer export --model models/cuhk03 --out cuhk03.safetensors
    python3 benches/load_safetensors.py --check-names cuhk03.safetensors   # no torch needed
    python3 benches/load_safetensors.py cuhk03.safetensors --pairs PAIRS.safetensors

As a module (benches/ on sys.path):

    from load_safetensors import load
    net, config = load("cuhk03.safetensors")      # pytorch_baseline.XCorrNet, in eval mode
    p_same = torch.softmax(net(a, b), 1)[:, 1]    # a, b: [B, 3, 160, 60]

Inputs are RGB crops resized to 160x60, scaled to [0, 1] and normalised per channel with
config["normalization"] (mean, std), in CHW order: what the Rust side feeds its network.

The file is read with the standard library (a safetensors file is an 8-byte little-endian
header length, a JSON header, then the raw tensors); torch is imported only to build the
network. --check-names compares the file's tensor names, dtypes and shapes with TENSORS below,
the loader's one name table (docs/export.md lists it; the Rust tests run this mode), and exits
non-zero on any difference. --pairs reads the tensors "a" and "b" ([B, 3, 160, 60] each) from a
second safetensors file and prints {"p_same": [...]} as JSON.
"""

import argparse
import json
import os
import struct
import sys

# Exported name -> its shape for a model configuration (config.json's fields). The keys are
# the state_dict keys of pytorch_baseline.XCorrNet; linear weights are [out, in] as nn.Linear's.
TENSORS = {
    "conv1.weight": lambda s: [s["c1"], 3, s["k"], s["k"]],
    "conv1.bias": lambda s: [s["c1"]],
    "conv2.weight": lambda s: [s["c2"], s["c1"], s["k"], s["k"]],
    "conv2.bias": lambda s: [s["c2"]],
    "head1.weight": lambda s: [s["h"], s["xcorr"], 1, 1],
    "head1.bias": lambda s: [s["h"]],
    "head3.weight": lambda s: [s["h"], s["h"], 3, 3],
    "head3.bias": lambda s: [s["h"]],
    "fc1.weight": lambda s: [s["fc"], s["flat"]],
    "fc1.bias": lambda s: [s["fc"]],
    "fc2.weight": lambda s: [2, s["fc"]],
    "fc2.bias": lambda s: [2],
}

# The network pytorch_baseline.XCorrNet builds (its layer sizes and correlation geometry are
# fixed): a file of another configuration cannot be loaded into it.
BASELINE = {
    "input_h": 160,
    "input_w": 60,
    "conv1_channels": 20,
    "conv2_channels": 25,
    "trunk_kernel": 5,
    "patch": 5,
    "band": 5,
    "sigma_eps": 0.01,
    "head_channels": 25,
    "fc_hidden": 500,
}


class ExportError(Exception):
    """A file that is not what `reid-explorer export` writes."""


def sizes(config):
    """The sizes TENSORS needs, derived from a configuration as the Rust side derives them
    (valid convolutions, 2x2 max-pools rounding down)."""
    k = config["trunk_kernel"]
    h = ((config["input_h"] - k + 1) // 2 - k + 1) // 2
    w = ((config["input_w"] - k + 1) // 2 - k + 1) // 2
    hc = config["head_channels"]
    return {
        "k": k,
        "c1": config["conv1_channels"],
        "c2": config["conv2_channels"],
        "h": hc,
        "xcorr": config["conv2_channels"] * config["band"] * w,
        "flat": hc * ((h - 2) // 2) * ((w - 2) // 2),
        "fc": config["fc_hidden"],
    }


def read_header(path):
    """(header without __metadata__, metadata dict, offset of the data) of a safetensors file."""
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise ExportError(f"{path}: too short for a safetensors file")
        (n,) = struct.unpack("<Q", raw)
        if n > 100 * 1024 * 1024:
            raise ExportError(f"{path}: header of {n} bytes is not plausible")
        try:
            header = json.loads(f.read(n))
        except ValueError as e:
            raise ExportError(f"{path}: the header is not JSON: {e}")
    metadata = header.pop("__metadata__", {}) or {}
    return header, metadata, 8 + n


def config_of(path, metadata):
    if "config" not in metadata:
        raise ExportError(f"{path}: no model configuration in the metadata (key 'config')")
    return json.loads(metadata["config"])


def check_names(path):
    """Problems of the file against TENSORS (an empty list: it matches)."""
    header, metadata, _ = read_header(path)
    config = config_of(path, metadata)
    s = sizes(config)
    problems = []
    for name in sorted(set(TENSORS) - set(header)):
        problems.append(f"missing tensor {name}")
    for name in sorted(set(header) - set(TENSORS)):
        problems.append(f"unexpected tensor {name}")
    for name in sorted(set(header) & set(TENSORS)):
        info = header[name]
        if info.get("dtype") != "F32":
            problems.append(f"{name}: dtype {info.get('dtype')}, expected F32")
        want = TENSORS[name](s)
        if info.get("shape") != want:
            problems.append(f"{name}: shape {info.get('shape')}, expected {want}")
    return problems


def read_tensors(path):
    """Every tensor of a safetensors file as a float32 torch tensor, and the metadata."""
    import torch

    header, metadata, start = read_header(path)
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read()
    out = {}
    for name, info in header.items():
        if info["dtype"] != "F32":
            raise ExportError(f"{path}: {name} is {info['dtype']}, expected F32")
        begin, end = info["data_offsets"]
        chunk = bytearray(data[begin:end])
        t = torch.frombuffer(chunk, dtype=torch.float32) if chunk else torch.zeros(0)
        out[name] = t.reshape(info["shape"]).clone()
    return out, metadata


def load(path, device="cpu"):
    """(pytorch_baseline.XCorrNet filled with the file's weights, in eval mode; the config)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    sys.dont_write_bytecode = True  # no __pycache__ in the repository
    import pytorch_baseline

    problems = check_names(path)
    if problems:
        raise ExportError(f"{path}: " + "; ".join(problems))
    tensors, metadata = read_tensors(path)
    config = config_of(path, metadata)
    want = dict(
        BASELINE, patch=pytorch_baseline.P, band=pytorch_baseline.D, sigma_eps=pytorch_baseline.EPS
    )
    other = {k: (config.get(k), v) for k, v in want.items() if config.get(k) != v}
    if other:
        raise ExportError(
            f"{path}: pytorch_baseline.XCorrNet is the default network; this model differs in "
            + ", ".join(f"{k} (file {a}, baseline {b})" for k, (a, b) in other.items())
        )
    net = pytorch_baseline.XCorrNet()
    keys = set(net.state_dict())
    if keys != set(TENSORS):
        raise ExportError(
            f"load_safetensors.TENSORS and pytorch_baseline.XCorrNet disagree: "
            f"{sorted(keys ^ set(TENSORS))}"
        )
    net.load_state_dict(tensors, strict=True)
    return net.to(device).eval(), config


def main():
    ap = argparse.ArgumentParser(
        description="Load a `reid-explorer export` safetensors file into pytorch_baseline.XCorrNet."
    )
    ap.add_argument("file", help="a file written by `reid-explorer export --format safetensors`")
    ap.add_argument("--check-names", action="store_true", help="check names and shapes only (no torch)")
    ap.add_argument("--pairs", help="safetensors file with inputs 'a' and 'b' [B, 3, 160, 60]: print p(same)")
    args = ap.parse_args()
    try:
        if args.check_names:
            problems = check_names(args.file)
            for p in problems:
                print(f"{args.file}: {p}", file=sys.stderr)
            if problems:
                sys.exit(1)
            print(f"{args.file}: {len(TENSORS)} tensors, names and shapes as expected")
            return
        import torch

        net, _ = load(args.file)
        if args.pairs:
            inputs, _ = read_tensors(args.pairs)
            with torch.no_grad():
                p = torch.softmax(net(inputs["a"], inputs["b"]), 1)[:, 1]
            print(json.dumps({"p_same": [float(v) for v in p]}))
        else:
            n = sum(t.numel() for t in net.state_dict().values())
            print(f"{args.file}: loaded into pytorch_baseline.XCorrNet ({n} parameters)")
    except (ExportError, OSError, KeyError, ValueError) as e:
        sys.exit(f"load_safetensors: {e}")


if __name__ == "__main__":
    main()
