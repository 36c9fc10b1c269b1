"""Next-word prediction: a many-to-one LSTM over a sliding window of words.

The lectures' language-model example, small enough for a CPU: the text that ships with the repo
(``examples/data/harbour.txt``, original prose, ~5 KB) is split into words; every window of
``--window`` words is an input sequence and the word after it the target. An embedding feeds an
LSTM whose last hidden state goes through a linear layer to scores over the vocabulary
(cross-entropy loss). Afterwards the script prints top-3 predictions for a few contexts, a short
greedy continuation, and how strongly the loss's gradient reaches each position of the window
(``models.analysis.gradient_flow``).

    python examples/next_word.py            # well under a minute
    python examples/next_word.py --quick    # a few seconds (used by the tests)
"""

import argparse
import copy
import os
import re
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only contend

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import minigrad as mg  # noqa: E402
import models  # noqa: E402
from models.analysis import gradient_flow  # noqa: E402

DATA = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "harbour.txt")
TOKEN = re.compile(r"[a-z]+|[.,!?\"]")


def tokenize(text):
    """Lower-case words and the punctuation marks . , ! ? \" as tokens."""
    return TOKEN.findall(text.lower())


class Vocab:
    def __init__(self, tokens):
        self.itos = sorted(set(tokens))
        self.stoi = {w: i for i, w in enumerate(self.itos)}

    def __len__(self):
        return len(self.itos)

    def encode(self, tokens):
        return np.array([self.stoi[t] for t in tokens], dtype=np.int64)


def windows(ids, size):
    """All (window, next id) pairs: x (N, size) int64, y (N,) int64."""
    n = len(ids) - size
    x = np.stack([ids[i:i + size] for i in range(n)])
    return x, ids[size:size + n]


class NextWord(mg.nn.Module):
    """ids (B, W) -> logits (B, V): embedding, LSTM over the window, linear read-out of the
    last hidden state."""

    def __init__(self, vocab_size, embed=32, hidden=64, dropout=0.3):
        super().__init__()
        self.embed = mg.nn.Embedding(vocab_size, embed)
        self.drop = mg.nn.Dropout(dropout)
        self.lstm = models.LSTM(embed, hidden, batch_first=True)
        self.head = mg.nn.Linear(hidden, vocab_size)

    def forward(self, ids):
        out, _ = self.lstm(self.drop(self.embed(ids)))
        return self.head(self.drop(out[:, -1]))


def evaluate(model, x, y):
    """(cross-entropy, top-1 accuracy) in eval mode (no dropout)."""
    was = model.training
    model.eval()
    with mg.no_grad():
        logits = model(mg.tensor(x)).numpy()
    model.train(was)
    loss = float(mg.nn.functional.cross_entropy(mg.tensor(logits), y).item())
    return loss, float(np.mean(np.argmax(logits, axis=1) == y))


def detokenize(tokens):
    text = " ".join(tokens)
    return re.sub(r" ([.,!?])", r"\1", text)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="a few steps only (smoke test)")
    p.add_argument("--window", type=int, default=8, help="words of context (default 8)")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 1000)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--dropout", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    steps = args.steps if args.steps is not None else (20 if args.quick else 1000)
    if args.window < 1 or steps < 1:
        p.error("--window and --steps must be positive")

    mg.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    with open(DATA, encoding="utf-8") as f:
        tokens = tokenize(f.read())
    vocab = Vocab(tokens)
    x_all, y_all = windows(vocab.encode(tokens), args.window)
    # Hold out the last tenth of the text (contiguous), so no held-out target is a training one.
    n_val = max(1, len(x_all) // 10)
    train, val = np.arange(len(x_all) - n_val), np.arange(len(x_all) - n_val, len(x_all))
    print(f"text: {len(tokens)} tokens, vocabulary {len(vocab)}, {len(train)} training windows "
          f"of {args.window} words, {len(val)} held out (the text's last tenth)")

    model = NextWord(len(vocab), hidden=args.hidden, dropout=args.dropout)
    opt = mg.optim.Adam(model.parameters(), lr=args.lr)
    start = time.perf_counter()
    best = (float("inf"), 0, copy.deepcopy(model.state_dict()))  # a snapshot, not a view
    bar = tqdm(range(1, steps + 1), desc="training", unit="step", dynamic_ncols=True)
    for step in bar:
        idx = train[rng.integers(0, len(train), size=args.batch)]
        logits = model(mg.tensor(x_all[idx]))
        loss = mg.nn.functional.cross_entropy(logits, y_all[idx])
        opt.zero_grad()
        loss.backward()
        mg.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        if step % 50 == 0 or step == steps:
            held_out = evaluate(model, x_all[val], y_all[val])[0]
            if held_out < best[0]:  # early stopping: keep the best held-out weights
                best = (held_out, step, copy.deepcopy(model.state_dict()))
            bar.set_postfix(loss=f"{loss.item():.3f}", held_out=f"{held_out:.3f}")
    seconds = time.perf_counter() - start
    model.load_state_dict(best[2])
    print(f"kept the weights of step {best[1]} (best held-out cross-entropy)")

    model.eval()
    results = {name: evaluate(model, x_all[idx], y_all[idx])
               for name, idx in (("train", train), ("held-out", val))}
    print(f"trained {steps} steps in {seconds:.1f} s")
    for name, (loss, acc) in results.items():
        print(f"  {name:9s} cross-entropy {loss:.3f}  perplexity {np.exp(loss):6.1f}  "
              f"top-1 accuracy {acc:.1%}")
    print(f"  (uniform guessing: perplexity {len(vocab)})")

    print("\nsample predictions (context -> top 3, * = the word in the text):")
    with mg.no_grad():
        for i in val[:6]:
            probs = mg.softmax(model(mg.tensor(x_all[i:i + 1])), dim=-1).numpy()[0]
            top = np.argsort(probs)[::-1][:3]
            guess = ", ".join(f"{vocab.itos[k]}{'*' if k == y_all[i] else ''} "
                              f"{probs[k]:.2f}" for k in top)
            context = detokenize([vocab.itos[k] for k in x_all[i]])
            print(f"  ... {context} -> {guess}   (text: {vocab.itos[y_all[i]]})")

        seed_ids = list(x_all[0])
        generated = []
        for _ in range(20):
            logits = model(mg.tensor(np.array([seed_ids[-args.window:]]))).numpy()[0]
            nxt = int(np.argmax(logits))
            generated.append(nxt)
            seed_ids.append(nxt)
    print("\ngreedy continuation of the first window:")
    print("  " + detokenize([vocab.itos[k] for k in x_all[0]]) + " | "
          + detokenize([vocab.itos[k] for k in generated]))

    # How far back does the loss's gradient reach within the window?
    idx = val[:min(len(val), 128)]
    target = y_all[idx]
    flow = gradient_flow(model, mg.tensor(x_all[idx]),
                         loss_fn=lambda logits: mg.nn.functional.cross_entropy(logits, target))
    norms = flow.h[next(iter(flow.h))]
    print("\n||dL/dh_t|| across the window (t = 0 is the oldest word; from the real backward "
          "pass):")
    print("  " + "  ".join(f"t={t}: {v:.2e}" for t, v in enumerate(norms)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
