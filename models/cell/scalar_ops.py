"""The element-wise primitives the cell compiler can generate code for: one scalar
expression per primitive, over the code of its operands (``a``, ``b``, ...), evaluated for
one element (row b, column j) inside the generated kernels.

Float32 tanh and sigmoid use the kernels' vectorising approximations (``tanh_act``,
``sigmoid_act``, |error| <= 3e-7; exact in float64), as the hand-written kernels do.
Everything else is what the primitive's own forward computes. ``copy`` is not a primitive:
the compiler's identity.
"""

import math


def _literal(value):
    value = float(value)
    if math.isnan(value):
        return "np.nan"
    if math.isinf(value):
        return "np.inf" if value > 0 else "-np.inf"
    return repr(value)


def _softplus(p, a):
    beta = float(p["beta"])
    if beta == 1.0:
        return f"np.logaddexp(ZERO, {a})"
    return f"(np.logaddexp(ZERO, {a} * DT({_literal(beta)})) / DT({_literal(beta)}))"


def _clamp(p, a):
    out = a
    if p.get("min") is not None:
        out = f"max_nan({out}, DT({_literal(p['min'])}))"
    if p.get("max") is not None:
        out = f"min_nan({out}, DT({_literal(p['max'])}))"
    return out


def _pow_scalar(p, a):
    e = float(p["exponent"])
    if e == 2.0:
        return f"({a} * {a})"
    if e == 1.0:
        return a
    return f"({a} ** DT({_literal(e)}))"


# name -> (number of operands, fn(params, *operand code) -> code)
EXPRESSIONS = {
    "copy": (1, lambda p, a: a),
    "cast": (1, lambda p, a: a),
    "add": (2, lambda p, a, b: f"({a} + {b})"),
    "sub": (2, lambda p, a, b: f"({a} - {b})"),
    "mul": (2, lambda p, a, b: f"({a} * {b})"),
    "div": (2, lambda p, a, b: f"({a} / {b})"),
    "neg": (1, lambda p, a: f"(-{a})"),
    "exp": (1, lambda p, a: f"np.exp({a})"),
    "log": (1, lambda p, a: f"np.log({a})"),
    "sqrt": (1, lambda p, a: f"np.sqrt({a})"),
    "abs": (1, lambda p, a: f"abs({a})"),
    "sin": (1, lambda p, a: f"np.sin({a})"),
    "cos": (1, lambda p, a: f"np.cos({a})"),
    "tanh": (1, lambda p, a: f"tanh_act({a})"),
    "sigmoid": (1, lambda p, a: f"sigmoid_act({a})"),
    "relu": (1, lambda p, a: f"(ZERO if {a} <= ZERO else {a})"),
    "leaky_relu": (1, lambda p, a:
                   f"({a} if {a} > ZERO else {a} * DT({_literal(p['negative_slope'])}))"),
    "softplus": (1, _softplus),
    "clamp": (1, _clamp),
    "pow_scalar": (1, _pow_scalar),
    "pow": (2, lambda p, a, b: f"({a} ** {b})"),
    "maximum": (2, lambda p, a, b: f"max_nan({a}, {b})"),
    "minimum": (2, lambda p, a, b: f"min_nan({a}, {b})"),
    "tanh_backward": (2, lambda p, g, y: f"({g} * (ONE - {y} * {y}))"),
    "sigmoid_backward": (2, lambda p, g, y: f"({g} * {y} * (ONE - {y}))"),
    "leaky_relu_backward": (2, lambda p, g, x:
                            f"({g} if {x} > ZERO else "
                            f"{g} * DT({_literal(p['negative_slope'])}))"),
}


def expression(op, params, operands):
    """The code of one element of ``op`` applied to the operands' code, or None when the
    compiler has no expression for ``op``."""
    entry = EXPRESSIONS.get(op)
    if entry is None or len(operands) != entry[0]:
        return None
    return entry[1](params, *operands)


literal = _literal
