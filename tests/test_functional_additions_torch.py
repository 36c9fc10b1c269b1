"""nll_loss / cross_entropy with class weights and label smoothing, softmax / log_softmax's
implicit dim and dtype, against PyTorch in float64 (values and gradients)."""

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F  # noqa: N812 - PyTorch's name

torch = pytest.importorskip("torch")
TF = torch.nn.functional

RNG = np.random.default_rng(3)


def _pair(a):
    return (mg.tensor(a, dtype=mg.float64, requires_grad=True),
            torch.tensor(a, dtype=torch.float64, requires_grad=True))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(6, 4), (2, 4, 3), (4,)])
def test_cross_entropy_and_nll(reduction, smoothing, weighted, shape):
    x = RNG.standard_normal(shape)
    tshape = () if len(shape) == 1 else (shape[0],) + shape[2:]
    t = RNG.integers(0, 4, tshape)
    if t.ndim:
        t.reshape(-1)[1] = -100
    w = RNG.uniform(0.2, 2.0, 4)
    xm, xt = _pair(x)
    wm, wt = mg.tensor(w, dtype=mg.float64), torch.tensor(w)  # PyTorch: weight takes no grad
    kw_m = {"weight": wm} if weighted else {}
    kw_t = {"weight": wt} if weighted else {}
    for ours, theirs in [
        (F.cross_entropy(xm, mg.tensor(t), reduction=reduction, label_smoothing=smoothing,
                         **kw_m),
         TF.cross_entropy(xt, torch.tensor(t), reduction=reduction, label_smoothing=smoothing,
                          **kw_t)),
        (F.nll_loss(xm, mg.tensor(t), reduction=reduction, **kw_m),
         TF.nll_loss(xt, torch.tensor(t), reduction=reduction, **kw_t)),
    ]:
        np.testing.assert_allclose(ours.numpy(), theirs.detach().numpy(), rtol=1e-12, atol=1e-14)
        g = RNG.standard_normal(ours.shape)
        xm.grad = xt.grad = None
        ours.backward(mg.tensor(g, dtype=mg.float64))
        theirs.backward(torch.tensor(g))
        np.testing.assert_allclose(xm.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_loss_modules_match():
    x = RNG.standard_normal((5, 3))
    t = np.array([0, 2, 1, -100, 2])
    w = np.array([0.3, 1.0, 2.0])
    ours = nn.CrossEntropyLoss(weight=mg.tensor(w, dtype=mg.float64), label_smoothing=0.15)(
        mg.tensor(x, dtype=mg.float64), mg.tensor(t))
    theirs = torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.15)(
        torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-13)
    ours = nn.NLLLoss(weight=mg.tensor(w, dtype=mg.float64), reduction="sum")(
        mg.tensor(x, dtype=mg.float64), mg.tensor(t))
    theirs = torch.nn.NLLLoss(weight=torch.tensor(w), reduction="sum")(
        torch.tensor(x), torch.tensor(t))
    np.testing.assert_allclose(ours.item(), theirs.item(), rtol=1e-13)


@pytest.mark.parametrize("ndim", [0, 1, 2, 3, 4])
def test_softmax_implicit_dim(ndim):
    x = RNG.standard_normal((2, 3, 2, 3)[:ndim])
    for ours_fn, theirs_fn in [(F.softmax, TF.softmax), (F.log_softmax, TF.log_softmax)]:
        with pytest.warns(UserWarning):
            theirs = theirs_fn(torch.tensor(x, dtype=torch.float32), dtype=torch.float64)
        with pytest.warns(UserWarning):
            ours = ours_fn(mg.tensor(x, dtype=mg.float32), dtype=mg.float64)
        assert ours.dtype == np.float64
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-12, atol=1e-15)
