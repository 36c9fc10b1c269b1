"""``cumsum``: running sums along one dim. Its backward is the running sum taken from the other
end (the same primitive with ``reverse=True``), whose backward is the forward one again.

    out[..., i, ...] = sum_{j <= i} x[..., j, ...]          (reverse: sum over j >= i)
"""

import numpy as np

from .. import dtypes
from ..primitive import Primitive, bind
from ..tensor import Tensor, as_tensor
from .gather import one_dim


def _cumsum_forward(x, dim, reverse):
    """x: any shape with ndim >= 1 -> the same shape."""
    if not reverse:
        return np.cumsum(x, axis=dim, dtype=x.dtype)
    return np.flip(np.cumsum(np.flip(x, dim), axis=dim, dtype=x.dtype), dim).copy()


cumsum_p = Primitive("cumsum", saves_inputs=())
cumsum_p.def_forward(_cumsum_forward)
cumsum_p.def_backward(lambda ctx, g: (bind(
    cumsum_p, g, dim=ctx.params["dim"], reverse=not ctx.params["reverse"]),))


@cumsum_p.def_symbolic
def _cumsum_symbolic(x, dim, reverse):
    if not reverse:
        return np.cumsum(x, axis=dim)
    return np.flip(np.cumsum(np.flip(x, dim), axis=dim), dim).copy()


def cumsum(x, dim, dtype=None):
    """Running sums of x along ``dim`` (PyTorch's ``cumsum``). x: any shape -> the same shape
    (a 0-d x takes dim 0 or -1 and comes back as a copy). Int and bool tensors sum in int64, as
    in PyTorch; ``dtype`` converts x first."""
    x = as_tensor(x)
    d = one_dim(dim, x.ndim, "cumsum")
    if dtype is not None:
        x = x.to(dtypes.check_supported(dtype, "cumsum"))
    if x.dtype.kind in "biu" and x.dtype != np.int64:
        x = Tensor._wrap(x._array.astype(np.int64))
    if x.ndim == 0:
        return cumsum(x.reshape(1), 0).reshape(())
    return bind(cumsum_p, x, dim=d, reverse=False)
