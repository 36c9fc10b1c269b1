"""A user's cell drawn as the built-in layers are: ``Recurrent(..., fused=False)`` names each
new state after ``state_names``, so ``viz.draw_bptt`` finds the steps' states and overlays
their gradients."""

import re

import numpy as np
from cells_for_tests import PeepholeReLU

import minigrad as mg
import viz
from models import Recurrent


def _edges(source, label):
    """The step-to-step edges labelled ``label``."""
    return [line for line in source.splitlines()
            if re.match(r"\s*s0_\d+ -> s0_\d+ ", line) and f"xlabel=<<B>{label}</B>>" in line]


def test_user_cell_states_are_named_and_drawn_with_the_gradient_overlay():
    T = 5
    mg.manual_seed(0)
    layer = Recurrent(PeepholeReLU, 3, 4, fused=False, dtype=mg.float64)
    x = mg.tensor(np.random.default_rng(0).standard_normal((T, 2, 3)))
    out, (h_n, c_n) = layer(x)
    assert (h_n.name, c_n.name) == (None, None)  # slices of the stacked states, not states
    loss = (out ** 2).sum() + (c_n ** 2).sum()
    rec = viz.watch(loss, layer)
    loss.backward()
    assert rec.num_captured == 2 * T
    src = viz.draw_bptt(loss, model=layer, grads=rec).source
    assert len(re.findall(r"subgraph cluster_r\d+_t\d+ \{", src)) == T
    assert len(_edges(src, "h")) == len(_edges(src, "c")) == T - 1
    # every step's cluster is labelled with both norms
    assert src.count('POINT-SIZE="9">||∂L/∂h||') == src.count('POINT-SIZE="9">||∂L/∂c||') == T
