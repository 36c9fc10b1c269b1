"""The adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015), reproduced.

Each input step is a pair (value ~ U[0, 1], marker); two markers per sequence, one in each half;
the target is the sum of the two marked values. Always answering 1 scores MSE = 1/6 ~ 0.167, so
a model below that carries information across up to T steps. A tanh RNN, an LSTM, a GRU and an
IRNN (ReLU RNN with identity recurrent init and zero biases) are trained at T = 50 and T = 100
with the same budget: the same number of steps, batch size, optimizer (Adam), learning rate and
gradient clipping (``GradientMonitor(max_norm=1)``, which also counts the clipping events). The
expected shape, as in the papers: the LSTM (and GRU) learn the task at T = 100, the tanh RNN
stays near the baseline.

Writes ``learning_curves.png`` (test MSE against training step, one panel per T),
``results.md`` and ``results.csv`` to ``--out``.

    python examples/adding_problem.py              # the full run (several minutes)
    python examples/adding_problem.py --quick      # seconds (used by the tests)
"""

import argparse
import csv
import os
import sys
import time

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # small matrices: threads only contend

import numpy as np  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

import minigrad as mg  # noqa: E402
import models  # noqa: E402
from models.analysis import (  # noqa: E402
    ADDING_BASELINE_MSE,
    GradientMonitor,
    LastStepRegressor,
    adding_problem,
    identity_recurrent_,
    set_forget_bias_,
)

MODELS = ("rnn", "lstm", "gru", "irnn")
LABELS = {"rnn": "tanh RNN", "lstm": "LSTM", "gru": "GRU", "irnn": "IRNN"}


def build(kind, hidden):
    """The recurrent layer (fused, float32) of one model family."""
    if kind == "rnn":
        return models.RNN(2, hidden)
    if kind == "lstm":
        rnn = models.LSTM(2, hidden)
        set_forget_bias_(rnn, 1.0)  # Gers et al. 2000; Jozefowicz et al. 2015
        return rnn
    if kind == "gru":
        return models.GRU(2, hidden)
    if kind == "irnn":
        rnn = models.RNN(2, hidden, nonlinearity="relu")
        identity_recurrent_(rnn)  # W_hh = I, biases 0 (Le, Jaitly & Hinton 2015)
        return rnn
    raise ValueError(f"unknown model {kind!r}; choose from {MODELS}")


def _mse_to(y):
    target = mg.tensor(y)
    return lambda out: mg.nn.functional.mse_loss(out, target)


def test_mse(net, x, y, chunk=500):
    errs = []
    with mg.no_grad():
        for i in range(0, x.shape[1], chunk):
            pred = net(mg.tensor(x[:, i:i + chunk])).numpy()
            errs.append((pred - y[i:i + chunk]) ** 2)
    return float(np.mean(np.concatenate(errs)))


def train_one(kind, steps_T, args, position):
    mg.manual_seed(args.seed)
    net = LastStepRegressor(build(kind, args.hidden))
    opt = mg.optim.Adam(net.parameters(), lr=args.lr)
    monitor = GradientMonitor(net, max_norm=args.clip, states_every=0)
    rng = np.random.default_rng(args.seed)
    x_test, y_test = adding_problem(args.test_size, steps_T, np.random.default_rng(10_000))
    curve = [(0, test_mse(net, x_test, y_test))]
    start = time.perf_counter()
    bar = tqdm(range(1, args.steps + 1), desc=f"T={steps_T} {LABELS[kind]:8s}", unit="step",
               position=position, leave=True, dynamic_ncols=True)
    for step in bar:
        x, y = adding_problem(args.batch, steps_T, rng)
        monitor.train_step(mg.tensor(x), _mse_to(y), opt)
        if step % args.eval_every == 0 or step == args.steps:
            curve.append((step, test_mse(net, x_test, y_test)))
            bar.set_postfix(test_mse=f"{curve[-1][1]:.4f}")
    seconds = time.perf_counter() - start
    below = next((s for s, m in curve if m < 0.01), None)
    return {"model": LABELS[kind], "T": steps_T, "final_mse": curve[-1][1],
            "best_mse": min(m for _, m in curve), "steps_to_0.01": below, "seconds": seconds,
            "clip_events": len(monitor.clip_events), "curve": curve}


def plot(results, lengths, path):
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(lengths), figsize=(6.2 * len(lengths), 4.4), squeeze=False,
                             sharey=True)
    for ax, steps_T in zip(axes[0], lengths, strict=True):
        for i, r in enumerate(x for x in results if x["T"] == steps_T):
            s, m = zip(*r["curve"], strict=True)
            ax.plot(s, m, lw=1.6, color=f"C{i}", label=f"{r['model']} ({r['final_mse']:.4f})")
        ax.axhline(ADDING_BASELINE_MSE, color="gray", ls="--", lw=1, label="predict 1: 1/6")
        ax.axhline(0.01, color="gray", ls=":", lw=1, label="0.01")
        ax.set_yscale("log")
        ax.set_title(f"adding problem, T = {steps_T}")
        ax.set_xlabel("training step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    axes[0][0].set_ylabel("test MSE")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_results(results, args, out_dir):
    headers = ["model", "T", "final test MSE", "best test MSE", "first step < 0.01",
               "wall time (s)", "clip events"]
    rows = [[r["model"], r["T"], f"{r['final_mse']:.4f}", f"{r['best_mse']:.4f}",
             r["steps_to_0.01"] if r["steps_to_0.01"] is not None else "never",
             f"{r['seconds']:.0f}", r["clip_events"]] for r in results]
    with open(os.path.join(out_dir, "results.csv"), "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(headers)
        w.writerows(rows)
    lines = [f"Adding problem: {args.steps} steps x batch {args.batch}, hidden {args.hidden}, "
             f"Adam lr {args.lr}, clip {args.clip}, seed {args.seed}; test set "
             f"{args.test_size} sequences.", "",
             "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    with open(os.path.join(out_dir, "results.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="tiny sizes (smoke test)")
    p.add_argument("--lengths", type=int, nargs="+", default=None,
                   help="sequence lengths T (default 50 100)")
    p.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    p.add_argument("--steps", type=int, default=None, help="training steps per model "
                   "(default 2000)")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--eval-every", type=int, default=None)
    p.add_argument("--test-size", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="adding_problem_results", help="output folder")
    args = p.parse_args(argv)
    if args.lengths is None:
        args.lengths = [10] if args.quick else [50, 100]
    if args.steps is None:
        args.steps = 10 if args.quick else 2000
    if args.quick:
        args.hidden = min(args.hidden, 8)
        args.batch = min(args.batch, 16)
    if min(args.lengths) < 2 or args.steps < 1:
        p.error("--lengths must be >= 2 and --steps >= 1")
    if args.eval_every is None:
        args.eval_every = max(1, min(100, args.steps // 5))
    if args.test_size is None:
        args.test_size = 100 if args.quick else 1000
    if args.eval_every < 1 or args.test_size < 1:
        p.error("--eval-every and --test-size must be >= 1")
    os.makedirs(args.out, exist_ok=True)

    results = []
    total = time.perf_counter()
    for steps_T in args.lengths:
        for kind in args.models:
            results.append(train_one(kind, steps_T, args, position=0))
    print()
    for line in write_results(results, args, args.out):
        print(line)
    fig = plot(results, args.lengths, os.path.join(args.out, "learning_curves.png"))
    print(f"\nbaseline (always predict 1): {ADDING_BASELINE_MSE:.4f}; total "
          f"{time.perf_counter() - total:.0f} s")
    print(f"learning curves: {os.path.abspath(fig)}")
    print(f"tables: {os.path.abspath(os.path.join(args.out, 'results.md'))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
