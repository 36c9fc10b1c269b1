"""``sort`` and ``argsort`` along one dim (PyTorch's): the order is a permutation found on the
values (no gradient), the sorted values are a gather of x (gradients flow back through
``getitem``). NaN counts as larger than every number, as in PyTorch: last when ascending, first
when descending."""

import numpy as np

from ..tensor import Tensor, as_tensor
from .gather import one_dim
from .shape import getitem


class SortResult(tuple):
    """``sort``'s result: ``(values, indices)``, also by name (PyTorch's return type)."""

    __slots__ = ()

    def __new__(cls, values, indices):
        return tuple.__new__(cls, (values, indices))

    values = property(lambda self: self[0])
    indices = property(lambda self: self[1])


def _order(a, d, descending):
    """The stable sorting permutation of the array ``a`` along ``d`` (int64, a's shape)."""
    if a.dtype == np.bool_:
        a = a.astype(np.int8)
    if not descending:
        return np.argsort(a, axis=d, kind="stable")  # numpy also puts NaN last
    if a.dtype.kind == "f":
        nan = np.isnan(a)
        key = np.where(nan, np.zeros((), a.dtype), -a)
        order = np.argsort(key, axis=d, kind="stable")
        # then NaNs first, keeping the order found among the numbers and among the NaNs
        later = np.argsort(~np.take_along_axis(nan, order, d), axis=d, kind="stable")
        return np.take_along_axis(order, later, d)
    # Ints: sort ascending on the bitwise complement (-1 - v, no overflow) = descending.
    return np.argsort(~a.astype(np.int64), axis=d, kind="stable")


def _check_flags(who, descending, stable):
    for name, v in (("descending", descending), ("stable", stable)):
        if not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{who}: {name} must be a bool, got {v!r}")


def argsort(x, dim=-1, descending=False, stable=False):
    """The indices that sort x along ``dim`` (int64, x's shape); equal entries keep their order
    (the sort is always stable; ``stable`` is accepted for PyTorch's signature)."""
    x = as_tensor(x)
    _check_flags("argsort", descending, stable)
    d = one_dim(dim, x.ndim, "argsort")
    if x.ndim == 0:
        return Tensor._wrap(np.zeros((), np.int64))
    return Tensor._wrap(_order(x._array, d, descending).astype(np.int64, copy=False))


def sort(x, dim=-1, descending=False, stable=False):
    """x sorted along ``dim``: ``(values, indices)`` (also ``.values`` / ``.indices``), both of
    x's shape; gradients reach x through ``values``. Equal entries keep their order."""
    x = as_tensor(x)
    _check_flags("sort", descending, stable)
    d = one_dim(dim, x.ndim, "sort")
    if x.ndim == 0:
        return SortResult(x * 1 if x.dtype.kind == "f" else Tensor._wrap(x._array.copy()),
                          Tensor._wrap(np.zeros((), np.int64)))
    order = _order(x._array, d, descending).astype(np.int64, copy=False)
    grid = np.indices(order.shape, sparse=True)
    index = tuple(order if i == d else grid[i] for i in range(x.ndim))
    return SortResult(getitem(x, index), Tensor._wrap(order))
