"""Fused Elman RNN kernels: h_t = act(x_t W_ih^T + b_ih + (m * h_{t-1}) W_hh^T + b_hh).

Per-step arrays are batch-major, (B, H) (see ``common``). ``m`` is the recurrent-dropout mask
(unused when ``use_mask`` is false). Sequence ``b`` is processed for time indices
``t < lengths[b]``; at the others its state is held (forward: its last state; reverse: h0).
With ``reverse`` the time indices run from T - 1 down to 0.
"""

from numba import njit

from .common import (
    add_step_weight_grads,
    carry_back,
    masked,
    matmul_into,
    tanh_act,
    units_products,
)
from .packed import pack_panels
from .sync import DONE, PROGRESS, SIDE_STEPS, publish, wait_for
from .views import borrow


@njit(cache=True, error_model="numpy", nogil=True, inline="always")
def activate(pr, bias, hr, relu):
    """One row's new state, hr (n,) = act(pr[:n] + bias[:n]), act ReLU or tanh (the single
    thread's kernel: all H units; a units-split thread: its own)."""
    zero = hr.dtype.type(0.0)
    if relu:
        for j in range(hr.shape[0]):
            v = pr[j] + bias[j]
            hr[j] = zero if v < zero else v  # NaN passes through
    else:
        for j in range(hr.shape[0]):
            hr[j] = tanh_act(pr[j] + bias[j])


@njit(cache=True, error_model="numpy", nogil=True)
def rnn_forward(x, xwp, xwt, bias, h0, wp, wt, mask, lengths, reverse, relu, use_mask, states,
                pre, u, xp_all, split, fam, sync):
    """Run the recurrence.

    x: (T, B, I); xwp, xwt: W_ih^T packed / itself and wp, wt the same for W_hh^T (see
    ``matmul_into``); bias: (H,) b_ih + b_hh; h0: (B, H); mask:
    (B, H) (read when use_mask); lengths: (B,) int64; relu: ReLU instead of tanh.
    Writes states: (T, 1, B, H), the state after each time index. pre: (B, >= H), u: (B, H)
    scratch. xp_all, split, sync: the side thread's share, as in ``lstm_forward``.
    """
    T = states.shape[0]
    B, H = h0.shape
    x, bias, h0, mask, states, pre, u, xp_all = (
        borrow(x), borrow(bias), borrow(h0), borrow(mask), borrow(states), borrow(pre),
        borrow(u), borrow(xp_all))  # see views
    hp = h0
    for s in range(T):
        t = T - 1 - s if reverse else s
        src = hp
        if use_mask:
            src = masked(hp, mask, u)
        if sync.size > 0 and not split:
            if not wait_for(sync, PROGRESS, s + 1):
                return
            pre = xp_all[t]
        else:
            matmul_into(fam, xwp, xwt, x[t], pre)
        matmul_into(fam, wp, wt, src, pre, True)
        if split and not wait_for(sync, SIDE_STEPS, s + 1):
            return
        h = states[t, 0]
        for b in range(B):
            hr = h[b]
            if t >= lengths[b]:
                hr[:] = hp[b]
                continue
            activate(pre[b], bias, hr, relu)
        hp = h
        if split:
            publish(sync, PROGRESS, s + 1)


@njit(cache=True, error_model="numpy", nogil=True)
def rnn_backward(g_states, states, x, h0, wp, wt, mask, lengths, reverse, relu, use_mask, dpre,
                 gw_ih, gw_hh, gb, dh, dt, tmp, xz, uz, keep, dstates, fam, sync):
    """Backpropagate through the recurrence of ``rnn_forward``.

    g_states: (T, 1, B, H) gradient w.r.t. the states; states: the forward's output; x:
    (T, B, I); h0: (B, H); wp, wt: W_hh packed / itself (see ``matmul_into``); mask, lengths
    as in the forward. Writes dpre: (T, B, >= H), the gradient w.r.t. the pre-activations
    (zero past a sequence's end; the columns past H are left alone; (1, B, .): only the
    current step's); unless they are empty,
    gw_ih, gw_hh, gb receive the weight and bias gradients step by step as in
    ``lstm_backward``; dh: (B, H), ends as the gradient w.r.t. h0. dt: (B, H), tmp:
    (B, >= H), xz: (B, I) and uz: (B, H) scratch. When
    ``keep``, dstates: (T, 1, B, H) receives the total gradients dL/dh_t. ``sync``: as in
    ``lstm_backward``.
    """
    T = g_states.shape[0]
    B, H = dh.shape
    one = dh.dtype.type(1.0)
    zero = dh.dtype.type(0.0)
    g_states, states, x, h0, mask, dpre, dh, dt, tmp = (
        borrow(g_states), borrow(states), borrow(x), borrow(h0), borrow(mask), borrow(dpre),
        borrow(dh), borrow(dt), borrow(tmp))  # see views
    dh[:, :] = zero
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        h, dp = states[t, 0], dpre[t % dpre.shape[0]]
        for b in range(B):
            dtr, gr, dhb, dpr, hr = dt[b], g_states[t, 0, b], dh[b], dp[b], h[b]
            for j in range(H):
                dtr[j] = gr[j] + dhb[j]
            if t >= lengths[b]:
                dpr[:] = zero
            elif relu:
                for j in range(H):
                    dpr[j] = dtr[j] if hr[j] > zero else zero
            else:
                for j in range(H):
                    dpr[j] = dtr[j] * (one - hr[j] * hr[j])
        if keep:
            dstates[t, 0] = dt
        if sync.size > 0:
            publish(sync, PROGRESS, T - s)
        # The guard stays here: folded with the product into one inlined helper, B = 1 ran
        # 5-19 % slower (measured sessions 3 and 4).
        if gw_ih.size > 0 or gw_hh.size > 0 or gb.size > 0:
            hp = h0 if s == 0 else states[t + 1 if reverse else t - 1, 0]
            add_step_weight_grads(fam, x[t], hp, dp, mask, use_mask, lengths, t, gw_ih, gw_hh, gb,
                                  xz, uz)
        matmul_into(fam, wp, wt, dp[:, :H], tmp)
        carry_back(tmp, dt, mask, use_mask, lengths, t, dh)


@njit(cache=True, error_model="numpy", nogil=True)
def rnn_forward_units(x, w_ih_t, bias, h0, w_hh_t, mask, lengths, reverse, relu, use_mask,
                      states, pre, u, u0, u1, mine, theirs, finish, fam, sync):
    """One thread's share of ``rnn_forward`` when two threads split the hidden units: this
    thread makes h_t of units [u0, u1) at every step from the whole h_{t-1}, as
    ``lstm.lstm_forward_units`` does for the LSTM (the same sync slots ``mine`` / ``theirs``
    and ``finish``). w_ih_t: (I, Hk), w_hh_t: (H, Hk), bias: (Hk,) this thread's columns
    (Hk = u1 - u0, I >= 1), packed here; pre: (B, >= padded(Hk)), u: (B, H) scratch of this
    thread; the rest as in ``rnn_forward``."""
    T = states.shape[0]
    B = h0.shape[0]
    m = u1 if u0 == 0 else u0  # W_hh^T's rows split at m (see ``units_products``)
    xwp = pack_panels(fam, w_ih_t)
    wp_lo, wp_hi = pack_panels(fam, w_hh_t[:m]), pack_panels(fam, w_hh_t[m:])
    x, bias, h0, mask, states, pre, u = (
        borrow(x), borrow(bias), borrow(h0), borrow(mask), borrow(states), borrow(pre),
        borrow(u))  # see views
    hp = h0
    for s in range(T):
        t = T - 1 - s if reverse else s
        if not units_products(fam, xwp, wp_lo, wp_hi, x[t], hp, mask, use_mask, u, pre, pre, True,
                              m, u0 == 0, s, sync, theirs):
            break
        h = states[t, 0]
        for b in range(B):
            hr = h[b, u0:u1]
            if t >= lengths[b]:
                hr[:] = hp[b, u0:u1]
                continue
            activate(pre[b], bias, hr, relu)
        hp = h
        publish(sync, mine, s + 1)
    if finish:
        publish(sync, DONE, 1)
