"""Random graphs over minigrad's public ops, and the checks that run them (issue 14, part 7).

Not a test module (pytest collects only ``test_*.py``): ``tests/test_fuzz_graphs.py`` drives it
with hypothesis, ``bench/soak_fuzz.py`` with a seeded numpy generator.

A graph is a straight-line program over float64 leaves. Every op in ``CATALOG`` has three
implementations (numpy, minigrad, PyTorch) and a ``make`` rule that, given the numpy values of
its inputs, picks its parameters (dims, shapes, indices, bounds ...) and says whether the inputs
sit near a point where the op is not differentiable (a tie in a max, |x| near 0, x near a clamp
bound). The generator builds the program while running it in numpy, so every op sees the real
values it will get.

Three modes:

- ``smooth``: every op's inputs keep ``MARGIN`` away from its kinks and from its domain's edge,
  so float64 central differences (``mg.gradcheck`` / ``mg.gradgradcheck``) are meaningful;
- ``grid``: the same, but leaves drawn from a grid of halves (-1.5 ... 1.5), so special values
  where an op is smooth but a rule may special-case them (0 ** 0, x ** 0, equal logits) happen;
- ``ties``: leaves drawn from a grid of halves, so ties, zeros and values on clamp bounds happen
  on purpose; those graphs are compared with PyTorch only (its conventions at kinks: sign(0) = 0,
  relu'(0) = 0, ties of max/amax/maximum share the gradient, clamp passes it on the bounds).

Exclusions, each marked ``issue 14`` where it is made, were the bugs known and being fixed when
this was written: abs and max(dim)/min/amax gradients at NaN inputs (no NaN is ever produced),
index_select/chunk on empty tensors (no dim is ever empty), var with correction >= N (its
inf/NaN values are never generated), complex/object/string inputs, in-place ops. Fixed since
(71c85fe) and enabled again: transpose(0, 0) of 0-d, concat/stack of one tensor, a negative
embedding padding_idx.

Every other op choice in a graph is free. Chooser: anything with ``integers(lo, hi)`` (inclusive
bounds) and ``rng`` (a numpy Generator for the values); ``RngChooser`` and ``HypothesisChooser``.
"""

import dataclasses
import math

import numpy as np
import scipy.special

import minigrad as mg

MARGIN = 1e-2          # distance kept from kinks and domain edges in smooth mode
MAX_ABS = 1e3          # no node's values grow past this (keeps central differences accurate)
MAX_ELEMENTS = 48      # no node is bigger than this (keeps central differences cheap)


# ---- choosers ----------------------------------------------------------------------------------
class RngChooser:
    """Choices from a numpy Generator (the soak)."""

    def __init__(self, seed):
        self.rng = np.random.default_rng(seed)

    def integers(self, lo, hi):
        return int(self.rng.integers(lo, hi + 1))

    uniform = integers


class HypothesisChooser:
    """Choices drawn from hypothesis (so failing graphs shrink); values from a drawn seed."""

    def __init__(self, data):
        from hypothesis import strategies as st
        self._data, self._st = data, st
        self.rng = np.random.default_rng(data.draw(st.integers(0, 2**32 - 1), label="seed"))

    def integers(self, lo, hi):
        return self._data.draw(self._st.integers(lo, hi))

    def uniform(self, lo, hi):
        """For the graph's length and its ops: hypothesis favours its bounds (a third of its
        graphs would have one step and start with the catalog's first op)."""
        return int(self.rng.integers(lo, hi + 1))


def choice(ch, seq):
    return seq[ch.integers(0, len(seq) - 1)]


def coin(ch, percent=50):
    return ch.integers(0, 99) < percent


# ---- the graph -----------------------------------------------------------------------------
@dataclasses.dataclass
class Step:
    op: str
    args: tuple          # node ids
    params: dict         # numbers, tuples, numpy int/bool arrays
    outs: tuple = ()     # node ids of the results (split/chunk give several)


@dataclasses.dataclass
class Graph:
    leaves: list                     # float64 arrays; leaf i is node i
    grad_leaves: list                # which leaves require grad
    leaf_ids: list                   # the node id of each leaf (leaves are made as needed)
    steps: list
    outputs: list                    # node ids
    mode: str = "smooth"
    dtype: str = "float64"           # of every leaf; float32 graphs skip central differences
    kinks: list = dataclasses.field(default_factory=list)   # op names used at a kink
    conventions: list = dataclasses.field(default_factory=list)   # gradients by convention
    # PyTorch's own wrong second derivatives that the graph reaches: its grad2 is not compared
    # there (central differences still are: they are the reference)
    torch_grad2_defects: list = dataclasses.field(default_factory=list)

    @property
    def central_ok(self):
        """Are central differences meaningful for this graph?"""
        return (self.mode != "ties" and self.dtype == "float64" and not self.kinks
                and not self.conventions)

    @property
    def ops(self):
        return [s.op for s in self.steps]

    def describe(self):
        """The program as Python-like text (for reports and reproductions)."""
        lines = []
        for i, leaf in enumerate(self.leaves):
            rg = ", requires_grad=True" if self.grad_leaves[i] else ""
            text = np.array2string(leaf, precision=17, separator=", ")
            lines.append(f"n{self.leaf_ids[i]} = tensor({text}{rg})  # {leaf.shape}")
        for s in self.steps:
            args = ", ".join(f"n{a}" for a in s.args)
            params = ", ".join(f"{k}={_show(v)}" for k, v in s.params.items())
            outs = ", ".join(f"n{o}" for o in s.outs)
            lines.append(f"{outs} = {s.op}({args}{', ' if params else ''}{params})")
        lines.append("outputs: " + ", ".join(f"n{o}" for o in self.outputs))
        return "\n".join(lines)


def _show(v):
    if isinstance(v, np.ndarray):
        return f"array({v.tolist()})"
    return repr(v)


# ---- the op catalog ----------------------------------------------------------------------------
@dataclasses.dataclass
class Op:
    name: str
    arity: int                 # 1: unary on a node; 2: a second operand is found or made
    make: object               # (ch, gen, x_values...) -> (params, kink) or None
    np_fn: object
    mg_fn: object
    torch_fn: object
    multi: bool = False        # returns a tuple of nodes


CATALOG = {}


def op(name, arity=1, multi=False):
    def register(fns):
        make, np_fn, mg_fn, torch_fn = fns()
        CATALOG[name] = Op(name, arity, make, np_fn, mg_fn, torch_fn, multi)
        return fns
    return register


def _torch():
    import torch
    return torch


def _tt(array):
    """A numpy int/bool array (an index or a mask) as a torch tensor."""
    return _torch().as_tensor(np.array(array))   # (np.ascontiguousarray makes 0-d 1-d)


def _near(values, points, margin=MARGIN):
    """Is any value within ``margin`` of any of ``points``?"""
    v = np.asarray(values, dtype=np.float64)
    return any(bool(np.any(np.abs(v - p) < margin)) for p in points)


def _always(ch, gen, x):
    return {}, False


def _kinked_at(*points):
    def make(ch, gen, x):
        return {}, _near(x, points)
    return make


# elementwise, unary ---------------------------------------------------------------------------
@op("neg")
def _():
    return _always, np.negative, lambda x: -x, lambda x: -x


@op("exp")
def _():
    def make(ch, gen, x):
        return ({}, False) if x.size == 0 or x.max() < 5 else None
    return make, np.exp, mg.exp, lambda x: x.exp()


def _positive(ch, gen, x):
    return ({}, False) if x.size == 0 or x.min() > MARGIN else None


@op("log")
def _():
    return _positive, np.log, mg.log, lambda x: x.log()


@op("sqrt")
def _():
    return _positive, np.sqrt, mg.sqrt, lambda x: x.sqrt()


@op("abs")
def _():
    # issue 14: abs's gradient at NaN is known wrong (being fixed); no NaN is ever produced here.
    return _kinked_at(0.0), np.abs, mg.abs, lambda x: x.abs()


@op("tanh")
def _():
    return _always, np.tanh, lambda x: x.tanh(), lambda x: x.tanh()


@op("sigmoid")
def _():
    return _always, scipy.special.expit, mg.sigmoid, lambda x: x.sigmoid()


@op("relu")
def _():
    return (_kinked_at(0.0), lambda x: np.maximum(x, 0.0), mg.relu,
            lambda x: _torch().relu(x))


@op("leaky_relu")
def _():
    def make(ch, gen, x):
        return {"negative_slope": choice(ch, [0.01, 0.2, -0.5, 1.5])}, _near(x, [0.0])
    return (make, lambda x, negative_slope: np.where(x > 0, x, x * negative_slope),
            mg.leaky_relu,
            lambda x, negative_slope: _torch().nn.functional.leaky_relu(x, negative_slope))


@op("softplus")
def _():
    def make(ch, gen, x):
        return {"beta": choice(ch, [1.0, 0.5, 2.5])}, False
    return (make, lambda x, beta: np.logaddexp(0.0, beta * x) / beta, mg.softplus,
            lambda x, beta: _torch().nn.functional.softplus(x, beta, threshold=1e9))


@op("clamp")
def _():
    def make(ch, gen, x):
        flat = np.sort(x.reshape(-1))
        grid = gen.mode == "ties"
        lo = hi = None
        kind = ch.integers(0, 2)   # 0: both bounds, 1: min only, 2: max only
        # ties mode: bounds on the leaves' grid, never a computed value (a computed value
        # may differ by an ulp between numpy, minigrad and PyTorch, and fall either side)
        pick = (lambda: choice(ch, [-1.0, -0.5, 0.0, 0.5, 1.0])) if grid else (
            lambda: float(flat[ch.integers(0, flat.size - 1)]) + (ch.integers(0, 1) - 0.5) * 0.2)
        if flat.size == 0:
            return None
        if kind in (0, 1):
            lo = pick()
        if kind in (0, 2):
            hi = pick()
        if lo is not None and hi is not None and lo > hi:
            lo, hi = hi, lo
        bounds = [b for b in (lo, hi) if b is not None]
        return {"min": lo, "max": hi}, _near(x, bounds)
    return (make, lambda x, min, max: np.clip(x, min, max),  # noqa: A006
            lambda x, min, max: mg.clamp(x, min, max),  # noqa: A006
            lambda x, min, max: _torch().clamp(x, min, max))  # noqa: A006


@op("pow_scalar")
def _():
    def make(ch, gen, x):
        p = choice(ch, [2, 3, 0, 1, -1, -2, 0.5, 1.5, 2.5])
        if x.size == 0:
            return {"exponent": p}, False
        if p in (0.5, 1.5, 2.5):
            if x.min() <= MARGIN:
                return None
        elif p < 0 and np.abs(x).min() < 0.2:
            return None
        return {"exponent": p}, False
    return (make, lambda x, exponent: np.power(x, float(exponent)),
            lambda x, exponent: x ** exponent, lambda x, exponent: x ** exponent)


@op("scalar_arith")
def _():
    # A Python number on either side: x + c, c - x, x * c, x / c, c / x, c ** x.
    def make(ch, gen, x):
        form = choice(ch, ["add", "rsub", "mul", "div", "rdiv", "rpow"])
        c = choice(ch, [2.0, -0.5, 1.5, 3.0])
        if form == "rdiv" and x.size and np.abs(x).min() < 0.2:
            return None
        if form == "rpow":
            c = abs(c)
            if x.size and x.max() > 5:
                return None
        return {"form": form, "c": c}, False

    def apply(x, form, c):
        return {"add": lambda: x + c, "rsub": lambda: c - x, "mul": lambda: x * c,
                "div": lambda: x / c, "rdiv": lambda: c / x, "rpow": lambda: c ** x}[form]()
    return make, apply, apply, apply


# elementwise, binary (broadcasting) ---------------------------------------------------------
def _always2(ch, gen, a, b):
    return {}, False


@op("add", 2)
def _():
    return _always2, np.add, lambda a, b: a + b, lambda a, b: a + b


@op("sub", 2)
def _():
    return _always2, np.subtract, mg.sub, lambda a, b: a - b


@op("mul", 2)
def _():
    return _always2, np.multiply, lambda a, b: a * b, lambda a, b: a * b


@op("div", 2)
def _():
    def make(ch, gen, a, b):
        return ({}, False) if b.size == 0 or np.abs(b).min() > 0.2 else None
    return make, np.divide, mg.div, lambda a, b: a / b


@op("pow", 2)
def _():
    def make(ch, gen, a, b):
        if a.size and (a.min() < 0.2 or a.max() > 10):
            return None
        if b.size and np.abs(b).max() > 3:
            return None
        if b.size and np.any(b == 0):
            if "pow_zero_exponent" in gen.avoid:
                return None   # found by this fuzz: tests/test_fuzz_regressions.py
            # PyTorch's d/db (d pow/da) at b = 0 is 0, not 1/a (its own gradgradcheck fails)
            gen.graph.torch_grad2_defects.append("pow at a zero exponent")
        return {}, False
    return make, np.power, mg.pow, lambda a, b: a ** b


def _tie_make(ch, gen, a, b):
    return {}, _near(np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape))
                     - np.broadcast_to(b, np.broadcast_shapes(a.shape, b.shape)), [0.0])


@op("maximum", 2)
def _():
    return _tie_make, np.maximum, mg.maximum, lambda a, b: _torch().maximum(a, b)


@op("minimum", 2)
def _():
    return _tie_make, np.minimum, mg.minimum, lambda a, b: _torch().minimum(a, b)


@op("where", 2)
def _():
    def make(ch, gen, a, b):
        shape = np.broadcast_shapes(a.shape, b.shape)
        if shape and coin(ch, 30):   # a condition that broadcasts too
            shape = tuple(1 if coin(ch, 40) else s for s in shape)[ch.integers(0, len(shape)):]
        return {"cond": ch.rng.random(shape) < 0.5}, False
    return (make, lambda a, b, cond: np.where(cond, a, b),
            lambda a, b, cond: mg.where(mg.tensor(cond), a, b),
            lambda a, b, cond: _torch().where(_tt(cond), a, b))


@op("matmul", 2)
def _():
    return (_always2, np.matmul, lambda a, b: a @ b, lambda a, b: a @ b)


# reductions --------------------------------------------------------------------------------
def _dims(ch, x, allow_tuple=True, allow_none=True):
    """dim (None, an int, possibly negative, or a tuple) and keepdim."""
    nd = x.ndim
    kind = ch.integers(0, 2 if allow_tuple else 1)
    if allow_none and (kind == 0 or (nd == 0 and not coin(ch, 30))):
        return None, bool(ch.integers(0, 1))
    if kind == 1 or nd <= 1 or not allow_tuple:
        d = ch.integers(-max(nd, 1), max(nd, 1) - 1)
        return d, bool(ch.integers(0, 1))
    count = ch.integers(1, nd)
    axes = list(range(nd))
    picked = []
    for _ in range(count):
        picked.append(axes.pop(ch.integers(0, len(axes) - 1)))
    dims = tuple(a - nd if coin(ch, 30) else a for a in picked)
    return dims, bool(ch.integers(0, 1))


def _axes(dim, nd):
    """numpy's axis for our dim (0-d tensors: dim 0 / -1 mean the tensor itself)."""
    if nd == 0:
        return None
    if dim is None:
        return tuple(range(nd))
    dims = (dim,) if isinstance(dim, int) else dim
    return tuple(d % nd for d in dims)


def _torch_dims(dim, nd):
    """PyTorch reads dim=() as all dims; always pass an explicit, non-empty tuple."""
    if dim is None:
        return tuple(range(nd)) if nd else ()
    return dim


def _np_reduce(fn):
    def run(x, dim, keepdim, **kw):
        axes = _axes(dim, x.ndim)
        if x.ndim == 0:
            return np.asarray(fn(x, axis=None, keepdims=False, **kw))
        return np.asarray(fn(x, axis=axes, keepdims=keepdim, **kw))
    return run


def _extreme_gap(x, dim, keepdim, margin=MARGIN):
    """Do the two largest (or smallest) entries of some reduced slice lie within margin?"""
    axes = _axes(dim, x.ndim)
    if x.ndim == 0 or not axes:
        return False
    moved = np.moveaxis(x, axes, tuple(range(x.ndim - len(axes), x.ndim)))
    flat = np.sort(moved.reshape(moved.shape[:x.ndim - len(axes)] + (-1,)), axis=-1)
    if flat.shape[-1] < 2:
        return False
    top = flat[..., -1] - flat[..., -2] < margin
    bottom = flat[..., 1] - flat[..., 0] < margin
    return bool(np.any(top) or np.any(bottom))


@op("sum")
def _():
    def make(ch, gen, x):
        dim, keepdim = _dims(ch, x)
        return {"dim": dim, "keepdim": keepdim}, False
    return (make, _np_reduce(np.sum), lambda x, dim, keepdim: x.sum(dim=dim, keepdim=keepdim),
            lambda x, dim, keepdim: x.sum(dim=_torch_dims(dim, x.ndim), keepdim=keepdim))


@op("mean")
def _():
    def make(ch, gen, x):
        dim, keepdim = _dims(ch, x)
        return {"dim": dim, "keepdim": keepdim}, False
    return (make, _np_reduce(np.mean),
            lambda x, dim, keepdim: mg.mean(x, axis=dim, keepdims=keepdim),  # the aliases
            lambda x, dim, keepdim: x.mean(dim=_torch_dims(dim, x.ndim), keepdim=keepdim))


def _extreme_op(name, np_fn):
    def make(ch, gen, x):
        dim, keepdim = _dims(ch, x)
        return {"dim": dim, "keepdim": keepdim}, _extreme_gap(x, dim, keepdim)

    def torch_fn(x, dim, keepdim):
        return getattr(_torch(), name)(x, dim=_torch_dims(dim, x.ndim), keepdim=keepdim)
    return (make, _np_reduce(np_fn),
            lambda x, dim, keepdim: getattr(mg, name)(x, dim=dim, keepdim=keepdim), torch_fn)


@op("amax")
def _():
    # issue 14: amax's gradient at NaN inputs is known wrong (being fixed); no NaN here.
    return _extreme_op("amax", np.max)


@op("amin")
def _():
    return _extreme_op("amin", np.min)


@op("max_all")
def _():
    def make(ch, gen, x):
        return ({}, _extreme_gap(x, None, False)) if x.size else None
    return make, lambda x: np.asarray(np.max(x)), mg.max, lambda x: x.max()


@op("min_all")
def _():
    def make(ch, gen, x):
        return ({}, _extreme_gap(x, None, False)) if x.size else None
    return make, lambda x: np.asarray(np.min(x)), mg.min, lambda x: x.min()


def _minmax_dim(name, np_fn, np_arg):
    # PyTorch's max(dim) sends a tie's gradient to the one index it returns, minigrad's shares
    # it (documented in max's docstring): ties are never generated for these two, in any mode.
    def make(ch, gen, x):
        dim, keepdim = _dims(ch, x, allow_tuple=False, allow_none=False)
        if _extreme_gap(x, dim, keepdim):
            return None
        if x.ndim == 0 and keepdim and "max_dim_0d_keepdim" in gen.avoid:
            return None   # found by this fuzz: tests/test_fuzz_regressions.py
        return {"dim": dim, "keepdim": keepdim, "which": ch.integers(0, 1)}, False

    def np_run(x, dim, keepdim, which):
        if x.ndim == 0:
            return np.asarray(x.copy() if which == 0 else 0)
        out = (np_fn if which == 0 else np_arg)(x, axis=dim)
        return np.asarray(np.expand_dims(out, dim) if keepdim else out)

    def mg_run(x, dim, keepdim, which):
        return getattr(mg, name)(x, dim=dim, keepdim=keepdim)[which]

    def torch_run(x, dim, keepdim, which):
        return getattr(_torch(), name)(x, dim=dim, keepdim=keepdim)[which]
    # issue 14: max(dim)/min(dim) gradients at NaN inputs are known wrong; no NaN here.
    return make, np_run, mg_run, torch_run


@op("max_dim")
def _():
    return _minmax_dim("max", np.max, np.argmax)


@op("min_dim")
def _():
    return _minmax_dim("min", np.min, np.argmin)


def _var_make(std):
    def make(ch, gen, x):
        dim, keepdim = _dims(ch, x)
        axes = _axes(dim, x.ndim)
        n = math.prod(x.shape[a] for a in axes) if axes else 1
        correction = choice(ch, [0, 1, 2])
        # issue 14: var/std with correction >= N is known wrong (being fixed): excluded.
        if correction >= n:
            return None
        if std:
            v = np.var(x, axis=axes, ddof=correction) if x.ndim else np.zeros(())
            if np.min(v) < MARGIN:
                return None   # sqrt's kink at 0: never even in ties mode (its gradient is inf)
        return {"dim": dim, "keepdim": keepdim, "correction": correction}, False
    return make


def _np_var(x, dim, keepdim, correction, root=False):
    axes = _axes(dim, x.ndim)
    out = np.var(x, axis=axes, ddof=correction, keepdims=keepdim and x.ndim > 0)
    return np.asarray(np.sqrt(out) if root else out)


@op("var")
def _():
    return (_var_make(False), _np_var,
            lambda x, dim, keepdim, correction: x.var(dim, keepdim=keepdim, correction=correction),
            lambda x, dim, keepdim, correction: _torch().var(
                x, dim=_torch_dims(dim, x.ndim), keepdim=keepdim, correction=correction))


@op("std")
def _():
    return (_var_make(True),
            lambda x, dim, keepdim, correction: _np_var(x, dim, keepdim, correction, True),
            lambda x, dim, keepdim, correction: mg.std(x, dim, keepdim, correction=correction),
            lambda x, dim, keepdim, correction: _torch().std(
                x, dim=_torch_dims(dim, x.ndim), keepdim=keepdim, correction=correction))


@op("logsumexp")
def _():
    def make(ch, gen, x):
        dim, keepdim = _dims(ch, x)
        return {"dim": dim, "keepdim": keepdim}, False
    return (make, _np_reduce(scipy.special.logsumexp), mg.logsumexp,
            lambda x, dim, keepdim: _torch().logsumexp(x, dim=_torch_dims(dim, x.ndim),
                                                       keepdim=keepdim))


def _softmax_np(x, dim, log):
    if x.ndim == 0:
        return np.zeros(()) if log else np.ones(())
    out = scipy.special.log_softmax(x, axis=dim) if log else scipy.special.softmax(x, axis=dim)
    return np.asarray(out)


@op("softmax")
def _():
    def make(ch, gen, x):
        return {"dim": ch.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1)}, False
    return (make, lambda x, dim: _softmax_np(x, dim, False), mg.softmax,
            lambda x, dim: _torch().softmax(x, dim))


@op("log_softmax")
def _():
    def make(ch, gen, x):
        return {"dim": ch.integers(-max(x.ndim, 1), max(x.ndim, 1) - 1)}, False
    return (make, lambda x, dim: _softmax_np(x, dim, True), mg.log_softmax,
            lambda x, dim: _torch().log_softmax(x, dim))


# shape ops ---------------------------------------------------------------------------------
def _random_shape_of_size(ch, size, max_ndim=4):
    """A random shape with ``size`` elements."""
    factors = []
    n = size
    p = 2
    while n > 1:
        while n % p == 0:
            factors.append(p)
            n //= p
        p += 1
    nd = ch.integers(0 if size == 1 else 1, max_ndim)
    dims = [1] * max(nd, 1 if size > 1 else 0)
    for f in factors:
        dims[ch.integers(0, len(dims) - 1)] *= f
    return tuple(dims)


@op("reshape")
def _():
    def make(ch, gen, x):
        shape = list(_random_shape_of_size(ch, x.size))
        if shape and coin(ch, 30):
            shape[ch.integers(0, len(shape) - 1)] = -1
        return {"shape": tuple(shape), "view": coin(ch)}, False

    def mg_run(x, shape, view):
        return x.view(*shape) if view else mg.reshape(x, shape)
    return (make, lambda x, shape, view: x.reshape(shape), mg_run,
            lambda x, shape, view: x.reshape(shape))


@op("flatten")
def _():
    def make(ch, gen, x):
        if x.ndim == 0:
            return {"start": 0, "end": -1}, False
        s = ch.integers(0, x.ndim - 1)
        e = ch.integers(s, x.ndim - 1)
        return {"start": s - x.ndim if coin(ch, 30) else s, "end": e}, False

    def np_run(x, start, end):
        if x.ndim == 0:
            return x.reshape(1)
        s, e = start % x.ndim, end % x.ndim
        return x.reshape(x.shape[:s] + (-1,) + x.shape[e + 1:])
    return (make, np_run, lambda x, start, end: x.flatten(start, end),
            lambda x, start, end: x.flatten(start, end))


@op("transpose")
def _():
    def make(ch, gen, x):
        # issue 14: transpose(0, 0) of a 0-d tensor was a known bug, fixed in 71c85fe: enabled
        nd = max(x.ndim, 1)
        return {"d0": ch.integers(-nd, nd - 1), "d1": ch.integers(-nd, nd - 1)}, False

    def np_run(x, d0, d1):
        return x.copy() if x.ndim == 0 else np.swapaxes(x, d0, d1)
    return (make, np_run,
            lambda x, d0, d1: x.transpose(d0, d1), lambda x, d0, d1: x.transpose(d0, d1))


@op("permute")
def _():
    def make(ch, gen, x):
        perm = list(range(x.ndim))
        for i in range(len(perm) - 1, 0, -1):
            j = ch.integers(0, i)
            perm[i], perm[j] = perm[j], perm[i]
        return {"dims": tuple(p - x.ndim if coin(ch, 20) else p for p in perm),
                "dot_t": x.ndim == 2 and coin(ch, 30)}, False

    def mg_run(x, dims, dot_t):
        return x.T if dot_t else x.permute(*dims)

    def torch_run(x, dims, dot_t):
        return x.T if dot_t else x.permute(dims)
    return (make, lambda x, dims, dot_t: x.T if dot_t else np.transpose(x, dims), mg_run,
            torch_run)


@op("squeeze")
def _():
    def make(ch, gen, x):
        ones = [i for i, s in enumerate(x.shape) if s == 1]
        kind = ch.integers(0, 2)
        if kind == 0 or x.ndim == 0:
            return {"dim": None}, False
        if kind == 1 or len(ones) < 2:
            return {"dim": ch.integers(-x.ndim, x.ndim - 1)}, False
        return {"dim": tuple(ones[: ch.integers(1, len(ones))])}, False

    def np_run(x, dim):
        if dim is None:
            return np.squeeze(x)
        dims = (dim,) if isinstance(dim, int) else dim
        dims = tuple(d % x.ndim for d in dims if x.shape[d] == 1)
        return np.squeeze(x, axis=dims)
    return (make, np_run, lambda x, dim: x.squeeze(dim),
            lambda x, dim: x.squeeze() if dim is None else x.squeeze(dim))


@op("unsqueeze")
def _():
    def make(ch, gen, x):
        return {"dim": ch.integers(-x.ndim - 1, x.ndim)}, False
    return (make, lambda x, dim: np.expand_dims(x, dim), lambda x, dim: x.unsqueeze(dim),
            lambda x, dim: x.unsqueeze(dim))


@op("expand")
def _():
    def make(ch, gen, x):
        lead = ch.integers(0, 2) if x.ndim < 4 else 0
        shape = [ch.integers(1, 3) for _ in range(lead)]
        for s in x.shape:
            if s == 1 and coin(ch):
                shape.append(ch.integers(1, 3))
            else:
                shape.append(-1 if coin(ch, 30) else s)
        if x.size * math.prod(abs(s) for s in shape) > 4 * MAX_ELEMENTS:
            return None
        return {"shape": tuple(shape)}, False

    def np_run(x, shape):
        lead = len(shape) - x.ndim
        full = tuple(x.shape[i - lead] if s == -1 else s for i, s in enumerate(shape))
        return np.broadcast_to(x, full).copy()
    return (make, np_run, lambda x, shape: x.expand(*shape), lambda x, shape: x.expand(shape))


# indexing ----------------------------------------------------------------------------------
def _random_index(ch, x):
    """A random index (a tuple) valid for x: ints, slices, None, Ellipsis, an int array (with
    repeats and negative entries), a bool mask."""
    items, dim, used_adv, used_ellipsis, used_int = [], 0, False, False, False
    # after an Ellipsis the remaining dims must all be indexed (numpy aligns them to the end)
    while dim < x.ndim and (used_ellipsis or coin(ch, 75)):
        n = x.shape[dim]
        kind = ch.integers(0, 6)
        if kind == 0 and not used_adv:
            # PyTorch reads an int beside an index array as a basic index, numpy (and minigrad,
            # documented) as an advanced one: x[0, :, [1, 2]] is (2, 3) in numpy, (3, 2) in
            # PyTorch. Ints and arrays are never mixed here.
            items.append(ch.integers(-n, n - 1))
            used_int = True
            dim += 1
        elif kind in (1, 2):
            start = ch.integers(-n, n) if coin(ch, 70) else None
            stop = ch.integers(-n, n) if coin(ch, 70) else None
            step = ch.integers(1, 3) if coin(ch, 50) else None
            items.append(slice(start, stop, step))
            dim += 1
        elif kind == 3:
            items.append(None)
        elif kind == 4 and not used_adv and not used_int:
            k = ch.integers(1, 4)
            items.append(np.array([ch.integers(-n, n - 1) for _ in range(k)], dtype=np.int64))
            used_adv = True
            dim += 1
        elif kind == 5 and not used_adv and not used_int:
            m = ch.rng.random(x.shape[dim]) < 0.6
            if not m.any():
                m[ch.integers(0, n - 1)] = True
            items.append(m)
            used_adv = True
            dim += 1
        elif not used_ellipsis:
            items.append(Ellipsis)
            used_ellipsis = True
            if coin(ch):
                break
            dim = x.ndim - ch.integers(0, x.ndim - dim)
    if not items:
        items = [Ellipsis]
    return tuple(items)


def _torch_index(index):
    return tuple(_tt(i) if isinstance(i, np.ndarray) else i for i in index)


def _mg_index(index):
    """Int arrays in an index as minigrad tensors (both forms are accepted)."""
    return tuple(mg.tensor(i) if isinstance(i, np.ndarray) and i.dtype != np.bool_ else i
                 for i in index)


@op("getitem")
def _():
    def make(ch, gen, x):
        if x.ndim == 0:
            return {"index": (None,) if coin(ch) else (Ellipsis,), "tensor_index": False}, False
        index = _random_index(ch, x)
        out = x[index]
        if out.size == 0:
            return None   # issue 14 neighbourhood: empty results are not generated
        if (len(index) == 1 and isinstance(index[0], np.ndarray) and index[0].dtype != np.bool_
                and x.ndim >= 3 and "getitem_rows_layout" in gen.avoid):
            return None   # found by this fuzz: tests/test_fuzz_regressions.py
        return {"index": index, "tensor_index": coin(ch)}, False

    def mg_run(x, index, tensor_index):
        return x[_mg_index(index) if tensor_index else index]
    return (make, lambda x, index, tensor_index: np.asarray(x[index]), mg_run,
            lambda x, index, tensor_index: x[_torch_index(index)])


@op("index_select")
def _():
    def make(ch, gen, x):
        if x.ndim == 0:
            return None
        d = ch.integers(-x.ndim, x.ndim - 1)
        n = x.shape[d]
        # issue 14: index_select on empty tensors is known wrong: indices are never empty
        index = np.array([ch.integers(0, n - 1) for _ in range(ch.integers(1, 4))])
        return {"dim": d, "index": index}, False
    return (make, lambda x, dim, index: np.take(x, index, axis=dim),
            lambda x, dim, index: mg.index_select(x, dim, index),
            lambda x, dim, index: _torch().index_select(x, dim, _tt(index)))


@op("embedding")
def _():
    def make(ch, gen, x):
        if x.ndim != 2:
            return None
        v = x.shape[0]
        shape = tuple(ch.integers(1, 3) for _ in range(ch.integers(0, 2)))
        indices = ch.rng.integers(0, v, size=shape)
        # issue 14: a negative padding_idx was a known bug, fixed in 71c85fe: enabled
        padding = ch.integers(-v, v - 1) if coin(ch, 30) else None
        return {"indices": indices, "padding_idx": padding}, False

    def np_run(x, indices, padding_idx):
        return x[indices]

    def torch_run(x, indices, padding_idx):
        return _torch().nn.functional.embedding(_tt(indices), x, padding_idx=padding_idx)
    return (make, np_run,
            lambda x, indices, padding_idx: mg.embedding(x, indices, padding_idx=padding_idx),
            torch_run)


# joins and splits --------------------------------------------------------------------------
@op("concat", 2)
def _():
    # (concat of a single tensor: the op "join_one")
    def make(ch, gen, a, b):
        return {"dim": gen.join_dim, "use_cat": coin(ch)}, False

    def mg_run(a, b, dim, use_cat):
        return (mg.cat if use_cat else mg.concat)([a, b], dim)
    return (make, lambda a, b, dim, use_cat: np.concatenate([a, b], axis=dim), mg_run,
            lambda a, b, dim, use_cat: _torch().cat([a, b], dim))


@op("join_one")
def _():
    # issue 14: concat (and stack) of a single tensor aliased its input, a known bug fixed in
    # 71c85fe: enabled
    def make(ch, gen, x):
        if x.ndim == 0:
            return {"dim": ch.integers(-1, 0), "stack": True}, False
        stack = coin(ch)
        nd = x.ndim + 1 if stack else x.ndim
        return {"dim": ch.integers(-nd, nd - 1), "stack": stack}, False

    def np_run(x, dim, stack):
        return np.expand_dims(x, dim) if stack else x.copy()

    def mg_run(x, dim, stack):
        return (mg.stack if stack else mg.concat)([x], dim)

    def torch_run(x, dim, stack):
        return (_torch().stack if stack else _torch().cat)([x], dim)
    return make, np_run, mg_run, torch_run


@op("stack", 2)
def _():
    def make(ch, gen, a, b):
        return {"dim": ch.integers(-a.ndim - 1, a.ndim)}, False
    return (make, lambda a, b, dim: np.stack([a, b], axis=dim),
            lambda a, b, dim: mg.stack([a, b], dim), lambda a, b, dim: _torch().stack([a, b], dim))


@op("split", multi=True)
def _():
    def make(ch, gen, x):
        if x.ndim == 0:
            return None
        d = ch.integers(-x.ndim, x.ndim - 1)
        n = x.shape[d]
        if coin(ch):
            return {"sizes": ch.integers(1, max(n, 1)), "dim": d}, False
        cuts = sorted(ch.integers(0, n) for _ in range(ch.integers(1, 2)))
        sizes = [b - a for a, b in zip([0] + cuts, cuts + [n], strict=True)]
        if 0 in sizes:
            return None   # issue 14 neighbourhood: no empty pieces
        return {"sizes": sizes, "dim": d}, False

    def np_run(x, sizes, dim):
        n = x.shape[dim]
        if isinstance(sizes, int):
            bounds = list(range(sizes, n, sizes))
        else:
            bounds = list(np.cumsum(sizes)[:-1])
        return [p for p in np.split(x, bounds, axis=dim)]
    return (make, np_run, lambda x, sizes, dim: list(mg.split(x, sizes, dim)),
            lambda x, sizes, dim: list(_torch().split(x, sizes, dim)))


@op("chunk", multi=True)
def _():
    def make(ch, gen, x):
        if x.ndim == 0:
            return None
        # issue 14: chunk on empty tensors is known wrong; no dim here is ever empty.
        return {"chunks": ch.integers(1, 4), "dim": ch.integers(-x.ndim, x.ndim - 1)}, False

    def np_run(x, chunks, dim):
        n = x.shape[dim]
        step = -(-n // chunks)
        return np.split(x, list(range(step, n, step)), axis=dim)
    return (make, np_run, lambda x, chunks, dim: list(x.chunk(chunks, dim)),
            lambda x, chunks, dim: list(_torch().chunk(x, chunks, dim)))


@op("linear", 2)
def _():
    # mg.nn.functional.linear(x, weight, bias): the generator finds or makes weight (out, in)
    # and, when it draws one, a bias leaf (out,) as a third operand.
    def make(ch, gen, x, w, *bias):
        return {}, False

    def np_run(x, w, *bias):
        return x @ w.T + (bias[0] if bias else 0.0)
    return (make, np_run, lambda x, w, *bias: mg.nn.functional.linear(x, w, *bias),
            lambda x, w, *bias: _torch().nn.functional.linear(x, w, *bias))


# losses with class-index targets (mg.nn.functional) -----------------------------------------
def _loss_make(ch, gen, x):
    if x.ndim == 0 or x.ndim > 3:
        return None
    c = x.shape[0] if x.ndim == 1 else x.shape[1]
    tshape = () if x.ndim == 1 else (x.shape[0],) + x.shape[2:]
    target = ch.rng.integers(0, c, size=tshape)
    ignore = -100
    if coin(ch, 40):
        ignore = ch.integers(0, c - 1)
        if np.all(target == ignore):
            return None   # a mean over no entries is NaN (as in PyTorch): not generated
    return {"target": target, "ignore_index": ignore,
            "reduction": choice(ch, ["mean", "sum", "none"])}, False


def _np_loss(logp, target, ignore_index, reduction):
    axis = 0 if logp.ndim == 1 else 1
    picked = np.take_along_axis(logp, np.expand_dims(np.where(target == ignore_index, 0,
                                                              target), axis), axis)
    losses = np.where(target == ignore_index, 0.0, -np.squeeze(picked, axis))
    if reduction == "none":
        return np.asarray(losses)
    total = np.sum(losses)
    return np.asarray(total / np.sum(target != ignore_index) if reduction == "mean" else total)


@op("cross_entropy")
def _():
    def np_run(x, target, ignore_index, reduction):
        axis = 0 if x.ndim == 1 else 1
        return _np_loss(scipy.special.log_softmax(x, axis=axis), target, ignore_index,
                        reduction)

    def mg_run(x, target, ignore_index, reduction):
        return mg.nn.functional.cross_entropy(x, target, ignore_index=ignore_index,
                                              reduction=reduction)

    def torch_run(x, target, ignore_index, reduction):
        return _torch().nn.functional.cross_entropy(x, _tt(target), ignore_index=ignore_index,
                                                    reduction=reduction)
    return _loss_make, np_run, mg_run, torch_run


@op("nll_loss")
def _():
    def mg_run(x, target, ignore_index, reduction):
        return mg.nn.functional.nll_loss(x, target, ignore_index=ignore_index,
                                         reduction=reduction)

    def torch_run(x, target, ignore_index, reduction):
        return _torch().nn.functional.nll_loss(x, _tt(target), ignore_index=ignore_index,
                                               reduction=reduction)
    return _loss_make, _np_loss, mg_run, torch_run


# added to the core later (8f8a6a7): sin, cos, remainder, cumsum, gather, scatter_add -------
@op("sin")
def _():
    return _always, np.sin, mg.sin, lambda x: x.sin()


@op("cos")
def _():
    return _always, np.cos, mg.cos, lambda x: x.cos()


@op("remainder", 2)
def _():
    # a % b jumps where a / b is an integer (in every mode: the jump is not a kink, a value
    # rounded either side of it differs by b); b kept away from 0.
    def make(ch, gen, a, b):
        if b.size and np.abs(b).min() < 0.2:
            return None
        q = np.broadcast_to(a, np.broadcast_shapes(a.shape, b.shape)) / b
        if q.size and np.abs(q - np.round(q)).min() < MARGIN:
            return None
        return {}, False
    return make, np.remainder, lambda a, b: a % b, lambda a, b: _torch().remainder(a, b)


@op("cumsum")
def _():
    def make(ch, gen, x):
        nd = max(x.ndim, 1)
        return {"dim": ch.integers(-nd, nd - 1)}, False
    return (make, lambda x, dim: x.copy() if x.ndim == 0 else np.cumsum(x, axis=dim),
            lambda x, dim: mg.cumsum(x, dim), lambda x, dim: _torch().cumsum(x, dim))


def _shrunk_shape(ch, shape):
    return tuple(ch.integers(1, s) for s in shape)


@op("gather")
def _():
    def make(ch, gen, x):
        if x.ndim == 0:
            return None
        d = ch.integers(-x.ndim, x.ndim - 1)
        shape = list(_shrunk_shape(ch, x.shape))
        shape[d] = ch.integers(1, 4)
        return {"dim": d, "index": ch.rng.integers(0, x.shape[d], size=shape)}, False

    def np_run(x, dim, index):
        d = dim % x.ndim
        part = x[tuple(slice(None) if k == d else slice(0, n) for k, n in enumerate(index.shape))]
        return np.take_along_axis(part, index, d)
    return (make, np_run, lambda x, dim, index: mg.gather(x, dim, index),
            lambda x, dim, index: _torch().gather(x, dim, _tt(index)))


@op("scatter_add", 2)
def _():
    # the generator makes src (x's shape, each dim shrunk); index has src's shape
    def make(ch, gen, x, src):
        if x.ndim == 0 or src.ndim != x.ndim or any(a > b for a, b in zip(src.shape, x.shape,
                                                                          strict=True)):
            return None
        d = ch.integers(-x.ndim, x.ndim - 1)
        return {"dim": d, "index": ch.rng.integers(0, x.shape[d], size=src.shape)}, False

    def np_run(x, src, dim, index):
        out = x.copy()
        where = list(np.indices(index.shape))
        where[dim % x.ndim] = index
        np.add.at(out, tuple(where), src)
        return out
    return (make, np_run, lambda x, src, dim, index: mg.scatter_add(x, dim, index, src),
            lambda x, src, dim, index: _torch().scatter_add(x, dim, _tt(index), src))


# which public primitive each catalog op reaches is checked by the test (every primitive
# declared in minigrad must be reached by the catalog, forward or backward).


# Bugs this fuzz found (each has a strict xfail in tests/test_fuzz_regressions.py). The test
# avoids them so that it stays green; the soak generates them (--with-found) and counts them.
# Remove a name when its bug is fixed.
FOUND = {}  # all three found so far are fixed (tests/test_fuzz_regressions.py)


# ---- the generator -------------------------------------------------------------------------
class Generator:
    """Builds one random graph; ``values`` are the numpy values of its nodes."""

    def __init__(self, ch, mode="smooth", max_steps=8, ops=None, avoid=None):
        self.ch, self.mode = ch, mode
        self.avoid = FOUND if avoid is None else avoid
        self.max_steps = max_steps
        self.op_names = list(ops or CATALOG)
        self.values = []
        self.int_nodes = set()   # max(dim)'s indices: compared, never fed to another op
        self.graph = Graph([], [], [], [], [], mode)
        self.join_dim = 0

    # leaves
    def random_shape(self, max_ndim=3, max_size=4, max_elements=24):
        nd = self.ch.integers(0, max_ndim)
        shape = [self.ch.integers(1, max_size) for _ in range(nd)]
        while math.prod(shape) > max_elements:
            shape[shape.index(max(shape))] -= 1
        return tuple(shape)

    def leaf(self, shape, grad=None):
        ch = self.ch
        if self.mode in ("ties", "grid"):
            values = ch.rng.integers(-3, 4, size=shape) * 0.5
        else:
            values = ch.rng.standard_normal(shape) * choice(ch, [0.5, 1.0, 2.0])
        values = np.ascontiguousarray(values, dtype=np.float64)
        self.graph.leaves.append(values)
        self.graph.leaf_ids.append(len(self.values))
        self.graph.grad_leaves.append(coin(ch, 85) if grad is None else grad)
        self.values.append(values)
        return len(self.values) - 1

    def usable(self):
        """Node ids whose values may feed another op (all but integer indices)."""
        return [i for i in range(len(self.values)) if i not in self.int_nodes]

    def second_operand(self, op, a):
        """A node to pair with node a: an existing one whose shape fits, or a new leaf."""
        ch, x = self.ch, self.values[a]
        if op == "matmul":
            return self._matmul_partner(x)
        if op == "scatter_add":
            return None if x.ndim == 0 else self.leaf(_shrunk_shape(ch, x.shape))
        if op == "linear":
            if x.ndim == 0:
                return None
            fits = [i for i in self.usable() if self.values[i].ndim == 2
                    and self.values[i].shape[1] == x.shape[-1]]
            if fits and coin(ch, 40):
                return choice(ch, fits)
            return self.leaf((ch.integers(1, 3), x.shape[-1]))
        if op == "concat":
            if x.ndim == 0:
                return None
            d = ch.integers(-x.ndim, x.ndim - 1)
            self.join_dim = d
            fits = [i for i in self.usable() if self.values[i].ndim == x.ndim and all(
                s == t for k, (s, t) in enumerate(zip(self.values[i].shape, x.shape,
                                                      strict=True)) if k != d % x.ndim)]
            if fits and coin(ch, 60):
                return choice(ch, fits)
            shape = list(x.shape)
            shape[d] = ch.integers(1, 3)
            return self.leaf(tuple(shape))
        if op == "stack":
            fits = [i for i in self.usable() if self.values[i].shape == x.shape]
            return choice(ch, fits) if fits and coin(ch, 60) else self.leaf(x.shape)
        fits = [i for i in self.usable() if _broadcasts(self.values[i].shape, x.shape)]
        if fits and coin(ch, 60):
            return choice(ch, fits)
        shape = [1 if coin(ch, 25) else s for s in x.shape][ch.integers(0, x.ndim):]
        if x.ndim < 3 and len(shape) == x.ndim and coin(ch, 20):
            shape = [ch.integers(1, 3)] + shape   # the result gains a leading dim
        return self.leaf(tuple(shape))

    def _matmul_partner(self, x):
        ch = self.ch
        if x.ndim == 0:
            return None
        k = x.shape[-1]
        fits = [i for i in self.usable()
                if self.values[i].ndim >= 1 and _matmul_ok(x, self.values[i])]
        if fits and coin(ch, 40):
            return choice(ch, fits)
        if coin(ch, 25):
            return self.leaf((k,))
        batch = [1 if coin(ch, 30) else s for s in x.shape[:-2]][ch.integers(0, 2):]
        if x.ndim <= 2 and coin(ch, 30):
            batch = [ch.integers(1, 3)]
        return self.leaf(tuple(batch) + (k, ch.integers(1, 3)))

    def step(self, name):
        """Try to add one ``name`` step; returns True when added."""
        ch, spec = self.ch, CATALOG[name]
        a = choice(ch, self.usable())
        args = (a,)
        if spec.arity == 2:
            b = self.second_operand(name, a)
            if b is None:
                return False
            args = (a, b) if coin(ch, 80) or name in ("concat", "matmul", "linear",
                                                      "scatter_add") else (b, a)
            if name == "linear" and coin(ch, 70):
                args += (self.leaf((self.values[b].shape[0],)),)   # the bias
        xs = [self.values[i] for i in args]
        made = spec.make(ch, self, *xs)
        if made is None:
            return False
        params, kink = made
        if kink and self.mode != "ties":
            return False
        with np.errstate(all="ignore"):
            try:
                out = spec.np_fn(*xs, **params)
            except (ValueError, IndexError):
                return False   # the generator asked numpy something impossible: try again
        outs = out if spec.multi else [out]
        outs = [np.asarray(o, dtype=np.float64) for o in outs]
        if any(o.size > MAX_ELEMENTS or (o.size and not np.all(np.abs(o) < MAX_ABS))
               for o in outs):
            return False
        ids = []
        for o in outs:
            self.values.append(o)
            ids.append(len(self.values) - 1)
        if name in ("max_dim", "min_dim") and params["which"] == 1:
            self.int_nodes.update(ids)
        self.graph.steps.append(Step(name, args, params, tuple(ids)))
        if kink:
            self.graph.kinks.append(name)
        if params.get("padding_idx") is not None:
            # by design (as in PyTorch) the padding row gets no gradient: not a derivative,
            # so central differences disagree; such graphs are compared with PyTorch only
            self.graph.conventions.append("embedding padding_idx")
        return True

    def build(self, first_op=None, n_steps=None):
        ch = self.ch
        for _ in range(ch.integers(1, 2)):
            self.leaf(self.random_shape())
        n_steps = ch.uniform(1, self.max_steps) if n_steps is None else n_steps
        tries = 0
        while len(self.graph.steps) < n_steps and tries < 20 * n_steps:
            tries += 1
            name = (first_op if first_op and not self.graph.steps else
                    self.op_names[ch.uniform(0, len(self.op_names) - 1)])
            if not self.step(name) and first_op and not self.graph.steps and tries % 5 == 0:
                self.leaf(self.random_shape())   # a fresh leaf the first op may accept
        produced = [o for s in self.graph.steps for o in s.outs]
        if not produced:
            return None
        used = {a for s in self.graph.steps for a in s.args}
        sinks = [o for o in produced if o not in used]   # every result nothing else reads
        self.graph.outputs = sinks[-4:] if sinks else [produced[-1]]
        if not any(self.graph.grad_leaves):
            self.graph.grad_leaves[0] = True
        return self.graph


def _broadcasts(s, t):
    try:
        np.broadcast_shapes(s, t)
        return True
    except ValueError:
        return False


def _matmul_ok(x, v):
    try:
        np.matmul(np.zeros(x.shape), np.zeros(v.shape))
        return True
    except ValueError:
        return False


def random_graph(ch, mode="smooth", max_steps=8, first_op=None, n_steps=None, ops=None,
                 avoid=None, dtype="float64"):
    """A random graph (or None when the draws led nowhere). avoid: the names in ``FOUND`` not
    to generate (default: all of them). dtype: of the leaves (float32: no central
    differences, looser tolerances)."""
    graph = Generator(ch, mode, max_steps, ops=ops, avoid=avoid).build(first_op, n_steps)
    if graph is not None:
        graph.dtype = dtype
    return graph


# ---- running and checking ------------------------------------------------------------------
def run(graph, lib, leaves):
    """Run the program on ``leaves`` (tensors of library ``lib``: "mg" or "torch"); returns the
    list of every node."""
    nodes = _place_leaves(graph, leaves)
    for s in graph.steps:
        spec = CATALOG[s.op]
        fn = spec.mg_fn if lib == "mg" else spec.torch_fn
        out = fn(*[nodes[i] for i in s.args], **s.params)
        _place(nodes, s, out if spec.multi else [out])
    return nodes


def _place_leaves(graph, leaves):
    nodes = {}
    for i, leaf in zip(graph.leaf_ids, leaves, strict=True):
        nodes[i] = leaf
    return nodes


def _place(nodes, step, outs):
    if len(outs) != len(step.outs):
        raise AssertionError(f"{step.op} gave {len(outs)} results, expected {len(step.outs)}")
    for i, o in zip(step.outs, outs, strict=True):
        nodes[i] = o


def mg_leaves(graph):
    return [mg.tensor(v.astype(graph.dtype), requires_grad=g)
            for v, g in zip(graph.leaves, graph.grad_leaves, strict=True)]


def torch_leaves(graph):
    torch = _torch()
    dt = getattr(torch, graph.dtype)
    return [torch.tensor(v.copy(), dtype=dt, requires_grad=g)
            for v, g in zip(graph.leaves, graph.grad_leaves, strict=True)]


def mg_fn(graph):
    """The graph as a function of its leaves, for gradcheck: returns its outputs."""
    def fn(*leaves):
        nodes = run(graph, "mg", leaves)
        return tuple(nodes[o] for o in graph.outputs)
    return fn


def output_shapes(graph):
    """The outputs' shapes, from the numpy program (cheap)."""
    return [v.shape for v in numpy_values(graph)]


def numpy_values(graph):
    values = _place_leaves(graph, graph.leaves)
    for s in graph.steps:
        spec = CATALOG[s.op]
        with np.errstate(all="ignore"):
            out = spec.np_fn(*[values[i] for i in s.args], **s.params)
        _place(values, s, out if spec.multi else [out])
    return [np.asarray(values[o], dtype=np.float64) for o in graph.outputs]


@dataclasses.dataclass
class Mismatch:
    kind: str        # value-numpy, value-torch, grad-torch, grad2-torch, gradcheck,
                     # gradgradcheck, error-mg (only minigrad raised), error-torch, error-both
    detail: str

    def __str__(self):
        return f"{self.kind}: {self.detail}"


def _close(a, b, rtol, atol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return f"shapes {a.shape} vs {b.shape}"
    if a.size == 0:
        return None
    scale = max(1.0, float(np.max(np.abs(b))) if np.all(np.isfinite(b)) else 1.0)
    bad = ~np.isclose(a, b, rtol=rtol, atol=atol * scale, equal_nan=True)
    if not bad.any():
        return None
    k = np.unravel_index(int(np.argmax(bad)), a.shape)
    return (f"{int(bad.sum())} of {bad.size} entries differ; at {tuple(int(i) for i in k)}: "
            f"{a[k]!r} vs {b[k]!r}")


def _mg_grads(graph, leaves, outs, vs, create_graph):
    gl = [t for t, g in zip(leaves, graph.grad_leaves, strict=True) if g]
    live = [(o, v) for o, v in zip(outs, vs, strict=True) if o.requires_grad]
    if not live:
        return gl, [None] * len(gl), None
    total = sum((o * mg.tensor(v, dtype=o.dtype)).sum() for o, v in live)
    gs = mg.grad(total, gl, create_graph=create_graph, allow_unused=True)
    return gl, list(gs), total


def mg_derivatives(graph, vs, ws):
    """minigrad's outputs, first derivatives of sum(v * out) and second derivatives of
    sum(w * those) w.r.t. the grad leaves, as numpy arrays (zeros where unused)."""
    leaves = mg_leaves(graph)
    nodes = run(graph, "mg", leaves)
    outs = [nodes[o] for o in graph.outputs]
    gl, gs, _ = _mg_grads(graph, leaves, outs, vs, create_graph=True)
    first = [np.zeros(t.shape, t.dtype) if g is None else g.numpy().copy()
             for t, g in zip(gl, gs, strict=True)]
    live = [(g, w) for g, w in zip(gs, ws, strict=True) if g is not None and g.requires_grad]
    if live:
        total = sum((g * mg.tensor(w, dtype=g.dtype)).sum() for g, w in live)
        hs = mg.grad(total, gl, allow_unused=True)
    else:
        hs = [None] * len(gl)
    second = [np.zeros(t.shape, t.dtype) if h is None else h.numpy().copy()
              for t, h in zip(gl, hs, strict=True)]
    # the plain first-order path (no graph recorded in backward: other rules, e.g. getitem's
    # partial gradients), on a fresh run
    leaves = mg_leaves(graph)
    nodes = run(graph, "mg", leaves)
    gl, gs, _ = _mg_grads(graph, leaves, [nodes[o] for o in graph.outputs], vs, False)
    plain = [np.zeros(t.shape, t.dtype) if g is None else g.numpy().copy()
             for t, g in zip(gl, gs, strict=True)]
    return [o.numpy().copy() for o in outs], first, second, [str(o.dtype) for o in outs], plain


def _torch_np(t):
    """A torch tensor's values; its autograd's zero tensors (abs'' is one) segfault in
    .numpy(force=True) (PyTorch 2.13), so they are made here."""
    if t._is_zerotensor():
        return np.zeros(tuple(t.shape))
    return t.detach().numpy().copy()


def torch_derivatives(graph, vs, ws):
    torch = _torch()
    leaves = torch_leaves(graph)
    nodes = run(graph, "torch", leaves)
    outs = [nodes[o] for o in graph.outputs]
    gl = [t for t, g in zip(leaves, graph.grad_leaves, strict=True) if g]
    live = [(o, v) for o, v in zip(outs, vs, strict=True) if o.requires_grad]
    if live:
        total = sum((o * torch.tensor(v, dtype=o.dtype)).sum() for o, v in live)
        gs = torch.autograd.grad(total, gl, create_graph=True, allow_unused=True)
    else:
        gs = [None] * len(gl)
    first = [np.zeros(t.shape) if g is None else _torch_np(g)
             for t, g in zip(gl, gs, strict=True)]
    live = [(g, w) for g, w in zip(gs, ws, strict=True) if g is not None and g.requires_grad]
    if live:
        total = sum((g * torch.tensor(w, dtype=g.dtype)).sum() for g, w in live)
        hs = torch.autograd.grad(total, gl, allow_unused=True)
    else:
        hs = [None] * len(gl)
    second = [np.zeros(t.shape) if h is None else _torch_np(h)
              for t, h in zip(gl, hs, strict=True)]
    return ([_torch_np(o) for o in outs], first, second,
            [str(o.dtype).replace("torch.", "") for o in outs])


def _attempt(fn):
    try:
        return fn(), None
    except Exception as err:  # noqa: BLE001 - every error is a finding here
        return None, f"{type(err).__name__}: {err}"


def _dtype_checks(graph, ours):
    """Every float output in the graph's dtype, every gradient in its leaf's dtype (README:
    a gradient always has the dtype of its tensor; scalars never widen a tensor)."""
    found = []
    for k, dt in enumerate(ours[3]):
        if dt not in (graph.dtype, "int64"):
            found.append(Mismatch("dtype", f"output {k} is {dt}, the graph is {graph.dtype}"))
    for kind, arrays in (("gradient", ours[1]), ("second derivative", ours[2])):
        for k, a in enumerate(arrays):
            if a.dtype != np.dtype(graph.dtype):
                found.append(Mismatch("dtype", f"{kind} of leaf {k} is {a.dtype}, the leaf is "
                                               f"{graph.dtype}"))
    return found


def check_graph(graph, with_torch=False, central=True, numpy_check=True, rtol=1e-9,
                atol=1e-11):
    """All the checks of one graph; returns a list of ``Mismatch`` (empty: all agree).

    numpy_check: minigrad's outputs against the numpy program; with_torch: outputs, first and
    second derivatives against PyTorch's; central: ``mg.gradcheck`` and ``mg.gradgradcheck``
    (float64 central differences; only meaningful on smooth graphs).
    """
    found = []
    if graph.dtype == "float32":
        rtol, atol = max(rtol, 2e-3), max(atol, 2e-4)   # float32: rounding, loosely
    grad_shapes = [v.shape for v, g in zip(graph.leaves, graph.grad_leaves, strict=True) if g]
    rng = np.random.default_rng(len(graph.steps))
    vs = [rng.standard_normal(s) for s in output_shapes(graph)]
    ws = [rng.standard_normal(s) for s in grad_shapes]
    ours, err_mg = _attempt(lambda: mg_derivatives(graph, vs, ws))
    if ours is not None:
        found += _dtype_checks(graph, ours)
        for k, (a, b) in enumerate(zip(ours[4], ours[1], strict=True)):
            msg = _close(a, b, rtol, atol)
            if msg:   # the two first-order paths of minigrad disagree (needs no reference)
                found.append(Mismatch("grad-paths", f"leaf {k}: plain vs create_graph: {msg}"))
    if numpy_check and ours is not None:
        for k, (a, b) in enumerate(zip(ours[0], numpy_values(graph), strict=True)):
            msg = _close(a, b, max(rtol * 10, 1e-8), max(atol * 10, 1e-10))
            if msg:
                found.append(Mismatch("value-numpy", f"output {k}: {msg}"))
    if with_torch:
        theirs, err_torch = _attempt(lambda: torch_derivatives(graph, vs, ws))
        if err_mg and err_torch:
            found.append(Mismatch("error-both", f"minigrad {err_mg}; torch {err_torch}"))
        elif err_mg:
            found.append(Mismatch("error-mg", err_mg))
        elif err_torch:
            found.append(Mismatch("error-torch", err_torch))
        else:
            if ours[3] != theirs[3]:
                found.append(Mismatch("dtype-torch", f"outputs {ours[3]} vs {theirs[3]}"))
            pairs = [("value-torch", ours[0], theirs[0]), ("grad-torch", ours[1], theirs[1])]
            if not graph.torch_grad2_defects:
                pairs.append(("grad2-torch", ours[2], theirs[2]))
            for kind, a_list, b_list in pairs:
                for k, (a, b) in enumerate(zip(a_list, b_list, strict=True)):
                    msg = _close(a, b, rtol, atol)
                    if msg:
                        found.append(Mismatch(kind, f"{'output' if kind[0] == 'v' else 'leaf'}"
                                                    f" {k}: {msg}"))
    elif err_mg:
        found.append(Mismatch("error-mg", err_mg))
    if central and graph.central_ok and not err_mg:
        for kind, check in (("gradcheck", mg.gradcheck), ("gradgradcheck", mg.gradgradcheck)):
            try:
                check(mg_fn(graph), tuple(mg_leaves(graph)))
            except mg.GradcheckError as err:
                found.append(Mismatch(kind, str(err)))
            except Exception as err:  # noqa: BLE001
                found.append(Mismatch("error-mg", f"{kind}: {type(err).__name__}: {err}"))
    return found

