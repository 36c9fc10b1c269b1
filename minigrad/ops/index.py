"""Row gathers: embedding lookup and index_select, whose backward is a scatter-add kernel."""

import math

import numpy as np

from ..kernels import rows as rows_kern
from ..primitive import Primitive, bind
from ..tensor import Tensor, as_tensor
from .reduce import normalize_dims
from .shape import permute

embedding_backward_p = Primitive("embedding_backward")


@embedding_backward_p.def_forward
def _embedding_backward_forward(g, num_rows, indices, padding_idx):
    width = g.shape[-1]
    out = np.zeros((num_rows, width), dtype=g.dtype)
    flat_idx = indices.reshape(-1)
    flat_g = np.ascontiguousarray(g).reshape(flat_idx.shape[0], width)
    if padding_idx is not None:
        keep = flat_idx != padding_idx
        flat_idx, flat_g = flat_idx[keep], flat_g[keep]
    rows_kern.scatter_add_rows(np.ascontiguousarray(flat_g), np.ascontiguousarray(flat_idx), out)
    return out


@embedding_backward_p.def_backward
def _embedding_backward_backward(ctx, gg):
    # The gather of gg's rows, with zeros where the scatter skipped the padding index.
    indices, padding_idx = ctx.params["indices"], ctx.params["padding_idx"]
    picked = bind(embedding_p, gg, indices=indices, padding_idx=None)
    if padding_idx is None:
        return (picked,)
    from .elementwise import mul
    keep = (indices != padding_idx).astype(gg.dtype)[..., None]
    return (mul(picked, Tensor._wrap(keep)),)


@embedding_backward_p.def_symbolic
def _embedding_backward_symbolic(g, num_rows, indices, padding_idx):
    import sympy
    width = g.shape[-1]
    out = np.full((num_rows, width), sympy.Integer(0), dtype=object)
    flat_idx = indices.reshape(-1)
    flat_g = g.reshape(flat_idx.shape[0], width)
    for n, row in enumerate(flat_idx):
        if row != padding_idx:
            out[row] += flat_g[n]
    return out


embedding_p = Primitive("embedding")
embedding_p.def_forward(lambda weight, indices, padding_idx: weight[indices])
embedding_p.def_backward(lambda ctx, g: (bind(
    embedding_backward_p, g, num_rows=ctx.inputs[0].shape[0], indices=ctx.params["indices"],
    padding_idx=ctx.params["padding_idx"]),))
embedding_p.def_backward_arrays(lambda ctx, g: (embedding_backward_p.forward(
    g, num_rows=ctx.inputs[0]._array.shape[0], indices=ctx.params["indices"],
    padding_idx=ctx.params["padding_idx"]),))
embedding_p.def_symbolic(lambda weight, indices, padding_idx: weight[indices])


def _check_indices(indices, n, who):
    idx = indices._array if isinstance(indices, Tensor) else np.asarray(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"{who}: expected integer indices, got dtype {idx.dtype}")
    idx = idx.astype(np.int64, copy=False)
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        raise IndexError(f"{who}: indices must lie in [0, {n}), got values from {idx.min()} "
                         f"to {idx.max()}")
    return idx


def embedding(weight, indices, padding_idx=None):
    """Rows of ``weight`` picked by ``indices``. weight: (V, D), indices: any int shape S ->
    (*S, D). The row ``padding_idx`` (negative counts from the end) receives no gradient; a
    padding_idx outside [-V, V) raises ValueError."""
    weight = as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: expected a 2-D weight (num_embeddings, embedding_dim), "
                         f"got shape {weight.shape}")
    idx = _check_indices(indices, weight.shape[0], "embedding")
    return bind(embedding_p, weight, indices=idx,
                padding_idx=_padding_row(padding_idx, weight.shape[0]))


def _padding_row(padding_idx, n):
    """``padding_idx`` as a row in [0, n) (negative counts from the end, as in PyTorch), or
    None."""
    if padding_idx is None:
        return None
    if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)):
        raise TypeError(f"embedding: padding_idx must be an int or None, got {padding_idx!r}")
    if not -n <= padding_idx < n:
        raise ValueError(f"embedding: padding_idx must lie in [-{n}, {n}) for a weight with "
                         f"{n} rows, got {padding_idx}")
    return int(padding_idx) % n


def index_select(x, dim, index):
    """Entries of x along ``dim`` at the int ``index`` (1-D, or 0-d for one entry; repeats
    allowed). x: (..., N, ...), index: (K,) -> (..., K, ...). A 0-d x takes dim 0 or -1 and
    an index holding one 0, and comes back as a copy, as in PyTorch."""
    x = as_tensor(x)
    if x.ndim == 0:
        normalize_dims(dim, 0, "index_select")
        idx = _check_indices(index, 1, "index_select")
        if idx.size != 1:
            raise ValueError(f"index_select: a 0-d tensor takes an index with one entry, got "
                             f"shape {idx.shape}")
        return bind(embedding_p, x.reshape(1, 1), indices=idx.reshape(1),
                    padding_idx=None).reshape(())
    (d,) = normalize_dims(dim, x.ndim, "index_select")
    idx = _check_indices(index, x.shape[d], "index_select")
    if idx.ndim > 1:
        raise ValueError(f"index_select: expected a 1-D index, got shape {idx.shape}")
    idx = idx.reshape(-1)
    if d == 0 and x.ndim == 2:
        return bind(embedding_p, x, indices=idx, padding_idx=None)
    order = (d,) + tuple(i for i in range(x.ndim) if i != d)
    moved = permute(x, *order)
    flat = moved.reshape(moved.shape[0], math.prod(moved.shape[1:]))  # not -1: size 0 works
    picked = bind(embedding_p, flat, indices=idx, padding_idx=None)
    picked = picked.reshape((idx.shape[0],) + moved.shape[1:])
    return permute(picked, *np.argsort(order).tolist())
