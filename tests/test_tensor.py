"""Tensor creation and the Tensor's own behaviour: dtypes, memory sharing, conversions, repr,
in-place rules, requires_grad rules."""

import numpy as np
import pytest

import minigrad as mg


# ---- creation ------------------------------------------------------------------------------------
def test_tensor_dtypes_from_python_and_numpy_data():
    assert mg.tensor([1.0, 2.0]).dtype == np.float32
    assert mg.tensor(1.5).shape == () and mg.tensor(1.5).dtype == np.float32
    assert mg.tensor([1, 2]).dtype == np.int64
    assert mg.tensor([True]).dtype == np.bool_
    assert mg.tensor(np.ones(2)).dtype == np.float64  # numpy arrays keep their float dtype
    assert mg.tensor(np.ones(2, np.float16)).dtype == np.float32  # other floats: the default
    assert mg.tensor([1, 2], dtype=mg.float64).dtype == np.float64
    assert mg.tensor([mg.tensor([1.0]), mg.tensor([2.0])]).shape == (2, 1)
    with pytest.raises(TypeError, match="dtype <U1.* not supported"):
        mg.tensor(["a"])


def test_tensor_copies_while_from_numpy_and_as_tensor_share():
    a = np.zeros(3)
    t, f, s = mg.tensor(a), mg.from_numpy(a), mg.as_tensor(a)
    a[0] = 7.0
    assert t.numpy()[0] == 0.0 and f.numpy()[0] == 7.0 and s.numpy()[0] == 7.0
    assert mg.as_tensor(t) is t
    assert mg.as_tensor(a, dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="from_numpy"):
        mg.from_numpy([1.0])


def test_factories():
    assert mg.zeros(2, 3).shape == (2, 3) and mg.zeros((2, 3)).dtype == np.float32
    assert mg.ones(2, dtype=mg.float64).dtype == np.float64
    assert mg.empty(0, 2).shape == (0, 2)
    np.testing.assert_array_equal(mg.full((2, 2), 1.5).numpy(), np.full((2, 2), 1.5))
    np.testing.assert_array_equal(mg.eye(2, 3).numpy(), np.eye(2, 3))
    x = mg.tensor([[1.0, 2.0]], dtype=mg.float64)
    for like in [mg.zeros_like(x), mg.ones_like(x), mg.full_like(x, 3.0)]:
        assert like.shape == x.shape and like.dtype == np.float64
    assert mg.arange(5).dtype == np.int64 and mg.arange(0.0, 1.0, 0.25).shape == (4,)
    np.testing.assert_allclose(mg.linspace(0, 1, 5).numpy(), np.linspace(0, 1, 5))
    assert mg.zeros(2, requires_grad=True).requires_grad
    with pytest.raises(ValueError, match="non-negative"):
        mg.zeros(-1)
    for make in [lambda: mg.zeros(2, dtype=np.float16), lambda: mg.tensor([1.0], np.float16),
                 lambda: mg.ones_like(x, dtype=np.float16), lambda: mg.arange(3, dtype="f2")]:
        with pytest.raises(TypeError, match="float32 or float64"):
            make()
    assert mg.zeros(2, dtype=mg.int64).dtype == np.int64


def test_random_factories_follow_manual_seed():
    mg.manual_seed(7)
    a, b, c = mg.randn(3, 2), mg.rand(4), mg.randint(0, 5, (2, 3))
    mg.manual_seed(7)
    np.testing.assert_array_equal(a.numpy(), mg.randn(3, 2).numpy())
    np.testing.assert_array_equal(b.numpy(), mg.rand(4).numpy())
    np.testing.assert_array_equal(c.numpy(), mg.randint(0, 5, (2, 3)).numpy())
    assert a.dtype == np.float32 and ((b.numpy() >= 0) & (b.numpy() < 1)).all()
    assert c.dtype == np.int64 and ((c.numpy() >= 0) & (c.numpy() < 5)).all()
    gen = np.random.default_rng(0)
    assert mg.randn(2, generator=gen).shape == (2,)


# ---- conversions ---------------------------------------------------------------------------------
def test_array_like_facts_and_conversions():
    x = mg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert x.shape == (2, 3) and x.ndim == 2 and x.dim() == 2 and len(x) == 2
    assert x.size() == (2, 3) and x.size(1) == 3 and x.numel() == 6
    assert x.numpy() is x.numpy() and np.asarray(x) is x.numpy()
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert mg.tensor(2.5).item() == 2.5 and float(mg.tensor([2.5])) == 2.5
    assert int(mg.tensor(3)) == 3 and bool(mg.tensor([True]))
    with pytest.raises(ValueError, match="one element"):
        x.item()
    with pytest.raises(ValueError, match="ambiguous"):
        bool(x)
    with pytest.raises(TypeError, match="0-d"):
        len(mg.tensor(1.0))
    assert bool((x > 5).any()) and not bool((x > 5).all())
    np.testing.assert_array_equal(x.argmax(dim=1).numpy(), [2, 2])
    np.testing.assert_array_equal(x.argmin().numpy(), 0)


def test_repr_shows_dtype_op_and_requires_grad():
    assert repr(mg.tensor([1.0, 2.0])) == "tensor([1., 2.])"
    assert "dtype=int64" in repr(mg.tensor([1]))
    leaf = mg.tensor([1.0], requires_grad=True)
    assert "requires_grad=True" in repr(leaf)
    assert "op=mul" in repr(leaf * 2)


# ---- requires_grad and in-place rules ------------------------------------------------------------
def test_only_float_tensors_can_require_grad():
    with pytest.raises(TypeError, match="float"):
        mg.tensor([1, 2], requires_grad=True)
    with pytest.raises(TypeError, match="float"):
        mg.tensor([1, 2]).requires_grad_()
    x = mg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        (x * 2).requires_grad_(False)
    assert not x.requires_grad_(False).requires_grad


def test_in_place_ops_need_no_grad_when_grad_is_required():
    w = mg.tensor([1.0, 2.0], requires_grad=True)
    for op in [lambda: w.__iadd__(1.0), lambda: w.mul_(2.0), lambda: w.add_(w, alpha=2),
               lambda: w.copy_(np.zeros(2))]:
        with pytest.raises(RuntimeError, match="no_grad"):
            op()
    np.testing.assert_array_equal(w.numpy(), [1.0, 2.0])  # nothing changed
    with mg.no_grad():
        w += 1.0
        w -= mg.tensor([0.5, 0.5])
        w *= 2.0
        w /= 4.0
        w.add_(mg.tensor([1.0, 1.0]), alpha=-0.5)
    np.testing.assert_allclose(w.numpy(), [0.25, 0.75])
    assert w.requires_grad and w.is_leaf


def test_copy_and_zero():
    x = mg.zeros(2)
    x.copy_([3.0, 4.0])
    np.testing.assert_array_equal(x.numpy(), [3.0, 4.0])
    with pytest.raises(ValueError, match=r"copy_: a source of shape \(3,\) cannot be broad"):
        x.copy_(np.ones(3))
    assert x.zero_() is x and not x.numpy().any()


def test_in_place_keeps_the_dtype():
    x = mg.zeros(2)  # float32
    with mg.no_grad():
        x += np.array([1.0, 2.0])  # float64 operand
    assert x.dtype == np.float32


def test_as_tensor_keeps_the_sign_of_zero():
    from minigrad.tensor import as_tensor
    like = mg.tensor([1.0])
    assert not np.signbit(as_tensor(0.0, like=like).numpy())
    assert np.signbit(as_tensor(-0.0, like=like).numpy())
