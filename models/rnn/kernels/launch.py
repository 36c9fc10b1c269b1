"""The Python layer of the fused recurrent kernels: allocate, pack the weights, call the
kernels, finish the gradients.

Every per-step array is batch-major, (B, .), as the states are (see ``common``). Forward: per
step the kernel runs x_t W_ih^T and h_{t-1} W_hh^T into one (B, G H) buffer and the gate
math, writing h_t (and c_t) straight into the output states. Backward: the kernel runs the
recurrence backwards (one (B, G H) x (G H, H) product per step) and returns the gradient
w.r.t. the gate pre-activations of all steps, (T B, G H). The weight and bias gradients are
either summed step by step inside the kernel (x_t^T dpre_t, u_t^T dpre_t, while dpre_t is in
cache; when the accumulators fit in L2, see ``_step_grads``) or made afterwards as one GEMM
of dpre with [x | h_{t-1} | 1] (T B, .) (h_{t-1} read back from the output states); x's
gradient is one GEMM.

The per-step products use the packed AVX-512 kernel (``packed``: W_ih^T, W_hh^T or W_hh
packed once per call) where the CPU has it, BLAS elsewhere; the GEMMs that span all steps go
through ``common.gemm`` (one BLAS library; see there).

With ``minigrad.get_num_threads() >= 2`` and enough work, a worker thread takes a share
(``side``; the plans: ``_forward_plan`` and ``backward``): the forward is split by hidden
units (or, for narrow layers, by the products' columns), or the worker makes the input
projections ahead; the backward's weight gradients are summed on the worker behind the
recurrence.

Arrays come in as a dict ``name -> ndarray`` (``x`` (T, B, I), ``h0``, ``c0`` (B, H),
``weight_ih`` (G H, I), ``weight_hh`` (G H, H), ``bias_ih``, ``bias_hh`` (G H,), ``peephole``
(3, H), ``probe`` (T, S, B, H), zero; absent ones are None), all C-contiguous and of one float
dtype, already validated. The probe is added to each state as it is made and changes nothing
(it is zero); its gradient is the total dL/dh_t (and dL/dc_t), which the backward kernel
copies out as it passes each step.
"""

import math
import sys
import threading

import numpy as np

import minigrad as mg

from . import family as families
from . import grads_after, operands, packed, side
from . import gru as gru_kernels
from . import lstm as lstm_kernels
from . import rnn as rnn_kernels
from .common import gemm, transpose_into
from .sync import PROGRESS, SIDE_STEPS, new_sync

_EMPTY = {}
_NO_SYNC = np.zeros(0, np.int64)


class _Scratch(threading.local):
    def __init__(self):
        self.buffers = {}


_SCRATCH = _Scratch()


def release_scratch():
    """Drop this thread's cached temporaries (the largest gradient buffers used so far; they
    are kept to spare the page faults of fresh allocations) and its pool of outputs."""
    _SCRATCH.buffers.clear()
    _POOL.buffers.clear()


class _Pool(threading.local):
    def __init__(self):
        self.buffers = {}  # (size, dtype) -> [raw arrays]
        self.bytes = 0


_POOL = _Pool()
_POOL_MAX_BYTES = 64 * 2**20  # per thread
_POOL_PER_SIZE = 3


def pooled_empty(shape, dtype):
    """``aligned_empty(shape, dtype)`` whose memory comes, when it can, from an array this
    thread made here before and that nothing refers to any more (no view, no Tensor, no saved
    activation: its reference count says so). Outputs and saved activations are made at every
    call; fresh, each page of one costs a page fault wherever glibc serves it from new mmaps
    (measured: an LSTM (32, 50, 64, 128) fwd+bwd took ~1,900 faults per call, 0 with this).
    At most ``_POOL_PER_SIZE`` arrays per size and 64 MB per thread are kept."""
    dtype = np.dtype(dtype)
    size = math.prod(shape)
    raw_size = size + 64 // dtype.itemsize
    key = (raw_size, dtype)
    kept = _POOL.buffers.get(key)
    if kept is None:
        kept = _POOL.buffers[key] = []
    for pair in kept:  # (raw array, offset of its first 64-byte boundary)
        # the pair's reference and getrefcount's argument: nothing else
        if sys.getrefcount(pair[0]) <= 2:
            raw, start = pair
            break
    else:
        raw = np.empty(raw_size, dtype)
        start = (-raw.ctypes.data % 64) // dtype.itemsize
        if len(kept) < _POOL_PER_SIZE and _POOL.bytes + raw.nbytes <= _POOL_MAX_BYTES:
            kept.append((raw, start))
            _POOL.bytes += raw.nbytes
    return raw[start:start + size].reshape(shape)


_SCRATCH_MAX_BYTES = 16 * 2**20


def _scratch(role, shape, dtype):
    """A reusable array for a temporary that never leaves this module (one per role, dtype
    and thread; grown as needed). Temporaries above 16 MB are allocated afresh each time: at
    that size the page faults cost little next to the GEMMs, and nothing big stays behind."""
    size = math.prod(shape)
    dtype = np.dtype(dtype)
    if size * dtype.itemsize > _SCRATCH_MAX_BYTES:
        return aligned_empty(shape, dtype)
    key = (role, dtype)
    buf = _SCRATCH.buffers.get(key)
    if buf is None or buf.size < size:
        buf = aligned_empty((size,), dtype)
        _SCRATCH.buffers[key] = buf
    return buf[:size].reshape(shape)


def aligned_empty(shape, dtype):
    """np.empty(shape, dtype) starting on a 64-byte boundary (numpy guarantees 16): arrays
    that two threads write side by side (the states and gates of their own units) then share
    no cache line when the split falls on a multiple of 16 float32 columns, and vector
    loads do not straddle lines."""
    dtype = np.dtype(dtype)
    size = math.prod(shape)
    raw = np.empty(size + 64 // dtype.itemsize, dtype)
    start = (-raw.ctypes.data % 64) // dtype.itemsize
    return raw[start:start + size].reshape(shape)


def num_gates(mode, coupled):
    """G: the number of gate blocks stacked in W_ih / W_hh (``models.rnn.cells.gate_count``)."""
    from ..cells import gate_count

    return gate_count(mode, coupled)


def _empty(dtype, ndim=2):
    key = (dtype, ndim)
    if key not in _EMPTY:
        _EMPTY[key] = np.empty((0,) * ndim, dtype=dtype)
    return _EMPTY[key]


def _operand(fam, w, source=None):
    """The two forms ``matmul_into`` takes of the per-step right-hand matrix W' (K, N): its
    panels (``packed.pack`` for a packed family ``fam``, once for all T steps) and W' itself
    (C-contiguous; read with ``blas``). The one it will not read is left empty, so that no
    copy is made. ``source``: (key, part, array): W' is ``part`` of the parameter keyed
    ``key`` (``operands.key``) whose array is ``array``; the form made is kept there for the
    next call (see ``operands``)."""
    if fam.packed:
        def make():
            return packed.pack(w, fam), _empty(w.dtype)
    else:
        def make():
            return _empty(w.dtype, 1), np.ascontiguousarray(w)
    if source is None:
        return make()
    key, part, array = source
    return operands.get(key, (part, fam.name, w.shape), array, make)


def _product_buffer(fam, B, N, dtype):
    """A per-step product's output (B, N'), N' the columns ``matmul_into`` writes."""
    return np.empty((B, fam.padded_cols(N, dtype)), dtype)


def _bias(arrays, mode, H, reset_after, dtype):
    """The bias added to the pre-activations, and (GRU reset_after) b_hn, which is kept apart
    (it sits inside r * (u W_hn^T + b_hn))."""
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


_FULL_LENGTHS = {}


def _lengths(lengths, T, B):
    """lengths as an int64 array (T for every sequence when None: one array per (T, B), kept
    for the next call; the kernels only read it)."""
    if lengths is not None:
        return lengths
    full = _FULL_LENGTHS.get((T, B))
    if full is None:
        if len(_FULL_LENGTHS) >= 64:
            _FULL_LENGTHS.clear()
        full = _FULL_LENGTHS[(T, B)] = np.full(B, T, np.int64)
    return full


def forward(mode, arrays, lengths, mask, *, relu=False, reverse=False, coupled=False,
            reset_after=True, save=True, keys=None):
    """Run one layer-direction. lengths: (B,) int64 or None (all T steps); mask: (B, H) or
    None; keys: None or a dict weight name -> ``operands.key`` of its parameter (the derived
    forms of the weights are then kept from call to call). The kernel family is the active
    one (``family.active()``).

    Returns (states, residuals): states (T, S, B, H) with S = 2 (h, c) for LSTM else 1;
    residuals a dict of the arrays the backward pass needs (None unless ``save``).
    """
    x, h0, w_ih = arrays["x"], arrays["h0"], arrays["weight_ih"]
    T, B, I = x.shape
    H = h0.shape[1]
    S = 2 if mode == "lstm" else 1
    if T == 0 or B == 0:
        states = np.empty((T, S, B, H), x.dtype)
        return states, ({"states": states} if save else None)
    fam = families.active()
    plan, cut = _forward_plan(fam, mode, reset_after, T, B, I, H, w_ih.shape[0], x.dtype)
    try:
        return _planned_forward(fam, mode, arrays, lengths, mask, plan, cut, relu, reverse,
                                coupled, reset_after, save, keys or _EMPTY)
    finally:
        if plan is not None:
            side.release_worker()


def _planned_forward(fam, mode, arrays, lengths, mask, plan, cut, relu, reverse, coupled,
                     reset_after, save, keys):
    """``forward`` once the plan is made (and the worker claimed for it)."""
    x, h0, w_ih, w_hh = arrays["x"], arrays["h0"], arrays["weight_ih"], arrays["weight_hh"]
    T, B, I = x.shape
    H = h0.shape[1]
    GH = w_ih.shape[0]
    dtype = x.dtype
    S = 2 if mode == "lstm" else 1
    # Arrays the two threads write side by side start on a cache line (see aligned_empty).
    new = pooled_empty  # aligned: two threads may write side by side
    states = new((T, S, B, H), dtype)
    lengths = _lengths(lengths, T, B)
    bias, bhn = _bias(arrays, mode, H, reset_after, dtype)
    use_mask = mask is not None
    mask = mask if use_mask else _empty(dtype)
    n = T if save else 1
    u = np.empty((B, H), dtype)
    res = {"states": states} if save else None
    split = plan == "columns"
    col0 = cut if split else 0
    xp_all = _scratch("xp", (T, B, fam.padded_cols(GH, dtype)), dtype) \
        if plan == "inputs" else _empty(dtype, 3)
    sync = new_sync() if plan else _NO_SYNC
    pre = _product_buffer(fam, B, GH, dtype)
    xp = pre
    if mode == "rnn":
        kernel = rnn_kernels.rnn_forward

        def kernel_args(xw, hh):
            return (x, *xw, bias, h0, *hh, mask, lengths, reverse, relu, use_mask, states, pre,
                    u)
    elif mode == "lstm":
        peep = arrays["peephole"]
        use_peep = peep is not None
        gates = new((n, B, GH), dtype)
        kernel = lstm_kernels.lstm_forward

        def kernel_args(xw, hh):
            return (x, *xw, bias, h0, arrays["c0"], *hh,
                    peep if use_peep else np.empty((3, 0), dtype), mask, lengths, reverse,
                    coupled, use_peep, use_mask, save, states, gates, pre, u)
        if save:
            res["gates"] = gates
    else:
        empty = (_empty(dtype, 1), _empty(dtype))
        gates = new((n, B, GH), dtype)
        aux = new((n, B, H), dtype)
        rz = nn = empty
        if not reset_after:
            rz = _operand(fam, w_hh[:2 * H].T, _source(keys, "weight_hh", w_hh, "rz.T"))
            nn = _operand(fam, w_hh[2 * H:].T, _source(keys, "weight_hh", w_hh, "n.T"))
            pre = _product_buffer(fam, B, 2 * H, dtype)
        xp = _product_buffer(fam, B, GH, dtype)
        hn = _product_buffer(fam, B, H, dtype)
        kernel = gru_kernels.gru_forward

        def kernel_args(xw, hh):
            return (x, *xw, bias, bhn, h0, *(hh if reset_after else empty), *rz, *nn, mask,
                    lengths, reverse, reset_after, use_mask, save, states, gates, aux, xp, pre,
                    u, hn)
        if save:
            res.update(gates=gates, aux=aux)

    def run_here():
        # This thread's packed weights: the first col0 columns when the products are split,
        # none of W_ih^T when the worker makes all input projections. Packed here, while the
        # worker packs its own (packing releases the GIL).
        x_cols = w_ih.T[:, :col0] if split else w_ih.T
        part = ("T", col0) if split else "T"
        xw = (_empty(dtype, 1), _empty(dtype)) if plan == "inputs" else _operand(
            fam, x_cols, _source(keys, "weight_ih", w_ih, part))
        hh = (_operand(fam, w_hh.T[:, :col0] if split else w_hh.T,
                       _source(keys, "weight_hh", w_hh, part))
              if mode != "gru" or reset_after else (_empty(dtype, 1), _empty(dtype)))
        kernel(*kernel_args(xw, hh), xp_all, split, fam.token, sync)

    if plan is None:
        run_here()
    elif plan == "units":  # each thread makes the gates and states of half the units
        units_forward(fam, mode, x, w_ih, bias, bhn, h0, arrays["c0"], w_hh,
                      arrays["peephole"], mask, lengths, reverse, relu, coupled, use_mask, save,
                      states, gates if mode != "rnn" else None,
                      aux if mode == "gru" else None, cut, sync)
    elif split:  # the worker makes the last columns of every step's products
        side_args = (x, w_ih.T[:, col0:], h0, states, w_hh.T[:, col0:], mask, use_mask,
                     reverse, mode != "gru", xp[:, col0:], pre[:, col0:],
                     np.empty((B, H), dtype))
        side.run_beside(side.product_columns, (*side_args, fam.token), run_here, (), sync)
    else:  # the worker makes x_t W_ih^T for all steps ahead of the recurrence
        side.run_beside(side.input_products,
                        (x, w_ih.T, xp_all, reverse, side.chunk_steps(B), fam.token),
                        run_here, (), sync)
    return states, res


def units_forward(fam, mode, x, w_ih, bias, bhn, h0, c0, w_hh, peep, mask, lengths, reverse,
                  relu, coupled, use_mask, save, states, gates, aux, Hm, sync):
    """The forward with the hidden units split between this thread ([0, Hm)) and the worker
    ([Hm, H)), see ``lstm_kernels.lstm_forward_units`` (and the RNN's and GRU's, reset_after
    only). The worker is claimed."""
    B, H = h0.shape
    G = w_ih.shape[0] // H
    dtype = x.dtype
    use_peep = peep is not None
    peep = peep if use_peep else np.empty((3, 0), dtype)

    def share(u0, u1, mine, theirs, finish):
        cols = (np.arange(G)[:, None] * H + np.arange(u0, u1)[None, :]).reshape(-1)
        pre = np.empty((B, fam.padded_cols(cols.size, dtype)), dtype)
        u = np.empty((B, H), dtype)
        ends = (u0, u1, mine, theirs, finish)
        if mode == "rnn":
            return (x, w_ih[cols].T, bias[cols], h0, w_hh[cols].T, mask, lengths, reverse,
                    relu, use_mask, states, pre, u, *ends)
        if mode == "gru":
            xp = np.empty_like(pre)
            return (x, w_ih[cols].T, bias[cols], bhn, h0, w_hh[cols].T, mask, lengths, reverse,
                    use_mask, save, states, gates, aux, xp, pre, u, *ends)
        return (x, w_ih[cols].T, bias[cols], h0, c0, w_hh[cols].T, peep, mask, lengths,
                reverse, coupled, use_peep, use_mask, save, states, gates, pre, u, *ends)

    kernel = {"rnn": rnn_kernels.rnn_forward_units, "lstm": lstm_kernels.lstm_forward_units,
              "gru": gru_kernels.gru_forward_units}[mode]
    side.run_beside(kernel, (*share(Hm, H, SIDE_STEPS, PROGRESS, True), fam.token), kernel,
                    (*share(0, Hm, PROGRESS, SIDE_STEPS, False), fam.token, sync), sync)


def _forward_plan(fam, mode, reset_after, T, B, I, H, GH, dtype):
    """How the forward uses the worker thread (and claims it: the caller releases it):
    (None, 0) alone; ("units", Hm) this thread makes units [0, Hm), the worker the rest
    (``units_forward``; not GRU reset_after=False, whose n product needs all of r * u);
    ("columns", col0) the worker makes the columns from col0 on of every step's products, in
    step with the recurrence (layers too narrow for the units split, I < H: the input
    projections alone would leave the worker idle most of the time); ("inputs", 0) the
    worker makes the input projections of all steps ahead."""
    if not fam.packed or T < 2 or mg.get_num_threads() < 2:
        return None, 0
    plan = None, 0
    V = fam.vector_width(dtype)
    panel = fam.panel_vectors * V
    cols = fam.padded_cols(GH, dtype)
    col0 = cols // 2 // panel * panel  # the worker gets the larger half: this thread
    # also runs the gate math
    Hm = H // 2 // V * V  # the units this thread keeps, a whole number of vectors
    if ((mode != "gru" or reset_after) and I > 0 and Hm > 0
            and B * (I + H) * GH // 2 >= UNITS_MIN_MACS_PER_STEP):
        plan = "units", Hm
    elif (0 < I < H and (mode != "gru" or reset_after) and col0 >= panel
            and B * (I + H) * (cols - col0) >= SPLIT_MIN_MACS_PER_STEP):
        plan = "columns", col0
    elif T * B * I * GH >= SIDE_MIN_MACS["forward"]:
        plan = "inputs", 0
    if plan[0] is None or not side.claim_worker(mg.get_num_threads()):
        return None, 0
    return plan


# A call hands work to the side thread (``side``) when minigrad may use two threads, the CPU
# has the packed kernels, and the multiply-adds moved there pay for the hand-over and for
# the data that crosses between the cores (xp or dpre, read once on the other core). Set
# from bench/bench_rnn.py's configurations: the forward of LSTM (16, 100, 32, 64) and RNN
# (32, 50, 64, 128) (13 M multiply-adds) ran 15-20 % slower with the side thread, LSTM / GRU
# (32, 50, 64, 128) (39-52 M) 10 % faster; the backward gained from 39 M (LSTM (16, 100,
# 32, 64)) and not at 10 M.
SIDE_MIN_MACS = {"forward": 2**25, "backward": 2**24}
# The forward split by columns hands over twice per step and moves h_t and the worker's
# columns of the products between the cores: measured no faster than the input projections
# alone at LSTM / GRU (32, 50, 64, 128) (1.2-1.7 M multiply-adds moved per step), 1.4-1.7x
# faster than one thread at (32, 50, 64, 512) (10-19 M).
SPLIT_MIN_MACS_PER_STEP = 2**21
# The LSTM's units split hands over once per step and moves only half of h_t each way.
UNITS_MIN_MACS_PER_STEP = 2**20


def _claim_side(fam, macs, T, which):
    """Whether this call runs its off-chain products on the worker thread (and has claimed
    it: the caller releases it). ``macs``: the multiply-adds that would move there;
    ``which``: "forward" or "backward"."""
    return (fam.packed and T > 1 and macs >= SIDE_MIN_MACS[which]
            and side.claim_worker(mg.get_num_threads()))


def grad_layout(names, arrays, needs):
    """(name, shape) of the gradients the backward pass returns, in input order."""
    return [(name, arrays[name].shape) for name, need in zip(names, needs, strict=True) if need]


def backward(mode, g, arrays, res, lengths, mask, wanted, *, relu=False, reverse=False,
             coupled=False, reset_after=True, keys=None):
    """Gradients w.r.t. the inputs listed in ``wanted`` ((name, shape) pairs) from the gradient
    ``g`` (T, S, B, H) w.r.t. the states, packed into one flat array in that order. keys: as
    in ``forward``."""
    x, h0, w_ih = arrays["x"], arrays["h0"], arrays["weight_ih"]
    T, B, I = x.shape
    H = h0.shape[1]
    GH = w_ih.shape[0]
    dtype = x.dtype
    sizes = [math.prod(shape) for _, shape in wanted]
    flat = pooled_empty((sum(sizes),), dtype)
    out, offset = {}, 0
    for (name, shape), size in zip(wanted, sizes, strict=True):
        out[name] = flat[offset:offset + size].reshape(shape)
        offset += size
    if T == 0 or B == 0:
        flat[:] = 0
        return flat
    fam = families.active()
    keys = keys or _EMPTY
    side_macs = T * B * GH * (I * ("weight_ih" in out) + H * ("weight_hh" in out))
    beside = (mode != "gru" or reset_after) and _claim_side(fam, side_macs, T, "backward")
    try:
        steps = (_accumulators(mode, out, I, H, fam.padded_cols(GH, dtype), dtype, "side")
                 if beside else _step_grads(fam, mode, reset_after, out, B, I, H, GH, dtype))
        dxp = _run_backward(fam, mode, g, arrays, res, lengths, mask, out, steps, relu,
                            reverse, coupled, reset_after, keys)
    finally:
        if beside:
            side.release_worker()
    cols = steps["cols"]
    dpre = steps["dpre"]
    kept = dpre.shape[0]
    d_hh = dpre.reshape(kept * B, cols)
    d_ih = d_hh if dxp is None else dxp.reshape(kept * B, cols)
    if "x" in out:
        w = w_ih
        if cols != GH:  # zero rows for dpre's padding columns: one contiguous GEMM
            w = operands.get(keys.get("weight_ih"), ("padded", cols), w_ih,
                             lambda: _padded_rows(w_ih, cols))
        gemm(d_ih, w, out["x"].reshape(T * B, I))
    if steps["where"] in ("kernel", "side"):
        for name, key in (("weight_ih", "w_ih"), ("weight_hh", "w_hh")):
            if name in out:
                transpose_into(steps[key], out[name])
        for name in ("bias_ih", "bias_hh"):
            if name in out:
                gb = steps["b_hh"] if mode != "gru" or name == "bias_hh" else steps["b_ih"]
                out[name][...] = gb[:GH]
    elif steps["where"] == "packed_after" and not (mode == "gru" and not reset_after):
        e1, e2 = _empty(dtype, 1), _empty(dtype)
        mask_arr = mask if mask is not None else _empty(dtype)
        grads_after.weight_grads_after(
            x, res["states"], h0, mask_arr, mask is not None, _lengths(lengths, T, B),
            reverse, d_ih, d_hh, out.get("weight_ih", e2), out.get("weight_hh", e2),
            out.get("bias_ih", e1), out.get("bias_hh", e1), fam.token)
    else:
        _weight_grads(fam, out, mode, x, res, h0, mask, _lengths(lengths, T, B), d_ih, d_hh,
                      reverse, reset_after, GH, steps["where"] == "packed_after")
    return flat


def _padded_rows(w, rows):
    """w (R, C) with zero rows below it up to ``rows``."""
    out = np.zeros((rows, w.shape[1]), w.dtype)
    out[:w.shape[0]] = w
    return out


def _source(keys, name, array, part):
    """``_operand``'s source: ``part`` of the weight ``name`` (None without its key)."""
    key = keys.get(name)
    return None if key is None else (key, part, array)


def _run_backward(fam, mode, g, arrays, res, lengths, mask, out, steps, relu, reverse, coupled,
                  reset_after, keys):
    """Run the backward kernel (with the side thread summing the weight gradients when
    ``steps["where"] == "side"``); fills ``out``'s h0 / c0 / peephole / probe gradients and
    ``steps["dpre"]``. Returns dxp (GRU reset_after: the gradient w.r.t. the input
    projection, (kept, B, cols)) or None."""
    x, h0, w_ih, w_hh = arrays["x"], arrays["h0"], arrays["weight_ih"], arrays["weight_hh"]
    T, B, I = x.shape
    H = h0.shape[1]
    GH = w_ih.shape[0]
    dtype = x.dtype
    lengths = _lengths(lengths, T, B)
    use_mask = mask is not None
    mask = mask if use_mask else _empty(dtype)
    states = res["states"]
    cols = steps["cols"]
    beside = steps["where"] == "side"
    # All steps' gate gradients are read after the kernel only by x's GEMM and the weight-
    # gradient GEMMs (or by the side thread); without those the kernel keeps just the
    # current step's.
    kept = T if "x" in out or steps["where"] != "kernel" else 1
    dpre = _scratch("dpre", (kept, B, cols), dtype)
    dpre[:, :, GH:] = 0
    steps["dpre"] = dpre
    dxp = None  # GRU reset_after: the gradient w.r.t. the input projection differs from dpre
    dh = np.empty((B, H), dtype)
    keep = "probe" in out
    S = 2 if mode == "lstm" else 1
    dstates = out["probe"] if keep else np.empty((0, S, 0, 0), dtype)
    sync = new_sync() if beside else _NO_SYNC
    e1, e2 = _empty(dtype, 1), _empty(dtype)
    # the kernel's own accumulators: empty when the side thread (or a GEMM after) does it
    acc = steps if steps["where"] == "kernel" else {"w_ih": e2, "w_hh": e2, "b_ih": e1,
                                                    "b_hh": e1}

    def scratch(width=H):
        return np.empty((B, width), dtype)

    tmp = _product_buffer(fam, B, H, dtype)
    whole = (_operand(fam, w_hh, _source(keys, "weight_hh", w_hh, "all"))
             if mode != "gru" or reset_after else None)
    w_side = (acc["w_ih"], acc["w_hh"])
    dc = None
    if mode == "rnn":
        kernel = rnn_kernels.rnn_backward
        args = (g, states, x, h0, *whole, mask, lengths, reverse, relu, use_mask,
                dpre, *w_side, acc["b_hh"], dh, scratch(), tmp, scratch(I), scratch(), keep,
                dstates)
    elif mode == "lstm":
        peep = arrays["peephole"]
        use_peep = peep is not None
        dpeep = out["peephole"] if "peephole" in out else np.empty((3, H), dtype)
        dc = np.empty((B, H), dtype)
        kernel = lstm_kernels.lstm_backward
        args = (g, res["gates"], states, x, h0, arrays["c0"], *whole,
                peep if use_peep else np.empty((3, 0), dtype), mask, lengths, reverse,
                coupled, use_peep, use_mask, dpre, *w_side, acc["b_hh"], dh, dc, dpeep,
                scratch(), scratch(), np.empty(H, dtype), tmp, scratch(I), scratch(), keep,
                dstates)
    else:
        empty = (_empty(dtype, 1), _empty(dtype))
        if reset_after:
            rz, nn = empty, empty
            dxp = _scratch("dxp", (kept, B, cols), dtype)
            dxp[:, :, GH:] = 0
        else:
            whole = empty
            rz = _operand(fam, w_hh[:2 * H], _source(keys, "weight_hh", w_hh, "rz"))
            nn = _operand(fam, w_hh[2 * H:], _source(keys, "weight_hh", w_hh, "n"))
        kernel = gru_kernels.gru_backward
        args = (g, res["gates"], states, x, h0, res["aux"], *whole, *rz, *nn, mask, lengths,
                reverse, reset_after, use_mask, dpre,
                dxp if reset_after else _empty(dtype, 3), *w_side, acc["b_ih"], acc["b_hh"],
                dh, scratch(), scratch(), tmp, _product_buffer(fam, B, H, dtype), scratch(I),
                scratch(), keep, dstates)
    args = (*args, fam.token, sync)
    if beside:
        # The worker sums the weight gradients behind the recurrence; once the recurrence is
        # done, this thread takes a share of the chunks left, into accumulators of its own.
        chunk = side.chunk_steps(B)
        mine = _accumulators(mode, out, I, H, cols, dtype, "side")
        common = (x, states, h0, mask, use_mask, lengths, reverse,
                  dpre if dxp is None else dxp, dpre)

        def operands(acc):
            return (*common, acc["w_ih"], acc["w_hh"], acc["b_ih"], acc["b_hh"], chunk,
                    np.empty((chunk * B, I), dtype), np.empty((chunk * B, H), dtype))

        side.run_beside(side.weight_grads, (*operands(steps), True, fam.token), kernel, args,
                        sync, then=(side.weight_grads, (*operands(mine), False, fam.token,
                                                        sync)))
        for key in ("w_ih", "w_hh", "b_ih", "b_hh"):
            steps[key] += mine[key]
    else:
        kernel(*args)
    if "h0" in out:
        out["h0"][...] = dh
    if "c0" in out:
        out["c0"][...] = dc
    return dxp


# The weight gradients are summed step by step inside the backward kernel (one (F, B) x
# (B, G H) product per step and side, while the step's gradients are in cache) when the
# accumulators fit in L2 with room to spare; else one GEMM over all steps afterwards.
_STEP_GRADS_MAX_BYTES = 768 * 2**10


def _step_grads(fam, mode, reset_after, out, B, I, H, GH, dtype):
    """How the weight gradients are made without the side thread: ``where`` = "kernel"
    (summed step by step inside the backward kernel), "packed_after" (over all steps after
    it, through the packed kernel) or "blas_after"; the width ``cols`` of the per-row gate
    gradients, and the accumulators (see ``_accumulators``; empty unless "kernel")."""
    cols = fam.padded_cols(GH, dtype)
    wanted = any(k in out for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    in_kernel = (fam.packed and B >= 8 and wanted
                 and (mode != "gru" or reset_after)
                 and (I + H) * cols * np.dtype(dtype).itemsize <= _STEP_GRADS_MAX_BYTES)
    if in_kernel:
        return _accumulators(mode, out, I, H, cols, dtype, "kernel")
    # Few rows per step (B < 8): the products over all steps through the packed kernel, for
    # which the gate gradients get ``cols`` columns; else BLAS, G H columns.
    after = fam.packed and B < 8
    return _accumulators(mode, {}, I, H, cols if after else GH, dtype,
                         "packed_after" if after else "blas_after")


def _accumulators(mode, out, I, H, cols, dtype, where):
    """The plan for the weight gradients: ``where``, ``cols``, and zeroed accumulators for the
    gradients ``out`` asks for (empty for the others): w_ih (I, cols), w_hh (H, cols), b_ih,
    b_hh (cols,) (LSTM and RNN: one accumulator, ``b_hh``, serves both biases, whose
    gradients are equal)."""
    need_ih, need_hh, need_bih, need_bhh = (
        k in out for k in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
    if mode != "gru":
        need_bih, need_bhh = False, need_bih or need_bhh
    empty1, empty2 = _empty(dtype, 1), _empty(dtype)
    return {"where": where, "cols": cols,
            "w_ih": np.zeros((I, cols), dtype) if need_ih else empty2,
            "w_hh": np.zeros((H, cols), dtype) if need_hh else empty2,
            "b_ih": np.zeros(cols, dtype) if need_bih else empty1,
            "b_hh": np.zeros(cols, dtype) if need_bhh else empty1}


def _grad_gemm(fam, d, left, middle, ones, dtype, packed_product):
    """d^T (R, T B) @ [left | middle | 1] (T B, .), the needed column blocks side by side, as
    one GEMM (one pass over d instead of three). d: (T B, R). Returns the (R, .) blocks in
    that order (None for the ones not asked for). ``packed_product``: through
    ``packed.add_product`` (R a multiple of the vector width) instead of BLAS."""
    parts = [p for p in (left, middle) if p is not None]
    cols = sum(p.shape[1] for p in parts) + (1 if ones else 0)
    rhs = _scratch("rhs", (d.shape[0], cols), dtype)
    c = 0
    for p in parts:
        rhs[:, c:c + p.shape[1]] = p
        c += p.shape[1]
    if ones:
        rhs[:, c] = 1
    if packed_product:  # out += a @ b with a = rhs^T read in place: the transposed product
        prod = np.zeros((cols, d.shape[1]), dtype)
        packed.add_product(fam.token, rhs.T, d, prod)
        prod = prod.T
    else:
        prod = np.empty((d.shape[1], cols), dtype)
        gemm(d.T, rhs, prod)
    blocks, c = [], 0
    for p in (left, middle):
        if p is None:
            blocks.append(None)
        else:
            blocks.append(prod[:, c:c + p.shape[1]])
            c += p.shape[1]
    blocks.append(prod[:, c] if ones else None)
    return blocks


def _weight_grads(fam, out, mode, x, res, h0, mask, lengths, d_ih, d_hh, reverse, reset_after, GH,
                  packed_product):
    """The gradients of W_ih, W_hh and the biases, as GEMMs over all steps, from the per-row
    gradients d_ih, d_hh (T B, >= G H) w.r.t. x W_ih^T + b_ih and u W_hh^T + b_hh (the same
    array except for a GRU with reset_after, whose n blocks differ; the columns past G H are
    zero). ``packed_product``: see ``_grad_gemm``."""
    T, B, I = x.shape
    H = h0.shape[1]
    dtype = x.dtype
    need_ih, need_hh = "weight_ih" in out, "weight_hh" in out
    need_bih, need_bhh = "bias_ih" in out, "bias_hh" in out
    if not (need_ih or need_hh or need_bih or need_bhh):
        return
    x2 = grads_after.inputs(x, lengths) if need_ih else None
    prev = None
    if need_hh:
        prev = grads_after.previous_states(res["states"], h0,
                                           _empty(dtype) if mask is None else mask,
                                           mask is not None, lengths, reverse)
    gru_n_apart = mode == "gru" and not reset_after  # W_hn met r * u, not u
    if d_ih is d_hh:
        dwi, dwh, db = _grad_gemm(fam, d_ih, x2, prev, need_bih or need_bhh, dtype, packed_product)
        dbi = dbh = db
    else:
        dwi, _, dbi = _grad_gemm(fam, d_ih, x2, None, need_bih, dtype, packed_product)
        _, dwh, dbh = _grad_gemm(fam, d_hh, None, prev, need_bhh, dtype, packed_product)
    if need_ih:
        out["weight_ih"][...] = dwi[:GH]
    if need_hh:
        out["weight_hh"][...] = dwh[:GH]
        if gru_n_apart:
            ru = res["aux"].reshape(T * B, H)
            gemm(np.ascontiguousarray(d_hh[:, 2 * H:GH]).T, ru, out["weight_hh"][2 * H:])
    if need_bih:
        out["bias_ih"][...] = dbi[:GH]
    if need_bhh:
        out["bias_hh"][...] = dbh[:GH]
