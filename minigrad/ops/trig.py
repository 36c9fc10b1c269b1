"""Trigonometric primitives: sin and cos (each other's derivative, so backward stays in Tensor
ops and create_graph works). Int and bool inputs become the default float dtype, as in
PyTorch."""

import numpy as np

from ..primitive import Primitive, bind
from .elementwise import _float_input, _unary, mul, neg
from .sym import sym_map

sin_p = Primitive("sin")
sin_p.def_forward(_unary(np.sin))
sin_p.def_backward(lambda ctx, g: (mul(g, cos(ctx.inputs[0])),))


@sin_p.def_symbolic
def _sin_symbolic(x):
    import sympy
    return sym_map(sympy.sin, x)


cos_p = Primitive("cos")
cos_p.def_forward(_unary(np.cos))
cos_p.def_backward(lambda ctx, g: (mul(g, neg(sin(ctx.inputs[0]))),))


@cos_p.def_symbolic
def _cos_symbolic(x):
    import sympy
    return sym_map(sympy.cos, x)


def sin(x):
    """Elementwise sine. x: any shape -> same shape."""
    return bind(sin_p, _float_input(x))


def cos(x):
    """Elementwise cosine. x: any shape -> same shape."""
    return bind(cos_p, _float_input(x))
