"""viz.draw_graph: one node per primitive, scope clusters, parameter names, determinism."""

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

import minigrad as mg
import viz


def load_nets():
    """The hand-written unrolled nets of tests/test_viz_nets.py (loaded by path)."""
    if "viz_test_nets" not in sys.modules:
        path = Path(__file__).with_name("test_viz_nets.py")
        spec = importlib.util.spec_from_file_location("viz_test_nets", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules["viz_test_nets"] = module
    return sys.modules["viz_test_nets"]


def node_labels(source):
    """The labels of the drawn nodes (edges excluded)."""
    return re.findall(r"^\s*\w+ \[label=<(.*?)>(?: |\])", source, flags=re.M)


def small_graph():
    x = mg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w = mg.nn.Parameter(np.ones((3, 2)))
    with mg.scope("block"):
        with mg.scope("inner"):
            y = (x @ w).tanh()
        z = (y * y).sum()
    return x, w, z


def test_one_node_per_op_and_leaf_with_shapes():
    x, w, z = small_graph()
    src = viz.draw_graph(z, params={"w": w}).source
    labels = node_labels(src)
    ops = [re.search(r"<B>(\w+)</B>", lab).group(1) for lab in labels if "<B>" in lab]
    assert sorted(ops) == sorted(["matmul", "tanh", "mul", "sum", "w"])
    assert len(labels) == 6          # matmul, tanh, mul, sum + leaves x and w
    assert "(2, 2)" in src and "(2, 3)" in src
    # x, w -> matmul -> tanh -> mul (tanh twice: y * y) -> sum
    assert len(re.findall(r"^\s*n\d+ -> n\d+", src, flags=re.M)) == 6


def test_nested_scope_clusters_are_labelled():
    _, _, z = small_graph()
    src = viz.draw_graph(z).source
    assert src.count("subgraph cluster_") == 2
    assert "label=<block>" in src and "label=<inner>" in src
    outer = src.index("label=<block>")
    inner = src.index("label=<inner>")
    assert outer < inner                       # inner cluster nested after its parent
    assert src.index("<B>tanh</B>") > inner   # tanh recorded inside the inner scope


def test_parameter_names_from_module():
    lin = mg.nn.Linear(3, 2)
    out = lin(mg.randn(4, 3)).sum()
    src = viz.draw_graph(out, model=lin).source
    assert "<B>weight</B>" in src and "<B>bias</B>" in src


def test_same_graph_gives_byte_identical_dot():
    nets = load_nets()
    sources = []
    for _ in range(2):
        model, _, out, _, loss = nets.run("LSTM", T=3, layers=2, bidirectional=True)
        sources.append(viz.draw_graph(loss, model=model).source)
    assert sources[0] == sources[1]


def test_tensor_without_graph_is_a_clear_error():
    with pytest.raises(ValueError, match="no recorded graph"):
        viz.draw_graph(mg.tensor([1.0, 2.0], requires_grad=True))
    with mg.no_grad():
        y = mg.tensor([1.0], requires_grad=True) * 2
    with pytest.raises(ValueError, match="no recorded graph"):
        viz.draw_graph(y)
    with pytest.raises(TypeError, match="expected a Tensor"):
        viz.draw_graph("loss")


def test_attention_built_from_primitives_draws():
    q = mg.randn(2, 4, 8, requires_grad=True)
    k = mg.randn(2, 5, 8, requires_grad=True)
    v = mg.randn(2, 5, 8, requires_grad=True)
    with mg.scope("attention"):
        scores = q @ k.transpose(1, 2) / np.sqrt(8.0)
        out = scores.softmax(dim=-1) @ v
    src = viz.draw_graph(out.sum()).source
    for op in ("softmax", "matmul", "permute", "div"):
        assert f"<B>{op}</B>" in src
    assert "label=<attention>" in src


def test_several_roots_and_rankdir():
    x = mg.randn(3, requires_grad=True)
    a, b = x.exp(), x.tanh()
    src = viz.draw_graph((a, b), rankdir="TB").source
    assert "rankdir=TB" in src and "<B>exp</B>" in src and "<B>tanh</B>" in src
    with pytest.raises(ValueError, match="rankdir"):
        viz.draw_graph(a, rankdir="XY")


def test_drawing_does_not_touch_the_graph():
    x, w, z = small_graph()
    before = (z.op, [p.op for p in z.parents], z.grad_fn.scope, x.grad, w.grad)
    viz.draw_graph(z)
    assert (z.op, [p.op for p in z.parents], z.grad_fn.scope, x.grad, w.grad) == before
    z.backward()                         # the graph still works after drawing
    assert x.grad is not None
