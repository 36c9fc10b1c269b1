"""Gradient checks by float64 central differences, for the engine's tests and for users.

The outputs are projected on fixed random cotangents ``v`` (so one backward pass gives the whole
analytic gradient of ``sum(v * f(x))``), and every input entry is perturbed by +-eps.
"""

import numpy as np

from .autograd import grad
from .grad_mode import enable_grad, no_grad
from .tensor import Tensor


class GradcheckError(AssertionError):
    """Raised when analytic and numerical gradients disagree."""


def _as_tuple(out):
    return (out,) if isinstance(out, Tensor) else tuple(out)


def _check_inputs(inputs, who):
    inputs = _as_tuple(inputs)
    diff = [i for i, t in enumerate(inputs) if isinstance(t, Tensor) and t.requires_grad]
    if not diff:
        raise ValueError(f"{who}: no input requires grad; pass tensors made with "
                         "requires_grad=True")
    for i in diff:
        if inputs[i].dtype != np.float64:
            raise TypeError(f"{who}: input {i} is {inputs[i].dtype}; central differences need "
                            "float64 inputs (use .double() or dtype=mg.float64)")
    return inputs, diff


def _tensors(out):
    return [o for o in _as_tuple(out) if isinstance(o, Tensor)]


def _projection(outs, vs):
    with no_grad():
        return sum(float(np.sum(o._array.astype(np.float64) * v))
                   for o, v in zip(outs, vs, strict=True))


def _compare(analytic, numeric, atol, rtol, label):
    """Return None when close, else a message about the worst entry."""
    excess = np.abs(analytic - numeric) - (atol + rtol * np.abs(numeric))
    bad = ~(excess <= 0)  # NaN counts as bad
    if not bad.any():
        return None
    k = np.unravel_index(int(np.argmax(np.where(np.isnan(excess), np.inf, excess))),
                         analytic.shape)
    a, n = analytic[k], numeric[k]
    return (f"{label} at index {tuple(int(i) for i in k)}: analytic {a:.10g}, numerical "
            f"{n:.10g} (abs error {abs(a - n):.3g}, allowed {atol + rtol * abs(n):.3g}; "
            f"{int(bad.sum())} of {bad.size} entries out of tolerance)")


def gradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """Check the gradients of ``fn(*inputs)`` against central differences.

    fn: takes the inputs, returns a Tensor or a tuple of Tensors (it may itself call
    ``mg.grad``). inputs: a Tensor or a tuple (non-Tensor entries are passed through); the float64
    tensors with ``requires_grad`` are checked. Returns True, or raises ``GradcheckError`` naming
    the worst entry (returns False when ``raise_exception=False``). Inputs are left exactly as
    they were.
    """
    inputs, diff = _check_inputs(inputs, "gradcheck")
    return _gradcheck(fn, inputs, diff, eps, atol, rtol, raise_exception, seed, "gradcheck")


def _gradcheck(fn, inputs, diff, eps, atol, rtol, raise_exception, seed, who):
    for i in diff:
        x = inputs[i]._array
        if not (x.flags.c_contiguous and x.flags.writeable):
            raise ValueError(f"{who}: input {i} must be a contiguous, writeable array")
    outs = _tensors(fn(*inputs))
    rng = np.random.default_rng(seed)
    vs = [rng.standard_normal(o.shape) for o in outs]
    live = [(o, v) for o, v in zip(outs, vs, strict=True) if o.requires_grad]
    if live:
        total = sum(((o * Tensor(v, dtype=o.dtype)).sum() for o, v in live[1:]),
                    (live[0][0] * Tensor(live[0][1], dtype=live[0][0].dtype)).sum())
        analytic = grad(total, [inputs[i] for i in diff], allow_unused=True)
    else:
        analytic = [None] * len(diff)
    what = "second derivatives" if who == "gradgradcheck" else "gradient"
    for j, i in enumerate(diff):
        x = inputs[i]
        a = np.zeros(x.shape) if analytic[j] is None else analytic[j]._array.astype(np.float64)
        numeric = np.zeros(x.shape)
        flat = x._array.reshape(-1)  # a view: inputs are checked to be contiguous above
        for k in range(flat.size):
            orig = flat[k]
            try:  # each write is an in-place edit: bumped, so caches keyed on versions see it
                flat[k] = orig + eps
                x._bump_version()
                plus = _projection(_tensors(fn(*inputs)), vs)
                flat[k] = orig - eps
                x._bump_version()
                minus = _projection(_tensors(fn(*inputs)), vs)
            finally:
                flat[k] = orig
                x._bump_version()
            numeric.reshape(-1)[k] = (plus - minus) / (2 * eps)
        msg = _compare(a, numeric, atol, rtol, f"{who}: {what} of input {i} (shape {x.shape})")
        if msg:
            if raise_exception:
                raise GradcheckError(msg)
            return False
    return True


def gradgradcheck(fn, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True, seed=0):
    """Check second derivatives: the gradient of ``sum(v * fn(*inputs))`` computed with
    ``create_graph=True`` is itself gradchecked against central differences."""
    inputs, diff = _check_inputs(inputs, "gradgradcheck")
    rng = np.random.default_rng(seed + 1)
    vs = [rng.standard_normal(o.shape) for o in _tensors(fn(*inputs))]

    def first_grad(*xs):
        with enable_grad():
            outs = [(o, v) for o, v in zip(_tensors(fn(*xs)), vs, strict=True)
                    if o.requires_grad]
            if not outs:
                return tuple(Tensor(np.zeros(xs[i].shape)) for i in diff)
            total = sum(((o * Tensor(v, dtype=o.dtype)).sum() for o, v in outs[1:]),
                        (outs[0][0] * Tensor(outs[0][1], dtype=outs[0][0].dtype)).sum())
            gs = grad(total, [xs[i] for i in diff], create_graph=True, allow_unused=True)
        return tuple(Tensor(np.zeros(xs[i].shape)) if g is None else g
                     for i, g in zip(diff, gs, strict=True))

    return _gradcheck(first_grad, inputs, diff, eps, atol, rtol, raise_exception, seed + 2,
                      "gradgradcheck")
