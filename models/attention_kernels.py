"""numba kernels of the masked softmax behind every attention form.

The softmax runs in three passes over C-contiguous (R, S) rows: ``masked_softmax_shift`` (scale,
add the mask bias, subtract the row maximum), numpy's vectorised ``np.exp`` in place (numba's
``np.exp`` is a scalar libm call, ~10x slower on this machine), and ``masked_softmax_normalize``.
A row whose biased scores are all ``-inf`` (every key masked) comes out as zeros, not NaN.

The mask bias is stored once per distinct row: row ``r`` of the scores uses
``bias[bias_rows[r]]``, so a key-padding mask (B, 1, 1, S) or a causal mask (L, S) is never
broadcast to the full (B, H, L, S) shape.

Row reductions (max, sum, dot) keep several independent partial results: without fastmath, a
single running sum is a serial dependency chain that LLVM may not reorder, and the kernels ran
2-3x slower with it. Every loop writes at most two arrays, so that LLVM vectorises it.
"""

import numpy as np
from numba import njit

LANES = 16


@njit(cache=True, error_model="numpy")
def _row_max(x):
    """max(x) over eight independent running maxima (-inf if x is empty; NaNs are skipped).
    x: (S,)."""
    n = x.shape[0]
    m0 = m1 = m2 = m3 = m4 = m5 = m6 = m7 = -np.inf
    c = 0
    while c + 8 <= n:
        m0 = max(m0, x[c])
        m1 = max(m1, x[c + 1])
        m2 = max(m2, x[c + 2])
        m3 = max(m3, x[c + 3])
        m4 = max(m4, x[c + 4])
        m5 = max(m5, x[c + 5])
        m6 = max(m6, x[c + 6])
        m7 = max(m7, x[c + 7])
        c += 8
    m = max(max(max(m0, m1), max(m2, m3)), max(max(m4, m5), max(m6, m7)))
    for j in range(c, n):
        m = max(m, x[j])
    return m


@njit(cache=True, error_model="numpy")
def _row_sum(x, acc):
    """sum(x) with len(acc) partial sums. x: (S,); acc: (LANES,) scratch."""
    n, lanes = x.shape[0], acc.shape[0]
    acc[:] = 0.0
    c = 0
    while c + lanes <= n:
        for j in range(lanes):
            acc[j] += x[c + j]
        c += lanes
    s = acc[0]
    for j in range(1, lanes):
        s += acc[j]
    for j in range(c, n):
        s += x[j]
    return s


@njit(cache=True, error_model="numpy")
def _row_dot(x, y, acc):
    """sum(x * y) with len(acc) partial sums. x, y: (S,); acc: (LANES,) scratch."""
    n, lanes = x.shape[0], acc.shape[0]
    acc[:] = 0.0
    c = 0
    while c + lanes <= n:
        for j in range(lanes):
            acc[j] += x[c + j] * y[c + j]
        c += lanes
    s = acc[0]
    for j in range(1, lanes):
        s += acc[j]
    for j in range(c, n):
        s += x[j] * y[j]
    return s


@njit(cache=True, error_model="numpy")
def masked_softmax_shift(scores, bias, bias_rows, scale, out):
    """out[r] = z[r] - max(z[r]) where z[r] = scale * scores[r] + bias[bias_rows[r]].

    A row whose z is all -inf is left as -inf, which the following ``np.exp`` turns into
    zeros (NaNs stay NaN). scores, out: (R, S); bias: (Rb, S); bias_rows: (R,) int64 in
    [0, Rb); scale: a scalar of the scores' dtype.
    """
    n = scores.shape[1]
    for r in range(scores.shape[0]):
        b = bias_rows[r]
        for c in range(n):
            out[r, c] = scale * scores[r, c] + bias[b, c]
        m = _row_max(out[r])
        if m != -np.inf:
            for c in range(n):
                out[r, c] -= m


@njit(cache=True, error_model="numpy")
def masked_softmax_normalize(e):
    """Divide each row of e = exp(z - max z) by its sum, in place; an all-zero row (every key
    masked) stays zero, a row holding a NaN becomes all NaN. e: (R, S)."""
    acc = np.empty(LANES, dtype=e.dtype)
    for r in range(e.shape[0]):
        s = _row_sum(e[r], acc)
        if s > 0.0:
            inv = 1.0 / s
            for c in range(e.shape[1]):
                e[r, c] *= inv
        elif s != s:
            for c in range(e.shape[1]):
                e[r, c] = np.nan


@njit(cache=True, error_model="numpy")
def masked_softmax_backward(grad_out, y, scale, out):
    """Per row r: out[r] = scale * y[r] * (grad_out[r] - sum(grad_out[r] * y[r])).

    The vector-Jacobian product of y = softmax(scale * x + bias) with respect to x (masked
    entries and fully masked rows have y = 0 and get 0). grad_out, y, out: (R, S); scale: a
    scalar of their dtype.
    """
    acc = np.empty(LANES, dtype=out.dtype)
    for r in range(y.shape[0]):
        s = _row_dot(grad_out[r], y[r], acc)
        for c in range(y.shape[1]):
            out[r, c] = scale * y[r, c] * (grad_out[r, c] - s)
