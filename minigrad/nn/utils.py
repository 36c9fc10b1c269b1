"""Gradient clipping (Pascanu, Mikolov & Bengio 2013: if ||g|| > theta, g <- theta g / ||g||),
with PyTorch's arguments and formulas, in the gradients' own dtype and in place."""

import math

import numpy as np

from ..dtypes import get_default_dtype
from ..kernels import norms
from ..optim.checks import real
from ..tensor import Tensor


def _grads(parameters):
    if isinstance(parameters, Tensor):
        parameters = [parameters]
    return [p.grad for p in parameters if p.grad is not None]


def _flat(g):
    """A gradient's entries as a flat contiguous array, in memory order (a view when its array
    is contiguous in any order: a norm does not depend on the order)."""
    return np.ravel(g._array, order="K")


def _norm(g, norm_type):
    flat = _flat(g)
    if flat.dtype.char not in "fd":
        flat = flat.astype(np.float64)
    if norm_type == 2.0:
        return math.sqrt(norms.sum_squares(flat))
    if norm_type == math.inf:
        return norms.max_abs(flat)
    return float(np.sum(np.abs(flat.astype(np.float64)) ** norm_type)) ** (1.0 / norm_type)


def _scale(parameters, grads, coef):
    """Multiply every gradient by ``coef`` in place (bumping its version); a gradient that is a
    graph value (from ``create_graph=True``) or read-only is replaced by a scaled copy."""
    for g in grads:
        factor = g.dtype.type(coef)
        if g.requires_grad or g._node is not None or not g._array.flags.writeable:
            new = Tensor._wrap(g._array * factor)
            for p in parameters:
                if p.grad is g:
                    p.grad = new
        else:
            with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 is NaN, as in torch
                np.multiply(g._array, factor, out=g._array)
            g._bump_version()


def clip_grad_norm_(parameters, max_norm, norm_type=2.0, error_if_nonfinite=False,
                    foreach=None):
    """Scale all gradients together so that their total norm is at most ``max_norm``.

    PyTorch's formula: total = the ``norm_type``-norm of the per-gradient norms; every gradient
    is multiplied by min(1, max_norm / (total + 1e-6)) (a NaN total makes every gradient NaN,
    as in PyTorch, unless ``error_if_nonfinite``). One pass per gradient for its norm (float32
    summed in float32 blocks added in float64), one in-place pass to scale. ``foreach`` is
    accepted for PyTorch's signature and ignored. Returns the total norm before clipping as a
    0-d Tensor (as PyTorch: ``.item()`` / ``float()`` give the number; inf or NaN when a
    gradient is not finite), in the gradients' dtype (the widest of them; the default dtype
    when no parameter has a gradient)."""
    who = "clip_grad_norm_"
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    max_norm = real(who, "max_norm", max_norm, allow_inf=True)
    norm_type = real(who, "norm_type", norm_type, allow_inf=True)
    if max_norm < 0:
        raise ValueError(f"{who}: max_norm must be >= 0, got {max_norm}")
    if norm_type <= 0:
        raise ValueError(f"{who}: norm_type must be > 0 (or inf), got {norm_type}")
    grads = _grads(parameters)
    if not grads:
        return Tensor._wrap(np.zeros((), dtype=get_default_dtype()))
    each = [_norm(g, norm_type) for g in grads]
    if norm_type == math.inf:
        total = math.nan if any(math.isnan(n) for n in each) else max(each)
    else:
        total = float(np.sum(np.asarray(each, dtype=np.float64) ** norm_type)
                      ) ** (1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(f"clip_grad_norm_: the total {norm_type}-norm of the gradients is "
                           f"{total}; set error_if_nonfinite=False to clip anyway")
    coef = max_norm / (total + 1e-6)
    if not coef >= 1.0:  # NaN scales too, as in PyTorch
        _scale(parameters, grads, coef)
    dtype = np.result_type(*[g.dtype for g in grads])
    return Tensor._wrap(np.asarray(total, dtype=dtype if dtype.kind == "f" else np.float64))


def clip_grad_value_(parameters, clip_value, foreach=None):
    """Clamp every gradient entry to [-clip_value, clip_value] in place (bumping each
    gradient's version). ``foreach`` is accepted for PyTorch's signature and ignored."""
    who = "clip_grad_value_"
    clip_value = real(who, "clip_value", clip_value, allow_inf=True)
    if clip_value < 0:
        raise ValueError(f"{who}: clip_value must be >= 0, got {clip_value}")
    parameters = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for g in _grads(parameters):
        lo, hi = g.dtype.type(-clip_value), g.dtype.type(clip_value)
        if g.requires_grad or g._node is not None or not g._array.flags.writeable:
            new = Tensor._wrap(np.clip(g._array, lo, hi))
            for p in parameters:
                if p.grad is g:
                    p.grad = new
        else:
            np.clip(g._array, lo, hi, out=g._array)
            g._bump_version()
