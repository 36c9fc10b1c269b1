"""Matrix multiplication (batched, broadcasting batch dims, numpy's 1-D rules)."""

import numpy as np

from .. import dtypes
from ..primitive import Primitive, bind
from ..tensor import Tensor, as_tensor
from .broadcast import unbroadcast, unbroadcast_array
from .shape import permute_p, reshape

matmul_p = Primitive("matmul")


@matmul_p.def_forward
def _matmul_forward(a, b):
    # Both inputs have >= 2 dims here (the public function handles 1-D operands).
    if a.shape[-1] != b.shape[-2]:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: the inner dimensions "
                         f"{a.shape[-1]} and {b.shape[-2]} differ")
    if a.ndim == 2 and b.ndim == 2:
        return np.dot(a, b)  # the same product; half numpy's matmul overhead on small matrices
    try:
        return np.matmul(a, b)
    except ValueError:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: the batch dimensions "
                         f"{a.shape[:-2]} and {b.shape[:-2]} cannot be broadcast") from None


@matmul_p.def_backward
def _matmul_backward(ctx, g):
    a, b = ctx.inputs
    ga = gb = None
    if ctx.needs_input_grad[0]:
        ga = unbroadcast(matmul(g, _swap_last_two(b)), a.shape)
    if ctx.needs_input_grad[1]:
        gb = unbroadcast(matmul(_swap_last_two(a), g), b.shape)
    return ga, gb


_SWAPS = {}


def _swap_dims(ndim):
    """The permutation swapping the last two of ``ndim`` >= 2 dims."""
    dims = _SWAPS.get(ndim)
    if dims is None:
        dims = _SWAPS[ndim] = tuple(range(ndim - 2)) + (ndim - 1, ndim - 2)
    return dims


def _swap_last_two(x):
    """x with its last two dims swapped (x.ndim >= 2): one permute, no argument checks."""
    return bind(permute_p, x, dims=_swap_dims(x.ndim))


@matmul_p.def_backward_arrays
def _matmul_backward_arrays(ctx, g):
    a, b = ctx.inputs[0]._array, ctx.inputs[1]._array
    if not g.dtype is a.dtype is b.dtype:  # mixed dtypes: the Tensor rule's conversions
        return _matmul_backward(ctx, Tensor._wrap(g))
    ga = gb = None
    if ctx.needs_input_grad[0]:
        ga = unbroadcast_array(_matmul_forward(g, b.transpose(_swap_dims(b.ndim))), a.shape)
    if ctx.needs_input_grad[1]:
        gb = unbroadcast_array(_matmul_forward(a.transpose(_swap_dims(a.ndim)), g), b.shape)
    return ga, gb


matmul_p.def_symbolic(np.matmul)


def matmul(a, b):
    """a @ b. a: (..., n, k), b: (..., k, m) -> (..., n, m); batch dims broadcast; a 1-D
    operand is treated as a row (a) or column (b) vector and that dim is dropped, as in numpy."""
    if (isinstance(a, Tensor) and isinstance(b, Tensor) and a._array.ndim >= 2
            and b._array.ndim >= 2 and a._array.dtype is b._array.dtype):
        return bind(matmul_p, a, b)  # the common case, without the checks below
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: {a.shape} @ {b.shape}: both operands need at least 1 dim")
    if a.dtype != b.dtype:
        dt = dtypes.result_type(a.dtype, b.dtype)
        a, b = a.to(dt), b.to(dt)
    a2 = reshape(a, 1, a.shape[0]) if a.ndim == 1 else a
    b2 = reshape(b, b.shape[0], 1) if b.ndim == 1 else b
    out = bind(matmul_p, a2, b2)
    if a.ndim == 1 and b.ndim == 1:
        return reshape(out, ())
    if a.ndim == 1:
        return reshape(out, out.shape[:-2] + out.shape[-1:])
    if b.ndim == 1:
        return reshape(out, out.shape[:-1])
    return out


def bmm(a, b):
    """Batched matrix product: a (B, n, k) @ b (B, k, m) -> (B, n, m), no broadcasting (as in
    PyTorch; ``matmul`` broadcasts)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 3 or b.ndim != 3:
        raise ValueError(f"bmm: expected two 3-D tensors, got shapes {a.shape} and {b.shape}")
    if a.shape[0] != b.shape[0] or a.shape[2] != b.shape[1]:
        raise ValueError(f"bmm: {a.shape} @ {b.shape}: expected (B, n, k) @ (B, k, m)")
    return matmul(a, b)
