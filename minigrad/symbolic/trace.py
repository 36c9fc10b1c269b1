"""``to_sympy``: a recorded graph as sympy expressions.

The walk starts at the outputs and stops at the tensors given in ``inputs`` (any tensor of the
graph, leaf or not: giving an intermediate ``h_{t-1}`` cuts the graph there) and at tensors without
a recorded node, which become exact numbers. Every recorded node is replayed with its primitive's
symbolic rule on numpy object arrays of sympy expressions.

Before anything is built, the size of the result is estimated from the graph (a tree size: every
use of a subexpression counts, as it does when sympy differentiates or prints); a trace whose
estimate exceeds ``max_size`` raises ``ExpressionTooLargeError`` with the estimate instead of
hanging.
"""

import math
import warnings

import numpy as np

from ..ops.sym import sym_constant
from ..tensor import Tensor

DEFAULT_MAX_SIZE = 200_000


class ExpressionTooLargeError(ValueError):
    """Raised by ``to_sympy`` when the expected expression size exceeds ``max_size``."""

    def __init__(self, message, estimate):
        super().__init__(message)
        self.estimate = estimate


# ---- symbols ---------------------------------------------------------------------------------
def symbols_like(shape, name, **assumptions):
    """An object array of real sympy symbols of ``shape`` (a tuple or a Tensor), named
    ``name`` for a 0-d shape and ``name_i_j`` (0-based indices) otherwise.

    Assumptions default to ``real=True``; pass e.g. ``positive=True`` to add more.
    """
    import sympy

    if isinstance(shape, Tensor):
        shape = shape.shape
    shape = tuple(shape)
    assumptions.setdefault("real", True)
    if not shape:
        return np.asarray(sympy.Symbol(name, **assumptions), dtype=object)
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = sympy.Symbol(name + "".join(f"_{i}" for i in idx), **assumptions)
    return out


def _as_object_array(spec, tensor, who):
    """The object array standing for ``tensor``: from a name, a Symbol, a Matrix or an array."""
    import sympy

    shape = tensor.shape
    if isinstance(spec, str):
        return symbols_like(shape, spec)
    if isinstance(spec, sympy.Basic) and not isinstance(spec, sympy.MatrixBase):
        if int(np.prod(shape)) != 1:
            raise ValueError(f"{who}: a single symbol ({spec}) was given for a tensor of shape "
                             f"{shape}; give a name, a Matrix or an array of that shape")
        arr = np.empty((), dtype=object)
        arr[()] = spec
        return arr.reshape(shape)
    if isinstance(spec, sympy.MatrixBase):
        arr = np.array(spec.tolist(), dtype=object).reshape(spec.shape)
    else:
        arr = np.array(spec, dtype=object)
        arr = np.vectorize(sympy.sympify, otypes=[object])(arr) if arr.size else arr
    if arr.shape != shape and not (arr.size == int(np.prod(shape)) and _is_vector(arr.shape)
                                   and _is_vector(shape)):
        raise ValueError(f"{who}: {type(spec).__name__} of shape {arr.shape} was given for a "
                         f"tensor of shape {shape}")
    return arr.reshape(shape)


def _is_vector(shape):
    return sum(1 for s in shape if s != 1) <= 1


# ---- the walk --------------------------------------------------------------------------------
def _post_order(roots, stops):
    """Tensors reachable from ``roots`` through recorded nodes, parents first, not walking past
    the tensors whose id is in ``stops`` nor past tensors without a node (iterative)."""
    order, seen = [], set()
    for root in roots:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, 0)]
        while stack:
            t, i = stack.pop()
            parents = () if (id(t) in stops or t._node is None) else t.parents
            while i < len(parents) and id(parents[i]) in seen:
                i += 1
            if i < len(parents):
                stack.append((t, i + 1))
                seen.add(id(parents[i]))
                stack.append((parents[i], 0))
            else:
                order.append(t)
    return order


# ---- size estimate ---------------------------------------------------------------------------
def _size_matmul(node, sizes):
    a, b = node.inputs
    return a.shape[-1] * (sizes[0] + sizes[1] + 2)


def _size_linear(node, sizes):
    """x @ W^T (+ b): a sum over ``in`` products, plus the bias."""
    w = node.inputs[1]
    return w.shape[-1] * (sizes[0] + sizes[1] + 2) + (sizes[2] + 1 if len(sizes) > 2 else 0)


def _size_along_dim(node, sizes):
    n = node.inputs[0].shape[node.params["dim"]] if node.inputs[0].ndim else 1
    return 2 * n * sum(sizes) + 2


def _size_elementwise(node, sizes):
    """One element of each input, and the op."""
    return sum(sizes) + 1


def _size_view(node, sizes):
    """Elements are moved, not combined (concat: the inputs' sizes weighted by their counts)."""
    counts = [max(p._array.size, 1) for p in node.inputs]
    return sum(s * c for s, c in zip(sizes, counts, strict=True)) / sum(counts)


_ELEMENTWISE = ("add", "sub", "mul", "div", "pow", "pow_scalar", "neg", "exp", "log", "sqrt",
                "abs", "tanh", "sigmoid", "relu", "leaky_relu", "softplus", "clamp", "maximum",
                "minimum", "where", "tanh_backward", "sigmoid_backward", "leaky_relu_backward")
_VIEWS = ("reshape", "permute", "expand", "getitem", "concat", "cast", "embedding")

SIZE_RULES = {"matmul": _size_matmul, "linear": _size_linear, "softmax": _size_along_dim,
              "log_softmax": _size_along_dim, "softmax_backward": _size_along_dim,
              **dict.fromkeys(_ELEMENTWISE, _size_elementwise),
              **dict.fromkeys(_VIEWS, _size_view)}
"""op name -> fn(node, input_sizes) giving the mean tree size of one output element; ops not
listed (reductions, scatters, unknown ops) use the generic rule: the inputs' total size spread
over the output's elements, plus one."""


def register_size_rule(name):
    """Decorator: declare how big one output element of op ``name`` is, for the size guard
    (needed by fused ops whose output elements each depend on many input elements)."""
    def deco(fn):
        SIZE_RULES[name] = fn
        return fn
    return deco


def _estimate(order, symbolic_ids):
    """Mean tree size (operations + atoms) of one element of every tensor in ``order``."""
    sizes = {}
    for t in order:
        if id(t) in symbolic_ids or t._node is None:
            sizes[id(t)] = 1.0
            continue
        node = t._node
        ins = [sizes.get(id(p), 1.0) for p in node.inputs]
        rule = SIZE_RULES.get(node.prim.name)
        if rule is not None:
            est = float(rule(node, ins))
        else:
            n_out = max(t._array.size, 1)
            est = sum(s * max(p._array.size, 1) for s, p in zip(ins, node.inputs, strict=True))
            est = est / n_out + 1.0
            est = max(est, max(ins, default=1.0) + 1.0)
        sizes[id(t)] = est if math.isfinite(est) else math.inf
    return sizes


def expression_size(outputs, inputs=None):
    """The estimated tree size (``count_ops``-like) of ``to_sympy(outputs, inputs)``, computed
    from the graph alone without building anything."""
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    stops = {id(t) for t in _input_items(inputs)}
    order = _post_order(outs, stops)
    sizes = _estimate(order, stops)
    return sum(sizes[id(o)] * max(o._array.size, 1) for o in outs)


def _input_items(inputs):
    if inputs is None:
        return {}
    items = inputs.items() if isinstance(inputs, dict) else inputs
    out = {}
    for pair in items:
        t, spec = pair
        if not isinstance(t, Tensor):
            raise TypeError(f"to_sympy: inputs must map Tensors to symbols, got a key of type "
                            f"{type(t).__name__}")
        out[t] = spec
    return out


# ---- the trace -------------------------------------------------------------------------------
class Trace:
    """The result of ``trace``: object arrays of sympy expressions for every tensor visited.

    Attributes:
        outputs: list of object arrays, one per output (the outputs' shapes).
        order: the visited tensors, parents first.
    """

    def __init__(self, outputs, order, values, input_ids):
        self.outputs = outputs
        self.order = order
        self._values = values
        self._input_ids = input_ids

    def value(self, tensor):
        """The object array of ``tensor`` (any tensor visited by the trace)."""
        try:
            return self._values[id(tensor)]
        except KeyError:
            raise KeyError("Trace.value: this tensor was not visited by the trace") from None

    def nodes(self, op=None):
        """(tensor, object array) for the visited tensors made by op ``op`` (every recorded op
        when None), parents first; the symbolic inputs are not included."""
        return [(t, self._values[id(t)]) for t in self.order
                if t._node is not None and id(t) not in self._input_ids and
                (op is None or t._node.prim.name == op)]


def trace(outputs, inputs=None, max_size=DEFAULT_MAX_SIZE):
    """Replay the graph behind ``outputs`` with the primitives' symbolic rules.

    outputs: a Tensor or a sequence of Tensors. inputs: a dict (or pairs) ``{tensor: spec}``
    where spec is a name (``"W_hh"`` -> symbols ``W_hh_i_j``), a sympy Symbol (one-element
    tensors), a sympy Matrix or an array of sympy expressions of the tensor's shape. Any other
    tensor the walk reaches without a recorded node becomes exact rationals of its values.
    Returns a ``Trace``. Raises ``ExpressionTooLargeError`` when the estimated size exceeds
    ``max_size`` (None: no limit) and ``NotImplementedError`` naming an op without a rule.
    """
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    for i, o in enumerate(outs):
        if not isinstance(o, Tensor):
            raise TypeError(f"to_sympy: output {i} is a {type(o).__name__}, not a Tensor")
    given = _input_items(inputs)
    symbolic = {id(t): _as_object_array(spec, t, f"to_sympy: inputs[{_label(t)}]")
                for t, spec in given.items()}
    order = _post_order(outs, symbolic)
    reached = {id(t) for t in order}
    for t in given:
        if id(t) not in reached:
            warnings.warn(f"to_sympy: inputs[{_label(t)}] is not reached from the outputs; "
                          "ops on a tensor that does not require grad are not recorded (mark "
                          "it requires_grad=True before running the graph, or give the "
                          "tensor the graph actually used)", stacklevel=3)
    if max_size is not None:
        sizes = _estimate(order, symbolic)
        total = sum(sizes[id(o)] * max(o._array.size, 1) for o in outs)
        if not total <= max_size:
            raise ExpressionTooLargeError(_too_large_message(total, order, max_size), total)
    values = {}
    for t in order:
        if id(t) in symbolic:
            values[id(t)] = symbolic[id(t)]
        elif t._node is None:
            values[id(t)] = sym_constant(t._array)
        else:
            values[id(t)] = _replay(t, values)
    return Trace([values[id(o)] for o in outs], order, values, frozenset(symbolic))


def _label(t):
    return repr(t.name) if t.name else f"tensor of shape {t.shape}"


def _too_large_message(total, order, max_size):
    nodes = sum(1 for t in order if t._node is not None)
    return (f"to_sympy: the expression would have about {total:.3g} operations (estimated from "
            f"a graph of {nodes} recorded ops), above max_size={max_size}. Trace fewer steps or "
            "smaller sizes, cut the graph by giving intermediate tensors (e.g. h_{t-1}) as "
            "inputs, or pass max_size=None to build it anyway.")


def _replay(t, values):
    node = t._node
    prim = node.prim
    where = "/".join(node.scope) or "<no scope>"
    if prim.symbolic is None:
        raise NotImplementedError(
            f"to_sympy: op {prim.name!r} (declared in {prim.module or '?'}, scope {where}) has "
            "no symbolic rule; declare one with def_symbolic")
    args = [values[id(p)] for p in node.inputs]
    try:
        out = prim.symbolic(*args, **node.params)
    except Exception as err:
        raise type(err)(f"to_sympy: the symbolic rule of op {prim.name!r} (scope {where}) "
                        f"failed: {err}") from err
    out = np.asarray(out, dtype=object)
    if out.shape != t.shape:
        if out.size != t._array.size:
            raise ValueError(f"to_sympy: the symbolic rule of op {prim.name!r} returned shape "
                             f"{out.shape}, but the op's output has shape {t.shape}")
        out = out.reshape(t.shape)
    return out


def to_sympy(outputs, inputs=None, max_size=DEFAULT_MAX_SIZE):
    """The graph behind ``outputs`` as sympy objects, with the tensors in ``inputs`` as symbols
    and every other leaf as exact numbers (see ``trace`` for the arguments).

    Each output becomes: a sympy expression (0-d), a column ``Matrix`` (1-D, shape (n, 1)), a
    ``Matrix`` (2-D) or an ``ImmutableDenseNDimArray`` (3-D and more). A sequence of outputs
    gives a tuple.
    """
    result = trace(outputs, inputs, max_size)
    converted = tuple(as_sympy(a) for a in result.outputs)
    return converted[0] if isinstance(outputs, Tensor) else converted


def as_sympy(array):
    """An object array as a sympy object: scalar, column Matrix (1-D), Matrix (2-D) or Array."""
    import sympy

    array = np.asarray(array, dtype=object)
    if array.ndim == 0:
        return sympy.sympify(array[()])
    if array.ndim == 1:
        return sympy.Matrix(array.shape[0], 1, list(array))
    if array.ndim == 2:
        return sympy.Matrix(array.tolist()) if array.size else sympy.zeros(*array.shape)
    return sympy.ImmutableDenseNDimArray(array.tolist(), array.shape)
