"""``linear`` as one primitive: x @ weight.T + bias with the bias added in place (one product,
no second (N, out) array), and a backward whose weight gradient g.T @ x comes out
C-contiguous like the weight (the optimizer and clipping then read both in one flat pass).

x: (N, in), weight: (out, in), bias: (out,) or absent -> (N, out). ``nn.functional.linear``
validates, reshapes (*, in) inputs to rows and falls back to matmul for mixed dtypes.
"""

import numpy as np

from ..ops import reduce as red
from ..ops.linalg import _matmul_forward, matmul
from ..ops.shape import permute_p
from ..primitive import Primitive, bind
from ..tensor import Tensor

linear_p = Primitive("linear")


@linear_p.def_forward
def _linear_forward(x, weight, bias=None):
    out = np.dot(x, weight.T)
    if bias is not None:
        np.add(out, bias, out=out)
    return out


@linear_p.def_backward
def _linear_backward(ctx, g):
    x, weight = ctx.inputs[0], ctx.inputs[1]
    need = ctx.needs_input_grad
    gx = matmul(g, weight) if need[0] else None
    gw = matmul(bind(permute_p, g, dims=(1, 0)), x) if need[1] else None
    if len(ctx.inputs) == 2:
        return gx, gw
    return gx, gw, (red.sum(g, dim=0) if need[2] else None)


@linear_p.def_backward_arrays
def _linear_backward_arrays(ctx, g):
    x, weight = ctx.inputs[0]._array, ctx.inputs[1]._array
    if not g.dtype is x.dtype is weight.dtype:  # the Tensor rule's dtype conversions
        return _linear_backward(ctx, Tensor._wrap(g))
    need = ctx.needs_input_grad
    gx = _matmul_forward(g, weight) if need[0] else None
    gw = _matmul_forward(g.transpose(1, 0), x) if need[1] else None
    if len(ctx.inputs) == 2:
        return gx, gw
    return gx, gw, (red.sum_p.forward(g, dims=(0,), keepdim=False) if need[2] else None)


@linear_p.def_symbolic
def _linear_symbolic(x, weight, bias=None):
    out = np.dot(x, weight.T)
    return out if bias is None else out + bias


def linear_rows(x, weight, bias=None):
    """x: (N, in), weight: (out, in), bias: (out,) or None, all one float dtype -> (N, out)."""
    if bias is None:
        return bind(linear_p, x, weight)
    return bind(linear_p, x, weight, bias)
