"""The weight and bias gradients of a recurrent layer summed over all steps after the backward
kernel, through the packed kernel, in one call (for few rows per step, B < 8, where the
Python around a GEMM would cost as much as the GEMM: see ``launch._step_grads``).

With the gate gradients D of all steps (T B, N') (zero rows past each sequence's end, zero
columns past G H), the layer's dL/dW_ih = D^T U_x and dL/dW_hh = D^T U_h, U_x = [x_t] and
U_h = [m * h_{t-1}] stacked over the steps (T B, I) and (T B, H), and dL/db = D's column sums.
The rows of ended sequences are zeroed in U (their x and states may hold anything, NaN
included, and 0 * NaN is NaN). ``inputs`` and ``previous_states`` build U_x and U_h for the
BLAS GEMM that larger layers use instead (``launch._weight_grads``); ``weight_grads_after``
reads them in place.
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
def _transpose_out(acc, out):
    """out (G H, F) = acc[:, :G H]^T for acc (F, N')."""
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
def _sequence_steps(lengths, b, reverse):
    """(first, last, start): sequence b's time indices [first, last) whose h_{t-1} is a saved
    state, states[t - 1] (forward) or states[t + 1] (reverse), and the index ``start`` that
    met h0 instead."""
    n = lengths[b]
    if reverse:
        return 0, n - 1, n - 1
    return 1, n, 0


@njit(cache=True, error_model="numpy")
def weight_grads_after(x, states, h0, mask, use_mask, lengths, reverse, d_ih, d_hh, gw_ih,
                       gw_hh, gb_ih, gb_hh, fam):
    """Write the gradients asked for (the outputs that are not empty): gw_ih (G H, I) and
    gb_ih (G H,) from d_ih, gw_hh (G H, H) and gb_hh (G H,) from d_hh (d_ih, d_hh: (T B, N'),
    the same array except for a GRU with reset_after). x: (T, B, I); states: (T, S, B, H);
    h0, mask: (B, H); lengths: (B,) int64.

    The products run sequence by sequence over its own steps, reading x and the saved states
    in place (U_x and U_h are never built): sequence b's rows of D are every B-th row, and its
    steps past the end are not read at all. A mask scales the rows of sequence b's share of
    dL/dW_hh^T, (m_b * h)^T d = diag(m_b) h^T d."""
    T, B, I = x.shape
    N = d_ih.shape[1]
    if gw_ih.size > 0:
        acc = np.zeros((I, N), x.dtype)
        for b in range(B):
            n = lengths[b]
            add_product(fam, x[:n, b, :].T, d_ih[b::B][:n], acc)
        _transpose_out(acc, gw_ih)
    if gw_hh.size > 0:
        H = h0.shape[1]
        acc = np.zeros((H, N), x.dtype)
        part = np.empty((H, N), x.dtype) if use_mask else acc
        for b in range(B):
            if use_mask:
                part[:, :] = 0
            first, last, start = _sequence_steps(lengths, b, reverse)
            d = d_hh[b::B]
            add_product(fam, h0[b:b + 1, :].T, d[start:start + 1], part)
            shift = 1 if reverse else -1
            add_product(fam, states[first + shift:last + shift, 0, b, :].T, d[first:last], part)
            if use_mask:
                for j in range(H):
                    mj, pj, aj = mask[b, j], part[j], acc[j]
                    for m in range(N):
                        aj[m] += mj * pj[m]
        _transpose_out(acc, gw_hh)
    same = d_ih.ctypes.data == d_hh.ctypes.data
    if gb_ih.size > 0:
        _column_sums(d_ih, gb_ih)
    if gb_hh.size > 0:
        if same and gb_ih.size > 0:
            gb_hh[:] = gb_ih
        else:
            _column_sums(d_hh, gb_hh)
