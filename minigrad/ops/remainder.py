"""``remainder`` (Python's and PyTorch's ``%``): a - b * floor(a / b), so the result has the
divisor's sign (``fmod`` would keep the dividend's).

    d/da = 1,    d/db = -floor(a / b)      (PyTorch's rule; floor is a step, taken as flat)

Integer operands give an integer result without a graph; an integer division by zero raises
``ZeroDivisionError``. Floats divided by zero give NaN, as in PyTorch.
"""

import numpy as np

from ..primitive import Primitive, bind
from ..tensor import Tensor
from .broadcast import unbroadcast
from .elementwise import _binary, _const, _pair, mul, neg
from .sym import sym_map

remainder_p = Primitive("remainder")
_remainder_arrays = _binary(np.remainder, "remainder")


@remainder_p.def_forward
def _remainder_forward(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):  # x % 0.0 is NaN, as in PyTorch
        return _remainder_arrays(a, b)


def _quotient_floor(a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.floor(np.divide(a, b))


@remainder_p.def_backward
def _remainder_backward(ctx, g):
    a, b = ctx.inputs
    ga = gb = None
    if ctx.needs_input_grad[0]:
        ga = unbroadcast(g, a.shape)
    if ctx.needs_input_grad[1]:
        q = np.asarray(_quotient_floor(a._array, b._array))
        gb = unbroadcast(mul(g, neg(_const(q))), b.shape)
    return ga, gb


_FLAT_FLOOR = None


def _flat_floor():
    """sympy's floor with a zero derivative (a step function, flat almost everywhere): what the
    backward rule assumes, so that ``sympy.diff`` of the symbolic rule gives -floor(a / b)."""
    global _FLAT_FLOOR
    if _FLAT_FLOOR is None:
        import sympy

        class flat_floor(sympy.floor):  # noqa: N801 - printed as floor by lambdify
            def fdiff(self, argindex=1):
                return sympy.S.Zero

            def _numpycode(self, printer):
                arg = printer._print(self.args[0])
                return f"{printer._module_format('numpy.floor')}({arg})"
        _FLAT_FLOOR = flat_floor
    return _FLAT_FLOOR


@remainder_p.def_symbolic
def _remainder_symbolic(a, b):
    floor = _flat_floor()
    return sym_map(lambda x, y: x - y * floor(x / y), a, b)


def remainder(a, b):
    """a % b with broadcasting; the result takes b's sign (Python's and PyTorch's rule)."""
    a, b = _pair(a, b)
    if a.dtype.kind != "f" and b.dtype.kind != "f":
        if np.any(b._array == 0):
            raise ZeroDivisionError("remainder: integer division by zero")
        try:
            return Tensor._wrap(np.asarray(np.remainder(a._array, b._array)))
        except ValueError:
            raise ValueError(f"remainder: shapes {a.shape} and {b.shape} cannot be broadcast "
                             "together") from None
    return bind(remainder_p, a, b)
