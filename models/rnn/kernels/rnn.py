"""Fused Elman RNN kernels: h_t = act(x_t W_ih^T + b_ih + (m * h_{t-1}) W_hh^T + b_hh).

Per-step arrays are feature-major, (H, B) (see ``common``). ``m`` is the recurrent-dropout
mask (unused when ``use_mask`` is false). Sequence ``b`` is processed for time indices
``t < lengths[b]``; at the others its state is held (forward: its last state; reverse: h0).
With ``reverse`` the time indices run from T - 1 down to 0.
"""

from numba import njit

from .common import (
    add_batch_major,
    add_projection,
    hold_inactive,
    matmul_into,
    tanh_act,
    to_batch_major,
    zero_inactive,
)


@njit(cache=True, error_model="numpy")
def rnn_forward(xp, bias, h0, w_hh, w_hhT, mask, lengths, reverse, relu, use_mask, save,
                states, hs, pre, u):
    """Run the recurrence.

    xp: (H, T B) input projection W_ih x^T (column t B + b is x_t of sequence b); bias: (H,)
    b_ih + b_hh; h0: (H, B); w_hh: (H, H) and (read instead when B == 1) w_hhT = W_hh^T;
    mask: (H, B) (read when use_mask); lengths: (B,) int64; relu: ReLU instead of tanh.
    Writes states: (T, 1, B, H), the state after each time index; hs: (T, H, B) the same
    feature-major when save, else (2, H, B) scratch; pre, u: (H, B) scratch.
    """
    T = states.shape[0]
    H, B = h0.shape
    HB = H * B
    zero = h0.dtype.type(0.0)
    shortest = lengths.min()
    pf, uf, mf = pre.reshape(HB), u.reshape(HB), mask.reshape(mask.size)
    hp = h0
    for s in range(T):
        t = T - 1 - s if reverse else s
        src = hp
        if use_mask:
            hpf = hp.reshape(HB)
            for e in range(HB):
                uf[e] = hpf[e] * mf[e]
            src = u
        matmul_into(w_hh, w_hhT, src, pre)
        add_projection(pre, xp, bias, t * B, H)
        h = hs[t if save else s & 1]
        hf = h.reshape(HB)
        if relu:
            for e in range(HB):
                v = pf[e]
                hf[e] = zero if v < zero else v  # NaN passes through
        else:
            for e in range(HB):
                hf[e] = tanh_act(pf[e])
        if t >= shortest:
            hold_inactive(h, hp, lengths, t)
        to_batch_major(h, states[t, 0])
        hp = h


@njit(cache=True, error_model="numpy")
def rnn_backward(g_states, hs, w_hhT, w_hh, mask, lengths, reverse, relu, use_mask, dpre, dh, dt,
                 tmp, keep, dstates):
    """Backpropagate through the recurrence of ``rnn_forward``.

    g_states: (T, 1, B, H) gradient w.r.t. the states; hs: (T, H, B) saved by the forward;
    w_hhT: (H, H) = W_hh^T and (read instead when B == 1) w_hh; mask, lengths as in the
    forward. Writes dpre: (T, H, B), the gradient w.r.t. the pre-activations (zero past a
    sequence's end); dh: (H, B), ends as the gradient w.r.t. h0. dt, tmp: (H, B) scratch.
    When ``keep``, dstates: (T, 1, H, B) receives the total gradients dL/dh_t.
    """
    T = g_states.shape[0]
    H, B = dh.shape
    HB = H * B
    one = dh.dtype.type(1.0)
    zero = dh.dtype.type(0.0)
    shortest = lengths.min()
    dh[:, :] = zero
    dhf, dtf, tf, mf = dh.reshape(HB), dt.reshape(HB), tmp.reshape(HB), mask.reshape(mask.size)
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        add_batch_major(dt, dh, g_states[t, 0])
        if keep:
            dstates[t, 0] = dt
        dp = dpre[t]
        hf, dpf = hs[t].reshape(HB), dp.reshape(HB)
        if relu:
            for e in range(HB):
                dpf[e] = dtf[e] if hf[e] > zero else zero
        else:
            for e in range(HB):
                dpf[e] = dtf[e] * (one - hf[e] * hf[e])
        if t >= shortest:
            zero_inactive(dp, lengths, t)
        matmul_into(w_hhT, w_hh, dp, tmp)
        if use_mask:
            for e in range(HB):
                dhf[e] = tf[e] * mf[e]
        else:
            dhf[:] = tf
        if t >= shortest:
            hold_inactive(dh, dt, lengths, t)
