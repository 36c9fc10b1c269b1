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

Optionally a fourth, ``def_backward_arrays``: the backward rule on numpy arrays, which a
first-order pass (``create_graph=False``) runs instead of the Tensor rule (no Tensors, no binds);
it computes the same numbers with the same array functions::

    tanh_p.def_backward_arrays(lambda ctx, g: (tanh_backward_p.forward(g, ctx.output()._array),))

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
                 "module", "saves_inputs", "view", "backward_arrays")

    def __init__(self, name, has_residuals=False, nondiff_inputs=(), saves_inputs=None,
                 view=False):
        """``saves_inputs``: the indices of the inputs whose values the backward rule reads
        (``None``: all of them); an in-place edit of one of those between the forward and the
        backward makes ``backward`` raise. ``view``: the forward may return a view of input 0
        (the result then shares input 0's version counter when it shares its memory)."""
        if name in REGISTRY:
            raise ValueError(f"Primitive: the name {name!r} is taken")
        self.name = name
        self.module = sys._getframe(1).f_globals.get("__name__", "")  # who declared it
        self.forward = None
        self.backward = None
        self.backward_arrays = None
        self.symbolic = None
        self.has_residuals = has_residuals
        self.nondiff_inputs = frozenset(nondiff_inputs)
        self.saves_inputs = None if saves_inputs is None else tuple(saves_inputs)
        self.view = bool(view)
        REGISTRY[name] = self

    def def_forward(self, fn):
        self.forward = fn
        return fn

    def def_backward(self, fn):
        self.backward = fn
        return fn

    def def_backward_arrays(self, fn):
        """Optional: the backward rule's first-order form on numpy arrays, ``fn(ctx, g)`` with
        ``g`` an ndarray, returning per input an ndarray, ``None`` or a ``PartialGrad``. The
        engine uses it when no graph is recorded for the gradients (``create_graph=False``)
        and the Tensor rule otherwise; it must give the Tensor rule's numbers (it computes
        them with the same array functions: ``tests/test_backward_arrays.py`` checks every
        primitive that has one). It spares the Tensors and binds of a first-order pass."""
        self.backward_arrays = fn
        return fn

    def def_symbolic(self, fn):
        self.symbolic = fn
        return fn

    def __repr__(self):
        return f"Primitive({self.name!r})"


class Node:
    """What a recorded op remembers: the primitive, its ordered input tensors, its static
    parameters, the residuals its forward saved, a weak reference to its output and its scope;
    and the version of each input (and of the output) when it was recorded, so that ``backward``
    can tell whether a value it needs was edited in place since.

    Backward rules receive the node as ``ctx``.
    """

    __slots__ = ("prim", "inputs", "params", "saved", "needs_input_grad", "scope", "_out",
                 "freed", "versions", "out_version", "epoch")

    def __init__(self, prim, inputs, params, saved, needs_input_grad, scope, versions):
        self.prim = prim
        self.inputs = inputs
        self.params = params
        self.saved = saved
        self.needs_input_grad = needs_input_grad
        self.scope = scope
        self._out = None
        self.freed = False
        self.versions = versions
        self.out_version = 0
        self.epoch = EDITS[0]

    def resolve_inputs(self):
        """Point ``inputs`` at the values this node consumed: an input rebound since by an
        in-place op recorded in the graph (``y += v`` on a non-leaf) is replaced by the tensor
        that holds its earlier value (see ``rebind``). Idempotent; cheap when nothing was
        rebound since the node was made."""
        if self.epoch == EDITS[0]:
            return self.inputs  # nothing was edited in place since this node was recorded
        ins = self.inputs
        for t in ins:
            if t._history is not None:
                self.inputs = ins = tuple([_at_version(p, v) for p, v in
                                           zip(ins, self.versions, strict=True)])
                break
        return ins

    def check_versions(self):
        """Raise if an input the backward rule reads was edited in place after recording."""
        if self.epoch == EDITS[0]:
            return  # nothing was edited in place since this node was recorded
        saves = self.prim.saves_inputs
        ins, vers = self.inputs, self.versions
        for i in range(len(ins)) if saves is None else saves:
            vc = ins[i]._vc
            if vc is not None and vc.value != vers[i]:
                _raise_modified(self, f"input {i}", ins[i], vc.value, vers[i])

    @property
    def op(self):
        """The primitive's name, e.g. ``"tanh"``."""
        return self.prim.name

    def output(self):
        """The output tensor of this node; available to backward rules while the engine runs
        them (the engine sets it just before calling the rule, so no reference cycle is kept)."""
        out = self._out
        if out is None:
            raise RuntimeError(f"{self.prim.name}: output() is only available inside a backward "
                               "rule")
        vc = out._vc
        if vc is not None and vc.value != self.out_version:
            _raise_modified(self, "its output", out, vc.value, self.out_version)
        return out

    def release(self):
        """Drop the residuals after a backward pass that did not retain the graph."""
        self.saved = None
        self.freed = True


EDITS = [0]  # in-place edits so far (version bumps and rebinds): a node made since saw none


def _at_version(t, version):
    """The tensor that held ``t``'s value at ``version``: ``t`` itself unless ``t`` was rebound
    by an in-place op after that version."""
    history = t._history
    if history is not None:
        for last_version, earlier in history:
            if version <= last_version:
                return earlier
    return t


def _raise_modified(node, what, t, version, expected):
    where = "/".join(node.scope)
    raise RuntimeError(
        f"backward: one of the tensors saved for the gradient of op {node.prim.name}"
        f"{f' (scope {where})' if where else ''} has been modified by an in-place operation: "
        f"{what}, shape {t.shape}, {t.dtype}, is at version {version}; expected version "
        f"{expected}. Edit a copy (t.clone() / t * 1) instead, or make the edit after "
        "backward.")


def stand_in(t):
    """A new tensor with ``t``'s array, node, version counter and name: what an in-place op
    recorded in the graph takes as its input, and what then holds ``t``'s earlier value."""
    earlier = _wrap(t._array, t.requires_grad)
    earlier._node, earlier._vc, earlier.name = t._node, t._vc, t.name
    return earlier


def rebind(t, earlier, new, last_version):
    """Make ``t`` the output of ``new``'s node (an in-place op recorded in the graph, computed
    from ``earlier = stand_in(t)``): ``t`` takes ``new``'s array and node and a version one past
    ``last_version``; every node recorded with ``t`` at a version <= ``last_version`` reads
    ``earlier`` instead (``Node.resolve_inputs``)."""
    t._history = (t._history or []) + [(last_version, earlier)]  # oldest first
    t._array = new._array
    t._node = new._node
    t.requires_grad = new.requires_grad
    t._vc = None  # new memory: a counter of its own, one past the last version
    t._bump_version()
    t._vc.value = last_version + 1
    if t._node is not None:
        t._node.out_version = t._vc.value
    EDITS[0] += 1
    return t


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
    n = len(inputs)
    if n == 2:  # the common arities without building lists
        a, b = inputs
        out = prim.forward(a._array, b._array, **params)
    elif n == 1:
        out = prim.forward(inputs[0]._array, **params)
    else:
        out = prim.forward(*[t._array for t in inputs], **params)
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
    elif n == 2:
        needs = (a.requires_grad, b.requires_grad)
    elif n == 1:
        needs = (inputs[0].requires_grad,)
    else:
        needs = tuple([t.requires_grad for t in inputs])
    if True not in needs:
        return _wrap(out, False)
    if n == 2:
        va, vb = a._vc, b._vc
        versions = _ZEROS2 if va is None and vb is None else (
            0 if va is None else va.value, 0 if vb is None else vb.value)
    elif n == 1:
        va = inputs[0]._vc
        versions = _ZEROS1 if va is None else (va.value,)
    else:
        versions = tuple([0 if t._vc is None else t._vc.value for t in inputs])
    result = _wrap(out, True)
    node = result._node = Node(prim, inputs, params, saved, needs, _STACK.path, versions)
    if prim.view:
        base = out.base
        if base is not None:
            src = inputs[0]._array
            # a non-empty view of the input or of its base shares its memory: no need to ask
            if ((base is src or base is src.base) and out.size) or np.may_share_memory(out, src):
                vc = result._vc = inputs[0]._counter()
                node.out_version = vc.value
    return result


_ZEROS1 = (0,)
_ZEROS2 = (0, 0)
_wrap = None  # Tensor._wrap, set by tensor.py (which imports this module)


def _check_finite(op_name, what, array, scope):
    if np.issubdtype(array.dtype, np.floating) and not np.all(np.isfinite(array)):
        where = "/".join(scope) or "<no scope>"
        raise FloatingPointError(
            f"detect_anomaly: {op_name} (scope {where}) produced NaN or inf in its {what}")
