"""The built-in recurrent cells by name: the one list of kinds that the commands' ``--cell``
choices, the derivations (``models.theory``), the analysis report, the examples and the
benches read.

``NAMES`` is importable without loading any kernel (the commands build their argument
parsers from it); ``kind(name)`` gives the ``Kind``: ``name``, ``cell`` (the ``models.Cell``
class that defines its step once), ``layer`` (the multi-layer class with PyTorch's parameter
names and the hand-written fused kernels) and ``title``. Options (``nonlinearity``,
``peephole``, ``coupled``, ``reset_after``) are arguments of those classes.
"""

from dataclasses import dataclass

NAMES = ("rnn", "lstm", "gru")
_TITLES = {"rnn": "Elman RNN", "lstm": "LSTM", "gru": "GRU"}


@dataclass(frozen=True)
class Kind:
    """One built-in kind of recurrent cell (see the module docstring)."""

    name: str
    cell: type
    layer: type
    title: str


def kind(name, who="cell"):
    """The ``Kind`` called ``name``; ``ValueError`` naming the choices otherwise."""
    if name not in NAMES:
        raise ValueError(f"{who}: expected one of {NAMES}, got {name!r}")
    from models.rnn import cells, layers

    cell = {"rnn": cells.RNNCell, "lstm": cells.LSTMCell, "gru": cells.GRUCell}[name]
    layer = {"rnn": layers.RNN, "lstm": layers.LSTM, "gru": layers.GRU}[name]
    return Kind(name, cell, layer, _TITLES[name])
