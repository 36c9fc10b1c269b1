r"""``Recurrent``: any ``Cell`` as a multi-layer, optionally bidirectional layer, unrolled or
compiled.

``Recurrent(cell, input_size, hidden_size, num_layers=1, batch_first=False, dropout=0.0,
bidirectional=False, fused=True, dtype=None, *, recurrent_dropout=0.0)`` makes
``cell(layer_input_size, hidden_size)`` for each layer and direction (``cell``: a ``Cell``
subclass, or any callable that makes one, e.g. ``functools.partial(models.LSTMCell,
peephole=True)``; sub-modules ``cell_l{k}`` and ``cell_l{k}_reverse``, so the parameters
are named e.g. ``cell_l0.weight_hh``) and is called like PyTorch's layers::

    output, h_n = layer(x)                    # one state: h_n (L D, B, H)
    output, (h_n, c_n) = layer(x, (h0, c0))   # several: a tuple, in state_names order

x: (T, B, I), (B, T, I) with ``batch_first``, or unbatched (T, I); output: the first state
of the last layer at every step, both directions side by side, (T, B, D H); zero past a
sequence's end with ``lengths=``. ``fused=False`` runs ``cell.forward`` once per step (the
graph can be drawn, hooked and traced symbolically); ``fused=True`` compiles the cell
(``models.cell.compiled``; first order only) and gives the same numbers, or runs the
hand-written kernel registered for the cell's class (``models.cell.overrides``: the built-in
cells have one); ``fused="generated"`` compiles the cell even then.
"""

import contextlib

import numpy as np

import minigrad as mg
from models.rnn.checks import (
    check_lengths,
    check_probability,
    check_sequence,
    check_size,
    check_state,
)

from .base import Cell
from .compiled import run_sequence
from .overrides import check_fused, lookup


class Recurrent(mg.nn.Module):
    """A recurrence of ``cell`` (a ``Cell`` subclass) over sequences; see the module
    docstring."""

    def __init__(self, cell, input_size, hidden_size, num_layers=1, batch_first=False,
                 dropout=0.0, bidirectional=False, fused=True, dtype=None, *,
                 recurrent_dropout=0.0):
        super().__init__()
        who = "Recurrent"
        if isinstance(cell, Cell) or not callable(cell):
            raise TypeError(f"{who}: cell expected a Cell subclass or a callable that makes "
                            f"one (the class, not an instance), got {cell!r}")
        self.cell_type = cell
        self.input_size = check_size(who, "input_size", input_size)
        self.hidden_size = check_size(who, "hidden_size", hidden_size)
        self.num_layers = check_size(who, "num_layers", num_layers)
        self.dropout = check_probability(who, "dropout", dropout)
        self.recurrent_dropout = check_probability(who, "recurrent_dropout", recurrent_dropout)
        self.batch_first, self.bidirectional = bool(batch_first), bool(bidirectional)
        self.fused = check_fused(who, fused)
        self._cells = []
        for layer in range(self.num_layers):
            size = self.input_size if layer == 0 else self.num_directions * self.hidden_size
            for direction in range(self.num_directions):
                made = cell(size, self.hidden_size)
                if not isinstance(made, Cell):
                    raise TypeError(f"{who}: cell({size}, {self.hidden_size}) made a "
                                    f"{type(made).__name__}, not a models.Cell")
                self.state_names = type(made).state_names
                if dtype is not None:
                    made.to(dtype)
                name = f"cell_l{layer}" + ("_reverse" if direction else "")
                setattr(self, name, made)
                self._cells.append(name)

    @property
    def num_directions(self):
        return 2 if self.bidirectional else 1

    def cells(self):
        """The cells, per layer and direction (index layer * D + direction)."""
        return [getattr(self, n) for n in self._cells]

    def _dtype(self):
        cell = getattr(self, self._cells[0])
        for p in cell._parameters.values():  # the common case, without walking the modules
            if p is not None:
                return p.dtype
        for p in self.parameters():
            return p.dtype
        return np.dtype(mg.get_default_dtype())

    def forward(self, input, hx=None, *, lengths=None, return_all_states=False):  # noqa: A002
        """input: (T, B, I) / (B, T, I) / (T, I); hx: initial states, (L D, B, H) each (a
        tuple when the cell has several; zeros when omitted); lengths: B ints in [1, T].
        Returns ``output, h_n`` or ``output, (h_n, c_n, ...)``; with ``return_all_states``
        also, per layer-direction (index layer * D + direction), the tuple of every state
        (in ``state_names`` order) after every step, in the output's layout ((T, B, H),
        (B, T, H) or (T, H)); past a sequence's end it holds the state carried on."""
        who = "Recurrent"
        dtype = self._dtype()
        x, batched = check_sequence(who, input, self.input_size, self.batch_first, dtype)
        T, B = x.shape[0], x.shape[1]
        lens = None if lengths is None else check_lengths(who, lengths, T, B)
        h0 = self._initial(hx, B, batched, dtype)
        valid = None
        if lens is not None:
            valid = mg.as_tensor((np.arange(T)[:, None] < lens[None, :])[:, :, None])
        finals = [[] for _ in self.state_names]
        every = []
        layer_input = x
        cells = self.cells()
        D = self.num_directions
        with mg.scope(who):
            for layer in range(self.num_layers):
                outs = []
                for direction in range(D):
                    k = layer * D + direction
                    scope = ("reverse" if direction else "forward") if D == 2 else None
                    with mg.scope(f"layer{layer}"), (
                            mg.scope(scope) if scope else contextlib.nullcontext()):
                        if h0 is None:
                            zero = _layers()._zeros((B, self.hidden_size), dtype)
                            init = (zero,) * len(self.state_names)
                        else:
                            init = tuple(s[k] for s in h0)
                        mask = None
                        if self.training and self.recurrent_dropout > 0:
                            mask = _layers()._dropout_mask((B, self.hidden_size),
                                                 self.recurrent_dropout, np.dtype(dtype))
                        states, last = self._direction(cells[k], layer_input, init, lens,
                                                       bool(direction), valid, mask,
                                                       return_all_states)
                    outs.append(states[0])
                    every.append(states)
                    for i, s in enumerate(last):
                        finals[i].append(s)
                out = outs[0] if D == 1 else mg.concat(outs, dim=2)
                if valid is not None:
                    out = mg.where(valid, out, mg.zeros((), dtype=dtype))
                if layer + 1 < self.num_layers and self.training and self.dropout > 0:
                    out = mg.nn.functional.dropout(out, self.dropout, training=True)
                layer_input = out
        output = layer_input
        # one layer-direction: h_n is a (1, B, H) slice of the result, no stack
        h_n = [f[0] if len(f) == 1 else mg.concat(f, dim=0) for f in finals]
        if not batched:
            output = mg.squeeze(output, 1)
            h_n = [mg.squeeze(h, 1) for h in h_n]
            if return_all_states:
                every = [tuple(mg.squeeze(s, 1) for s in e) for e in every]
        elif self.batch_first:
            output = mg.transpose(output, 0, 1)
            if return_all_states:
                every = [tuple(mg.transpose(s, 0, 1) for s in e) for e in every]
        result = (output, (h_n[0] if len(h_n) == 1 else tuple(h_n)))
        return result + (tuple(every),) if return_all_states else result

    def _initial(self, hx, B, batched, dtype):
        who = "Recurrent"
        S, LD = len(self.state_names), self.num_layers * self.num_directions
        shape = (LD, B, self.hidden_size) if batched else (LD, self.hidden_size)
        if hx is None:
            return None
        given = (hx,) if isinstance(hx, mg.Tensor) else hx
        if not isinstance(given, (tuple, list)) or len(given) != S:
            raise ValueError(f"{who}: hx expected {S} initial state(s) "
                             f"({', '.join(self.state_names)}) of shape {shape}, got "
                             f"{type(hx).__name__}")
        out = []
        for name, s in zip(self.state_names, given, strict=True):
            s = check_state(who, f"{name}0", s, shape, dtype)
            out.append(s if batched else mg.unsqueeze(s, 1))
        return out

    def _direction(self, cell, x, init, lens, reverse, valid, mask=None, everything=True):
        """x: (T, B, I) -> (every state at every step: a tuple of (T, B, H), the last
        states). mask: None or (B, H) multiplying the first state where it enters a step.
        everything: False when only the first state's steps are read (the compiled path then
        cuts no slice for the others: None in their place)."""
        T = x.shape[0]
        if self.fused:
            end = slice(0, 1) if reverse else slice(T - 1, T)
            override = lookup(cell, mask is not None) if self.fused is True else None
            if override is not None:
                every = override.run(cell, x, init, lens, reverse, mask)
                return every, tuple(s[end] for s in every)
            hist = run_sequence(cell, x, init, lens, reverse, mask, valid)
            last = tuple(hist[i, end] for i in range(len(init)))  # (1, B, H) each
            return tuple(hist[i] if i == 0 or everything else None
                         for i in range(len(init))), last
        state = init
        steps = [None] * T
        m = None if mask is None else mg.as_tensor(mask)
        for t in (range(T - 1, -1, -1) if reverse else range(T)):
            with mg.scope(f"t={t}"):
                given = state if m is None else (state[0] * m,) + tuple(state[1:])
                new = cell(x[t], given)
                new = (new,) if isinstance(new, mg.Tensor) else tuple(new)
                if len(new) != len(state):
                    raise ValueError(f"Recurrent: {type(cell).__name__}.forward returned "
                                     f"{len(new)} states, expected {len(state)} "
                                     f"({', '.join(self.state_names)})")
                if lens is not None:
                    live = mg.as_tensor((t < lens)[:, None])
                    new = tuple(mg.where(live, n, s) for n, s in zip(new, state, strict=True))
                # each new state named as in state_names, as the built-in layers name "h" and
                # "c": viz draws the states named so and overlays their gradients
                for name, n in zip(self.state_names, new, strict=True):
                    if n.grad_fn is not None and not any(n is g for g in state + given):
                        n.name = name
            state = new
            steps[t] = state
        every = tuple(mg.stack([s[i] for s in steps]) for i in range(len(init)))
        return every, tuple(mg.unsqueeze(s, 0) for s in state)


def _layers():
    """``models.rnn.layers``, whose zero states and dropout masks ``Recurrent`` shares (imported
    when first needed: ``models.rnn.cells`` imports this package's ``Cell``)."""
    from models.rnn import layers

    return layers
