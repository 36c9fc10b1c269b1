"""Expression swell: why autodiff is not symbolic differentiation.

The derivative of h_T written out as one sympy expression repeats every shared subexpression
(h_{t-1} appears in the step that makes h_t and again in that step's derivative), so its size
grows like T^2 for a scalar RNN (and exponentially with the hidden size), while the recorded
graph, and the graph the backward pass records, grow like T. Common-subexpression elimination
(``sympy.cse``) recovers the sharing: its size is back to O(T), which is what reverse
accumulation on the graph gets for free.
"""

import dataclasses

import sympy

from ..autograd import grad
from .cost import _new_nodes, _walk
from .trace import to_sympy


@dataclasses.dataclass
class SwellRow:
    """Sizes for one sequence length: recorded forward ops, ops recorded by the backward pass,
    ``count_ops`` of the symbolic derivative (as one expression, and after ``cse``)."""

    steps: int
    graph_ops: int
    backward_ops: int
    derivative_ops: int
    cse_ops: int

    @property
    def ratio(self):
        """Expression size per graph op (grows with T: the swell)."""
        return self.derivative_ops / max(self.graph_ops + self.backward_ops, 1)


def _cse_size(expr):
    replacements, reduced = sympy.cse(expr)
    return (sum(sympy.count_ops(e) + 1 for _, e in replacements) +
            sum(sympy.count_ops(e) for e in reduced))


def expression_swell(unroll, steps=(1, 2, 4, 8), max_size=None):
    """For each T, ``unroll(T) -> (out, wrt, inputs)``: ``out`` a one-element tensor (h_T),
    ``wrt`` the tensor to differentiate by (a one-element leaf, e.g. the recurrent weight) and
    ``inputs`` the ``to_sympy`` inputs (must give ``wrt`` a Symbol). Returns ``SwellRow`` s."""
    rows = []
    for n in steps:
        out, wrt, inputs = unroll(n)
        graph_ops = sum(1 for t in _walk([out]) if t._node is not None)
        old = {id(t) for t in _walk([out])}
        (g,) = grad(out.sum(), [wrt], create_graph=True, retain_graph=True)
        backward_ops = _new_nodes([g], old) + 1  # + the sum that seeds it
        expr = to_sympy(out.sum(), inputs, max_size=max_size)
        symbol = inputs[wrt]
        if not isinstance(symbol, sympy.Symbol):
            raise TypeError("expression_swell: inputs[wrt] must be a sympy Symbol")
        derivative = sympy.diff(expr, symbol)
        rows.append(SwellRow(n, graph_ops, backward_ops, int(sympy.count_ops(derivative)),
                             int(_cse_size(derivative))))
    return rows
