"""Optimizers against their update formulas computed by hand, step after step."""

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim

GRADS = [np.array([1.0, -2.0, 0.5]), np.array([0.3, 0.1, -1.0]), np.array([-0.7, 2.0, 0.0])]
START = np.array([0.5, -1.0, 2.0])


def _param(dtype=np.float64):
    return nn.Parameter(START.copy(), dtype=dtype)


def _run(opt, p, grads=GRADS):
    for g in grads:
        p.grad = mg.tensor(g, dtype=p.dtype)
        opt.step()
    return p.data


@pytest.mark.parametrize("momentum, weight_decay, nesterov",
                         [(0.0, 0.0, False), (0.9, 0.0, False), (0.9, 0.1, False),
                          (0.5, 0.0, True), (0.0, 0.2, False)])
def test_sgd_matches_the_update_formula(momentum, weight_decay, nesterov):
    p = _param()
    opt = optim.SGD([p], lr=0.1, momentum=momentum, weight_decay=weight_decay,
                    nesterov=nesterov)
    got = _run(opt, p)
    x, buf = START.copy(), None
    for g in GRADS:
        d = g + weight_decay * x
        if momentum:
            buf = d.copy() if buf is None else momentum * buf + d
            d = d + momentum * buf if nesterov else buf
        x = x - 0.1 * d
    np.testing.assert_allclose(got, x, rtol=1e-14)


@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_adam_matches_the_update_formula(weight_decay):
    p = _param()
    opt = optim.Adam([p], lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=weight_decay)
    got = _run(opt, p)
    x, m, v = START.copy(), np.zeros(3), np.zeros(3)
    for t, g in enumerate(GRADS, start=1):
        g = g + weight_decay * x
        m = 0.8 * m + 0.2 * g
        v = 0.9 * v + 0.1 * g * g
        m_hat, v_hat = m / (1 - 0.8**t), v / (1 - 0.9**t)
        x = x - 0.01 * m_hat / (np.sqrt(v_hat) + 1e-6)
    np.testing.assert_allclose(got, x, rtol=1e-13)


def test_adam_first_step_moves_each_entry_by_about_lr():
    p = _param()
    opt = optim.Adam([p], lr=0.05)
    _run(opt, p, GRADS[:1])
    np.testing.assert_allclose(np.abs(p.data - START), 0.05, rtol=1e-5)


def test_adam_counts_steps_per_parameter():
    """A parameter that gets its first gradient at step 3 gets the bias correction of step 1."""
    late, early = _param(), _param()
    opt = optim.Adam([early, late], lr=0.1)
    for _ in range(2):
        early.grad = mg.tensor(GRADS[0])
        opt.step()
    late.grad = mg.tensor(GRADS[1])
    opt.step()
    np.testing.assert_allclose(np.abs(late.data - START), 0.1, rtol=1e-5)


def test_parameters_without_grad_are_skipped_and_dtype_is_kept():
    a, b = _param(np.float32), _param(np.float32)
    for opt in [optim.SGD([a, b], lr=0.1, momentum=0.9), optim.Adam([a, b])]:
        a.grad, b.grad = mg.tensor(GRADS[0], dtype=np.float32), None
        opt.step()
        assert a.dtype == np.float32 and b.dtype == np.float32
        np.testing.assert_array_equal(b.data, START.astype(np.float32))


def test_zero_grad():
    p = _param()
    opt = optim.SGD([p], lr=0.1)
    p.grad = mg.tensor(GRADS[0])
    opt.zero_grad(set_to_none=False)
    assert not p.grad.data.any()
    opt.zero_grad()
    assert p.grad is None


def test_a_bad_gradient_changes_no_parameter():
    a, b = _param(), _param()
    for opt in [optim.SGD([a, b], lr=0.1, momentum=0.9), optim.Adam([a, b])]:
        a.grad, b.grad = mg.tensor(GRADS[0]), mg.tensor(np.ones(4))
        with pytest.raises(ValueError, match=r"parameter 1 has shape \(3,\).*\(4,\)"):
            opt.step()
        np.testing.assert_array_equal(a.data, START)
        assert opt.state[0] == {}


def test_constructor_errors():
    p = _param()
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="parameter 0"):
        optim.SGD([mg.tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="lr"):
        optim.Adam([p], lr=0.0)
    with pytest.raises(ValueError, match="nesterov"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="betas"):
        optim.Adam([p], betas=(1.0, 0.9))
    with pytest.raises(ValueError, match="momentum"):
        optim.SGD([p], lr=0.1, momentum=-1)


def test_training_a_linear_model_converges():
    mg.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((64, 3))
    y = x @ np.array([[1.0], [-2.0], [0.5]]) + 0.3
    model = nn.Linear(3, 1, dtype=mg.float64)
    opt = optim.Adam(model.parameters(), lr=0.1)
    for _ in range(200):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(mg.tensor(x)), mg.tensor(y))
        loss.backward()
        opt.step()
    assert loss.item() < 1e-4
    np.testing.assert_allclose(model.bias.data, [0.3], atol=1e-2)
    assert math.isfinite(loss.item())
