"""Scalar helpers the generated cell kernels call (inlined by numba)."""

from numba import njit


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
