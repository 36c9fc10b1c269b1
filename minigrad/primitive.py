"""Primitives: named ops with three rules each, and ``bind``, which runs one and records it.

A primitive is declared once, next to its three rules::

    tanh_p = Primitive("tanh")

    @tanh_p.def_forward
    def _tanh_forward(x):            # numpy arrays in, one numpy array out
        return np.tanh(x)

    @tanh_p.def_backward
    def _tanh_backward(ctx, g):      # Tensor ops only: create_graph=True then works for free
        return (tanh_backward(g, ctx.output()),)

    @tanh_p.def_symbolic
    def _tanh_symbolic(x):           # numpy object arrays of sympy expressions
        return elementwise(sympy.tanh, x)

The tracer (this module and ``autograd.py``) knows no derivatives; the rules know no tracing.
A forward rule may return ``(out, residuals)`` when the primitive is declared with
``has_residuals=True``; the residuals are kept on the node for the backward rule (``ctx.saved``)
and released after a backward pass that does not retain the graph.
"""

import sys

import numpy as np

from .grad_mode import STATE
from .scope import _STACK

REGISTRY = {}


class Primitive:
    """A named op: ``forward`` (arrays), ``backward`` (vector-Jacobian product in Tensor ops) and
    ``symbolic`` (the same op on object arrays of sympy expressions)."""

    __slots__ = ("name", "forward", "backward", "symbolic", "has_residuals", "nondiff_inputs",
                 "module")

    def __init__(self, name, has_residuals=False, nondiff_inputs=()):
        if name in REGISTRY:
            raise ValueError(f"Primitive: the name {name!r} is taken")
        self.name = name
        self.module = sys._getframe(1).f_globals.get("__name__", "")  # who declared it
        self.forward = None
        self.backward = None
        self.symbolic = None
        self.has_residuals = has_residuals
        self.nondiff_inputs = frozenset(nondiff_inputs)
        REGISTRY[name] = self

    def def_forward(self, fn):
        self.forward = fn
        return fn

    def def_backward(self, fn):
        self.backward = fn
        return fn

    def def_symbolic(self, fn):
        self.symbolic = fn
        return fn

    def __repr__(self):
        return f"Primitive({self.name!r})"


class Node:
    """What a recorded op remembers: the primitive, its ordered input tensors, its static
    parameters, the residuals its forward saved, a weak reference to its output and its scope.

    Backward rules receive the node as ``ctx``.
    """

    __slots__ = ("prim", "inputs", "params", "saved", "needs_input_grad", "scope", "_out",
                 "freed")

    def __init__(self, prim, inputs, params, saved, needs_input_grad, scope):
        self.prim = prim
        self.inputs = inputs
        self.params = params
        self.saved = saved
        self.needs_input_grad = needs_input_grad
        self.scope = scope
        self._out = None
        self.freed = False

    @property
    def op(self):
        """The primitive's name, e.g. ``"tanh"``."""
        return self.prim.name

    def output(self):
        """The output tensor of this node; available to backward rules while the engine runs
        them (the engine sets it just before calling the rule, so no reference cycle is kept)."""
        if self._out is None:
            raise RuntimeError(f"{self.prim.name}: output() is only available inside a backward "
                               "rule")
        return self._out

    def release(self):
        """Drop the residuals after a backward pass that did not retain the graph."""
        self.saved = None
        self.freed = True


class PartialGrad:
    """A first-order gradient that is zero except at ``index``: a backward rule may return one
    (only when no graph is recorded) instead of a dense Tensor. The engine keeps every partial
    gradient of a tensor in a list and sums them into one array when it needs the gradient, so
    taking T slices ``x[t]`` of one tensor costs O(T), not O(T^2), in backward.

    shape, dtype: of the dense gradient; ``add(out, values, index)`` adds ``values`` at ``index``
    of the array ``out`` in place.
    """

    __slots__ = ("shape", "values", "index", "add")

    def __init__(self, shape, values, index, add):
        self.shape = shape
        self.values = values
        self.index = index
        self.add = add


def bind(prim, *inputs, **params):
    """Run ``prim`` on the input tensors and, when gradients are recorded and some input needs
    one, record a node. Returns the output tensor."""
    state = STATE
    out = prim.forward(*[t.data for t in inputs], **params)
    saved = None
    if prim.has_residuals:
        out, saved = out
    if state.anomaly:
        _check_finite(prim.name, "forward output", out, _STACK.path)
    if not state.grad_enabled:
        return _wrap(out, False)
    nondiff = prim.nondiff_inputs
    if nondiff:
        needs = tuple([t.requires_grad and i not in nondiff for i, t in enumerate(inputs)])
    else:
        needs = tuple([t.requires_grad for t in inputs])
    if True not in needs:
        return _wrap(out, False)
    result = _wrap(out, True)
    result._node = Node(prim, inputs, params, saved, needs, _STACK.path)
    return result


_wrap = None  # Tensor._wrap, set by tensor.py (which imports this module)


def _check_finite(op_name, what, array, scope):
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        where = "/".join(scope) or "<no scope>"
        raise FloatingPointError(
            f"detect_anomaly: {op_name} (scope {where}) produced NaN or inf in its {what}")
