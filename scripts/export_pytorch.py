#!/usr/bin/env python3
"""Move digit-model weights between PyTorch and neuralpad (OPTIONAL).

Needs PyTorch and safetensors (pip install torch safetensors). Not run in CI
or by scripts/test: PyTorch is not installed there. What CI checks instead is
tests/pytorch_interchange.rs, on a fixture written by
tests/fixtures/pytorch_mnist_cnn.py in the same format as this script.

MnistCnn below is neuralpad's digit model (src/nn/mnist_cnn.rs) as a
torch.nn.Module: its attribute names make the state_dict names neuralpad's
weight files use (conv1.weight, conv1.bias, conv2.*, fc1.*, fc2.*), with
PyTorch's layouts (conv [out, in, kh, kw], linear [out, in], NCHW flatten).

    # PyTorch -> neuralpad: weights of a trained state_dict (or fresh ones)
    python3 scripts/export_pytorch.py --state-dict mine.pt --out mine.safetensors
    neuralpad eval --weights mine.safetensors --backend cpu

    # neuralpad -> PyTorch: load a neuralpad file strictly and run it
    python3 scripts/export_pytorch.py --check www/models/mnist_cnn.safetensors

Inputs are [n, 1, 28, 28] float32 in 0..1 (MNIST pixels / 255), no other
normalisation; the model ends in softmax, so it outputs probabilities.
"""

import argparse
import json

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn


class MnistCnn(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3)  # 28 -> 26, pool -> 13
        self.conv2 = nn.Conv2d(32, 64, 3)  # 13 -> 11, pool -> 5
        self.fc1 = nn.Linear(64 * 5 * 5, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x):
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = F.relu(self.fc1(torch.flatten(x, 1)))
        return F.softmax(self.fc2(x), dim=1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--state-dict", help="a .pt file of MnistCnn().state_dict() to export")
    ap.add_argument("--out", default="mnist_cnn.safetensors", help="where to write")
    ap.add_argument("--seed", type=int, default=0, help="seed of fresh weights")
    ap.add_argument("--check", metavar="FILE.safetensors", help="load a neuralpad file instead")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    model = MnistCnn()
    if args.check:
        # strict: every tensor present, no extra one, every shape exact.
        model.load_state_dict(load_file(args.check), strict=True)
        print(f"{args.check}: loaded into MnistCnn (strict)")
        # The interchange fixture records inputs and expected outputs: compare.
        with open(args.check, "rb") as f:
            header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
        meta = header.get("__metadata__", {})
        if "inputs" in meta and "probabilities" in meta:
            x = torch.tensor(json.loads(meta["inputs"]), dtype=torch.float32) / 255
            with torch.no_grad():
                got = model(x.reshape(-1, 1, 28, 28)).double()
            want = torch.tensor(json.loads(meta["probabilities"]), dtype=torch.float64)
            print(f"recorded probabilities: max |diff| {(got - want).abs().max():.2e}")
        return
    if args.state_dict:
        model.load_state_dict(torch.load(args.state_dict, map_location="cpu"), strict=True)
    model = model.float()  # neuralpad reads float32 only
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.out,
              metadata={"format": "pt"})
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
