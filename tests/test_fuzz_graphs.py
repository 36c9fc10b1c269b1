"""Differential fuzz of random graphs over every public op (issue 14, part 7).

Each example is a random straight-line program (``tests/fuzz_graphs.py``: elementwise ops with
broadcasting and Python scalars, matmul, linear, reductions with dim/keepdim, softmax/
log_softmax/logsumexp, var/std, shape ops, indexing, concat/stack/split/chunk, embedding/
index_select/gather/scatter_add, clamp/where/maximum/minimum, losses ...). Its outputs are
checked against the same program in numpy, its first and second derivatives against float64
central differences (``mg.gradcheck``, ``mg.gradgradcheck``), its plain first-order gradients
against its create_graph=True ones and, when PyTorch is installed, outputs, dtypes, first and
second derivatives against PyTorch's (float64, and float32 loosely). Graphs whose inputs sit at
a kink (ties, |x| = 0, clamp bounds) are compared with PyTorch only. A primitive no graph reaches
fails ``test_catalog_reaches_every_primitive``. ``bench/soak_fuzz.py`` runs the same generator
for many more graphs.
"""

import fuzz_graphs as fg
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import minigrad as mg


def _examples(n):
    """n examples, or more when the hypothesis profile asks for more (HYPOTHESIS_PROFILE)."""
    return max(n, settings().max_examples)


def _report(graph, found):
    return "\n".join([str(m) for m in found] + ["graph:", graph.describe()])


def _draw_graph(data, mode, max_steps=6):
    graph = fg.random_graph(fg.HypothesisChooser(data), mode=mode, max_steps=max_steps)
    if graph is None:
        from hypothesis import reject
        reject()
    return graph


@settings(max_examples=_examples(200))
@given(st.data())
def test_graphs_against_numpy_and_central_differences(data):
    graph = _draw_graph(data, "smooth")
    found = fg.check_graph(graph, with_torch=False, central=True)
    assert not found, _report(graph, found)


@settings(max_examples=_examples(120))
@given(st.data())
def test_grid_graphs_against_numpy_and_central_differences(data):
    """Leaves on a grid of halves: exact zeros, equal entries, x ** 0 where the ops are still
    smooth (kinks are still kept away), so special-cased values in backward rules are hit."""
    graph = _draw_graph(data, "grid")
    found = fg.check_graph(graph, with_torch=False, central=True)
    assert not found, _report(graph, found)


@settings(max_examples=_examples(200))
@given(st.data(), st.sampled_from(["smooth", "grid"]))
def test_graphs_against_torch(data, mode):
    pytest.importorskip("torch")
    graph = _draw_graph(data, mode)
    found = fg.check_graph(graph, with_torch=True, central=False)
    assert not found, _report(graph, found)


@settings(max_examples=_examples(200))
@given(st.data())
def test_graphs_at_kinks_against_torch(data):
    """Ties in max/amax/maximum, zeros under abs/relu/leaky_relu, values on clamp bounds: no
    derivative exists there, so only PyTorch's conventions are the reference."""
    pytest.importorskip("torch")
    graph = _draw_graph(data, "ties")
    found = fg.check_graph(graph, with_torch=True, central=False)
    assert not found, _report(graph, found)


def _have_torch():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


@settings(max_examples=_examples(80))
@given(st.data(), st.sampled_from(["smooth", "grid", "ties"]))
def test_float32_graphs_against_torch(data, mode):
    """float32 leaves: values and derivatives against PyTorch's float32 (loosely), and every
    output and gradient still float32 (no op may widen to float64 behind the user's back)."""
    pytest.importorskip("torch")
    graph = fg.random_graph(fg.HypothesisChooser(data), mode=mode, max_steps=6, dtype="float32")
    if graph is None:
        from hypothesis import reject
        reject()
    found = fg.check_graph(graph, with_torch=True, central=False)
    assert not found, _report(graph, found)


@pytest.mark.parametrize("block", range(10))
def test_seeded_graphs(block):
    """Plain seeded graphs (the soak's generator, its first 10 x 40 seeds): every check that
    applies to each, PyTorch included when installed."""
    with_torch = _have_torch()
    for seed in range(40 * block, 40 * block + 40):
        mode = ("smooth", "grid", "ties", "smooth")[seed % 4]
        graph = fg.random_graph(fg.RngChooser(seed), mode=mode)
        if graph is None or (mode == "ties" and not with_torch):
            continue
        found = fg.check_graph(graph, with_torch=with_torch, central=True)
        assert not found, f"seed {seed}, mode {mode}:\n" + _report(graph, found)


@pytest.mark.parametrize("name", sorted(fg.CATALOG))
def test_every_op_first(name):
    """Each op of the catalog at the start of a few small graphs, whatever hypothesis draws:
    the numpy program, central differences and (when installed) PyTorch."""
    with_torch = _have_torch()
    made = 0
    for seed in range(40):
        mode = ("smooth", "grid", "smooth")[seed % 3]
        graph = fg.random_graph(fg.RngChooser([seed, len(name)]), mode=mode, first_op=name,
                                n_steps=1 + seed % 3)
        if graph is None or graph.steps[0].op != name:
            continue
        found = fg.check_graph(graph, with_torch=with_torch, central=True)
        assert not found, _report(graph, found)
        made += 1
        if made == 3:
            break
    assert made >= 1, f"the generator could not start a graph with {name}"


def test_catalog_reaches_every_primitive():
    """Every primitive declared in minigrad is run by the catalog, in a forward graph or in a
    first or second derivative of one: a new primitive needs a catalog entry."""
    seen = set()
    for name in fg.CATALOG:
        for seed in range(12):
            graph = fg.random_graph(fg.RngChooser([seed, 7]), mode="smooth", first_op=name,
                                    n_steps=1)
            if graph is None or graph.steps[0].op != name:
                continue
            leaves = fg.mg_leaves(graph)
            nodes = fg.run(graph, "mg", leaves)
            outs = [nodes[o] for o in graph.outputs if nodes[o].requires_grad]
            seen.update(t.op for t in mg.topological_order(outs))
            grads = [leaf for leaf in leaves if leaf.requires_grad]
            if not outs:
                continue
            total = sum((o * o).sum() for o in outs)
            first = [g for g in mg.grad(total, grads, create_graph=True, allow_unused=True)
                     if g is not None and g.requires_grad]
            seen.update(t.op for t in mg.topological_order(first))
            if first:
                second = mg.grad(sum((g * g).sum() for g in first), grads, create_graph=True,
                                 allow_unused=True)
                seen.update(t.op for t in mg.topological_order([g for g in second if g is not
                                                                 None and g.requires_grad]))
    declared = {n for n, p in mg.REGISTRY.items() if p.module.startswith("minigrad.")}
    # cast: float32 <-> float64 only (every graph here is float64); index_put: the in-place
    # ops' primitive (x[i] = v), excluded for now (issue 14: in-place ops are being fixed).
    missing = declared - seen - {"cast", "index_put"}
    assert not missing, f"primitives no fuzz graph reaches: {sorted(missing)}"


def test_generator_is_deterministic():
    """The soak reports seeds: the same seed must give the same graph."""
    a = fg.random_graph(fg.RngChooser(123), mode="ties")
    b = fg.random_graph(fg.RngChooser(123), mode="ties")
    assert a.describe() == b.describe()
    assert all(np.array_equal(x, y) for x, y in zip(a.leaves, b.leaves, strict=True))
