"""Reductions and normalisations: sum, sum_to, mean, max/min, var/std, logsumexp, softmax,
log_softmax.

Reductions take ``dim`` (int, tuple or None) and ``keepdim``; ``axis``/``keepdims`` are accepted
as aliases.
"""

import builtins
import collections
import functools
import math

import numpy as np

from ..kernels import rows as rows_kern
from ..kernels import softmax as softmax_kern
from ..primitive import Primitive, bind
from ..tensor import Tensor, as_tensor

MinMax = collections.namedtuple("MinMax", ["values", "indices"])


def normalize_dims(dim, ndim, who):
    """``dim`` (None, int or sequence) as a sorted tuple of non-negative axes."""
    if dim is None:
        return tuple(range(ndim))
    try:
        dims = (dim,) if isinstance(dim, (int, np.integer)) else tuple(dim)
    except TypeError:
        raise TypeError(f"{who}: dim must be an int or a tuple of ints, got {dim!r}") from None
    out = []
    for d in dims:
        if not isinstance(d, (int, np.integer)):
            raise TypeError(f"{who}: dim must be an int or a tuple of ints, got {dim!r}")
        if not -builtins.max(ndim, 1) <= d < builtins.max(ndim, 1):
            raise ValueError(f"{who}: dim {d} is out of range for a tensor with {ndim} dims")
        out.append(int(d) % builtins.max(ndim, 1))
    if len(set(out)) != len(out):
        raise ValueError(f"{who}: dim {dim!r} repeats an axis")
    return tuple(sorted(out)) if ndim else ()


def _one_dim(dim, ndim, who):
    """One axis, checked: a 0-d tensor takes dim 0 or -1 (and gives 0), as in PyTorch."""
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, bool):
        raise TypeError(f"{who}: dim must be an int, got {dim!r}")
    dims = normalize_dims(dim, ndim, who)
    return dims[0] if dims else 0


def _aliases(dim, keepdim, aliases, who):
    for key in aliases:
        if key not in ("axis", "keepdims"):
            raise TypeError(f"{who}: unexpected keyword argument {key!r}")
    if "axis" in aliases:
        if dim is not None:
            raise TypeError(f"{who}: give dim or axis, not both")
        dim = aliases["axis"]
    if "keepdims" in aliases:
        keepdim = aliases["keepdims"]
    return dim, bool(keepdim)


def _kept_shape(shape, dims):
    return tuple(1 if i in dims else s for i, s in enumerate(shape))


def _expand_back(g, x_shape, dims, keepdim):
    """Broadcast a reduced gradient back to the input's shape."""
    from .shape import expand, reshape
    if not keepdim:
        g = reshape(g, _kept_shape(x_shape, dims))
    return expand(g, x_shape)


def _expand_back_array(g, x_shape, dims, keepdim):
    """``_expand_back`` on arrays: the same reshape and read-only broadcast view."""
    if not keepdim:
        kept = _kept_shape(x_shape, dims)
        if kept != g.shape:
            g = g.reshape(kept)
    return g if g.shape == x_shape else np.broadcast_to(g, x_shape)


def _reduce_objects(x, dims, keepdim, fn):
    """Reduce an object array over ``dims`` with a binary sympy function (Max, Min)."""
    moved = np.moveaxis(x, dims, tuple(range(x.ndim - len(dims), x.ndim)))
    lead = moved.shape[:x.ndim - len(dims)]
    flat = moved.reshape(lead + (math.prod(moved.shape[len(lead):]),))  # -1 fails at size 0
    out = np.empty(lead, dtype=object)
    for idx in np.ndindex(*lead):
        out[idx] = functools.reduce(fn, flat[idx])
    return out.reshape(_kept_shape(x.shape, dims)) if keepdim else out


# ---- sum / sum_to ----------------------------------------------------------------------------
sum_p = Primitive("sum", saves_inputs=())
sum_p.def_forward(lambda x, dims, keepdim: np.asarray(np.sum(x, axis=dims, keepdims=keepdim)))
sum_p.def_backward(lambda ctx, g: (
    _expand_back(g, ctx.inputs[0].shape, ctx.params["dims"], ctx.params["keepdim"]),))
sum_p.def_symbolic(lambda x, dims, keepdim: np.asarray(np.sum(x, axis=dims, keepdims=keepdim)))


@sum_p.def_backward_arrays
def _sum_backward_arrays(ctx, g):
    return (_expand_back_array(g, ctx.inputs[0]._array.shape, ctx.params["dims"],
                               ctx.params["keepdim"]),)


def sum(x, dim=None, keepdim=False, **aliases):  # noqa: A001 - PyTorch's name
    """Sum over ``dim`` (all axes when None)."""
    dim, keepdim = _aliases(dim, keepdim, aliases, "sum")
    x = as_tensor(x)
    return bind(sum_p, x, dims=normalize_dims(dim, x.ndim, "sum"), keepdim=keepdim)


def _sum_to_axes(in_shape, shape):
    lead = len(in_shape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and in_shape[lead + i] != 1)
    return lead, axes


def _sum_to_forward(x, shape):
    lead, axes = _sum_to_axes(x.shape, shape)
    out = np.add.reduce(x, axis=axes, keepdims=True).reshape(shape)
    return out if type(out) is np.ndarray else np.asarray(out)  # 0-d: a scalar otherwise


sum_to_p = Primitive("sum_to", saves_inputs=())
sum_to_p.def_forward(_sum_to_forward)


@sum_to_p.def_backward
def _sum_to_backward(ctx, g):
    from .shape import expand
    return (expand(g, ctx.inputs[0].shape),)


@sum_to_p.def_backward_arrays
def _sum_to_backward_arrays(ctx, g):
    shape = ctx.inputs[0]._array.shape
    return (g if g.shape == shape else np.broadcast_to(g, shape),)


@sum_to_p.def_symbolic
def _sum_to_symbolic(x, shape):
    lead, axes = _sum_to_axes(x.shape, shape)
    return np.asarray(np.sum(x, axis=axes, keepdims=True)).reshape(shape)


def sum_to(x, shape):
    """Sum ``x`` down to ``shape``, the inverse of broadcasting ``shape`` to ``x.shape``."""
    shape = tuple(shape)
    try:
        if np.broadcast_shapes(shape, x.shape) != x.shape:
            raise ValueError
    except ValueError:
        raise ValueError(f"sum_to: shape {shape} does not broadcast to {x.shape}") from None
    return bind(sum_to_p, x, shape=shape)


def mean(x, dim=None, keepdim=False, **aliases):
    """Mean over ``dim`` (all axes when None)."""
    dim, keepdim = _aliases(dim, keepdim, aliases, "mean")
    x = as_tensor(x)
    dims = normalize_dims(dim, x.ndim, "mean")
    count = math.prod([x.shape[d] for d in dims])
    s = bind(sum_p, x, dims=dims, keepdim=keepdim)
    return s * (1.0 / count) if count else s * float("nan")


# ---- max / min -------------------------------------------------------------------------------
# Gradients as in PyTorch: amax / amin share the gradient equally among tied extremes (a NaN
# result matches no input, so its whole slice gets NaN); max() / min() without dim share it
# among the inputs equal to the result, NaN inputs counting as equal to a NaN result
# (``nan_ties``); max(dim) / min(dim) send it to the returned index only.
def _extreme_backward(ctx, g):
    from .elementwise import mul
    x = ctx.inputs[0]
    dims, keepdim = ctx.params["dims"], ctx.params["keepdim"]
    out = ctx.output()._array
    out_kept = out if keepdim else out.reshape(_kept_shape(x.shape, dims))
    hit = x._array == out_kept
    if ctx.params.get("nan_ties"):
        hit |= np.isnan(x._array) & np.isnan(out_kept)
    hit = hit.astype(g.dtype)
    with np.errstate(invalid="ignore"):
        hit /= np.sum(hit, axis=dims, keepdims=True)
    return (mul(_expand_back(g, x.shape, dims, keepdim), Tensor._wrap(hit)),)


def _extreme_forward(fn, who):
    def forward(x, dims, keepdim, nan_ties=False):
        if x.size == 0 and any(x.shape[d] == 0 for d in dims):
            raise ValueError(f"{who}: cannot reduce an empty dimension of a tensor of shape "
                             f"{x.shape}")
        return np.asarray(fn(x, axis=dims, keepdims=keepdim))
    return forward


def _extreme_symbolic(name):
    def symbolic(x, dims, keepdim, nan_ties=False):
        import sympy
        return _reduce_objects(x, dims, keepdim, getattr(sympy, name))
    return symbolic


amax_p = Primitive("amax")
amax_p.def_forward(_extreme_forward(np.max, "max"))
amax_p.def_backward(_extreme_backward)
amax_p.def_symbolic(_extreme_symbolic("Max"))

amin_p = Primitive("amin")
amin_p.def_forward(_extreme_forward(np.min, "min"))
amin_p.def_backward(_extreme_backward)
amin_p.def_symbolic(_extreme_symbolic("Min"))


def amax(x, dim=None, keepdim=False, **aliases):
    """Maximum over ``dim``; tied maxima share the gradient equally."""
    dim, keepdim = _aliases(dim, keepdim, aliases, "amax")
    x = as_tensor(x)
    return bind(amax_p, x, dims=normalize_dims(dim, x.ndim, "amax"), keepdim=keepdim)


def amin(x, dim=None, keepdim=False, **aliases):
    """Minimum over ``dim``; tied minima share the gradient equally."""
    dim, keepdim = _aliases(dim, keepdim, aliases, "amin")
    x = as_tensor(x)
    return bind(amin_p, x, dims=normalize_dims(dim, x.ndim, "amin"), keepdim=keepdim)


def _kept_index(x_shape, dim, index, keepdim):
    """The full index (one array per axis) of the entries ``index`` picks along ``dim``: an
    open grid on the other axes, shaped like the kept-dim result."""
    idx = index if keepdim else np.expand_dims(index, dim)
    grids = np.ogrid[tuple(slice(n) for n in x_shape[:dim] + (1,) + x_shape[dim + 1:])]
    return tuple(idx if i == dim else grid for i, grid in enumerate(grids))


def _extreme_dim_forward(x, dim, keepdim, index):
    out = x[_kept_index(x.shape, dim, index, keepdim)]
    return out if keepdim else np.squeeze(out, dim)


def _extreme_dim_backward(ctx, g):
    from .shape import index_scatter, reshape
    dim, keepdim, index = ctx.params["dim"], ctx.params["keepdim"], ctx.params["index"]
    shape = ctx.inputs[0].shape
    if not keepdim:
        g = reshape(g, shape[:dim] + (1,) + shape[dim + 1:])
    return (index_scatter(g, shape, _kept_index(shape, dim, index, keepdim)),)


def _extreme_dim_symbolic(name):
    def symbolic(x, dim, keepdim, index):
        import sympy
        return _reduce_objects(x, (dim,), keepdim, getattr(sympy, name))
    return symbolic


# max(dim) / min(dim): the values at ``index`` (the arg-extreme, computed once by the caller
# and returned as the indices); the gradient goes to that index only. The backward reads no
# values of x (saves_inputs=()): editing x in place afterwards does not matter.
max_dim_p = Primitive("max_dim", saves_inputs=())
max_dim_p.def_forward(_extreme_dim_forward)
max_dim_p.def_backward(_extreme_dim_backward)
max_dim_p.def_symbolic(_extreme_dim_symbolic("Max"))

min_dim_p = Primitive("min_dim", saves_inputs=())
min_dim_p.def_forward(_extreme_dim_forward)
min_dim_p.def_backward(_extreme_dim_backward)
min_dim_p.def_symbolic(_extreme_dim_symbolic("Min"))


def _minmax(x, dim, keepdim, aliases, who, prims, arg):
    dim, keepdim = _aliases(dim, keepdim, aliases, who)
    if dim is None:
        return bind(prims[0], x, dims=tuple(range(x.ndim)), keepdim=False, nan_ties=True)
    if not isinstance(dim, (int, np.integer)) or isinstance(dim, (bool, np.bool_)):
        raise TypeError(f"{who}: with dim, expected one int (use amax/amin for several), "
                        f"got {dim!r}")
    if x.ndim == 0:
        normalize_dims(dim, 0, who)  # 0 or -1
        values = bind(prims[1], x.reshape(1), dim=0, keepdim=False,
                      index=np.zeros((), dtype=np.int64))
        return MinMax(values, Tensor._wrap(np.zeros((), dtype=np.int64)))
    (d,) = normalize_dims(dim, x.ndim, who)
    if x.shape[d] == 0:
        raise ValueError(f"{who}: cannot reduce an empty dimension of a tensor of shape "
                         f"{x.shape}")
    index = np.asarray(arg(x._array, axis=d), dtype=np.int64)  # the first NaN, else first extreme
    if keepdim:
        index = np.expand_dims(index, d)
    values = bind(prims[1], x, dim=d, keepdim=keepdim, index=index)
    return MinMax(values, Tensor._wrap(index))


def max(x, dim=None, keepdim=False, **aliases):  # noqa: A001 - PyTorch's name
    """Without ``dim``: the maximum (a 0-d tensor), tied maxima sharing the gradient. With
    ``dim``: ``(values, indices)`` as in PyTorch, the gradient going to the index."""
    return _minmax(as_tensor(x), dim, keepdim, aliases, "max", (amax_p, max_dim_p), np.argmax)


def min(x, dim=None, keepdim=False, **aliases):  # noqa: A001 - PyTorch's name
    """Without ``dim``: the minimum. With ``dim``: ``(values, indices)`` (see ``max``)."""
    return _minmax(as_tensor(x), dim, keepdim, aliases, "min", (amin_p, min_dim_p), np.argmin)


# ---- var / std -------------------------------------------------------------------------------
# PyTorch's definitions: var = sum((x - mean)^2) / max(0, N - correction), so N <= correction
# gives inf (NaN when all N values are equal, and for N = 0). The gradient is
# 2 / (N - correction) * g * (x - mean) (with 2 / 0 = inf; N < correction, possible only with a
# dim, gives a finite gradient of the opposite sign, as in PyTorch); over all dims (dim=None)
# with N <= correction PyTorch gives g * inf where x differs from the mean and NaN where it
# equals it. std's gradient is var's of g / (2 std), with 0 where std = 0.
def _var_count(shape, dims):
    return math.prod([shape[d] for d in dims])


def _var_forward(x, dims, keepdim, correction, all_dims):
    count = _var_count(x.shape, dims)
    with np.errstate(divide="ignore", invalid="ignore"):
        centered = x - np.sum(x, axis=dims, keepdims=True) / x.dtype.type(count)
        total = np.sum(centered * centered, axis=dims, keepdims=keepdim)
        return np.asarray(total / x.dtype.type(builtins.max(0, count - correction)))


def _var_grad(x, g, dims, keepdim, correction, all_dims):
    """The gradient of var(x) for the cotangent g, in Tensor ops."""
    from .elementwise import mul, sub
    count = _var_count(x.shape, dims)
    dof = count - correction
    g = _expand_back(g, x.shape, dims, keepdim)
    if all_dims and dof <= 0:
        with np.errstate(invalid="ignore"):
            differs = x._array != np.sum(x._array) / x._array.dtype.type(count)
        spread = np.where(differs, np.inf, np.nan).astype(x.dtype)
        return mul(g, Tensor._wrap(spread))
    scale = 2.0 / dof if dof != 0 else math.inf
    return mul(mul(g, scale), sub(x, mean(x, dims, keepdim=True)))


var_p = Primitive("var")
var_p.def_forward(_var_forward)
var_p.def_backward(lambda ctx, g: (_var_grad(ctx.inputs[0], g, **ctx.params),))


@var_p.def_symbolic
def _var_symbolic(x, dims, keepdim, correction, all_dims):
    import sympy
    count = _var_count(x.shape, dims)
    shape = np.sum(np.zeros(x.shape), axis=dims, keepdims=keepdim).shape
    if count == 0:
        return np.full(shape, sympy.nan, dtype=object)
    centered = x - np.sum(x, axis=dims, keepdims=True) * sympy.Rational(1, count)
    total = np.asarray(np.sum(centered * centered, axis=dims, keepdims=keepdim), dtype=object)
    dof = count - sympy.Rational(correction)
    return total / dof if dof > 0 else total * sympy.zoo


std_p = Primitive("std")
std_p.def_forward(lambda x, **params: np.asarray(np.sqrt(_var_forward(x, **params))))


@std_p.def_backward
def _std_backward(ctx, g):
    from .elementwise import div, mul, where
    out = ctx.output()
    zero = out._array == 0
    safe = out + Tensor._wrap(zero.astype(out.dtype))  # 1 where std = 0: no inf to mask
    g_var = where(Tensor._wrap(zero), 0.0, div(g, mul(safe, 2.0)))
    return (_var_grad(ctx.inputs[0], g_var, **ctx.params),)


@std_p.def_symbolic
def _std_symbolic(x, **params):
    import sympy

    from .sym import sym_map
    return sym_map(sympy.sqrt, np.asarray(_var_symbolic(x, **params), dtype=object))


def _var_args(who, x, dim, keepdim, correction, unbiased, aliases):
    dim, keepdim = _aliases(dim, keepdim, aliases, who)
    if unbiased is not None:
        correction = 1 if unbiased else 0
    if correction is None:
        correction = 1
    if isinstance(correction, bool) or not isinstance(correction, (int, float, np.number)):
        raise TypeError(f"{who}: correction must be a number, got {correction!r}")
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{who}: expected a float tensor, got dtype {x.dtype}")
    dims = normalize_dims(dim, x.ndim, who)
    return x, dict(dims=dims, keepdim=keepdim, correction=correction,
                   all_dims=dim is None or x.ndim == 0)


def var(x, dim=None, keepdim=False, correction=1, unbiased=None, **aliases):
    """Variance over ``dim`` with ``correction`` (1: unbiased, 0: population):
    sum((x - mean)^2) / max(0, N - correction), so N <= correction gives inf (NaN if all values
    are equal, or N = 0), and gradients as in PyTorch."""
    x, params = _var_args("var", x, dim, keepdim, correction, unbiased, aliases)
    return bind(var_p, x, **params)


def std(x, dim=None, keepdim=False, correction=1, unbiased=None, **aliases):
    """Standard deviation over ``dim``: sqrt(var) (see ``var``); the gradient where std = 0 is
    0, as in PyTorch."""
    x, params = _var_args("std", x, dim, keepdim, correction, unbiased, aliases)
    return bind(std_p, x, **params)


# ---- logsumexp / softmax / log_softmax -----------------------------------------------------
def _last_axis_rows(x, dim):
    """x as a C-contiguous (R, C) array when the row kernels apply (float32/float64, ``dim`` the
    last axis, not empty), else None."""
    if dim != x.ndim - 1 or x.size == 0 or x.dtype.char not in "fd":
        return None
    return np.ascontiguousarray(x).reshape(-1, x.shape[-1])


def _logsumexp_forward(x, dims, keepdim):
    rows = _last_axis_rows(x, dims[0]) if len(dims) == 1 else None
    if rows is not None:
        out = np.empty(rows.shape[0], dtype=x.dtype)
        softmax_kern.logsumexp_rows(rows, out)
        return out.reshape(x.shape[:-1] + ((1,) if keepdim else ()))
    if x.size == 0:
        with np.errstate(divide="ignore"):
            return np.asarray(np.log(np.sum(np.exp(x), axis=dims, keepdims=keepdim)))
    m = np.max(x, axis=dims, keepdims=True)
    m = np.where(np.isfinite(m), m, np.zeros((), dtype=x.dtype))
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(x - m), axis=dims, keepdims=True)) + m
    return np.asarray(out if keepdim else np.squeeze(out, axis=dims))


logsumexp_p = Primitive("logsumexp")
logsumexp_p.def_forward(_logsumexp_forward)


@logsumexp_p.def_backward
def _logsumexp_backward(ctx, g):
    from .elementwise import exp, mul, sub
    x = ctx.inputs[0]
    dims, keepdim = ctx.params["dims"], ctx.params["keepdim"]
    out = _expand_back(ctx.output(), x.shape, dims, keepdim)
    return (mul(_expand_back(g, x.shape, dims, keepdim), exp(sub(x, out))),)


@logsumexp_p.def_symbolic
def _logsumexp_symbolic(x, dims, keepdim):
    import sympy

    from .sym import sym_map
    if x.size == 0:  # an empty sum is 0, and log 0 is -oo (sympy would say zoo)
        shape = np.sum(np.zeros(x.shape), axis=dims, keepdims=keepdim).shape
        return np.full(shape, -sympy.oo if any(x.shape[d] == 0 for d in dims) else 0,
                       dtype=object)
    return sym_map(sympy.log, np.asarray(np.sum(sym_map(sympy.exp, x), axis=dims,
                                                keepdims=keepdim)))


def logsumexp(x, dim=None, keepdim=False, **aliases):
    """log(sum(exp(x))) over ``dim`` (all axes when None), without overflow."""
    dim, keepdim = _aliases(dim, keepdim, aliases, "logsumexp")
    x = as_tensor(x)
    return bind(logsumexp_p, x, dims=normalize_dims(dim, x.ndim, "logsumexp"), keepdim=keepdim)


def _softmax_forward(x, dim):
    rows = _last_axis_rows(x, dim)
    if rows is not None:
        out = np.empty(x.shape, dtype=x.dtype)
        softmax_kern.softmax_rows(rows, out.reshape(rows.shape))
        return out
    m = np.max(x, axis=dim, keepdims=True) if x.size else 0
    e = np.exp(x - m)
    e /= np.sum(e, axis=dim, keepdims=True)
    return e


softmax_backward_p = Primitive("softmax_backward")


@softmax_backward_p.def_forward
def _softmax_backward_forward(g, y, dim):
    dt = np.result_type(g, y)
    g2 = np.ascontiguousarray(np.moveaxis(g, dim, -1), dtype=dt)
    y2 = np.ascontiguousarray(np.moveaxis(y, dim, -1), dtype=dt)
    out = np.empty(y2.shape, dtype=dt)
    c = y2.shape[-1]
    r = y2.size // c if c else 0
    rows_kern.softmax_backward(g2.reshape(r, c), y2.reshape(r, c), out.reshape(r, c))
    return np.moveaxis(out, -1, dim)


@softmax_backward_p.def_backward
def _softmax_backward_backward(ctx, gg):
    from .elementwise import mul, sub
    g, y = ctx.inputs
    dim = ctx.params["dim"]
    gg_g = gg_y = None
    if ctx.needs_input_grad[0]:
        gg_g = softmax_backward(gg, y, dim)
    if ctx.needs_input_grad[1]:
        s = sum(mul(g, y), dim, keepdim=True)
        gg_y = sub(mul(gg, sub(g, s)), mul(g, sum(mul(gg, y), dim, keepdim=True)))
    return gg_g, gg_y


@softmax_backward_p.def_symbolic
def _softmax_backward_symbolic(g, y, dim):
    return y * (g - np.sum(g * y, axis=dim, keepdims=True))


def softmax_backward(grad_out, y, dim):
    """y * (grad_out - sum(grad_out * y, dim)): the backward of softmax given its output y.
    grad_out, y: the same shape, at least 1-D; dim: a non-negative axis."""
    if grad_out.shape != y.shape or not 0 <= dim < y.ndim:
        raise ValueError(f"softmax_backward: grad_out {grad_out.shape} and y {y.shape} must "
                         f"have the same shape with dim {dim} among its axes")
    return bind(softmax_backward_p, grad_out, y, dim=dim)


softmax_p = Primitive("softmax")
softmax_p.def_forward(_softmax_forward)
softmax_p.def_backward(lambda ctx, g: (softmax_backward(g, ctx.output(), ctx.params["dim"]),))
softmax_p.def_backward_arrays(lambda ctx, g: (softmax_backward_p.forward(
    g, ctx.output()._array, dim=ctx.params["dim"]),))


@softmax_p.def_symbolic
def _softmax_symbolic(x, dim):
    import sympy

    from .sym import sym_map
    e = sym_map(sympy.exp, x)
    return e / np.sum(e, axis=dim, keepdims=True)


def softmax(x, dim=-1):
    """exp(x) / sum(exp(x)) along ``dim``, computed stably."""
    x = as_tensor(x)
    d = _one_dim(dim, x.ndim, "softmax")
    if x.ndim == 0:
        return bind(softmax_p, x.reshape(1), dim=0).reshape(())
    return bind(softmax_p, x, dim=d)


def _log_softmax_forward(x, dim):
    """Returns (log_softmax(x), residual): for the row kernel, which rows had a finite maximum
    ((R,) bool: their outputs are <= 0, and the backward's exponential is then cheaper)."""
    rows = _last_axis_rows(x, dim)
    if rows is not None:
        out = np.empty(x.shape, dtype=x.dtype)
        finite = np.empty(rows.shape[0], dtype=np.bool_)
        softmax_kern.log_softmax_rows(rows, out.reshape(rows.shape), finite)
        return out, finite
    return x - _logsumexp_forward(x, (dim,), True), None


log_softmax_backward_p = Primitive("log_softmax_backward")


@log_softmax_backward_p.def_forward
def _log_softmax_backward_forward(g, y, dim, finite=None):
    """finite: the forward's residual (rows whose maximum was finite), when known."""
    if g.dtype == y.dtype and _last_axis_rows(y, dim) is not None:
        out = np.empty(y.shape, dtype=y.dtype)
        rows = out.reshape(-1, y.shape[-1])
        if finite is None or finite.shape != (rows.shape[0],):
            finite = np.zeros(rows.shape[0], dtype=np.bool_)
        softmax_kern.log_softmax_backward_rows(
            np.ascontiguousarray(g).reshape(rows.shape),
            np.ascontiguousarray(y).reshape(rows.shape), finite, rows)
        return out
    return g - np.exp(y) * np.sum(g, axis=dim, keepdims=True)


@log_softmax_backward_p.def_backward
def _log_softmax_backward_backward(ctx, gg):
    from .elementwise import exp, mul, neg, sub
    g, y = ctx.inputs
    dim = ctx.params["dim"]
    p = exp(y)
    gg_g = gg_y = None
    if ctx.needs_input_grad[0]:
        gg_g = sub(gg, sum(mul(gg, p), dim, keepdim=True))
    if ctx.needs_input_grad[1]:
        gg_y = neg(mul(mul(gg, p), sum(g, dim, keepdim=True)))
    return gg_g, gg_y


@log_softmax_backward_p.def_symbolic
def _log_softmax_backward_symbolic(g, y, dim, finite=None):
    import sympy

    from .sym import sym_map
    return g - sym_map(sympy.exp, y) * np.sum(g, axis=dim, keepdims=True)


def log_softmax_backward(grad_out, y, dim, finite=None):
    """grad_out - exp(y) * sum(grad_out, dim): the backward of log_softmax given its output y.
    grad_out, y: the same shape, at least 1-D; dim: a non-negative axis; finite: the
    forward's residual ((R,) bool per row of the last axis), when known."""
    if grad_out.shape != y.shape or not 0 <= dim < y.ndim:
        raise ValueError(f"log_softmax_backward: grad_out {grad_out.shape} and y {y.shape} "
                         f"must have the same shape with dim {dim} among its axes")
    if finite is None:
        return bind(log_softmax_backward_p, grad_out, y, dim=dim)
    return bind(log_softmax_backward_p, grad_out, y, dim=dim, finite=finite)


log_softmax_p = Primitive("log_softmax", has_residuals=True)
log_softmax_p.def_forward(_log_softmax_forward)
log_softmax_p.def_backward(lambda ctx, g: (
    log_softmax_backward(g, ctx.output(), ctx.params["dim"], ctx.saved),))


@log_softmax_p.def_backward_arrays
def _log_softmax_backward_arrays(ctx, g):
    y, dim, finite = ctx.output()._array, ctx.params["dim"], ctx.saved
    if finite is None:
        return (log_softmax_backward_p.forward(g, y, dim=dim),)
    return (log_softmax_backward_p.forward(g, y, dim=dim, finite=finite),)


@log_softmax_p.def_symbolic
def _log_softmax_symbolic(x, dim):
    import sympy

    from .sym import sym_map
    lse = sym_map(sympy.log, np.sum(sym_map(sympy.exp, x), axis=dim, keepdims=True))
    return x - lse


def log_softmax(x, dim=-1):
    """x - logsumexp(x, dim): log-probabilities along ``dim``, computed stably."""
    x = as_tensor(x)
    d = _one_dim(dim, x.ndim, "log_softmax")
    if x.ndim == 0:
        return bind(log_softmax_p, x.reshape(1), dim=0).reshape(())
    return bind(log_softmax_p, x, dim=d)
