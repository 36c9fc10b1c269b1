"""sin, cos, remainder, cumsum, gather, scatter_add, sort and argsort against PyTorch in float64:
values, first gradients and (where defined) indices; also through ``models.torch``."""

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")


def _pair(a):
    return (mg.tensor(a, dtype=mg.float64, requires_grad=True),
            torch.tensor(a, dtype=torch.float64, requires_grad=True))


def _check(fn_mg, fn_torch, arrays, seed=0):
    pairs = [_pair(a) for a in arrays]
    out_m = fn_mg(*[p[0] for p in pairs])
    out_t = fn_torch(*[p[1] for p in pairs])
    np.testing.assert_allclose(out_m.numpy(), out_t.detach().numpy(), rtol=1e-13, atol=1e-14)
    g = np.random.default_rng(seed).standard_normal(out_m.shape)
    out_m.backward(mg.tensor(g, dtype=mg.float64))
    out_t.backward(torch.tensor(g))
    for m, t in pairs:
        np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-13, atol=1e-14)


RNG = np.random.default_rng(1)
X = RNG.standard_normal((3, 4)) * 3


def test_trig():
    _check(mg.sin, torch.sin, [X])
    _check(lambda t: t.cos(), lambda t: t.cos(), [X])


def test_remainder():
    b = RNG.uniform(0.5, 2.0, (4,)) * np.array([1, -1, 1, -1])
    _check(lambda u, v: u % v, lambda u, v: u % v, [X, b])
    # PyTorch has no derivative for number % tensor; a 0-d tensor stands for the number.
    _check(lambda v: mg.tensor(2.5, dtype=mg.float64) % v,
           lambda v: torch.tensor(2.5, dtype=torch.float64) % v, [b])
    _check(lambda u: u.remainder(-1.5), lambda u: u.remainder(-1.5), [X])
    ints = np.array([-7, -3, 0, 3, 7])
    assert (mg.tensor(ints) % -3).tolist() == (torch.tensor(ints) % -3).tolist()


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_cumsum(dim):
    _check(lambda t: t.cumsum(dim), lambda t: t.cumsum(dim), [X])


def test_gather_scatter_add():
    idx = RNG.integers(0, 4, (2, 5))
    _check(lambda t: t.gather(1, mg.tensor(idx)), lambda t: t.gather(1, torch.tensor(idx)),
           [X[:, :4][:2].repeat(1, axis=0)])
    src = RNG.standard_normal((2, 3))  # PyTorch's backward wants src of index's shape
    idx0 = RNG.integers(0, 3, (2, 3))
    _check(lambda t, s: t.scatter_add(0, mg.tensor(idx0), s),
           lambda t, s: t.scatter_add(0, torch.tensor(idx0), s), [X, src])


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [0, -1])
def test_sort_argsort(descending, dim):
    a = np.round(RNG.standard_normal((5, 6)), 0)  # many ties
    a[1, 2] = a[3, 0] = np.nan
    a[2, 2] = np.inf
    m, t = _pair(a)
    vm, im = m.sort(dim=dim, descending=descending)
    vt, it = t.sort(dim=dim, descending=descending, stable=True)
    assert im.tolist() == it.tolist()
    np.testing.assert_array_equal(vm.numpy(), vt.detach().numpy())
    assert m.argsort(dim, descending).tolist() == t.argsort(
        dim=dim, descending=descending, stable=True).tolist()
    g = np.random.default_rng(2).standard_normal(a.shape)
    vm.backward(mg.tensor(g, dtype=mg.float64))
    vt.backward(torch.tensor(g))
    np.testing.assert_array_equal(m.grad.numpy(), t.grad.numpy())


def test_namespace_picks_them_up():
    import models.torch as mt
    for name in ("sin", "cos", "remainder", "cumsum", "gather", "scatter_add", "sort",
                 "argsort"):
        assert getattr(mt, name) is getattr(mg, name)
