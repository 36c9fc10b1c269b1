"""``models.cell.step_jacobian``: d s_t / d s_{t-1} of any cell, traced and differentiated by
sympy, against the engine's own gradients (float64) and against the closed forms."""

import numpy as np
import pytest
import sympy

import minigrad as mg
import models
from models.cell import step_jacobian
from tests.cells_for_tests import Elman, GatedBeforeProduct, Normalized, PeepholeReLU


def _engine_jacobian(cell, x, states):
    xs = mg.tensor(x[None])
    leaves = [mg.tensor(s[None], requires_grad=True) for s in states]
    out = cell(xs, tuple(leaves))
    out = (out,) if isinstance(out, mg.Tensor) else out
    rows = []
    for o in out:
        for j in range(o.shape[1]):
            g = mg.grad(o[0, j], leaves, allow_unused=True, retain_graph=True)
            rows.append(np.concatenate([np.zeros(s.size) if gg is None else gg.numpy()[0]
                                        for s, gg in zip(states, g, strict=True)]))
    return np.array(rows)


@pytest.mark.parametrize("cell_cls", [Elman, GatedBeforeProduct, Normalized, PeepholeReLU,
                                      models.LSTMCell, models.GRUCell],
                         ids=lambda c: c.__name__)
def test_step_jacobian_matches_the_engine(cell_cls):
    mg.manual_seed(0)
    cell = cell_cls(2, 2).to(mg.float64)
    derived = step_jacobian(cell)
    S = len(cell_cls.state_names)
    assert derived.jacobian.shape == (2 * S, 2 * S)
    rng = np.random.default_rng(1)
    for _ in range(2):
        x = rng.standard_normal(2)
        states = [rng.standard_normal(2) for _ in range(S)]
        params = {n: p.numpy() for n, p in cell.named_parameters()}
        np.testing.assert_allclose(derived.numeric(x, states, params),
                                   _engine_jacobian(cell, x, states), atol=1e-12)


def test_elman_jacobian_is_the_closed_form():
    """tanh RNN, H = 1: d h_t / d h_{t-1} = u (1 - tanh(a)^2), a = w x + u h + b."""
    cell = Elman(1, 1).to(mg.float64)
    derived = step_jacobian(cell)
    x, h = derived.x[0], derived.prev[0]
    w, u, b = (derived.params[n].reshape(-1)[0] for n in ("w", "u", "b"))
    expected = u * (1 - sympy.tanh(w * x + u * h + b) ** 2)
    assert sympy.simplify(derived.jacobian[0, 0] - expected) == 0


def test_step_jacobian_wants_float64():
    with pytest.raises(TypeError, match="float64"):
        step_jacobian(Elman(1, 1))
