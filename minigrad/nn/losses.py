"""Class-index losses as primitives: ``nll_loss`` (a gather of the target entries, no one-hot)
and ``cross_entropy`` (log_softmax and the negative log-likelihood fused: one row kernel
forward, one backward), each with a backward primitive whose own backward is written in Tensor
ops (so ``create_graph=True`` works).

All work on rows: x (R, C) scores, target (R,) int64 class indices; an entry whose target is
``ignore_index`` contributes nothing, and the mean is over the others (NaN when none is left,
as in PyTorch). ``nn.functional`` validates and reshapes (N, C, d1, ...) inputs to rows.
"""

import numpy as np

from ..kernels import softmax as softmax_kern
from ..ops import elementwise as ew
from ..ops import reduce as red
from ..ops import shape as sh
from ..primitive import Primitive, bind
from ..tensor import Tensor

REDUCTIONS = ("mean", "sum", "none")


def _reduce_rows(losses, reduction, count):
    """losses (R,) -> () for "mean" / "sum", unchanged for "none" (arrays)."""
    if reduction == "none":
        return losses
    total = np.sum(losses, dtype=np.float64)
    if reduction == "mean":
        total = total / count if count else np.nan
    return np.asarray(total, dtype=losses.dtype)


def _row_weights(g, keep, reduction, count, dtype):
    """What each row's gradient is scaled by: g (() or (R,)) times 1/count for "mean", zero for
    ignored rows. Returns (R,) of ``dtype``."""
    scale = np.asarray(g, dtype=np.float64)
    if reduction == "mean":
        scale = scale / count if count else scale * np.nan
    return np.where(keep, scale, 0.0).astype(dtype)


def _keep(target, ignore_index):
    return target != ignore_index


def _rows_symbolic(x, target, ignore_index, reduction, count, row_loss):
    """Object-array version of the reductions for the symbolic rules."""
    import sympy
    losses = np.empty(x.shape[0], dtype=object)
    for r in range(x.shape[0]):
        t = int(target[r])
        losses[r] = sympy.Integer(0) if t == ignore_index else row_loss(x[r], t)
    if reduction == "none":
        return losses
    total = sympy.Add(*losses) if losses.size else sympy.Integer(0)
    if reduction == "mean":
        total = total / count if count else sympy.nan
    return np.asarray(total, dtype=object)


# ---- nll_loss ------------------------------------------------------------------------------------
nll_loss_p = Primitive("nll_loss")


@nll_loss_p.def_forward
def _nll_forward(x, target, ignore_index, reduction, count):
    keep = _keep(target, ignore_index)
    picked = x[np.arange(x.shape[0]), np.where(keep, target, 0)] if x.shape[1] else (
        np.zeros(x.shape[0], x.dtype))
    losses = np.where(keep, -picked, x.dtype.type(0)).astype(x.dtype)
    return _reduce_rows(losses, reduction, count)


nll_loss_p.def_backward(lambda ctx, g: (bind(
    nll_loss_backward_p, g, num_classes=ctx.inputs[0].shape[1], **ctx.params),))
nll_loss_p.def_backward_arrays(lambda ctx, g: (nll_loss_backward_p.forward(
    g, num_classes=ctx.inputs[0]._array.shape[1], **ctx.params),))


@nll_loss_p.def_symbolic
def _nll_symbolic(x, target, ignore_index, reduction, count):
    return _rows_symbolic(x, target, ignore_index, reduction, count, lambda row, t: -row[t])


nll_loss_backward_p = Primitive("nll_loss_backward")


@nll_loss_backward_p.def_forward
def _nll_backward_forward(g, target, ignore_index, reduction, count, num_classes):
    keep = _keep(target, ignore_index)
    w = _row_weights(g, keep, reduction, count, g.dtype)
    out = np.zeros((target.shape[0], num_classes), dtype=g.dtype)
    rows = np.nonzero(keep)[0]
    out[rows, target[rows]] = -w[rows]
    return out


@nll_loss_backward_p.def_backward
def _nll_backward_backward(ctx, gg):
    # nll_loss_backward is the transpose of nll_loss (a linear map): its transpose is nll_loss.
    params = {k: v for k, v in ctx.params.items() if k != "num_classes"}
    return (bind(nll_loss_p, gg, **params),)


@nll_loss_backward_p.def_symbolic
def _nll_backward_symbolic(g, target, ignore_index, reduction, count, num_classes):
    import sympy
    out = np.full((target.shape[0], num_classes), sympy.Integer(0), dtype=object)
    for r in range(target.shape[0]):
        t = int(target[r])
        if t != ignore_index:
            w = g if reduction != "none" else g[r]
            w = w.item() if isinstance(w, np.ndarray) else w
            out[r, t] = -(w / count if reduction == "mean" else w)
    return out


# ---- cross_entropy -------------------------------------------------------------------------------
cross_entropy_p = Primitive("cross_entropy", has_residuals=True)


@cross_entropy_p.def_forward
def _cross_entropy_forward(x, target, ignore_index, reduction, count):
    """Returns (loss, softmax(x)): the probabilities are what the backward needs."""
    losses, probs = _cross_entropy_rows(x, target, ignore_index)
    return _reduce_rows(losses, reduction, count), probs


def _cross_entropy_rows(x, target, ignore_index):
    xc = np.ascontiguousarray(x)
    losses = np.empty(x.shape[0], dtype=x.dtype)
    probs = np.empty(x.shape, dtype=x.dtype)
    if x.size and x.dtype.char in "fd":
        softmax_kern.cross_entropy_rows(xc, target, ignore_index, losses, probs)
        return losses, probs
    # empty rows (C = 0: every target is ignored), or other dtypes: numpy
    keep = _keep(target, ignore_index)
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.max(x, axis=1, keepdims=True) if x.size else np.zeros((x.shape[0], 1), x.dtype)
        m = np.where(np.isfinite(m), m, 0)
        e = np.exp(x - m)
        s = np.sum(e, axis=1, keepdims=True)
        probs[...] = e / s
        lse = (np.log(s) + m)[:, 0]
    picked = x[np.arange(x.shape[0]), np.where(keep, target, 0)] if x.shape[1] else lse
    losses[...] = np.where(keep, lse - picked, 0)
    return losses, probs


@cross_entropy_p.def_backward
def _cross_entropy_backward(ctx, g):
    return (bind(cross_entropy_backward_p, g, ctx.inputs[0], probs=ctx.saved, **ctx.params),)


@cross_entropy_p.def_backward_arrays
def _cross_entropy_backward_arrays(ctx, g):
    return (cross_entropy_backward_p.forward(g, ctx.inputs[0]._array, probs=ctx.saved,
                                             **ctx.params),)


@cross_entropy_p.def_symbolic
def _cross_entropy_symbolic(x, target, ignore_index, reduction, count):
    import sympy

    def row_loss(row, t):
        return sympy.log(sympy.Add(*[sympy.exp(v) for v in row])) - row[t]
    return _rows_symbolic(x, target, ignore_index, reduction, count, row_loss)


cross_entropy_backward_p = Primitive("cross_entropy_backward")


@cross_entropy_backward_p.def_forward
def _cross_entropy_backward_forward(g, x, target, ignore_index, reduction, count, probs=None):
    """(g * weights) * (softmax(x) - onehot(target)) per row. probs: softmax(x) when the
    forward saved it."""
    if probs is None:
        probs = _cross_entropy_rows(x, target, ignore_index)[1]
    keep = _keep(target, ignore_index)
    w = _row_weights(g, keep, reduction, count, x.dtype)
    out = np.empty(x.shape, dtype=x.dtype)
    if x.size and x.dtype.char in "fd":
        softmax_kern.cross_entropy_backward_rows(probs, target, ignore_index, w, out)
        return out
    np.multiply(probs, w[:, None], out=out)
    rows = np.nonzero(keep)[0]
    out[rows, target[rows]] -= w[rows]
    return out


@cross_entropy_backward_p.def_backward
def _cross_entropy_backward_backward(ctx, gg):
    g, x = ctx.inputs
    params = {k: v for k, v in ctx.params.items() if k != "probs"}
    reduction, count = params["reduction"], params["count"]
    keep = _keep(params["target"], params["ignore_index"]).astype(x.dtype)
    scale = 1.0 / count if reduction == "mean" and count else 1.0
    p = red.softmax(x, dim=1)
    grad_g = grad_x = None
    if ctx.needs_input_grad[0]:
        # d/dg of g * w_r (p_r - onehot_r): sum_c gg (p - onehot), per row, ignored rows 0
        picked = bind(nll_loss_p, gg, target=params["target"],
                      ignore_index=params["ignore_index"], reduction="none", count=count)
        rows = ew.add(ew.mul(red.sum(ew.mul(gg, p), dim=1), Tensor._wrap(keep)), picked)
        grad_g = rows if reduction == "none" else ew.mul(red.sum(rows), scale)
    if ctx.needs_input_grad[1]:
        w = ew.mul(g, Tensor._wrap(keep * x.dtype.type(scale)))
        grad_x = ew.mul(red.softmax_backward(gg, p, 1), sh.reshape(w, -1, 1))
    return grad_g, grad_x


@cross_entropy_backward_p.def_symbolic
def _cross_entropy_backward_symbolic(g, x, target, ignore_index, reduction, count, probs=None):
    import sympy
    out = np.full(x.shape, sympy.Integer(0), dtype=object)
    for r in range(x.shape[0]):
        t = int(target[r])
        if t == ignore_index:
            continue
        w = g if reduction != "none" else g[r]
        w = w.item() if isinstance(w, np.ndarray) else w
        w = w / count if reduction == "mean" else w
        e = [sympy.exp(v) for v in x[r]]
        total = sympy.Add(*e)
        for c in range(x.shape[1]):
            out[r, c] = w * (e[c] / total - (1 if c == t else 0))
    return out
