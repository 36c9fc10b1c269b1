"""The symbolic side: recorded graphs as sympy expressions, and the theory checked against them.

    from minigrad import symbolic
    expr = symbolic.to_sympy(h, inputs={w: "w", h0: "h_0"})

Modules: ``trace`` (``to_sympy``, the size guard), ``rules_check`` (every backward rule against
``sympy.diff`` of its symbolic rule), ``bounds`` (gamma, the Jacobian-norm bound, the
Pascanu-Mikolov-Bengio conditions), ``cost`` (BPTT costs by ``rsolve`` against the engine's op
counts), ``swell`` (expression swell), ``vjp`` (symbolic rules of backward primitives). The
derivations for the recurrent cells live in ``models.theory`` (the core does not import models).
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
