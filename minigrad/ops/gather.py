"""``gather`` and ``scatter_add`` along one dim (PyTorch's), each the other's backward.

For dim = 1 of a 3-D tensor (the other dims alike):

    gather:       out[i, j, k] = x[i, index[i, j, k], k]            out: index's shape
    scatter_add:  out = zeros(shape); out[i, index[i, j, k], k] += src[i, j, k]

``index`` has x's number of dims, each side at most x's (except along ``dim``), entries in
[0, x.shape[dim]).
"""

import numpy as np

from ..primitive import Primitive, bind
from ..tensor import Tensor, as_tensor
from .elementwise import add
from .reduce import normalize_dims
from .shape import getitem


def one_dim(dim, ndim, who):
    """``dim`` (one int, negative counting from the end) as an axis of an ``ndim``-dim tensor
    (0 for a 0-d one, which takes 0 or -1)."""
    if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)):
        raise TypeError(f"{who}: dim must be an int, got {dim!r}")
    dims = normalize_dims(dim, ndim, who)
    return dims[0] if dims else 0


def _full_index(index, dim):
    """The advanced-index tuple that addresses, for each entry of ``index``, its target."""
    grid = np.indices(index.shape, sparse=True)
    return tuple(index if d == dim else grid[d] for d in range(index.ndim))


gather_p = Primitive("gather", saves_inputs=())
gather_p.def_forward(lambda x, dim, index: x[_full_index(index, dim)])
gather_p.def_backward(lambda ctx, g: (bind(
    scatter_add_p, g, shape=ctx.inputs[0].shape, dim=ctx.params["dim"],
    index=ctx.params["index"]),))
gather_p.def_symbolic(lambda x, dim, index: x[_full_index(index, dim)])


def _scatter_add_forward(src, shape, dim, index):
    """src: index's shape -> (shape)."""
    out = np.zeros(shape, dtype=src.dtype)
    np.add.at(out, _full_index(index, dim), src)
    return out


scatter_add_p = Primitive("scatter_add", saves_inputs=())
scatter_add_p.def_forward(_scatter_add_forward)
scatter_add_p.def_backward(lambda ctx, g: (bind(
    gather_p, g, dim=ctx.params["dim"], index=ctx.params["index"]),))


@scatter_add_p.def_symbolic
def _scatter_add_symbolic(src, shape, dim, index):
    import sympy
    out = np.full(shape, sympy.Integer(0), dtype=object)
    np.add.at(out, _full_index(index, dim), src)
    return out


def _check(x, dim, index, who, limits=None):
    """``(d, index array)`` after checking index against x (and ``limits``, a shape each
    index side must not exceed, for scatter_add's src)."""
    idx = index._array if isinstance(index, Tensor) else np.asarray(index)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{who}: expected an integer index, got dtype {idx.dtype}")
    d = one_dim(dim, x.ndim, who)
    x_shape = x.shape if x.ndim else (1,)
    if idx.ndim != len(x_shape) and not (x.ndim == 0 and idx.ndim == 0):
        raise ValueError(f"{who}: index must have as many dims as the input ({x.ndim}), got "
                         f"shape {idx.shape}")
    idx = idx.reshape(-1) if x.ndim == 0 else idx
    for k, (i, s) in enumerate(zip(idx.shape, x_shape, strict=True)):
        if k != d and i > s:
            raise ValueError(f"{who}: index shape {idx.shape} exceeds the input's "
                             f"{x.shape} in dim {k}")
        if limits is not None and i > limits[k]:
            raise ValueError(f"{who}: index shape {idx.shape} exceeds src's {limits} in "
                             f"dim {k}")
    n = x_shape[d]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"{who}: index values must lie in [0, {n}) for dim {dim}, got values "
                         f"from {idx.min()} to {idx.max()}")
    return d, idx.astype(np.int64, copy=False)


def gather(x, dim, index):
    """Entries of x along ``dim`` at ``index`` (PyTorch's ``gather``). x: (..., N, ...),
    index: int, x's ndim, sides <= x's except along dim -> index's shape."""
    x = as_tensor(x)
    d, idx = _check(x, dim, index, "gather")
    if x.ndim == 0:
        return bind(gather_p, x.reshape(1), dim=0, index=idx).reshape(idx.shape[:0])
    return bind(gather_p, x, dim=d, index=idx)


def scatter_add(x, dim, index, src):
    """x plus src's entries added at ``index`` along ``dim`` (PyTorch's ``scatter_add``, out of
    place): out[..., index[..., j, ...], ...] += src[..., j, ...]. x: any shape; index: x's
    ndim; src: at least index's sides (only index's leading block of src is used)."""
    x = as_tensor(x)
    src = as_tensor(src, like=x)
    if src.dtype != x.dtype:
        raise TypeError(f"scatter_add: src has dtype {src.dtype}, expected the input's "
                        f"{x.dtype}")
    if src.ndim != x.ndim:
        raise ValueError(f"scatter_add: src must have as many dims as the input ({x.ndim}), "
                         f"got shape {src.shape}")
    d, idx = _check(x, dim, index, "scatter_add", limits=src.shape if src.ndim else (1,))
    if x.ndim == 0:
        return add(x, bind(scatter_add_p, src.reshape(1), shape=(1,), dim=0,
                           index=idx).reshape(()))
    if src.shape != idx.shape:
        src = getitem(src, tuple(slice(0, s) for s in idx.shape))
    return add(x, bind(scatter_add_p, src, shape=x.shape, dim=d, index=idx))
