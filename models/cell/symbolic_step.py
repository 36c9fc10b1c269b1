"""A traced cell step evaluated on sympy expressions: the symbolic rule of a recurrence, from
the same graph the kernels are generated from.

``step_symbolic(graph, x, states, params)`` replays a ``StepGraph`` (``models.cell.graph``)
once with every primitive's own symbolic rule, on object arrays: x (B, I), each state (B, H),
params: the cell's parameters by dotted name. ``product_mask`` (B, H), when given, multiplies
the first state where it flows into a product with a weight and nowhere else (variational
recurrent dropout as the hand-written kernels apply it: GRU's ``z * h`` keeps h unmasked).
"""

import numpy as np

from minigrad.primitive import REGISTRY

from .graph import rebatch


def _feeds_products_only(graph):
    """The op Values whose every use ends in a ``matmul`` (and that are not new states)."""
    outputs = {id(v) for v in graph.outputs}
    only = set()
    for v in reversed(graph.values):
        if v.origin != "op" or id(v) in outputs:
            continue
        if v.op == "matmul" or (v.users and all(u.op == "matmul" or id(u) in only
                                                for u in v.users)):
            only.add(id(v))
    return only


def step_symbolic(graph, x, states, params, product_mask=None):
    """One step on object arrays -> the new states (a tuple of (B, H) object arrays)."""
    from minigrad.ops.sym import sym_constant

    B = x.shape[0]
    env = {graph.x: x} if graph.x is not None else {}
    env.update({v: s for v, s in zip(graph.states, states, strict=True) if v is not None})
    masked = None
    if product_mask is not None:
        masked = states[0] * product_mask
        only = _feeds_products_only(graph)
    for v in graph.values:
        if v.origin == "param":
            env[v] = params[v.name]
        elif v.origin in ("const", "captured"):
            env[v] = sym_constant(v.tensor.numpy())
        elif v.origin == "op":
            ins = [env[i] for i in v.inputs]
            if masked is not None and id(v) in only:
                ins = [masked if i is graph.states[0] else a
                       for i, a in zip(v.inputs, ins, strict=True)]
            params_v = rebatch(v.params, graph.batch, B) if v.row else v.params
            env[v] = np.asarray(REGISTRY[v.op].symbolic(*ins, **params_v), dtype=object)
    return tuple(np.array(env[o], dtype=object) for o in graph.outputs)
