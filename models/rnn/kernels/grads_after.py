"""The weight and bias gradients of a recurrent layer summed over all steps after the backward
kernel, through the packed kernel, in one call (for few rows per step, B < 8, where the
Python around a GEMM would cost as much as the GEMM: see ``launch._step_grads``).

With the gate gradients D of all steps (T B, N') (zero rows past each sequence's end, zero
columns past G H), the layer's dL/dW_ih = D^T U_x and dL/dW_hh = D^T U_h, U_x = [x_t] and
U_h = [m * h_{t-1}] stacked over the steps (T B, I) and (T B, H), and dL/db = D's column sums.
The rows of ended sequences are zeroed in U (their x and states may hold anything, NaN
included, and 0 * NaN is NaN). ``inputs`` and ``previous_states`` also serve the BLAS GEMM
that larger layers use instead (``launch._weight_grads``).
"""

import numpy as np
from numba import njit

from .packed import add_product


@njit(cache=True, error_model="numpy")
def inputs(x, lengths):
    """U_x (T B, I): x's rows, zero past each sequence's end."""
    T, B, I = x.shape
    u = np.empty((T * B, I), x.dtype)
    for t in range(T):
        for b in range(B):
            row = u[t * B + b]
            if t >= lengths[b]:
                row[:] = 0
            else:
                row[:] = x[t, b]
    return u


@njit(cache=True, error_model="numpy")
def previous_states(states, h0, mask, use_mask, lengths, reverse):
    """U_h (T B, H): the (masked) h_{t-1} that met W_hh at each time index t, read back from
    the output states (T, S, B, H) (h0 where the recurrence starts), zero past each sequence's
    end."""
    T, B, H = states.shape[0], h0.shape[0], h0.shape[1]
    u = np.empty((T * B, H), h0.dtype)
    for t in range(T):
        first = t == T - 1 if reverse else t == 0
        src = h0 if first else states[t + 1 if reverse else t - 1, 0]
        for b in range(B):
            row = u[t * B + b]
            if t >= lengths[b]:
                row[:] = 0
            elif use_mask:
                for j in range(H):
                    row[j] = src[b, j] * mask[b, j]
            else:
                row[:] = src[b]
    return u


@njit(cache=True, error_model="numpy")
def _transposed_product(u, d, out):
    """out (G H, F) = (u^T d)^T[:G H] for u (T B, F), d (T B, N'), N' >= G H a multiple of
    the vector width."""
    acc = np.zeros((u.shape[1], d.shape[1]), d.dtype)
    add_product(u.T, d, acc)
    for g in range(out.shape[0]):
        for f in range(out.shape[1]):
            out[g, f] = acc[f, g]


@njit(cache=True, error_model="numpy")
def _column_sums(d, out):
    """out (G H,) = the sums of d's first G H columns over its rows."""
    out[:] = 0
    for r in range(d.shape[0]):
        dr = d[r]
        for m in range(out.shape[0]):
            out[m] += dr[m]


@njit(cache=True, error_model="numpy")
def weight_grads_after(x, states, h0, mask, use_mask, lengths, reverse, d_ih, d_hh, gw_ih,
                       gw_hh, gb_ih, gb_hh):
    """Write the gradients asked for (the outputs that are not empty): gw_ih (G H, I) and
    gb_ih (G H,) from d_ih, gw_hh (G H, H) and gb_hh (G H,) from d_hh (d_ih, d_hh: (T B, N'),
    the same array except for a GRU with reset_after). x: (T, B, I); states: (T, S, B, H);
    h0, mask: (B, H); lengths: (B,) int64."""
    if gw_ih.size > 0:
        _transposed_product(inputs(x, lengths), d_ih, gw_ih)
    if gw_hh.size > 0:
        _transposed_product(previous_states(states, h0, mask, use_mask, lengths, reverse),
                            d_hh, gw_hh)
    if gb_ih.size > 0:
        _column_sums(d_ih, gb_ih)
    if gb_hh.size > 0:
        _column_sums(d_hh, gb_hh)
