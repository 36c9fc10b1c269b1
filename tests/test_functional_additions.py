"""nn.functional additions: softmax / log_softmax's implicit dim and dtype, dropout / relu /
leaky_relu with inplace=, one_hot and layer_norm in the core, nll_loss / cross_entropy with
class weights and label smoothing (and the loss modules passing them). Closed forms here; the
PyTorch comparisons are in test_functional_additions_torch.py."""

import warnings

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F  # noqa: N812 - PyTorch's name


def _leaf(a):
    return mg.tensor(np.asarray(a, dtype=np.float64), dtype=mg.float64, requires_grad=True)


@pytest.mark.parametrize("ndim, dim", [(1, 0), (2, 1), (3, 0), (4, 1)])
def test_softmax_implicit_dim_warns_and_picks_pytorchs(ndim, dim):
    x = mg.randn(*(2,) * ndim)
    with pytest.warns(UserWarning, match="softmax: implicit dimension"):
        y = F.softmax(x)
    np.testing.assert_allclose(y.numpy(), mg.softmax(x, dim).numpy())
    with pytest.warns(UserWarning, match="log_softmax: implicit dimension"):
        y = F.log_softmax(x)
    np.testing.assert_allclose(y.numpy(), mg.log_softmax(x, dim).numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        F.softmax(x, dim=-1)
    assert F.softmax(x, -1, dtype=mg.float64).dtype == np.float64
    assert F.log_softmax(x, dim=0, dtype="float64").dtype == np.float64


def test_inplace_activations_and_dropout():
    x = mg.tensor([-1.0, 2.0])
    assert F.relu(x, inplace=True) is x and x.tolist() == [0.0, 2.0] and x._version == 1
    y = mg.tensor([-1.0, 2.0])
    assert F.leaky_relu(y, 0.5, inplace=True) is y and y.tolist() == [-0.5, 2.0]
    z = mg.ones(1000)
    assert F.dropout(z, 0.5, inplace=True) is z
    assert set(np.unique(z.numpy())) <= {0.0, 2.0} and 0.3 < (z.numpy() == 0).mean() < 0.7
    assert F.dropout(z, 0.5, training=False, inplace=True) is z
    w = _leaf([-1.0, 3.0])
    h = w * 2
    assert F.relu(h, inplace=True) is h
    h.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 2.0])
    with pytest.raises(RuntimeError, match="leaf tensor that requires grad"):
        F.relu(w, inplace=True)
    assert w.tolist() == [-1.0, 3.0]


def test_activation_and_dropout_modules_take_inplace():
    x = mg.tensor([-1.0, 2.0])
    assert nn.ReLU(inplace=True)(x) is x and x.tolist() == [0.0, 2.0]
    y = mg.tensor([-2.0, 2.0])
    assert nn.LeakyReLU(0.5, True)(y) is y and y.tolist() == [-1.0, 2.0]
    z = mg.ones(10)
    drop = nn.Dropout(0.5, inplace=True)
    assert drop(z) is z and repr(drop) == "Dropout(p=0.5, inplace=True)"
    assert nn.ReLU()(x) is not x and repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"


def test_one_hot_and_layer_norm_live_in_the_core():
    assert F.one_hot(mg.tensor([2, 0])).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert F.one_hot(mg.tensor([[1]]), 3).shape == (1, 1, 3)
    with pytest.raises(TypeError, match="one_hot: expected an integer tensor"):
        F.one_hot(mg.tensor([1.0]))
    assert F.layer_norm is nn.layer_norm
    import models.torch.nn.functional as namespace_f
    assert namespace_f.one_hot is F.one_hot and namespace_f.layer_norm is F.layer_norm


def _logp(x):
    x = np.asarray(x)
    return x - np.log(np.exp(x - x.max(1, keepdims=True)).sum(1, keepdims=True)) - x.max(
        1, keepdims=True)


X = np.random.default_rng(0).standard_normal((5, 3))
T = np.array([0, 2, -100, 1, 2])
W = np.array([0.5, 2.0, 1.5])
KEEP = T != -100
SAFE = np.where(KEEP, T, 0)


def test_weighted_nll_closed_form():
    per = -W[SAFE] * X[np.arange(5), SAFE] * KEEP
    for reduction, expected in [("none", per), ("sum", per.sum()),
                                ("mean", per.sum() / (W[SAFE] * KEEP).sum())]:
        out = F.nll_loss(mg.tensor(X, dtype=mg.float64), mg.tensor(T),
                         weight=mg.tensor(W, dtype=mg.float64), reduction=reduction)
        np.testing.assert_allclose(out.numpy(), expected, rtol=1e-13)
    mg.gradcheck(lambda t, w: F.nll_loss(t, mg.tensor(T), weight=w), (_leaf(X), _leaf(W)))


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_smoothing_closed_form(weighted, reduction):
    eps, c = 0.2, 3
    lp = _logp(X)
    w = W if weighted else np.ones(3)
    nll = -w[SAFE] * lp[np.arange(5), SAFE] * KEEP
    smooth = -(lp * w).sum(1) * KEEP
    denom = (w[SAFE] * KEEP).sum()
    if reduction == "none":
        expected = (1 - eps) * nll + eps / c * smooth
    elif reduction == "sum":
        expected = (1 - eps) * nll.sum() + eps / c * smooth.sum()
    else:
        expected = ((1 - eps) * nll.sum() + eps / c * smooth.sum()) / denom
    weight = mg.tensor(W, dtype=mg.float64) if weighted else None
    out = F.cross_entropy(mg.tensor(X, dtype=mg.float64), mg.tensor(T), weight=weight,
                          reduction=reduction, label_smoothing=eps)
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-12)
    mg.gradgradcheck(lambda t: F.cross_entropy(t, mg.tensor(T), weight=weight,
                                               reduction=reduction, label_smoothing=eps),
                     (_leaf(X),))


def test_cross_entropy_smoothing_on_nd_inputs_and_modules():
    x = mg.randn(2, 3, 4, dtype=mg.float64)
    t = mg.tensor([[0, 1, 2, 1], [2, 2, 0, -100]])
    flat = F.cross_entropy(x.permute(0, 2, 1).reshape(-1, 3), t.reshape(-1),
                           label_smoothing=0.1, reduction="none")
    nd = F.cross_entropy(x, t, label_smoothing=0.1, reduction="none")
    assert nd.shape == (2, 4)
    np.testing.assert_allclose(nd.numpy().reshape(-1), flat.numpy())
    w = mg.tensor([1.0, 2.0, 3.0], dtype=mg.float64)
    mod = nn.CrossEntropyLoss(weight=w, label_smoothing=0.1)
    np.testing.assert_allclose(mod(x, t).numpy(), F.cross_entropy(
        x, t, weight=w, label_smoothing=0.1).numpy())
    assert "weight" in mod.state_dict() and "label_smoothing=0.1" in repr(mod)
    np.testing.assert_allclose(nn.NLLLoss(weight=w)(x, t).numpy(),
                               F.nll_loss(x, t, weight=w).numpy())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        every_ignored = mg.tensor([[-100] * 4] * 2)
        assert np.isnan(F.cross_entropy(x, every_ignored, weight=w).item())
        assert np.isnan(F.cross_entropy(x, every_ignored, label_smoothing=0.1).item())
    with pytest.raises(TypeError, match="cross_entropy: weight has dtype float32"):
        F.cross_entropy(x, t, weight=mg.ones(3))
    with pytest.raises(ValueError, match="cross_entropy: label_smoothing must be in"):
        F.cross_entropy(x, t, label_smoothing=-0.1)
