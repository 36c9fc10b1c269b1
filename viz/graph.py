"""Reading a recorded graph, and ``draw_graph``: one node per primitive, clustered by scope.

Everything here only *reads* tensors (``op``, ``parents``, ``grad_fn.scope``, ``name``,
``shape``); nothing in the graph is changed.
"""

import re

import numpy as np

import minigrad as mg

from . import escape
from .scene import Scene

FONT = "Helvetica"
COLORS = {
    "op": "#ffffff",
    "param": "#d6e6f5",
    "input": "#eeeeee",
    "root": "#d9f0d3",
    "h": "#dbe4ff",
    "c": "#ffe3c2",
}
_STEP = re.compile(r"t=(-?\d+)$")
_LAYER = re.compile(r"layer(\d+)$")
DIRECTIONS = ("forward", "reverse")


class GraphView:
    """The tensors reachable from ``roots``, parents before children, in a deterministic order.

    Attributes:
        tensors: list of Tensor (op outputs and the leaves they read, including leaves that do
            not require grad, such as inputs);
        index: dict ``id(tensor) -> position`` in ``tensors``;
        roots: the positions of the roots;
        consumers: for each position, the positions of the tensors made from it, in order;
        param_names: dict ``id(tensor) -> name`` for named parameters.
    """

    def __init__(self, roots, model=None, params=None, who="draw_graph"):
        roots = flatten_tensors(roots, who)
        with_graph = [r for r in roots if r.grad_fn is not None]
        if not with_graph:
            raise ValueError(
                f"{who}: the tensor has no recorded graph: it is a leaf, or it was computed "
                "under mg.no_grad() or only from tensors with requires_grad=False. Draw the "
                "result of a computation on tensors that require grad (e.g. a model's output "
                "or loss).")
        self.param_names = parameter_names(model, params, who)
        order = []
        seen = set()
        for t in mg.topological_order(with_graph):
            for p in t.parents:
                if id(p) not in seen:
                    seen.add(id(p))
                    order.append(p)
            seen.add(id(t))
            order.append(t)
        for r in roots:
            if id(r) not in seen:
                seen.add(id(r))
                order.append(r)
        self.tensors = order
        self.index = {id(t): i for i, t in enumerate(order)}
        self.roots = [self.index[id(r)] for r in roots]
        index = self.index
        self._parents = [[index[id(p)] for p in t.parents] for t in order]
        self.consumers = [[] for _ in order]
        for i, ps in enumerate(self._parents):
            for j in ps:
                if not self.consumers[j] or self.consumers[j][-1] != i:
                    self.consumers[j].append(i)

    def parents(self, i):
        """Positions of the inputs of tensor ``i`` (in argument order, repeats kept)."""
        return self._parents[i]

    def scope(self, i):
        """The scope tuple tensor ``i`` was recorded under (``()`` for leaves)."""
        node = self.tensors[i].grad_fn
        return () if node is None else tuple(node.scope)

    def name(self, i):
        """The parameter name or the tensor's own ``name`` (``None`` if it has neither)."""
        t = self.tensors[i]
        return self.param_names.get(id(t), t.name)

    def is_param(self, i):
        t = self.tensors[i]
        return id(t) in self.param_names or (t.grad_fn is None and t.requires_grad)


def flatten_tensors(obj, who):
    """The Tensors in ``obj`` (a Tensor or nested tuples / lists / dict values), in order."""
    out = []
    stack = [obj]
    while stack:
        x = stack.pop()
        if isinstance(x, mg.Tensor):
            out.append(x)
        elif isinstance(x, (tuple, list)):
            stack.extend(reversed(x))
        elif isinstance(x, dict):
            stack.extend(reversed(list(x.values())))
        elif x is not None:
            raise TypeError(f"{who}: expected a Tensor (or a tuple / list of Tensors), got "
                            f"{type(x).__name__}")
    if not out:
        raise TypeError(f"{who}: expected a Tensor (or a tuple / list of Tensors), got "
                        f"{type(obj).__name__} without tensors")
    seen = set()
    return [t for t in out if not (id(t) in seen or seen.add(id(t)))]


def parameter_names(model, params, who):
    """``id(tensor) -> name`` from ``model.named_parameters()`` and a ``params`` mapping."""
    names = {}
    if model is not None:
        if not hasattr(model, "named_parameters"):
            raise TypeError(f"{who}: model must be an mg.nn.Module (something with "
                            f"named_parameters()), got {type(model).__name__}")
        for name, p in model.named_parameters():
            names.setdefault(id(p), name)
    if params is not None:
        items = params.items() if hasattr(params, "items") else params
        for name, p in items:
            if not isinstance(p, mg.Tensor):
                raise TypeError(f"{who}: params must map names to Tensors, got "
                                f"{type(p).__name__} for {name!r}")
            names[id(p)] = str(name)
    return names


def step_key(scope):
    """Parse an unrolled-layer scope such as ``("LSTM", "layer0", "reverse", "t=3")``.

    Returns ``(row, t)`` with ``row = (net, layer, direction)`` (``net`` the tuple of scope
    names before the layer, ``direction`` ``""`` for unidirectional layers), or ``None`` when
    the scope holds no ``t=<int>`` level."""
    for i, part in enumerate(scope):
        m = _STEP.match(part)
        if m is None:
            continue
        head = scope[:i]
        direction = ""
        if head and head[-1] in DIRECTIONS:
            direction, head = head[-1], head[:-1]
        layer = 0
        if head and _LAYER.match(head[-1]):
            layer, head = int(_LAYER.match(head[-1]).group(1)), head[:-1]
        return (tuple(head), layer, direction), int(m.group(1))
    return None


def shape_text(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def params_text(node):
    """The op's static parameters as short text (for tooltips)."""
    items = []
    for k in sorted(node.params):
        v = node.params[k]
        if isinstance(v, np.ndarray):
            v = f"array{shape_text(v.shape)}"
        items.append(f"{k}={v!r}")
    return ", ".join(items)


def tensor_node_attrs(view, i, is_root=False, show_shapes=True):
    """Label, style and tooltip of tensor ``i`` as a node."""
    t = view.tensors[i]
    name = view.name(i)
    shape = shape_text(t.shape) if show_shapes else None
    if t.grad_fn is None:
        kind = "param" if view.is_param(i) else "input"
        title = name if name is not None else ("leaf" if t.requires_grad else "input")
        attrs = {"label": escape.label((title, "b" if name else ""), (shape, "small")),
                 "shape": "box", "style": "filled", "fillcolor": COLORS[kind]}
        tip = f"{title} {shape_text(t.shape)} {t.dtype}"
    else:
        node = t.grad_fn
        fill = COLORS.get(name, COLORS["op"]) if name in ("h", "c") else COLORS["op"]
        if is_root:
            fill = COLORS["root"]
        attrs = {"label": escape.label((node.op, "b"), name, (shape, "small")),
                 "shape": "box", "style": "rounded,filled", "fillcolor": fill}
        where = "/".join(node.scope) or "<no scope>"
        tip = f"{node.op} -> {shape_text(t.shape)} {t.dtype}; scope {where}"
        extra = params_text(node)
        if extra:
            tip += f"; {extra}"
    if is_root:
        attrs["penwidth"] = "2"
    attrs["tooltip"] = escape.tooltip(tip)
    return attrs


def base_scene(rankdir):
    if rankdir not in ("BT", "TB", "LR", "RL"):
        raise ValueError(f"rankdir must be one of 'BT', 'TB', 'LR', 'RL', got {rankdir!r}")
    return Scene(graph_attr={"rankdir": rankdir, "fontname": FONT, "newrank": "true",
                             "nodesep": "0.25", "ranksep": "0.45"},
                 node_attr={"fontname": FONT, "fontsize": "11", "margin": "0.08,0.04",
                            "height": "0.3"},
                 edge_attr={"fontname": FONT, "fontsize": "9", "arrowsize": "0.7"})


def draw_graph(tensor, model=None, params=None, show_shapes=True, rankdir="BT"):
    """Draw the recorded graph behind ``tensor`` as a ``graphviz.Digraph``.

    Args:
        tensor: a Tensor with a recorded graph (or a tuple / list of them).
        model: an ``mg.nn.Module`` whose ``named_parameters`` name the leaf nodes.
        params: a mapping (or pairs) ``name -> Tensor`` naming further leaves.
        show_shapes: print each tensor's shape under its op name.
        rankdir: Graphviz's direction; ``"BT"`` puts inputs at the bottom, outputs on top.

    One node per recorded primitive (its op name, the tensor's ``name`` if any and its shape)
    and one per leaf (its parameter name or ``name``). Nodes recorded under ``mg.scope(...)``
    sit in nested clusters labelled with the scope names. The same graph gives byte-identical
    DOT. Raises ``ValueError`` for a tensor without a recorded graph.
    """
    view = GraphView(tensor, model, params, "draw_graph")
    scene = base_scene(rankdir)
    roots = set(view.roots)
    for i, _t in enumerate(view.tensors):
        scope = view.scope(i)
        path = tuple(scope[:k] for k in range(1, len(scope) + 1))
        if path:
            for k, sub in enumerate(path):
                scene.cluster(path[:k + 1], label=escape.label(sub[-1]), style="rounded",
                              color="#888888", fontsize="10",
                              labeljust="l", labelloc="b" if rankdir == "BT" else "t")
        scene.node(f"n{i}", path,
                   **tensor_node_attrs(view, i, i in roots, show_shapes))
    for i, _t in enumerate(view.tensors):
        for j in view.parents(i):
            scene.edge(f"n{j}", f"n{i}")
    return scene.to_digraph()
