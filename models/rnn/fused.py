"""The fused execution path of the recurrent layers: one primitive per layer and direction.

``fused_recurrence`` runs a whole RNN / LSTM / GRU layer-direction over a sequence as ONE
autograd primitive, ``rnn_fused``, whose forward and backward are numba kernels
(``models.rnn.kernels``): each step is two products (x_t W_ih^T, h_{t-1} W_hh^T) plus
vectorised gate math, and the backward pass is one fused BPTT kernel (itself the forward of
the primitive ``rnn_fused_bptt``) that also sums the weight gradients step by step (or leaves
them to one GEMM afterwards for large layers).

It is first order only: differentiating its gradient (``create_graph=True``) raises and points
to ``fused=False`` (the unrolled path, built from small primitives). Its symbolic rule replays
the built-in cell's own traced step (``models.cell.symbolic_step``), so a fused graph can
still be traced into sympy expressions.

These kernels are the hand-written overrides of the built-in cells' generated kernels
(``models.cell.overrides``; registered at the end of this module).
"""

import functools
import math

import numpy as np

import minigrad as mg

from ..cell.registry import NAMES
from .kernels import launch, operands

MODES = NAMES  # the built-in kinds (models.cell.registry), each a kernel of models.rnn.kernels
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_INPUTS = ("x", "h0", "c0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "peephole", "probe")
_SECOND_ORDER = (
    "rnn_fused: the fused recurrent kernel is first order only; its backward pass is one BPTT "
    "kernel that cannot itself be differentiated, so create_graph=True (double backward, "
    "gradgradcheck, Hessian-vector products, gradient-norm penalties) is not supported "
    "through it. Build the layer with fused=False (the unrolled path) for higher-order "
    "gradients.")

rnn_fused_p = mg.Primitive("rnn_fused", has_residuals=True)
rnn_fused_bptt_p = mg.Primitive("rnn_fused_bptt")


def fused_recurrence(mode, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, *,
                     nonlinearity="tanh", lengths=None, reverse=False, hidden_mask=None,
                     peephole=None, coupled=False, reset_after=True, probe=None,
                     batch_first=False):
    r"""Run one recurrent layer-direction over a whole sequence as one primitive.

    mode: ``"rnn"`` | ``"lstm"`` | ``"gru"``. x: (T, B, I) ((B, T, I) with ``batch_first``:
    read in that layout, its gradient given in it; the states keep theirs); h0: (B, H); c0:
    (B, H) for LSTM, else None. weight_ih: (G H, I), weight_hh: (G H, H), bias_ih /
    bias_hh: (G H,) or None, in PyTorch's layout and gate order: G = 1 (rnn), 4 (lstm: i, f,
    g, o; 3 with ``coupled``: f, g, o), 3 (gru: r, z, n). All Tensors of one dtype, float32
    or float64.

    - rnn: :math:`h_t = \mathrm{act}(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`,
      act = ``nonlinearity`` (``"tanh"`` or ``"relu"``).
    - lstm: :math:`i, f, o = \sigma(\cdot)`, :math:`g = \tanh(\cdot)`,
      :math:`c_t = f \odot c_{t-1} + i \odot g`, :math:`h_t = o \odot \tanh(c_t)`.
      ``peephole``: None or (3, H) rows (w_ci, w_cf, w_co): i and f add w_c* * c_{t-1}, o adds
      w_co * c_t. ``coupled``: i = 1 - f (w_ci is then unused; its gradient is 0).
    - gru: :math:`r, z = \sigma(\cdot)`; ``reset_after``:
      :math:`n = \tanh(W_{in} x + b_{in} + r \odot (W_{hn} h + b_{hn}))`, else
      :math:`n = \tanh(W_{in} x + b_{in} + W_{hn} (r \odot h) + b_{hn})`;
      :math:`h_t = (1 - z) \odot n + z \odot h_{t-1}`.

    hidden_mask: None or (B, H) array/Tensor (already scaled by 1 / (1 - p)), variational
    recurrent dropout: h_{t-1} is multiplied by it where it meets W_hh only; not differentiated.
    lengths: None or (B,) ints in [1, T]: sequence b is processed for t < lengths[b].
    reverse: each sequence runs from its own last step lengths[b] - 1 down to 0.

    probe: None or a zero Tensor (T, S, B, H), usually a leaf with ``requires_grad=True``: it is
    added to each state as the state is made (h_t + p_t, and c_t + p'_t for LSTM, feed the next
    step and the output), so its gradient is the TOTAL derivative dL/dh_t (dL/dc_t) — through
    every later step as well as through the returned states — which the BPTT kernel copies out
    as it passes each step. A hook on the returned states sees only the direct part. The probe
    must be zero (a nonzero one raises): it exists to receive that gradient.

    Returns states: (T, S, B, H), S = 2 (h, c) for LSTM else 1, in original time order;
    states[t, :, b] is the state after time index t. Past a sequence's end it holds the last
    state (forward) or h0 / c0 (reverse), so h_n is states[-1] (forward) or states[0]
    (reverse).
    """
    if mode not in MODES:
        raise ValueError(f"fused_recurrence: mode must be one of {MODES}, got {mode!r}")
    if nonlinearity not in ("tanh", "relu"):
        raise ValueError(f"fused_recurrence: nonlinearity must be 'tanh' or 'relu', got "
                         f"{nonlinearity!r}")
    given = dict(zip(_INPUTS, (x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, peephole,
                               probe), strict=True))
    names = tuple(name for name in _INPUTS if given[name] is not None)
    tensors = [given[name] for name in names]
    batch_first = bool(batch_first)
    dtype = _check_tensors(mode, names, tensors, given, bool(coupled), batch_first)
    T, B = (x.shape[1], x.shape[0]) if batch_first else (x.shape[0], x.shape[1])
    H = h0.shape[1]
    lengths = _check_lengths(lengths, T, B)
    hidden_mask = _check_mask(hidden_mask, B, H, dtype)
    save = mg.is_grad_enabled() and any(t.requires_grad for t in tensors)
    # The derived forms of the weights (packed, transposed) are kept per parameter and
    # version (``kernels.operands``).
    keys = {"weight_ih": operands.key(weight_ih), "weight_hh": operands.key(weight_hh)}
    return mg.bind(rnn_fused_p, *tensors, mode=mode, names=names, nonlinearity=nonlinearity,
                   lengths=lengths, reverse=bool(reverse), hidden_mask=hidden_mask,
                   coupled=bool(coupled), reset_after=bool(reset_after), save=save, keys=keys,
                   batch_first=batch_first)


# ---- validation ----------------------------------------------------------------------------
def _check_tensors(mode, names, tensors, given, coupled, batch_first=False):
    who = "fused_recurrence"
    for name, t in zip(names, tensors, strict=True):
        if not isinstance(t, mg.Tensor):
            raise TypeError(f"{who}: {name} must be a Tensor, got {type(t).__name__}")
    x, h0 = given["x"], given["h0"]
    dtype = x.numpy().dtype if x is not None else None
    if dtype not in _FLOATS:
        raise TypeError(f"{who}: x must be float32 or float64, got {dtype}")
    for name, t in zip(names, tensors, strict=True):
        if t.numpy().dtype != dtype:
            raise TypeError(f"{who}: all inputs must share one dtype; x is {dtype} but {name} "
                            f"is {t.dtype}")
    for name in ("h0", "weight_ih", "weight_hh"):
        if given[name] is None:
            raise ValueError(f"{who}: {name} is required")
    if mode == "lstm" and given["c0"] is None:
        raise ValueError(f"{who}: mode 'lstm' needs c0 (B, H)")
    if mode != "lstm":
        for name, bad in (("c0", given["c0"] is not None),
                          ("peephole", given["peephole"] is not None), ("coupled", coupled)):
            if bad:
                raise ValueError(f"{who}: {name} is for mode 'lstm' only (mode is {mode!r})")
    xs, hs = x.numpy().shape, h0.numpy().shape
    if len(xs) != 3:
        layout = "(B, T, I)" if batch_first else "(T, B, I)"
        raise ValueError(f"{who}: x: expected {layout}, got shape {xs}")
    if len(hs) != 2 or hs[1] == 0:
        raise ValueError(f"{who}: h0: expected (B, H) with H >= 1, got shape {hs}")
    B, T, I = xs if batch_first else (xs[1], xs[0], xs[2])
    H = hs[1]
    GH = launch.num_gates(mode, coupled) * H
    expected = {"h0": (B, H), "c0": (B, H), "weight_ih": (GH, I), "weight_hh": (GH, H),
                "bias_ih": (GH,), "bias_hh": (GH,), "peephole": (3, H),
                "probe": (T, 2 if mode == "lstm" else 1, B, H)}
    for name, t in zip(names, tensors, strict=True):
        if name != "x" and t.numpy().shape != expected[name]:
            raise ValueError(f"{who}: {name}: expected shape {expected[name]} (mode {mode!r}, "
                             f"T={T}, B={B}, I={I}, H={H}), got {t.numpy().shape}")
    if given["probe"] is not None and given["probe"].numpy().any():
        raise ValueError(f"{who}: probe must be all zeros: it only receives the gradient "
                         "w.r.t. every state")
    return dtype


def _check_lengths(lengths, T, B):
    if lengths is None:
        return None
    arr = np.asarray(lengths.numpy() if isinstance(lengths, mg.Tensor) else lengths)
    if arr.dtype.kind not in "iu" or arr.shape != (B,):
        raise ValueError(f"fused_recurrence: lengths: expected {B} integers (B,), got "
                         f"{arr.dtype} of shape {arr.shape}")
    if B and (arr.min() < 1 or arr.max() > T):
        raise ValueError(f"fused_recurrence: lengths must lie in [1, T={T}], got "
                         f"{arr.min()}..{arr.max()}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def _check_mask(mask, B, H, dtype):
    if mask is None:
        return None
    arr = np.asarray(mask.numpy() if isinstance(mask, mg.Tensor) else mask)
    if arr.shape != (B, H):
        raise ValueError(f"fused_recurrence: hidden_mask: expected shape {(B, H)}, got "
                         f"{arr.shape}")
    return np.ascontiguousarray(arr, dtype=dtype)


# ---- the primitive ---------------------------------------------------------------------------
def _arrays(names, arrays, batch_first=False):
    """name -> C-contiguous array; x as (T, B, I) (one copy from a batch-first x)."""
    out = dict.fromkeys(_INPUTS)
    for name, a in zip(names, arrays, strict=True):
        if name == "x" and batch_first:
            a = a.transpose(1, 0, 2)
        out[name] = np.ascontiguousarray(a)
    return out


@rnn_fused_p.def_forward
def _fused_forward(*arrays, mode, names, nonlinearity, lengths, reverse, hidden_mask, coupled,
                   reset_after, save, keys=None, batch_first=False):
    a = _arrays(names, arrays, batch_first)
    states, res = launch.forward(mode, a, lengths, hidden_mask,
                                 relu=nonlinearity == "relu", reverse=reverse, coupled=coupled,
                                 reset_after=reset_after, save=save, keys=keys)
    if res is not None:
        res["arrays"] = a
    return states, res


@rnn_fused_p.def_backward
def _fused_backward(ctx, g):
    if mg.is_grad_enabled():
        raise RuntimeError(_SECOND_ORDER)
    _check_saved(ctx)
    needs = tuple(ctx.needs_input_grad)
    flat = mg.bind(rnn_fused_bptt_p, g, *ctx.inputs, saved=ctx.saved, needs=needs,
                   **ctx.params).numpy()
    return tuple(None if grad is None else mg.from_numpy(grad)
                 for grad in _split_grads(ctx, flat, needs))


@rnn_fused_p.def_backward_arrays
def _fused_backward_arrays(ctx, g):
    """The same BPTT kernel called directly (what the Tensor rule's bind runs): the
    gradients as arrays, views of its one flat output."""
    _check_saved(ctx)
    needs = tuple(ctx.needs_input_grad)
    flat = _bptt_forward(g, *[t.numpy() for t in ctx.inputs], saved=ctx.saved, needs=needs,
                         **ctx.params)
    return _split_grads(ctx, flat, needs)


def _check_saved(ctx):
    if ctx.saved is None:
        raise RuntimeError("rnn_fused: the forward pass saved nothing for backward (it ran "
                           "without gradient recording)")


def _split_grads(ctx, flat, needs):
    """The BPTT kernel's flat output as one array per input (None where not needed)."""
    params = ctx.params
    wanted = launch.grad_layout(params["names"], ctx.saved["arrays"], needs)
    grads, offset = {}, 0
    for name, shape in wanted:
        size = math.prod(shape)
        grad = flat[offset:offset + size].reshape(shape)
        if name == "x" and params.get("batch_first"):  # (T, B, I) -> the input's layout
            grad = np.ascontiguousarray(grad.transpose(1, 0, 2))
        grads[name] = grad
        offset += size
    return tuple(grads.get(name) for name in params["names"])


@rnn_fused_p.def_symbolic
def _fused_symbolic(*arrays, mode, names, nonlinearity="tanh", lengths=None, reverse=False,
                    hidden_mask=None, coupled=False, reset_after=True, save=False, keys=None,
                    batch_first=False):
    """The cell's own step (``models.rnn.cells``, traced once into primitives, see
    ``models.cell.symbolic_step``) step by step on object arrays of sympy expressions."""
    from minigrad.ops.sym import sym_constant

    from ..cell.symbolic_step import step_symbolic

    a = dict.fromkeys(_INPUTS)
    a.update({name: np.asarray(v, dtype=object) for name, v in zip(names, arrays, strict=True)})
    if batch_first:
        a["x"] = a["x"].transpose(1, 0, 2)
    x = a["x"]
    T, B, I = x.shape
    H = a["h0"].shape[1]
    graph = _step_graph(mode, I, H, a["bias_ih"] is not None, nonlinearity,
                        a["peephole"] is not None, coupled, reset_after)
    params = {"weight_ih": a["weight_ih"], "weight_hh": a["weight_hh"],
              "bias_ih": a["bias_ih"], "bias_hh": a["bias_hh"], "weight_peep": a["peephole"]}
    mask = None if hidden_mask is None else sym_constant(np.asarray(hidden_mask))
    lens = [T] * B if lengths is None else [int(v) for v in lengths]
    state = (a["h0"],) if a["c0"] is None else (a["h0"], a["c0"])
    states = np.empty((T, len(state), B, H), dtype=object)
    for s in range(T):
        t = T - 1 - s if reverse else s
        new = step_symbolic(graph, x[t], state, params, product_mask=mask)
        for b in range(B):
            if t >= lens[b]:
                for i in range(len(new)):
                    new[i][b] = state[i][b]
        if a["probe"] is not None:  # zero in value; its derivative is the total dL/dstate
            new = tuple(n + a["probe"][t, i] for i, n in enumerate(new))
        state = new
        for i, n in enumerate(new):
            states[t, i] = n
    return states


@functools.lru_cache(maxsize=64)
def _step_graph(mode, input_size, hidden_size, bias, nonlinearity, peephole, coupled,
                reset_after):
    """The traced step (``models.cell.graph.StepGraph``) of the built-in cell these options
    make."""
    from ..cell.graph import trace
    from .cells import make_cell

    with mg.random.state_kept():  # tracing draws nothing from the library's stream
        cell = make_cell(mode, input_size, hidden_size, bias, dtype=mg.float64,
                         nonlinearity=nonlinearity, peephole=peephole, coupled=coupled,
                         reset_after=reset_after)
    return trace(cell, np.float64)


# ---- the backward pass as a primitive ---------------------------------------------------------
@rnn_fused_bptt_p.def_forward
def _bptt_forward(g, *arrays, mode, names, nonlinearity, lengths, reverse, hidden_mask, coupled,
                  reset_after, save, saved, needs, keys=None, batch_first=False):
    """g: (T, S, B, H) gradient w.r.t. the states -> the gradients w.r.t. the inputs flagged in
    ``needs`` (in input order), flattened and concatenated into one array."""
    a = saved["arrays"]
    g = np.ascontiguousarray(g, dtype=a["x"].dtype)
    return launch.backward(mode, g, a, saved, lengths, hidden_mask,
                           launch.grad_layout(names, a, needs),
                           relu=nonlinearity == "relu", reverse=reverse, coupled=coupled,
                           reset_after=reset_after, keys=keys)


@rnn_fused_bptt_p.def_backward
def _bptt_backward(ctx, g):
    raise RuntimeError(_SECOND_ORDER)


@rnn_fused_bptt_p.def_symbolic
def _bptt_symbolic(g, *arrays, needs, saved=None, **params):
    """The BPTT kernel's output on sympy objects: the vector-Jacobian product of the forward's
    symbolic rule (by ``sympy.diff``), flattened and concatenated in the kernel's layout."""
    from minigrad.symbolic.vjp import symbolic_vjp

    wrt = [i for i, need in enumerate(needs) if need]
    grads = symbolic_vjp(_fused_symbolic, g, arrays, wrt, **params)
    return np.concatenate([d.reshape(-1) for d in grads])


# ---- the built-in cells' override of their generated kernels ----------------------------------
def _run_builtin_cell(cell, x, states0, lengths, reverse, mask):
    """``models.cell.overrides``: a built-in cell (``RNNCell``, ``LSTMCell``, ``GRUCell``) over
    x (T, B, I) through the hand-written kernels -> its states, each (T, B, H)."""
    c0 = states0[1] if len(states0) > 1 else None
    result = fused_recurrence(cell.mode, x, states0[0], c0, cell.weight_ih, cell.weight_hh,
                              cell.bias_ih, cell.bias_hh, nonlinearity=cell.nonlinearity,
                              lengths=lengths, reverse=reverse, hidden_mask=mask,
                              peephole=getattr(cell, "weight_peep", None),
                              coupled=cell.coupled, reset_after=cell.reset_after)
    return tuple(result[:, i] for i in range(result.shape[1]))


def _register_overrides():
    from ..cell import overrides
    from .cells import GRUCell, LSTMCell, RNNCell

    # bench/bench_cells.py, 2026-12-08 (session 9), AMD EPYC Zen 4 class, 1 thread and one BLAS
    # thread, float32, fwd+bwd: time of the generated kernel / time of the hand-written one.
    # At B >= 16 the generated kernels took 0.94-1.15x the hand-written time (forward only
    # 1.01-1.19x); only the hand-written kernels run a second thread beside the first
    # (mg.set_num_threads(2), the default on 2 cores)
    overrides.register(LSTMCell, _run_builtin_cell, why=(
        "1.37x at (1, 200, 16, 32) and 1.19x forward at (32, 50, 64, 512) on AVX-512; 1.16x "
        "at (1, 200, 16, 32) on AVX2"))
    overrides.register(RNNCell, _run_builtin_cell, why=(
        "1.12x at (1, 200, 16, 32) and 1.10x at (16, 100, 32, 64) on AVX-512; 1.14x at "
        "(1, 200, 16, 32) on AVX2"))
    # A recurrent-dropout mask meets h only in GRU's products here, while a compiled cell
    # gets the masked state at every use (models.Recurrent): a masked GRU call is compiled.
    overrides.register(GRUCell, _run_builtin_cell, accepts=lambda cell, masked: not masked,
                       why=("1.12x at (1, 200, 16, 32) and 1.15x at (16, 100, 32, 64) on "
                            "AVX-512; 1.10x at (1, 200, 16, 32) on AVX2"))


_register_overrides()
