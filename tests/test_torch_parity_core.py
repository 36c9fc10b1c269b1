"""Optional cross-checks against PyTorch (skipped when torch is not installed)."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F  # noqa: N812 - PyTorch's name

torch = pytest.importorskip("torch")


def _both(array):
    """The same float64 values as a minigrad leaf and a torch leaf."""
    return (mg.tensor(array, dtype=mg.float64, requires_grad=True),
            torch.tensor(array, dtype=torch.float64, requires_grad=True))


def _close(ours, theirs, **kw):
    np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), **{"rtol": 1e-10,
                                                                       "atol": 1e-12, **kw})


@pytest.mark.parametrize("shape", [(6, 5), (3, 5, 4)])
def test_cross_entropy_with_ignore_index(rng, shape):
    logits = rng.standard_normal(shape)
    target = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    target.reshape(-1)[::2] = 3
    a, b = _both(logits)
    ours = F.cross_entropy(a, target, ignore_index=3)
    theirs = torch.nn.functional.cross_entropy(b, torch.tensor(target), ignore_index=3)
    _close(ours, theirs)
    ours.backward()
    theirs.backward()
    _close(a.grad, b.grad)


@pytest.mark.parametrize("beta", [1.0, 2.5])
def test_softplus(rng, beta):
    a, b = _both(rng.standard_normal(7) * 10)
    ours, theirs = mg.softplus(a, beta), torch.nn.functional.softplus(b, beta, threshold=1e9)
    _close(ours, theirs)
    ours.sum().backward()
    theirs.sum().backward()
    _close(a.grad, b.grad)


def test_log_softmax_and_var(rng):
    a, b = _both(rng.standard_normal((3, 4, 5)))
    weights = rng.standard_normal((3, 5))
    ours = (mg.log_softmax(a, 1).sum(1) * mg.tensor(weights)).sum() + a.var((0, 2)).sum()
    ours = ours + a.var(1, keepdim=True, correction=0).sum()
    theirs = (torch.log_softmax(b, 1).sum(1) * torch.tensor(weights)).sum()
    theirs = theirs + b.var((0, 2)).sum() + b.var(1, keepdim=True, correction=0).sum()
    _close(ours, theirs)
    ours.backward()
    theirs.backward()
    _close(a.grad, b.grad)


@pytest.mark.parametrize("sa, sb", [((2, 1, 3, 4), (5, 4, 2)), ((3,), (2, 3, 4)),
                                    ((4, 2, 3), (3,))])
def test_matmul_broadcasting_gradients(rng, sa, sb):
    (a, ta), (b, tb) = _both(rng.standard_normal(sa)), _both(rng.standard_normal(sb))
    ours, theirs = a @ b, ta @ tb
    _close(ours, theirs)
    g = rng.standard_normal(ours.shape)
    ours.backward(gradient=mg.tensor(g))
    theirs.backward(torch.tensor(g))
    _close(a.grad, ta.grad)
    _close(b.grad, tb.grad)


def test_adam_steps(rng):
    start = rng.standard_normal((3, 2))
    ours, theirs = nn.Parameter(start.copy()), torch.nn.Parameter(torch.tensor(start))
    opt = mg.optim.Adam([ours], lr=0.01, betas=(0.85, 0.95), eps=1e-7, weight_decay=0.1)
    topt = torch.optim.Adam([theirs], lr=0.01, betas=(0.85, 0.95), eps=1e-7, weight_decay=0.1)
    for _ in range(5):
        g = rng.standard_normal((3, 2))
        ours.grad, theirs.grad = mg.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    _close(ours, theirs, rtol=1e-12)


def test_sgd_momentum_steps(rng):
    start = rng.standard_normal(4)
    ours, theirs = nn.Parameter(start.copy()), torch.nn.Parameter(torch.tensor(start))
    opt = mg.optim.SGD([ours], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    topt = torch.optim.SGD([theirs], lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)
    for _ in range(4):
        g = rng.standard_normal(4)
        ours.grad, theirs.grad = mg.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    _close(ours, theirs, rtol=1e-13)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
def test_clip_grad_norm(rng, norm_type):
    grads = [rng.standard_normal((3, 2)), rng.standard_normal(4)]
    ours = [nn.Parameter(np.zeros(g.shape)) for g in grads]
    theirs = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for p, t, g in zip(ours, theirs, grads, strict=True):
        p.grad, t.grad = mg.tensor(g), torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ours, 0.5, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, 0.5, norm_type=norm_type)
    assert total.dtype == np.float64 and total.shape == ()
    assert total.item() == pytest.approx(ttotal.item(), rel=1e-12)
    for p, t in zip(ours, theirs, strict=True):
        _close(p.grad, t.grad)
