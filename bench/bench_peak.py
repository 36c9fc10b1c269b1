"""The float32 multiply-add peak of one core, measured, against which the recurrent layers'
GEMM-bound cases are judged (bench/README.md, "Against the goals").

A jitted loop keeps 16 independent chains of fused multiply-adds on 16-lane (AVX-512) vectors
in registers: enough chains to cover the latency of two FMA units, no memory traffic. What it
reports is the most any float32 kernel can do on this core: 2 flops per lane per FMA.

    .venv/bin/python bench/bench_peak.py
"""

import time

from llvmlite import ir
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

CHAINS = 16
LANES = 16


@intrinsic
def _fma_chains(typingctx, n):
    """Run n rounds of acc_c = acc_c * a + b on CHAINS vectors of LANES float32; return the
    sum of every lane (so that nothing is optimised away)."""
    if not isinstance(n, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        (count,) = args
        f32 = ir.FloatType()
        vec = ir.VectorType(f32, LANES)
        fma = cgutils.get_or_insert_function(
            builder.module, ir.FunctionType(vec, [vec, vec, vec]), f"llvm.fma.v{LANES}f32")
        a = ir.Constant(vec, [ir.Constant(f32, 0.999999)] * LANES)
        b = ir.Constant(vec, [ir.Constant(f32, 1e-6)] * LANES)
        accs = []
        for c in range(CHAINS):
            slot = cgutils.alloca_once(builder, vec)
            builder.store(ir.Constant(vec, [ir.Constant(f32, 1.0 + c / 64)] * LANES), slot)
            accs.append(slot)
        with cgutils.for_range(builder, count):
            for slot in accs:
                builder.store(builder.call(fma, [builder.load(slot), a, b]), slot)
        total = builder.load(accs[0])
        for slot in accs[1:]:
            total = builder.fadd(total, builder.load(slot))
        out = builder.extract_element(total, ir.Constant(ir.IntType(32), 0))
        for lane in range(1, LANES):
            out = builder.fadd(out, builder.extract_element(total,
                                                            ir.Constant(ir.IntType(32), lane)))
        return out

    return types.float32(n), codegen


@njit(nogil=True)
def fma_rounds(n):
    return _fma_chains(n)


def peak_gflops(seconds=1.0):
    """The best of ~20 timed runs: float32 GFLOP/s of one core."""
    n = 2_000_000
    fma_rounds(10)
    best = float("inf")
    stop = time.perf_counter() + seconds
    while time.perf_counter() < stop:
        t0 = time.perf_counter()
        fma_rounds(n)
        best = min(best, time.perf_counter() - t0)
    return n * CHAINS * LANES * 2 / best / 1e9


if __name__ == "__main__":
    print(f"float32 FMA peak, one core: {peak_gflops():.0f} GFLOP/s "
          f"({CHAINS} chains of {LANES}-lane fused multiply-adds)")
