r"""Multi-layer, optionally bidirectional ``RNN``, ``LSTM`` and ``GRU`` with PyTorch's
constructor arguments, parameter names, shapes, gate orders, init and return values, plus:
variable-length batches (``lengths=``), recurrent (variational) dropout, LSTM peepholes and
coupled input-forget gates, the GRU's ``reset_after`` switch, ``return_all_states``, and two
execution paths (``fused=True``: one primitive per layer and direction; ``fused=False``: the
cell unrolled step by step from primitive ops, for drawing, hooking and symbolic tracing).

One base class, ``RNNBase``, creates the parameters and runs the layers; the three public
classes differ only in their mode (1, 4 or 3 gate blocks) and their extra options.
"""

import contextlib
import warnings
from typing import NamedTuple

import numpy as np

import minigrad as mg

from ..cell import overrides
from ..cell.overrides import check_fused
from ..cell.registry import kind
from .cells import NONLINEARITIES, gate_count, init_uniform_, make_parameters
from .checks import (
    check_lengths,
    check_probability,
    check_sequence,
    check_size,
    check_state,
    expect_tensor,
)
from .unrolled import unrolled_recurrence


class States(NamedTuple):
    """Every state of every layer and direction, from ``return_all_states=True``.

    h: a tuple of ``num_layers * num_directions`` tensors, entry ``layer * num_directions +
    direction`` (the order of h_n's first dim) holding h_t after every step: (T, B, H), or
    (B, T, H) with ``batch_first``, or (T, H) unbatched (``layout`` says which). Both
    directions are in original time order. Past a sequence's end (``lengths``) the forward
    direction repeats its last valid state and the reverse direction holds h0.
    c: the same for the LSTM's cell states (None for RNN and GRU).
    h_steps, c_steps: with ``fused=False`` only (else None): per layer-direction, the tuple of the
    T per-step tensors (B, H) the unrolled graph made (B = 1 for unbatched input). With
    gradient recording on, each is a tensor of its own that keeps its ``.grad``
    (``retain_grad``), also at steps past the end of every sequence, and ``c_steps[k][t]`` is
    recorded after h_t is made from c_t (see ``grad_c``).
    probes: with ``fused=True`` and gradient recording on (else None): per layer-direction, the
    zero leaf (T, S, B, H) named ``"state_probe"`` that the fused primitive adds to its states
    (S = 2, h then c, for the LSTM, else 1; time in original order, batch always on axis 2),
    or None for a layer-direction with nothing that requires grad. Its ``.grad`` after
    ``backward()``, or the argument of a hook registered on it, is the total dL/dh_t (and
    dL/dc_t) of every step.
    layout: ``"TBH"``, ``"BTH"`` (``batch_first``) or ``"TH"`` (unbatched): the layout of ``h``,
    ``c`` and of what ``grad_h`` / ``grad_c`` return.

    Gradients: ``output`` and ``h_n``/``c_n`` are computed from ``h``/``c``, so a hook on
    ``h[k]`` receives dL/dh_t only as it arrives from the layer's returned values (and from your
    own use of ``h[k]``), in both paths. The TOTAL derivative dL/dh_t, including the paths
    through the later steps (BPTT) and the layer above, is what ``grad_h(k)`` returns after
    ``backward()`` in both paths (the same numbers); a hook on ``h_steps[k][t]`` (unrolled) or
    on ``probes[k]`` (fused) receives it as it is computed.
    """

    h: tuple
    c: tuple = None
    h_steps: tuple = None
    c_steps: tuple = None
    probes: tuple = None
    layout: str = "TBH"

    def grad_h(self, k):
        """The total dL/dh_t of layer-direction ``k`` at every step, as accumulated by
        ``backward()`` (``mg.grad`` does not store it): a new Tensor without graph, in the
        layout of ``h[k]`` ((T, B, H), (B, T, H) or (T, H)). Steps the gradient did not reach
        are zero. Returns None when no gradient was recorded for ``k``: before ``backward()``,
        when the forward ran under ``mg.no_grad()`` or with nothing requiring grad, or when
        the loss does not depend on that layer-direction."""
        return self._total_grad("grad_h", k, 0)

    def grad_c(self, k):
        """``grad_h`` for the LSTM's cell states: the total dL/dc_t of layer-direction ``k``,
        in the layout of ``c[k]``. Raises ValueError for RNN and GRU (they have no c).

        It is the derivative w.r.t. the cell state that step t hands on (to step t + 1 and to
        the returned values), with h_t held fixed: (grad_h, grad_c) is the gradient w.r.t.
        the state pair (h_t, c_t). The path c_t -> h_t = o_t tanh(c_t) inside step t is not
        in it; c_t's gradient as the input of h_t (what a hook on an unrolled layer's named
        "c" node gets without ``return_all_states``, and what ``models.analysis`` reports)
        adds (d h_t / d c_t)^T dL/dh_t to it at the steps a sequence is live."""
        if self.c is None:
            raise ValueError("States.grad_c: only the LSTM has cell states (c is None for RNN "
                             "and GRU); use grad_h")
        return self._total_grad("grad_c", k, 1)

    def _total_grad(self, who, k, slot):
        count = len(self.h)
        if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not -count <= k < count:
            raise IndexError(f"States.{who}: k expected an int in [0, {count}) (layer * "
                             f"num_directions + direction), got {k!r}")
        k = int(k) % count
        if self.probes is not None:
            probe = self.probes[k]
            if probe is None or probe.grad is None:
                return None
            grads = probe.grad.numpy()[:, slot]  # (T, B, H)
        else:
            steps = self.h_steps if slot == 0 else self.c_steps
            if steps is None:
                return None
            found = [s.grad for s in steps[k]]
            if all(g is None for g in found):
                return None
            grads = np.stack([np.zeros(s.shape, s.dtype) if g is None else g.numpy()
                              for s, g in zip(steps[k], found, strict=True)])
        if self.layout == "BTH":
            grads = grads.transpose(1, 0, 2)
        elif self.layout == "TH":
            grads = grads[:, 0]
        return mg.from_numpy(np.array(grads))


def _load_fused(who):
    try:
        from .fused import fused_recurrence
    except ImportError as err:
        raise ImportError(f"{who}: fused=True needs models.rnn.fused ({err}); pass fused=False "
                          "for the unrolled path") from err
    return fused_recurrence


_ZEROS = {}
_CELL_CLASSES = {}  # mode -> the built-in cell class (models.cell.registry), read per call


def _zeros(shape, dtype):
    """A zero initial state (B, H), made once per shape and dtype and shared by every call
    (it is only read: a constant input without gradient; a new Tensor costs ~6 us)."""
    key = (shape, np.dtype(dtype))
    t = _ZEROS.get(key)
    if t is None or t.numpy().any():
        if len(_ZEROS) >= 32:
            _ZEROS.clear()
        t = _ZEROS[key] = mg.zeros(*shape, dtype=dtype)
    return t


def _needs_grad(tensors):
    """True if any of ``tensors`` (Tensors, a list of them, or None) requires grad."""
    for t in tensors:
        if isinstance(t, (list, tuple)):
            if _needs_grad(t):
                return True
        elif t is not None and t.requires_grad:
            return True
    return False


def _dropout_mask(shape, p, dtype):
    """A {0, 1/(1-p)} mask drawn from minigrad's generator (``mg.manual_seed``)."""
    keep = mg.rand(*shape).numpy() >= p
    return keep.astype(dtype) * (dtype.type(1.0 / (1.0 - p)) if p < 1.0 else dtype.type(0.0))


class RNNBase(mg.nn.Module):
    """The shared machinery of ``RNN``, ``LSTM`` and ``GRU``: parameters, checks, the layer loop.

    Parameters per layer ``k`` and direction (suffix ``""`` or ``"_reverse"``), in PyTorch's
    order: ``weight_ih_l{k}`` (G H, I_k), ``weight_hh_l{k}`` (G H, H), ``bias_ih_l{k}``,
    ``bias_hh_l{k}`` (G H,), and for peephole LSTMs ``weight_peep_l{k}`` (3, H); I_0 is
    ``input_size`` and I_k = num_directions * H above; G = 1 (RNN), 4 (LSTM), 3 (coupled LSTM,
    GRU). All start U(-1/sqrt(H), 1/sqrt(H)).
    """

    def __init__(self, mode, input_size, hidden_size, num_layers=1, bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, *, nonlinearity="tanh",
                 recurrent_dropout=0.0, peephole=False, coupled=False, reset_after=True,
                 fused=True, dtype=None):
        super().__init__()
        who = type(self).__name__
        self.mode = mode
        self.input_size = check_size(who, "input_size", input_size)
        self.hidden_size = check_size(who, "hidden_size", hidden_size)
        self.num_layers = check_size(who, "num_layers", num_layers)
        self.dropout = check_probability(who, "dropout", dropout)
        self.recurrent_dropout = check_probability(who, "recurrent_dropout", recurrent_dropout)
        if nonlinearity not in NONLINEARITIES:
            raise ValueError(f"{who}: nonlinearity expected one of {NONLINEARITIES}, got "
                             f"{nonlinearity!r}")
        self.bias, self.batch_first = bool(bias), bool(batch_first)
        self.bidirectional = bool(bidirectional)
        self.nonlinearity, self.peephole, self.coupled = nonlinearity, bool(peephole), bool(coupled)
        self.reset_after, self.fused = bool(reset_after), check_fused(who, fused)
        if self.dropout > 0 and self.num_layers == 1:
            warnings.warn(f"{who}: dropout={dropout} acts only between layers, so it does "
                          "nothing with num_layers=1", stacklevel=3)
        self.gate_count = gate_count(mode, self.coupled)
        directions = 2 if self.bidirectional else 1
        self._names = []  # per layer-direction: {stem: attribute name}
        for layer in range(self.num_layers):
            layer_input = self.input_size if layer == 0 else directions * self.hidden_size
            for direction in range(directions):
                suffix = "_reverse" if direction else ""
                made = make_parameters(mode, layer_input, self.hidden_size, self.bias,
                                       coupled=self.coupled, peephole=self.peephole,
                                       dtype=dtype)
                names = {}
                for stem, param in made:
                    names[stem] = f"{stem}_l{layer}{suffix}"
                    setattr(self, names[stem], param)
                self._names.append(names)

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def all_weights(self):
        """Per layer-direction, the list of its parameters in PyTorch's order."""
        return [[getattr(self, n) for n in names.values()] for names in self._names]

    def reset_parameters(self):
        init_uniform_(self.parameters(), self.hidden_size)

    def flatten_parameters(self):
        """A no-op, for code written for PyTorch's cuDNN layers."""

    def _param(self, k, stem):
        name = self._names[k].get(stem)
        return None if name is None else getattr(self, name)

    # ---- checks ---------------------------------------------------------------------------
    def _initial_states(self, hx, batch, batched, dtype):
        """(h0, c0) as (L D, B, H) Tensors or None, from the user's hx."""
        who = type(self).__name__
        shape = (self.num_layers * self.num_directions, batch, self.hidden_size)
        if not batched:
            shape = shape[:1] + shape[2:]
        if hx is None:
            return None, None
        if self.mode == "lstm":
            if not (isinstance(hx, (tuple, list)) and len(hx) == 2):
                raise ValueError(f"{who}: hx expected a pair (h0, c0) of shape {shape}, got "
                                 f"{type(hx).__name__}")
            states = [check_state(who, "h0", hx[0], shape, dtype),
                      check_state(who, "c0", hx[1], shape, dtype)]
        else:
            states = [check_state(who, "h0", expect_tensor(who, "h0", hx), shape, dtype), None]
        if not batched:
            states = [None if s is None else mg.unsqueeze(s, 1) for s in states]
        return states[0], states[1]

    # ---- forward --------------------------------------------------------------------------
    def forward(self, input, hx=None, *, lengths=None, return_all_states=False):  # noqa: A002
        """Run the layers over a sequence.

        input: (T, B, I), (B, T, I) with ``batch_first``, or unbatched (T, I).
        hx: h0 (L D, B, H) (unbatched (L D, H)); LSTM: the pair (h0, c0). Zeros when omitted.
        lengths: optional B ints in [1, T] (list, numpy or Tensor): sequence b is
        ``input[:lengths[b]]``; outputs past its end are zero, its h_n/c_n are taken at its own
        last step and the reverse direction starts there (PyTorch's packed sequences).
        return_all_states: also return a ``States`` (every h_t, c_t of every layer/direction).
        With gradient recording on, it also tracks the total gradient w.r.t. every state:
        after ``loss.backward()``, ``states.grad_h(k)`` (``grad_c(k)`` for the LSTM) is dL/dh_t
        through all later steps and layers, the same in both paths. The fused path adds a zero
        probe leaf (``States.probes``) to each layer-direction's primitive for this, the
        unrolled path keeps its per-step tensors' gradients; outputs are unchanged. Without
        ``return_all_states`` none of this is done.

        Returns ``output, h_n`` (LSTM: ``output, (h_n, c_n)``), then the ``States`` if asked.
        output: (T, B, D H) / (B, T, D H) / (T, D H), the last layer's h_t of both directions.
        h_n, c_n: (L D, B, H) (unbatched (L D, H)), index ``layer * D + direction``.
        """
        who = type(self).__name__
        dtype = self.weight_ih_l0.dtype
        # The fused kernels read a batch-first input themselves (no transpose op each way).
        track = bool(return_all_states) and mg.is_grad_enabled()
        fused = self._fused_path(who, track)
        x, batched = check_sequence(who, input, self.input_size, self.batch_first, dtype,
                                    keep_batch_first=fused is not None)
        x_batch_first = fused is not None and batched and self.batch_first
        steps, batch = (x.shape[1], x.shape[0]) if x_batch_first else (x.shape[0], x.shape[1])
        h0, c0 = self._initial_states(hx, batch, batched, dtype)
        lens = None if lengths is None else check_lengths(who, lengths, steps, batch)
        with mg.scope(who):
            hs, cs, h_steps, c_steps, probes, results = self._run_layers(
                x, h0, c0, lens, fused, track, x_batch_first, bool(return_all_states))
            # without the States, h_n / c_n may be cut from the fused results directly
            output, h_n, c_n = self._collect(hs, cs, lens,
                                             None if return_all_states else results)
            if not batched:
                output, h_n = mg.squeeze(output, 1), mg.squeeze(h_n, 1)
                c_n = None if c_n is None else mg.squeeze(c_n, 1)
            elif self.batch_first:
                output = mg.transpose(output, 0, 1)
            if return_all_states:
                layout = ("BTH" if self.batch_first else "TBH") if batched else "TH"
                states = States(self._layout(hs, batched), self._layout(cs, batched),
                                h_steps, c_steps, probes, layout)
        result = (output, (h_n, c_n)) if self.mode == "lstm" else (output, h_n)
        return result + (states,) if return_all_states else result

    def _fused_path(self, who, track):
        """What runs each layer-direction: ``fused_recurrence`` (the hand-written kernels,
        registered as the cell's override), the generated kernels (``models.rnn.generated``)
        when there is no override or with ``fused="generated"``, or None (unrolled: with
        ``fused=False``, and where the generated path cannot give the hand-written kernels'
        numbers: the state probes of ``return_all_states`` and a GRU's recurrent dropout)."""
        if not self.fused:
            return None
        if self.fused is True:
            hand = _load_fused(who)  # registers the overrides (ImportError names fused=False)
            cell_class = _CELL_CLASSES.get(self.mode)
            if cell_class is None:
                cell_class = _CELL_CLASSES[self.mode] = kind(self.mode).cell
            if overrides.for_class(cell_class) is not None:
                return hand
        if track or (self.mode == "gru" and self.training and self.recurrent_dropout > 0):
            return None
        from . import generated

        return generated.recurrence(self)

    def _layout(self, tensors, batched):
        if tensors is None:
            return None
        if not batched:
            return tuple(mg.squeeze(t, 1) for t in tensors)
        if self.batch_first:
            return tuple(mg.transpose(t, 0, 1) for t in tensors)
        return tuple(tensors)

    def _run_layers(self, x, h0, c0, lens, fused, track=False, x_batch_first=False,
                    all_states=True):
        """All layers and directions. Returns per layer-direction lists: hs, cs of (T, B, H)
        Tensors (cs None unless LSTM), the unrolled per-step tuples (None when fused), the
        fused path's probes (None unless fused and ``track``) and the fused primitives'
        results (T, S, B, H) (None when unrolled). track: make every state's total gradient
        readable (probes when fused; own, grad-retaining step tensors when unrolled).
        x_batch_first: x is (B, T, I) (fused only; the first layer reads it so). all_states:
        the caller returns every state (``return_all_states``); without it a one-layer,
        one-direction fused LSTM makes no slice for cs (``_collect`` reads c_n from the
        result)."""
        single = self.num_layers == 1 and self.num_directions == 1 and not all_states
        steps, batch = (x.shape[1], x.shape[0]) if x_batch_first else (x.shape[0], x.shape[1])
        dtype = x.dtype
        hs, cs, h_steps, c_steps, probes, results = [], [], [], [], [], []
        layer_input = x  # fused: a (T, B, I) Tensor; unrolled: that or a list of (B, I) Tensors
        for layer in range(self.num_layers):
            pieces = []
            with mg.scope(f"layer{layer}"):
                for direction in range(self.num_directions):
                    k = layer * self.num_directions + direction
                    scope = ("reverse" if direction else "forward") if self.bidirectional else None
                    with mg.scope(scope) if scope else contextlib.nullcontext():
                        h_init, c_init = self._layer_state(h0, c0, k, batch, dtype)
                        mask = None
                        if self.training and self.recurrent_dropout > 0:
                            mask = _dropout_mask((batch, self.hidden_size),
                                                 self.recurrent_dropout, np.dtype(dtype))
                        args = (layer_input, h_init, c_init) + tuple(
                            self._param(k, stem)
                            for stem in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"))
                        options = dict(
                            nonlinearity=self.nonlinearity, lengths=lens,
                            reverse=bool(direction), hidden_mask=mask,
                            peephole=self._param(k, "weight_peep"), coupled=self.coupled,
                            reset_after=self.reset_after)
                        if fused is not None:
                            probe = None
                            if track and _needs_grad(args + (options["peephole"],)):
                                probe = mg.zeros(steps, 2 if self.mode == "lstm" else 1, batch,
                                                 self.hidden_size, dtype=dtype,
                                                 requires_grad=True)
                                probe.name = "state_probe"
                            probes.append(probe)
                            result = fused(self.mode, *args, probe=probe,
                                           batch_first=x_batch_first and layer == 0,
                                           **options)
                            # Two slices, not one: a hook on the returned states must
                            # see what the unrolled path's stacked states see, not the next
                            # layer's share as well.
                            results.append(result)
                            hs.append(result[:, 0])
                            cs.append(result[:, 1] if self.mode == "lstm" and not single
                                      else None)
                            if layer + 1 < self.num_layers:  # the next layer's input
                                pieces.append(result[:, 0])
                        else:
                            step_h, step_c = unrolled_recurrence(self.mode, *args,
                                                                 track_states=track, **options)
                            hs.append(mg.stack(step_h))
                            cs.append(None if step_c is None else mg.stack(step_c))
                            h_steps.append(tuple(step_h))
                            c_steps.append(None if step_c is None else tuple(step_c))
                            for state in step_h + (step_c or []) if track else ():
                                if state.requires_grad:
                                    state.retain_grad()
                            pieces.append(step_h)
                if layer + 1 < self.num_layers:
                    layer_input = self._next_input(pieces, fused is not None, steps, batch, dtype)
        if self.mode != "lstm":
            cs = c_steps = None
        if fused is not None:
            h_steps = c_steps = None
        probes = tuple(probes) if fused is not None and track else None
        return hs, cs, h_steps, c_steps, probes, (results if fused is not None else None)

    def _layer_state(self, h0, c0, k, batch, dtype):
        shape = (batch, self.hidden_size)
        h = _zeros(shape, dtype) if h0 is None else h0[k]
        if self.mode != "lstm":
            return h, None
        return h, (_zeros(shape, dtype) if c0 is None else c0[k])

    def _next_input(self, pieces, fused, steps, batch, dtype):
        """The next layer's input: both directions' states side by side, with inter-layer
        dropout in training mode. fused: a (T, B, D H) Tensor; unrolled: T (B, D H) Tensors."""
        mask = None
        if self.training and self.dropout > 0:
            width = self.num_directions * self.hidden_size
            mask = mg.as_tensor(_dropout_mask((steps, batch, width), self.dropout,
                                              np.dtype(dtype)))
        if fused:
            x = mg.concat(pieces, dim=2)
            return x if mask is None else x * mask
        xs = []
        for t in range(steps):
            x_t = mg.concat([p[t] for p in pieces], dim=1)
            xs.append(x_t if mask is None else x_t * mask[t])
        return xs

    def _collect(self, hs, cs, lens, results=None):
        """output (T, B, D H) of the last layer (zero past each end), h_n and c_n (L D, B, H).
        results: the fused primitives' (T, S, B, H) results when h_n / c_n may be cut from
        them (fused, no ``States`` returned), else None."""
        directions = self.num_directions
        valid = None
        if lens is not None:
            steps = hs[0].shape[0]
            valid = (np.arange(steps)[:, None] < lens[None, :])[:, :, None]
            valid = mg.as_tensor(valid.astype(hs[0].dtype))
        last = hs[-directions:]
        outs = [h if valid is None else h * valid for h in last]
        output = outs[0] if directions == 1 else mg.concat(outs, dim=2)
        if len(hs) == 1:  # one layer, one direction: h_n is the last step, as a slice
            if results:  # fused, no States returned
                # one slice each of the result (its last step holds h_n and c_n also past
                # the end of a shorter sequence), not a slice of a slice
                c_n = None if cs is None else results[0][-1:, 1]
                return output, results[0][-1:, 0], c_n
            return output, hs[0][-1:], None if cs is None else cs[0][-1:]
        # each layer-direction's last state as a (1, B, H) slice (the reverse direction ends
        # at t = 0), joined by one concat: no unsqueeze per entry, as a stack makes
        ends = [slice(0, 1) if k % directions else slice(-1, None) for k in range(len(hs))]
        h_n = mg.concat([h[e] for h, e in zip(hs, ends, strict=True)])
        c_n = None if cs is None else mg.concat([c[e] for c, e in zip(cs, ends, strict=True)])
        return output, h_n, c_n

    def extra_repr(self):
        s = f"{self.input_size}, {self.hidden_size}"
        defaults = {"num_layers": 1, "bias": True, "batch_first": False, "dropout": 0.0,
                    "bidirectional": False, "nonlinearity": "tanh", "recurrent_dropout": 0.0,
                    "peephole": False, "coupled": False, "reset_after": True, "fused": True}
        for key, default in defaults.items():
            value = getattr(self, key)
            if value != default:
                s += f", {key}={value!r}"
        return s


class RNN(RNNBase):
    r"""Multi-layer Elman RNN:
    :math:`h_t = \phi(W_{ih} x_t + b_{ih} + W_{hh} h_{t-1} + b_{hh})`, :math:`\phi` = tanh or
    ReLU.

    ``RNN(input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
    batch_first=False, dropout=0.0, bidirectional=False, *, recurrent_dropout=0.0, fused=True,
    dtype=None)`` (PyTorch's positional order). ``rnn(x, h0=None, *, lengths=None,
    return_all_states=False)`` -> ``output, h_n`` (see ``RNNBase.forward``).
    """

    def __init__(self, input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True,
                 batch_first=False, dropout=0.0, bidirectional=False, *, recurrent_dropout=0.0,
                 fused=True, dtype=None):
        super().__init__("rnn", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, nonlinearity=nonlinearity,
                         recurrent_dropout=recurrent_dropout, fused=fused, dtype=dtype)


class LSTM(RNNBase):
    r"""Multi-layer LSTM (PyTorch's gate order i, f, g, o):

    .. math::
        \begin{aligned}
        i_t &= \sigma(W_{ii} x_t + b_{ii} + W_{hi} h_{t-1} + b_{hi} + w_{ci} \odot c_{t-1}) \\
        f_t &= \sigma(W_{if} x_t + b_{if} + W_{hf} h_{t-1} + b_{hf} + w_{cf} \odot c_{t-1}) \\
        g_t &= \tanh(W_{ig} x_t + b_{ig} + W_{hg} h_{t-1} + b_{hg}) \\
        c_t &= f_t \odot c_{t-1} + i_t \odot g_t \\
        o_t &= \sigma(W_{io} x_t + b_{io} + W_{ho} h_{t-1} + b_{ho} + w_{co} \odot c_t) \\
        h_t &= o_t \odot \tanh(c_t)
        \end{aligned}

    The :math:`w_{c\cdot}` terms exist only with ``peephole=True`` (parameter
    ``weight_peep_l{k}`` (3, H), rows w_ci, w_cf, w_co; Gers & Schmidhuber 2000). With
    ``coupled=True``, :math:`i_t = 1 - f_t` and the weights hold 3H rows (f, g, o); w_ci is then
    unused.

    ``LSTM(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, *, recurrent_dropout=0.0, peephole=False, coupled=False, fused=True,
    dtype=None)``. ``lstm(x, (h0, c0)=None, *, lengths=None, return_all_states=False)`` ->
    ``output, (h_n, c_n)``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, recurrent_dropout=0.0, peephole=False,
                 coupled=False, fused=True, dtype=None):
        super().__init__("lstm", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, recurrent_dropout=recurrent_dropout, peephole=peephole,
                         coupled=coupled, fused=fused, dtype=dtype)


class GRU(RNNBase):
    r"""Multi-layer GRU (PyTorch's gate order r, z, n):

    .. math::
        \begin{aligned}
        r_t &= \sigma(W_{ir} x_t + b_{ir} + W_{hr} h_{t-1} + b_{hr}) \\
        z_t &= \sigma(W_{iz} x_t + b_{iz} + W_{hz} h_{t-1} + b_{hz}) \\
        n_t &= \tanh(W_{in} x_t + b_{in} + r_t \odot (W_{hn} h_{t-1} + b_{hn})) \\
        h_t &= (1 - z_t) \odot n_t + z_t \odot h_{t-1}
        \end{aligned}

    With ``reset_after=False`` (Cho et al. 2014):
    :math:`n_t = \tanh(W_{in} x_t + b_{in} + W_{hn} (r_t \odot h_{t-1}) + b_{hn})`.

    ``GRU(input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
    bidirectional=False, *, recurrent_dropout=0.0, reset_after=True, fused=True, dtype=None)``.
    ``gru(x, h0=None, *, lengths=None, return_all_states=False)`` -> ``output, h_n``.
    """

    def __init__(self, input_size, hidden_size, num_layers=1, bias=True, batch_first=False,
                 dropout=0.0, bidirectional=False, *, recurrent_dropout=0.0, reset_after=True,
                 fused=True, dtype=None):
        super().__init__("gru", input_size, hidden_size, num_layers, bias, batch_first, dropout,
                         bidirectional, recurrent_dropout=recurrent_dropout,
                         reset_after=reset_after, fused=fused, dtype=dtype)


