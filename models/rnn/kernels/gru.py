"""Fused GRU kernels (PyTorch's gates r, z, n; both placements of the reset gate).

With u = m * h_{t-1} (m the recurrent-dropout mask; u = h_{t-1} when ``use_mask`` is false):

    r = sigmoid(x_t W_ir^T + b_ir + u W_hr^T + b_hr),  z = sigmoid(... W_iz, W_hz ...)
    reset_after:      n = tanh(x_t W_in^T + b_in + r * (u W_hn^T + b_hn))
    not reset_after:  n = tanh(x_t W_in^T + b_in + (r * u) W_hn^T + b_hn)
    h_t = (1 - z) * n + z * h_{t-1}

Per-step arrays are batch-major, (B, .) (see ``common``). Sequence ``b`` is processed for time
indices ``t < lengths[b]``; at the others its state is held (and its gradient passes through).
With ``reverse`` the time indices run from T - 1 down to 0.
"""

from numba import njit

from .common import (
    add_weight_grads,
    live_rows,
    masked,
    matmul_into,
    sigmoid_act,
    tanh_act,
    units_products,
)
from .packed import pack_panels
from .sync import DONE, PROGRESS, SIDE_STEPS, publish, wait_for
from .views import borrow


@njit(cache=True, error_model="numpy", nogil=True, inline="always")
def new_state(p_n, b_hn, x_n, b_n, a_r, a_z, a_n, axr, hpr, hr):
    """reset_after: the n gate and the new state of one row's units (n = hr.shape[0]: all H
    with one thread, a thread's own with the units split): axr = u W_hn^T + b_hn (p_n +
    b_hn), a_n = tanh(x W_in^T + b_in + r * axr), hr = (1 - z) * a_n + z * h_{t-1} (hpr).
    Every argument (>= n,), indexed from 0."""
    one = hr.dtype.type(1.0)
    for j in range(hr.shape[0]):
        v = p_n[j] + b_hn[j]
        axr[j] = v
        a_n[j] = tanh_act(x_n[j] + b_n[j] + a_r[j] * v)
    for j in range(hr.shape[0]):
        z = a_z[j]
        hr[j] = (one - z) * a_n[j] + z * hpr[j]


@njit(cache=True, error_model="numpy", nogil=True)
def gru_forward(x, xwp, xwt, bias, bhn, h0, wp, wt, wp_rz, wt_rz, wp_n, wt_n, mask, lengths,
                reverse, reset_after, use_mask, save, states, gates, aux, xp, pre, u, hn, xp_all,
                split, fam, sync):
    """Run the recurrence.

    x: (T, B, I); xwp, xwt: W_ih^T packed / itself (see ``matmul_into``); bias:
    (3 H,) = (b_ir + b_hr, b_iz + b_hz, b_in), plus b_hn when not reset_after; bhn: (H,) b_hn
    (read when reset_after); h0: (B, H); reset_after: wp, wt = W_hh^T (H, 3 H) packed /
    itself (see ``matmul_into``); otherwise wp_rz, wt_rz and wp_n, wt_n the same for
    W_rz^T (H, 2 H) and W_n^T (H, H), the transposed row blocks of W_hh (the unused ones may
    be empty). mask: (B, H) (read when use_mask); lengths: (B,) int64.
    Writes states: (T, 1, B, H). When save: gates (T, B, 3 H) the gate activations r, z, n;
    aux (T, B, H) = u W_hn^T + b_hn (reset_after) or r * u (not); else gates, aux are
    (1, B, .) scratch. xp: (B, >= 3 H), x_t W_ih^T; pre: (B, >= 3 H) (reset_after) or
    (B, >= 2 H); u: (B, H); hn: (B, >= H) scratch. xp_all, split, sync: the side thread's
    share, as in ``lstm_forward`` (xp = xp_all[t]; ``split``: reset_after only, the worker
    fills the last columns of xp and pre).
    """
    T = states.shape[0]
    B, H = h0.shape
    one = h0.dtype.type(1.0)
    zero = h0.dtype.type(0.0)
    x, bias, bhn, h0, mask, states, gates, aux, xp, pre, u, hn, xp_all = (
        borrow(x), borrow(bias), borrow(bhn), borrow(h0), borrow(mask), borrow(states),
        borrow(gates), borrow(aux), borrow(xp), borrow(pre), borrow(u), borrow(hn),
        borrow(xp_all))  # see views
    hp = h0
    for s in range(T):
        t = T - 1 - s if reverse else s
        k = t if save else 0
        src = hp
        if use_mask:
            src = masked(hp, mask, u)
        if sync.size > 0 and not split:
            if not wait_for(sync, PROGRESS, s + 1):
                return
            xp = xp_all[t]
        else:
            matmul_into(fam, xwp, xwt, x[t], xp)
        if reset_after:
            matmul_into(fam, wp, wt, src, pre)
        else:
            matmul_into(fam, wp_rz, wt_rz, src, pre)
        if split and not wait_for(sync, SIDE_STEPS, s + 1):
            return
        h, ga, ax = states[t, 0], gates[k], aux[k]
        for b in range(B):
            if t >= lengths[b]:
                h[b] = hp[b]
                ax[b] = zero  # keeps the n product below finite for this row
                continue
            ar, pr, xr, axr = ga[b], pre[b], xp[b], ax[b]
            for m in range(2 * H):
                ar[m] = sigmoid_act(pr[m] + xr[m] + bias[m])
            a_r, a_z, a_n = ar[:H], ar[H:2 * H], ar[2 * H:3 * H]
            if reset_after:
                p_n, x_n, b_n, hr, hpr = pr[2 * H:3 * H], xr[2 * H:], bias[2 * H:], h[b], hp[b]
                new_state(p_n, bhn, x_n, b_n, a_r, a_z, a_n, axr, hpr, hr)
            else:
                sr = src[b]
                for j in range(H):
                    axr[j] = a_r[j] * sr[j]
        if not reset_after:
            matmul_into(fam, wp_n, wt_n, ax, hn)
            for b in range(B):
                if t >= lengths[b]:
                    continue
                ar, hr, hpr, hnr, x_n = ga[b], h[b], hp[b], hn[b], xp[b, 2 * H:]
                a_z, a_n, b_n = ar[H:2 * H], ar[2 * H:3 * H], bias[2 * H:]
                for j in range(H):
                    a_n[j] = tanh_act(x_n[j] + b_n[j] + hnr[j])
                for j in range(H):
                    z = a_z[j]
                    hr[j] = (one - z) * a_n[j] + z * hpr[j]
        hp = h
        if split:
            publish(sync, PROGRESS, s + 1)


@njit(cache=True, error_model="numpy", nogil=True)
def gru_backward(g_states, gates, states, x, h0, aux, wp, wt, wp_rz, wt_rz, wp_n, wt_n, mask,
                 lengths, reverse, reset_after, use_mask, dpre, dxp, gw_ih, gw_hh, gb_ih, gb_hh,
                 dh, dt, ddir, tmp, drh, xz, uz, keep, dstates, fam, sync):
    """Backpropagate through the recurrence of ``gru_forward``.

    g_states: (T, 1, B, H) gradient w.r.t. the states; gates, states, aux saved by the
    forward; h0: (B, H); reset_after: wp, wt = W_hh (3 H, H) packed / itself (see
    ``matmul_into``); otherwise wp_rz, wt_rz and wp_n, wt_n the same for W_rz (2 H, H) and
    W_n (H, H), the row blocks (the unused ones may be empty). Writes dpre: (T, B, 3 H), the
    gradient w.r.t. u W_hh^T + b_hh (r, z, n blocks; zero past a sequence's end) which, when
    not reset_after, is also the gradient w.r.t. the input projection x W_ih^T + b_ih; when
    reset_after, dxp: (T, B, 3 H) the gradient w.r.t. the input projection (its r, z blocks
    are dpre's, its n block differs); both may have columns past 3 H, left alone, and both
    hold only the current step's when they are (1, B, .). With reset_after, unless they are
    empty, gw_ih (I, N') += x_t^T dxp_t, gb_ih += its column sums, gw_hh (H, N') += u^T dpre_t
    and gb_hh += its column sums at each step (N' = dpre.shape[2]; see
    ``common.add_weight_grads``). x: (T, B, I). dh: (B, H), ends as the gradient w.r.t. h0.
    dt, ddir: (B, H), tmp, drh: (B, >= H), xz: (B, I), uz: (B, H) scratch. When ``keep``,
    dstates: (T, 1, B, H) receives the total gradients dL/dh_t. ``sync``: as in
    ``lstm_backward`` (reset_after only: PROGRESS counts steps whose dpre and dxp rows are
    written).
    """
    T = g_states.shape[0]
    B, H = dh.shape
    one = dh.dtype.type(1.0)
    zero = dh.dtype.type(0.0)
    g_states, gates, states, x, h0, aux, mask, dpre, dxp, dh, dt, ddir, tmp, drh = (
        borrow(g_states), borrow(gates), borrow(states), borrow(x), borrow(h0), borrow(aux),
        borrow(mask), borrow(dpre), borrow(dxp), borrow(dh), borrow(dt), borrow(ddir),
        borrow(tmp), borrow(drh))  # see views
    dh[:, :] = zero
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        hp = h0 if s == 0 else states[t + 1 if reverse else t - 1, 0]
        k = t % dpre.shape[0]  # dpre, dxp: (1, B, .) when only the current step is kept
        dp, ga, ax = dpre[k], gates[t], aux[t]
        for b in range(B):
            dtr, gr, dhb = dt[b], g_states[t, 0, b], dh[b]
            for j in range(H):
                dtr[j] = gr[j] + dhb[j]
            dpr = dp[b]
            if t >= lengths[b]:
                dpr[:] = zero
                if reset_after:
                    dxp[k, b] = zero
                continue
            ar, hpr, axr, ddr = ga[b], hp[b], ax[b], ddir[b]
            a_r, a_z, a_n = ar[:H], ar[H:2 * H], ar[2 * H:3 * H]
            d_r, d_z, d_n = dpr[:H], dpr[H:2 * H], dpr[2 * H:3 * H]
            for j in range(H):
                ddr[j] = dtr[j] * a_z[j]
            for j in range(H):  # d_n first holds the gradient w.r.t. n's pre-activation
                z, n = a_z[j], a_n[j]
                d_n[j] = dtr[j] * (one - z) * (one - n * n)
                d_z[j] = dtr[j] * (hpr[j] - n) * z * (one - z)
            if reset_after:
                dxr = dxp[k, b]
                dx_n = dxr[2 * H:]
                for j in range(H):
                    r, dn = a_r[j], d_n[j]
                    dx_n[j] = dn
                    d_r[j] = dn * axr[j] * r * (one - r)
                    d_n[j] = dn * r
                dxr[:2 * H] = dpr[:2 * H]
        if keep:
            dstates[t, 0] = dt
        if sync.size > 0:
            publish(sync, PROGRESS, T - s)
        if reset_after:
            if gw_ih.size > 0 or gb_ih.size > 0:
                add_weight_grads(fam, live_rows(x[t], lengths, t, xz), dxp[k], gw_ih, gb_ih)
            if gw_hh.size > 0 or gb_hh.size > 0:
                u = masked(hp, mask, uz) if use_mask else hp
                add_weight_grads(fam, live_rows(u, lengths, t, uz), dp, gw_hh, gb_hh)
            matmul_into(fam, wp, wt, dp[:, :3 * H], tmp)
        else:
            matmul_into(fam, wp_n, wt_n, dp[:, 2 * H:3 * H], drh)  # w.r.t. r * u
            for b in range(B):
                if t >= lengths[b]:
                    continue
                ar, hpr, dpr, drr = ga[b], hp[b], dp[b], drh[b]
                if use_mask:
                    mb = mask[b]
                    for j in range(H):
                        r = ar[j]
                        dpr[j] = drr[j] * hpr[j] * mb[j] * r * (one - r)
                        drr[j] = drr[j] * r
                else:
                    for j in range(H):
                        r = ar[j]
                        dpr[j] = drr[j] * hpr[j] * r * (one - r)
                        drr[j] = drr[j] * r
            matmul_into(fam, wp_rz, wt_rz, dp[:, :2 * H], tmp)
            for b in range(B):
                if t < lengths[b]:
                    tb, drr = tmp[b], drh[b]
                    for j in range(H):
                        tb[j] += drr[j]
        for b in range(B):
            dhb = dh[b]
            if t >= lengths[b]:
                dhb[:] = dt[b]
                continue
            tb, ddr = tmp[b], ddir[b]
            if use_mask:
                mb = mask[b]
                for j in range(H):
                    dhb[j] = tb[j] * mb[j] + ddr[j]
            else:
                for j in range(H):
                    dhb[j] = tb[j] + ddr[j]


@njit(cache=True, error_model="numpy", nogil=True)
def gru_forward_units(x, w_ih_t, bias, bhn, h0, w_hh_t, mask, lengths, reverse, use_mask,
                      save, states, gates, aux, xp, pre, u, u0, u1, mine, theirs, finish, fam,
                      sync):
    """One thread's share of ``gru_forward`` (reset_after) when two threads split the hidden
    units: this thread makes r, z, n and h_t of units [u0, u1) at every step from the whole
    h_{t-1}, as ``lstm.lstm_forward_units`` does for the LSTM (the same sync slots ``mine`` /
    ``theirs`` and ``finish``). w_ih_t: (I, 3 Hk), w_hh_t: (H, 3 Hk), bias: (3 Hk,) this
    thread's columns, gate-major (Hk = u1 - u0, I >= 1), packed here; bhn: (H,) b_hn; xp,
    pre: (B, >= padded(3 Hk)), u: (B, H) scratch of this thread. gates (T or 1, B, 3 H) and
    aux (T or 1, B, H) receive these units' values in the layer's layout; the rest as in
    ``gru_forward``."""
    T = states.shape[0]
    B, H = h0.shape
    Hk = u1 - u0
    zero = h0.dtype.type(0.0)
    m = u1 if u0 == 0 else u0  # W_hh^T's rows split at m (see ``units_products``)
    xwp = pack_panels(fam, w_ih_t)
    wp_lo, wp_hi = pack_panels(fam, w_hh_t[:m]), pack_panels(fam, w_hh_t[m:])
    b_r, b_z, b_n, b_hn = bias[:Hk], bias[Hk:2 * Hk], bias[2 * Hk:3 * Hk], bhn[u0:u1]
    x, bias, bhn, h0, mask, states, gates, aux, xp, pre, u = (
        borrow(x), borrow(bias), borrow(bhn), borrow(h0), borrow(mask), borrow(states),
        borrow(gates), borrow(aux), borrow(xp), borrow(pre), borrow(u))  # see views
    hp = h0
    for s in range(T):
        t = T - 1 - s if reverse else s
        k = t if save else 0
        if not units_products(fam, xwp, wp_lo, wp_hi, x[t], hp, mask, use_mask, u, xp, pre, False,
                              m, u0 == 0, s, sync, theirs):
            break
        h, ga, ax = states[t, 0], gates[k], aux[k]
        for b in range(B):
            hr, hpr, axr = h[b, u0:u1], hp[b, u0:u1], ax[b, u0:u1]
            if t >= lengths[b]:
                hr[:] = hpr
                axr[:] = zero
                continue
            pr, xr, ar = pre[b], xp[b], ga[b]
            a_r, a_z, a_n = ar[u0:u1], ar[H + u0:H + u1], ar[2 * H + u0:2 * H + u1]
            p_r, p_z, p_n = pr[:Hk], pr[Hk:2 * Hk], pr[2 * Hk:3 * Hk]
            x_r, x_z, x_n = xr[:Hk], xr[Hk:2 * Hk], xr[2 * Hk:3 * Hk]
            for j in range(Hk):
                a_r[j] = sigmoid_act(p_r[j] + x_r[j] + b_r[j])
            for j in range(Hk):
                a_z[j] = sigmoid_act(p_z[j] + x_z[j] + b_z[j])
            new_state(p_n, b_hn, x_n, b_n, a_r, a_z, a_n, axr, hpr, hr)
        hp = h
        publish(sync, mine, s + 1)
    if finish:
        publish(sync, DONE, 1)
