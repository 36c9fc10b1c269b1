"""The Python layer of the fused recurrent kernels: allocate, run the GEMMs that span all steps
with numpy, call the per-step kernels.

Forward: the input projection W_ih x^T of all T steps is one (G H, I) x (I, T B) GEMM; the
kernel then runs one (G H, H) x (H, B) GEMM and the gate math per step. Backward: the kernel
runs the recurrence backwards (one (H, G H) x (G H, B) GEMM per step) and returns the gradient
w.r.t. the gate pre-activations of all steps, (T, G H, B); transposed once to (G H, T B), it
gives the gradients of x, W_ih, W_hh and the biases as single GEMMs / sums over all T B
columns (W_hh's other factor, h_{t-1}, is read back from the output states). The kernels keep
per-step arrays feature-major, (H, B); see ``common``.

Arrays come in as a dict ``name -> ndarray`` (``x`` (T, B, I), ``h0``, ``c0`` (B, H),
``weight_ih`` (G H, I), ``weight_hh`` (G H, H), ``bias_ih``, ``bias_hh`` (G H,), ``peephole``
(3, H); absent ones are None), all C-contiguous and of one float dtype, already validated.
"""

import numpy as np

from . import gru as gru_kernels
from . import lstm as lstm_kernels
from . import rnn as rnn_kernels

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
_EMPTY = {}


def num_gates(mode, coupled):
    """G: the number of gate blocks stacked in W_ih / W_hh."""
    return 3 if mode == "lstm" and coupled else GATES[mode]


def _empty(dtype, ndim=2):
    key = (np.dtype(dtype), ndim)
    if key not in _EMPTY:
        _EMPTY[key] = np.empty((0,) * ndim, dtype=dtype)
    return _EMPTY[key]


def _fm(a):
    """(B, H) -> contiguous feature-major (H, B)."""
    return np.ascontiguousarray(a.T)


def _pair(w, B, transposed):
    """The two orientations a kernel's ``matmul_into`` takes: (w, w^T) for the forward
    (``transposed`` False) or (w^T, w) for the backward, the one it will not read (B > 1: the
    second; B == 1: the first) left empty so that no copy is made."""
    empty = _empty(w.dtype)
    if not transposed:
        return (w, empty) if B > 1 else (empty, _fm(w))
    return (_fm(w), empty) if B > 1 else (empty, w)


def _bias(arrays, mode, H, reset_after, dtype):
    """The bias the kernels add to the projection, and (GRU) b_hn."""
    GH = arrays["weight_ih"].shape[0]
    b_ih, b_hh = arrays["bias_ih"], arrays["bias_hh"]
    bias = np.zeros(GH, dtype) if b_ih is None else b_ih.copy()
    bhn = np.zeros(H, dtype)
    if b_hh is not None:
        if mode == "gru" and reset_after:
            bias[:2 * H] += b_hh[:2 * H]
            bhn = b_hh[2 * H:]
        else:
            bias += b_hh
    return bias, bhn


def used_input(x, lengths):
    """x with the steps past each sequence's end set to 0 (they never affect the result;
    zeroing them keeps NaN / inf padding out of the weight gradients)."""
    T = x.shape[0]
    if lengths.min() >= T:
        return x
    return np.where((np.arange(T)[:, None] < lengths[None, :])[..., None], x, 0).astype(x.dtype)


def forward(mode, arrays, lengths, mask, *, relu=False, reverse=False, coupled=False,
            reset_after=True, save=True):
    """Run one layer-direction. lengths: (B,) int64; mask: (B, H) or None.

    Returns (states, residuals): states (T, S, B, H) with S = 2 (h, c) for LSTM else 1;
    residuals a dict of the arrays the backward pass needs (None unless ``save``).
    """
    x, h0, w_ih, w_hh = arrays["x"], arrays["h0"], arrays["weight_ih"], arrays["weight_hh"]
    T, B, I = x.shape
    H = h0.shape[1]
    GH = w_ih.shape[0]
    dtype = x.dtype
    S = 2 if mode == "lstm" else 1
    states = np.empty((T, S, B, H), dtype)
    if T == 0 or B == 0:
        return states, ({"states": states} if save else None)
    xp = np.matmul(w_ih, used_input(x, lengths).reshape(T * B, I).T)  # (G H, T B)
    use_mask = mask is not None
    mask_fm = _fm(mask) if use_mask else _empty(dtype)
    n = T if save else 1
    gates = np.empty((n, GH, B), dtype)
    pre = np.empty((GH, B), dtype)
    u = np.empty((H, B), dtype)
    bias, bhn = _bias(arrays, mode, H, reset_after, dtype)
    hs = np.empty((T if save and mode != "lstm" else 2, H, B), dtype)
    res = {"states": states} if save else None
    if mode == "rnn":
        rnn_kernels.rnn_forward(xp, bias, _fm(h0), *_pair(w_hh, B, False), mask_fm, lengths,
                                reverse, relu, use_mask, save, states, hs, pre, u)
        if save:
            res["hs"] = hs
    elif mode == "lstm":
        peep = arrays["peephole"]
        use_peep = peep is not None
        peep_rep = (np.repeat(peep, B, axis=1) if use_peep else np.empty((3, 0), dtype))
        cs = np.empty((T if save else 2, H, B), dtype)
        lstm_kernels.lstm_forward(xp, bias, _fm(h0), _fm(arrays["c0"]), *_pair(w_hh, B, False),
                                  peep_rep, mask_fm, lengths, reverse, coupled, use_peep,
                                  use_mask, save, states, gates, hs, cs, pre, u)
        if save:
            res.update(gates=gates, cs=cs)
    else:
        empty = _empty(dtype)
        if reset_after:
            (w, wt), (w_rz, w_rzT), (w_n, w_nT) = _pair(w_hh, B, False), (empty,) * 2, (empty,) * 2
        else:
            (w, wt) = (empty, empty)
            (w_rz, w_rzT), (w_n, w_nT) = (_pair(w_hh[:2 * H], B, False),
                                          _pair(w_hh[2 * H:], B, False))
        aux = np.empty((n, H, B), dtype)
        gru_kernels.gru_forward(xp, bias, bhn, _fm(h0), w, w_rz, w_n, wt, w_rzT, w_nT, mask_fm,
                                lengths, reverse, reset_after, use_mask, save, states, gates,
                                hs, aux, pre, u, np.empty((H, B), dtype),
                                np.empty((H, B), dtype))
        if save:
            res.update(gates=gates, hs=hs, aux=aux)
    return states, res


def grad_layout(names, arrays, needs):
    """(name, shape) of the gradients the backward pass returns, in input order."""
    return [(name, arrays[name].shape) for name, need in zip(names, needs, strict=True) if need]


def _columns(a):
    """(T, R, B) per-step blocks -> (R, T B), one column per (step, sequence)."""
    T, R, B = a.shape
    return np.ascontiguousarray(a.transpose(1, 0, 2)).reshape(R, T * B)


def _previous_states(states, h0, mask, reverse):
    """(T B, H): the (masked) h_{t-1} that met W_hh at each time index t, read back from the
    output states (past a sequence's end the values do not matter: its gradient is 0 there)."""
    T, _, B, H = states.shape
    prev = np.empty((T, B, H), states.dtype)
    if reverse:
        prev[-1] = h0
        prev[:-1] = states[1:, 0]
    else:
        prev[0] = h0
        prev[1:] = states[:-1, 0]
    if mask is not None:
        prev *= mask
    return prev.reshape(T * B, H)


def backward(mode, g, arrays, res, lengths, mask, wanted, *, relu=False, reverse=False,
             coupled=False, reset_after=True):
    """Gradients w.r.t. the inputs listed in ``wanted`` ((name, shape) pairs) from the gradient
    ``g`` (T, S, B, H) w.r.t. the states, packed into one flat array in that order."""
    x, h0, w_ih, w_hh = arrays["x"], arrays["h0"], arrays["weight_ih"], arrays["weight_hh"]
    T, B, I = x.shape
    H = h0.shape[1]
    GH = w_ih.shape[0]
    dtype = x.dtype
    flat = np.empty(sum(int(np.prod(shape)) for _, shape in wanted), dtype)
    out, offset = {}, 0
    for name, shape in wanted:
        size = int(np.prod(shape))
        out[name] = flat[offset:offset + size].reshape(shape)
        offset += size
    if T == 0 or B == 0:
        flat[:] = 0
        return flat
    use_mask = mask is not None
    mask_fm = _fm(mask) if use_mask else _empty(dtype)
    dpre = np.empty((T, GH, B), dtype)
    dh = np.empty((H, B), dtype)
    dxn = None  # GRU reset_after: the input projection's n block differs from dpre's

    def scratch():
        return np.empty((H, B), dtype)

    if mode == "rnn":
        rnn_kernels.rnn_backward(g, res["hs"], *_pair(w_hh, B, True), mask_fm, lengths, reverse,
                                 relu, use_mask, dpre, dh, scratch(), scratch())
    elif mode == "lstm":
        peep = arrays["peephole"]
        use_peep = peep is not None
        peep_rep = np.repeat(peep, B, axis=1) if use_peep else np.empty((3, 0), dtype)
        dpeep = np.empty((3, H * B), dtype)
        dc = np.empty((H, B), dtype)
        lstm_kernels.lstm_backward(g, res["gates"], res["cs"], _fm(arrays["c0"]),
                                   *_pair(w_hh, B, True), peep_rep, mask_fm, lengths, reverse,
                                   coupled, use_peep, use_mask, dpre, dh, dc, dpeep, scratch(),
                                   scratch(), scratch(), scratch(), scratch())
        if "c0" in out:
            out["c0"][...] = dc.T
        if "peephole" in out:
            np.sum(dpeep.reshape(3, H, B), axis=2, out=out["peephole"])
    else:
        empty = _empty(dtype)
        if reset_after:
            (w, wt), (w_rz, w_rzT), (w_n, w_nT) = _pair(w_hh, B, True), (empty,) * 2, (empty,) * 2
            dxn = np.empty((T, H, B), dtype)
        else:
            (w, wt) = (empty, empty)
            (w_rzT, w_rz), (w_nT, w_n) = (_pair(w_hh[:2 * H], B, True),
                                          _pair(w_hh[2 * H:], B, True))
        gru_kernels.gru_backward(g, res["gates"], res["hs"], _fm(h0), res["aux"], w, w_rzT, w_nT,
                                 wt, w_rz, w_n, mask_fm, lengths, reverse, reset_after, use_mask,
                                 dpre, dxn if reset_after else _empty(dtype, 3), dh, scratch(),
                                 scratch(), scratch(), scratch(), scratch())
    if "h0" in out:
        out["h0"][...] = dh.T
    _weight_grads(out, mode, x, w_ih, res, h0, mask, lengths, _columns(dpre),
                  None if dxn is None else _columns(dxn), reverse, reset_after)
    return flat


def _weight_grads(out, mode, x, w_ih, res, h0, mask, lengths, d_hh, d_xn, reverse,
                  reset_after):
    """The gradients of x, W_ih, W_hh and the biases from the per-column gradients d_hh
    (G H, T B) w.r.t. u W_hh^T + b_hh and (GRU reset_after only; else None) d_xn (H, T B),
    the n block of the gradient w.r.t. W_ih x^T + b_ih whose other blocks are d_hh's."""
    T, B, I = x.shape
    H = h0.shape[1]
    # The input side as row blocks: (rows of W_ih, gradient columns).
    if d_xn is None:
        blocks = [(slice(None), d_hh)]
    else:
        blocks = [(slice(0, 2 * H), d_hh[:2 * H]), (slice(2 * H, 3 * H), d_xn)]
    if "x" in out:
        dx = out["x"].reshape(T * B, I)
        for k, (rows, d) in enumerate(blocks):
            part = np.matmul(d.T, w_ih[rows])
            if k == 0:
                dx[...] = part
            else:
                dx += part
    if "weight_ih" in out:
        x2 = used_input(x, lengths).reshape(T * B, I)
        for rows, d in blocks:
            np.matmul(d, x2, out=out["weight_ih"][rows])
    if "bias_ih" in out:
        for rows, d in blocks:
            np.sum(d, axis=1, out=out["bias_ih"][rows])
    if "bias_hh" in out:
        if d_xn is None and "bias_ih" in out:
            out["bias_hh"][...] = out["bias_ih"]
        else:
            np.sum(d_hh, axis=1, out=out["bias_hh"])
    if "weight_hh" in out:
        dw = out["weight_hh"]
        prev = _previous_states(res["states"], h0, mask, reverse)
        if mode == "gru" and not reset_after:  # the n block met r * u, not u
            np.matmul(d_hh[:2 * H], prev, out=dw[:2 * H])
            ru = np.ascontiguousarray(res["aux"].transpose(0, 2, 1)).reshape(T * B, H)
            np.matmul(d_hh[2 * H:], ru, out=dw[2 * H:])
        else:
            np.matmul(d_hh, prev, out=dw)
