"""Fused Elman RNN kernels: h_t = act(x_t W_ih^T + b_ih + (m * h_{t-1}) W_hh^T + b_hh).

Shapes: T steps, B sequences, H hidden units. ``m`` is the recurrent-dropout mask (all ones
when ``use_mask`` is false). Sequence ``b`` is processed for time indices ``t < lengths[b]``;
at the other indices its state is held (forward: the last state; reverse: ``h0``). With
``reverse`` the time indices run from T - 1 down to 0.
"""

import numpy as np
from numba import njit

from .common import tanh_act


@njit(cache=True, error_model="numpy")
def rnn_forward(xp, bias, h0, w_hhT, mask, lengths, reverse, relu, use_mask, save,
                states, hin, hh):
    """Run the recurrence.

    xp: (T, B, H) input projection x_t W_ih^T; bias: (H,) b_ih + b_hh; h0: (B, H);
    w_hhT: (H, H) W_hh transposed (contiguous); mask: (B, H) (read when use_mask);
    lengths: (B,) int64; relu: ReLU instead of tanh.
    Writes states: (T, 1, B, H), the state after each time index; hin: (T, B, H) when save
    (else (1, B, H) scratch), the masked h_{t-1} that met W_hh at index t; hh: (B, H) scratch.
    """
    T, B, H = xp.shape
    zero = h0.dtype.type(0.0)
    hp = h0
    for s in range(T):
        t = T - 1 - s if reverse else s
        hi = hin[t] if save else hin[0]
        if use_mask:
            for b in range(B):
                for j in range(H):
                    hi[b, j] = hp[b, j] * mask[b, j]
            np.dot(hi, w_hhT, hh)
        else:
            if save:
                hi[:, :] = hp
            np.dot(hp, w_hhT, hh)
        h = states[t, 0]
        for b in range(B):
            hb = h[b]
            if t >= lengths[b]:
                hb[:] = hp[b]
                continue
            pre = hh[b]
            xr = xp[t, b]
            if relu:
                for j in range(H):
                    v = pre[j] + xr[j] + bias[j]
                    hb[j] = zero if v < zero else v  # NaN passes through
            else:
                for j in range(H):
                    hb[j] = tanh_act(pre[j] + xr[j] + bias[j])
        hp = h


@njit(cache=True, error_model="numpy")
def rnn_backward(g_states, states, h0, w_hh, mask, lengths, reverse, relu, use_mask,
                 dpre, dh, tmp):
    """Backpropagate through the recurrence of ``rnn_forward``.

    g_states: (T, 1, B, H) gradient w.r.t. the states; states: (T, 1, B, H) and h0: (B, H) as in
    the forward; w_hh: (H, H). Writes dpre: (T, B, H), the gradient w.r.t. the pre-activations
    (zero where a sequence is past its end); dh: (B, H), ends as the gradient w.r.t. h0;
    tmp: (B, H) scratch.
    """
    T, B, H = dpre.shape
    one = h0.dtype.type(1.0)
    zero = h0.dtype.type(0.0)
    dh[:, :] = zero
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        h = states[t, 0]
        g = g_states[t, 0]
        dp = dpre[t]
        for b in range(B):
            dpb = dp[b]
            if t >= lengths[b]:
                dpb[:] = zero
                continue
            hb = h[b]
            gb = g[b]
            db = dh[b]
            if relu:
                for j in range(H):
                    dpb[j] = (db[j] + gb[j]) if hb[j] > zero else zero
            else:
                for j in range(H):
                    dpb[j] = (db[j] + gb[j]) * (one - hb[j] * hb[j])
        np.dot(dp, w_hh, tmp)
        for b in range(B):
            db = dh[b]
            if t >= lengths[b]:
                gb = g[b]
                for j in range(H):
                    db[j] += gb[j]
            elif use_mask:
                for j in range(H):
                    db[j] = tmp[b, j] * mask[b, j]
            else:
                db[:] = tmp[b]
