"""Per-op overhead of minigrad's autograd, and a tanh-RNN training step built op by op, side by
side with plain numpy and PyTorch (1 thread; skipped when torch is not installed).

    .venv/bin/python bench/bench_ops.py            # full run (about a minute)
    .venv/bin/python bench/bench_ops.py --quick    # fewer repeats

Benchmarks (all float32):

- chain: a 30-op chain of mixed elementwise ops (mul, add, tanh, sub, sigmoid, relu) on (4, 4)
  tensors, then ``sum`` and ``backward``. numpy runs the same 30 ops forward only (the floor);
  minigrad and PyTorch run forward + backward with gradients recorded. Tiny tensors make the
  time almost pure per-op overhead. "per op" is the chain's time divided by its op count
  (30 or 60, plus the sum), so it includes each library's fixed cost per backward call.
- rnn: one training step of a tanh-RNN (B=32, T=50, I=64, H=128),
  ``h_t = tanh(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)``, loss ``mean((h_T - y)^2)``:
  forward, backward, SGD update. numpy is a hand-written forward + BPTT; minigrad and PyTorch
  build it from ops (the same ops in the same order).

Timing: warm-up, then rounds that run every implementation in turn (so a burst of machine load
hits all of them), keeping the best round of each (best-of-N). Ratios come from the same run.
"""

import os

# One BLAS thread, like torch.set_num_threads(1) below: on a shared 2-core machine a
# multi-threaded OpenBLAS spins against other processes and its times swing 50-fold.
# Set BENCH_BLAS_THREADS to change it (this must happen before numpy is imported).
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, os.environ.get("BENCH_BLAS_THREADS", "1"))

import argparse  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402

try:
    import torch
except ImportError:  # PyTorch is optional
    torch = None

RNG = np.random.default_rng(0)
CHAIN_REPEATS = 5  # blocks of 6 ops: 30 ops
B, T, I, H = 32, 50, 64, 128
LR = 0.01


# ---- timing --------------------------------------------------------------------------------------
def best_of(fns, rounds, number):
    """{name: best seconds per call}: ``rounds`` rounds, each timing ``number`` calls of every
    function in turn, after one warm-up round."""
    best = {name: float("inf") for name in fns}
    for r in range(rounds + 1):
        for name, fn in fns.items():
            t0 = time.perf_counter()
            for _ in range(number):
                fn()
            dt = (time.perf_counter() - t0) / number
            if r:  # round 0 is the warm-up
                best[name] = min(best[name], dt)
    return best


# ---- the op chain --------------------------------------------------------------------------------
def _sigmoid_np(h):
    return 1.0 / (1.0 + np.exp(-h))


def chain_numpy(x, w, blocks):
    h = x
    for _ in range(blocks):
        h = h * w
        h = h + np.float32(0.5)
        h = np.tanh(h)
        h = h - w
        h = _sigmoid_np(h)
        h = np.maximum(h, np.float32(0))
    return h.sum()


def chain_ops(h, w, blocks):
    """The chain on minigrad or torch tensors (the operators and methods are the same)."""
    for _ in range(blocks):
        h = h * w
        h = h + 0.5
        h = h.tanh()
        h = h - w
        h = h.sigmoid()
        h = h.relu()
    return h.sum()


def chain_benchmarks(rounds, number):
    x0 = RNG.standard_normal((4, 4)).astype(np.float32)
    w0 = RNG.standard_normal((4, 4)).astype(np.float32)
    xm, wm = mg.tensor(x0, requires_grad=True), mg.tensor(w0, requires_grad=True)
    fns = {}
    for blocks in (CHAIN_REPEATS, 2 * CHAIN_REPEATS):
        fns[("numpy", blocks)] = lambda b=blocks: chain_numpy(x0, w0, b)
        fns[("minigrad", blocks)] = lambda b=blocks: _step_mg(xm, wm, b)
        fns[("minigrad fwd", blocks)] = lambda b=blocks: chain_ops(xm, wm, b)
    if torch is not None:
        xt = torch.tensor(x0, requires_grad=True)
        wt = torch.tensor(w0, requires_grad=True)
        for blocks in (CHAIN_REPEATS, 2 * CHAIN_REPEATS):
            fns[("torch", blocks)] = lambda b=blocks: _step_torch(xt, wt, b)
            fns[("torch fwd", blocks)] = lambda b=blocks: chain_ops(xt, wt, b)
    return best_of(fns, rounds, number)


def _step_mg(x, w, blocks):
    x.grad = w.grad = None
    chain_ops(x, w, blocks).backward()


def _step_torch(x, w, blocks):
    x.grad = w.grad = None
    chain_ops(x, w, blocks).backward()


# ---- the tanh-RNN --------------------------------------------------------------------------------
def rnn_data():
    bound = 1 / np.sqrt(H)
    params = {
        "w_ih": RNG.uniform(-bound, bound, (H, I)), "w_hh": RNG.uniform(-bound, bound, (H, H)),
        "b_ih": RNG.uniform(-bound, bound, H), "b_hh": RNG.uniform(-bound, bound, H)}
    params = {k: v.astype(np.float32) for k, v in params.items()}
    x = RNG.standard_normal((T, B, I)).astype(np.float32)
    y = RNG.uniform(-0.5, 0.5, (B, H)).astype(np.float32)
    return params, x, y


def rnn_step_numpy(p, x, y):
    """Forward, hand-written BPTT and an SGD update, in place on the arrays in ``p``."""
    w_ih, w_hh, b = p["w_ih"], p["w_hh"], p["b_ih"] + p["b_hh"]
    dt = x.dtype
    hs = [np.zeros((B, H), dt)]
    xw = x.reshape(T * B, I) @ w_ih.T  # (T*B, H), one GEMM for the input projections
    xw = xw.reshape(T, B, H)
    for t in range(T):
        hs.append(np.tanh(xw[t] + b + hs[-1] @ w_hh.T))
    diff = hs[-1] - y
    loss = float(np.mean(diff * diff))
    dh = diff * dt.type(2.0 / diff.size)
    da_all = np.empty((T, B, H), dt)
    for t in range(T - 1, -1, -1):
        h = hs[t + 1]
        da = dh * (1 - h * h)
        da_all[t] = da
        dh = da @ w_hh
    da_flat = da_all.reshape(T * B, H)
    g_w_hh = da_flat.T @ np.stack(hs[:-1]).reshape(T * B, H)
    g_w_ih = da_flat.T @ x.reshape(T * B, I)
    g_b = da_all.sum(axis=(0, 1))
    p["w_ih"] -= LR * g_w_ih
    p["w_hh"] -= LR * g_w_hh
    p["b_ih"] -= LR * g_b
    p["b_hh"] -= LR * g_b
    return loss, {"w_ih": g_w_ih, "w_hh": g_w_hh, "b_ih": g_b, "b_hh": g_b}


def rnn_forward_ops(p, x, y, zeros):
    """The same forward from ops: minigrad or torch tensors. x: (T, B, I), y: (B, H)."""
    w_ih_t, w_hh_t = p["w_ih"].T, p["w_hh"].T
    h = zeros
    for t in range(T):
        h = (x[t] @ w_ih_t + p["b_ih"] + h @ w_hh_t + p["b_hh"]).tanh()
    diff = h - y
    return (diff * diff).mean()


def rnn_step_ops(p, x, y, zeros, no_grad):
    """One SGD training step of the op-by-op RNN; ``no_grad`` is the library's context."""
    for v in p.values():
        v.grad = None
    loss = rnn_forward_ops(p, x, y, zeros)
    loss.backward()
    with no_grad():
        for v in p.values():
            v -= LR * v.grad
    return loss


def check_rnn_gradients():
    """minigrad's gradients of the op-by-op RNN equal the hand-written numpy BPTT."""
    params, x, y = rnn_data()
    p_np = {k: v.astype(np.float64) for k, v in params.items()}
    _, g_np = rnn_step_numpy(dict(p_np), x.astype(np.float64), y.astype(np.float64))
    p_mg = {k: mg.tensor(v, dtype=mg.float64, requires_grad=True) for k, v in params.items()}
    loss = rnn_forward_ops(p_mg, mg.tensor(x, dtype=mg.float64), mg.tensor(y, dtype=mg.float64),
                           mg.zeros(B, H, dtype=mg.float64))
    loss.backward()
    for k, g in g_np.items():
        np.testing.assert_allclose(p_mg[k].grad.numpy(), g, rtol=1e-9, atol=1e-12)


def rnn_benchmarks(rounds, number):
    params, x, y = rnn_data()
    p_np = {k: v.copy() for k, v in params.items()}
    p_mg = {k: mg.tensor(v, requires_grad=True) for k, v in params.items()}
    xm, ym, zm = mg.tensor(x), mg.tensor(y), mg.zeros(B, H)
    fns = {"numpy": lambda: rnn_step_numpy(p_np, x, y),
           "minigrad": lambda: rnn_step_ops(p_mg, xm, ym, zm, mg.no_grad)}
    if torch is not None:
        p_t = {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}
        xt, yt, zt = torch.tensor(x), torch.tensor(y), torch.zeros(B, H)
        fns["torch"] = lambda: rnn_step_ops(p_t, xt, yt, zt, torch.no_grad)
        rnn_torch = torch.nn.RNN(I, H, nonlinearity="tanh")
        fns["torch nn.RNN"] = lambda: _torch_fused_step(rnn_torch, xt, yt)
    return best_of(fns, rounds, number)


def _torch_fused_step(rnn, x, y):
    rnn.zero_grad()
    _, h = rnn(x)
    loss = ((h[0] - y) ** 2).mean()
    loss.backward()
    with torch.no_grad():
        for v in rnn.parameters():
            v -= LR * v.grad


# ---- report --------------------------------------------------------------------------------------
def _fmt(seconds):
    if seconds is None:
        return "n/a"
    return f"{seconds * 1e3:.2f} ms" if seconds >= 1e-3 else f"{seconds * 1e6:.1f} us"


def _ratio(a, b):
    return "n/a" if a is None or b is None else f"{a / b:.2f}x"


def report(chain, rnn):
    n1, n2 = 6 * CHAIN_REPEATS, 12 * CHAIN_REPEATS

    def per_op(name, blocks):
        key = (name, blocks)
        return chain[key] / (6 * blocks + 1) if key in chain else None  # + 1: the sum

    c1, c2 = CHAIN_REPEATS, 2 * CHAIN_REPEATS
    rows = [
        (f"chain: {n1} ops, total", chain[("numpy", c1)], chain[("minigrad", c1)],
         chain.get(("torch", c1))),
        (f"chain: per op ({n1}-op chain)", per_op("numpy", c1), per_op("minigrad", c1),
         per_op("torch", c1)),
        (f"chain: per op ({n2}-op chain)", per_op("numpy", c2), per_op("minigrad", c2),
         per_op("torch", c2)),
        (f"chain: per op, forward only ({n2})", per_op("numpy", c2),
         per_op("minigrad fwd", c2), per_op("torch fwd", c2)),
        ("rnn step (32,50,64,128)", rnn["numpy"], rnn["minigrad"], rnn.get("torch")),
        ("rnn step, torch nn.RNN fused", None, None, rnn.get("torch nn.RNN")),
    ]
    head = (f"{'benchmark':32} {'numpy':>10} {'minigrad':>10} {'torch':>10} "
            f"{'mg/numpy':>9} {'mg/torch':>9}")
    print(head)
    print("-" * len(head))
    for name, t_np, t_mg, t_torch in rows:
        print(f"{name:32} {_fmt(t_np):>10} {_fmt(t_mg):>10} {_fmt(t_torch):>10} "
              f"{_ratio(t_mg, t_np):>9} {_ratio(t_mg, t_torch):>9}")
    print("\nnumpy chain = the 30 ops forward only (no autograd); numpy rnn = hand-written "
          "forward + BPTT.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds (noisier)")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else 9
    if torch is not None:
        torch.set_num_threads(1)
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    print(f"python {platform.python_version()}, numpy {np.__version__}, minigrad "
          f"{mg.__version__}, torch {torch.__version__ if torch else 'not installed'}; "
          f"{os.cpu_count()} cpus, load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}, "
          f"OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE', '(unset)')}\n")
    check_rnn_gradients()
    chain = chain_benchmarks(rounds, number=200)
    rnn = rnn_benchmarks(rounds, number=3)
    report(chain, rnn)
    load = os.getloadavg() if hasattr(os, "getloadavg") else ("?",) * 3
    print(f"load average after the run: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


if __name__ == "__main__":
    main()
