"""Small helpers for symbolic rules: they operate on numpy object arrays of sympy expressions.

sympy is imported lazily so that ``import minigrad`` does not pay for it.
"""

import numpy as np


def sym_map(fn, *arrays):
    """Apply the scalar function ``fn`` elementwise (with broadcasting) to object arrays."""
    out = np.vectorize(fn, otypes=[object])(*arrays)
    return np.asarray(out, dtype=object)


def sym_number(value):
    """An exact sympy number for a Python/numpy scalar parameter (0.01 -> 1/100)."""
    import sympy

    if isinstance(value, (bool, np.bool_)):
        return sympy.Integer(int(value))
    if isinstance(value, (int, np.integer)):
        return sympy.Integer(int(value))
    return sympy.nsimplify(float(value), rational=True)


def sym_constant(array):
    """An object array of exact sympy numbers for a numeric array."""
    arr = np.asarray(array)
    return sym_map(sym_number, arr) if arr.size else np.empty(arr.shape, dtype=object)
