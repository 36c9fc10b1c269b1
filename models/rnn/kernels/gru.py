"""Fused GRU kernels (PyTorch's gates r, z, n; both placements of the reset gate).

With u = m * h_{t-1} (m the recurrent-dropout mask, ones when ``use_mask`` is false):

    r = sigmoid(x_t W_ir^T + b_ir + u W_hr^T + b_hr),  z = sigmoid(... W_iz, W_hz ...)
    reset_after:      n = tanh(x_t W_in^T + b_in + r * (u W_hn^T + b_hn))
    not reset_after:  n = tanh(x_t W_in^T + b_in + (r * u) W_hn^T + b_hn)
    h_t = (1 - z) * n + z * h_{t-1}

Sequence ``b`` is processed for time indices ``t < lengths[b]``; at the others its state is
held. With ``reverse`` the time indices run from T - 1 down to 0.
"""

import numpy as np
from numba import njit

from .common import sigmoid_act, tanh_act


@njit(cache=True, error_model="numpy")
def gru_forward(xp, bias, bhn, h0, w_hhT, w_rzT, w_nT, mask, lengths, reverse, reset_after,
                use_mask, save, states, gates, hin, aux, work):
    """Run the recurrence.

    xp: (T, B, 3 H) input projection x_t W_ih^T; bias: (3 H,) = (b_ir + b_hr, b_iz + b_hz,
    b_in); bhn: (H,) b_hn; h0: (B, H); reset_after: w_hhT (H, 3 H) = W_hh^T; otherwise
    w_rzT (H, 2 H) and w_nT (H, H), the transposed row blocks of W_hh (all contiguous; the
    unused ones may be empty). mask: (B, H) (read when use_mask); lengths: (B,) int64.
    Writes states: (T, 1, B, H). When save: gates (T, B, 3 H) the gate activations r, z, n;
    hin (T, B, H) u at index t; aux (T, B, H) = u W_hn^T + b_hn (reset_after) or r * u (not);
    else these are (1, B, .) scratch. work: (B * 3 H,) scratch.
    """
    T, B, G3 = xp.shape
    H = h0.shape[1]
    one = h0.dtype.type(1.0)
    zero = h0.dtype.type(0.0)
    hh = work.reshape((B, 3 * H))
    hrz = work[:B * 2 * H].reshape((B, 2 * H))
    hn = work[B * 2 * H:].reshape((B, H))
    hp = h0
    for s in range(T):
        t = T - 1 - s if reverse else s
        k = t if save else 0
        hi = hin[k]
        if use_mask:
            for b in range(B):
                for j in range(H):
                    hi[b, j] = hp[b, j] * mask[b, j]
            u = hi
        else:
            if save:
                hi[:, :] = hp
            u = hp
        h = states[t, 0]
        ax = aux[k]
        if reset_after:
            np.dot(u, w_hhT, hh)
        else:
            np.dot(u, w_rzT, hrz)
        for b in range(B):
            if t >= lengths[b]:
                if not reset_after:
                    ax[b, :] = zero
                continue
            a, xr = gates[k, b], xp[t, b]
            pre = hh[b] if reset_after else hrz[b]
            a_r, a_z = a[:H], a[H:2 * H]
            for j in range(H):
                a_r[j] = sigmoid_act(pre[j] + xr[j] + bias[j])
            for j in range(H):
                a_z[j] = sigmoid_act(pre[H + j] + xr[H + j] + bias[H + j])
            axb = ax[b]
            if reset_after:
                a_n, p_n, x_n, b_n = a[2 * H:], pre[2 * H:], xr[2 * H:], bias[2 * H:]
                for j in range(H):
                    axb[j] = p_n[j] + bhn[j]
                for j in range(H):
                    a_n[j] = tanh_act(x_n[j] + b_n[j] + a_r[j] * axb[j])
            else:
                ub = u[b]
                for j in range(H):
                    axb[j] = a_r[j] * ub[j]
        if not reset_after:
            np.dot(ax, w_nT, hn)
            for b in range(B):
                if t >= lengths[b]:
                    continue
                a, xr, hnb = gates[k, b], xp[t, b], hn[b]
                a_n, x_n, b_n = a[2 * H:], xr[2 * H:], bias[2 * H:]
                for j in range(H):
                    a_n[j] = tanh_act(x_n[j] + b_n[j] + hnb[j] + bhn[j])
        for b in range(B):
            hb, hpb = h[b], hp[b]
            if t >= lengths[b]:
                hb[:] = hpb
                continue
            a = gates[k, b]
            a_z, a_n = a[H:2 * H], a[2 * H:]
            for j in range(H):
                hb[j] = (one - a_z[j]) * a_n[j] + a_z[j] * hpb[j]
        hp = h


@njit(cache=True, error_model="numpy")
def gru_backward(g_states, states, h0, gates, hin, aux, w_hh, w_rz, w_n, mask, lengths,
                 reverse, reset_after, use_mask, dxp, dhh, dh, work):
    """Backpropagate through the recurrence of ``gru_forward``.

    g_states: (T, 1, B, H) gradient w.r.t. the states; states, h0, gates, hin, aux, mask, lengths
    as in (and saved by) the forward; w_hh: (3 H, H); w_rz: (2 H, H) and w_n: (H, H), its row
    blocks (contiguous). Writes dxp: (T, B, 3 H), the gradient w.r.t. the input projection
    x_t W_ih^T + b_ih (zero where a sequence is past its end); when reset_after, dhh:
    (T, B, 3 H), the gradient w.r.t. u W_hh^T + b_hh (else dxp is also that, and dhh is unused);
    dh: (B, H), ends as the gradient w.r.t. h0; work: (B * 6 H,) scratch.
    """
    T, B, G3 = dxp.shape
    H = h0.shape[1]
    one = h0.dtype.type(1.0)
    zero = h0.dtype.type(0.0)
    BH = B * H
    ddir = work[:BH].reshape((B, H))
    tmp = work[BH:2 * BH].reshape((B, H))
    drh = work[2 * BH:3 * BH].reshape((B, H))
    dpn = work[3 * BH:4 * BH].reshape((B, H))
    drz = work[4 * BH:6 * BH].reshape((B, 2 * H))
    dh[:, :] = zero
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        if s == 0:
            hp = h0
        else:
            hp = states[t + 1 if reverse else t - 1, 0]
        gh = g_states[t, 0]
        dx_t = dxp[t]
        for b in range(B):
            dhb, ghb = dh[b], gh[b]
            if t >= lengths[b]:
                dx_t[b, :] = zero
                if reset_after:
                    dhh[t, b, :] = zero
                else:
                    dpn[b, :] = zero
                for j in range(H):
                    dhb[j] += ghb[j]
                continue
            a, dx, hpb, dirb = gates[t, b], dx_t[b], hp[b], ddir[b]
            a_r, a_z, a_n = a[:H], a[H:2 * H], a[2 * H:]
            dx_r, dx_z, dx_n = dx[:H], dx[H:2 * H], dx[2 * H:]
            for j in range(H):
                z, n = a_z[j], a_n[j]
                dx_n[j] = (dhb[j] + ghb[j]) * (one - z) * (one - n * n)
            for j in range(H):
                dirb[j] = (dhb[j] + ghb[j]) * a_z[j]
            for j in range(H):
                z = a_z[j]
                dx_z[j] = (dhb[j] + ghb[j]) * (hpb[j] - a_n[j]) * z * (one - z)
            if reset_after:
                axb = aux[t, b]
                for j in range(H):
                    r = a_r[j]
                    dx_r[j] = dx_n[j] * axb[j] * r * (one - r)
                dhr = dhh[t, b]
                dhr[:2 * H] = dx[:2 * H]
                dh_n = dhr[2 * H:]
                for j in range(H):
                    dh_n[j] = dx_n[j] * a_r[j]
            else:
                dpn[b, :] = dx_n
        if reset_after:
            np.dot(dhh[t], w_hh, tmp)
        else:
            np.dot(dpn, w_n, drh)
            hi = hin[t]
            for b in range(B):
                drzb = drz[b]
                if t >= lengths[b]:
                    drzb[:] = zero
                    continue
                a, dx, drhb, hib = gates[t, b], dx_t[b], drh[b], hi[b]
                a_r, dx_r = a[:H], dx[:H]
                for j in range(H):
                    r = a_r[j]
                    dx_r[j] = drhb[j] * hib[j] * r * (one - r)
                drzb[:] = dx[:2 * H]
                for j in range(H):
                    drhb[j] = drhb[j] * a_r[j]
            np.dot(drz, w_rz, tmp)
            for b in range(B):
                if t < lengths[b]:
                    for j in range(H):
                        tmp[b, j] += drh[b, j]
        for b in range(B):
            if t >= lengths[b]:
                continue
            dhb, dirb, tb = dh[b], ddir[b], tmp[b]
            if use_mask:
                mb = mask[b]
                for j in range(H):
                    dhb[j] = tb[j] * mb[j] + dirb[j]
            else:
                for j in range(H):
                    dhb[j] = tb[j] + dirb[j]
