"""Reductions and normalisations through the public API: dim/keepdim and the axis/keepdims
aliases, max/min with indices and shared ties, var/std corrections, stable softmax family."""

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import minigrad as mg


def _leaf(values):
    return mg.tensor(values, dtype=mg.float64, requires_grad=True)


@st.composite
def _tensor_and_dims(draw, min_side=1):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=min_side, max_side=3))
    dims = draw(st.one_of(st.none(), st.integers(-len(shape), len(shape) - 1),
                          st.lists(st.integers(0, len(shape) - 1), min_size=1,
                                   unique=True).map(tuple)))
    seed = draw(st.integers(0, 2**16))
    return np.random.default_rng(seed).standard_normal(shape), dims


def _np_axis(dims):
    return dims if dims is None or isinstance(dims, int) else tuple(dims)


@given(case=_tensor_and_dims(), keep=st.booleans())
def test_sum_mean_match_numpy_and_gradcheck(case, keep):
    v, dims = case
    x = _leaf(v)
    np.testing.assert_allclose(x.sum(dims, keep).numpy(), v.sum(_np_axis(dims), keepdims=keep))
    np.testing.assert_allclose(x.mean(dim=dims, keepdim=keep).numpy(),
                               v.mean(_np_axis(dims), keepdims=keep))
    mg.gradcheck(lambda t: (t.sum(dims, keep), t.mean(dims, keep)), (x,))


@given(case=_tensor_and_dims(min_side=2), keep=st.booleans(), correction=st.sampled_from([0, 1]))
def test_var_std_match_numpy_and_gradcheck(case, keep, correction):
    v, dims = case
    x = _leaf(v)
    ax = _np_axis(dims)
    np.testing.assert_allclose(x.var(dims, keep, correction=correction).numpy(),
                               v.var(ax, ddof=correction, keepdims=keep), rtol=1e-12)
    np.testing.assert_allclose(mg.std(x, dims, keep, correction).numpy(),
                               v.std(ax, ddof=correction, keepdims=keep), rtol=1e-12)
    mg.gradcheck(lambda t: t.var(dims, keep, correction=correction), (x,))
    mg.gradgradcheck(lambda t: mg.std(t, dims, keep, correction), (x,))


def test_var_unbiased_flag_and_degenerate_counts():
    v = np.array([1.0, 2.0, 4.0])
    assert np.isclose(mg.var(mg.tensor(v), unbiased=False).item(), v.var())
    assert np.isclose(mg.var(mg.tensor(v), unbiased=True).item(), v.var(ddof=1))
    assert np.isnan(mg.var(mg.tensor([1.0])).item())  # n - 1 = 0, as in PyTorch


def test_axis_and_keepdims_aliases():
    x = mg.tensor(np.arange(6.0).reshape(2, 3))
    for fn in [mg.sum, mg.mean, mg.amax, mg.amin, mg.var, mg.std, mg.logsumexp]:
        np.testing.assert_allclose(fn(x, axis=1, keepdims=True).numpy(),
                                   fn(x, dim=1, keepdim=True).numpy())
        assert fn(x, axis=1, keepdims=True).shape == (2, 1)
    assert x.sum(axis=(0, 1)).shape == ()
    assert x.max(axis=0).values.shape == (3,)
    with pytest.raises(TypeError, match="dim or axis"):
        x.sum(dim=0, axis=0)
    with pytest.raises(TypeError, match="dims"):
        x.sum(dims=0)


def test_bad_dims_are_named():
    x = mg.ones(2, 3)
    with pytest.raises(ValueError, match="sum: dim 2 is out of range"):
        x.sum(2)
    with pytest.raises(ValueError, match="repeats"):
        x.sum((1, -1))
    with pytest.raises(TypeError, match="int"):
        x.sum(1.5)


def test_max_min_with_dim_return_values_and_indices():
    v = np.array([[1.0, 5.0, 3.0], [7.0, 0.0, 2.0]])
    x = _leaf(v)
    values, indices = x.max(dim=1)
    np.testing.assert_array_equal(values.numpy(), [5.0, 7.0])
    np.testing.assert_array_equal(indices.numpy(), [1, 0])
    assert indices.dtype == np.int64 and not indices.requires_grad
    r = mg.min(x, dim=0, keepdim=True)
    np.testing.assert_array_equal(r.values.numpy(), [[1.0, 0.0, 2.0]])
    np.testing.assert_array_equal(r.indices.numpy(), [[0, 1, 1]])
    assert x.max().item() == 7.0 and x.min().item() == 0.0
    (values.sum() + r.values.sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
    with pytest.raises(TypeError, match="amax"):
        x.max(dim=(0, 1))


def test_tied_maxima_share_the_gradient():
    # amax shares it among ties; max(dim) gives it to the returned index (PyTorch's rules)
    x = _leaf([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]])
    mg.amax(x, dim=1).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.0, 0.5, 0.5], [1 / 3, 1 / 3, 1 / 3]])
    x.grad = None
    x.max(dim=1).values.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    x.grad = None
    mg.amin(x).backward()
    np.testing.assert_allclose(x.grad.numpy(), [[1.0, 0.0, 0.0], [0.0, 0.0, 0.0]])


def test_reducing_an_empty_dim():
    e = mg.ones(0, 3)
    with pytest.raises(ValueError, match=r"empty dimension.*\(0, 3\)"):
        mg.amax(e, dim=0)
    assert mg.amax(e, dim=1).shape == (0,)
    assert e.sum().item() == 0.0 and e.sum(0).shape == (3,)
    assert np.isnan(e.mean().item())


# ---- softmax family ------------------------------------------------------------------------------
def test_softmax_family_is_stable_for_huge_logits():
    x = _leaf([[1000.0, 0.0, -1000.0], [5.0, 5.0, 5.0]])
    with np.errstate(over="raise", invalid="raise"):
        p = x.softmax(dim=1)
        lp = x.log_softmax(dim=1)
        lse = x.logsumexp(dim=1)
    np.testing.assert_allclose(p.numpy(), [[1.0, 0.0, 0.0], [1 / 3, 1 / 3, 1 / 3]], atol=1e-300)
    np.testing.assert_allclose(lp.numpy(), [[0.0, -1000.0, -2000.0], [-np.log(3)] * 3])
    np.testing.assert_allclose(lse.numpy(), [1000.0, 5.0 + np.log(3)])
    (p[:, 0].sum() + lp.sum() + lse.sum()).backward()
    assert np.isfinite(x.grad.numpy()).all()


def test_logsumexp_handles_infinities():
    assert mg.logsumexp(mg.tensor([-np.inf, -np.inf]), 0).item() == -np.inf
    assert mg.logsumexp(mg.tensor([np.inf, 0.0]), 0).item() == np.inf


@given(case=_tensor_and_dims())
def test_softmax_log_softmax_rows_and_gradients(case):
    v, _ = case
    x = _leaf(v * 3)
    for dim in range(-v.ndim, v.ndim):
        p = mg.softmax(x, dim)
        np.testing.assert_allclose(p.numpy().sum(axis=dim), 1.0, rtol=1e-12)
        np.testing.assert_allclose(mg.log_softmax(x, dim).numpy(), np.log(p.numpy()), rtol=1e-10,
                                   atol=1e-12)
    mg.gradcheck(lambda t: (mg.softmax(t, -1), mg.log_softmax(t, 0)), (x,))


def test_softmax_of_a_zero_dim_tensor_is_one():
    x = _leaf(3.0)
    assert x.softmax().item() == 1.0 and x.log_softmax().item() == 0.0
    mg.gradcheck(lambda t: t.softmax() * t, (x,))


def test_softmax_dim_out_of_range():
    with pytest.raises(ValueError, match="softmax: dim 2"):
        mg.ones(2, 2).softmax(dim=2)


def test_norm_is_the_frobenius_norm():
    v = np.array([[3.0, 4.0], [0.0, 12.0]])
    assert np.isclose(mg.tensor(v).norm().item(), 13.0)


def test_logsumexp_method_takes_the_axis_alias_and_defaults_to_all_dims():
    x = mg.tensor(np.zeros((2, 3)))
    np.testing.assert_allclose(x.logsumexp(axis=1).numpy(), np.log([3.0, 3.0]))
    np.testing.assert_allclose(x.logsumexp().item(), np.log(6.0))
