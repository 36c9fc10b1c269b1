"""The Python layer of the fused recurrent kernels: allocate, run the GEMMs that span all steps
with numpy, call the per-step kernels.

Forward: the input projection x W_ih^T for all T steps is one (T B, I) x (I, G H) GEMM; the
kernel then runs one (B, H) x (H, G H) GEMM and the gate math per step. Backward: the kernel
runs the recurrence backwards (one (B, G H) x (G H, H) GEMM per step) and returns the
gradients w.r.t. the gate pre-activations of all steps; the gradients of x, W_ih, W_hh and the
biases are then single GEMMs / sums over all T B rows.

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


def _bias_sum(arrays, size, dtype):
    b_ih, b_hh = arrays["bias_ih"], arrays["bias_hh"]
    if b_ih is None and b_hh is None:
        return np.zeros(size, dtype)
    if b_ih is None:
        return b_hh
    if b_hh is None:
        return b_ih
    return b_ih + b_hh


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
    xp = np.empty((T, B, GH), dtype)
    np.matmul(x.reshape(T * B, I), w_ih.T, out=xp.reshape(T * B, GH))
    S = 2 if mode == "lstm" else 1
    states = np.empty((T, S, B, H), dtype)
    n = T if save else 1
    hin = np.empty((n, B, H), dtype)
    use_mask = mask is not None
    mask_arr = mask if use_mask else _empty(dtype)
    res = None
    if mode == "rnn":
        bias = _bias_sum(arrays, GH, dtype)
        rnn_kernels.rnn_forward(xp, bias, h0, np.ascontiguousarray(w_hh.T), mask_arr, lengths,
                                reverse, relu, use_mask, save, states, hin,
                                np.empty((B, H), dtype))
        if save:
            res = {"states": states, "hin": hin}
    elif mode == "lstm":
        peep = arrays["peephole"]
        use_peep = peep is not None
        gates = np.empty((n, B, GH), dtype)
        tanhc = np.empty((n, B, H), dtype)
        lstm_kernels.lstm_forward(
            xp, _bias_sum(arrays, GH, dtype), h0, arrays["c0"], np.ascontiguousarray(w_hh.T),
            peep if use_peep else np.empty((3, 0), dtype), mask_arr, lengths, reverse,
            coupled, use_peep, use_mask, save, states, gates, hin, tanhc,
            np.empty((B, GH), dtype))
        if save:
            res = {"states": states, "gates": gates, "hin": hin, "tanhc": tanhc}
    else:
        b_ih, b_hh = arrays["bias_ih"], arrays["bias_hh"]
        bias = np.zeros(GH, dtype)
        if b_ih is not None:
            bias += b_ih
        if b_hh is not None:
            bias[:2 * H] += b_hh[:2 * H]
        bhn = b_hh[2 * H:] if b_hh is not None else np.zeros(H, dtype)
        gates = np.empty((n, B, GH), dtype)
        aux = np.empty((n, B, H), dtype)
        empty = _empty(dtype)
        if reset_after:
            w_hhT, w_rzT, w_nT = np.ascontiguousarray(w_hh.T), empty, empty
        else:
            w_hhT = empty
            w_rzT = np.ascontiguousarray(w_hh[:2 * H].T)
            w_nT = np.ascontiguousarray(w_hh[2 * H:].T)
        gru_kernels.gru_forward(xp, bias, bhn, h0, w_hhT, w_rzT, w_nT, mask_arr, lengths,
                                reverse, reset_after, use_mask, save, states, gates, hin, aux,
                                np.empty(B * GH, dtype))
        if save:
            res = {"states": states, "gates": gates, "hin": hin, "aux": aux}
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
    use_mask = mask is not None
    mask_arr = mask if use_mask else _empty(dtype)
    dh = out["h0"] if "h0" in out else np.empty((B, H), dtype)
    dpre = np.empty((T, B, GH), dtype)
    dhh = None  # the gradient w.r.t. u W_hh^T + b_hh when it differs from dpre
    if mode == "rnn":
        rnn_kernels.rnn_backward(g, res["states"], h0, w_hh, mask_arr, lengths, reverse, relu,
                                 use_mask, dpre, dh, np.empty((B, H), dtype))
    elif mode == "lstm":
        peep = arrays["peephole"]
        use_peep = "peephole" in out
        dc = out["c0"] if "c0" in out else np.empty((B, H), dtype)
        lstm_kernels.lstm_backward(
            g, res["states"], h0, arrays["c0"], res["gates"], res["tanhc"], w_hh,
            peep if peep is not None else np.empty((3, 0), dtype), mask_arr, lengths, reverse,
            coupled, peep is not None, use_mask, dpre, dh, dc,
            out["peephole"] if use_peep else np.empty((3, H), dtype),
            np.empty((B, H), dtype), np.empty((B, H), dtype))
    else:
        empty = _empty(dtype)
        if reset_after:
            dhh = np.empty((T, B, GH), dtype)
            w_rz = w_n = empty
        else:
            w_rz, w_n = w_hh[:2 * H], w_hh[2 * H:]
        gru_kernels.gru_backward(g, res["states"], h0, res["gates"], res["hin"], res["aux"],
                                 w_hh, w_rz, w_n, mask_arr, lengths, reverse, reset_after,
                                 use_mask, dpre, dhh if reset_after else _empty(dtype, 3), dh,
                                 np.empty(B * 6 * H, dtype))
    dpre2 = dpre.reshape(T * B, GH)
    if "x" in out:
        np.matmul(dpre2, w_ih, out=out["x"].reshape(T * B, I))
    if "weight_ih" in out:
        np.matmul(dpre2.T, x.reshape(T * B, I), out=out["weight_ih"])
    hin2 = res["hin"].reshape(T * B, H)
    if "weight_hh" in out:
        if dhh is not None:
            np.matmul(dhh.reshape(T * B, GH).T, hin2, out=out["weight_hh"])
        elif mode == "gru":  # not reset_after: the n block met r * u, not u
            dw = out["weight_hh"]
            np.matmul(dpre2[:, :2 * H].T, hin2, out=dw[:2 * H])
            np.matmul(dpre2[:, 2 * H:].T, res["aux"].reshape(T * B, H), out=dw[2 * H:])
        else:
            np.matmul(dpre2.T, hin2, out=out["weight_hh"])
    if "bias_ih" in out:
        np.sum(dpre2, axis=0, out=out["bias_ih"])
    if "bias_hh" in out:
        if dhh is not None:
            np.sum(dhh.reshape(T * B, GH), axis=0, out=out["bias_hh"])
        elif "bias_ih" in out:
            out["bias_hh"][...] = out["bias_ih"]
        else:
            np.sum(dpre2, axis=0, out=out["bias_hh"])
    return flat
