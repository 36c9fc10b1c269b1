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
    return p.numpy()


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
    np.testing.assert_allclose(np.abs(p.numpy() - START), 0.05, rtol=1e-5)


def test_adam_counts_steps_per_parameter():
    """A parameter that gets its first gradient at step 3 gets the bias correction of step 1."""
    late, early = _param(), _param()
    opt = optim.Adam([early, late], lr=0.1)
    for _ in range(2):
        early.grad = mg.tensor(GRADS[0])
        opt.step()
    late.grad = mg.tensor(GRADS[1])
    opt.step()
    np.testing.assert_allclose(np.abs(late.numpy() - START), 0.1, rtol=1e-5)


def test_parameters_without_grad_are_skipped_and_dtype_is_kept():
    a, b = _param(np.float32), _param(np.float32)
    for opt in [optim.SGD([a, b], lr=0.1, momentum=0.9), optim.Adam([a, b])]:
        a.grad, b.grad = mg.tensor(GRADS[0], dtype=np.float32), None
        opt.step()
        assert a.dtype == np.float32 and b.dtype == np.float32
        np.testing.assert_array_equal(b.numpy(), START.astype(np.float32))


def test_zero_grad():
    p = _param()
    opt = optim.SGD([p], lr=0.1)
    p.grad = mg.tensor(GRADS[0])
    opt.zero_grad(set_to_none=False)
    assert not p.grad.numpy().any()
    opt.zero_grad()
    assert p.grad is None


def test_a_bad_gradient_changes_no_parameter():
    a, b = _param(), _param()
    for opt in [optim.SGD([a, b], lr=0.1, momentum=0.9), optim.Adam([a, b])]:
        a.grad, b.grad = mg.tensor(GRADS[0]), mg.tensor(np.ones(4))
        with pytest.raises(ValueError, match=r"parameter 1 has shape \(3,\).*\(4,\)"):
            opt.step()
        np.testing.assert_array_equal(a.numpy(), START)
        assert len(opt.state) == 0 and a._version == 0


def test_constructor_errors():
    p = _param()
    with pytest.raises(TypeError, match="iterable"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="parameter 0"):
        optim.SGD([mg.tensor([1.0])], lr=0.1)
    with pytest.raises(ValueError, match="lr must be >= 0.0, got -0.1"):
        optim.Adam([p], lr=-0.1)
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
    np.testing.assert_allclose(model.bias.numpy(), [0.3], atol=1e-2)
    assert math.isfinite(loss.item())


# ---- PyTorch's formulas: dampening, maximize, AMSGrad, AdamW -----------------------------------
def _adam_reference(grads, lr, b1, b2, eps, wd, decoupled, amsgrad=False, maximize=False):
    x, m, v, vmax = START.copy(), np.zeros(3), np.zeros(3), np.zeros(3)
    for t, g in enumerate(grads, start=1):
        g = -g if maximize else g
        if decoupled:
            x = x * (1 - lr * wd)
        else:
            g = g + wd * x
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        denom = np.sqrt(vmax if amsgrad else v) / np.sqrt(1 - b2**t) + eps
        x = x - lr / (1 - b1**t) * m / denom
    return x


@pytest.mark.parametrize("amsgrad, maximize", [(False, False), (True, False), (True, True)])
@pytest.mark.parametrize("cls, decoupled", [(optim.Adam, False), (optim.AdamW, True)])
def test_adam_and_adamw_match_pytorchs_formula(cls, decoupled, amsgrad, maximize):
    p = _param()
    opt = cls([p], lr=0.01, betas=(0.8, 0.9), eps=1e-6, weight_decay=0.1, amsgrad=amsgrad,
              maximize=maximize)
    got = _run(opt, p)
    ref = _adam_reference(GRADS, 0.01, 0.8, 0.9, 1e-6, 0.1, decoupled, amsgrad, maximize)
    np.testing.assert_allclose(got, ref, rtol=1e-13)


def test_adamw_defaults_are_pytorchs():
    opt = optim.AdamW([_param()])
    group = opt.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"],
            group["amsgrad"]) == (1e-3, (0.9, 0.999), 1e-8, 1e-2, False)
    assert optim.SGD([_param()]).lr == 1e-3


def test_sgd_dampening_and_maximize():
    p = _param()
    opt = optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.3, weight_decay=0.05, maximize=True)
    got = _run(opt, p)
    x, buf = START.copy(), None
    for g in GRADS:
        d = -g + 0.05 * x
        buf = d.copy() if buf is None else 0.9 * buf + 0.7 * d
        x = x - 0.1 * buf
    np.testing.assert_allclose(got, x, rtol=1e-14)


def test_float32_parameters_are_updated_in_float32():
    """The same steps in float32 and float64 agree to float32 rounding; dtypes are kept."""
    for cls, kw in [(optim.SGD, dict(lr=0.1, momentum=0.9, nesterov=True)),
                    (optim.Adam, dict(lr=0.01)), (optim.AdamW, dict(lr=0.01))]:
        p32, p64 = _param(np.float32), _param(np.float64)
        got32 = _run(cls([p32], **kw), p32)
        got64 = _run(cls([p64], **kw), p64)
        assert got32.dtype == np.float32
        np.testing.assert_allclose(got32, got64, rtol=2e-6, atol=1e-7)


def test_non_contiguous_parameter_is_updated_in_place():
    base = np.arange(6.0).reshape(2, 3)
    p = mg.Tensor._wrap(base.T, requires_grad=True)  # (3, 2), a transposed view
    p.grad = mg.tensor(np.ones((3, 2)))
    for opt in [optim.SGD([p], lr=0.5, momentum=0.9), optim.Adam([p], lr=0.5)]:
        before = base.copy()
        opt.step()
        assert np.shares_memory(p.numpy(), base) and np.all(base < before)


# ---- version counters --------------------------------------------------------------------------
def test_every_updated_parameter_is_bumped_once_per_step():
    a, b = _param(np.float32), _param(np.float32)
    for opt in [optim.SGD([a, b], lr=0.1), optim.SGD([a, b], lr=0.1, momentum=0.9),
                optim.Adam([a, b]), optim.AdamW([{"params": [a]}, {"params": [b]}])]:
        a.grad, b.grad = mg.tensor(GRADS[0], dtype=np.float32), None
        va, vb = a._version, b._version
        opt.step()
        assert (a._version, b._version) == (va + 1, vb)


def test_zero_grad_in_place_bumps_the_gradient():
    p = _param()
    p.grad = mg.tensor(GRADS[0])
    g, v = p.grad, p.grad._version
    optim.SGD([p], lr=0.1).zero_grad(set_to_none=False)
    assert p.grad is g and g._version == v + 1 and not g.numpy().any()


# ---- argument checks (issue 14) ------------------------------------------------------------------
@pytest.mark.parametrize("make, error, message", [
    (lambda p: optim.SGD([p, p], lr=0.1), ValueError, "parameter 1 appears twice"),
    (lambda p: optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1), ValueError,
     "parameter 1 is already in parameter group 0"),
    (lambda p: optim.SGD([p], lr=float("nan")), ValueError, "lr must be finite, got nan"),
    (lambda p: optim.SGD([p], lr=float("inf")), ValueError, "lr must be finite, got inf"),
    (lambda p: optim.SGD([p], lr="0.1"), TypeError, "lr must be a real number, got '0.1'"),
    (lambda p: optim.SGD([p], lr=True), TypeError, "lr must be a real number, got True"),
    (lambda p: optim.SGD([p], lr=0.1, momentum=-0.5), ValueError, "momentum must be >= 0"),
    (lambda p: optim.SGD([p], lr=0.1, momentum=float("nan")), ValueError, "momentum"),
    (lambda p: optim.SGD([p], lr=0.1, weight_decay=-1), ValueError, "weight_decay"),
    (lambda p: optim.SGD([p], lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     ValueError, "nesterov needs momentum > 0 and dampening = 0"),
    (lambda p: optim.Adam([p], betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be < 1.0"),
    (lambda p: optim.Adam([p], betas=0.9), TypeError, "betas must be a pair"),
    (lambda p: optim.Adam([p], betas=("a", 0.9)), TypeError, r"betas\[0\] must be a real"),
    (lambda p: optim.Adam([p], eps=-1e-8), ValueError, "eps must be >= 0.0, got -1e-08"),
    (lambda p: optim.Adam([p], eps=float("nan")), ValueError, "eps must be finite"),
    (lambda p: optim.AdamW([p], weight_decay=None), TypeError, "weight_decay must be a real"),
    (lambda p: optim.Adam([p], amsgrad=1), TypeError, "amsgrad must be True or False"),
    (lambda p: optim.Adam({p}), TypeError, "ordered iterable"),
    (lambda p: optim.Adam([{"lr": 0.1}]), ValueError, "'params' entry"),
    (lambda p: optim.Adam([p * 2]), ValueError, "not a leaf"),
])
def test_bad_arguments_raise_naming_the_argument_and_value(make, error, message):
    with pytest.raises(error, match=message):
        make(_param())


def test_add_param_group_checks_and_changes_nothing_on_error():
    a, b = _param(), _param()
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="already in parameter group 0"):
        opt.add_param_group({"params": [b, a]})
    with pytest.raises(ValueError, match="lr must be finite"):
        opt.add_param_group({"params": [b], "lr": float("nan")})
    assert len(opt.param_groups) == 1
    opt.add_param_group({"params": b, "lr": 0.01})
    assert opt.param_groups[1]["momentum"] == 0.9 and opt.param_groups[1]["lr"] == 0.01


def test_param_groups_have_their_own_options():
    a, b = _param(), _param()
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1)
    a.grad, b.grad = mg.tensor(GRADS[0]), mg.tensor(GRADS[0])
    opt.step()
    np.testing.assert_allclose(a.numpy(), START - 0.1 * GRADS[0], rtol=1e-15)
    np.testing.assert_allclose(b.numpy(), START - 0.01 * GRADS[0], rtol=1e-15)
    assert opt.params == [a, b] or all(x is y for x, y in zip(opt.params, [a, b], strict=True))
    opt.lr = 0.5  # the old single-lr attribute: sets every group
    assert [g["lr"] for g in opt.param_groups] == [0.5, 0.5] and opt.lr == 0.5
    with pytest.raises(ValueError, match="lr must be finite"):
        opt.lr = float("nan")
    assert opt.lr == 0.5


# ---- state_dict ----------------------------------------------------------------------------------
def test_state_dict_has_pytorchs_shape_and_round_trips():
    a, b = _param(), _param()
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.1}], lr=0.01, amsgrad=True)
    a.grad, b.grad = mg.tensor(GRADS[0]), mg.tensor(GRADS[1])
    opt.step()
    sd = opt.state_dict()
    assert set(sd) == {"state", "param_groups"} and set(sd["state"]) == {0, 1}
    assert [g["params"] for g in sd["param_groups"]] == [[0], [1]]
    assert sd["param_groups"][1]["lr"] == 0.1 and sd["state"][0]["step"] == 1
    assert set(sd["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    # a copy: later steps do not change it; loading it into a fresh optimizer continues alike
    a2, b2 = _param(), _param()
    a2.numpy()[...], b2.numpy()[...] = a.numpy(), b.numpy()
    opt2 = optim.Adam([{"params": [a2]}, {"params": [b2]}], lr=0.5)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[1]["lr"] == 0.1
    for g in GRADS[1:]:
        for x in (a, b, a2, b2):
            x.grad = mg.tensor(g)
        opt.step()
        opt2.step()
    np.testing.assert_array_equal(a.numpy(), a2.numpy())
    np.testing.assert_array_equal(b.numpy(), b2.numpy())
    assert sd["state"][0]["step"] == 1


def test_load_state_dict_errors_change_nothing():
    a = _param()
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    a.grad = mg.tensor(GRADS[0])
    opt.step()
    sd = opt.state_dict()
    before = opt.state_dict()
    bad_shape = {"state": {0: {"momentum_buffer": np.zeros(4)}},
                 "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=r"momentum_buffer.*shape \(4,\)"):
        opt.load_state_dict(bad_shape)
    two = {"state": {}, "param_groups": sd["param_groups"] * 2}
    with pytest.raises(ValueError, match="2 parameter groups"):
        opt.load_state_dict(two)
    bad_lr = {"state": {}, "param_groups": [{**sd["param_groups"][0], "lr": -1.0}]}
    with pytest.raises(ValueError, match="lr must be >= 0"):
        opt.load_state_dict(bad_lr)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    np.testing.assert_array_equal(after["state"][0]["momentum_buffer"].numpy(),
                                  before["state"][0]["momentum_buffer"].numpy())


def test_optimizer_state_dict_saves_and_loads(tmp_path):
    a = _param()
    opt = optim.Adam([a], lr=0.01)
    a.grad = mg.tensor(GRADS[0])
    opt.step()
    path = str(tmp_path / "opt.npz")
    mg.save(opt.state_dict(), path)
    opt2 = optim.Adam([_param()], lr=0.5)
    opt2.load_state_dict(mg.load(path))
    assert opt2.lr == 0.01 and opt2.state_dict()["state"][0]["step"] == 1


def test_a_graph_that_saved_a_parameter_refuses_backward_after_the_step():
    p = _param()
    opt = optim.SGD([p], lr=0.1)
    loss = (p * p).sum()  # mul saves p
    p.grad = mg.tensor(GRADS[0])
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an in-place operation"):
        loss.backward()


def test_clip_grad_norm_scales_in_place_and_bumps_the_gradient_version():
    p = nn.Parameter(np.ones(3, dtype=np.float32))
    p.grad = mg.tensor(np.full(3, 10.0, dtype=np.float32))
    g, v = p.grad, p.grad._version
    total = nn.utils.clip_grad_norm_([p], 1.0)
    assert total.item() == pytest.approx(math.sqrt(300.0), rel=1e-6)
    assert p.grad is g and g._version == v + 1
    np.testing.assert_allclose(g.numpy(), 10.0 / (math.sqrt(300.0) + 1e-6), rtol=1e-6)
    nn.utils.clip_grad_norm_([p], 10.0)  # already within: nothing edited
    assert g._version == v + 1
