"""BPTT cost by ``sympy.rsolve`` against the ops the engine records, and expression swell."""

import sympy

from minigrad.symbolic import cost, swell
from models import theory


def test_rsolve_closed_forms():
    sol = {name: s for name, (_, s) in cost.cost_recurrences().items()}
    T, a, s = cost.T, cost.A, cost.S
    assert sympy.expand(sol["naive_products"] - T * (T - 1) / 2) == 0
    assert sympy.expand(sol["reverse_products"] - (T - 1)) == 0
    assert sympy.expand(sol["naive_ops"] - (a * T * (T - 1) / 2 + s * T)) == 0
    assert sympy.expand(sol["reverse_ops"] - (a * (T - 1) + s)) == 0
    rec, _ = cost.cost_recurrences()["naive_products"]
    assert isinstance(rec, sympy.Eq)


def test_engine_counts_follow_the_recurrences():
    rows = cost.measure_costs(theory.rnn_unroll(hidden=2), range(1, 8))
    assert [r.naive_products for r in rows] == [n * (n - 1) // 2 for n in range(1, 8)]
    assert [r.reverse_products for r in rows] == [n - 1 for n in range(1, 8)]
    assert all(r.step_ops > 0 for r in rows[1:])
    assert all(mismatch == 0 for _, mismatch in cost.check_costs(rows))
    # quadratic against linear
    assert rows[-1].naive_ops > 2 * rows[-1].reverse_ops


def test_expression_swell_outgrows_the_graph():
    rows = swell.expression_swell(theory.scalar_rnn_unroll(), (2, 4, 8))
    graph = [r.graph_ops for r in rows]
    assert graph[2] - graph[1] == 2 * (graph[1] - graph[0])  # linear in T
    ratios = [r.ratio for r in rows]
    assert ratios[0] < ratios[1] < ratios[2]
    # quadratic: doubling T roughly quadruples the written-out derivative
    assert rows[2].derivative_ops > 3 * rows[1].derivative_ops
    # sharing subexpressions (cse) gives back a size linear in T, like the graph
    assert rows[2].cse_ops < 2.5 * rows[1].cse_ops
