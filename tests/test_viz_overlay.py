"""The gradient overlay: norms from the real backward pass (hooks), clear errors, the scale."""

import math
import re

import numpy as np
import pytest
from test_viz_graph import load_nets

import minigrad as mg
import viz
from viz.overlay import LogScale, grad_norm, ramp_color

nets = load_nets()


def states(output, names=("h", "c")):
    """The unrolled steps' state tensors behind ``output``, by (scope, name)."""
    found = {}
    stack, seen = [output], set()
    while stack:
        t = stack.pop()
        if id(t) in seen:
            continue
        seen.add(id(t))
        if t.name in names and "t=" in t.scope:
            found[(t.scope, t.name)] = t
        stack.extend(t.parents)
    return found


def test_captured_norms_are_the_real_backward_gradients():
    model, _, _, _, loss = nets.run("LSTM", T=5, layers=2)
    found = states(loss)
    for t in found.values():
        t.retain_grad()
    rec = viz.watch(loss, model)
    assert rec.num_watched == len(found) == 2 * 5 * 2
    loss.backward()
    assert rec.num_captured == len(found)
    for t in found.values():
        assert rec.norm(t) == pytest.approx(float(np.linalg.norm(t.grad.numpy())), rel=1e-12)


def test_hooks_leave_the_gradients_unchanged():
    grads = []
    for watch in (False, True):
        model, _, _, _, loss = nets.run("GRU", T=4, bidirectional=True)
        if watch:
            viz.watch(loss)
        loss.backward()
        grads.append([p.grad.numpy().copy() for p in model.parameters()])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_array_equal(a, b)


def test_overlay_labels_and_edges_follow_the_norms():
    T = 6
    model, _, _, _, loss = nets.run("RNN", T=T, H=4)
    rec = viz.watch(loss)
    loss.backward()
    src = viz.draw_bptt(loss, model=model, grads=rec).source
    by_time = {int(re.search(r"t=(\d+)", s).group(1)): t for (s, _), t in states(loss).items()}
    for t, tensor in by_time.items():
        text = f"{rec.norm(tensor):.1e}"
        label = re.search(rf"cluster_r0_t{t} {{\n\s*(.*)", src).group(1)
        assert f"||∂L/∂h|| {text}" in label
    widths = recurrent_widths(src)          # edge t -> t+1 carries h_t
    norms = [rec.norm(by_time[t]) for t in range(T - 1)]
    order = np.argsort(norms)
    assert [widths[t] for t in order] == sorted(widths)   # wider = larger gradient
    assert "gradient overlay" in src and "log scale" in src


def test_grads_from_retain_grad_without_watch():
    model, _, _, _, loss = nets.run("LSTM", T=3)
    for t in states(loss).values():
        t.retain_grad()
    loss.backward()
    src = viz.draw_bptt(loss, grads=True).source
    assert "||∂L/∂c||" in src and "||∂L/∂h||" in src


def test_grads_requested_before_backward_is_a_clear_error():
    _, _, _, _, loss = nets.run("LSTM", T=3)
    rec = viz.watch(loss)
    with pytest.raises(RuntimeError, match="run loss.backward"):
        viz.draw_bptt(loss, grads=rec)
    with pytest.raises(RuntimeError, match="run loss.backward"):
        viz.draw_bptt(loss, grads=True)
    _, _, _, _, other = nets.run("RNN", T=3)
    other.backward()
    with pytest.raises(RuntimeError, match="BEFORE loss.backward"):
        viz.draw_bptt(other, grads=True)


def test_watch_needs_unrolled_states():
    x = mg.randn(3, requires_grad=True)
    with pytest.raises(ValueError, match="found no state tensors"):
        viz.watch((x.tanh() * 2).sum())
    model, _, _, _, loss = nets.run("RNN", T=2)
    with pytest.raises(TypeError, match="not the model"):
        viz.watch(model)
    rec = viz.watch(loss)
    rec.remove()
    assert "captured=0" in repr(rec)


def linear_recurrence(gain, T=8):
    """h_t = gain * h_{t-1} + x_t under the scope convention: gradients grow (gain > 1) or
    shrink (gain < 1) geometrically towards t = 0."""
    w = mg.nn.Parameter(np.eye(3) * gain)
    h = mg.zeros(1, 3, dtype=np.float64)
    for t in range(T):
        with mg.scope("Linear"), mg.scope("layer0"), mg.scope(f"t={t}"):
            h = h @ w + mg.tensor(np.ones((1, 3)))
            h.name = "h"
    return h.sum()


def recurrent_widths(src):
    widths = {}
    for a, _, attrs in re.findall(r"^\s*(s0_\d+) -> (s0_\d+) \[(.*)\]$", src, flags=re.M):
        widths[int(a.split("_")[1])] = float(re.search(r"penwidth=([\d.]+)", attrs).group(1))
    return [widths[t] for t in sorted(widths)]


def test_vanishing_fades_and_exploding_swells_to_the_left():
    for gain, grows in ((0.3, False), (3.0, True)):
        loss = linear_recurrence(gain)
        viz.watch(loss)
        loss.backward()
        widths = recurrent_widths(viz.draw_bptt(loss, grads=True).source)
        assert widths == sorted(widths, reverse=grows) and widths[0] != widths[-1]
    tanh_loss = nets.run("RNN", T=12, H=6, scale=0.3)[4]
    rec = viz.watch(tanh_loss)
    tanh_loss.backward()
    by_time = {int(re.search(r"t=(\d+)", s).group(1)): rec.norm(t)
               for (s, _), t in states(tanh_loss).items()}
    assert by_time[0] / by_time[11] < 1e-3


def test_log_scale_colours_and_widths():
    scale = LogScale([1e-6, 1e-3, 1.0, 0.0, math.inf])
    assert (scale.lo, scale.hi) == (-6.0, 0.0)
    widths = [scale.width(v) for v in (1e-6, 1e-4, 1e-2, 1.0)]
    assert widths == sorted(widths) and widths[0] < widths[-1]
    assert scale.edge_attrs(0.0)["style"] == "dotted"
    assert scale.color(math.inf) == scale.color(math.nan) != scale.color(1.0)
    assert ramp_color(0.0) != ramp_color(1.0) and re.fullmatch(r"#[0-9a-f]{6}", ramp_color(0.3))
    assert LogScale([2.0]).fraction(2.0) == pytest.approx(0.5)   # one value: mid scale
    assert grad_norm(np.array([3.0, 4.0], dtype=np.float32)) == 5.0
    assert grad_norm(np.array([1.0, np.inf])) == math.inf
    assert math.isnan(grad_norm(np.array([np.nan, 1.0])))
