"""Fused LSTM kernels (PyTorch's gates; optional peepholes and coupled input-forget gate).

With pre-activations a_k = x_t W_ik^T + (m * h_{t-1}) W_hk^T + b_ik + b_hk:

    i = sigmoid(a_i + w_ci * c_{t-1}),  f = sigmoid(a_f + w_cf * c_{t-1}),  g = tanh(a_g),
    c_t = f * c_{t-1} + i * g,  o = sigmoid(a_o + w_co * c_t),  h_t = o * tanh(c_t)

(the w_c* peephole terms only when ``use_peep``; ``coupled``: i = 1 - f and the gate blocks are
(f, g, o), G = 3, instead of (i, f, g, o), G = 4). ``m`` is the recurrent-dropout mask (unused
when ``use_mask`` is false). Per-step arrays are batch-major, (B, .) (see ``common``): the gate
math runs over each sequence's row, one loop per gate block. Sequence ``b`` is processed for
time indices ``t < lengths[b]``; at the others its state is held (and its gradients pass
through). With ``reverse`` the time indices run from T - 1 down to 0.
"""

from numba import njit

from .common import (
    add_step_weight_grads,
    carry_back,
    masked,
    matmul_into,
    sigmoid_act,
    tanh_act,
    units_products,
)
from .packed import pack_panels
from .sync import DONE, PROGRESS, SIDE_STEPS, publish, wait_for
from .views import borrow


@njit(cache=True, error_model="numpy", nogil=True)
def lstm_forward(x, xwp, xwt, bias, h0, c0, wp, wt, peep, mask, lengths, reverse, coupled,
                 use_peep, use_mask, save, states, gates, pre, u, xp_all, split, fam, sync):
    """Run the recurrence.

    x: (T, B, I); xwp, xwt: W_ih^T packed / itself and wp, wt the same for W_hh^T (see
    ``matmul_into``); bias: (G H,) b_ih + b_hh; h0, c0: (B, H); peep:
    (3, H) rows w_ci, w_cf, w_co (read when use_peep); mask: (B, H) (read when use_mask);
    lengths: (B,) int64. Writes states: (T, 2, B, H), h then c after each time index; when
    save, gates: (T, B, G H) the gate activations (rows of held sequences are not written),
    else gates is (1, B, G H) scratch. pre: (B, >= G H), u: (B, H) scratch. With a
    non-empty ``sync`` a side thread writes x_t W_ih^T into xp_all (T, B, >= G H) (see
    ``side.input_products``): each step waits for it and adds h_{t-1} W_hh^T there. With
    ``split``, xwp and wp hold only the first columns of W_ih^T, W_hh^T: the worker makes the
    others' products into ``pre`` (``side.product_columns``); each step waits for them, and
    publishes PROGRESS once h_t is written.
    """
    T = states.shape[0]
    B, H = h0.shape
    GH = gates.shape[2]
    one = h0.dtype.type(1.0)
    if coupled:
        oi, of, og, oo = 0, 0, H, 2 * H
    else:
        oi, of, og, oo = 0, H, 2 * H, 3 * H
    # The time loop takes ~10 views per row: of borrowed arrays, they cost no reference counts
    # (see ``views``).
    x, h0, c0, states, gates, pre, u, xp_all, bias, peep, mask = (
        borrow(x), borrow(h0), borrow(c0), borrow(states), borrow(gates), borrow(pre),
        borrow(u), borrow(xp_all), borrow(bias), borrow(peep), borrow(mask))
    wci, wcf, wco = peep[0], peep[1], peep[2]
    hp, cp = h0, c0
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
        h, c = states[t, 0], states[t, 1]
        ga = gates[t if save else 0]
        for b in range(B):
            if t >= lengths[b]:
                h[b] = hp[b]
                c[b] = cp[b]
                continue
            ar, pr = ga[b], pre[b]
            for m in range(GH):
                ar[m] = pr[m] + bias[m]
            cpr, cr, hr = cp[b], c[b], h[b]
            a_i, a_f, a_g, a_o = ar[oi:oi + H], ar[of:of + H], ar[og:og + H], ar[oo:oo + H]
            if use_peep:
                if not coupled:
                    for j in range(H):
                        a_i[j] = sigmoid_act(a_i[j] + wci[j] * cpr[j])
                for j in range(H):
                    a_f[j] = sigmoid_act(a_f[j] + wcf[j] * cpr[j])
            else:
                # i and f are adjacent blocks: one loop (just f when coupled).
                a_if = ar[:og]
                for m in range(og):
                    a_if[m] = sigmoid_act(a_if[m])
            if coupled:
                for j in range(H):
                    g = tanh_act(a_g[j])
                    a_g[j] = g
                    cr[j] = a_f[j] * cpr[j] + (one - a_f[j]) * g
            else:
                for j in range(H):
                    g = tanh_act(a_g[j])
                    a_g[j] = g
                    cr[j] = a_f[j] * cpr[j] + a_i[j] * g
            if use_peep:
                for j in range(H):
                    o = sigmoid_act(a_o[j] + wco[j] * cr[j])
                    a_o[j] = o
                    hr[j] = o * tanh_act(cr[j])
            else:
                for j in range(H):
                    o = sigmoid_act(a_o[j])
                    a_o[j] = o
                    hr[j] = o * tanh_act(cr[j])
        hp, cp = h, c
        if split:
            publish(sync, PROGRESS, s + 1)


@njit(cache=True, error_model="numpy", nogil=True)
def lstm_backward(g_states, gates, states, x, h0, c0, wp, wt, peep, mask, lengths, reverse,
                  coupled, use_peep, use_mask, dpre, gw_ih, gw_hh, gb, dh, dc, dpeep, dht, dct,
                  dcu, tmp, xz, uz, keep, dstates, fam, sync):
    """Backpropagate through the recurrence of ``lstm_forward``.

    g_states: (T, 2, B, H) gradient w.r.t. the states (h, c); gates, states saved by the
    forward; x: (T, B, I); h0, c0: (B, H); wp, wt: W_hh packed / itself (see
    ``matmul_into``); peep, mask, lengths as in the forward. Writes dpre: (T, B, >= G H), the
    gradient w.r.t. the gate pre-activations (zero past a sequence's end; the columns past
    G H are left alone), or only the current step's when dpre is (1, B, .). Unless they are
    empty, gw_ih (I, N') += x_t^T dpre_t, gw_hh (H, N') += (m * h_{t-1})^T dpre_t and
    gb (N',) += dpre_t's column sums at each step, N' = dpre.shape[2] (see
    ``common.add_weight_grads``). dh, dc: (B, H), end as the gradients w.r.t. h0 and c0;
    dpeep: (3, H), the peephole gradient (when use_peep). dht, dct: (B, H), dcu: (H,), tmp:
    (B, >= H), xz: (B, I) and uz: (B, H) scratch. When ``keep``, dstates: (T, 2, B, H)
    receives the total gradients dL/dh_t, dL/dc_t (through every later step as well as
    g_states). With a non-empty ``sync``, PROGRESS is set to the number of steps whose dpre
    rows are written (for ``side.weight_grads`` on another thread).
    """
    T = g_states.shape[0]
    B, H = dh.shape
    GH = gates.shape[2]
    one = dh.dtype.type(1.0)
    zero = dh.dtype.type(0.0)
    if coupled:
        oi, of, og, oo = 0, 0, H, 2 * H
    else:
        oi, of, og, oo = 0, H, 2 * H, 3 * H
    g_states, gates, states, x, h0, c0, peep, mask, dpre, dh, dc, dpeep, dht, dct, dcu, tmp = (
        borrow(g_states), borrow(gates), borrow(states), borrow(x), borrow(h0), borrow(c0),
        borrow(peep), borrow(mask), borrow(dpre), borrow(dh), borrow(dc), borrow(dpeep),
        borrow(dht), borrow(dct), borrow(dcu), borrow(tmp))  # see lstm_forward
    wci, wcf, wco = peep[0], peep[1], peep[2]
    dwci, dwcf, dwco = dpeep[0], dpeep[1], dpeep[2]
    dh[:, :] = zero
    dc[:, :] = zero
    if use_peep:
        dpeep[:, :] = zero
    for s in range(T - 1, -1, -1):
        t = T - 1 - s if reverse else s
        cp = c0 if s == 0 else states[t + 1 if reverse else t - 1, 1]
        c, dp, ga = states[t, 1], dpre[t % dpre.shape[0]], gates[t]
        for b in range(B):
            dhr, dcr, ghr, gcr, dhb, dcb = dht[b], dct[b], g_states[t, 0, b], g_states[t, 1, b], \
                dh[b], dc[b]
            for j in range(H):
                dhr[j] = ghr[j] + dhb[j]
                dcr[j] = gcr[j] + dcb[j]
            if t >= lengths[b]:  # held: the gradients pass through to the step before
                dp[b] = zero
                dcb[:] = dcr
                continue
            ar, dpr, cpr, cr = ga[b], dp[b], cp[b], c[b]
            if use_peep:
                for j in range(H):
                    tc = tanh_act(cr[j])  # recomputed: cheaper than storing it
                    o = ar[oo + j]
                    do = dhr[j] * tc * o * (one - o)
                    dpr[oo + j] = do
                    dcu[j] = dcr[j] + dhr[j] * o * (one - tc * tc) + do * wco[j]
            else:
                for j in range(H):
                    tc = tanh_act(cr[j])
                    o = ar[oo + j]
                    dpr[oo + j] = dhr[j] * tc * o * (one - o)
                    dcu[j] = dcr[j] + dhr[j] * o * (one - tc * tc)
            if coupled:
                for j in range(H):
                    f, g = ar[of + j], ar[og + j]
                    dpr[of + j] = dcu[j] * (cpr[j] - g) * f * (one - f)
                    dpr[og + j] = dcu[j] * (one - f) * (one - g * g)
            else:
                for j in range(H):
                    i, g = ar[oi + j], ar[og + j]
                    dpr[oi + j] = dcu[j] * g * i * (one - i)
                    dpr[og + j] = dcu[j] * i * (one - g * g)
                for j in range(H):
                    f = ar[of + j]
                    dpr[of + j] = dcu[j] * cpr[j] * f * (one - f)
            if use_peep:
                if coupled:
                    for j in range(H):
                        dcb[j] = dcu[j] * ar[of + j] + dpr[of + j] * wcf[j]
                else:
                    for j in range(H):
                        dcb[j] = dcu[j] * ar[of + j] + dpr[oi + j] * wci[j] + dpr[of + j] * wcf[j]
                    for j in range(H):
                        dwci[j] += dpr[oi + j] * cpr[j]
                for j in range(H):
                    dwcf[j] += dpr[of + j] * cpr[j]
                for j in range(H):
                    dwco[j] += dpr[oo + j] * cr[j]
            else:
                for j in range(H):
                    dcb[j] = dcu[j] * ar[of + j]
        if keep:
            dstates[t, 0] = dht
            dstates[t, 1] = dct
        if sync.size > 0:
            publish(sync, PROGRESS, T - s)
        # The guard stays here: folded with the product into one inlined helper, B = 1 ran
        # 5-19 % slower (measured sessions 3 and 4).
        if gw_ih.size > 0 or gw_hh.size > 0 or gb.size > 0:
            hp = h0 if s == 0 else states[t + 1 if reverse else t - 1, 0]
            add_step_weight_grads(fam, x[t], hp, dp, mask, use_mask, lengths, t, gw_ih, gw_hh, gb,
                                  xz, uz)
        matmul_into(fam, wp, wt, dp[:, :GH], tmp)
        carry_back(tmp, dht, mask, use_mask, lengths, t, dh)


@njit(cache=True, error_model="numpy", nogil=True)
def lstm_forward_units(x, w_ih_t, bias, h0, c0, w_hh_t, peep, mask, lengths, reverse, coupled,
                       use_peep, use_mask, save, states, gates, pre, u, u0, u1, mine, theirs,
                       finish, fam, sync):
    """One thread's share of ``lstm_forward`` when two threads split the hidden units: this
    thread makes the gates, c_t and h_t of units [u0, u1) at every step, from the whole
    h_{t-1} (the other thread makes the rest). Each step waits until the other thread has
    published the step before (sync slot ``theirs``) and publishes its own (slot ``mine``);
    ``finish``: set DONE at the end (the worker's call).

    w_ih_t: (I, G Hk), w_hh_t: (H, G Hk), bias: (G Hk,): the columns of W_ih^T, W_hh^T and of
    b_ih + b_hh that belong to these units, gate-major (Hk = u1 - u0, I >= 1), packed here.
    pre: (B, >= padded(G Hk)), u: (B, H) scratch of this thread. The rest as in
    ``lstm_forward``: gates (T or 1, B, G H) receives the activations in the layer's layout,
    states (T, 2, B, H) the states of these units.
    """
    T = states.shape[0]
    B, H = h0.shape
    Hk = u1 - u0
    one = h0.dtype.type(1.0)
    if coupled:  # local (pre, bias) and layer (gates) offsets of the i, f, g, o blocks
        li, lf, lg, lo = 0, 0, Hk, 2 * Hk
        gi, gf, gg, go = 0, 0, H, 2 * H
    else:
        li, lf, lg, lo = 0, Hk, 2 * Hk, 3 * Hk
        gi, gf, gg, go = 0, H, 2 * H, 3 * H
    m = u1 if u0 == 0 else u0  # W_hh^T's rows split at m (see ``units_products``)
    xwp = pack_panels(fam, w_ih_t)
    wp_lo, wp_hi = pack_panels(fam, w_hh_t[:m]), pack_panels(fam, w_hh_t[m:])
    b_i, b_f, b_g, b_o = bias[li:li + Hk], bias[lf:lf + Hk], bias[lg:lg + Hk], bias[lo:lo + Hk]
    wci, wcf, wco = peep[0, u0:u1], peep[1, u0:u1], peep[2, u0:u1]
    x, bias, h0, c0, peep, mask, states, gates, pre, u = (
        borrow(x), borrow(bias), borrow(h0), borrow(c0), borrow(peep), borrow(mask),
        borrow(states), borrow(gates), borrow(pre), borrow(u))  # see views
    hp, cp = h0, c0
    for s in range(T):
        t = T - 1 - s if reverse else s
        if not units_products(fam, xwp, wp_lo, wp_hi, x[t], hp, mask, use_mask, u, pre, pre, True,
                              m, u0 == 0, s, sync, theirs):
            break
        h, c = states[t, 0], states[t, 1]
        ga = gates[t if save else 0]
        for b in range(B):
            hr, cr, hpr, cpr = h[b, u0:u1], c[b, u0:u1], hp[b, u0:u1], cp[b, u0:u1]
            if t >= lengths[b]:
                hr[:] = hpr
                cr[:] = cpr
                continue
            pr, ar = pre[b], ga[b]
            p_i, p_f, p_g, p_o = pr[li:li + Hk], pr[lf:lf + Hk], pr[lg:lg + Hk], pr[lo:lo + Hk]
            a_i, a_f = ar[gi + u0:gi + u1], ar[gf + u0:gf + u1]
            a_g, a_o = ar[gg + u0:gg + u1], ar[go + u0:go + u1]
            if use_peep:
                if not coupled:
                    for j in range(Hk):
                        a_i[j] = sigmoid_act(p_i[j] + b_i[j] + wci[j] * cpr[j])
                for j in range(Hk):
                    a_f[j] = sigmoid_act(p_f[j] + b_f[j] + wcf[j] * cpr[j])
            else:
                if not coupled:
                    for j in range(Hk):
                        a_i[j] = sigmoid_act(p_i[j] + b_i[j])
                for j in range(Hk):
                    a_f[j] = sigmoid_act(p_f[j] + b_f[j])
            for j in range(Hk):
                g = tanh_act(p_g[j] + b_g[j])
                a_g[j] = g
                i = one - a_f[j] if coupled else a_i[j]
                cr[j] = a_f[j] * cpr[j] + i * g
            if use_peep:
                for j in range(Hk):
                    o = sigmoid_act(p_o[j] + b_o[j] + wco[j] * cr[j])
                    a_o[j] = o
                    hr[j] = o * tanh_act(cr[j])
            else:
                for j in range(Hk):
                    o = sigmoid_act(p_o[j] + b_o[j])
                    a_o[j] = o
                    hr[j] = o * tanh_act(cr[j])
        hp, cp = h, c
        publish(sync, mine, s + 1)
    if finish:
        publish(sync, DONE, 1)
