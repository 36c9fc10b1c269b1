"""Benchmark the fused recurrent layers against PyTorch (or plain numpy when torch is missing).

    .venv/bin/python bench/bench_rnn.py                 # LSTM, GRU, RNN(tanh); 1 and 2 threads
    .venv/bin/python bench/bench_rnn.py --modes lstm --threads 1 --configs 32,50,64,128

float32, sequence-first x (T, B, I), x without gradient (a first layer), all weights and biases
with gradients. For each (B, T, I, H) it times forward + backward and forward only (no
gradient recording) of one layer, and prints the ratio PyTorch time / minigrad time (> 1:
minigrad is faster). minigrad is timed through ``models.rnn.fused.fused_recurrence`` (one
primitive; backward seeded with d(sum of h_t)/d states) and, when the layer classes exist,
through ``models.LSTM`` etc. (``layer``: includes taking h out of the states and the sum).

Thread counts are fixed per run in a subprocess with OPENBLAS_NUM_THREADS / OMP_NUM_THREADS /
MKL_NUM_THREADS set (the library itself never sets them), torch.set_num_threads and
minigrad.set_num_threads (with 2, minigrad's fused layers run the input projections and the
weight gradients on a second thread beside the recurrence).

Timing: each case is warmed up, then run in rounds of n calls (~50 ms), the rounds of the
cases of one configuration interleaved (with 1 thread, minigrad's and PyTorch's rounds
alternate in one process; with more, each library runs in its own process, one after the
other, since idle OpenMP / OpenBLAS worker threads of one would spin on the other's cores),
for ``--seconds`` per case (at least 5 rounds each); the best round is reported (the least
disturbed one on a shared machine).
``--cpu`` reports per-thread CPU time instead of wall time (1 thread only; robust to other
processes on the machine, blind to what extra threads do).

Memory: both libraries allocate their outputs and saved activations afresh at every call
(~14 MB for an LSTM at (64, 35, 256, 256)). Whether glibc serves them from its heap (reused
pages) or from fresh mmaps (a page fault per 4 KB page) depends on its dynamic mmap
threshold, i.e. on what the process allocated before: on this VM a fault costs ~7 us, and
the same LSTM call measured 31 ms in one process history and 54 ms in another (2,941 faults
per call). The worker processes therefore run with MALLOC_MMAP_THRESHOLD_=32 MB and
MALLOC_TRIM_THRESHOLD_=256 MB (both libraries alike), which keeps such arrays on the heap;
``--default-malloc`` leaves glibc's defaults. Neither library sets these itself.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

CONFIGS = [(32, 50, 64, 128), (16, 100, 32, 64), (64, 35, 256, 256), (1, 200, 16, 32),
           (32, 50, 64, 512)]
GATES = {"lstm": 4, "gru": 3, "rnn": 1}


def _timer(cpu):
    return time.thread_time if cpu else time.perf_counter


def best_times(fns, seconds, cpu=False):
    """The best per-call time (s) of each function, over rounds of calls that alternate
    between the functions (so that a burst of load on a shared machine hits all of them)."""
    clock = _timer(cpu)
    counts = []
    for fn in fns:
        fn()
        fn()
        t0 = clock()
        fn()
        counts.append(max(1, int(0.05 / max(clock() - t0, 1e-6))))  # rounds of ~50 ms
    best = [float("inf")] * len(fns)
    rounds, start = 0, time.perf_counter()
    while rounds < 5 or time.perf_counter() - start < seconds * len(fns):
        for k, (fn, n) in enumerate(zip(fns, counts, strict=True)):
            t0 = clock()
            for _ in range(n):
                fn()
            best[k] = min(best[k], (clock() - t0) / n)
        rounds += 1
    return best


# ---- the three implementations ----------------------------------------------------------------
def _weights(mode, B, T, I, H, seed=0):
    rng = np.random.default_rng(seed)
    G, k = GATES[mode], 1.0 / np.sqrt(H)
    f32 = np.float32
    return {"x": rng.standard_normal((T, B, I)).astype(f32),
            "h0": np.zeros((B, H), f32), "c0": np.zeros((B, H), f32),
            "weight_ih": rng.uniform(-k, k, (G * H, I)).astype(f32),
            "weight_hh": rng.uniform(-k, k, (G * H, H)).astype(f32),
            "bias_ih": rng.uniform(-k, k, G * H).astype(f32),
            "bias_hh": rng.uniform(-k, k, G * H).astype(f32)}


def minigrad_cases(mode, B, T, I, H):
    import minigrad as mg
    from models.rnn.fused import fused_recurrence

    w = _weights(mode, B, T, I, H)
    x = mg.tensor(w["x"], dtype=mg.float32)
    h0 = mg.tensor(w["h0"], dtype=mg.float32)
    c0 = mg.tensor(w["c0"], dtype=mg.float32) if mode == "lstm" else None
    params = [mg.tensor(w[k], dtype=mg.float32, requires_grad=True)
              for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")]
    seed = np.zeros((T, 2 if mode == "lstm" else 1, B, H), np.float32)
    seed[:, 0] = 1.0  # d(sum of all h_t) / d states
    seed = mg.tensor(seed, dtype=mg.float32)

    def fwd_bwd():
        states = fused_recurrence(mode, x, h0, c0, *params)
        mg.backward(states, seed)

    def fwd():
        with mg.no_grad():
            fused_recurrence(mode, x, h0, c0, *params)

    cases = {"fused": (fwd_bwd, fwd)}
    layer = _minigrad_layer(mode, I, H, w)
    if layer is not None:
        def layer_fwd_bwd():
            out, _ = layer(x)
            out.sum().backward()

        def layer_fwd():
            with mg.no_grad():
                layer(x)

        cases["layer"] = (layer_fwd_bwd, layer_fwd)
    return cases


def _minigrad_layer(mode, I, H, w):
    try:
        import models
        cls = {"lstm": models.LSTM, "gru": models.GRU, "rnn": models.RNN}[mode]
        layer = cls(I, H, fused=True)
        layer.load_state_dict({f"{k}_l0": w[k] for k in
                               ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
    except Exception as err:  # the layer classes are optional here
        print(f"# models.{mode.upper()} unavailable ({type(err).__name__}: {err})",
              file=sys.stderr)
        return None
    return layer


def torch_cases(mode, B, T, I, H):
    import torch

    w = _weights(mode, B, T, I, H)
    cls = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[mode]
    m = cls(I, H)
    with torch.no_grad():
        for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(m, k + "_l0").copy_(torch.from_numpy(w[k]))
    x = torch.from_numpy(w["x"])

    def fwd_bwd():
        out, _ = m(x)
        out.sum().backward()

    def fwd():
        with torch.no_grad():
            m(x)

    return fwd_bwd, fwd


def numpy_forward_case(mode, B, T, I, H):
    """A plain numpy step loop (forward only): the baseline when torch is missing."""
    w = _weights(mode, B, T, I, H)
    x, w_ih, w_hh = w["x"], w["weight_ih"], w["weight_hh"]
    b = w["bias_ih"] + w["bias_hh"]

    def sig(v):
        return 1 / (1 + np.exp(-v))

    def fwd():
        h = w["h0"]
        c = w["c0"]
        xp = x @ w_ih.T
        for t in range(T):
            pre = xp[t] + h @ w_hh.T + b
            if mode == "rnn":
                h = np.tanh(pre)
            elif mode == "lstm":
                i, f, g, o = np.split(pre, 4, axis=1)
                c = sig(f) * c + sig(i) * np.tanh(g)
                h = sig(o) * np.tanh(c)
            else:
                r, z = sig(pre[:, :H]), sig(pre[:, H:2 * H])
                n = np.tanh(xp[t, :, 2 * H:] + w["bias_ih"][2 * H:] +
                            r * (h @ w_hh[2 * H:].T + w["bias_hh"][2 * H:]))
                h = (1 - z) * n + z * h

    return fwd


# ---- worker: one thread count, one library -------------------------------------------------
def worker(args):
    threads = args.threads[0]
    if args.impl in ("minigrad", "both"):
        import minigrad as mg
        mg.set_num_threads(threads)
    torch = None
    if args.impl in ("reference", "both"):
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            torch = None
    for mode in args.modes:
        for cfg in args.configs:
            row = {"mode": mode, "cfg": cfg, "threads": threads}
            names, fns = [], []
            if args.impl in ("minigrad", "both"):
                for name, (fb, f) in minigrad_cases(mode, *cfg).items():
                    names += [f"{name}_fb", f"{name}_f"]
                    fns += [fb, f]
            if args.impl in ("reference", "both"):  # PyTorch when installed, else numpy
                if torch is not None:
                    names += ["torch_fb", "torch_f"]
                    fns += list(torch_cases(mode, *cfg))
                else:
                    names.append("numpy_f")
                    fns.append(numpy_forward_case(mode, *cfg))
            row.update(zip(names, best_times(fns, args.seconds, args.cpu), strict=True))
            print(json.dumps(row), flush=True)


# ---- driver -------------------------------------------------------------------------------------
def run_subprocess(args, threads, impl):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    if not args.default_malloc:  # see the module docstring: steady-state heap reuse
        env.setdefault("MALLOC_MMAP_THRESHOLD_", str(32 * 2**20))
        env.setdefault("MALLOC_TRIM_THRESHOLD_", str(256 * 2**20))
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--impl", impl,
           "--threads", str(threads), "--modes", *args.modes, "--seconds", str(args.seconds),
           "--configs", *[",".join(map(str, c)) for c in args.configs]]
    if args.cpu:
        cmd.append("--cpu")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench worker ({impl}, {threads} threads) failed")
    return [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]


def _ms(v):
    return f"{v * 1e3:8.2f}" if v is not None else "       -"


def _ratio(ref, ours):
    return f"{ref / ours:6.2f}x" if ref is not None and ours else "      -"


def print_table(rows):
    ref = "torch" if any("torch_fb" in r for r in rows) else "numpy"
    has_layer = any("layer_fb" in r for r in rows)
    print(f"times in ms (best round); ratio = {ref} / minigrad fused (> 1: minigrad faster)")
    head = (f"{'mode':4s} {'thr':>3s} {'(B, T, I, H)':>19s} | {'fwd+bwd':>8s} {ref:>8s} "
            f"{'ratio':>7s} | {'fwd':>8s} {ref:>8s} {'ratio':>7s}")
    if has_layer:
        head += f" | {'layer f+b':>9s} {'ratio':>7s}"
    print(head)
    print("-" * len(head))
    for r in rows:
        cfg = "(" + ", ".join(str(v) for v in r["cfg"]) + ")"
        rf, rff = r.get(f"{ref}_fb"), r.get(f"{ref}_f")
        line = (f"{r['mode']:4s} {r['threads']:3d} {cfg:>19s} | {_ms(r['fused_fb'])} {_ms(rf)} "
                f"{_ratio(rf, r['fused_fb'])} | {_ms(r['fused_f'])} {_ms(rff)} "
                f"{_ratio(rff, r['fused_f'])}")
        if has_layer:
            lf = r.get("layer_fb")
            line += f" | {_ms(lf):>9s} {_ratio(rf, lf)}"
        print(line)


def _kind_names():
    """The built-in kinds, as ``bench_layers`` reads them (``models.cell.registry``)."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from bench_layers import _names

    return _names()


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--modes", nargs="+", default=["lstm", "gru", "rnn"],
                   choices=list(_kind_names()))
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--configs", nargs="+", default=None,
                   help="B,T,I,H tuples, e.g. 32,50,64,128 (default: the five standard ones)")
    p.add_argument("--seconds", type=float, default=1.0, help="timing budget per case")
    p.add_argument("--cpu", action="store_true", help="per-thread CPU time (1 thread only)")
    p.add_argument("--default-malloc", action="store_true",
                   help="leave glibc's malloc thresholds at their defaults (see above)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--impl", default="both", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.configs = ([tuple(int(v) for v in c.split(",")) for c in args.configs]
                    if args.configs else CONFIGS)
    if args.worker:
        worker(args)
        return
    rows = []
    for threads in args.threads:
        if threads == 1:  # one process, the libraries' rounds interleaved
            rows += run_subprocess(args, threads, "both")
            continue
        # One process per library: idle OpenMP / OpenBLAS worker threads of one would spin on
        # the cores the other needs.
        ours = run_subprocess(args, threads, "minigrad")
        ref = run_subprocess(args, threads, "reference")
        for a, b in zip(ours, ref, strict=True):
            rows.append({**a, **b})
    print_table(rows)


if __name__ == "__main__":
    main()
