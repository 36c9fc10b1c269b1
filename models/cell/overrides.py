"""Hand-written kernels that stand in for the generated ones of a cell class.

A cell's fused path is the kernel the compiler generates from its ``forward``
(``models.cell.compiled``). An override replaces it for one cell class, exactly (a subclass
that redefines ``forward`` is compiled from its own step): ``models.Recurrent(cell, ...,
fused=True)`` and the built-in layers ``models.RNN / LSTM / GRU`` run the override when one
is registered and accepts the call, and the generated kernel otherwise. ``fused="generated"``
(on ``Recurrent`` and the built-in layers) skips overrides, which is how the tests check an
override equal to the generated kernel and how ``bench/bench_cells.py`` times the two.

An override stays only where it is measured at least 10 % faster than the generated kernel
(``bench/bench_cells.py``); ``why`` records the figure. The built-in cells' overrides are the
hand-written kernels of ``models.rnn.kernels`` (registered by ``models.rnn.fused``).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Override:
    """The hand-written kernel of one cell class.

    ``run(cell, x, states0, lengths, reverse, mask)``: x (T, B, I) Tensor, states0 a tuple of
    (B, H) Tensors in ``state_names`` order, lengths None or (B,) ints, mask None or a (B, H)
    recurrent-dropout mask -> a tuple of (T, B, H) Tensors, every state after every step, as
    the generated kernel gives them. ``accepts(cell, masked)``: whether this call gives the
    same numbers as the generated kernel (otherwise the generated one runs). ``why``: the
    measurement that keeps it."""

    cell: type
    run: object
    accepts: object
    why: str


_OVERRIDES = {}


def register(cell_class, run, *, why, accepts=None):
    """Register ``run`` as the kernel of ``cell_class`` (see ``Override``); returns it."""
    if not isinstance(cell_class, type):
        raise TypeError(f"register: expected a Cell class, got {cell_class!r}")
    if not isinstance(why, str) or not why:
        raise ValueError("register: why expected the measurement that keeps the override")
    found = Override(cell_class, run, accepts or (lambda cell, masked: True), why)
    _OVERRIDES[cell_class] = found
    return found


def unregister(cell_class):
    """Remove the override of ``cell_class`` (returned, or None if it had none)."""
    return _OVERRIDES.pop(cell_class, None)


def lookup(cell, masked=False):
    """The Override that runs ``cell`` (an instance), or None: the generated kernel runs."""
    _load_builtins()
    found = _OVERRIDES.get(type(cell))
    if found is None or not found.accepts(cell, bool(masked)):
        return None
    return found


def for_class(cell_class):
    """The Override registered for ``cell_class`` exactly, or None."""
    _load_builtins()
    return _OVERRIDES.get(cell_class)


def registered():
    """{cell class: Override} of every registered override."""
    _load_builtins()
    return dict(_OVERRIDES)


def check_fused(who, fused):
    """``fused`` of a layer: True, False or ``"generated"`` (True without overrides)."""
    if fused is True or fused is False or fused == "generated":
        return fused
    raise ValueError(f"{who}: fused expected True, False or 'generated', got {fused!r}")


def _load_builtins():
    import models.rnn.fused  # noqa: F401 - registers the built-in cells' kernels
