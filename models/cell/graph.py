"""A cell's step as a graph of primitives: traced once from ``Cell.forward``, then replayed.

``trace(cell, dtype)`` calls the cell on stand-in tensors, x: (B0, I) and each state (B0, H),
with every parameter replaced for the call by a stand-in of the same values, and records
the ops through minigrad's own engine. B0 is a batch size chosen unlike every other dimension
of the cell, so that the row axis of every value can be told apart.

Each ``Value`` is a leaf (``x``, a ``state``, a ``param`` by its dotted name, a ``captured``
Tensor that requires grad, or a ``const``) or the output of one op (the primitive's name, its
parameters, its input Values). ``deps`` says what it depends on: ``X`` (the input), ``S``
(the state); values with neither are "weight-level" (functions of parameters and constants,
computed once per call), the others "row-level": (B0, w) or (B0,), one row per sequence.

``replay(values, env)`` evaluates op Values through the engine (``mg.bind``) from Tensors
given for the leaves, so that the same graph runs at another batch size (``rows``: B0 in a
shape parameter is replaced) with autograd recording as usual.
"""

import numpy as np

import minigrad as mg
from minigrad.primitive import REGISTRY

X, S = 1, 2


class CompileError(ValueError):
    """A cell step the fused compiler cannot handle (the message names the op and the way
    out: ``fused=False``)."""


class Value:
    """One value of a traced step. origin: 'x', 'state', 'param', 'captured', 'const' or
    'op'; for 'op': ``op`` (primitive name), ``params``, ``inputs``."""

    __slots__ = ("index", "origin", "shape", "dtype", "deps", "op", "params", "inputs",
                 "name", "tensor", "users")

    def __init__(self, index, origin, shape, dtype, deps, op=None, params=None, inputs=(),
                 name=None, tensor=None):
        self.index, self.origin, self.shape, self.dtype = index, origin, tuple(shape), dtype
        self.deps, self.op, self.params, self.inputs = deps, op, params or {}, tuple(inputs)
        self.name, self.tensor, self.users = name, tensor, []

    @property
    def row(self):
        return self.deps != 0

    def __repr__(self):
        what = self.op if self.origin == "op" else self.origin
        return f"v{self.index}:{what}{self.shape}"


class StepGraph:
    """A traced step: ``values`` in topological order; ``x``, ``states`` (leaves), ``outputs``
    (the new states, in ``state_names`` order); ``batch`` B0; ``params``: dotted name ->
    Value of every parameter the step reads."""

    def __init__(self, values, x, states, outputs, batch, params, state_names, hidden, inputs,
                 who="cell"):
        self.who = who
        self.values, self.x, self.states, self.outputs = values, x, states, outputs
        self.batch, self.params, self.state_names = batch, params, state_names
        self.hidden_size, self.input_size = hidden, inputs


def _pick_batch(cell):
    dims = {cell.input_size, cell.hidden_size}
    for p in cell.parameters():
        dims.update(p.shape)
    b = 2
    while b in dims:
        b += 1
    return b


def _set_param(cell, dotted, value):
    *path, last = dotted.split(".")
    module = cell
    for part in path:
        module = getattr(module, part)
    module._parameters[last] = value
    object.__setattr__(module, last, value)


def trace(cell, dtype, masked=False):
    """Trace one step of ``cell`` in ``dtype`` (float32 / float64) -> StepGraph. masked: the
    first state enters the step multiplied by a mask leaf (B0, H) (recurrent dropout), which
    is an input-level value like x (``StepGraph.mask``)."""
    who = type(cell).__name__
    dtype = np.dtype(dtype)
    B0, I, H = _pick_batch(cell), cell.input_size, cell.hidden_size
    rng = np.random.default_rng(0)
    x = mg.tensor(rng.uniform(-1, 1, (B0, I)).astype(dtype), requires_grad=True)
    names = type(cell).state_names
    states = tuple(mg.tensor(rng.uniform(-1, 1, (B0, H)).astype(dtype), requires_grad=True)
                   for _ in names)
    mask = mg.tensor(np.ones((B0, H), dtype)) if masked else None
    originals = dict(cell.named_parameters())
    stand_ins = {name: mg.nn.Parameter(p.numpy().copy()) for name, p in originals.items()}
    for name, p in stand_ins.items():
        _set_param(cell, name, p)
    try:
        with mg.enable_grad():
            given = states if mask is None else (states[0] * mask,) + states[1:]
            out = cell(x, given)
    finally:
        for name, p in originals.items():
            _set_param(cell, name, p)
    if isinstance(out, mg.Tensor):
        out = (out,)
    if not isinstance(out, (tuple, list)) or len(out) != len(names):
        raise TypeError(f"{who}.forward must return a tuple of {len(names)} Tensors "
                        f"({', '.join(names)}), got {type(out).__name__}")
    for name, t in zip(names, out, strict=True):
        if not isinstance(t, mg.Tensor) or t.shape != (B0, H) or t.dtype != dtype:
            raise TypeError(f"{who}.forward: new state {name!r} expected a {dtype} Tensor of "
                            f"shape (B, H) = ({B0}, {H}), got "
                            f"{getattr(t, 'shape', type(t).__name__)}")
    leaves = {id(x): ("x", "x"), **{id(s): ("state", n) for s, n in zip(states, names,
                                                                           strict=True)},
              **{id(p): ("param", n) for n, p in stand_ins.items()}}
    if mask is not None:
        leaves[id(mask)] = ("mask", "mask")
    graph = _build(who, out, leaves, x, states, B0, names, H, I, dtype)
    graph.mask = next((v for v in graph.values if v.origin == "mask"), None)
    return graph


def _build(who, outputs, leaves, x, states, B0, names, H, I, dtype):
    values, by_id = [], {}

    def leaf(t):
        origin, name = leaves.get(id(t), (None, None))
        if origin is None:
            origin = "captured" if t.requires_grad else "const"
            if origin == "const" and t.ndim >= 1 and t.shape[0] == B0:
                raise CompileError(
                    f"{who}: the step uses a tensor of shape {t.shape} that depends on the "
                    "batch but is not recorded by autograd (made from x or the state without "
                    "gradient, e.g. by a comparison or .detach()); the fused compiler cannot "
                    "follow it. Use fused=False, or build it from recorded ops.")
        deps = X if origin in ("x", "mask") else S if origin == "state" else 0
        return Value(len(values), origin, t.shape, t.dtype, deps, name=name,
                     tensor=None if origin in ("x", "state", "param", "mask") else t)

    # iterative post-order over the recorded graph (parents in their recorded order)
    stack = [(t, False) for t in reversed(outputs)]
    while stack:
        t, expanded = stack.pop()
        if id(t) in by_id:
            continue
        node = t._node if id(t) not in leaves else None
        if node is None:
            v = leaf(t)
        elif not expanded:
            stack.append((t, True))
            for p in reversed(node.resolve_inputs()):
                if id(p) not in by_id:
                    stack.append((p, False))
            continue
        else:
            ins = [by_id[id(p)] for p in node.resolve_inputs()]
            deps = 0
            for v_in in ins:
                deps |= v_in.deps
            v = Value(len(values), "op", t.shape, t.dtype, deps, op=node.prim.name,
                      params=dict(node.params), inputs=ins)
        by_id[id(t)] = v
        values.append(v)
    for v in values:
        for v_in in v.inputs:
            v_in.users.append(v)
    x_v = by_id.get(id(x))
    state_vs = tuple(by_id.get(id(s)) for s in states)
    outs = tuple(by_id[id(t)] for t in outputs)
    params = {v.name: v for v in values if v.origin == "param"}
    for v in values:
        if v.row and not (v.shape[:1] == (B0,) and len(v.shape) in (1, 2)):
            raise CompileError(f"{who}: op {v.op!r} makes a value of shape {v.shape} from "
                               f"the input or the state (batch {B0}); the fused compiler "
                               "handles (B, width) rows only. Use fused=False.")
    return StepGraph(values, x_v, state_vs, outs, B0, params, names, H, I, who)


def column_slice(index, width):
    """(offset, width, single column) of a row index ``(:, a:b)`` / ``(:, k)`` / ``(:,)`` into
    rows of ``width`` columns, or None for any other index."""
    if not isinstance(index, tuple) or not index or index[0] != slice(None):
        return None
    if len(index) == 1:
        return 0, width, False
    if len(index) != 2:
        return None
    k = index[1]
    if isinstance(k, slice):
        start, stop, step = k.indices(width)
        if step != 1 or stop <= start:
            return None
        return start, stop - start, False
    if isinstance(k, int) and -width <= k < width:
        return k % width, 1, True
    return None


def rebatch(params, batch, rows):
    """A node's parameters with a leading ``batch`` in a ``shape`` replaced by ``rows``."""
    shape = params.get("shape")
    if isinstance(shape, tuple) and shape[:1] == (batch,):
        params = dict(params, shape=(rows,) + shape[1:])
    return params


def replay(values, env, batch=None, rows=None):
    """Evaluate the op Values ``values`` (topological order) with ``env``: Value -> Tensor for
    every leaf they read (filled in place with the results). Row-level values are computed
    for ``rows`` rows when given."""
    for v in values:
        if v in env:
            continue
        params = v.params if rows is None or not v.row else rebatch(v.params, batch, rows)
        env[v] = mg.bind(REGISTRY[v.op], *[env[i] for i in v.inputs], **params)
    return env


def replay_arrays(values, env, batch=None, rows=None):
    """``replay`` on numpy arrays, through each primitive's forward rule alone (no Tensors, no
    recording): for the first-order backward of a compiled cell."""
    for v in values:
        if v in env:
            continue
        prim = REGISTRY[v.op]
        params = v.params if rows is None or not v.row else rebatch(v.params, batch, rows)
        out = prim.forward(*[env[i] for i in v.inputs], **params)
        env[v] = out[0] if prim.has_residuals else out
    return env
