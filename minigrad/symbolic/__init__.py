"""The symbolic side: recorded graphs as sympy expressions, and the theory checked against them.

    from minigrad import symbolic
    expr = symbolic.to_sympy(h, inputs={w: "w", h0: "h_0"})

``import minigrad`` does not import this package (nor sympy).
"""

from .trace import (
    DEFAULT_MAX_SIZE,
    ExpressionTooLargeError,
    Trace,
    as_sympy,
    expression_size,
    register_size_rule,
    symbols_like,
    to_sympy,
    trace,
)
from .vjp import symbolic_vjp

__all__ = ["DEFAULT_MAX_SIZE", "ExpressionTooLargeError", "Trace", "as_sympy", "expression_size",
           "register_size_rule", "symbols_like", "symbolic_vjp", "to_sympy", "trace"]
