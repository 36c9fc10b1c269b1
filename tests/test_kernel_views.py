"""``models.rnn.kernels.views.borrow``: the same array without an owner, inside a kernel."""

import numpy as np
import pytest
from numba import njit
from numba.core.errors import TypingError

from models.rnn.kernels.views import borrow


@njit
def _describe(a):
    """(data address, shape, strides) of a and of borrow(a), seen from inside a kernel."""
    b = borrow(a)
    return a.ctypes.data, a.shape, a.strides, b.ctypes.data, b.shape, b.strides


@njit
def _write_through_views(a):
    """a[t, 1, b, j] = t * 1000 + b * 10 + j through views of a borrowed a (4-D)."""
    v = borrow(a)
    for t in range(v.shape[0]):
        step = v[t, 1]
        for b in range(step.shape[0]):
            row = step[b]
            for j in range(row.shape[0]):
                row[j] = t * 1000 + b * 10 + j


@njit
def _row_sums_of_slices(a, lo, hi):
    """The sums of a[r, lo:hi] for every row r, through views of borrow(a)."""
    v = borrow(a)
    out = np.zeros(v.shape[0], v.dtype)
    for r in range(v.shape[0]):
        part = v[r][lo:hi]
        for j in range(part.shape[0]):
            out[r] += part[j]
    return out


@pytest.mark.parametrize("make", [
    lambda: np.arange(24, dtype=np.float32).reshape(2, 3, 4),
    lambda: np.arange(24, dtype=np.float64).reshape(4, 6)[:, 1:5],  # not contiguous
    lambda: np.arange(24, dtype=np.int64).reshape(6, 4).T,  # Fortran order
    lambda: np.zeros((0, 5), np.float32),
])
def test_borrowed_array_is_the_same_array(make):
    a = make()
    addr, shape, strides, b_addr, b_shape, b_strides = _describe(a)
    assert (b_addr, b_shape, b_strides) == (addr, shape, strides)
    assert (shape, strides) == (a.shape, a.strides)


def test_writes_through_views_of_a_borrowed_array_land_in_the_original():
    a = np.zeros((3, 2, 2, 4))
    _write_through_views(a)
    t, b, j = np.meshgrid(np.arange(3), np.arange(2), np.arange(4), indexing="ij")
    np.testing.assert_array_equal(a[:, 1], t * 1000 + b * 10 + j)
    np.testing.assert_array_equal(a[:, 0], 0)


def test_views_of_a_borrowed_array_read_the_right_elements():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 9))[:, ::2]  # strided rows
    np.testing.assert_allclose(_row_sums_of_slices(a, 1, 4), a[:, 1:4].sum(axis=1), rtol=1e-14)


def test_the_original_outlives_many_borrowed_views():
    """Views of a borrowed array take no references, so none may be dropped either: after a
    million views, the array numba allocated is intact and still owned once."""

    @njit
    def churn(n):
        a = np.ones((4, 8))
        v = borrow(a)
        total = 0.0
        for i in range(n):
            total += v[i % 4][1:7].sum()
        return a, total

    a, total = churn(1_000_000)
    assert total == 6.0 * 1_000_000
    np.testing.assert_array_equal(a, 1.0)
    a[0, 0] = 5.0  # the memory is still there and writable
    assert a.sum() == 36.0


def test_only_arrays_can_be_borrowed():
    @njit
    def scalar(x):
        return borrow(x)

    with pytest.raises(TypingError):
        scalar(1.0)


_NRT_BALANCE = """
import numpy as np, minigrad as mg
from numba.core.runtime import rtsys
from models.rnn.fused import fused_recurrence

def run(mode, B, threads):
    mg.set_num_threads(threads)
    rng = np.random.default_rng(0)
    T, I, H = 6, 3, 16
    G = {"lstm": 4, "gru": 3, "rnn": 1}[mode]
    t = lambda *shape, grad=False: mg.tensor(rng.standard_normal(shape), requires_grad=grad)
    x, h0 = t(T, B, I), t(B, H)
    c0 = t(B, H) if mode == "lstm" else None
    params = [t(G * H, I, grad=True), t(G * H, H, grad=True), t(G * H, grad=True),
              t(G * H, grad=True)]
    states = fused_recurrence(mode, x, h0, c0, *params, lengths=[T] + [T - 2] * (B - 1))
    states.sum().backward()

for mode in ("lstm", "gru", "rnn"):
    for B in (1, 3):
        run(mode, B, 1)
before = rtsys.get_allocation_stats()
for _ in range(50):
    for mode in ("lstm", "gru", "rnn"):
        for B in (1, 3):
            run(mode, B, 1)
after = rtsys.get_allocation_stats()
print(after.alloc - before.alloc, after.free - before.free,
      after.mi_alloc - before.mi_alloc, after.mi_free - before.mi_free)
"""


def test_kernels_with_borrowed_arrays_free_what_they_allocate():
    """The fused kernels borrow their arguments: no reference may be dropped that was not
    taken, nor kept. With numba's allocation statistics on (a fresh process), 300 forward and
    backward passes (every mode, one and three sequences, ragged lengths) allocate and free
    exactly as many blocks."""
    import os
    import subprocess
    import sys

    env = dict(os.environ, NUMBA_NRT_STATS="1")
    done = subprocess.run([sys.executable, "-c", _NRT_BALANCE], env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    alloc, free, mi_alloc, mi_free = (int(v) for v in done.stdout.split())
    assert alloc > 0 and mi_alloc > 0  # the kernels did allocate (packed weights, scratch)
    assert (alloc, mi_alloc) == (free, mi_free)
