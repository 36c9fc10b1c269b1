"""Training-step pieces against PyTorch (skipped without it): optimizers step for step
(float32), loading PyTorch's optimizer state, gradient clipping, the class-index losses and
embedding's padding_idx."""

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn, optim
from minigrad.nn import functional as F  # noqa: N812 - PyTorch's name

torch = pytest.importorskip("torch")

SHAPES = [(5, 7), (13,), (3, 4, 2)]


def _pair(rng):
    arrays = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    ours = [nn.Parameter(a.copy()) for a in arrays]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in arrays]
    return ours, theirs


def _steps(ours, theirs, opt, topt, rng, n=6):
    for _ in range(n):
        for a, b in zip(ours, theirs, strict=True):
            g = rng.standard_normal(a.shape).astype(np.float32)
            a.grad, b.grad = mg.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_allclose(a.numpy(), b.detach().numpy(), rtol=2e-5, atol=2e-6)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.2, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.95), weight_decay=0.1, amsgrad=True)),
    ("Adam", dict(lr=0.01, maximize=True, eps=1e-3)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.02, weight_decay=0.3, amsgrad=True)),
])
def test_optimizers_step_like_torch_optim(name, kwargs):
    rng = np.random.default_rng(0)
    ours, theirs = _pair(rng)
    groups = [{"params": ours[:2]}, {"params": ours[2:], "lr": kwargs["lr"] / 2}]
    tgroups = [{"params": theirs[:2]}, {"params": theirs[2:], "lr": kwargs["lr"] / 2}]
    opt = getattr(optim, name)(groups, **kwargs)
    topt = getattr(torch.optim, name)(tgroups, **kwargs)
    _steps(ours, theirs, opt, topt, rng)


@pytest.mark.parametrize("name, kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01))])
def test_pytorchs_state_dict_loads_and_training_continues_alike(name, kwargs):
    rng = np.random.default_rng(1)
    ours, theirs = _pair(rng)
    topt = getattr(torch.optim, name)(theirs, **kwargs)
    for _ in range(3):
        for b in theirs:
            b.grad = torch.randn(b.shape)
        topt.step()
    for a, b in zip(ours, theirs, strict=True):
        a.numpy()[...] = b.detach().numpy()
    opt = getattr(optim, name)(ours, lr=1.0)
    opt.load_state_dict(topt.state_dict())
    assert opt.lr == kwargs["lr"]
    _steps(ours, theirs, opt, topt, rng, n=3)


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_like_torch(norm_type, max_norm):
    rng = np.random.default_rng(2)
    ours, theirs = _pair(rng)
    for a, b in zip(ours, theirs, strict=True):
        g = rng.standard_normal(a.shape).astype(np.float32)
        a.grad, b.grad = mg.tensor(g), torch.tensor(g)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert total.dtype == ttotal.numpy().dtype and total.shape == ()
    np.testing.assert_allclose(total.item(), ttotal.item(), rtol=1e-6)
    for a, b in zip(ours, theirs, strict=True):
        assert a.grad.dtype == np.float32
        np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_clip_grad_norm_of_non_finite_gradients_like_torch(bad):
    rng = np.random.default_rng(3)
    ours, theirs = _pair(rng)
    for a, b in zip(ours, theirs, strict=True):
        g = rng.standard_normal(a.shape).astype(np.float32)
        a.grad, b.grad = mg.tensor(g), torch.tensor(g)
    ours[0].grad.numpy()[0, 0] = bad
    theirs[0].grad[0, 0] = float(bad)
    total = nn.utils.clip_grad_norm_(ours, 1.0)
    ttotal = torch.nn.utils.clip_grad_norm_(theirs, 1.0)
    assert (math.isnan(total) and math.isnan(ttotal.item())) or total.item() == ttotal.item()
    for a, b in zip(ours, theirs, strict=True):
        np.testing.assert_array_equal(np.isnan(a.grad.numpy()), np.isnan(b.grad.numpy()))
    with pytest.raises(RuntimeError, match="total 2.0-norm"):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)


def test_clip_grad_value_like_torch():
    rng = np.random.default_rng(4)
    ours, theirs = _pair(rng)
    for a, b in zip(ours, theirs, strict=True):
        g = rng.standard_normal(a.shape).astype(np.float32)
        a.grad, b.grad = mg.tensor(g), torch.tensor(g)
    versions = [a.grad._version for a in ours]
    nn.utils.clip_grad_value_(ours, 0.3)
    torch.nn.utils.clip_grad_value_(theirs, 0.3)
    for a, b, v in zip(ours, theirs, versions, strict=True):
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())
        assert a.grad._version == v + 1


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("fused", [True, False])
def test_losses_like_torch(reduction, fused):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((70, 1000)) * 3).astype(np.float32)
    target = rng.integers(0, 1000, 70)
    target[::9] = -100
    a = mg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    tt = torch.tensor(target)
    if fused:
        out = F.cross_entropy(a, target, reduction=reduction)
        tout = torch.nn.functional.cross_entropy(b, tt, reduction=reduction)
    else:
        out = F.nll_loss(F.log_softmax(a, dim=1), target, reduction=reduction)
        tout = torch.nn.functional.nll_loss(torch.log_softmax(b, 1), tt, reduction=reduction)
    np.testing.assert_allclose(out.numpy(), tout.detach().numpy(), rtol=2e-6, atol=2e-6)
    seed = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(mg.tensor(seed))
    tout.backward(torch.tensor(seed))
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-8)


def test_log_softmax_and_softmax_like_torch_on_extremes():
    x = np.array([[0.0, 1e4, -1e4, 3.0], [-np.inf, 0.0, 1.0, -np.inf],
                  [np.inf, 0.0, 1.0, 2.0], [np.nan, 0.0, 1.0, 2.0]], dtype=np.float32)
    np.testing.assert_allclose(F.softmax(mg.tensor(x), dim=1).numpy(),
                               torch.softmax(torch.tensor(x), 1).numpy(), rtol=1e-6)
    ours = F.log_softmax(mg.tensor(x), dim=1).numpy()
    theirs = torch.log_softmax(torch.tensor(x), 1).numpy()
    np.testing.assert_allclose(ours[[0, 1, 3]], theirs[[0, 1, 3]], rtol=1e-6)
    # a row holding +inf: PyTorch gives NaN everywhere; minigrad keeps what its numpy formula
    # always gave (NaN at the inf, -inf elsewhere)
    assert np.isnan(ours[2, 0]) and np.all(ours[2, 1:] == -np.inf)


@pytest.mark.parametrize("padding_idx", [2, -1, -5])
def test_embedding_padding_idx_like_torch(padding_idx):
    rng = np.random.default_rng(6)
    w = rng.standard_normal((5, 3)).astype(np.float32)
    idx = np.array([[0, 4, 2], [3, 4, 1]])
    ours = mg.tensor(w, requires_grad=True)
    theirs = torch.tensor(w, requires_grad=True)
    F.embedding(idx, ours, padding_idx=padding_idx).sum().backward()
    torch.nn.functional.embedding(torch.tensor(idx), theirs,
                                  padding_idx=padding_idx).sum().backward()
    np.testing.assert_array_equal(ours.grad.numpy(), theirs.grad.numpy())
    for bad in (5, -6):
        with pytest.raises(ValueError, match=r"padding_idx must lie in \[-5, 5\)"):
            F.embedding(idx, ours, padding_idx=bad)

