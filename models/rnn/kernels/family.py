"""Which family of per-step products the recurrent kernels use, chosen from the CPU.

A family is a vector width and a register blocking of the packed kernels (``packed``):

============  ==============  ==========================  =================================
family        vector          micro-kernel                CPUs
============  ==============  ==========================  =================================
``avx512``    512 bits        8 rows x 3 vectors (24 of   x86-64 with AVX-512F (32 vector
                              32 registers)               registers)
``avx2``      256 bits        4 rows x 3 vectors (12 of   x86-64 with AVX2 and FMA (16
                              16 registers)               registers: 12 accumulators, 3
                                                          panel vectors, 1 broadcast)
``neon``      128 bits        8 rows x 3 vectors (24 of   aarch64 (32 registers; designed
                              32 registers)               for, not measured here)
``blas``      --              none: BLAS per step, a      any CPU
                              vector loop for one row
============  ==============  ==========================  =================================

The default is the first packed family the CPU numba compiles for supports (numba's own
``NUMBA_CPU_FEATURES`` when set, else the host's), else ``blas``. To choose another:

- the environment variable ``MINIGRAD_RNN_KERNELS`` (``avx512``, ``avx2``, ``neon``, ``blas``
  or ``auto``), read once at import (the library reads it, never sets it);
- ``use(name)`` at run time (``models.rnn.kernels.family.use("avx2")``); ``using(name)`` does
  the same for a ``with`` block. A family the CPU does not support raises ``ValueError``.

Inside the kernels a family is told apart by the type of a token argument (an empty int8
array whose number of dimensions is the family's ``tag``): numba compiles each kernel once
per family it is called with, and the packed kernels read their width and blocking from the
token's type at compile time. numba's disk cache keys that code on the token's type, not on
the table below: after changing a family's geometry, clear the caches (``find minigrad
models -name '*.nb[ic]' -delete``).

AVX2's blocking was measured on the AVX-512 machine compiling for Zen 3 (no AVX-512 code),
packed_matmul float32 at six layer shapes: 4 x 3 ran 96-115 GFLOP/s, 6 x 2 86-111 (4 x 3
faster at every shape; it also divides B = 16, 32, 64 into whole blocks).
"""

import contextlib
import os
import platform
from dataclasses import dataclass

import llvmlite.binding as llvm
import numpy as np

ENV = "MINIGRAD_RNN_KERNELS"


@dataclass(frozen=True)
class Family:
    """name; vector_bytes (0: no packed kernels); rows x panel_vectors: the micro-kernel's
    block of accumulators; tag: the token's number of dimensions; needs: the CPU features
    (LLVM's names) it requires, any of ``machines``."""

    name: str
    vector_bytes: int
    rows: int
    panel_vectors: int
    tag: int
    needs: tuple
    machines: tuple

    @property
    def packed(self):
        """Whether the per-step products run through the packed kernels."""
        return self.vector_bytes > 0

    def vector_width(self, dtype):
        """V: elements of ``dtype`` per vector (packed families only)."""
        return self.vector_bytes // np.dtype(dtype).itemsize

    def padded_cols(self, N, dtype):
        """N rounded up to a multiple of V: the columns a packed product writes (N itself
        for ``blas``)."""
        if not self.packed:
            return N
        V = self.vector_width(dtype)
        return -(-N // V) * V

    @property
    def token(self):
        """The kernels' argument that selects this family's code (see the module
        docstring); ``blas`` passes the token of a packed family the CPU has (its packed
        code is then compiled but never run)."""
        tag = self.tag if self.packed else _compiled_for().tag
        return _TOKENS[tag]


FAMILIES = {
    "avx512": Family("avx512", 64, 8, 3, 1, ("avx512f",), ("x86_64", "amd64")),
    "avx2": Family("avx2", 32, 4, 3, 2, ("avx2", "fma"), ("x86_64", "amd64")),
    "neon": Family("neon", 16, 8, 3, 3, ("neon",), ("aarch64", "arm64")),
    "blas": Family("blas", 0, 0, 0, 0, (), ()),
}
BY_TAG = {f.tag: f for f in FAMILIES.values() if f.packed}
_TOKENS = {tag: np.empty((0,) * tag, np.int8) for tag in BY_TAG}


def _target_features():
    """The CPU features numba compiles for: ``NUMBA_CPU_FEATURES`` ("+avx2,-avx512f,...")
    when set, else the host's."""
    from numba.core import config

    if config.CPU_FEATURES is not None:
        return {f[1:] for f in config.CPU_FEATURES.split(",") if f.startswith("+")}
    return {name for name, on in llvm.get_host_cpu_features().items() if on}


def supported():
    """The families this CPU can run, fastest first (``blas`` always last)."""
    features = _target_features()
    machine = platform.machine().lower()
    return [f.name for f in FAMILIES.values()
            if not f.packed or (machine in f.machines and all(n in features for n in f.needs))]


def _compiled_for():
    packed = [FAMILIES[n] for n in supported() if FAMILIES[n].packed]
    return packed[0] if packed else FAMILIES["neon"]


def _resolve(name):
    name = (name or "auto").strip().lower()
    if name == "auto":
        return FAMILIES[supported()[0]]
    if name not in FAMILIES:
        raise ValueError(f"kernel family: expected one of {sorted(FAMILIES)} or 'auto', "
                         f"got {name!r}")
    if name not in supported():
        raise ValueError(f"kernel family {name!r}: this CPU supports {supported()}")
    return FAMILIES[name]


def _from_environment():
    try:
        return _resolve(os.environ.get(ENV))
    except ValueError as err:
        raise ValueError(f"{ENV}={os.environ.get(ENV)!r}: {err}") from None


_active = _from_environment()


def active():
    """The family the layers use now."""
    return _active


def use(name):
    """Make ``name`` ('avx512', 'avx2', 'neon', 'blas' or 'auto') the family the layers use
    from now on, in every thread. Returns the family used before."""
    global _active
    before, _active = _active, _resolve(name)
    return before


@contextlib.contextmanager
def using(name):
    """``use(name)`` for the duration of a ``with`` block."""
    before = use(name)
    try:
        yield _active
    finally:
        use(before.name)
