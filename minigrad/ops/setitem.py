"""``index_put``: ``x`` with ``value`` written at ``index``, out of place. It is what
``t[index] = value`` records when the assignment must be differentiated (``Tensor.__setitem__``
with a value or a tensor that requires grad while recording).

    out = x.copy(); out[index] = value        (value broadcast to out[index]'s shape)
    d out / d x     = 1 except at index (0 there)
    d out / d value = the gradient at index, summed back to value's shape

With repeated entries in an integer-array index, numpy (and PyTorch) keep one of the writes; the
gradient then reaches ``value`` once per repetition, as PyTorch's ``index_put_`` does.
"""

import numpy as np

from ..primitive import Primitive, bind
from ..tensor import Tensor, as_tensor
from .broadcast import unbroadcast
from .shape import _normalize_index, getitem, reshape


def _index_put_forward(x, value, index):
    """x: any shape; value: broadcastable to ``x[index]``'s shape; same dtype as x."""
    out = x.copy()
    try:
        out[index] = value
    except IndexError as err:
        raise IndexError(f"setitem: {err} (tensor of shape {x.shape})") from None
    except ValueError as err:
        raise ValueError(f"setitem: cannot write a value of shape {value.shape} into "
                         f"{np.shape(out[index])} entries: {err}") from None
    return out


index_put_p = Primitive("index_put", saves_inputs=())
index_put_p.def_forward(_index_put_forward)


@index_put_p.def_backward
def _index_put_backward(ctx, g):
    x, value = ctx.inputs
    index = ctx.params["index"]
    grad_x = grad_value = None
    if ctx.needs_input_grad[0]:
        zero = Tensor._wrap(np.zeros((), dtype=g.dtype))
        grad_x = bind(index_put_p, g, zero, index=index)
    if ctx.needs_input_grad[1]:
        grad_value = unbroadcast(getitem(g, index), value.shape)
    return grad_x, grad_value


@index_put_p.def_symbolic
def _index_put_symbolic(x, value, index):
    out = np.array(x, dtype=object)
    out[index] = value
    return out


def index_put(x, index, value):
    """``x`` with ``value`` written at ``index`` (ints, slices, None, Ellipsis, int arrays and
    bool masks, as in ``x[index]``), as a new tensor; ``value`` takes ``x``'s dtype."""
    x = as_tensor(x)
    value = as_tensor(value, like=x)
    if value.dtype != x.dtype:
        value = value.to(x.dtype) if x.dtype.kind == "f" else Tensor._wrap(
            value._array.astype(x.dtype))
    index = _normalize_index(index)
    stripped = strip_leading_ones(value.shape, _target_ndim(x._array, index))
    if stripped != value.shape:
        value = reshape(value, stripped)
    return bind(index_put_p, x, value, index=index)


def strip_leading_ones(shape, ndim):
    """``shape`` without leading 1s beyond ``ndim`` dims (PyTorch writes a (1, 3) value into a
    row of 3 entries)."""
    shape = tuple(shape)
    while len(shape) > ndim and shape[0] == 1:
        shape = shape[1:]
    return shape


def _target_ndim(x, index):
    """The number of dims of ``x[index]`` (x: an array), without copying its entries."""
    try:
        return np.ndim(np.broadcast_to(np.zeros((), x.dtype), x.shape)[index])
    except IndexError as err:
        raise IndexError(f"setitem: {err} (tensor of shape {x.shape})") from None
