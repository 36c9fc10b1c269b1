r"""What BPTT costs: the naive sum of products against reverse accumulation.

The lecture form of the gradient is a sum over the steps k of products of per-step Jacobians,

.. math::
    \frac{\partial L}{\partial W} = \sum_{k=1}^{T} \frac{\partial L}{\partial h_T}
        \Big(\prod_{t=k+1}^{T} \frac{\partial h_t}{\partial h_{t-1}}\Big)
        \frac{\partial^+ h_k}{\partial W}.

Evaluated term by term, going from T-1 to T steps lengthens each of the T-1 old products by one
Jacobian, so the number of Jacobian products obeys :math:`N(T) = N(T-1) + (T-1)`, :math:`N(1)=0`:
O(T^2). Reverse accumulation shares the suffixes :math:`\delta_k = \delta_{k+1} J_{k+1}`:
:math:`R(T) = R(T-1) + 1`, :math:`R(1) = 0`: O(T). Both are solved here with ``sympy.rsolve``.

In recorded ops, with :math:`a` ops per vector-Jacobian product through one step and :math:`s`
ops per reverse sweep outside the steps (the loss, the seed), the naive method (one sweep from
the loss to each :math:`h_k`) and reverse accumulation (one sweep to every :math:`h_k`) cost
:math:`N_{ops}(T) = N_{ops}(T-1) + a (T-1) + s` and :math:`R_{ops}(T) = R_{ops}(T-1) + a`, both
starting at :math:`s`. ``measure_costs`` reads these counts off the engine's recorded graphs
(``create_graph=True`` records every op a backward rule runs), and ``check_costs`` compares them
with the rsolve solutions exactly.
"""

import dataclasses

import numpy as np
import sympy

from ..autograd import grad
from ..tensor import Tensor

T = sympy.Symbol("T", integer=True, positive=True)
A = sympy.Symbol("a", positive=True)
S = sympy.Symbol("s", nonnegative=True)


def cost_recurrences():
    """The four recurrences and their ``rsolve`` solutions, as a dict name -> (Eq, solution):
    ``naive_products`` (T(T-1)/2), ``reverse_products`` (T-1), ``naive_ops`` and
    ``reverse_ops`` (in the per-step cost ``a`` and per-sweep cost ``s``)."""
    f = sympy.Function("C")
    specs = {
        "naive_products": (f(T) - f(T - 1) - (T - 1), {f(1): 0}),
        "reverse_products": (f(T) - f(T - 1) - 1, {f(1): 0}),
        "naive_ops": (f(T) - f(T - 1) - A * (T - 1) - S, {f(1): S}),
        "reverse_ops": (f(T) - f(T - 1) - A, {f(1): S}),
    }
    out = {}
    for name, (rec, init) in specs.items():
        solution = sympy.factor(sympy.rsolve(rec, f(T), init))
        out[name] = (sympy.Eq(f(T), sympy.expand(f(T) - rec)), solution)
    return out


def _new_nodes(roots, old):
    """Recorded nodes reachable from ``roots`` that are not in the id set ``old``."""
    seen, count, stack = set(), 0, [r for r in roots if r is not None]
    while stack:
        t = stack.pop()
        if id(t) in seen or id(t) in old or t._node is None:
            continue
        seen.add(id(t))
        count += 1
        stack.extend(t.parents)
    return count


def _graph_ids(roots):
    return {id(t) for t in _walk(roots)}


def _walk(roots):
    seen, stack, out = set(), list(roots), []
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        out.append(t)
        if t._node is not None:
            stack.extend(t.parents)
    return out


def _count_arrivals(states):
    """Hooks counting how many times a gradient arrives at each state (one arrival past the
    first of a sweep = one vector-Jacobian product through a step)."""
    counter = {"n": 0}

    def hook(g):
        counter["n"] += 1
    handles = [s.register_hook(hook) for s in states]
    return counter, handles


@dataclasses.dataclass
class CostRow:
    """Counts for one sequence length: Jacobian products (gradient arrivals at the states
    minus one per sweep) and ops recorded by the backward passes."""

    steps: int
    naive_products: int
    reverse_products: int
    naive_ops: int
    reverse_ops: int
    step_ops: int


def measure_costs(unroll, steps=range(1, 9)):
    """Run ``unroll(T) -> (loss, states)`` (``states`` = [h_1, ..., h_T], the tensors a step
    makes; ``loss`` a scalar of h_T) for each T and count, by both methods, the Jacobian
    products and the ops the backward passes record. Returns a list of ``CostRow``."""
    rows = []
    for n in steps:
        loss, states = unroll(n)
        states = list(states)
        if len(states) != n:
            raise ValueError(f"measure_costs: unroll({n}) returned {len(states)} states")
        old = _graph_ids([loss])
        counter, handles = _count_arrivals(states)
        naive_ops = 0
        for k in range(n):  # one sweep from the loss to each h_k, recomputing the products
            got = grad(loss, [states[k]], create_graph=True, retain_graph=True)
            naive_ops += _new_nodes(got, old)
        naive_products = counter["n"] - n
        counter["n"] = 0
        got = grad(loss, states, create_graph=True, retain_graph=True)
        reverse_ops = _new_nodes(got, old)
        reverse_products = counter["n"] - 1
        for h in handles:
            h.remove()
        step_ops = 0
        if n >= 2:  # the ops of one vector-Jacobian product: h_T back to h_{T-1}
            v = Tensor(np.ones(states[-1].shape), dtype=states[-1].dtype)
            got = grad(states[-1], [states[-2]], grad_outputs=v, create_graph=True,
                       retain_graph=True)
            step_ops = _new_nodes(got, old)
        rows.append(CostRow(n, naive_products, reverse_products, naive_ops, reverse_ops,
                            step_ops))
    return rows


def check_costs(rows):
    """Compare measured rows with the rsolve solutions. The per-step cost ``a`` is the
    measured ops of one vector-Jacobian product; ``s`` the ops of the one-step sweep.
    Returns a list of ``(name, worst absolute mismatch)`` (0 everywhere when the recurrences
    describe the engine exactly)."""
    sol = cost_recurrences()
    a = max(r.step_ops for r in rows)
    first = min(rows, key=lambda r: r.steps)
    if first.steps != 1:
        raise ValueError("check_costs: the rows must include T = 1")
    s = first.reverse_ops
    worst = {name: 0 for name in sol}
    for r in rows:
        subs = {T: r.steps, A: a, S: s}
        measured = {"naive_products": r.naive_products, "reverse_products": r.reverse_products,
                    "naive_ops": r.naive_ops, "reverse_ops": r.reverse_ops}
        for name, (_, solution) in sol.items():
            predicted = int(solution.subs(subs))
            worst[name] = max(worst[name], abs(predicted - measured[name]))
        if r.steps >= 2 and r.step_ops != a:
            worst["naive_ops"] = max(worst["naive_ops"], abs(r.step_ops - a))
    return list(worst.items())
