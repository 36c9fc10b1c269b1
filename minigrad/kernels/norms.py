"""Reductions over a gradient's flat array for ``nn.utils.clip_grad_norm_``: the sum of squares
and the largest magnitude, in one pass each.

Sixteen partial results in local variables, indexed with unsigned integers (numba then emits no
negative-index wraparound, and the vectoriser may not reorder one running sum without
fastmath): each block of ``BLOCK`` entries is summed in the array's dtype, the blocks in
float64, so a float32 gradient of millions of entries is summed about as exactly as in float64
while being read at memory speed.
"""

import numpy as np
from numba import njit

LANES = 16
BLOCK = 1024


@njit(cache=True, error_model="numpy")
def sum_squares(x):
    """sum(x * x) of a 1-D array, as a float64 (inf or NaN when an entry is)."""
    n = x.shape[0]
    z = x.dtype.type(0)
    total = 0.0
    for start in range(0, n, BLOCK):
        stop = min(start + BLOCK, n)
        full = stop - (stop - start) % LANES
        a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = z
        b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = z
        for b in range(start, full, LANES):
            v, w = x[np.uint64(b + 0)], x[np.uint64(b + 8)]
            a0 += v * v
            b0 += w * w
            v, w = x[np.uint64(b + 1)], x[np.uint64(b + 9)]
            a1 += v * v
            b1 += w * w
            v, w = x[np.uint64(b + 2)], x[np.uint64(b + 10)]
            a2 += v * v
            b2 += w * w
            v, w = x[np.uint64(b + 3)], x[np.uint64(b + 11)]
            a3 += v * v
            b3 += w * w
            v, w = x[np.uint64(b + 4)], x[np.uint64(b + 12)]
            a4 += v * v
            b4 += w * w
            v, w = x[np.uint64(b + 5)], x[np.uint64(b + 13)]
            a5 += v * v
            b5 += w * w
            v, w = x[np.uint64(b + 6)], x[np.uint64(b + 14)]
            a6 += v * v
            b6 += w * w
            v, w = x[np.uint64(b + 7)], x[np.uint64(b + 15)]
            a7 += v * v
            b7 += w * w
        total += (float(a0) + float(a1) + float(a2) + float(a3) + float(a4) + float(a5)
                  + float(a6) + float(a7) + float(b0) + float(b1) + float(b2) + float(b3)
                  + float(b4) + float(b5) + float(b6) + float(b7))
        for c in range(full, stop):
            v = np.float64(x[c])
            total += v * v
    return total


@njit(cache=True, error_model="numpy")
def max_abs(x):
    """max(|x|) of a 1-D array, as a float64 (0 when empty; NaN when an entry is NaN)."""
    n = x.shape[0]
    z = x.dtype.type(0)
    a0 = a1 = a2 = a3 = a4 = a5 = a6 = a7 = z
    b0 = b1 = b2 = b3 = b4 = b5 = b6 = b7 = z
    full = n - n % LANES
    nan = False
    for b in range(0, full, LANES):
        v, w = abs(x[np.uint64(b + 0)]), abs(x[np.uint64(b + 8)])
        a0 = v if v > a0 else a0
        b0 = w if w > b0 else b0
        nan |= (v != v) | (w != w)
        v, w = abs(x[np.uint64(b + 1)]), abs(x[np.uint64(b + 9)])
        a1 = v if v > a1 else a1
        b1 = w if w > b1 else b1
        nan |= (v != v) | (w != w)
        v, w = abs(x[np.uint64(b + 2)]), abs(x[np.uint64(b + 10)])
        a2 = v if v > a2 else a2
        b2 = w if w > b2 else b2
        nan |= (v != v) | (w != w)
        v, w = abs(x[np.uint64(b + 3)]), abs(x[np.uint64(b + 11)])
        a3 = v if v > a3 else a3
        b3 = w if w > b3 else b3
        nan |= (v != v) | (w != w)
        v, w = abs(x[np.uint64(b + 4)]), abs(x[np.uint64(b + 12)])
        a4 = v if v > a4 else a4
        b4 = w if w > b4 else b4
        nan |= (v != v) | (w != w)
        v, w = abs(x[np.uint64(b + 5)]), abs(x[np.uint64(b + 13)])
        a5 = v if v > a5 else a5
        b5 = w if w > b5 else b5
        nan |= (v != v) | (w != w)
        v, w = abs(x[np.uint64(b + 6)]), abs(x[np.uint64(b + 14)])
        a6 = v if v > a6 else a6
        b6 = w if w > b6 else b6
        nan |= (v != v) | (w != w)
        v, w = abs(x[np.uint64(b + 7)]), abs(x[np.uint64(b + 15)])
        a7 = v if v > a7 else a7
        b7 = w if w > b7 else b7
        nan |= (v != v) | (w != w)
    m = max(max(max(a0, a1), max(a2, a3)), max(max(a4, a5), max(a6, a7)))
    m = max(m, max(max(max(b0, b1), max(b2, b3)), max(max(b4, b5), max(b6, b7))))
    for c in range(full, n):
        v = abs(x[c])
        m = v if v > m else m
        nan |= v != v
    return np.nan if nan else float(m)
