"""Every backward rule against ``sympy.diff`` of the same primitive's symbolic rule.

For a primitive ``p`` with inputs ``x_i`` and a random cotangent ``v``, the engine's vector-Jacobian
product (``mg.grad`` of ``p``'s output with ``grad_outputs=v``) must equal the sympy gradient of
``L = sum(v * p.symbolic(X))`` at the same point, and the engine's second derivative (``grad`` of
``sum(u * grad_x)`` through ``create_graph=True``) must equal the sympy gradient of
``sum(u * dL/dX)``. Both sides are compared in float64 through ``lambdify``; the error reported is
the worst entry's distance relative to the largest entry (``max|a - b| / max|b|``).

The sample points live in ``SAMPLES``: name -> function(rng) -> ``(args, params)``, where args are
numpy arrays (float arrays are differentiated unless the primitive declares them
non-differentiable). Ops declared outside the core register theirs with ``register_sample``.
"""

import dataclasses

import numpy as np
import sympy

from ..autograd import grad
from ..primitive import REGISTRY, bind
from ..tensor import Tensor
from .trace import symbols_like

SAMPLES = {}


def register_sample(name):
    """Decorator: ``fn(rng) -> (args, params)`` gives the random point at which op ``name``'s
    backward rule is checked (keep it small: a few elements per input, away from kinks)."""
    def deco(fn):
        SAMPLES[name] = fn
        return fn
    return deco


def _normal(rng, *shape):
    return rng.standard_normal(shape)


def _positive(rng, *shape):
    return rng.uniform(0.5, 2.0, shape)


def _away_from_zero(rng, *shape):
    return rng.uniform(0.3, 1.5, shape) * rng.choice([-1.0, 1.0], shape)


def _unary(draw=_normal, size=(2, 3), **params):
    return lambda rng: ([draw(rng, *size)], dict(params))


def _binary(draw_a=_normal, draw_b=_normal, sa=(2, 3), sb=(3,), **params):
    return lambda rng: ([draw_a(rng, *sa), draw_b(rng, *sb)], dict(params))


for _name, _fn in {
    "add": _binary(), "sub": _binary(sa=(3,), sb=(2, 3)), "mul": _binary(),
    "div": _binary(draw_b=_away_from_zero, sa=(2, 1), sb=(2, 3)),
    "pow": _binary(draw_a=_positive, sa=(2, 3), sb=(3,)),
    "pow_scalar": _unary(_positive, exponent=2.5),
    "neg": _unary(), "exp": _unary(), "log": _unary(_positive), "sqrt": _unary(_positive),
    "abs": _unary(_away_from_zero), "tanh": _unary(), "sigmoid": _unary(),
    "sin": _unary(), "cos": _unary(),
    "relu": _unary(_away_from_zero), "leaky_relu": _unary(_away_from_zero, negative_slope=0.1),
    "softplus": _unary(beta=2.0), "cast": _unary(dtype=np.dtype(np.float64)),
    "tanh_backward": _binary(sa=(2, 3), sb=(2, 3)),
    "sigmoid_backward": _binary(sa=(2, 3), sb=(2, 3)),
    "leaky_relu_backward": _binary(draw_b=_away_from_zero, sa=(2, 3), sb=(2, 3),
                                   negative_slope=0.2),
    "maximum": _binary(sa=(2, 3), sb=(3,)), "minimum": _binary(sa=(2, 3), sb=(2, 3)),
    "matmul": _binary(sa=(2, 2, 3), sb=(3, 2)),
    "sum": _unary(size=(2, 3, 2), dims=(0, 2), keepdim=False),
    "sum_to": _unary(size=(2, 3, 2), shape=(1, 3, 1)),
    "amax": _unary(size=(2, 3), dims=(1,), keepdim=True),
    "amin": _unary(size=(2, 3), dims=(0,), keepdim=False),
    "logsumexp": _unary(size=(2, 3), dims=(1,), keepdim=False),
    "var": _unary(size=(2, 3), dims=(1,), keepdim=False, correction=1, all_dims=False),
    "std": _unary(size=(2, 3), dims=(0, 1), keepdim=True, correction=0.5, all_dims=True),
    "softmax": _unary(size=(2, 3), dim=1), "log_softmax": _unary(size=(2, 3), dim=0),
    "softmax_backward": _binary(sa=(2, 3), sb=(2, 3), dim=1),
    "reshape": _unary(size=(2, 3), shape=(3, 2)),
    "permute": _unary(size=(2, 3, 2), dims=(2, 0, 1)),
    "expand": _unary(size=(1, 3), shape=(2, 3)),
}.items():
    SAMPLES[_name] = _fn


@register_sample("clamp")
def _clamp_sample(rng):
    x = rng.choice([-1.0, 1.0], (2, 3)) * rng.uniform(0.1, 0.9, (2, 3))
    x[0, 0], x[1, 2] = -1.7, 1.9  # outside on both sides
    return [x], {"min": -1.2, "max": 1.3}


@register_sample("where")
def _where_sample(rng):
    cond = np.array([[True, False, True], [False, False, True]])
    return [cond, _normal(rng, 2, 3), _normal(rng, 3)], {}


@register_sample("getitem")
def _getitem_sample(rng):
    return [_normal(rng, 3, 4)], {"index": (np.array([0, 2, 0]), slice(1, 3))}


@register_sample("index_scatter")
def _index_scatter_sample(rng):
    return [_normal(rng, 3, 2)], {"shape": (3, 4), "index": (np.array([0, 2, 0]), slice(1, 3))}


@register_sample("index_put")
def _index_put_sample(rng):
    return [_normal(rng, 3, 4), _normal(rng, 2)], {"index": (np.array([0, 2]), slice(1, 3))}


def _extreme_dim_sample(arg):
    def sample(rng):
        x = rng.permutation(6).reshape(2, 3) * 0.5 - 1.0  # no ties
        return [x], {"dim": 1, "keepdim": False, "index": arg(x, axis=1)}
    return sample


register_sample("max_dim")(_extreme_dim_sample(np.argmax))
register_sample("min_dim")(_extreme_dim_sample(np.argmin))


@register_sample("concat")
def _concat_sample(rng):
    return [_normal(rng, 2, 1), _normal(rng, 2, 2), _normal(rng, 2, 1)], {"dim": 1}


@register_sample("embedding")
def _embedding_sample(rng):
    return [_normal(rng, 4, 2)], {"indices": np.array([[0, 3], [3, 1]]), "padding_idx": None}


@register_sample("embedding_backward")
def _embedding_backward_sample(rng):
    return [_normal(rng, 2, 2, 3)], {"num_rows": 4, "indices": np.array([[0, 3], [3, 1]]),
                                     "padding_idx": 1}


@register_sample("log_softmax_backward")
def _log_softmax_backward_sample(rng):
    return [_normal(rng, 2, 3), rng.uniform(-3.0, -0.1, (2, 3))], {"dim": 1}


_TARGET = np.array([2, -1, 0])  # three rows, the second ignored


def _class_loss_samples(grad_shape=None):
    def sample(rng):
        cases = []
        for reduction in ("mean", "sum", "none"):
            params = {"target": _TARGET, "ignore_index": -1, "reduction": reduction,
                      "count": 2}
            args = [_normal(rng, 3, 4)]
            if grad_shape is not None:
                args = [_normal(rng, *((3,) if reduction == "none" else ()))] + (
                    args if grad_shape == "x" else [])
                if grad_shape == "classes":
                    params["num_classes"] = 4
            cases.append((args, params))
        return cases
    return sample


register_sample("nll_loss")(_class_loss_samples())
register_sample("cross_entropy")(_class_loss_samples())
register_sample("nll_loss_backward")(_class_loss_samples("classes"))
register_sample("cross_entropy_backward")(_class_loss_samples("x"))


@register_sample("remainder")
def _remainder_sample(rng):
    b = np.array([0.7, -1.3, 1.1])
    return [b * (rng.integers(-2, 3, (2, 3)) + rng.uniform(0.2, 0.8, (2, 3))), b], {}


@register_sample("cumsum")
def _cumsum_sample(rng):
    return [([_normal(rng, 2, 3)], {"dim": 1, "reverse": False}),
            ([_normal(rng, 3, 2)], {"dim": 0, "reverse": True})]


_GATHER_INDEX = np.array([[0, 2, 2], [1, 0, 2]])


@register_sample("gather")
def _gather_sample(rng):
    return [_normal(rng, 2, 3)], {"dim": 1, "index": _GATHER_INDEX}


@register_sample("scatter_add")
def _scatter_add_sample(rng):
    return [_normal(rng, 2, 3)], {"shape": (3, 3), "dim": 0, "index": _GATHER_INDEX}


@register_sample("linear")
def _linear_sample(rng):
    return [([_normal(rng, 2, 3), _normal(rng, 4, 3), _normal(rng, 4)], {}),
            ([_normal(rng, 2, 3), _normal(rng, 4, 3)], {})]


@dataclasses.dataclass
class RuleCheck:
    """The outcome of one primitive's check: the worst relative errors of the forward value
    (symbolic rule vs forward rule), first and second derivatives (``nan`` where not
    applicable, see ``note``: no differentiable input, a first-order-only kernel, a backward
    kernel that refuses to be differentiated) and whether all pass."""

    op: str
    value: float
    first: float
    second: float
    tol: float
    note: str = ""

    @property
    def passed(self):
        return all(np.isnan(e) or e <= self.tol for e in (self.first, self.second)) and (
            self.value <= self.tol)


def _rel_error(a, b):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        return np.inf
    if not a.size:
        return 0.0
    scale = np.max(np.abs(b))
    err = np.max(np.abs(a - b))
    if not np.isfinite(err):
        return np.inf
    return float(err / scale) if scale > 0 else float(err)


def _cases(sample):
    """A sample gives one ``(args, params)`` case or a list of them."""
    return sample if isinstance(sample, list) else [sample]


def check_rule(name, seed=0, tol=1e-12):
    """Check op ``name``: its symbolic rule against its forward rule at the sample point, and
    its backward rule (first and, through ``create_graph=True``, second derivatives) against
    ``sympy.diff`` of the symbolic rule. An op whose backward refuses to be differentiated
    (first-order-only fused kernels) gets ``second = nan`` and a note.

    Returns a ``RuleCheck`` (the worst over the sample's cases); raises ``KeyError`` when the op
    has no sample point and ``NotImplementedError`` when it has no symbolic rule.
    """
    prim = REGISTRY[name]
    if prim.symbolic is None:
        raise NotImplementedError(f"check_rule: op {name!r} (declared in {prim.module}) has no "
                                  "symbolic rule")
    if name not in SAMPLES:
        raise KeyError(f"check_rule: no sample point for op {name!r} (declared in "
                       f"{prim.module}); add one with minigrad.symbolic.register_sample")
    rng = np.random.default_rng(seed)
    results = [_check_case(prim, args, params, rng, tol)
               for args, params in _cases(SAMPLES[name](rng))]
    worst = [max((r[k] for r in results), key=lambda e: -1.0 if np.isnan(e) else e)
             for k in range(3)]
    notes = sorted({r[3] for r in results if r[3]})
    return RuleCheck(name, *worst, tol, "; ".join(notes))


def _check_case(prim, args, params, rng, tol):
    args = [np.asarray(a) for a in args]
    diff = [i for i, a in enumerate(args)
            if a.dtype.kind == "f" and i not in prim.nondiff_inputs]
    tensors = [Tensor(a, dtype=a.dtype, requires_grad=i in diff) for i, a in enumerate(args)]
    out = bind(prim, *tensors, **params)
    # ---- symbolic side: symbols for the differentiable inputs, the cotangents and the
    # second-order directions; exact constants for the rest.
    sym_args = [symbols_like(a.shape, f"x{i}") if i in diff else _constant(a)
                for i, a in enumerate(args)]
    sym_out = np.asarray(prim.symbolic(*sym_args, **params), dtype=object)
    if sym_out.size != out._array.size:
        raise ValueError(f"check_rule: op {prim.name!r}: symbolic output of shape "
                         f"{sym_out.shape}, engine output of shape {out.shape}")
    variables = [s for i in diff for s in sym_args[i].reshape(-1)]
    point = [x for i in diff for x in args[i].reshape(-1)]
    value = fast_lambdify(variables, [_drop_delta(sympy.sympify(e))
                                      for e in sym_out.reshape(-1)])
    value_err = _rel_error(np.array(value(*point), dtype=np.float64).reshape(out.shape),
                           out._array)
    if not diff or not out.requires_grad:
        return value_err, np.nan, np.nan, "no differentiable input"
    v = rng.standard_normal(out.shape)
    u = {i: rng.standard_normal(args[i].shape) for i in diff}
    ins = [tensors[i] for i in diff]
    try:
        g1 = grad(out, ins, grad_outputs=Tensor(v), retain_graph=True, allow_unused=True)
    except RuntimeError as err:  # the backward of a backward kernel: only its value is checked
        return value_err, np.nan, np.nan, f"not differentiable ({str(err).split(';')[0]})"
    try:
        g1_graph = grad(out, ins, grad_outputs=Tensor(v), create_graph=True, allow_unused=True)
        note = ""
    except RuntimeError as err:  # a first-order-only kernel: no second derivatives to check
        g1_graph, note = None, f"first order only ({str(err).split(';')[0]})"
    v_sym = symbols_like(out.shape, "v")
    u_sym = {i: symbols_like(args[i].shape, f"u{i}") for i in diff}
    loss = sympy.Add(*[a * b for a, b in zip(v_sym.reshape(-1), sym_out.reshape(-1), strict=True)])
    first = {i: [sympy.diff(loss, s) for s in sym_args[i].reshape(-1)] for i in diff}
    # The points avoid kinks, where the distributional DiracDelta terms of d|x|, dMax, ... vanish.
    rows = [[_drop_delta(e) for e in first[i]] for i in diff]
    variables += list(v_sym.reshape(-1))
    point += list(v.reshape(-1))
    if g1_graph is not None:
        inner = sympy.Add(*[u * g for i in diff
                            for u, g in zip(u_sym[i].reshape(-1), first[i], strict=True)])
        rows += [[_drop_delta(sympy.diff(inner, s)) for s in sym_args[i].reshape(-1)]
                 for i in diff]
        variables += [s for i in diff for s in u_sym[i].reshape(-1)]
        point += [x for i in diff for x in u[i].reshape(-1)]
    evaluate = fast_lambdify(variables, rows)
    sym_values = [np.array(row, dtype=np.float64) for row in evaluate(*point)]
    err1 = max(_rel_error(_numbers(g, args[i]), s.reshape(args[i].shape))
               for g, i, s in zip(g1, diff, sym_values[:len(diff)], strict=True))
    if g1_graph is None:
        return value_err, err1, np.nan, note
    total = None
    for gi, i in zip(g1_graph, diff, strict=True):
        if gi is not None and gi.requires_grad:
            term = (gi * Tensor(u[i])).sum()
            total = term if total is None else total + term
    g2 = grad(total, ins, allow_unused=True) if total is not None else [None] * len(diff)
    err2 = max(_rel_error(_numbers(g, args[i]), s.reshape(args[i].shape))
               for g, i, s in zip(g2, diff, sym_values[len(diff):], strict=True))
    return value_err, err1, err2, ""


def fast_lambdify(variables, exprs):
    """``sympy.lambdify`` to numpy with common subexpressions shared (``cse=True``) and terms
    printed in stored order: derivatives of unrolled graphs repeat subtrees, which otherwise
    dominate the printing time."""
    from sympy.printing.numpy import NumPyPrinter

    printer = NumPyPrinter({"order": "none", "fully_qualified_modules": False})
    # A condition ``ITE(c, a, b)`` (sympy makes one when a Piecewise condition holds a
    # Piecewise, as nested ReLUs do) prints as numpy ``select(..., default=nan)``, a float
    # array, once common subexpressions take it out of its Piecewise; as (c & a) | (~c & b)
    # it stays boolean.
    def boolean_ite(e):
        if isinstance(e, (list, tuple)):
            return [boolean_ite(x) for x in e]
        e = sympy.sympify(e)
        return e.replace(lambda n: isinstance(n, sympy.ITE), lambda n: n.to_nnf())

    exprs = boolean_ite(exprs)
    return sympy.lambdify(variables, exprs, modules="numpy", cse=True, printer=printer)


def _drop_delta(expr):
    return expr.replace(sympy.DiracDelta, lambda *args: sympy.Integer(0))


def _numbers(g, like):
    return np.zeros(like.shape) if g is None else g._array.astype(np.float64)


def _constant(array):
    from ..ops.sym import sym_constant
    return sym_constant(array)


def check_all_rules(seed=0, tol=1e-12, names=None):
    """``check_rule`` for every registered primitive (or ``names``), in registry order; an op
    that cannot be checked (no symbolic rule, no sample, an error) gets a failing row whose
    note says why."""
    out = []
    for name in names or list(REGISTRY):
        try:
            out.append(check_rule(name, seed=seed, tol=tol))
        except Exception as err:  # reported, not raised: verify lists every op
            out.append(RuleCheck(name, np.inf, np.inf, np.inf, tol,
                                 f"{type(err).__name__}: {err}"))
    return out
