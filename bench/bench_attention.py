"""Forward+backward timings of attention: minigrad vs PyTorch (when installed), float32.

    .venv/bin/python bench/bench_attention.py [--threads 1] [--repeat 15] [--quick]

Sizes (B, heads, T, d) = (32, 8, 64, 64) and (8, 4, 256, 32) (self-attention, T = L = S);
multi-head attention uses embed_dim = heads * d. Rows:

* ``sdpa``          scaled_dot_product_attention, no mask
* ``sdpa causal``   is_causal=True
* ``sdpa kpm``      a (B, 1, 1, T) bool key-padding mask (a quarter of the keys masked)
* ``sdpa unfused``  the same as ``sdpa causal`` built from generic ops (mg.where + mg.softmax),
                    to show what the fused masked-softmax kernel buys
* ``mha``           MultiheadAttention(batch_first=True), need_weights=False
* ``mha weights``   need_weights=True (averaged weights)

Both libraries run with the same thread count (BLAS threads are set before numpy loads). Each
case runs minigrad and PyTorch alternately, ``--repeat`` times each after two warm-up runs, and
reports the median CPU time of the calling thread (with one thread, all the work; time lost to
other processes on a shared machine is left out). Timings stay noisy: compare the ratio column.
"""

import argparse
import os
import sys
import time


def _parse():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--threads", type=int, default=1, help="BLAS / PyTorch threads (default 1)")
    p.add_argument("--repeat", type=int, default=15, help="timed runs per case (median)")
    p.add_argument("--quick", action="store_true", help="tiny sizes, to check the script runs")
    return p.parse_args()


ARGS = _parse()
for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = str(ARGS.threads)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import minigrad as mg  # noqa: E402
from models.attention import MultiheadAttention, scaled_dot_product_attention  # noqa: E402

try:
    import torch
    torch.set_num_threads(ARGS.threads)
except ImportError:  # PyTorch is optional
    torch = None

SIZES = [(2, 2, 8, 4)] if ARGS.quick else [(32, 8, 64, 64), (8, 4, 256, 32)]


def timeit_pair(ours, theirs, repeat):
    """Median CPU times (ms) of two functions, measured alternately so that a change in the
    machine's load hits both alike. ``time.thread_time`` counts only this thread's CPU time:
    with one BLAS / PyTorch thread all work runs on it, and time spent descheduled by other
    processes on the shared machine is left out."""
    fns = [ours] if theirs is None else [ours, theirs]
    for fn in fns:
        fn()
        fn()
    times = [[] for _ in fns]
    for _ in range(repeat):
        for fn, bucket in zip(fns, times, strict=True):
            start = time.thread_time()
            fn()
            bucket.append(time.thread_time() - start)
    medians = [1e3 * float(np.median(b)) for b in times]
    return medians[0], (medians[1] if theirs is not None else float("nan"))


def _unfused_sdpa(q, k, v, keep):
    scores = mg.matmul(q, k.transpose(-1, -2)) * (1.0 / np.sqrt(q.shape[-1]))
    scores = mg.where(keep, scores, float("-inf"))
    return mg.matmul(mg.softmax(scores, dim=-1), v)


def minigrad_cases(B, H, T, d, rng):
    arrays = [rng.standard_normal((B, H, T, d)).astype(np.float32) for _ in range(3)]
    q, k, v = (mg.tensor(a, requires_grad=True) for a in arrays)
    g = mg.tensor(rng.standard_normal((B, H, T, d)).astype(np.float32))
    kpm = np.ones((B, 1, 1, T), dtype=bool)
    kpm[..., 3 * T // 4:] = False
    causal = mg.tensor(np.tri(T, T, dtype=bool))

    def run(fn):
        def step():
            for t in (q, k, v):
                t.grad = None
            fn().backward(g)
        return step

    E = H * d
    mha = MultiheadAttention(E, H, batch_first=True)
    x = mg.tensor(rng.standard_normal((B, T, E)).astype(np.float32), requires_grad=True)
    gx = mg.tensor(rng.standard_normal((B, T, E)).astype(np.float32))

    def run_mha(need_weights):
        def step():
            mha.zero_grad()
            x.grad = None
            out, _ = mha(x, x, x, need_weights=need_weights)
            out.backward(gx)
        return step

    return {
        "sdpa": run(lambda: scaled_dot_product_attention(q, k, v)),
        "sdpa causal": run(lambda: scaled_dot_product_attention(q, k, v, is_causal=True)),
        "sdpa kpm": run(lambda: scaled_dot_product_attention(q, k, v, attn_mask=kpm)),
        "sdpa unfused": run(lambda: _unfused_sdpa(q, k, v, causal)),
        "mha": run_mha(False),
        "mha weights": run_mha(True),
    }


def torch_cases(B, H, T, d, rng):
    F = torch.nn.functional
    arrays = [rng.standard_normal((B, H, T, d)).astype(np.float32) for _ in range(3)]
    q, k, v = (torch.tensor(a, requires_grad=True) for a in arrays)
    g = torch.tensor(rng.standard_normal((B, H, T, d)).astype(np.float32))
    kpm = torch.ones(B, 1, 1, T, dtype=torch.bool)
    kpm[..., 3 * T // 4:] = False
    causal = torch.ones(T, T, dtype=torch.bool).tril()

    def run(fn):
        def step():
            for t in (q, k, v):
                t.grad = None
            fn().backward(g)
        return step

    def unfused():
        scores = q @ k.transpose(-1, -2) / float(np.sqrt(d))
        scores = scores.masked_fill(~causal, float("-inf"))
        return torch.softmax(scores, -1) @ v

    E = H * d
    mha = torch.nn.MultiheadAttention(E, H, batch_first=True)
    x = torch.tensor(rng.standard_normal((B, T, E)).astype(np.float32), requires_grad=True)
    gx = torch.tensor(rng.standard_normal((B, T, E)).astype(np.float32))

    def run_mha(need_weights):
        def step():
            mha.zero_grad()
            x.grad = None
            out, _ = mha(x, x, x, need_weights=need_weights)
            out.backward(gx)
        return step

    return {
        "sdpa": run(lambda: F.scaled_dot_product_attention(q, k, v)),
        "sdpa causal": run(lambda: F.scaled_dot_product_attention(q, k, v, is_causal=True)),
        "sdpa kpm": run(lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=kpm)),
        "sdpa unfused": run(unfused),
        "mha": run_mha(False),
        "mha weights": run_mha(True),
    }


def main():
    rng = np.random.default_rng(0)
    print(f"attention forward+backward, float32, {ARGS.threads} thread(s), median CPU time of "
          f"{ARGS.repeat} alternating runs (ms)")
    header = f"{'case':<14} {'(B, heads, T, d)':<18} {'minigrad':>9} {'PyTorch':>9} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for B, H, T, d in SIZES:
        ours = minigrad_cases(B, H, T, d, rng)
        theirs = torch_cases(B, H, T, d, rng) if torch is not None else {}
        for name, fn in ours.items():
            t_ours, t_theirs = timeit_pair(fn, theirs.get(name), ARGS.repeat)
            print(f"{name:<14} {str((B, H, T, d)):<18} {t_ours:9.2f} {t_theirs:9.2f} "
                  f"{t_ours / t_theirs:6.2f}", flush=True)
    if torch is None:
        print("(PyTorch is not installed: no comparison column)")


if __name__ == "__main__":
    main()
