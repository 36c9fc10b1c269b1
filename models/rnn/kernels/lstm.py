"""Fused LSTM kernels (PyTorch's gates; optional peepholes and coupled input-forget gate).

With pre-activations a_k = x_t W_ik^T + (m * h_{t-1}) W_hk^T + b_ik + b_hk:

    i = sigmoid(a_i + w_ci * c_{t-1}),  f = sigmoid(a_f + w_cf * c_{t-1}),  g = tanh(a_g),
    c_t = f * c_{t-1} + i * g,  o = sigmoid(a_o + w_co * c_t),  h_t = o * tanh(c_t)

(the w_c* peephole terms only when ``use_peep``; ``coupled``: i = 1 - f and the gate blocks are
(f, g, o), G = 3, instead of (i, f, g, o), G = 4). ``m`` is the recurrent-dropout mask (ones
when ``use_mask`` is false). Sequence ``b`` is processed for time indices ``t < lengths[b]``; at
the others its state is held. With ``reverse`` the time indices run from T - 1 down to 0.
"""

import numpy as np
from numba import njit

from .common import sigmoid_act, tanh_act


@njit(cache=True, error_model="numpy")
def lstm_forward(xp, bias, h0, c0, w_hhT, peep, mask, lengths, reverse, coupled, use_peep,
                 use_mask, save, states, gates, hin, tanhc, hh):
    """Run the recurrence.

    xp: (T, B, G H) input projection x_t W_ih^T; bias: (G H,) b_ih + b_hh; h0, c0: (B, H);
    w_hhT: (H, G H) W_hh transposed (contiguous); peep: (3, H) rows w_ci, w_cf, w_co (read when
    use_peep); mask: (B, H) (read when use_mask); lengths: (B,) int64.
    Writes states: (T, 2, B, H), h then c after each time index. When save: gates (T, B, G H)
    the gate activations, hin (T, B, H) the masked h_{t-1} that met W_hh at index t, tanhc
    (T, B, H) tanh(c_t); else these are (1, B, .) scratch. hh: (B, G H) scratch.
    """
    T, B, GH = xp.shape
    H = h0.shape[1]
    one = h0.dtype.type(1.0)
    if coupled:
        oi, of, og, oo = 0, 0, H, 2 * H
    else:
        oi, of, og, oo = 0, H, 2 * H, 3 * H
    wci, wcf, wco = peep[0], peep[1], peep[2]
    hp, cp = h0, c0
    for s in range(T):
        t = T - 1 - s if reverse else s
        k = t if save else 0
        hi = hin[k]
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
        c = states[t, 1]
        for b in range(B):
            hb, cb, cpb = h[b], c[b], cp[b]
            if t >= lengths[b]:
                hb[:] = hp[b]
                cb[:] = cpb
                continue
            a, pre, xr = gates[k, b], hh[b], xp[t, b]
            a_i, a_f, a_g, a_o = a[oi:oi + H], a[of:of + H], a[og:og + H], a[oo:oo + H]
            p_i, p_f, p_g, p_o = pre[oi:oi + H], pre[of:of + H], pre[og:og + H], pre[oo:oo + H]
            x_i, x_f, x_g, x_o = xr[oi:oi + H], xr[of:of + H], xr[og:og + H], xr[oo:oo + H]
            b_i, b_f, b_g, b_o = (bias[oi:oi + H], bias[of:of + H], bias[og:og + H],
                                  bias[oo:oo + H])
            if not coupled:
                if use_peep:
                    for j in range(H):
                        a_i[j] = sigmoid_act(p_i[j] + x_i[j] + b_i[j] + wci[j] * cpb[j])
                else:
                    for j in range(H):
                        a_i[j] = sigmoid_act(p_i[j] + x_i[j] + b_i[j])
            if use_peep:
                for j in range(H):
                    a_f[j] = sigmoid_act(p_f[j] + x_f[j] + b_f[j] + wcf[j] * cpb[j])
            else:
                for j in range(H):
                    a_f[j] = sigmoid_act(p_f[j] + x_f[j] + b_f[j])
            for j in range(H):
                a_g[j] = tanh_act(p_g[j] + x_g[j] + b_g[j])
            if coupled:
                for j in range(H):
                    cb[j] = a_f[j] * cpb[j] + (one - a_f[j]) * a_g[j]
            else:
                for j in range(H):
                    cb[j] = a_f[j] * cpb[j] + a_i[j] * a_g[j]
            if use_peep:
                for j in range(H):
                    a_o[j] = sigmoid_act(p_o[j] + x_o[j] + b_o[j] + wco[j] * cb[j])
            else:
                for j in range(H):
                    a_o[j] = sigmoid_act(p_o[j] + x_o[j] + b_o[j])
            tcb = tanhc[k, b]
            for j in range(H):
                tcb[j] = tanh_act(cb[j])
            for j in range(H):
                hb[j] = a_o[j] * tcb[j]
        hp, cp = h, c


@njit(cache=True, error_model="numpy")
def lstm_backward(g_states, states, h0, c0, gates, tanhc, w_hh, peep, mask, lengths, reverse,
                  coupled, use_peep, use_mask, dpre, dh, dc, dpeep, dcur, tmp):
    """Backpropagate through the recurrence of ``lstm_forward``.

    g_states: (T, 2, B, H) gradient w.r.t. the states; states, h0, c0, gates, tanhc, peep, mask,
    lengths as in (and saved by) the forward; w_hh: (G H, H). Writes dpre: (T, B, G H), the
    gradient w.r.t. the gate pre-activations (zero where a sequence is past its end); dh, dc:
    (B, H), end as the gradients w.r.t. h0 and c0; dpeep: (3, H), the peephole gradient (when
    use_peep); dcur, tmp: (B, H) scratch.
    """
    T, B, GH = dpre.shape
    H = h0.shape[1]
    one = h0.dtype.type(1.0)
    zero = h0.dtype.type(0.0)
    if coupled:
        oi, of, og, oo = 0, 0, H, 2 * H
    else:
        oi, of, og, oo = 0, H, 2 * H, 3 * H
    wci, wcf, wco = peep[0], peep[1], peep[2]
    dwci, dwcf, dwco = dpeep[0], dpeep[1], dpeep[2]
    dh[:, :] = zero
    dc[:, :] = zero
    if use_peep:
        dpeep[:, :] = zero
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        if s == 0:
            cp = c0
        else:
            cp = states[t + 1 if reverse else t - 1, 1]
        c = states[t, 1]
        gh = g_states[t, 0]
        gc = g_states[t, 1]
        dp_t = dpre[t]
        for b in range(B):
            dhb, dcb, ghb, gcb = dh[b], dc[b], gh[b], gc[b]
            if t >= lengths[b]:
                dp_t[b, :] = zero
                for j in range(H):
                    dhb[j] += ghb[j]
                for j in range(H):
                    dcb[j] += gcb[j]
                continue
            a, dp, cpb, cb, tcb, dcu = gates[t, b], dp_t[b], cp[b], c[b], tanhc[t, b], dcur[b]
            a_i, a_f, a_g, a_o = a[oi:oi + H], a[of:of + H], a[og:og + H], a[oo:oo + H]
            d_i, d_f, d_g, d_o = dp[oi:oi + H], dp[of:of + H], dp[og:og + H], dp[oo:oo + H]
            for j in range(H):
                o = a_o[j]
                d_o[j] = (dhb[j] + ghb[j]) * tcb[j] * o * (one - o)
            if use_peep:
                for j in range(H):
                    dcu[j] = (dcb[j] + gcb[j] + (dhb[j] + ghb[j]) * a_o[j] *
                              (one - tcb[j] * tcb[j]) + d_o[j] * wco[j])
            else:
                for j in range(H):
                    dcu[j] = (dcb[j] + gcb[j] + (dhb[j] + ghb[j]) * a_o[j] *
                              (one - tcb[j] * tcb[j]))
            if coupled:
                for j in range(H):
                    f = a_f[j]
                    d_f[j] = dcu[j] * (cpb[j] - a_g[j]) * f * (one - f)
                for j in range(H):
                    g = a_g[j]
                    d_g[j] = dcu[j] * (one - a_f[j]) * (one - g * g)
            else:
                for j in range(H):
                    i = a_i[j]
                    d_i[j] = dcu[j] * a_g[j] * i * (one - i)
                for j in range(H):
                    f = a_f[j]
                    d_f[j] = dcu[j] * cpb[j] * f * (one - f)
                for j in range(H):
                    g = a_g[j]
                    d_g[j] = dcu[j] * a_i[j] * (one - g * g)
            if use_peep:
                if coupled:
                    for j in range(H):
                        dcb[j] = dcu[j] * a_f[j] + d_f[j] * wcf[j]
                else:
                    for j in range(H):
                        dcb[j] = dcu[j] * a_f[j] + d_i[j] * wci[j] + d_f[j] * wcf[j]
                    for j in range(H):
                        dwci[j] += d_i[j] * cpb[j]
                for j in range(H):
                    dwcf[j] += d_f[j] * cpb[j]
                for j in range(H):
                    dwco[j] += d_o[j] * cb[j]
            else:
                for j in range(H):
                    dcb[j] = dcu[j] * a_f[j]
        np.dot(dp_t, w_hh, tmp)
        for b in range(B):
            if t >= lengths[b]:
                continue
            dhb = dh[b]
            if use_mask:
                for j in range(H):
                    dhb[j] = tmp[b, j] * mask[b, j]
            else:
                dhb[:] = tmp[b]
