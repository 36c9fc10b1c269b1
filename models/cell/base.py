r"""``Cell``: one step of a recurrence, written once in Tensor ops.

A cell is an ``mg.nn.Module`` made as ``Cell(input_size, hidden_size)`` whose ``forward(x,
state)`` takes x: (B, I) and ``state``, a tuple of (B, H) Tensors named by the class
attribute ``state_names`` (the first is the output, e.g. ``("h",)`` or ``("h", "c")``), and
returns the new state tuple. ``models.Recurrent`` runs it over sequences, unrolled
(``fused=False``: the step as written, one op at a time) or compiled (``fused=True``: see
``models.cell.compiler``)::

    class MinimalRNN(models.Cell):
        state_names = ("h",)

        def __init__(self, input_size, hidden_size):
            super().__init__(input_size, hidden_size)
            self.weight_ih = mg.nn.Parameter(mg.randn(hidden_size, input_size) * 0.1)
            self.weight_hh = mg.nn.Parameter(mg.randn(hidden_size, hidden_size) * 0.1)

        def forward(self, x, state):
            (h,) = state
            return (mg.tanh(x @ self.weight_ih.t() + h @ self.weight_hh.t()),)
"""

import minigrad as mg


class Cell(mg.nn.Module):
    """Base class of recurrent cells (see the module docstring).

    Attributes: ``input_size`` (I), ``hidden_size`` (H), ``state_names`` (class attribute, a
    tuple of names, the first being the output). Subclasses define ``forward(x, state)``.
    """

    state_names = ("h",)

    def __init__(self, input_size, hidden_size):
        super().__init__()
        who = type(self).__name__
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{who}: {name} expected an int >= 1, got {value!r}")
        self.input_size, self.hidden_size = input_size, hidden_size
        names = type(self).state_names
        if (not isinstance(names, tuple) or not names
                or not all(isinstance(n, str) and n for n in names)
                or len(set(names)) != len(names)):
            raise TypeError(f"{who}: state_names must be a non-empty tuple of distinct "
                            f"names, got {names!r}")

    def forward(self, x, state):
        raise NotImplementedError(f"{type(self).__name__}: a Cell defines forward(x, state) "
                                  "-> the new state tuple")

    def initial_state(self, batch, dtype):
        """The zero state: one (B, H) Tensor per name in ``state_names``."""
        return tuple(mg.zeros(batch, self.hidden_size, dtype=dtype) for _ in self.state_names)

    def extra_repr(self):
        return f"{self.input_size}, {self.hidden_size}"
