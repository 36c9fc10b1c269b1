"""The row kernels behind softmax / log_softmax / logsumexp / cross_entropy and the gradient-norm
reductions, against float64 references and the numpy formulas they replaced."""

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad.kernels import norms
from minigrad.kernels import softmax as kern
from minigrad.nn import functional as F  # noqa: N812 - PyTorch's name
from minigrad.ops import reduce as red


def _run_exp(fn, values):
    from numba import njit

    @njit
    def run(x, out):
        for i in range(x.shape[0]):
            out[i] = fn(x[i])
    x = np.asarray(values, dtype=np.float32)
    out = np.empty_like(x)
    run(x, out)
    return out


def _exp32(values):
    return _run_exp(kern.exp32, values)


def test_exp32_nonpositive_matches_float64_and_flushes_below_the_normal_range():
    x = np.linspace(-110.0, 0.0, 1_000_003).astype(np.float32)
    got = _run_exp(kern.exp32_nonpositive, x).astype(np.float64)
    ref = np.exp(x.astype(np.float64))
    normal = ref > np.finfo(np.float32).tiny
    assert np.max(np.abs(got[normal] - ref[normal]) / ref[normal]) < 1.5e-7
    assert np.all(got[x < -87.34] == 0)
    special = _run_exp(kern.exp32_nonpositive, [-np.inf, np.nan, 0.0, -0.0])
    assert special[0] == 0 and np.isnan(special[1]) and special[2] == special[3] == 1.0


def test_exp32_is_within_a_float32_rounding_over_the_whole_range():
    x = np.linspace(-110.0, 89.0, 1_000_003).astype(np.float32)
    got = _exp32(x).astype(np.float64)
    with np.errstate(over="ignore"):
        ref = np.exp(x.astype(np.float64))
    normal = (ref > np.finfo(np.float32).tiny) & (ref < np.finfo(np.float32).max)
    assert np.max(np.abs(got[normal] - ref[normal]) / ref[normal]) < 1.5e-7
    # denormal results keep their value to within the smallest denormal's order
    tiny = ref <= np.finfo(np.float32).tiny
    assert np.max(np.abs(got[tiny] - ref[tiny])) < 3e-45
    assert np.all(np.isinf(got[ref >= 3.5e38]))


def test_exp32_special_values():
    got = _exp32([np.inf, -np.inf, np.nan, 0.0, -0.0, 88.72, -103.0, -200.0, 100.0])
    assert got[0] == np.inf and got[1] == 0.0 and np.isnan(got[2])
    assert got[3] == 1.0 and got[4] == 1.0
    np.testing.assert_allclose(got[5], math.exp(float(np.float32(88.72))), rtol=2e-7)
    assert 0 < got[6] < 1e-44 and got[7] == 0.0 and got[8] == np.inf


def _old_logsumexp(x):
    m = np.max(x, axis=-1, keepdims=True)
    m = np.where(np.isfinite(m), m, np.zeros((), dtype=x.dtype))
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        return np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True)) + m


def _rows(dtype, cols):
    rng = np.random.default_rng(cols)
    x = rng.standard_normal((7, cols)) * 30
    x[1] += 500.0  # large magnitudes: exp would overflow without the shift
    x[2, : cols // 2] = -np.inf
    x[3, 0] = np.inf
    x[4, cols // 3] = np.nan
    x[5] = -np.inf
    return x.astype(dtype)


@pytest.mark.parametrize("cols", [1, 5, 16, 37, 513, 2100])
@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-6), (np.float64, 1e-13)])
def test_log_softmax_softmax_logsumexp_match_the_old_numpy_path(cols, dtype, rtol):
    x = _rows(dtype, cols)
    lse = _old_logsumexp(x)
    with np.errstate(invalid="ignore"):
        old_log_softmax = x - lse
        old_softmax = np.exp(x - np.max(x, axis=-1, keepdims=True))
        old_softmax /= np.sum(old_softmax, axis=-1, keepdims=True)
    atol = 1e-5 if dtype == np.float32 else 1e-12
    t = mg.tensor(x, dtype=dtype)
    got_lse = red.logsumexp(t, dim=-1, keepdim=True).numpy()
    np.testing.assert_allclose(got_lse, lse, rtol=rtol, atol=atol)
    got = red.log_softmax(t, dim=-1).numpy()
    assert got.dtype == dtype
    np.testing.assert_allclose(got, old_log_softmax, rtol=rtol, atol=atol)
    np.testing.assert_allclose(red.softmax(t, dim=-1).numpy(), old_softmax, rtol=rtol,
                               atol=atol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_match_float64_references(dtype):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((50, 1000)) * 5).astype(dtype)
    x64 = x.astype(np.float64)
    lse = np.log(np.sum(np.exp(x64 - x64.max(1, keepdims=True)), 1, keepdims=True)) + (
        x64.max(1, keepdims=True))
    tol = dict(rtol=1e-6, atol=2e-6) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(red.log_softmax(mg.tensor(x, dtype=dtype)).numpy(), x64 - lse,
                               **tol)
    g = rng.standard_normal(x.shape).astype(dtype)
    y = (x64 - lse).astype(dtype)
    ref = g.astype(np.float64) - np.exp(y.astype(np.float64)) * g.astype(np.float64).sum(
        1, keepdims=True)
    got = red.log_softmax_backward(mg.tensor(g, dtype=dtype), mg.tensor(y, dtype=dtype), 1)
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-5 if dtype == np.float32 else 1e-12,
                               atol=2e-5 if dtype == np.float32 else 1e-12)


def _one_hot_nll(logp, target, ignore_index):
    """The one-hot path nll_loss and cross_entropy used before (float64)."""
    keep = target != ignore_index
    onehot = np.zeros(logp.shape)
    onehot[np.nonzero(keep)[0], target[keep]] = 1
    losses = -np.sum(logp * onehot, axis=1)
    return losses, keep


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_and_nll_match_the_one_hot_path(reduction):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((40, 300)) * 4
    target = rng.integers(0, 300, 40)
    target[::7] = -100
    lse = np.log(np.sum(np.exp(x), axis=1, keepdims=True))
    losses, keep = _one_hot_nll(x - lse, target, -100)
    ref = {"mean": losses.sum() / keep.sum(), "sum": losses.sum(), "none": losses}[reduction]
    p = np.exp(x - lse)
    onehot = np.zeros(x.shape)
    onehot[np.nonzero(keep)[0], target[keep]] = 1
    scale = 1.0 / keep.sum() if reduction == "mean" else 1.0
    grad_ref = (p - onehot) * keep[:, None] * scale
    for dtype, tol in [(np.float64, 1e-12), (np.float32, 2e-5)]:
        for loss_fn, inp in [(F.cross_entropy, x), (F.nll_loss, x - lse)]:
            t = mg.tensor(inp.astype(dtype), dtype=dtype, requires_grad=True)
            out = loss_fn(t, target, reduction=reduction)
            np.testing.assert_allclose(out.numpy(), ref, rtol=tol, atol=tol)
            out.backward(mg.ones_like(out))
            want = grad_ref if loss_fn is F.cross_entropy else -onehot * scale
            np.testing.assert_allclose(t.grad.numpy(), want, rtol=tol, atol=tol)
            assert t.grad.dtype == dtype


def test_cross_entropy_of_nll_of_log_softmax_agree_through_the_kernels():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((70, 1000)).astype(np.float32) * 3
    target = rng.integers(0, 1000, 70)
    a = mg.tensor(x, requires_grad=True)
    b = mg.tensor(x, requires_grad=True)
    la = F.cross_entropy(a, target)
    lb = F.nll_loss(F.log_softmax(b, dim=1), target)
    np.testing.assert_allclose(la.item(), lb.item(), rtol=1e-6)
    la.backward()
    lb.backward()
    np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-5, atol=1e-8)


def test_cross_entropy_higher_dims_and_one_sample():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 5, 4, 2))  # (N, C, d1, d2)
    target = rng.integers(0, 5, (3, 4, 2))
    t = mg.tensor(x, dtype=mg.float64, requires_grad=True)
    got = F.cross_entropy(t, target, reduction="none")
    rows = np.moveaxis(x, 1, -1)
    lse = np.log(np.sum(np.exp(rows), -1))
    ref = lse - np.take_along_axis(rows, target[..., None], -1)[..., 0]
    np.testing.assert_allclose(got.numpy(), ref, rtol=1e-12)
    mg.gradcheck(lambda v: F.cross_entropy(v, target), (t,))
    one = mg.tensor(x[0, :, 0, 0], dtype=mg.float64)
    np.testing.assert_allclose(F.cross_entropy(one, target[0, 0, 0]).item(), ref[0, 0, 0],
                               rtol=1e-12)


@pytest.mark.parametrize("n", [0, 1, 15, 16, 17, 1023, 1024, 5000])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_norm_kernels_match_float64(n, dtype):
    x = (np.random.default_rng(n).standard_normal(n) * 3).astype(dtype)
    x64 = x.astype(np.float64)
    np.testing.assert_allclose(norms.sum_squares(x), np.sum(x64 * x64),
                               rtol=1e-6 if dtype == np.float32 else 1e-12)
    assert norms.max_abs(x) == (np.max(np.abs(x64)) if n else 0.0)
    if n:
        y = x.copy()
        y[n // 2] = np.nan
        assert np.isnan(norms.sum_squares(y)) and np.isnan(norms.max_abs(y))
        y[n // 2] = -np.inf
        assert norms.sum_squares(y) == np.inf and norms.max_abs(y) == np.inf
