"""Every core primitive (``mg.REGISTRY`` entries declared in ``minigrad.*``) is checked here:
its forward against a numpy reference, gradcheck and gradgradcheck in float64, and its symbolic
rule against its forward, over hypothesis-drawn shapes (broadcasting, size-0 and size-1 dims).

``CASES`` maps a primitive's name to ``case(draw) -> Case``;
``test_every_core_primitive_has_a_case`` fails when a primitive has no case, so a new op cannot
skip these checks.

Inputs are drawn away from the points where an op is not differentiable (0 for abs/relu, the
bounds of clamp, ties of max/min), where central differences would disagree with any rule.
"""

import collections

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import minigrad as mg
from minigrad.nn import functional as F  # noqa: N812 - PyTorch's name
from minigrad.nn import losses
from minigrad.ops import elementwise as ew
from minigrad.ops import reduce as red
from minigrad.ops import shape as sh
from minigrad.ops.gather import scatter_add_p
from minigrad.ops.index import embedding_backward_p
from minigrad.ops.setitem import index_put

# fn(*inputs) -> Tensor; ref(*arrays of inputs) -> ndarray; check: extra gradcheck kwargs.
Case = collections.namedtuple("Case", ["fn", "inputs", "ref", "check"], defaults=[{}])


# ---- drawing helpers ---------------------------------------------------------------------------
def _rng(draw):
    return np.random.default_rng(draw(st.integers(0, 2**32 - 1), label="seed"))


# Shapes: mostly 1-3 dims of sides 1-3 (size-1 dims broadcast), sometimes 0-d or empty.
# Hypothesis tries the first entry of sampled_from first, so the typical choice comes first.
_SIDE = st.sampled_from([2, 3, 1, 2, 3, 1, 0])


def _shape(draw, min_dims=0, max_dims=3):
    ndims = [d for d in (2, 3, 1, 0) if min_dims <= d <= max_dims]
    ndim = draw(st.sampled_from(ndims), label="ndim")
    return tuple(draw(_SIDE, label="side") for _ in range(ndim))


def _pair_shapes(draw, n=2):
    """``n`` shapes that broadcast together: suffixes of one shape, some sides squashed to 1."""
    full = _shape(draw)
    shapes = []
    for _ in range(n):
        k = draw(st.sampled_from(range(len(full), -1, -1)), label="trailing dims kept")
        shapes.append(tuple(1 if draw(st.booleans(), label="squash") else s
                            for s in full[len(full) - k:]))
    return shapes


def _leaf(array):
    return mg.tensor(np.asarray(array, dtype=np.float64), dtype=mg.float64, requires_grad=True)


def _normal(rng, shape, scale=1.0):
    return _leaf(rng.standard_normal(shape) * scale)


def _uniform(rng, shape, low, high):
    return _leaf(rng.uniform(low, high, size=shape))


def _away_from_zero(rng, shape, low=0.2, high=2.0):
    """Values with |v| in [low, high] and random signs."""
    return _leaf(rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, high, size=shape))


def _dims(draw, ndim):
    """A dim argument: None or a tuple of distinct axes (possibly negative)."""
    if draw(st.booleans(), label="all dims"):
        return None
    axes = draw(st.lists(st.integers(0, max(ndim - 1, 0)), unique=True, max_size=ndim),
                label="dims") if ndim else []
    return tuple(a - ndim if draw(st.booleans()) else a for a in axes)


def _axes(dims, ndim):
    return tuple(range(ndim)) if dims is None else tuple(d % ndim for d in dims)


# ---- binary elementwise --------------------------------------------------------------------------
def _binary_case(fn, ref, make_b=None):
    def case(draw):
        rng = _rng(draw)
        sa, sb = _pair_shapes(draw)
        a = _normal(rng, sa)
        b = make_b(rng, sb) if make_b else _normal(rng, sb)
        return Case(fn, (a, b), ref)
    return case


def case_pow(draw):
    rng = _rng(draw)
    sa, sb = _pair_shapes(draw)
    return Case(mg.pow, (_uniform(rng, sa, 0.5, 2.0), _uniform(rng, sb, -2.0, 2.0)), np.power)


def case_pow_scalar(draw):
    rng = _rng(draw)
    p = draw(st.sampled_from([0, 1, 2, 3, -1, 0.5, 2.5, -1.5]), label="exponent")
    shape = _shape(draw)
    x = _away_from_zero(rng, shape, 0.5) if float(p).is_integer() else _uniform(rng, shape,
                                                                                 0.5, 2.0)
    return Case(lambda t: t ** p, (x,), lambda a: np.power(a, p))


def _select_case(fn, ref):
    """maximum/minimum: a - b is always a half-integer, so no ties."""
    def case(draw):
        rng = _rng(draw)
        sa, sb = _pair_shapes(draw)
        a = _leaf(rng.integers(-3, 3, size=sa) + 0.25)
        b = _leaf(rng.integers(-3, 3, size=sb) - 0.25)
        return Case(fn, (a, b), ref)
    return case


def case_where(draw):
    rng = _rng(draw)
    sc, sa, sb = _pair_shapes(draw, 3)
    cond = mg.tensor(rng.random(sc) > 0.5)
    return Case(lambda a, b: mg.where(cond, a, b), (_normal(rng, sa), _normal(rng, sb)),
                lambda a, b: np.where(cond.numpy(), a, b))


# ---- unary elementwise ---------------------------------------------------------------------------
def _unary_case(fn, ref, make=None):
    def case(draw):
        rng = _rng(draw)
        shape = _shape(draw)
        x = make(rng, shape) if make else _normal(rng, shape)
        return Case(fn, (x,), ref)
    return case


def _sigmoid_ref(x):
    return 1.0 / (1.0 + np.exp(-x))


def case_leaky_relu(draw):
    rng = _rng(draw)
    slope = draw(st.sampled_from([0.01, 0.2, -0.5]), label="slope")
    return Case(lambda t: mg.leaky_relu(t, slope), (_away_from_zero(rng, _shape(draw)),),
                lambda a: np.where(a > 0, a, slope * a))


def case_softplus(draw):
    rng = _rng(draw)
    beta = draw(st.sampled_from([1.0, 0.5, 3.0]), label="beta")
    return Case(lambda t: mg.softplus(t, beta), (_normal(rng, _shape(draw), 3.0),),
                lambda a: np.logaddexp(0.0, beta * a) / beta)


def case_clamp(draw):
    rng = _rng(draw)
    lo, hi = draw(st.sampled_from([(-0.5, 0.5), (None, 0.3), (-0.3, None), (0.2, 0.2)]),
                  label="bounds")
    x = rng.uniform(-2, 2, size=_shape(draw))
    for bound in (lo, hi):
        if bound is not None:
            near = np.abs(x - bound) < 0.05
            x[near] = bound + 0.1
    if lo is not None and hi is not None:  # the nudge may land near the other bound
        x[np.abs(x - lo) < 0.05] = lo - 0.1
    return Case(lambda t: mg.clamp(t, lo, hi), (_leaf(x),),
                lambda a: np.clip(a, -np.inf if lo is None else lo,
                                  np.inf if hi is None else hi))


def case_cast(draw):
    # Multiples of 1/8 and eps = 2**-10 are exact in float32, so central differences are exact.
    rng = _rng(draw)
    x = _leaf(rng.integers(-16, 16, size=_shape(draw)) / 8.0)
    return Case(lambda t: ew.cast(t, mg.float32), (x,), lambda a: a.astype(np.float32),
                {"eps": 2.0**-10})


def _vjp_case(fn, ref, make_y):
    def case(draw):
        rng = _rng(draw)
        shape = _shape(draw)
        return Case(fn, (_normal(rng, shape), make_y(rng, shape)), ref)
    return case


def case_leaky_relu_backward(draw):
    rng = _rng(draw)
    shape = _shape(draw)
    slope = draw(st.sampled_from([0.0, 0.01, 0.3]), label="slope")
    x = _away_from_zero(rng, shape).detach()
    return Case(lambda g: ew.leaky_relu_backward(g, x, slope), (_normal(rng, shape),),
                lambda g: np.where(x.numpy() > 0, g, slope * g))


# ---- reductions ----------------------------------------------------------------------------------
def case_sum(draw):
    rng = _rng(draw)
    x = _normal(rng, _shape(draw))
    dims, keep = _dims(draw, x.ndim), draw(st.booleans(), label="keepdim")
    return Case(lambda t: mg.sum(t, dims, keep), (x,),
                lambda a: np.sum(a, axis=_axes(dims, a.ndim), keepdims=keep))


def case_sum_to(draw):
    rng = _rng(draw)
    big = _shape(draw)
    drop = draw(st.integers(0, len(big)), label="leading dims dropped")
    small = tuple(1 if draw(st.booleans(), label="squash") else s for s in big[drop:])
    x = _normal(rng, big)

    def ref(a):
        lead = len(big) - len(small)
        axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(small)
                                          if s == 1 and big[lead + i] != 1)
        return np.sum(a, axis=axes, keepdims=True).reshape(small)
    return Case(lambda t: red.sum_to(t, small), (x,), ref)


def _extreme_case(fn, ref):
    def case(draw):
        rng = _rng(draw)
        shape = list(_shape(draw))
        dims = _dims(draw, len(shape))
        for d in _axes(dims, len(shape)):  # a reduced dim must not be empty
            shape[d] = max(shape[d], 1)
        size = int(np.prod(shape))
        x = _leaf((rng.permutation(size) * 0.5 - size * 0.25).reshape(shape))  # no ties
        keep = draw(st.booleans(), label="keepdim")
        return Case(lambda t: fn(t, dims, keep), (x,),
                    lambda a: ref(a, axis=_axes(dims, a.ndim), keepdims=keep))
    return case


def _var_case(fn, ref):
    """var / std over drawn dims with a correction below the reduced count (finite values;
    std of one value is 0 with gradient 0, which central differences agree with)."""
    def case(draw):
        rng = _rng(draw)
        x = _normal(rng, _shape(draw))
        dims, keep = _dims(draw, x.ndim), draw(st.booleans(), label="keepdim")
        count = int(np.prod([x.shape[d] for d in _axes(dims, x.ndim)]))
        correction = draw(st.sampled_from([1, 0, 0.5, 2]), label="correction")
        if count <= correction:
            correction = 0
        assume(count > 0)
        return Case(lambda t: fn(t, dims, keep, correction=correction), (x,),
                    lambda a: np.asarray(ref(a, axis=_axes(dims, a.ndim), ddof=correction,
                                             keepdims=keep)))
    return case


def _extreme_dim_case(fn, ref):
    """max(dim) / min(dim) values, without ties (the gradient goes to the returned index)."""
    def case(draw):
        rng = _rng(draw)
        shape = list(_shape(draw, min_dims=1))
        dim = draw(st.integers(-len(shape), len(shape) - 1), label="dim")
        shape[dim] = max(shape[dim], 1)
        size = int(np.prod(shape))
        x = _leaf((rng.permutation(size) * 0.5 - size * 0.25).reshape(shape))
        keep = draw(st.booleans(), label="keepdim")
        return Case(lambda t: fn(t, dim, keep).values, (x,),
                    lambda a: np.asarray(ref(a, axis=dim, keepdims=keep)))
    return case


def case_logsumexp(draw):
    rng = _rng(draw)
    x = _normal(rng, _shape(draw), 3.0)
    dims, keep = _dims(draw, x.ndim), draw(st.booleans(), label="keepdim")

    def ref(a):
        with np.errstate(divide="ignore"):
            return np.log(np.sum(np.exp(a), axis=_axes(dims, a.ndim), keepdims=keep))
    return Case(lambda t: mg.logsumexp(t, dims, keep), (x,), ref)


def _softmax_ref(a, dim):
    e = np.exp(a - np.max(a, axis=dim, keepdims=True)) if a.size else a
    return e / np.sum(e, axis=dim, keepdims=True)


def case_softmax(draw):
    rng = _rng(draw)
    x = _normal(rng, _shape(draw, min_dims=1), 2.0)
    dim = draw(st.integers(-x.ndim, x.ndim - 1), label="dim")
    return Case(lambda t: mg.softmax(t, dim), (x,), lambda a: _softmax_ref(a, dim))


def case_log_softmax(draw):
    rng = _rng(draw)
    x = _normal(rng, _shape(draw, min_dims=1), 2.0)
    dim = draw(st.integers(-x.ndim, x.ndim - 1), label="dim")
    return Case(lambda t: mg.log_softmax(t, dim), (x,),
                lambda a: np.log(_softmax_ref(a, dim)) if a.size else a)


def case_softmax_backward(draw):
    rng = _rng(draw)
    shape = _shape(draw, min_dims=1)
    dim = draw(st.integers(0, len(shape) - 1), label="dim")
    g, y = _normal(rng, shape), _uniform(rng, shape, 0.0, 1.0)
    return Case(lambda a, b: red.softmax_backward(a, b, dim), (g, y),
                lambda a, b: b * (a - np.sum(a * b, axis=dim, keepdims=True)))


def case_log_softmax_backward(draw):
    rng = _rng(draw)
    shape = _shape(draw, min_dims=1)
    dim = draw(st.integers(0, len(shape) - 1), label="dim")
    g, y = _normal(rng, shape), _uniform(rng, shape, -3.0, 0.0)
    return Case(lambda a, b: red.log_softmax_backward(a, b, dim), (g, y),
                lambda a, b: a - np.exp(b) * np.sum(a, axis=dim, keepdims=True))


# ---- shape ---------------------------------------------------------------------------------------
def case_reshape(draw):
    rng = _rng(draw)
    x = _normal(rng, _shape(draw))
    size = x.numpy().size
    options = [x.shape + (1,), (1,) + x.shape, (size,), tuple(reversed(x.shape)),
               (-1,) + x.shape[1:] if x.ndim and 0 not in x.shape[1:] else (size, 1)]
    target = draw(st.sampled_from(options), label="target")
    if np.empty(x.shape).reshape(target).shape == x.shape:
        target = x.shape + (1,)
    return Case(lambda t: t.reshape(target), (x,), lambda a: a.reshape(target))


def case_permute(draw):
    rng = _rng(draw)
    x = _normal(rng, _shape(draw, min_dims=2))
    dims = draw(st.permutations(range(x.ndim)).filter(lambda p: p != list(range(x.ndim))),
                label="dims")
    return Case(lambda t: t.permute(*dims), (x,), lambda a: np.transpose(a, dims))


def case_expand(draw):
    rng = _rng(draw)
    x = _normal(rng, _shape(draw, max_dims=2))
    lead = tuple(draw(st.lists(st.integers(0, 3), min_size=1, max_size=2), label="lead"))
    sides = tuple(draw(st.integers(0, 3), label="side") if s == 1 else s for s in x.shape)
    target = lead + sides
    return Case(lambda t: t.expand(*target), (x,), lambda a: np.broadcast_to(a, target))


def _draw_index(draw, rng, shape):
    """An index for an array of ``shape`` (ndim >= 1): basic, int array, bool mask or mixed."""
    kind = draw(st.sampled_from(["basic", "int_array", "mask", "mixed"]), label="index kind")
    if kind == "int_array" and shape[0] > 0:
        k = draw(st.integers(0, 4), label="picks")
        idx = rng.integers(-shape[0], shape[0], size=(k,) if k != 4 else (2, 2))
        return idx if draw(st.booleans(), label="bare") else (idx, Ellipsis)
    if kind == "mask":
        if draw(st.booleans(), label="full mask"):
            return rng.random(shape) > 0.5
        return (rng.random(shape[:1]) > 0.5,)
    if kind == "mixed" and len(shape) >= 2 and shape[1] > 0:
        return (slice(None, None, -1), rng.integers(0, shape[1], size=3), None)
    index = []
    for side in shape:
        choice = draw(st.sampled_from(["int", "slice", "step", "none"]), label="item")
        if choice == "int" and side > 0:
            index.append(int(rng.integers(-side, side)))
        elif choice == "step":
            index.append(slice(None, None, draw(st.sampled_from([2, -1, -2]), label="step")))
        elif choice == "none":
            index.extend([None, slice(1, None)])
        else:
            index.append(slice(0, draw(st.integers(0, 3), label="stop")))
    return tuple(index)


def case_getitem(draw):
    rng = _rng(draw)
    x = _normal(rng, _shape(draw, min_dims=1))
    index = _draw_index(draw, rng, x.shape)
    return Case(lambda t: t[index], (x,), lambda a: a[index])


def case_index_scatter(draw):
    rng = _rng(draw)
    shape = _shape(draw, min_dims=1)
    index = _draw_index(draw, rng, shape)
    norm = sh._normalize_index(index)
    g = _normal(rng, np.zeros(shape)[norm].shape)

    def ref(a):
        out = np.zeros(shape)
        np.add.at(out, norm, a)
        return out
    return Case(lambda t: sh.index_scatter(t, shape, norm), (g,), ref)


def case_index_put(draw):
    rng = _rng(draw)
    shape = _shape(draw, min_dims=1)
    index = _draw_index(draw, rng, shape)
    norm = sh._normalize_index(index)
    hits = np.zeros(shape)
    np.add.at(hits, norm, 1.0)
    assume(hits.max(initial=0.0) <= 1.0)  # a repeated entry keeps one write: not smooth in value
    target = hits[norm].shape
    value_shape = target[draw(st.integers(0, len(target)), label="value dims dropped"):]
    value = _normal(rng, value_shape)
    x = _normal(rng, shape)

    def ref(a, v):
        out = a.copy()
        out[norm] = v
        return out
    return Case(lambda t, v: index_put(t, norm, v), (x, value), ref)


def case_concat(draw):
    rng = _rng(draw)
    base = _shape(draw, min_dims=1)
    dim = draw(st.integers(-len(base), len(base) - 1), label="dim")
    sizes = draw(st.lists(st.integers(0, 3), min_size=2, max_size=3), label="sizes")
    parts = []
    for s in sizes:
        shape = list(base)
        shape[dim] = s
        parts.append(_normal(rng, tuple(shape)))
    return Case(lambda *ts: mg.concat(ts, dim), tuple(parts),
                lambda *arrays: np.concatenate(arrays, axis=dim))


def case_matmul(draw):
    rng = _rng(draw)
    ba, bb = _pair_shapes(draw)
    ba, bb = ba[:2], bb[-2:] if len(bb) >= 2 else bb
    n, k, m = (draw(_SIDE, label="nkm") for _ in range(3))
    sa = (k,) if draw(st.sampled_from([0, 0, 0, 1]), label="1-d a") else ba + (n, k)
    sb = (k,) if draw(st.sampled_from([0, 0, 0, 1]), label="1-d b") else bb + (k, m)
    if len(sa) > 2 and len(sb) > 2:
        try:
            np.broadcast_shapes(sa[:-2], sb[:-2])
        except ValueError:
            sb = (k, m)
    return Case(mg.matmul, (_normal(rng, sa), _normal(rng, sb)), np.matmul)


# ---- gathers -------------------------------------------------------------------------------------
def case_embedding(draw):
    rng = _rng(draw)
    rows, width = draw(st.integers(1, 4), label="rows"), draw(st.integers(0, 3), label="width")
    idx = rng.integers(0, rows, size=_shape(draw, max_dims=2))
    w = _normal(rng, (rows, width))
    return Case(lambda t: mg.embedding(t, idx), (w,), lambda a: a[idx])


def case_embedding_backward(draw):
    rng = _rng(draw)
    rows, width = draw(st.integers(1, 4), label="rows"), draw(st.integers(0, 3), label="width")
    idx = rng.integers(0, rows, size=_shape(draw, max_dims=2))
    pad = draw(st.sampled_from([None, 0]), label="padding_idx")
    g = _normal(rng, idx.shape + (width,))

    def ref(a):
        out = np.zeros((rows, width))
        keep = idx != pad if pad is not None else np.ones(idx.shape, bool)
        np.add.at(out, idx[keep], a[keep])
        return out
    return Case(lambda t: mg.bind(embedding_backward_p, t, num_rows=rows, indices=idx,
                                  padding_idx=pad), (g,), ref)


# ---- trig, remainder, cumsum, gather ------------------------------------------------------------
def case_remainder(draw):
    """a / b stays away from integers (where remainder jumps)."""
    rng = _rng(draw)
    sa, sb = _pair_shapes(draw)
    b = _away_from_zero(rng, sb, 0.5, 2.0)
    a = _leaf(_remainder_operand(rng, b.numpy(), sa, np.broadcast_shapes(sa, sb)))
    return Case(mg.remainder, (a, b), np.remainder)


def _remainder_operand(rng, b, sa, full):
    """An ``a`` of shape ``sa`` whose ratio to b (broadcast to ``full``) is never near an int:
    drawn by rejection, b's entries being few."""
    for _ in range(1000):
        a = rng.uniform(-4.0, 4.0, size=sa)
        frac = np.modf(np.abs(np.broadcast_to(a, full) / np.broadcast_to(b, full)))[0]
        if not frac.size or (frac.min() > 0.05 and frac.max() < 0.95):
            return a
    assume(False)


def case_cumsum(draw):
    rng = _rng(draw)
    shape = _shape(draw, min_dims=1)
    dim = draw(st.integers(-len(shape), len(shape) - 1), label="dim")
    return Case(lambda t: mg.cumsum(t, dim), (_normal(rng, shape),),
                lambda a: np.cumsum(a, axis=dim))


def _gather_index(draw, rng, shape):
    """``(dim, index)`` for an input of ``shape``: sides at most the input's (any along dim)."""
    dim = draw(st.integers(0, len(shape) - 1), label="dim")
    sides = tuple(draw(st.integers(0 if s else 0, s), label="index side") if d != dim else
                  (draw(st.integers(0, 3), label="index side") if s else 0)
                  for d, s in enumerate(shape))
    return dim, rng.integers(0, max(shape[dim], 1), size=sides)


def _gather_ref(dim, idx):
    def ref(a):
        grid = np.indices(idx.shape, sparse=True)
        return a[tuple(idx if d == dim else grid[d] for d in range(a.ndim))]
    return ref


def case_gather(draw):
    rng = _rng(draw)
    shape = _shape(draw, min_dims=1)
    dim, idx = _gather_index(draw, rng, shape)
    return Case(lambda t: mg.gather(t, dim, idx), (_normal(rng, shape),), _gather_ref(dim, idx))


def case_scatter_add(draw):
    rng = _rng(draw)
    shape = _shape(draw, min_dims=1)
    dim, idx = _gather_index(draw, rng, shape)

    def ref(a):
        out = np.zeros(shape)
        grid = np.indices(idx.shape, sparse=True)
        np.add.at(out, tuple(idx if d == dim else grid[d] for d in range(len(shape))), a)
        return out
    return Case(lambda t: mg.bind(scatter_add_p, t, shape=shape, dim=dim, index=idx),
                (_normal(rng, idx.shape),), ref)


# ---- class-index losses --------------------------------------------------------------------------
def _class_rows_case(draw):
    """Scores x (R, C), targets (R,) with some ignored (-1), a reduction, the kept count."""
    rng = _rng(draw)
    rows, classes = draw(st.integers(0, 3), label="rows"), draw(st.integers(1, 3), label="C")
    target = rng.integers(-1, classes, size=rows)
    reduction = draw(st.sampled_from(["mean", "sum", "none"]), label="reduction")
    return rng, _normal(rng, (rows, classes), 2.0), target, reduction, int((target >= 0).sum())


def _reduce_ref(losses, reduction, count):
    if reduction == "none":
        return losses
    return np.asarray(losses.sum() / count if reduction == "mean" else losses.sum()) if (
        count or reduction == "sum") else np.asarray(np.nan)


def case_nll_loss(draw):
    _, x, target, reduction, count = _class_rows_case(draw)

    def ref(a):
        picked = a[np.arange(a.shape[0]), np.maximum(target, 0)]
        return _reduce_ref(np.where(target >= 0, -picked, 0.0), reduction, count)
    return Case(lambda t: F.nll_loss(t, target, ignore_index=-1, reduction=reduction), (x,),
                ref)


def case_cross_entropy(draw):
    _, x, target, reduction, count = _class_rows_case(draw)

    def ref(a):
        lse = np.log(np.sum(np.exp(a), axis=1))
        picked = a[np.arange(a.shape[0]), np.maximum(target, 0)]
        return _reduce_ref(np.where(target >= 0, lse - picked, 0.0), reduction, count)
    return Case(lambda t: F.cross_entropy(t, target, ignore_index=-1, reduction=reduction),
                (x,), ref)


def _row_weights_ref(g, target, reduction, count):
    w = np.broadcast_to(g, target.shape) / (count if reduction == "mean" else 1)
    return np.where(target >= 0, w, 0.0)


def case_nll_loss_backward(draw):
    rng, x, target, reduction, count = _class_rows_case(draw)
    if reduction == "mean" and not count:
        reduction = "sum"
    g = _normal(rng, target.shape if reduction == "none" else ())
    classes = x.shape[1]

    def ref(a):
        out = np.zeros((target.shape[0], classes))
        keep = np.nonzero(target >= 0)[0]
        out[keep, target[keep]] = -_row_weights_ref(a, target, reduction, count)[keep]
        return out
    return Case(lambda t: mg.bind(losses.nll_loss_backward_p, t, target=target, ignore_index=-1,
                                  reduction=reduction, count=count, num_classes=classes),
                (g,), ref)


def case_cross_entropy_backward(draw):
    rng, x, target, reduction, count = _class_rows_case(draw)
    if reduction == "mean" and not count:
        reduction = "sum"
    g = _normal(rng, target.shape if reduction == "none" else ())

    def ref(a, b):
        p = np.exp(b) / np.sum(np.exp(b), axis=1, keepdims=True)
        onehot = np.zeros(b.shape)
        keep = np.nonzero(target >= 0)[0]
        onehot[keep, target[keep]] = 1
        return _row_weights_ref(a, target, reduction, count)[:, None] * (p - onehot)
    return Case(lambda a, b: mg.bind(losses.cross_entropy_backward_p, a, b, target=target,
                                     ignore_index=-1, reduction=reduction, count=count),
                (g, x), ref)


def case_linear(draw):
    rng = _rng(draw)
    n, i, o = (draw(st.integers(0, 3), label=k) for k in ("N", "in", "out"))
    x, w = _normal(rng, (n, i)), _normal(rng, (o, i))
    if draw(st.booleans(), label="bias"):
        b = _normal(rng, (o,))
        return Case(lambda x, w, b: F.linear(x, w, b), (x, w, b), lambda x, w, b: x @ w.T + b)
    return Case(lambda x, w: F.linear(x, w), (x, w), lambda x, w: x @ w.T)


CASES = {
    "add": _binary_case(mg.add, np.add),
    "sub": _binary_case(mg.sub, np.subtract),
    "mul": _binary_case(mg.mul, np.multiply),
    "div": _binary_case(mg.div, np.divide, lambda rng, s: _away_from_zero(rng, s, 0.5)),
    "pow": case_pow,
    "pow_scalar": case_pow_scalar,
    "maximum": _select_case(mg.maximum, np.maximum),
    "minimum": _select_case(mg.minimum, np.minimum),
    "where": case_where,
    "neg": _unary_case(mg.neg, np.negative),
    "exp": _unary_case(mg.exp, np.exp),
    "log": _unary_case(mg.log, np.log, lambda rng, s: _uniform(rng, s, 0.3, 3.0)),
    "sqrt": _unary_case(mg.sqrt, np.sqrt, lambda rng, s: _uniform(rng, s, 0.3, 3.0)),
    "abs": _unary_case(mg.abs, np.abs, _away_from_zero),
    "tanh": _unary_case(mg.tanh, np.tanh, lambda rng, s: _normal(rng, s, 1.5)),
    "sigmoid": _unary_case(mg.sigmoid, _sigmoid_ref, lambda rng, s: _normal(rng, s, 3.0)),
    "relu": _unary_case(mg.relu, lambda a: np.maximum(a, 0), _away_from_zero),
    "sin": _unary_case(mg.sin, np.sin, lambda rng, s: _normal(rng, s, 2.0)),
    "cos": _unary_case(mg.cos, np.cos, lambda rng, s: _normal(rng, s, 2.0)),
    "remainder": case_remainder,
    "cumsum": case_cumsum,
    "gather": case_gather,
    "scatter_add": case_scatter_add,
    "leaky_relu": case_leaky_relu,
    "softplus": case_softplus,
    "clamp": case_clamp,
    "cast": case_cast,
    "tanh_backward": _vjp_case(ew.tanh_backward, lambda g, y: g * (1 - y * y),
                               lambda rng, s: _uniform(rng, s, -1.0, 1.0)),
    "sigmoid_backward": _vjp_case(ew.sigmoid_backward, lambda g, y: g * y * (1 - y),
                                  lambda rng, s: _uniform(rng, s, 0.0, 1.0)),
    "leaky_relu_backward": case_leaky_relu_backward,
    "sum": case_sum,
    "sum_to": case_sum_to,
    "amax": _extreme_case(mg.amax, np.max),
    "amin": _extreme_case(mg.amin, np.min),
    "max_dim": _extreme_dim_case(mg.max, np.max),
    "min_dim": _extreme_dim_case(mg.min, np.min),
    "logsumexp": case_logsumexp,
    "var": _var_case(mg.var, np.var),
    "std": _var_case(mg.std, np.std),
    "softmax": case_softmax,
    "log_softmax": case_log_softmax,
    "softmax_backward": case_softmax_backward,
    "log_softmax_backward": case_log_softmax_backward,
    "reshape": case_reshape,
    "permute": case_permute,
    "expand": case_expand,
    "getitem": case_getitem,
    "index_scatter": case_index_scatter,
    "index_put": case_index_put,
    "concat": case_concat,
    "matmul": case_matmul,
    "embedding": case_embedding,
    "embedding_backward": case_embedding_backward,
    "nll_loss": case_nll_loss,
    "nll_loss_backward": case_nll_loss_backward,
    "cross_entropy": case_cross_entropy,
    "cross_entropy_backward": case_cross_entropy_backward,
    "linear": case_linear,
}

CORE = sorted(name for name, prim in mg.REGISTRY.items() if prim.module.startswith("minigrad."))


def test_every_core_primitive_has_a_case():
    missing = [name for name in CORE if name not in CASES]
    assert not missing, (f"core primitives without a test case in tests/test_registry_core.py: "
                         f"{missing}; add an entry to CASES")


def test_no_stale_cases():
    stale = [name for name in CASES if name not in mg.REGISTRY]
    assert not stale, f"CASES has entries for primitives that no longer exist: {stale}"


def test_every_core_primitive_has_three_rules():
    for name in CORE:
        prim = mg.REGISTRY[name]
        assert prim.forward and prim.backward and prim.symbolic, f"{name} lacks a rule"


def _ops_in_graph(out):
    return {t.op for t in mg.topological_order([out])}


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=max(15, settings.default.max_examples))
@given(data=st.data())
def test_forward_gradcheck_gradgradcheck(name, data):
    case = CASES[name](data.draw)
    out = case.fn(*case.inputs)
    assert name in _ops_in_graph(out), f"the case for {name} did not run {name}"
    expected = case.ref(*[t.numpy() for t in case.inputs])
    assert type(out.numpy()) is np.ndarray, f"{name} returned a {type(out.numpy()).__name__}"
    assert out.shape == expected.shape
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12, atol=1e-12)
    if expected.size and np.isnan(expected).all():
        return  # a mean over only ignored targets: NaN, no derivative to check
    mg.gradcheck(case.fn, case.inputs, **case.check)
    mg.gradgradcheck(case.fn, case.inputs, **case.check)


def _to_sympy(array):
    import sympy
    arr = np.asarray(array)
    if arr.dtype.kind != "f":
        return arr
    out = np.empty(arr.shape, dtype=object)
    for idx in np.ndindex(*arr.shape):
        out[idx] = sympy.Float(float(arr[idx]), 30)
    return out


@pytest.mark.parametrize("name", sorted(CASES))
@settings(max_examples=3)
@given(data=st.data())
def test_symbolic_rule_matches_forward(name, data):
    """The symbolic rule, applied to numbers, computes what the forward rule computes."""
    case = CASES[name](data.draw)
    out = case.fn(*case.inputs)
    node = next(t._node for t in mg.topological_order([out]) if t.op == name)
    prim = node.prim
    arrays = [t.numpy() for t in node.inputs]
    numeric = prim.forward(*arrays, **node.params)
    if prim.has_residuals:
        numeric = numeric[0]
    symbolic = np.asarray(prim.symbolic(*[_to_sympy(a) for a in arrays], **node.params),
                          dtype=object)
    assert symbolic.shape == numeric.shape, name
    values = np.array([float(v) for v in symbolic.reshape(-1)]).reshape(symbolic.shape)
    np.testing.assert_allclose(values, numeric, rtol=1e-6, atol=1e-9)
