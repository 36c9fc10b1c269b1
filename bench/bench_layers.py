"""The recurrent layers as users call them, against PyTorch, per kernel family.

    .venv/bin/python bench/bench_layers.py                      # host family + AVX2, 1 and 2 thr
    .venv/bin/python bench/bench_layers.py --families avx2 --threads 1 --modes lstm

For each (B, T, I, H): ``models.LSTM / GRU / RNN(I, H, batch_first=True)`` and
``torch.nn.LSTM / GRU / RNN(I, H, batch_first=True)`` with the same weights, float32, x
(B, T, I) made afresh each call with ``requires_grad=True``; forward + ``out.sum()
.backward()``, and forward only under ``no_grad``. glibc's malloc as a user has it (no
thresholds set). The ratio printed is PyTorch time / minigrad time (> 1: minigrad faster).

Each family runs in its own process. With 1 thread minigrad's and PyTorch's rounds alternate
in that process (a burst of load on a shared machine hits both); with 2, each library has a
process of its own (idle OpenMP / OpenBLAS threads of one would spin on the other's cores),
and the 2-thread minigrad time is also compared with the 1-thread one. Best round reported.

``--families``: the kernel families to run (default: the host's first and, when the host has
more, ``avx2``). For a family below what the CPU has (AVX2 on an AVX-512 machine) the
process is set up as that CPU would be, through environment variables this script sets for
the child only (the library never sets them):

- ``MINIGRAD_RNN_KERNELS=avx2``: minigrad's 256-bit packed kernels;
- ``NUMBA_CPU_NAME=znver3`` and ``NUMBA_CPU_FEATURES`` = the host's with every AVX-512
  feature off: numba (and LLVM) emit no AVX-512 instruction anywhere (numba keys its cache
  on both, so these kernels are cached apart);
- ``ATEN_CPU_CAPABILITY=avx2`` and ``ONEDNN_MAX_CPU_ISA=AVX2``: PyTorch's own kernels and
  oneDNN's (its LSTM) at AVX2;
- ``OPENBLAS_CORETYPE=Zen``: OpenBLAS (numpy's, SciPy's) with its Zen (AVX2) kernels.

Each child reports what it got: the zmm registers in the machine code numba makes for the
packed GEMM there, PyTorch's CPU capability, and each OpenBLAS's core name.
"""

import argparse
import ctypes
import glob
import json
import os
import subprocess
import sys
import time

import numpy as np

CONFIGS = [(32, 50, 64, 128), (16, 100, 32, 64), (64, 35, 256, 256), (1, 200, 16, 32),
           (32, 50, 64, 512)]
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def best_times(fns, seconds, round_seconds=0.05):
    """The best per-call time (s) of each function, over rounds of ~``round_seconds`` (50 ms)
    that alternate between the functions."""
    counts = []
    for fn in fns:
        fn()
        fn()
        t0 = time.perf_counter()
        fn()
        counts.append(max(1, int(round_seconds / max(time.perf_counter() - t0, 1e-6))))
    best = [float("inf")] * len(fns)
    rounds, start = 0, time.perf_counter()
    while rounds < 5 or time.perf_counter() - start < seconds * len(fns):
        for k, (fn, n) in enumerate(zip(fns, counts, strict=True)):
            t0 = time.perf_counter()
            for _ in range(n):
                fn()
            best[k] = min(best[k], (time.perf_counter() - t0) / n)
        rounds += 1
    return best


def _weights(mode, I, H, seed=0):
    rng = np.random.default_rng(seed)
    G, k = {"lstm": 4, "gru": 3, "rnn": 1}[mode], 1.0 / np.sqrt(H)
    return {name: rng.uniform(-k, k, shape).astype(np.float32)
            for name, shape in (("weight_ih", (G * H, I)), ("weight_hh", (G * H, H)),
                                ("bias_ih", (G * H,)), ("bias_hh", (G * H,)))}


def minigrad_cases(mode, B, T, I, H):
    import models

    layer = {"lstm": models.LSTM, "gru": models.GRU, "rnn": models.RNN}[mode](
        I, H, batch_first=True)
    layer.load_state_dict({f"{k}_l0": v for k, v in _weights(mode, I, H).items()})
    return layer_cases(layer, B, T, I)


def layer_cases(layer, B, T, I):
    """(fwd_bwd, fwd) of a minigrad layer called as users call it: x (B, T, I) made afresh
    each call with ``requires_grad=True``; forward + ``out.sum().backward()``, and forward only
    under ``no_grad``."""
    import minigrad as mg

    x = np.random.default_rng(1).standard_normal((B, T, I)).astype(np.float32)

    def fwd_bwd():
        out, _ = layer(mg.tensor(x, requires_grad=True))
        out.sum().backward()

    def fwd():
        with mg.no_grad():
            layer(mg.tensor(x, requires_grad=True))

    return fwd_bwd, fwd


def torch_cases(mode, B, T, I, H):
    import torch

    m = {"lstm": torch.nn.LSTM, "gru": torch.nn.GRU, "rnn": torch.nn.RNN}[mode](
        I, H, batch_first=True)
    with torch.no_grad():
        for k, v in _weights(mode, I, H).items():
            getattr(m, k + "_l0").copy_(torch.from_numpy(v))
    x = np.random.default_rng(1).standard_normal((B, T, I)).astype(np.float32)

    def fwd_bwd():
        out, _ = m(torch.from_numpy(x).requires_grad_())
        out.sum().backward()

    def fwd():
        with torch.no_grad():
            m(torch.from_numpy(x).requires_grad_())

    return fwd_bwd, fwd


# ---- what the child process runs on -------------------------------------------------------
def _openblas_cores():
    """Core name of every OpenBLAS loaded (numpy's and SciPy's)."""
    import numpy
    import scipy

    names = {}
    for pkg in (numpy, scipy):
        libs = os.path.join(os.path.dirname(os.path.dirname(pkg.__file__)),
                            f"{pkg.__name__}.libs")
        for path in glob.glob(os.path.join(libs, "*openblas*.so*")):
            lib = ctypes.CDLL(path)
            for sym in ("scipy_openblas_get_corename64_", "scipy_openblas_get_corename",
                        "openblas_get_corename"):
                fn = getattr(lib, sym, None)
                if fn is not None:
                    fn.restype = ctypes.c_char_p
                    names[pkg.__name__] = fn().decode()
                    break
    return names


def _zmm_in_packed_matmul():
    """zmm registers named in the machine code numba makes here for the packed GEMM of the
    active family (compiled afresh: numba shows no code it loaded from its cache)."""
    from numba import njit

    from models.rnn.kernels import family, packed

    fam = family.active()
    if not fam.packed:
        return 0
    fresh = njit(error_model="numpy")(packed.packed_matmul.py_func)
    a = np.ones((8, 8), np.float32)
    w = np.ones((8, 40), np.float32)
    fresh(fam.token, a, packed.pack(w, fam), np.empty((8, fam.padded_cols(40, a.dtype)),
                                                      np.float32))
    return sum(asm.count("zmm") for asm in fresh.inspect_asm().values())


def environment():
    from models.rnn.kernels import family

    info = {"family": family.active().name,
            "vector_bits": family.active().vector_bytes * 8,
            "openblas": _openblas_cores(),
            "zmm_in_packed_gemm": _zmm_in_packed_matmul(),
            "numba_cpu": os.environ.get("NUMBA_CPU_NAME", "host")}
    try:
        import torch
        info["torch_capability"] = torch.backends.cpu.get_cpu_capability()
    except ImportError:
        pass
    return info


def worker(args):
    threads = args.threads[0]
    torch = None
    if args.impl in ("minigrad", "both"):
        import minigrad as mg
        mg.set_num_threads(threads)
    if args.impl in ("torch", "both"):
        import torch
        torch.set_num_threads(threads)
    for mode in args.modes:
        for cfg in args.configs:
            names, fns = [], []
            if args.impl in ("minigrad", "both"):
                names += ["mg_fb", "mg_f"]
                fns += list(minigrad_cases(mode, *cfg))
            if torch is not None:
                names += ["torch_fb", "torch_f"]
                fns += list(torch_cases(mode, *cfg))
            row = {"mode": mode, "cfg": cfg, "threads": threads}
            row.update(zip(names, best_times(fns, args.seconds), strict=True))
            print(json.dumps(row), flush=True)
    if args.impl in ("minigrad", "both"):
        print(json.dumps({"env": environment()}), flush=True)


# ---- driver -------------------------------------------------------------------------------
def _host_features():
    import llvmlite.binding as llvm

    return llvm.get_host_cpu_features()


def family_env(name):
    """The environment of a child that runs family ``name`` as its CPU would (see the module
    docstring); the host's own first family needs nothing."""
    from models.rnn.kernels import family

    env = {family.ENV: name}
    host = family.supported()[0]
    if name == "avx2" and host == "avx512":
        features = _host_features()
        off = ("avx512", "avx10", "evex512", "amx")
        flags = [("-" if k.startswith(off) else "+" if v else "-") + k
                 for k, v in sorted(features.items())]
        env.update(NUMBA_CPU_NAME="znver3", NUMBA_CPU_FEATURES=",".join(flags),
                   ATEN_CPU_CAPABILITY="avx2", ONEDNN_MAX_CPU_ISA="AVX2",
                   OPENBLAS_CORETYPE="Zen")
    return env


def run_child(args, name, threads, impl):
    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(threads), OMP_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    env.update(family_env(name))
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", "--impl", impl,
           "--threads", str(threads), "--modes", *args.modes, "--seconds", str(args.seconds),
           "--configs", *[",".join(map(str, c)) for c in args.configs]]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        sys.stderr.write(proc.stderr)
        raise SystemExit(f"bench child ({name}, {impl}, {threads} threads) failed")
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    envs = [r["env"] for r in rows if "env" in r]
    return [r for r in rows if "env" not in r], (envs[0] if envs else None)


def _cpu_model():
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=False).stdout
    except OSError:
        return "unknown CPU"
    fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
    get = {k.strip(): v.strip() for k, v in fields.items()}.get
    flags = get("Flags", "").split()
    return (f"{get('Model name', '?')} (family {get('CPU family', '?')} model "
            f"{get('Model', '?')}), avx512f: {'avx512f' in flags}, avx2: {'avx2' in flags}")


def _r(ref, ours):
    return f"{ref / ours:5.2f}x" if ref and ours else "    -"


def print_family(name, env, rows, one_thread):
    print(f"\n== family {name}: {env['vector_bits']}-bit vectors; numba CPU "
          f"{env['numba_cpu']}, zmm in the packed GEMM: {env['zmm_in_packed_gemm']}; "
          f"torch {env.get('torch_capability')}; OpenBLAS {env['openblas']}")
    print("ms, best round; ratio = PyTorch / minigrad (> 1: minigrad faster); 2 thr / 1 thr: "
          "minigrad's 1-thread time / its 2-thread time")
    head = (f"{'mode':4s} {'thr':>3s} {'(B, T, I, H)':>19s} | {'mg f+b':>8s} {'torch':>8s} "
            f"{'ratio':>6s} | {'mg fwd':>8s} {'torch':>8s} {'ratio':>6s} | 2thr/1thr f+b, f")
    print(head)
    print("-" * len(head))
    for r in rows:
        cfg = "(" + ", ".join(str(v) for v in r["cfg"]) + ")"
        line = (f"{r['mode']:4s} {r['threads']:3d} {cfg:>19s} | {r['mg_fb'] * 1e3:8.3f} "
                f"{r['torch_fb'] * 1e3:8.3f} {_r(r['torch_fb'], r['mg_fb'])} | "
                f"{r['mg_f'] * 1e3:8.3f} {r['torch_f'] * 1e3:8.3f} {_r(r['torch_f'], r['mg_f'])}")
        if r["threads"] > 1:
            one = one_thread.get((r["mode"], tuple(r["cfg"])))
            if one:
                line += f" | {_r(one['mg_fb'], r['mg_fb'])} {_r(one['mg_f'], r['mg_f'])}"
        print(line)


def _names():
    """The built-in kinds (``models.cell.registry``; the repository is put on the path as
    for a run from a clone)."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    if root not in sys.path:
        sys.path.insert(0, root)
    from models.cell.registry import NAMES

    return NAMES


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--families", nargs="+", default=None)
    p.add_argument("--modes", nargs="+", default=["lstm", "gru", "rnn"],
                   choices=list(_names()))
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--configs", nargs="+", default=None, help="B,T,I,H tuples")
    p.add_argument("--seconds", type=float, default=1.0, help="timing budget per case")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--impl", default="both", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.configs = ([tuple(int(v) for v in c.split(",")) for c in args.configs]
                    if args.configs else CONFIGS)
    if args.worker:
        worker(args)
        return
    sys.path.insert(0, ROOT)
    from models.rnn.kernels import family

    names = args.families
    if names is None:
        names = family.supported()[:1]
        if "avx2" in family.supported() and names != ["avx2"]:
            names.append("avx2")
    print(f"CPU: {_cpu_model()}; the machine may be shared: compare ratios, not times")
    for name in names:
        rows, one_thread, env = [], {}, None
        for threads in args.threads:
            if threads == 1:
                got, env = run_child(args, name, 1, "both")
                one_thread = {(r["mode"], tuple(r["cfg"])): r for r in got}
            else:
                ours, env = run_child(args, name, threads, "minigrad")
                ref, _ = run_child(args, name, threads, "torch")
                got = [{**a, **b} for a, b in zip(ours, ref, strict=True)]
            rows += got
        print_family(name, env, rows, one_thread)


if __name__ == "__main__":
    main()
