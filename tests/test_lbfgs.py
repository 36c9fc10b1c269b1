"""optim.LBFGS: closed-form minima without PyTorch (a quadratic, Rosenbrock's function), the
argument checks, and PyTorch's iterates in float64 (same points to 1e-10, same counts of closure
calls) with and without the strong-Wolfe line search."""

import numpy as np
import pytest

import minigrad as mg


def _leaf(a):
    return mg.tensor(np.asarray(a, dtype=np.float64), dtype=mg.float64, requires_grad=True)


def _quadratic():
    """0.5 x'Ax - b'x + c with A positive definite: the minimum is at A^-1 b."""
    rng = np.random.default_rng(0)
    m = rng.standard_normal((4, 4))
    a = m @ m.T + 4 * np.eye(4)
    b = rng.standard_normal(4)
    return a, b


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
def test_quadratic_reaches_the_closed_form_minimum(line_search_fn):
    a, b = _quadratic()
    x = _leaf(np.zeros(4))
    at, bt = mg.tensor(a, dtype=mg.float64), mg.tensor(b, dtype=mg.float64)
    opt = mg.optim.LBFGS([x], lr=1 if line_search_fn else 0.5, max_iter=50,
                         line_search_fn=line_search_fn, tolerance_grad=1e-12,
                         tolerance_change=0.0)  # (a loss change of 1e-14 would stop it early)

    def closure():
        opt.zero_grad()
        loss = 0.5 * (x * (at @ x)).sum() - (bt * x).sum()
        loss.backward()
        return loss
    for _ in range(5):
        opt.step(closure)
    np.testing.assert_allclose(x.numpy(), np.linalg.solve(a, b), rtol=1e-9, atol=1e-10)


def test_rosenbrock_with_strong_wolfe():
    xy = _leaf([-1.2, 1.0])
    version = xy._version
    opt = mg.optim.LBFGS([xy], line_search_fn="strong_wolfe", max_iter=100,
                         tolerance_grad=1e-12, tolerance_change=0.0)

    def closure():
        opt.zero_grad()
        x, y = xy[0], xy[1]
        loss = (1 - x) ** 2 + 100 * (y - x * x) ** 2
        loss.backward()
        return loss
    first = opt.step(closure)
    assert first.item() == pytest.approx(24.2)  # the loss the first closure call gave
    for _ in range(3):
        opt.step(closure)
    np.testing.assert_allclose(xy.numpy(), [1.0, 1.0], atol=1e-8)
    assert xy._version > version  # written in place, versions bumped
    assert opt.state[xy]["func_evals"] > 0 and opt.state[xy]["n_iter"] > 0


def test_a_zero_gradient_returns_at_once():
    x = _leaf([0.0])
    opt = mg.optim.LBFGS([x])
    calls = []

    def closure():
        calls.append(1)
        opt.zero_grad()
        loss = (x * x).sum()
        loss.backward()
        return loss
    assert opt.step(closure).item() == 0.0 and len(calls) == 1


@pytest.mark.parametrize("kwargs, kind, match", [
    ({"lr": -1.0}, ValueError, "LBFGS: lr must be >= 0"),
    ({"max_iter": 0}, ValueError, "LBFGS: max_iter must be an int >= 1"),
    ({"history_size": 2.5}, TypeError, "LBFGS: history_size must be an int"),
    ({"line_search_fn": "backtracking"}, ValueError, "LBFGS: line_search_fn must be None"),
    ({"tolerance_grad": float("nan")}, ValueError, "LBFGS: tolerance_grad must be finite"),
])
def test_arguments_are_checked(kwargs, kind, match):
    with pytest.raises(kind, match=match):
        mg.optim.LBFGS([_leaf([1.0])], **kwargs)


def test_one_group_and_a_closure_are_required():
    a, b = _leaf([1.0]), _leaf([2.0])
    with pytest.raises(ValueError, match="LBFGS: parameter groups"):
        mg.optim.LBFGS([{"params": [a]}, {"params": [b]}])
    opt = mg.optim.LBFGS([a])
    with pytest.raises(ValueError, match="LBFGS: parameter groups"):
        opt.add_param_group({"params": [b]})
    with pytest.raises(TypeError, match="LBFGS.step: needs a closure"):
        opt.step(None)
    assert opt.param_groups[0]["max_eval"] == 25  # max_iter * 5 // 4, as in PyTorch
    import models.torch as torch_namespace
    assert torch_namespace.optim.LBFGS is mg.optim.LBFGS


# ---- against PyTorch --------------------------------------------------------------------------
RNG = np.random.default_rng(4)
A, Y = RNG.standard_normal((6, 3)), RNG.standard_normal(6)
W0, B0 = RNG.standard_normal(3), np.array([0.5])


def _problem(lib, opt_cls, kwargs):
    """A small non-convex least squares: |2 tanh(A w + b) - y|^2 + 0.1 |w|_4^4."""
    if lib is mg:
        w, b = _leaf(W0), _leaf(B0)
        a, y = mg.tensor(A, dtype=mg.float64), mg.tensor(Y, dtype=mg.float64)
    else:
        w = lib.tensor(W0, requires_grad=True)
        b = lib.tensor(B0, requires_grad=True)
        a, y = lib.tensor(A), lib.tensor(Y)
    opt = opt_cls([w, b], **kwargs)

    def closure():
        opt.zero_grad()
        r = (a @ w + b).tanh() * 2 - y
        loss = (r * r).sum() + (w ** 4).sum() * 0.1
        loss.backward()
        return loss
    points, losses = [], []
    for _ in range(3):
        losses.append(float(opt.step(closure)))
        points.append(np.concatenate([np.asarray(w.detach()), np.asarray(b.detach())]))
    return np.array(points), losses, opt.state[w]["func_evals"], opt.state[w]["n_iter"]


@pytest.mark.parametrize("line_search_fn", [None, "strong_wolfe"])
@pytest.mark.parametrize("kwargs", [{}, {"lr": 0.5, "max_iter": 4, "history_size": 2},
                                    {"max_iter": 7, "max_eval": 9}])
def test_same_iterates_as_pytorch(line_search_fn, kwargs):
    torch = pytest.importorskip("torch")
    kwargs = {**kwargs, "line_search_fn": line_search_fn}
    ours = _problem(mg, mg.optim.LBFGS, kwargs)
    theirs = _problem(torch, torch.optim.LBFGS, kwargs)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=0, atol=1e-10)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-12)
    assert ours[2:] == theirs[2:]
