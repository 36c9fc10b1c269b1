"""Two recurrent layers in one process, as a model with several layers calls them: each timed
alone, then in blocks that alternate between the two (issue 18's open question).

    .venv/bin/python bench/bench_interleave.py                 # every pair below
    .venv/bin/python bench/bench_interleave.py hrnn,grnn       # one pair

Layers (1 thread, float32, (B, T, I, H) = (16, 100, 32, 64), ``batch_first``, x requiring
grad, forward + ``out.sum().backward()``): ``h...`` the built-in layers (hand-written
kernels), ``g...`` ``models.Recurrent`` of the built-in cell with ``fused="generated"`` (the
compiled kernels). Each pair runs in a fresh process: every layer warmed up, then each alone
(rounds of 20 calls), then both in alternating blocks of 20 calls; the best round per layer,
in ms. ``blocks / alone`` > 1 means a layer runs slower when the other one runs between its
blocks.
"""

import os
import subprocess
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAIRS = ["hrnn,hrnn", "hrnn,hlstm", "grnn,glstm", "hrnn,grnn", "hlstm,glstm"]
B, T, I, H = 16, 100, 32, 64


def _make(name):
    import models

    return {"hrnn": lambda: models.RNN(I, H, batch_first=True),
            "hlstm": lambda: models.LSTM(I, H, batch_first=True),
            "grnn": lambda: models.Recurrent(models.RNNCell, I, H, batch_first=True,
                                             fused="generated"),
            "glstm": lambda: models.Recurrent(models.LSTMCell, I, H, batch_first=True,
                                              fused="generated")}[name]()


def _best(order, step, n=20, rounds=5):
    best = {}
    for _ in range(rounds):
        for name, layer in order:
            t = time.perf_counter()
            for _ in range(n):
                step(layer)
            best[name] = min(best.get(name, 1e9), (time.perf_counter() - t) / n)
    return best


def worker(pair):
    import minigrad as mg

    mg.set_num_threads(1)
    names = pair.split(",")
    layers = [(f"{n}#{k}", _make(n)) for k, n in enumerate(names)]
    xs = np.random.default_rng(0).standard_normal((B, T, I)).astype(np.float32)

    def step(layer):
        x = mg.tensor(xs, requires_grad=True)
        out, _ = layer(x)
        out.sum().backward()

    for _, layer in layers:
        for _ in range(10):
            step(layer)
    alone = {}
    for item in layers:
        alone.update(_best([item], step))
    blocks = _best(layers, step)
    cells = "  ".join(f"{n}: {alone[n] * 1e3:.3f} alone, {blocks[n] * 1e3:.3f} in blocks "
                      f"({blocks[n] / alone[n]:.2f}x)" for n, _ in layers)
    print(f"{pair:12} {cells}", flush=True)


def main(argv=None):
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["--worker"]:
        worker(args[1])
        return
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1")
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    print(f"(B, T, I, H) = {(B, T, I, H)}, 1 thread, float32, ms per fwd+bwd (best round)")
    for pair in args or PAIRS:
        subprocess.run([sys.executable, os.path.abspath(__file__), "--worker", pair],
                       env=env, check=True)


if __name__ == "__main__":
    main()
