"""Fused GRU kernels (PyTorch's gates r, z, n; both placements of the reset gate).

With u = m * h_{t-1} (m the recurrent-dropout mask; u = h_{t-1} when ``use_mask`` is false):

    r = sigmoid(x_t W_ir^T + b_ir + u W_hr^T + b_hr),  z = sigmoid(... W_iz, W_hz ...)
    reset_after:      n = tanh(x_t W_in^T + b_in + r * (u W_hn^T + b_hn))
    not reset_after:  n = tanh(x_t W_in^T + b_in + (r * u) W_hn^T + b_hn)
    h_t = (1 - z) * n + z * h_{t-1}

Per-step arrays are feature-major, (H, B) (see ``common``). Sequence ``b`` is processed for
time indices ``t < lengths[b]``; at the others its state is held. With ``reverse`` the time
indices run from T - 1 down to 0.
"""

from numba import njit

from .common import (
    add_batch_major,
    add_projection,
    hold_inactive,
    load_projection,
    matmul_into,
    sigmoid_act,
    tanh_act,
    to_batch_major,
    zero_inactive,
)


@njit(cache=True, error_model="numpy")
def gru_forward(xp, bias, bhn, h0, w_hh, w_rz, w_n, w_hhT, w_rzT, w_nT, mask, lengths,
                reverse, reset_after, use_mask, save, states, gates, hs, aux, pre, u, xn, hn):
    """Run the recurrence.

    xp: (3 H, T B) input projection W_ih x^T (column t B + b is x_t of sequence b); bias:
    (3 H,) = (b_ir + b_hr, b_iz + b_hz, b_in), plus b_hn when not reset_after; bhn: (H B,)
    b_hn repeated over the batch (read when reset_after); h0: (H, B); reset_after: w_hh
    (3 H, H); otherwise w_rz (2 H, H) and w_n (H, H), the row blocks of W_hh; w_hhT, w_rzT,
    w_nT their transposes, read (instead) when B == 1 (the unused ones may be empty). mask:
    (H, B) (read when use_mask); lengths: (B,) int64.
    Writes states: (T, 1, B, H). When save: gates (T, 3 H, B) the gate activations r, z, n;
    hs (T, H, B) h_t; aux (T, H, B) = u W_hn^T + b_hn (reset_after) or r * u (not); else
    gates, aux are (1, ., B) and hs (2, H, B) scratch. pre: (3 H, B), u, xn, hn: (H, B)
    scratch.
    """
    T = states.shape[0]
    H, B = h0.shape
    HB = H * B
    one = h0.dtype.type(1.0)
    shortest = lengths.min()
    pf, uf, mf = pre.reshape(3 * HB), u.reshape(HB), mask.reshape(mask.size)
    xnf, hnf = xn.reshape(HB), hn.reshape(HB)
    pre_rz = pf[:2 * HB].reshape((2 * H, B))
    p_rz, p_n = pf[:2 * HB], pf[2 * HB:]
    hp = h0
    for s in range(T):
        t = T - 1 - s if reverse else s
        k = t if save else 0
        src = hp
        if use_mask:
            hpf = hp.reshape(HB)
            for e in range(HB):
                uf[e] = hpf[e] * mf[e]
            src = u
        if reset_after:
            matmul_into(w_hh, w_hhT, src, pre)
        else:
            matmul_into(w_rz, w_rzT, src, pre_rz)
        add_projection(pre, xp, bias, t * B, 2 * H)
        load_projection(xn, xp, bias, 2 * H, t * B)
        af, ax = gates[k].reshape(3 * HB), aux[k]
        a_rz, a_r, a_z, a_n = af[:2 * HB], af[:HB], af[HB:2 * HB], af[2 * HB:]
        axf = ax.reshape(HB)
        for e in range(2 * HB):
            a_rz[e] = sigmoid_act(p_rz[e])
        if reset_after:
            for e in range(HB):
                v = p_n[e] + bhn[e]
                axf[e] = v
                a_n[e] = tanh_act(xnf[e] + a_r[e] * v)
        else:
            srcf = src.reshape(HB)
            for e in range(HB):
                axf[e] = a_r[e] * srcf[e]
            matmul_into(w_n, w_nT, ax, hn)
            for e in range(HB):
                a_n[e] = tanh_act(xnf[e] + hnf[e])
        h = hs[t if save else s & 1]
        hf, hpf = h.reshape(HB), hp.reshape(HB)
        for e in range(HB):
            z = a_z[e]
            hf[e] = (one - z) * a_n[e] + z * hpf[e]
        if t >= shortest:
            hold_inactive(h, hp, lengths, t)
        to_batch_major(h, states[t, 0])
        hp = h


@njit(cache=True, error_model="numpy")
def gru_backward(g_states, gates, hs, h0, aux, w_hhT, w_rzT, w_nT, w_hh, w_rz, w_n, mask, lengths,
                 reverse, reset_after, use_mask, dpre, dxn, dh, dt, ddir, tmp, drh, uu, keep,
                 dstates):
    """Backpropagate through the recurrence of ``gru_forward``.

    g_states: (T, 1, B, H) gradient w.r.t. the states; gates, hs, aux saved by the forward;
    h0: (H, B); reset_after: w_hhT (H, 3 H) = W_hh^T; otherwise w_rzT (H, 2 H) and w_nT (H, H),
    the transposed row blocks; w_hh, w_rz, w_n the untransposed ones, read (instead) when B == 1
    (all contiguous; the unused ones may be empty). Writes dpre: (T, 3 H, B), the gradient
    w.r.t. u W_hh^T + b_hh (r, z, n blocks; zero past a sequence's end) which, when not
    reset_after, is also the gradient w.r.t. the input projection W_ih x^T + b_ih; when
    reset_after, dxn: (T, H, B) the input projection's n block (its r, z blocks are dpre's);
    dh: (H, B), ends as the gradient w.r.t. h0. dt, ddir, tmp, drh, uu: (H, B) scratch.
    When ``keep``, dstates: (T, 1, H, B) receives the total gradients dL/dh_t.
    """
    T = g_states.shape[0]
    H, B = dh.shape
    HB = H * B
    one = dh.dtype.type(1.0)
    zero = dh.dtype.type(0.0)
    shortest = lengths.min()
    dhf, dtf, ddirf, tf, drhf, uf, mf = (dh.reshape(HB), dt.reshape(HB), ddir.reshape(HB),
                                         tmp.reshape(HB), drh.reshape(HB), uu.reshape(HB),
                                         mask.reshape(mask.size))
    dh[:, :] = zero
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        if s == 0:
            hp = h0
        else:
            hp = hs[t + 1 if reverse else t - 1]
        add_batch_major(dt, dh, g_states[t, 0])
        if keep:
            dstates[t, 0] = dt
        dp = dpre[t]
        dpf = dp.reshape(3 * HB)
        dp_rz = dpf[:2 * HB].reshape((2 * H, B))
        d_r, d_z, d_n = dpf[:HB], dpf[HB:2 * HB], dpf[2 * HB:]
        af, hpf, axf = gates[t].reshape(3 * HB), hp.reshape(HB), aux[t].reshape(HB)
        a_r, a_z, a_n = af[:HB], af[HB:2 * HB], af[2 * HB:]
        for e in range(HB):
            ddirf[e] = dtf[e] * a_z[e]
        # d_n first holds the gradient w.r.t. n's pre-activation
        for e in range(HB):
            z, n = a_z[e], a_n[e]
            d_n[e] = dtf[e] * (one - z) * (one - n * n)
            d_z[e] = dtf[e] * (hpf[e] - n) * z * (one - z)
        if reset_after:
            dx = dxn[t]
            dxf = dx.reshape(HB)
            for e in range(HB):
                r, dn = a_r[e], d_n[e]
                dxf[e] = dn
                d_r[e] = dn * axf[e] * r * (one - r)
                d_n[e] = dn * r
            if t >= shortest:
                zero_inactive(dp, lengths, t)
                zero_inactive(dx, lengths, t)
            matmul_into(w_hhT, w_hh, dp, tmp)
        else:
            if t >= shortest:
                zero_inactive(dp, lengths, t)
            matmul_into(w_nT, w_n, dpf[2 * HB:].reshape((H, B)), drh)  # w.r.t. r * u
            if use_mask:
                for e in range(HB):
                    uf[e] = hpf[e] * mf[e]
            else:
                uf[:] = hpf
            for e in range(HB):
                r, dr = a_r[e], drhf[e]
                d_r[e] = dr * uf[e] * r * (one - r)
                drhf[e] = dr * r
            if t >= shortest:
                zero_inactive(dp_rz, lengths, t)
            matmul_into(w_rzT, w_rz, dp_rz, tmp)
            for e in range(HB):
                tf[e] += drhf[e]
        if use_mask:
            for e in range(HB):
                dhf[e] = tf[e] * mf[e] + ddirf[e]
        else:
            for e in range(HB):
                dhf[e] = tf[e] + ddirf[e]
        if t >= shortest:
            hold_inactive(dh, dt, lengths, t)
