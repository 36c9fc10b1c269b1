"""numba kernels of the masked softmax behind every attention form.

The softmax runs in three passes over C-contiguous (R, S) rows: ``masked_softmax_shift`` (scale,
add the mask bias, subtract the row maximum), numpy's vectorised ``np.exp`` in place (numba's
``np.exp`` is a scalar libm call, ~10x slower on this machine), and ``masked_softmax_normalize``.
A row whose biased scores are all ``-inf`` (every key masked) comes out as zeros, not NaN.

The mask bias is stored once per distinct row: row ``r`` of the scores uses
``bias[bias_rows[r]]``, so a key-padding mask (B, 1, 1, S) or a causal mask (L, S) is never
broadcast to the full (B, H, L, S) shape.

Without fastmath LLVM does not reorder float reductions, so a plain running sum or maximum is a
serial dependency chain: the sums keep ``LANES`` partial results, and the row maximum is an
integer maximum over order-preserving keys of the float bits (both 2-3x faster than the plain
loops here).
"""

import numpy as np
from numba import njit

LANES = 16


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
def masked_softmax_shift(scores, bias, bias_rows, scale, out, out_bits, slot, slot_bits,
                         sign_shift, magnitude):
    """out[r] = z[r] - max(z[r]) where z[r] = scale * scores[r] + bias[bias_rows[r]].

    The row maximum is taken over the integer keys ``k ^ ((k >> sign_shift) & magnitude)`` of
    the float bit patterns k, which order like the floats (an integer max vectorises, a float
    max without fastmath does not; -inf is the smallest key, a NaN with its sign bit clear the
    largest, so such a NaN makes its row NaN). A row whose z is all -inf is left as -inf, which
    the following ``np.exp`` turns into zeros.

    scores, out: (R, S) floats; out_bits: ``out`` viewed as same-width ints; bias: (Rb, S);
    bias_rows: (R,) int64 in [0, Rb); scale: a scalar of the scores' dtype; slot / slot_bits: a
    (1,) float scratch array and its int view; sign_shift, magnitude: bits - 1 and the largest
    int of the int type.
    """
    n = scores.shape[1]
    for r in range(scores.shape[0]):
        b = bias_rows[r]
        for c in range(n):
            out[r, c] = scale * scores[r, c] + bias[b, c]
        k = out_bits[r, 0]
        best = k ^ ((k >> sign_shift) & magnitude)
        for c in range(1, n):
            k = out_bits[r, c]
            k = k ^ ((k >> sign_shift) & magnitude)
            best = k if k > best else best
        slot_bits[0] = best ^ ((best >> sign_shift) & magnitude)
        m = slot[0]
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
