"""Scalar helpers the generated cell kernels call (inlined by numba)."""

from numba import njit

from models.rnn.kernels.common import matmul_into


@njit(cache=True, error_model="numpy", inline="always")
def max_nan(a, b):
    """max(a, b) as ``np.maximum``: NaN if either is NaN."""
    if a != a or a >= b:
        return a
    return b


@njit(cache=True, error_model="numpy", inline="always")
def min_nan(a, b):
    """min(a, b) as ``np.minimum``: NaN if either is NaN."""
    if a != a or a <= b:
        return a
    return b


@njit(cache=True, error_model="numpy", nogil=True)
def product(fam, wp, wt, a, out):
    """out[:, :N] = a @ W' through ``matmul_into`` (see there), as a function of its own:
    compiled once per process and type (and cached on disk) instead of inlined into every
    generated kernel, which keeps a new cell's compile to about a second per kernel. A call
    costs ~0.1 us (reference counts of its arrays)."""
    matmul_into(fam, wp, wt, a, out, False)
