"""Edge cases against PyTorch itself: 0-d shape ops, empty index_select, chunk / split of
empty and uneven dims, var / std with correction >= N, concat of one tensor, and the gradients
of abs and of max / min / amax / amin with NaNs and ties (values and gradients, NaN for NaN)."""

import warnings

import numpy as np
import pytest

import minigrad as mg

torch = pytest.importorskip("torch")
# inf * 0 in the backward of var/std at correction >= N: numpy's warnings, PyTorch's values
pytestmark = pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")

NAN, INF = float("nan"), float("inf")


def _same(ours, theirs):
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else np.asarray(theirs)
    ours = ours.numpy() if isinstance(ours, mg.Tensor) else np.asarray(ours)
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=0, equal_nan=True)
    assert (np.isnan(ours) == np.isnan(theirs)).all()  # NaN exactly where PyTorch has NaN


def _grads(fn, data, grad_out=None, dtype="float64", **kw):
    """fn applied in both libraries to ``data``; returns (ours, theirs) pairs of the outputs
    and of the gradients for the cotangent grad_out (default 1, 2, 3, ...)."""
    x = mg.tensor(np.asarray(data, dtype=dtype), requires_grad=True)
    tx = torch.tensor(np.asarray(data, dtype=dtype), requires_grad=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        y, ty = fn(mg, x, **kw), fn(torch, tx, **kw)
    if isinstance(y, tuple):
        _same(y[1], ty[1])
        y, ty = y[0], ty[0]
    if grad_out is None:
        grad_out = np.arange(1.0, ty.numel() + 1).reshape(tuple(ty.shape))
    (g,) = mg.grad(y, [x], grad_outputs=mg.tensor(np.asarray(grad_out, dtype=dtype)))
    (tg,) = torch.autograd.grad(ty, [tx], torch.tensor(np.asarray(grad_out, dtype=dtype)))
    return (y, ty), (g, tg)


def _check(fn, data, **kw):
    (y, ty), (g, tg) = _grads(fn, data, **kw)
    _same(y, ty)
    _same(g, tg)


@pytest.mark.parametrize("op", [
    lambda lib, t: t.transpose(0, 0), lambda lib, t: t.transpose(0, -1),
    lambda lib, t: t.transpose(-1, -1), lambda lib, t: t.permute(()),
    lambda lib, t: t.squeeze(), lambda lib, t: t.squeeze(0), lambda lib, t: t.squeeze(-1),
    lambda lib, t: t.unsqueeze(0), lambda lib, t: t.unsqueeze(-1), lambda lib, t: t.flatten(),
    lambda lib, t: t.flatten(0, -1), lambda lib, t: t.flatten(-1, 0),
    lambda lib, t: lib.index_select(t, 0, lib.tensor([0])), lambda lib, t: t.max(0),
    lambda lib, t: t.min(-1), lambda lib, t: lib.amax(t, 0),
])
def test_zero_dim_shape_ops(op):
    _check(op, 1.5)


@pytest.mark.parametrize("op", [
    lambda t: t.transpose(0, 1), lambda t: t.flatten(1), lambda t: t.flatten(0, 1),
    lambda t: t.squeeze(1), lambda t: t.unsqueeze(1), lambda t: t.unsqueeze(-2),
    lambda t: t.permute(0), lambda t: t.chunk(2), lambda t: t.split(1), lambda t: t.max(1),
])
def test_zero_dim_shape_ops_that_pytorch_refuses(op):
    with pytest.raises((IndexError, RuntimeError)):
        op(torch.tensor(1.5))
    with pytest.raises(ValueError):
        op(mg.tensor(1.5))


@pytest.mark.parametrize("shape, dim, index", [
    ((0, 2, 3), 0, []), ((0, 2, 3), 1, [1, 0, 1]), ((2, 0, 3), 0, [1, 1]), ((2, 0, 3), 2, [2]),
    ((2, 3), 1, []), ((2, 3, 4), 1, []), ((2, 3), 0, []), ((3,), 0, 1), ((2, 3), -1, [2, 2, 0]),
])
def test_index_select_empty_and_0d_index(shape, dim, index):
    data = np.arange(float(np.prod(shape))).reshape(shape)
    _check(lambda lib, t: lib.index_select(t, dim, lib.tensor(index, dtype=lib.int64)), data)


@pytest.mark.parametrize("n", [0, 1, 2, 3, 5, 6, 7, 10, 11, 13])
@pytest.mark.parametrize("chunks", [1, 2, 3, 4, 5, 6, 7])
def test_chunk_sizes(n, chunks):
    ours = [p.shape for p in mg.chunk(mg.zeros(n, 2), chunks)]
    assert ours == [tuple(p.shape) for p in torch.zeros(n, 2).chunk(chunks)]
    ours = [p.shape for p in mg.chunk(mg.zeros(2, n), chunks, dim=1)]
    assert ours == [tuple(p.shape) for p in torch.zeros(2, n).chunk(chunks, dim=1)]


@pytest.mark.parametrize("n", [0, 1, 5, 6])
@pytest.mark.parametrize("size", [1, 2, 4, 5, 7, [0, 0], []])
def test_split_sizes(n, size):
    try:
        theirs = [tuple(p.shape) for p in torch.zeros(n, 2).split(size)]
    except RuntimeError:
        with pytest.raises(ValueError):
            mg.split(mg.zeros(n, 2), size)
        return
    assert [p.shape for p in mg.split(mg.zeros(n, 2), size)] == theirs
    assert [p.shape for p in mg.split(mg.zeros(n, 2), 0 if n == 0 else size)] == [
        tuple(p.shape) for p in torch.zeros(n, 2).split(0 if n == 0 else size)]


def test_chunk_and_split_gradients():
    data = np.arange(14.0).reshape(7, 2)
    _check(lambda lib, t: lib.cat([p * (i + 1) for i, p in enumerate(t.chunk(3))]), data)
    _check(lambda lib, t: lib.cat([p * (i + 1) for i, p in enumerate(t.split([3, 0, 4]))]),
           data)


VAR_CASES = [
    ([1.0, 2.0, 4.0], 3), ([1.0, 2.0, 4.0], 4), ([2.0, 2.0, 2.0], 3), ([2.0, 2.0, 2.0], 5),
    ([1.0, 2.0, 3.0], 3), ([1.0, 2.0, 3.0], 3.5), ([1.0, 1.0, 4.0], 3), ([5.0], 1), ([5.0], 0),
    ([1.0, 2.0], 2.5), ([1.0, 2.0, 3.0], 2.5), ([1.0, 2.0], -1), ([1.0, NAN], 2),
    ([1.0, INF], 2), ([1.0, -INF], 2), ([1.0, INF], 0), ([[1.0, 2.0], [3.0, 4.0]], 4),
    ([[1.0, 2.0, 4.0], [2.0, 2.0, 2.0]], 3), (3.0, 1), (3.0, 0), ([2.0, 2.0, 4.0], 1),
    ([2.0, 2.0, 2.0], 1),
]


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("data, correction", VAR_CASES)
def test_var_and_std_over_everything(fn, data, correction):
    _check(lambda lib, t: getattr(lib, fn)(t, correction=correction), data)


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("data, correction", [c for c in VAR_CASES if np.ndim(c[0]) >= 1])
@pytest.mark.parametrize("keepdim", [False, True])
def test_var_and_std_over_a_dim(fn, data, correction, keepdim):
    _check(lambda lib, t: getattr(lib, fn)(t, dim=-1, correction=correction, keepdim=keepdim),
           data)
    _check(lambda lib, t: getattr(lib, fn)(t, dim=0, correction=correction, keepdim=keepdim),
           data)


@pytest.mark.parametrize("fn", ["var", "std"])
@pytest.mark.parametrize("shape, dim, correction", [
    ((0,), None, 0), ((0,), None, 1), ((0, 3), 0, 0), ((0, 3), 0, 1), ((2, 0), 1, 0),
    ((2, 0), 0, 1), ((0, 3), 1, 1),
])
def test_var_and_std_of_empty_tensors(fn, shape, dim, correction):
    _check(lambda lib, t: getattr(lib, fn)(t, dim=dim, correction=correction),
           np.zeros(shape))


@pytest.mark.parametrize("fn", ["var", "std"])
def test_var_and_std_float32(fn):
    _check(lambda lib, t: getattr(lib, fn)(t, correction=3), [1.0, 2.0, 4.0], dtype="float32")
    (y, ty), (g, tg) = _grads(lambda lib, t: getattr(lib, fn)(t, dim=1), np.random.default_rng(0)
                              .standard_normal((3, 5)), dtype="float32")
    assert y.dtype == np.float32 and g.dtype == np.float32
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(g.numpy(), tg.numpy(), rtol=1e-4, atol=1e-6)


def test_var_and_std_unbiased_flag_and_aliases():
    data = np.random.default_rng(1).standard_normal((3, 4))
    _check(lambda lib, t: t.var(1, unbiased=False, keepdim=True), data)
    _check(lambda lib, t: t.std(unbiased=True), data)
    _check(lambda lib, t: lib.std(t, dim=(0, 1), correction=0), data)


def test_concat_of_one_tensor_is_a_copy_like_pytorch():
    a, ta = mg.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0])
    out, tout = mg.cat([a]), torch.cat([ta])
    out.numpy()[0] = 9.0
    tout[0] = 9.0
    _same(a, ta)
    _check(lambda lib, t: lib.cat([t]) * 3.0, [1.0, 2.0])
    _check(lambda lib, t: lib.stack([t], dim=1) * 3.0, [1.0, 2.0])


X_NAN = [[1.0, NAN, 3.0, NAN], [2.0, 5.0, 5.0, 1.0], [NAN, NAN, NAN, NAN], [-INF, -INF, 0, 7]]
X_TIES = [[2.0, 5.0, 5.0, 1.0], [3.0, 3.0, 3.0, 3.0], [INF, 1.0, INF, -INF]]
REDUCTIONS = [
    lambda lib, t: t.max(1), lambda lib, t: t.min(1), lambda lib, t: t.max(0),
    lambda lib, t: t.min(0), lambda lib, t: t.max(-1, keepdim=True),
    lambda lib, t: t.min(0, keepdim=True), lambda lib, t: lib.max(t, dim=1),
    lambda lib, t: lib.amax(t, 1), lambda lib, t: lib.amin(t, 1), lambda lib, t: lib.amax(t, 0),
    lambda lib, t: lib.amin(t, (0, 1)), lambda lib, t: lib.amax(t),
    lambda lib, t: lib.amax(t, 1, True),
    lambda lib, t: t.max(), lambda lib, t: t.min(), lambda lib, t: lib.max(t),
]


@pytest.mark.parametrize("data", [X_NAN, X_TIES, X_NAN[:2], X_NAN[1:2], X_TIES[2:]],
                         ids=["nan", "ties", "nan-row", "no-nan", "inf"])
@pytest.mark.parametrize("fn", REDUCTIONS)
def test_max_min_gradients_with_nans_and_ties(fn, data):
    _check(fn, data)


@pytest.mark.parametrize("data", [[NAN, 2.0, NAN], [1.0, NAN, 2.0, NAN], [INF, 1.0, INF],
                                  [4.0], [-INF, -INF]])
@pytest.mark.parametrize("fn", [
    lambda lib, t: t.max(0), lambda lib, t: t.min(-1), lambda lib, t: t.max(0, keepdim=True),
    lambda lib, t: lib.amax(t, 0), lambda lib, t: lib.amin(t), lambda lib, t: t.max(),
    lambda lib, t: t.min(),
])
def test_max_min_of_vectors(fn, data):
    _check(fn, data)


def test_abs_gradient_at_nan_zero_and_infinities():
    _check(lambda lib, t: lib.abs(t), [NAN, -2.0, 0.0, -0.0, 3.0, INF, -INF])
    _check(lambda lib, t: lib.abs(t), [[NAN, -1.5]], dtype="float32")
