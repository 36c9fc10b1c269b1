"""The Python layer of the fused recurrent kernels: allocate, run the GEMMs that span all
steps, call the per-step kernels.

The per-step products use the packed AVX-512 kernel (``packed``) where the CPU has it; the
GEMMs that span all steps go through ``common.gemm`` / numba's np.dot (one BLAS library; see
there): at their sizes (K or N in the thousands) BLAS's cache blocking beats the packed
kernel, which has none (measured 100-110 GFLOP/s against 70-90).

Forward: the input projection W_ih x^T of all T steps is one (G H, I) x (I, T B) GEMM; the
kernel then runs one (G H, H) x (H, B) GEMM and the gate math per step. Backward: the kernel
runs the recurrence backwards (one (H, G H) x (G H, B) GEMM per step) and returns the gradient
w.r.t. the gate pre-activations of all steps, (T, G H, B); transposed once to (G H, T B), it
gives W_ih's, W_hh's and the biases' gradients as one GEMM with [x | h_{t-1} | 1] (T B, .)
(h_{t-1} is read back from the output states) and x's as one more. The kernels keep per-step
arrays feature-major, (H, B); see ``common``.

Arrays come in as a dict ``name -> ndarray`` (``x`` (T, B, I), ``h0``, ``c0`` (B, H),
``weight_ih`` (G H, I), ``weight_hh`` (G H, H), ``bias_ih``, ``bias_hh`` (G H,), ``peephole``
(3, H), ``probe`` (T, S, B, H), zero; absent ones are None), all C-contiguous and of one float
dtype, already validated. The probe is added to each state as it is made and changes nothing
(it is zero); its gradient is the total dL/dh_t (and dL/dc_t), which the backward kernel
copies out as it passes each step.
"""

import math
import threading

import numpy as np

from . import gru as gru_kernels
from . import lstm as lstm_kernels
from . import packed
from . import rnn as rnn_kernels
from .common import gemm

GATES = {"rnn": 1, "lstm": 4, "gru": 3}
_EMPTY = {}


class _Scratch(threading.local):
    def __init__(self):
        self.buffers = {}


_SCRATCH = _Scratch()


def release_scratch():
    """Drop this thread's cached temporaries (the largest input projection / gradient buffers
    used so far; they are kept to spare the page faults of fresh allocations)."""
    _SCRATCH.buffers.clear()


_SCRATCH_MAX_BYTES = 16 * 2**20


def _scratch(role, shape, dtype):
    """A reusable array for a temporary that never leaves this module (one per role, dtype
    and thread; grown as needed). Temporaries above 16 MB are allocated afresh each time: at
    that size the page faults cost little next to the GEMMs, and nothing big stays behind."""
    size = math.prod(shape)
    dtype = np.dtype(dtype)
    if size * dtype.itemsize > _SCRATCH_MAX_BYTES:
        return np.empty(shape, dtype)
    key = (role, dtype)
    buf = _SCRATCH.buffers.get(key)
    if buf is None or buf.size < size:
        buf = np.empty(size, dtype)
        _SCRATCH.buffers[key] = buf
    return buf[:size].reshape(shape)


def num_gates(mode, coupled):
    """G: the number of gate blocks stacked in W_ih / W_hh."""
    return 3 if mode == "lstm" and coupled else GATES[mode]


def _empty(dtype, ndim=2):
    key = (dtype, ndim)
    if key not in _EMPTY:
        _EMPTY[key] = np.empty((0,) * ndim, dtype=dtype)
    return _EMPTY[key]


def _fm(a):
    """(B, H) -> contiguous feature-major (H, B)."""
    return np.ascontiguousarray(a.T)


def _pair(w, B, transposed):
    """The two orientations a kernel's ``matmul_into`` takes: (w, w^T) for the forward
    (``transposed`` False) or (w^T, w) for the backward, the one it will not read (B > 1: the
    second; B == 1: the first) left empty so that no copy is made. For B > 1 the first is
    packed into panels (``packed.pack``) when the CPU has AVX-512, once for all T steps."""
    empty = _empty(w.dtype)
    if B == 1:
        return (empty, _fm(w)) if not transposed else (empty, w)
    left = w if not transposed else _fm(w)
    return (packed.pack(left) if packed.AVAILABLE else left), empty


def _bias(arrays, mode, H, reset_after, dtype):
    """The bias folded into the input projection, and (GRU reset_after) b_hn, which is not."""
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


def _lengths(lengths, T, B):
    """(lengths as an int64 array, whether every sequence has all T steps)."""
    if lengths is None:
        return np.full(B, T, np.int64), True
    return lengths, bool(lengths.min() >= T)


def used_input(x, lengths, full):
    """x (T, B, I) as (T B, I), with the steps past each sequence's end set to 0 (they never
    affect the result; zeroing them keeps NaN / inf padding out of the weight gradients)."""
    T, B, I = x.shape
    if full:
        return x.reshape(T * B, I)
    keep = (np.arange(T)[:, None] < lengths[None, :])[..., None]
    return np.where(keep, x, 0).astype(x.dtype).reshape(T * B, I)


def forward(mode, arrays, lengths, mask, *, relu=False, reverse=False, coupled=False,
            reset_after=True, save=True):
    """Run one layer-direction. lengths: (B,) int64 or None (all T steps); mask: (B, H) or
    None.

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
    lengths, full = _lengths(lengths, T, B)
    bias, bhn = _bias(arrays, mode, H, reset_after, dtype)
    xp = _scratch("xp", (GH, T * B), dtype)  # W_ih x^T, column t B + b
    gemm(w_ih, used_input(x, lengths, full).T, xp)
    use_mask = mask is not None
    mask_fm = _fm(mask) if use_mask else _empty(dtype)
    n = T if save else 1
    gates = np.empty((n, GH, B), dtype)
    pre = np.empty((GH, B), dtype)
    u = np.empty((H, B), dtype)
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
        lstm_kernels.lstm_forward(xp, bias, _fm(h0), _fm(arrays["c0"]),
                                  *_pair(w_hh, B, False), peep_rep, mask_fm, lengths, reverse,
                                  coupled, use_peep, use_mask, save, states, gates, hs, cs, pre,
                                  u)
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
        gru_kernels.gru_forward(xp, bias, np.repeat(bhn, B), _fm(h0), w, w_rz, w_n, wt, w_rzT,
                                w_nT, mask_fm, lengths, reverse, reset_after, use_mask, save,
                                states, gates, hs, aux, pre, u, np.empty((H, B), dtype),
                                np.empty((H, B), dtype))
        if save:
            res.update(gates=gates, hs=hs, aux=aux)
    return states, res


def grad_layout(names, arrays, needs):
    """(name, shape) of the gradients the backward pass returns, in input order."""
    return [(name, arrays[name].shape) for name, need in zip(names, needs, strict=True) if need]


def _columns(role, a):
    """(T, R, B) per-step blocks -> (R, T B), one column per (step, sequence)."""
    T, R, B = a.shape
    out = _scratch(role, (R, T, B), a.dtype)
    np.copyto(out, a.transpose(1, 0, 2))
    return out.reshape(R, T * B)


def _previous_states(states, h0, mask, reverse, out):
    """out (T, B, H) = the (masked) h_{t-1} that met W_hh at each time index t, read back
    from the output states (past a sequence's end the values do not matter: its gradient is 0
    there)."""
    if reverse:
        out[-1] = h0
        out[:-1] = states[1:, 0]
    else:
        out[0] = h0
        out[1:] = states[:-1, 0]
    if mask is not None:
        out *= mask


def backward(mode, g, arrays, res, lengths, mask, wanted, *, relu=False, reverse=False,
             coupled=False, reset_after=True):
    """Gradients w.r.t. the inputs listed in ``wanted`` ((name, shape) pairs) from the gradient
    ``g`` (T, S, B, H) w.r.t. the states, packed into one flat array in that order."""
    x, h0, w_ih, w_hh = arrays["x"], arrays["h0"], arrays["weight_ih"], arrays["weight_hh"]
    T, B, I = x.shape
    H = h0.shape[1]
    GH = w_ih.shape[0]
    dtype = x.dtype
    sizes = [math.prod(shape) for _, shape in wanted]
    flat = np.empty(sum(sizes), dtype)
    out, offset = {}, 0
    for (name, shape), size in zip(wanted, sizes, strict=True):
        out[name] = flat[offset:offset + size].reshape(shape)
        offset += size
    if T == 0 or B == 0:
        flat[:] = 0
        return flat
    lengths, full = _lengths(lengths, T, B)
    use_mask = mask is not None
    mask_fm = _fm(mask) if use_mask else _empty(dtype)
    dpre = _scratch("dpre", (T, GH, B), dtype)
    dh = np.empty((H, B), dtype)
    dxn = None  # GRU reset_after: the input projection's n block differs from dpre's
    keep = "probe" in out
    S = 2 if mode == "lstm" else 1
    dstates = np.empty((T, S, H, B) if keep else (0, S, 0, 0), dtype)

    def scratch():
        return np.empty((H, B), dtype)

    if mode == "rnn":
        rnn_kernels.rnn_backward(g, res["hs"], *_pair(w_hh, B, True), mask_fm, lengths, reverse,
                                 relu, use_mask, dpre, dh, scratch(), scratch(), keep, dstates)
    elif mode == "lstm":
        peep = arrays["peephole"]
        use_peep = peep is not None
        peep_rep = np.repeat(peep, B, axis=1) if use_peep else np.empty((3, 0), dtype)
        dpeep = np.empty((3, H * B), dtype)
        dc = np.empty((H, B), dtype)
        lstm_kernels.lstm_backward(g, res["gates"], res["cs"], _fm(arrays["c0"]),
                                   *_pair(w_hh, B, True), peep_rep, mask_fm, lengths, reverse,
                                   coupled, use_peep, use_mask, dpre, dh, dc, dpeep, scratch(),
                                   scratch(), scratch(), scratch(), keep, dstates)
        if "c0" in out:
            out["c0"][...] = dc.T
        if "peephole" in out:
            np.sum(dpeep.reshape(3, H, B), axis=2, out=out["peephole"])
    else:
        empty = _empty(dtype)
        if reset_after:
            (w, wt), (w_rz, w_rzT), (w_n, w_nT) = _pair(w_hh, B, True), (empty,) * 2, (empty,) * 2
            dxn = _scratch("dxn", (T, H, B), dtype)
        else:
            (w, wt) = (empty, empty)
            (w_rzT, w_rz), (w_nT, w_n) = (_pair(w_hh[:2 * H], B, True),
                                          _pair(w_hh[2 * H:], B, True))
        gru_kernels.gru_backward(g, res["gates"], res["hs"], _fm(h0), res["aux"], w, w_rzT, w_nT,
                                 wt, w_rz, w_n, mask_fm, lengths, reverse, reset_after, use_mask,
                                 dpre, dxn if reset_after else _empty(dtype, 3), dh, scratch(),
                                 scratch(), scratch(), scratch(), scratch(), keep, dstates)
    if "h0" in out:
        out["h0"][...] = dh.T
    if keep:
        out["probe"][...] = dstates.transpose(0, 1, 3, 2)
    d_hh = _columns("cols", dpre)
    d_xn = None if dxn is None else _columns("cols_n", dxn)
    _weight_grads(out, mode, x, w_ih, res, h0, mask, lengths, full, d_hh, d_xn, reverse,
                  reset_after)
    return flat


def _gemm_cat(d, left, middle, ones, dtype):
    """d (R, T B) @ [left | middle | 1] (T B, .), the needed column blocks side by side, as one
    GEMM (one pass over d instead of three). Returns the (R, .) blocks in that order."""
    parts = [p for p in (left, middle) if p is not None]
    cols = sum(p.shape[1] for p in parts) + (1 if ones else 0)
    rhs = _scratch("rhs", (d.shape[1], cols), dtype)
    c = 0
    for p in parts:
        rhs[:, c:c + p.shape[1]] = p
        c += p.shape[1]
    if ones:
        rhs[:, c] = 1
    prod = np.empty((d.shape[0], cols), dtype)
    gemm(d, rhs, prod)
    blocks, c = [], 0
    for p in (left, middle):
        if p is None:
            blocks.append(None)
        else:
            blocks.append(prod[:, c:c + p.shape[1]])
            c += p.shape[1]
    blocks.append(prod[:, c] if ones else None)
    return blocks


def _weight_grads(out, mode, x, w_ih, res, h0, mask, lengths, full, d_hh, d_xn, reverse,
                  reset_after):
    """The gradients of x, W_ih, W_hh and the biases from the per-column gradients d_hh
    (G H, T B) w.r.t. u W_hh^T + b_hh and (GRU reset_after only; else None) d_xn (H, T B),
    the n block of the gradient w.r.t. W_ih x^T + b_ih whose other blocks are d_hh's."""
    T, B, I = x.shape
    H = h0.shape[1]
    dtype = x.dtype
    if "x" in out:
        dx = out["x"].reshape(T * B, I)
        if d_xn is None:
            gemm(d_hh.T, w_ih, dx)
        else:
            gemm(d_hh[:2 * H].T, w_ih[:2 * H], dx)
            part = np.empty_like(dx)
            gemm(d_xn.T, w_ih[2 * H:], part)
            dx += part
    need_ih, need_hh = "weight_ih" in out, "weight_hh" in out
    need_b = "bias_ih" in out or "bias_hh" in out
    if not (need_ih or need_hh or need_b):
        return
    x2 = used_input(x, lengths, full) if need_ih else None
    prev = None
    if need_hh:
        prev = _scratch("prev", (T, B, h0.shape[1]), dtype)
        _previous_states(res["states"], h0, mask, reverse, prev)
        prev = prev.reshape(T * B, H)
    # (rows, gradient columns, right-hand W_hh factor, which input-side blocks they carry)
    if mode == "gru" and d_xn is not None:  # reset_after: the n rows differ on the two sides
        jobs = [(slice(0, 2 * H), d_hh[:2 * H], x2, prev, True, True),
                (slice(2 * H, 3 * H), d_xn, x2, None, True, False),
                (slice(2 * H, 3 * H), d_hh[2 * H:], None, prev, False, True)]
    elif mode == "gru":  # not reset_after: the n rows met r * u, not u
        ru = None
        if need_hh:
            ru = _scratch("ru", (T, B, H), dtype)
            np.copyto(ru, res["aux"].transpose(0, 2, 1))
            ru = ru.reshape(T * B, H)
        jobs = [(slice(0, 2 * H), d_hh[:2 * H], x2, prev, True, True),
                (slice(2 * H, 3 * H), d_hh[2 * H:], x2, ru, True, True)]
    else:
        jobs = [(slice(None), d_hh, x2, prev, True, True)]
    for rows, d, left, middle, ih_side, hh_side in jobs:
        dwi, dwh, db = _gemm_cat(d, left if ih_side else None, middle if hh_side else None,
                                 need_b, dtype)
        if dwi is not None:
            out["weight_ih"][rows] = dwi
        if dwh is not None:
            out["weight_hh"][rows] = dwh
        if db is not None:
            if ih_side and "bias_ih" in out:
                out["bias_ih"][rows] = db
            if hh_side and "bias_hh" in out:
                out["bias_hh"][rows] = db
