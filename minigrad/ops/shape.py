"""Shape primitives: reshape, permute, expand, getitem (and its scatter), concat; and the
composites built from them (view, flatten, transpose, squeeze, unsqueeze, stack, split, chunk)."""

import math
import operator

import numpy as np

from .. import dtypes
from ..grad_mode import is_grad_enabled
from ..kernels import rows as rows_kern
from ..primitive import PartialGrad, Primitive, bind
from ..tensor import Tensor, as_tensor
from .reduce import normalize_dims, sum_to, sum_to_p


def _shape_arg(shape, who):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for s in shape:
        if not isinstance(s, (int, np.integer)):
            raise TypeError(f"{who}: expected ints in the shape, got {shape!r}")
    return tuple(int(s) for s in shape)


# ---- reshape -------------------------------------------------------------------------------
reshape_p = Primitive("reshape", saves_inputs=(), view=True)
reshape_p.def_forward(lambda x, shape: x.reshape(shape))
reshape_p.def_backward(lambda ctx, g: (reshape(g, ctx.inputs[0].shape),))
reshape_p.def_backward_arrays(lambda ctx, g: (_reshape_array(g, ctx.inputs[0]._array.shape),))
reshape_p.def_symbolic(lambda x, shape: x.reshape(shape))


def reshape(x, *shape):
    """x with a new shape of the same size (one entry may be -1)."""
    shape = _shape_arg(shape, "reshape")
    x = as_tensor(x)
    target = _resolve_shape(shape, x._array.size, x.shape)
    if target == x.shape:
        return x
    return bind(reshape_p, x, shape=target)


view = reshape


def _reshape_array(g, shape):
    """What ``reshape(g, shape)`` gives, on arrays (g has shape's size)."""
    return g if g.shape == shape else g.reshape(shape)


def _resolve_shape(shape, size, old_shape):
    """``shape`` with its -1 (if any) filled in; raises when it cannot hold ``size`` elements."""
    known = math.prod([d for d in shape if d != -1])
    bad = shape.count(-1) > 1 or any(d < -1 for d in shape)
    if -1 in shape and not bad:
        bad = known == 0 or size % known != 0
        shape = tuple(size // known if d == -1 else d for d in shape) if not bad else shape
    elif not bad:
        bad = known != size
    if bad:
        raise ValueError(f"reshape: cannot reshape a tensor of shape {old_shape} ({size} "
                         f"elements) into {shape}")
    return shape


def flatten(x, start_dim=0, end_dim=-1):
    """Merge dims start_dim..end_dim into one. A 0-d x becomes shape (1,) (dims 0 or -1)."""
    if x.ndim == 0:
        for d in (start_dim, end_dim):
            normalize_dims(d, 0, "flatten")  # a 0-d tensor takes dim 0 or -1, as in PyTorch
        return reshape(x, 1)
    s = normalize_dims(start_dim, x.ndim, "flatten")[0]
    e = normalize_dims(end_dim, x.ndim, "flatten")[0]
    if s > e:
        raise ValueError(f"flatten: start_dim {start_dim} comes after end_dim {end_dim}")
    shape = x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:]
    return reshape(x, shape)


def squeeze(x, dim=None):
    """Remove size-1 dims (all of them, or only ``dim``)."""
    if dim is None:
        return reshape(x, tuple(s for s in x.shape if s != 1))
    dims = normalize_dims(dim, x.ndim, "squeeze")
    return reshape(x, tuple(s for i, s in enumerate(x.shape) if not (i in dims and s == 1)))


def unsqueeze(x, dim):
    """Insert a size-1 dim at ``dim`` (negative counts from the end of the result)."""
    nd = x.ndim + 1
    if not -nd <= dim < nd:
        raise ValueError(f"unsqueeze: dim {dim} is out of range for a result with {nd} dims")
    d = dim % nd
    return reshape(x, x.shape[:d] + (1,) + x.shape[d:])


# ---- permute -------------------------------------------------------------------------------
permute_p = Primitive("permute", saves_inputs=(), view=True)
permute_p.def_forward(lambda x, dims: x.transpose(dims))  # the method: no dispatch
permute_p.def_backward(lambda ctx, g: (
    bind(permute_p, g, dims=tuple(np.argsort(ctx.params["dims"]).tolist())),))
permute_p.def_backward_arrays(lambda ctx, g: (g.transpose(_inverse(ctx.params["dims"])),))
permute_p.def_symbolic(lambda x, dims: np.transpose(x, dims))

_INVERSES = {}


def _inverse(dims):
    """The permutation that undoes ``dims`` (kept per permutation)."""
    inv = _INVERSES.get(dims)
    if inv is None:
        if len(_INVERSES) >= 256:
            _INVERSES.clear()
        inv = _INVERSES[dims] = tuple(np.argsort(dims).tolist())
    return inv


def permute(x, *dims):
    """Reorder the dims of x."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    ndim = x.ndim
    key = (dims, ndim)
    if all(type(d) is int for d in dims):  # plain ints: checked once per (dims, ndim)
        known = _PERMUTATIONS.get(key)
        if known is not None:
            return x if known is _IDENTITY else bind(permute_p, x, dims=known)
    dims = _shape_arg(dims, "permute")
    if sorted(d % max(ndim, 1) for d in dims) != list(range(ndim)):
        raise ValueError(f"permute: expected a permutation of {ndim} dims, got {dims}")
    dims = tuple(d % ndim for d in dims)
    identity = dims == tuple(range(ndim))
    if all(type(d) is int for d in key[0]):
        if len(_PERMUTATIONS) >= 256:
            _PERMUTATIONS.clear()
        _PERMUTATIONS[key] = _IDENTITY if identity else dims
    if identity:
        return x
    return bind(permute_p, x, dims=dims)


_PERMUTATIONS = {}  # (dims as given, ndim) -> normalised dims, or _IDENTITY
_IDENTITY = object()
_SWAPS = {}  # (dim0, dim1, ndim) -> the permutation transpose makes


def transpose(x, dim0, dim1):
    """Swap two dims. A 0-d x takes dims 0 and -1 and comes back unchanged, as in PyTorch."""
    ndim = x.ndim
    if type(dim0) is int and type(dim1) is int:  # plain ints: checked once per (d0, d1, ndim)
        dims = _SWAPS.get((dim0, dim1, ndim))
        if dims is not None:
            return permute(x, *dims)
    if ndim == 0:
        for d in (dim0, dim1):
            normalize_dims(d, 0, "transpose")
        return x
    d0, d1 = (normalize_dims(d, ndim, "transpose")[0] for d in (dim0, dim1))
    dims = list(range(ndim))
    dims[d0], dims[d1] = dims[d1], dims[d0]
    if type(dim0) is int and type(dim1) is int:
        if len(_SWAPS) >= 256:
            _SWAPS.clear()
        _SWAPS[(dim0, dim1, ndim)] = tuple(dims)
    return permute(x, *dims)


# ---- expand --------------------------------------------------------------------------------
expand_p = Primitive("expand", saves_inputs=(), view=True)
expand_p.def_forward(lambda x, shape: np.broadcast_to(x, shape))
expand_p.def_backward(lambda ctx, g: (sum_to(g, ctx.inputs[0].shape),))
expand_p.def_backward_arrays(lambda ctx, g: (
    _sum_to_array(g, ctx.inputs[0]._array.shape),))
expand_p.def_symbolic(lambda x, shape: np.broadcast_to(x, shape).copy())


def _sum_to_array(g, shape):
    """What ``sum_to(g, shape)`` gives, on arrays (shape broadcasts to g's shape)."""
    return sum_to_p.forward(g, shape=shape)


def expand(x, *shape):
    """Broadcast x to ``shape`` (-1 keeps a dim); the result is a read-only view."""
    shape = _shape_arg(shape, "expand")
    lead = len(shape) - x.ndim
    if lead < 0:
        raise ValueError(f"expand: cannot expand shape {x.shape} to fewer dims {shape}")
    shape = tuple(x.shape[i - lead] if s == -1 and i >= lead else s
                  for i, s in enumerate(shape))
    try:
        if np.broadcast_shapes(x.shape, shape) != shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"expand: shape {x.shape} cannot be expanded to {shape}") from None
    if shape == x.shape:
        return x
    return bind(expand_p, x, shape=shape)


# ---- getitem and its scatter ---------------------------------------------------------------
_BASIC = frozenset([int, slice, type(None), type(Ellipsis)])


def _normalize_index(index):
    """Turn Tensors and lists inside an index into numpy arrays; returns a tuple."""
    if not isinstance(index, tuple):
        index = (index,)
    basic = _BASIC
    for item in index:
        if type(item) not in basic:
            break
    else:
        return index  # ints, slices, None, Ellipsis: nothing to convert
    out = []
    for item in index:
        if isinstance(item, Tensor):
            item = item._array
        elif isinstance(item, list):
            item = np.asarray(item)
        if isinstance(item, np.ndarray):
            if item.dtype.kind in "iu":
                item = item.astype(np.int64, copy=False)
            elif item.dtype != np.bool_:
                raise IndexError(f"getitem: index arrays must be int or bool, got {item.dtype}")
        out.append(item)
    return tuple(out)


def _is_basic(index):
    return all(isinstance(i, (int, np.integer, slice, type(None), type(Ellipsis))) or
               (isinstance(i, np.ndarray) and i.dtype == np.bool_) for i in index)


def scatter_add_into(out, values, index):
    """out[index] += values in place, repeated indices accumulating. out: any shape; values:
    the shape of ``out[index]``."""
    if _is_basic(index):
        out[index] += values  # basic indices and masks never repeat an entry
    elif (len(index) == 1 and index[0].ndim >= 1 and out.ndim >= 1 and out.size
          and out.flags.c_contiguous):  # rows as views of out (a copy would lose the sums)
        idx = index[0].reshape(-1) % out.shape[0]
        rest = out.size // out.shape[0]
        rows_kern.scatter_add_rows(
            np.ascontiguousarray(values, dtype=out.dtype).reshape(idx.shape[0], rest), idx,
            out.reshape(out.shape[0], rest))
    else:
        np.add.at(out, index, values)


def _scatter_forward(g, shape, index):
    out = np.zeros(shape, dtype=g.dtype)
    scatter_add_into(out, g, index)
    return out


scatter_p = Primitive("index_scatter", saves_inputs=())
scatter_p.def_forward(_scatter_forward)
scatter_p.def_backward(lambda ctx, gg: (getitem(gg, ctx.params["index"]),))


@scatter_p.def_symbolic
def _scatter_symbolic(g, shape, index):
    import sympy
    out = np.full(shape, sympy.Integer(0), dtype=object)
    np.add.at(out, index, g)
    return out


def index_scatter(grad, shape, index):
    """A zero tensor of ``shape`` with ``grad`` added at ``index`` (repeats accumulate): the
    backward of ``x[index]``."""
    return bind(scatter_p, grad, shape=tuple(shape), index=index)


def _getitem_forward(x, index):
    try:
        out = x[index]
    except IndexError as err:
        raise IndexError(f"getitem: {err} (tensor of shape {x.shape})") from None
    return np.asarray(out)


getitem_p = Primitive("getitem", saves_inputs=(), view=True)
getitem_p.def_forward(_getitem_forward)


@getitem_p.def_backward
def _getitem_backward(ctx, g):
    shape, index = ctx.inputs[0].shape, ctx.params["index"]
    if not is_grad_enabled():  # first order: let the engine sum all slices' gradients at once
        return (PartialGrad(shape, g._array, index, scatter_add_into),)
    return (index_scatter(g, shape, index),)



@getitem_p.def_backward_arrays
def _getitem_backward_arrays(ctx, g):
    return (PartialGrad(ctx.inputs[0]._array.shape, g, ctx.params["index"], scatter_add_into),)


getitem_p.def_symbolic(lambda x, index: np.asarray(x[index], dtype=object))


def getitem(x, index):
    """x[index] with ints, slices, None, Ellipsis, int arrays and bool masks (numpy rules)."""
    return bind(getitem_p, x, index=_normalize_index(index))


# ---- concat / stack / split ----------------------------------------------------------------
def _concat_forward(*arrays, dim):
    return np.concatenate(arrays, axis=dim)


concat_p = Primitive("concat", saves_inputs=())
concat_p.def_forward(_concat_forward)


@concat_p.def_backward
def _concat_backward(ctx, g):
    dim = ctx.params["dim"]
    grads, start = [], 0
    for t, need in zip(ctx.inputs, ctx.needs_input_grad, strict=True):
        stop = start + t.shape[dim]
        index = (slice(None),) * dim + (slice(start, stop),)
        grads.append(getitem(g, index) if need else None)
        start = stop
    return tuple(grads)


@concat_p.def_backward_arrays
def _concat_backward_arrays(ctx, g):
    dim = ctx.params["dim"]
    grads, start = [], 0
    for t, need in zip(ctx.inputs, ctx.needs_input_grad, strict=True):
        stop = start + t._array.shape[dim]
        grads.append(g[(slice(None),) * dim + (slice(start, stop),)] if need else None)
        start = stop
    return tuple(grads)


concat_p.def_symbolic(lambda *arrays, dim: np.concatenate(arrays, axis=dim))


def concat(tensors, dim=0):
    """Join tensors along an existing dim; all other dims must match."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("concat: expected at least one tensor")
    ref = tensors[0]
    if ref.ndim == 0:
        raise ValueError("concat: zero-dimensional tensors cannot be concatenated")
    (d,) = normalize_dims(dim, ref.ndim, "concat")
    for i, t in enumerate(tensors):
        if t.ndim != ref.ndim or t.shape[:d] + t.shape[d + 1:] != ref.shape[:d] + ref.shape[d + 1:]:
            want = ", ".join("*" if j == d else str(s) for j, s in enumerate(ref.shape))
            raise ValueError(f"concat: tensor {i} has shape {t.shape}, expected ({want}) "
                             f"(any size along dim {d})")
    # One tensor too goes through the primitive: the result is a copy recorded in the graph
    # (an in-place edit of it must not reach the input), as in PyTorch.
    dt = dtypes.result_type(*[t.dtype for t in tensors])
    tensors = [t if t.dtype == dt else t.to(dt) for t in tensors]
    return bind(concat_p, *tensors, dim=d)


cat = concat


def stack(tensors, dim=0):
    """Join same-shape tensors along a new dim."""
    tensors = [as_tensor(t) for t in tensors]
    if not tensors:
        raise ValueError("stack: expected at least one tensor")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise ValueError(f"stack: tensor {i} has shape {t.shape}, expected "
                             f"{tensors[0].shape}")
    return concat([unsqueeze(t, dim) for t in tensors], dim)


def _split_dim(x, dim, who):
    if x.ndim == 0:
        raise ValueError(f"{who}: expected a tensor with at least 1 dim, got a 0-d tensor")
    return normalize_dims(dim, x.ndim, who)[0]


def split(x, split_size_or_sections, dim=0):
    """Split into pieces of ``split_size`` (the last may be smaller) or of the given sizes.

    As in PyTorch: a dim of size 0 gives one empty piece (``split_size`` 0 is allowed there);
    a list of sizes gives exactly those pieces (``[]`` for an empty dim gives none)."""
    d = _split_dim(x, dim, "split")
    n = x.shape[d]
    if isinstance(split_size_or_sections, Tensor) and split_size_or_sections.ndim == 0:
        split_size_or_sections = split_size_or_sections._array[()]
    if isinstance(split_size_or_sections, (bool, np.bool_)):
        raise TypeError(f"split: split_size must be an int or a list of ints, got "
                        f"{split_size_or_sections!r}")
    if isinstance(split_size_or_sections, (int, np.integer)):
        step = int(split_size_or_sections)
        if step < 0 or (step == 0 and n):
            raise ValueError(f"split: split_size must be positive (0 only for a dim of size "
                             f"0), got {step} for dim {d} of size {n}")
        sizes = [min(step, n - s) for s in range(0, n, step)] if n else [0]
    else:
        try:
            sizes = [operator.index(s) for s in split_size_or_sections]
        except TypeError:
            raise TypeError(f"split: split_size must be an int or a list of ints, got "
                            f"{split_size_or_sections!r}") from None
        if sum(sizes) != n or any(s < 0 for s in sizes):
            raise ValueError(f"split: sections {sizes} do not add up to dim {d} of size {n}")
    out, start = [], 0
    for s in sizes:
        out.append(getitem(x, (slice(None),) * d + (slice(start, start + s),)))
        start += s
    return tuple(out)


def chunk(x, chunks, dim=0):
    """Split along ``dim`` into pieces of ceil(n / chunks) (the last may be smaller), so there
    may be fewer than ``chunks`` pieces (n = 5, chunks = 4: 2, 2, 1); a dim of size 0 gives
    ``chunks`` empty pieces. PyTorch's rule."""
    if not isinstance(chunks, (int, np.integer)) or isinstance(chunks, (bool, np.bool_)):
        raise TypeError(f"chunk: chunks must be an int, got {chunks!r}")
    if chunks <= 0:
        raise ValueError(f"chunk: chunks must be positive, got {chunks}")
    d = _split_dim(x, dim, "chunk")
    if x.shape[d] == 0:
        return split(x, [0] * int(chunks), d)
    return split(x, -(-x.shape[d] // int(chunks)), d)
