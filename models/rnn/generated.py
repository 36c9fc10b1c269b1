"""The built-in layers' generated path: each layer-direction runs the kernel that
``models.cell`` compiles from its cell's step, with the layer's own parameters.

``RNN / LSTM / GRU(fused=True)`` run the hand-written kernels registered as their cells'
overrides (``models.cell.overrides``) and this path where none is registered;
``fused="generated"`` runs it always. Same numbers as the hand-written kernels, and the
same interface as ``fused_recurrence`` (``layers.RNNBase._run_layers`` calls either).
"""

import weakref

import minigrad as mg
from minigrad import random as mg_random

from ..cell.compiled import run_sequence
from .cells import make_cell

_STEMS = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_peep")
_CELLS = weakref.WeakKeyDictionary()  # layer -> {layer-direction k: its cell}


def cell_of(layer, k):
    """The built-in cell of ``layer``'s layer-direction ``k``, holding the layer's parameters
    (the same Parameter objects, looked up at each call), made once and kept for its
    compiled kernels."""
    cells = _CELLS.setdefault(layer, {})
    cell = cells.get(k)
    if cell is None:
        width = layer.num_directions * layer.hidden_size
        with mg_random.state_kept():  # its own initial weights are replaced: draw nothing
            cell = cells[k] = make_cell(
                layer.mode, layer.input_size if k < layer.num_directions else width,
                layer.hidden_size, layer.bias, dtype=layer.weight_ih_l0.dtype,
                nonlinearity=layer.nonlinearity, peephole=layer.peephole,
                coupled=layer.coupled, reset_after=layer.reset_after)
    for stem in _STEMS:
        p = layer._param(k, stem)
        if p is not None and cell._parameters.get(stem) is not p:
            setattr(cell, stem, p)
    return cell


def recurrence(layer):
    """A function with ``fused_recurrence``'s interface that runs ``layer``'s generated
    kernels. ``hidden_mask`` must be None for the GRU (its mask meets h in the products only;
    a compiled cell gets the masked state at every use): ``RNNBase.forward`` runs that case
    unrolled."""

    def generated(mode, x, h0, c0, weight_ih, weight_hh, bias_ih, bias_hh, *, lengths=None,
                  reverse=False, hidden_mask=None, probe=None, batch_first=False, **options):
        """x: (T, B, I) ((B, T, I) with batch_first); h0, c0: (B, H) -> (T, S, B, H)."""
        if probe is not None or (hidden_mask is not None and mode == "gru"):
            raise ValueError(f"{type(layer).__name__}: the generated path takes no state "
                             "probe and no GRU recurrent-dropout mask")
        k = next(k for k in range(len(layer._names)) if layer._param(k, "weight_ih")
                 is weight_ih)
        cell = cell_of(layer, k)
        if batch_first:
            x = mg.transpose(x, 0, 1)
        states0 = (h0,) if c0 is None else (h0, c0)
        hist = run_sequence(cell, x, states0, lengths, reverse, hidden_mask)  # (S, T, B, H)
        return mg.transpose(hist, 0, 1)

    return generated
