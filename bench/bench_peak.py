"""The float32 multiply-add peak of one core, measured, for the vector width of a kernel
family, against which the recurrent layers' GEMM-bound cases are judged (bench/README.md,
"Against the goals").

A jitted loop keeps independent chains of fused multiply-adds on vectors of the family's
width in registers (16 chains of 16-lane vectors for AVX-512's 32 registers, 12 of 8 lanes
for AVX2's 16): enough chains to cover the latency of two FMA units, no memory traffic. What
it reports is the most any float32 kernel of that width can do on this core: 2 flops per lane
per FMA.

    .venv/bin/python bench/bench_peak.py                   # the host's family
    .venv/bin/python bench/bench_peak.py --family avx2     # 256-bit vectors

``--family avx2`` on an AVX-512 machine compiles in a child process for a Zen 3 CPU without
AVX-512 (the environment of ``bench_layers.family_env``), as the layers' AVX2 runs do.
"""

import argparse
import os
import subprocess
import sys
import time

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _chains_kernel(chains, lanes):
    @intrinsic
    def fma_chains(typingctx, n):
        """Run n rounds of acc_c = acc_c * a + b on ``chains`` vectors of ``lanes`` float32;
        return the sum of every lane (so that nothing is optimised away)."""
        if not isinstance(n, types.Integer):
            return None

        def codegen(context, builder, signature, args):
            (count,) = args
            f32 = ir.FloatType()
            vec = ir.VectorType(f32, lanes)
            fma = cgutils.get_or_insert_function(
                builder.module, ir.FunctionType(vec, [vec, vec, vec]), f"llvm.fma.v{lanes}f32")
            a = ir.Constant(vec, [ir.Constant(f32, 0.999999)] * lanes)
            b = ir.Constant(vec, [ir.Constant(f32, 1e-6)] * lanes)
            accs = []
            for c in range(chains):
                slot = cgutils.alloca_once(builder, vec)
                builder.store(ir.Constant(vec, [ir.Constant(f32, 1.0 + c / 64)] * lanes), slot)
                accs.append(slot)
            with cgutils.for_range(builder, count):
                for slot in accs:
                    builder.store(builder.call(fma, [builder.load(slot), a, b]), slot)
            total = builder.load(accs[0])
            for slot in accs[1:]:
                total = builder.fadd(total, builder.load(slot))
            out = builder.extract_element(total, ir.Constant(ir.IntType(32), 0))
            for lane in range(1, lanes):
                out = builder.fadd(out, builder.extract_element(
                    total, ir.Constant(ir.IntType(32), lane)))
            return out

        return types.float32(n), codegen

    @njit(nogil=True)
    def fma_rounds(n):
        return fma_chains(n)

    return fma_rounds


def peak_gflops(vector_bits=512, seconds=1.0):
    """The best of the timed runs within ``seconds``: float32 GFLOP/s of one core with
    vectors of ``vector_bits``."""
    lanes = vector_bits // 32
    chains = 16 if vector_bits == 512 else 12
    fma_rounds = _chains_kernel(chains, lanes)
    n = 2_000_000
    fma_rounds(10)
    best = float("inf")
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        t0 = time.perf_counter()
        fma_rounds(n)
        best = min(best, time.perf_counter() - t0)
    return n * chains * lanes * 2 / best / 1e9, chains, lanes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--family", default=None, help="avx512, avx2, neon (default: the host's)")
    p.add_argument("--here", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    sys.path.insert(0, ROOT)
    from models.rnn.kernels import family

    name = args.family or family.supported()[0]
    fam = family.FAMILIES[name]
    if not fam.packed:
        raise SystemExit("bench_peak: the blas family has no vector width of its own")
    if not args.here and name != family.supported()[0]:
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        from bench_layers import family_env

        env = dict(os.environ, **family_env(name))
        cmd = [sys.executable, os.path.abspath(__file__), "--family", name, "--here"]
        raise SystemExit(subprocess.run(cmd, env=env, check=False).returncode)
    gflops, chains, lanes = peak_gflops(fam.vector_bytes * 8)
    print(f"float32 FMA peak, one core, {name} ({fam.vector_bytes * 8}-bit vectors): "
          f"{gflops:.0f} GFLOP/s ({chains} chains of {lanes}-lane fused multiply-adds; numba "
          f"CPU {os.environ.get('NUMBA_CPU_NAME', 'host')})")


if __name__ == "__main__":
    main()
