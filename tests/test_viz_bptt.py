"""viz.draw_bptt: the unrolled view's structure, folding, determinism and layout."""

import json
import re
import subprocess

import numpy as np
import pytest
from test_viz_graph import load_nets

import minigrad as mg
import viz

nets = load_nets()
needs_dot = pytest.mark.skipif(not viz.has_dot(), reason="Graphviz's dot is not installed")


def cluster_tree(source):
    """``{cluster name: (parent cluster name or None, label)}`` from DOT source."""
    tree, stack = {}, [None]
    for line in source.splitlines():
        m = re.match(r"\s*subgraph (cluster\w*) \{", line)
        if m:
            tree[m.group(1)] = [stack[-1], None]
            stack.append(m.group(1))
            continue
        if line.strip() == "}" and len(stack) > 1:
            stack.pop()
            continue
        m = re.match(r"\s*(?:\w+=\S+ )*label=<(.*?)> ", line)
        if m and stack[-1] is not None and tree[stack[-1]][1] is None and "[" not in line:
            tree[stack[-1]][1] = m.group(1)
    return {k: tuple(v) for k, v in tree.items()}


def step_clusters(source):
    return sorted(set(re.findall(r"subgraph (cluster_r\d+_t\d+) \{", source)))


def nodes_naming(source, name):
    """The node definitions whose label shows ``name``."""
    lines = re.findall(r"^\s*\w+ \[label=<(.*)$", source, flags=re.M)
    labels = [line.split(' tooltip="')[0] for line in lines]
    return [lab for lab in labels if re.search(rf"\b{name}\b", lab)]


def edges(source):
    return re.findall(r"^\s*(\w+) -> (\w+) \[(.*)\]$", source, flags=re.M)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("layers,bidirectional", [(1, False), (2, False), (2, True)])
@pytest.mark.parametrize("detail", ["cell", "op"])
def test_one_cluster_per_step_layer_and_direction(kind, layers, bidirectional, detail):
    T = 4
    model, _, _, _, loss = nets.run(kind, T=T, layers=layers, bidirectional=bidirectional)
    src = viz.draw_bptt(loss, model=model, detail=detail).source
    directions = 2 if bidirectional else 1
    names = step_clusters(src)
    assert len(names) == T * layers * directions
    tree = cluster_tree(src)
    for name in names:
        parent, label = tree[name]
        assert label.startswith("<B>t=")
        # nested in the direction cluster (bidirectional), itself in the layer cluster
        if bidirectional:
            assert tree[parent][1] in ("forward", "reverse")
            parent = tree[parent][0]
        assert re.fullmatch(r"<B>HandRNN\.?\w*|<B>\w+/layer\d</B>", tree[parent][1])
    layer_labels = {v[1] for v in tree.values() if v[1] and "/layer" in v[1]}
    assert layer_labels == {f"<B>{kind}/layer{k}</B>" for k in range(layers)}


def test_shared_weights_drawn_once_with_an_edge_into_every_step():
    T = 5
    model, _, _, _, loss = nets.run("LSTM", T=T, layers=2)
    for detail in ("cell", "op"):
        src = viz.draw_bptt(loss, model=model, detail=detail).source
        for name, _ in model.named_parameters():
            assert len(nodes_naming(src, name)) == 1, (detail, name)
    src = viz.draw_bptt(loss, model=model).source
    for r in range(2):
        into = {head for tail, head, attrs in edges(src)
                if tail == f"w{r}" and "invis" not in attrs}
        assert into == {f"s{r}_{t}" for t in range(T)}


def test_hidden_and_cell_state_edges_have_distinct_labelled_styles():
    T = 4
    model, _, _, _, loss = nets.run("LSTM", T=T)
    src = viz.draw_bptt(loss, model=model).source
    recurrent = [(a, b, attrs) for a, b, attrs in edges(src)
                 if a.startswith("s0_") and b.startswith("s0_")]
    h = [e for e in recurrent if "xlabel=<<B>h</B>>" in e[2]]
    c = [e for e in recurrent if "xlabel=<<B>c</B>>" in e[2]]
    assert len(h) == len(c) == T - 1
    assert all('color="#2b5cb8"' in e[2] for e in h)
    assert all(':#ffffff:' in e[2] for e in c)          # the carousel: a double line
    assert "constant error carousel" in src and "hidden state" in src
    src_rnn = viz.draw_bptt(nets.run("RNN", T=T)[4]).source
    assert "xlabel=<<B>c</B>>" not in src_rnn and "carousel" not in src_rnn


def test_inputs_below_outputs_above_and_initial_states():
    model, _, _, _, loss = nets.run("GRU", T=3)
    src = viz.draw_bptt(loss, model=model).source
    tree = cluster_tree(src)
    assert "cluster_inputs" in tree and "cluster_outputs" in tree
    inputs = src[src.index("subgraph cluster_inputs"):]
    assert all(f"x<SUB>{t}</SUB>" in inputs for t in range(3))
    outputs = src[src.index("subgraph cluster_outputs"):src.index("subgraph cluster_outputs")
                  + 2000]
    assert "outputs → loss" in outputs
    assert "h initial" in src
    assert "<B>1</B>" not in src      # the constant 1 of 1 - z stays inside the GRU cell


def test_op_detail_groups_every_primitive_into_the_step_clusters():
    model, _, _, _, loss = nets.run("LSTM", T=3)
    src = viz.draw_bptt(loss, model=model, detail="op").source
    tree = cluster_tree(src)
    for t in range(3):
        body = src[src.index(f"subgraph cluster_r0_t{t} {{"):]
        body = body[:body.index("\n\t\t}")]
        for op in ("linear", "sigmoid", "tanh", "mul", "add"):  # F.linear: one primitive
            assert f"<B>{op}</B>" in body
        assert body.count("<BR/>c<BR/>") == 1 and body.count("<BR/>h<BR/>") == 1
    assert len(step_clusters(src)) == 3 and tree


def test_folding_keeps_the_node_count_bounded():
    counts = []
    for T in (30, 300):
        model, _, _, _, loss = nets.run("RNN", T=T, H=3)
        src = viz.draw_bptt(loss, model=model, max_steps=6).source
        assert len(step_clusters(src)) == 6
        assert f"… {T - 6} steps …" in src
        assert "cluster_r0_fold" in src
        counts.append(len(re.findall(r"^\s*\w+ \[", src, flags=re.M)))
    assert counts[0] == counts[1]
    model, _, _, _, loss = nets.run("RNN", T=5)
    src = viz.draw_bptt(loss, max_steps=8).source     # short enough: nothing folded
    assert len(step_clusters(src)) == 5 and "steps …" not in src


def test_a_thousand_steps_fold_into_a_small_picture():
    model, _, out, _, loss = nets.run("RNN", T=1000, H=4, B=1)
    for detail in ("cell", "op"):
        graph = viz.draw_bptt(loss, model=model, detail=detail, max_steps=4)
        assert len(re.findall(r"^\s*\w+ \[", graph.source, flags=re.M)) < 120
        if viz.has_dot():
            svg = graph.pipe(format="svg").decode()
            assert "… 996 steps …" in svg


def test_same_graph_gives_byte_identical_dot():
    sources = []
    for _ in range(2):
        model, _, _, _, loss = nets.run("LSTM", T=4, layers=2, bidirectional=True)
        rec = viz.watch(loss)
        loss.backward()
        sources.append(viz.draw_bptt(loss, model=model, grads=rec, max_steps=2).source)
    assert sources[0] == sources[1]


def test_clear_errors():
    x = mg.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="no unrolled recurrent steps"):
        viz.draw_bptt((x * 2).sum())
    with pytest.raises(ValueError, match="no recorded graph"):
        viz.draw_bptt(x)
    loss = nets.run("RNN", T=2)[4]
    with pytest.raises(ValueError, match="detail"):
        viz.draw_bptt(loss, detail="gates")
    for bad in (1, 0, 2.5, True):
        with pytest.raises(ValueError, match="max_steps"):
            viz.draw_bptt(loss, max_steps=bad)
    with pytest.raises(TypeError, match="grads"):
        viz.draw_bptt(loss, grads="yes")


def test_real_unrolled_models_layers():
    models = pytest.importorskip("models")
    mg.manual_seed(0)
    lstm = models.LSTM(3, 4, num_layers=2, bidirectional=True, fused=False)
    out, (h_n, c_n) = lstm(mg.randn(5, 2, 3))
    for target in ((out, (h_n, c_n)), (h_n * h_n).sum()):
        src = viz.draw_bptt(target, model=lstm).source
        assert len(step_clusters(src)) == 5 * 2 * 2
        for name, _ in lstm.named_parameters():
            assert len(nodes_naming(src, name)) == 1
    gru = models.GRU(3, 4, fused=False)
    out, _ = gru(mg.randn(6, 1, 3))
    assert len(step_clusters(viz.draw_bptt(out, model=gru, detail="op").source)) == 6


def layout(graph):
    """Cluster centres ``{name: (x, y)}`` of Graphviz's layout (y grows upwards)."""
    out = subprocess.run(["dot", "-Tjson"], input=graph.source.encode(), capture_output=True,
                         check=True).stdout
    centres = {}
    for obj in json.loads(out).get("objects", []):
        if obj.get("name", "").startswith("cluster") and "bb" in obj:
            x0, y0, x1, y1 = map(float, obj["bb"].split(","))
            centres[obj["name"]] = ((x0 + x1) / 2, (y0 + y1) / 2)
        elif "pos" in obj and obj.get("name", "").startswith(("n", "out")):
            x, y = map(float, obj["pos"].split(","))
            centres[obj["name"]] = (x, y)
    return centres


@needs_dot
@pytest.mark.parametrize("kind,layers,bidirectional", [("LSTM", 2, True), ("GRU", 3, False),
                                                       ("RNN", 1, False)])
def test_layout_time_left_to_right_layers_upwards(kind, layers, bidirectional):
    T = 4
    model, _, _, _, loss = nets.run(kind, T=T, layers=layers, bidirectional=bidirectional)
    graph = viz.draw_bptt(loss, model=model)
    pos = layout(graph)
    rows = layers * (2 if bidirectional else 1)
    for r in range(rows):
        xs = [pos[f"cluster_r{r}_t{t}"][0] for t in range(T)]
        assert xs == sorted(xs), f"row {r}: time does not run left to right"
    heights = [np.mean([pos[f"cluster_r{r}_t{t}"][1] for t in range(T)]) for r in range(rows)]
    d = 2 if bidirectional else 1
    layer_y = [np.mean(heights[k * d:(k + 1) * d]) for k in range(layers)]
    assert layer_y == sorted(layer_y), "layers are not stacked bottom to top"
    assert pos["cluster_inputs"][1] < min(heights), "inputs are not below the layers"
    assert pos["out"][1] > max(heights), "outputs are not above the layers"
