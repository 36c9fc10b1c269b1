"""Fused LSTM kernels (PyTorch's gates; optional peepholes and coupled input-forget gate).

With pre-activations a_k = x_t W_ik^T + (m * h_{t-1}) W_hk^T + b_ik + b_hk:

    i = sigmoid(a_i + w_ci * c_{t-1}),  f = sigmoid(a_f + w_cf * c_{t-1}),  g = tanh(a_g),
    c_t = f * c_{t-1} + i * g,  o = sigmoid(a_o + w_co * c_t),  h_t = o * tanh(c_t)

(the w_c* peephole terms only when ``use_peep``; ``coupled``: i = 1 - f and the gate blocks are
(f, g, o), G = 3, instead of (i, f, g, o), G = 4). ``m`` is the recurrent-dropout mask (unused
when ``use_mask`` is false). Per-step arrays are feature-major, (H, B) (see ``common``); the
gate math runs over each gate's contiguous (H, B) block as one flat loop. Sequence ``b`` is
processed for time indices ``t < lengths[b]``; at the others its state is held. With
``reverse`` the time indices run from T - 1 down to 0.
"""

from numba import njit

from .common import (
    add_batch_major,
    add_projection,
    hold_inactive,
    matmul_into,
    sigmoid_act,
    tanh_act,
    to_batch_major,
    zero_inactive,
)


@njit(cache=True, error_model="numpy")
def lstm_forward(xp, bias, h0, c0, w_hh, w_hhT, peep, mask, lengths, reverse, coupled, use_peep,
                 use_mask, save, states, gates, hs, cs, pre, u):
    """Run the recurrence.

    xp: (G H, T B) input projection W_ih x^T (column t B + b is x_t of sequence b); bias:
    (G H,) b_ih + b_hh; h0, c0: (H, B); w_hh: (G H, H) and (read instead when B == 1)
    w_hhT = W_hh^T; peep: (3, H B) rows w_ci, w_cf, w_co repeated over the batch (read when
    use_peep); mask: (H, B) (read when use_mask); lengths: (B,) int64.
    Writes states: (T, 2, B, H), h then c after each time index. When save: gates (T, G H, B)
    the gate activations and cs (T, H, B) c_t; else gates is (1, G H, B) and cs (2, H, B)
    scratch. hs: (2, H, B), pre: (G H, B), u: (H, B) scratch.
    """
    T = states.shape[0]
    H, B = h0.shape
    HB = H * B
    GHB = pre.size
    one = h0.dtype.type(1.0)
    if coupled:
        oi, of, og, oo = 0, 0, HB, 2 * HB
    else:
        oi, of, og, oo = 0, HB, 2 * HB, 3 * HB
    wci, wcf, wco = peep[0], peep[1], peep[2]
    shortest = lengths.min()
    pf, uf, mf = pre.reshape(GHB), u.reshape(HB), mask.reshape(mask.size)
    p_i, p_f, p_g, p_o, p_if = (pf[oi:oi + HB], pf[of:of + HB], pf[og:og + HB],
                                pf[oo:oo + HB], pf[:og])
    hp, cp = h0, c0
    for s in range(T):
        t = T - 1 - s if reverse else s
        k = t if save else 0
        src = hp
        if use_mask:
            hpf = hp.reshape(HB)
            for e in range(HB):
                uf[e] = hpf[e] * mf[e]
            src = u
        matmul_into(w_hh, w_hhT, src, pre)
        add_projection(pre, xp, bias, t * B, pre.shape[0])
        h, c = hs[s & 1], cs[t if save else s & 1]
        af = gates[k].reshape(GHB)
        cpf, cf, hf = cp.reshape(HB), c.reshape(HB), h.reshape(HB)
        a_i, a_f, a_g, a_o = af[oi:oi + HB], af[of:of + HB], af[og:og + HB], af[oo:oo + HB]
        if use_peep:
            if not coupled:
                for e in range(HB):
                    a_i[e] = sigmoid_act(p_i[e] + wci[e] * cpf[e])
            for e in range(HB):
                a_f[e] = sigmoid_act(p_f[e] + wcf[e] * cpf[e])
        else:
            # i and f are adjacent blocks: one loop (just f when coupled).
            a_if = af[:og]
            for e in range(og):
                a_if[e] = sigmoid_act(p_if[e])
        if coupled:
            for e in range(HB):
                g = tanh_act(p_g[e])
                a_g[e] = g
                cf[e] = a_f[e] * cpf[e] + (one - a_f[e]) * g
        else:
            for e in range(HB):
                g = tanh_act(p_g[e])
                a_g[e] = g
                cf[e] = a_f[e] * cpf[e] + a_i[e] * g
        if use_peep:
            for e in range(HB):
                o = sigmoid_act(p_o[e] + wco[e] * cf[e])
                a_o[e] = o
                hf[e] = o * tanh_act(cf[e])
        else:
            for e in range(HB):
                o = sigmoid_act(p_o[e])
                a_o[e] = o
                hf[e] = o * tanh_act(cf[e])
        if t >= shortest:
            hold_inactive(h, hp, lengths, t)
            hold_inactive(c, cp, lengths, t)
        to_batch_major(h, states[t, 0])
        to_batch_major(c, states[t, 1])
        hp, cp = h, c


@njit(cache=True, error_model="numpy")
def lstm_backward(g_states, gates, cs, c0, w_hhT, w_hh, peep, mask, lengths, reverse, coupled,
                  use_peep, use_mask, dpre, dh, dc, dpeep, dht, dct, dcu, tmp, keep, dstates):
    """Backpropagate through the recurrence of ``lstm_forward``.

    g_states: (T, 2, B, H) gradient w.r.t. the states (h, c); gates, cs saved by the forward;
    c0: (H, B); w_hhT: (H, G H) = W_hh^T and (read instead when B == 1) w_hh; peep, mask,
    lengths as in the forward. Writes dpre: (T, G H, B), the gradient w.r.t. the gate
    pre-activations (zero past a sequence's end); dh, dc: (H, B), end as the gradients w.r.t.
    h0 and c0; dpeep: (3, H B), the peephole gradient per batch column (when use_peep). dht,
    dct, dcu, tmp: (H, B) scratch. When ``keep``, dstates: (T, 2, H, B) receives the total
    gradients dL/dh_t, dL/dc_t (through every later step as well as g_states).
    """
    T = g_states.shape[0]
    H, B = dh.shape
    HB = H * B
    one = dh.dtype.type(1.0)
    zero = dh.dtype.type(0.0)
    if coupled:
        oi, of, og, oo = 0, 0, HB, 2 * HB
    else:
        oi, of, og, oo = 0, HB, 2 * HB, 3 * HB
    wci, wcf, wco = peep[0], peep[1], peep[2]
    dwci, dwcf, dwco = dpeep[0], dpeep[1], dpeep[2]
    shortest = lengths.min()
    dh[:, :] = zero
    dc[:, :] = zero
    if use_peep:
        dpeep[:, :] = zero
    dhf, dcf, dhtf, dctf, dcuf, tf, mf = (dh.reshape(HB), dc.reshape(HB), dht.reshape(HB),
                                          dct.reshape(HB), dcu.reshape(HB), tmp.reshape(HB),
                                          mask.reshape(mask.size))
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        if s == 0:
            cp = c0
        else:
            cp = cs[t + 1 if reverse else t - 1]
        add_batch_major(dht, dh, g_states[t, 0])
        add_batch_major(dct, dc, g_states[t, 1])
        if keep:
            dstates[t, 0] = dht
            dstates[t, 1] = dct
        dp = dpre[t]
        af, dpf = gates[t].reshape(dp.size), dp.reshape(dp.size)
        cpf, cf = cp.reshape(HB), cs[t].reshape(HB)
        a_i, a_f, a_g, a_o = af[oi:oi + HB], af[of:of + HB], af[og:og + HB], af[oo:oo + HB]
        d_i, d_f, d_g, d_o = dpf[oi:oi + HB], dpf[of:of + HB], dpf[og:og + HB], dpf[oo:oo + HB]
        if use_peep:
            for e in range(HB):
                tc = tanh_act(cf[e])  # recomputed: cheaper than storing it
                o = a_o[e]
                do = dhtf[e] * tc * o * (one - o)
                d_o[e] = do
                dcuf[e] = dctf[e] + dhtf[e] * o * (one - tc * tc) + do * wco[e]
        else:
            for e in range(HB):
                tc = tanh_act(cf[e])
                o = a_o[e]
                d_o[e] = dhtf[e] * tc * o * (one - o)
                dcuf[e] = dctf[e] + dhtf[e] * o * (one - tc * tc)
        if coupled:
            for e in range(HB):
                f, g = a_f[e], a_g[e]
                d_f[e] = dcuf[e] * (cpf[e] - g) * f * (one - f)
                d_g[e] = dcuf[e] * (one - f) * (one - g * g)
        else:
            for e in range(HB):
                i, g = a_i[e], a_g[e]
                d_i[e] = dcuf[e] * g * i * (one - i)
                d_g[e] = dcuf[e] * i * (one - g * g)
            if use_peep:
                for e in range(HB):
                    f = a_f[e]
                    d_f[e] = dcuf[e] * cpf[e] * f * (one - f)
            else:  # the common case: the cell gradient's carry in the same pass
                for e in range(HB):
                    f = a_f[e]
                    d_f[e] = dcuf[e] * cpf[e] * f * (one - f)
                    dcf[e] = dcuf[e] * f
        if t >= shortest:
            zero_inactive(dp, lengths, t)  # (G H, B) view: every gate block of column b
        if use_peep:
            if coupled:
                for e in range(HB):
                    dcf[e] = dcuf[e] * a_f[e] + d_f[e] * wcf[e]
            else:
                for e in range(HB):
                    dcf[e] = dcuf[e] * a_f[e] + d_i[e] * wci[e] + d_f[e] * wcf[e]
                for e in range(HB):
                    dwci[e] += d_i[e] * cpf[e]
            for e in range(HB):
                dwcf[e] += d_f[e] * cpf[e]
            for e in range(HB):
                dwco[e] += d_o[e] * cf[e]
        elif coupled:
            for e in range(HB):
                dcf[e] = dcuf[e] * a_f[e]
        matmul_into(w_hhT, w_hh, dp, tmp)
        if use_mask:
            for e in range(HB):
                dhf[e] = tf[e] * mf[e]
        else:
            dhf[:] = tf
        if t >= shortest:
            hold_inactive(dh, dht, lengths, t)
            hold_inactive(dc, dct, lengths, t)
