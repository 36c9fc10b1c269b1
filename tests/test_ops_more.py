"""sin, cos, remainder (%), cumsum, gather, scatter_add, sort, argsort, __index__ and the
in-place shape changes unsqueeze_ / squeeze_: closed forms and numpy, no PyTorch (the PyTorch
cross-checks are in test_ops_more_torch.py)."""

import numpy as np
import pytest

import minigrad as mg


def _leaf(a):
    return mg.tensor(np.asarray(a, dtype=np.float64), dtype=mg.float64, requires_grad=True)


def test_sin_cos_values_and_second_derivatives():
    x = _leaf([0.0, np.pi / 2, 1.0])
    np.testing.assert_allclose(mg.sin(x).numpy(), np.sin(x.numpy()))
    np.testing.assert_allclose(x.cos().numpy(), np.cos(x.numpy()))
    (g,) = mg.grad(x.sin().sum(), [x], create_graph=True)
    np.testing.assert_allclose(g.numpy(), np.cos(x.numpy()))
    (gg,) = mg.grad(g.sum(), [x])
    np.testing.assert_allclose(gg.numpy(), -np.sin(x.numpy()))
    assert mg.sin(mg.tensor([1, 2])).dtype == np.float32


def test_remainder_takes_the_divisors_sign_and_pytorchs_gradients():
    a, b = _leaf([5.5, -5.5, 5.5, -5.5]), _leaf([2.0, 2.0, -2.0, -2.0])
    out = a % b
    np.testing.assert_array_equal(out.numpy(), [1.5, 0.5, -0.5, -1.5])
    out.backward(mg.tensor([1.0, 2.0, 3.0, 4.0], dtype=mg.float64))
    np.testing.assert_array_equal(a.grad.numpy(), [1, 2, 3, 4])
    # -floor(a / b) * g: floor(2.75) = 2, floor(-2.75) = -3, ...
    np.testing.assert_array_equal(b.grad.numpy(), [-2.0, 6.0, 9.0, -8.0])
    assert (mg.tensor([7, -7]) % 3).tolist() == [1, 2]
    assert (7 % mg.tensor([3, -3])).tolist() == [1, -2]
    assert mg.tensor([4.0]).remainder(3).tolist() == [1.0]
    assert np.isnan((mg.tensor([1.0]) % 0.0).item())
    with pytest.raises(ZeroDivisionError, match="remainder"):
        mg.tensor([1, 2]) % 0
    mg.gradcheck(lambda u, v: u % v, (_leaf([0.3, 2.7, -1.2]), _leaf([0.7, -1.1, 0.9])))


def test_cumsum_values_gradients_dtypes():
    x = _leaf(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(x.cumsum(1).numpy(), np.cumsum(x.numpy(), 1))
    np.testing.assert_array_equal(mg.cumsum(x, -2).numpy(), np.cumsum(x.numpy(), 0))
    x.cumsum(1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3, 2, 1], [3, 2, 1]])  # later entries count
    mg.gradgradcheck(lambda t: mg.cumsum(t, 0) ** 2, (_leaf(np.random.randn(3, 2)),))
    assert mg.tensor([True, True]).cumsum(0).tolist() == [1, 2]
    assert mg.tensor([1, 2], dtype=mg.int32).cumsum(0).dtype == np.int64
    assert mg.tensor([1, 2]).cumsum(0, dtype=mg.float64).dtype == np.float64
    assert mg.tensor(3.0).cumsum(0).shape == ()
    with pytest.raises(TypeError, match="cumsum: dim must be an int"):
        x.cumsum(None)
    with pytest.raises(ValueError, match="cumsum: dim 2"):
        x.cumsum(2)


def test_gather_and_scatter_add():
    x = _leaf([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    idx = mg.tensor([[2, 0], [1, 1]])
    out = x.gather(1, idx)
    np.testing.assert_array_equal(out.numpy(), [[3, 1], [5, 5]])
    out.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 1], [0, 2, 0]])
    base = mg.zeros(2, 3, dtype=mg.float64)
    src = mg.tensor([[1.0, 2.0, 7.0], [3.0, 4.0, 7.0]], dtype=mg.float64)
    out = base.scatter_add(1, idx, src)  # src wider than index: only its first 2 columns
    np.testing.assert_array_equal(out.numpy(), [[2, 0, 1], [0, 7, 0]])
    mg.gradgradcheck(lambda t: mg.gather(t, 0, mg.tensor([[1, 0, 1]])) ** 2,
                     (_leaf(np.random.randn(2, 3)),))
    mg.gradcheck(lambda t, s: mg.scatter_add(t, 0, mg.tensor([[1, 1, 0]]), s),
                 (_leaf(np.random.randn(2, 3)), _leaf(np.random.randn(1, 3))))


@pytest.mark.parametrize("bad, kind, match", [
    ((1, mg.tensor([[0.0]])), TypeError, "gather: expected an integer index"),
    ((1, mg.tensor([0, 1])), ValueError, "gather: index must have as many dims"),
    ((1, mg.tensor([[3]])), IndexError, r"gather: index values must lie in \[0, 3\)"),
    ((0, mg.tensor([[0, 0, 0, 0]])), ValueError, "gather: index shape"),
    ((1.0, mg.tensor([[0]])), TypeError, "gather: dim must be an int"),
])
def test_gather_refuses(bad, kind, match):
    with pytest.raises(kind, match=match):
        mg.ones(2, 3).gather(*bad)


def test_sort_and_argsort():
    x = _leaf([3.0, np.nan, 1.0, 3.0, -np.inf, np.inf, 1.0])
    v, i = x.sort()
    assert i.tolist() == [4, 2, 6, 0, 3, 5, 1]
    np.testing.assert_array_equal(v.numpy(), x.numpy()[i.numpy()])
    values, indices = mg.sort(x, descending=True)
    assert indices.tolist() == [1, 5, 0, 3, 2, 6, 4]
    assert mg.sort(x, descending=True).indices.tolist() == indices.tolist()
    assert x.argsort(descending=True).tolist() == indices.tolist()
    y = _leaf([[2.0, 1.0], [0.5, 4.0]])
    s = y.sort(dim=0).values
    np.testing.assert_array_equal(s.numpy(), [[0.5, 1.0], [2.0, 4.0]])
    (s * mg.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=mg.float64)).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [[3.0, 2.0], [1.0, 4.0]])
    assert mg.tensor([2, 9, -1, 9]).argsort(descending=True).tolist() == [1, 3, 0, 2]
    assert mg.tensor([True, False, True]).argsort().tolist() == [1, 0, 2]
    assert mg.tensor(2.0).sort().indices.tolist() == 0
    with pytest.raises(TypeError, match="sort: descending must be a bool"):
        x.sort(descending="yes")


def test_index_makes_int_tensors_usable_as_python_ints():
    seq = ["a", "b", "c"]
    assert seq[mg.tensor(2)] == "c"
    assert list(range(mg.tensor([3]))) == [0, 1, 2]
    assert seq[mg.tensor([[1]])] == "b"
    for bad in (mg.tensor(1.0), mg.tensor([1, 2])):
        with pytest.raises(TypeError, match="only integer tensors of a single element"):
            seq[bad]


def test_unsqueeze_squeeze_in_place_without_recording():
    t = mg.tensor([[1.0, 2.0]])
    data = t.numpy()
    assert t.squeeze_() is t and t.shape == (2,) and t._version == 1
    assert np.shares_memory(t.numpy(), data)
    t.unsqueeze_(-1)
    assert t.shape == (2, 1) and t._version == 2 and np.shares_memory(t.numpy(), data)
    t.squeeze_(0)  # not of size 1: no change of shape
    assert t.shape == (2, 1)
    t.squeeze_((1,))
    assert t.shape == (2,)
    w = mg.tensor([1.0], requires_grad=True)
    with mg.no_grad():
        w.unsqueeze_(0)
    assert w.shape == (1, 1)
    with pytest.raises(ValueError, match="unsqueeze_: dim 3"):
        t.unsqueeze_(3)


def test_unsqueeze_in_place_recorded_on_a_non_leaf():
    w = _leaf([1.0, 2.0])
    y = w * 2
    before = y * 1  # recorded with y's earlier (1-D) value
    y.unsqueeze_(0)
    assert y.shape == (1, 2) and y.op == "reshape"
    (y * mg.tensor([[3.0, 4.0]], dtype=mg.float64)).sum().backward(retain_graph=True)
    np.testing.assert_array_equal(w.grad.numpy(), [6.0, 8.0])
    w.grad = None
    before.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [2.0, 2.0])
    y2 = w * 2
    square = y2 * y2  # saves y2's values
    y2.unsqueeze_(0)
    with mg.no_grad():
        y2.add_(100.0)  # edits the rebound tensor's memory, not the saved earlier value
    w.grad = None
    square.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [8.0, 16.0])  # 2 * (2 w) * 2
    z = (w * 1).unsqueeze(0)
    z.squeeze_()
    assert z.shape == (2,) and z.requires_grad
    with pytest.raises(RuntimeError, match="unsqueeze_: a leaf tensor that requires grad"):
        w.unsqueeze_(0)
    assert w.shape == (2,)
