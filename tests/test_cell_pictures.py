"""A user's cell drawn and analysed as the built-in layers are: ``Recurrent(...,
fused=False)`` names each new state after ``state_names``, so ``viz.draw_bptt`` finds the
steps' states and overlays their gradients, and ``models.analysis`` reads them (a compiled
``Recurrent`` through its unrolled path)."""

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


def test_gradient_analysis_of_a_user_cell_fused_or_unrolled():
    """models.analysis reads a compiled Recurrent's states through its unrolled path (the
    same numbers): ||dL/dh_t|| per step, and the Jacobian norms back from the last step."""
    from models import analysis

    T, B, H = 6, 2, 4
    mg.manual_seed(1)
    unrolled = Recurrent(PeepholeReLU, 3, H, fused=False, dtype=mg.float64)
    fused = Recurrent(PeepholeReLU, 3, H, dtype=mg.float64)
    fused.load_state_dict(unrolled.state_dict())
    x = mg.tensor(np.random.default_rng(2).standard_normal((T, B, 3)))
    a, b = analysis.gradient_flow(unrolled, x), analysis.gradient_flow(fused, x)
    assert fused.fused is True  # restored after the analysis
    ka, kb = a.layers[0], b.layers[0]
    np.testing.assert_allclose(b.h[kb], a.h[ka], rtol=1e-10)
    np.testing.assert_allclose(b.c[kb], a.c[ka], rtol=1e-10)
    # the default loss sums the last output: dL/dh_{T-1} is all ones, its norm sqrt(B H)
    np.testing.assert_allclose(a.h[ka][-1], np.sqrt(B * H), rtol=1e-12)
    ja, jb = analysis.jacobian_norms(unrolled, x, k=3), analysis.jacobian_norms(fused, x, k=3)
    np.testing.assert_allclose(jb.spectral, ja.spectral, rtol=1e-10)
    assert ja.spectral.shape == (B, 4)
    np.testing.assert_allclose(ja.spectral[:, 0], 1.0, rtol=1e-12)  # d = 0: the identity
