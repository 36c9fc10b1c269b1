"""Small helpers for symbolic rules: they operate on numpy object arrays of sympy expressions.

sympy is imported lazily so that ``import minigrad`` does not pay for it.
"""

import numpy as np


def sym_map(fn, *arrays):
    """Apply the scalar function ``fn`` elementwise (with broadcasting) to object arrays."""
    out = np.vectorize(fn, otypes=[object])(*arrays)
    return np.asarray(out, dtype=object)


def sym_number(value):
    """An exact sympy number for a Python/numpy scalar (0.01 -> 1/100, inf -> oo)."""
    import sympy

    if isinstance(value, (bool, np.bool_)):
        return sympy.Integer(int(value))
    if isinstance(value, (int, np.integer)):
        return sympy.Integer(int(value))
    value = value if isinstance(value, np.floating) else np.float64(value)
    if not np.isfinite(value):
        return sympy.nan if np.isnan(value) else (sympy.oo if value > 0 else -sympy.oo)
    # The shortest decimal that round-trips in the value's own dtype, made exact: the number
    # the user typed (float32 0.1 -> 1/10), ~4000x faster than nsimplify.
    return sympy.Rational(np.format_float_positional(value, unique=True, trim="0"))


def sym_constant(array):
    """An object array of exact sympy numbers for a numeric array."""
    arr = np.asarray(array)
    return sym_map(sym_number, arr) if arr.size else np.empty(arr.shape, dtype=object)
