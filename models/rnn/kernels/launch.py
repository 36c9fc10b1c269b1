"""The Python layer of the fused recurrent kernels: allocate, run the GEMMs that span all steps
with numpy, call the per-step kernels.

Forward: the input projection W_ih x^T of all T steps is one (G H, I) x (I, T B) GEMM; the
kernel then runs one (G H, H) x (H, B) GEMM and the gate math per step. Backward: the kernel
runs the recurrence backwards (one (H, G H) x (G H, B) GEMM per step) and returns the gradient
w.r.t. the gate pre-activations of all steps as one (G H, T B) matrix; the gradients of x,
W_ih, W_hh and the biases are then single GEMMs / sums over all T B columns. The kernels keep
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
    hin = np.empty((H, T * B), dtype) if save else _empty(dtype)
    n = T if save else 1
    gates = np.empty((n, GH, B), dtype)
    pre = np.empty((GH, B), dtype)
    u = np.empty((H, B), dtype)
    bias, bhn = _bias(arrays, mode, H, reset_after, dtype)
    hs = np.empty((T if save and mode != "lstm" else 2, H, B), dtype)
    res = {"states": states, "hin": hin, "hs": hs} if save else None
    if mode == "rnn":
        rnn_kernels.rnn_forward(xp, bias, _fm(h0), *_pair(w_hh, B, False), mask_fm, lengths,
                                reverse, relu, use_mask, save, states, hs, hin, pre, u)
    elif mode == "lstm":
        peep = arrays["peephole"]
        use_peep = peep is not None
        peep_rep = (np.repeat(peep, B, axis=1) if use_peep else np.empty((3, 0), dtype))
        cs = np.empty((T if save else 2, H, B), dtype)
        lstm_kernels.lstm_forward(xp, bias, _fm(h0), _fm(arrays["c0"]), *_pair(w_hh, B, False),
                                  peep_rep, mask_fm, lengths, reverse, coupled, use_peep,
                                  use_mask, save, states, gates, hin, hs, cs, pre, u)
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
        aux = np.empty((H, T * B), dtype) if save else empty
        gru_kernels.gru_forward(xp, bias, bhn, _fm(h0), w, w_rz, w_n, wt, w_rzT, w_nT, mask_fm,
                                lengths, reverse, reset_after, use_mask, save, states, gates,
                                hin, hs, aux, pre, u, np.empty((H, B), dtype),
                                np.empty((H, B), dtype))
        if save:
            res.update(gates=gates, aux=aux)
    return states, res


def grad_layout(names, arrays, needs):
    """(name, shape) of the gradients the backward pass returns, in input order."""
    return [(name, arrays[name].shape) for name, need in zip(names, needs, strict=True) if need]


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
    dpre = np.empty((GH, T * B), dtype)
    dh = np.empty((H, B), dtype)
    dhh = None  # the gradient w.r.t. u W_hh^T + b_hh when it differs from dpre

    def scratch(rows=H):
        return np.empty((rows, B), dtype)

    if mode == "rnn":
        rnn_kernels.rnn_backward(g, res["hs"], *_pair(w_hh, B, True), mask_fm, lengths, reverse,
                                 relu, use_mask, dpre, dh, scratch(), scratch(), scratch())
    elif mode == "lstm":
        peep = arrays["peephole"]
        use_peep = peep is not None
        peep_rep = np.repeat(peep, B, axis=1) if use_peep else np.empty((3, 0), dtype)
        dpeep = np.empty((3, H * B), dtype)
        dc = np.empty((H, B), dtype)
        lstm_kernels.lstm_backward(g, res["gates"], res["cs"], _fm(arrays["c0"]),
                                   *_pair(w_hh, B, True), peep_rep, mask_fm, lengths, reverse,
                                   coupled, use_peep, use_mask, dpre, dh, dc, dpeep, scratch(),
                                   scratch(), scratch(), scratch(), scratch(GH), scratch())
        if "c0" in out:
            out["c0"][...] = dc.T
        if "peephole" in out:
            np.sum(dpeep.reshape(3, H, B), axis=2, out=out["peephole"])
    else:
        empty = _empty(dtype)
        if reset_after:
            (w, wt), (w_rz, w_rzT), (w_n, w_nT) = _pair(w_hh, B, True), (empty,) * 2, (empty,) * 2
            dhh = np.empty((H, T * B), dtype)  # the n block; r, z blocks equal dpre's
        else:
            (w, wt) = (empty, empty)
            (w_rzT, w_rz), (w_nT, w_n) = (_pair(w_hh[:2 * H], B, True),
                                          _pair(w_hh[2 * H:], B, True))
        gru_kernels.gru_backward(g, res["gates"], res["hin"], res["hs"], _fm(h0), res["aux"],
                                 w, w_rzT, w_nT, wt, w_rz, w_n, mask_fm, lengths, reverse,
                                 reset_after, use_mask, dpre, dhh if reset_after else empty,
                                 dh, scratch(), scratch(3 * H), scratch(), scratch(), scratch(),
                                 scratch(), scratch())
    if "h0" in out:
        out["h0"][...] = dh.T
    if "x" in out:
        np.matmul(dpre.T, w_ih, out=out["x"].reshape(T * B, I))
    if "weight_ih" in out:
        np.matmul(dpre, used_input(x, lengths).reshape(T * B, I), out=out["weight_ih"])
    hin = res["hin"]
    if "weight_hh" in out:
        dw = out["weight_hh"]
        if mode != "gru":
            np.matmul(dpre, hin.T, out=dw)
        elif reset_after:
            np.matmul(dpre[:2 * H], hin.T, out=dw[:2 * H])
            np.matmul(dhh, hin.T, out=dw[2 * H:])
        else:  # the n block met r * u, not u
            np.matmul(dpre[:2 * H], hin.T, out=dw[:2 * H])
            np.matmul(dpre[2 * H:], res["aux"].T, out=dw[2 * H:])
    if "bias_ih" in out:
        np.sum(dpre, axis=1, out=out["bias_ih"])
    if "bias_hh" in out:
        db = out["bias_hh"]
        if "bias_ih" in out:
            db[...] = out["bias_ih"]
        else:
            np.sum(dpre, axis=1, out=db)
        if dhh is not None:
            np.sum(dhh, axis=1, out=db[2 * H:])
    return flat
