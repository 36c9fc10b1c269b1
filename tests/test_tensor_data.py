"""``Tensor.data`` with PyTorch's semantics: a Tensor sharing the memory, cut from the graph,
with a version counter of its own; ``t.data = other`` takes ``other``'s memory; the in-place
random fills ``uniform_`` / ``normal_``."""

import numpy as np
import pytest

import minigrad as mg


def test_data_is_a_detached_tensor_sharing_memory():
    x = mg.tensor([1.0, 2.0, 3.0], dtype=mg.float64, requires_grad=True)
    y = x * 2
    for t in (x, y):
        d = t.data
        assert isinstance(d, mg.Tensor) and d is not t
        assert not d.requires_grad and d.is_leaf and d.grad_fn is None
        assert d.shape == t.shape and d.dtype == t.dtype
        assert np.shares_memory(d.numpy(), t.numpy())
    x.data[1] = 7.0  # __setitem__ on the data tensor writes into x's memory
    assert x.numpy().tolist() == [1.0, 7.0, 3.0]


def test_data_has_its_own_version_counter_and_detach_shares():
    x = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    y = x * 1
    y.data.add_(1.0)
    assert y._version == 0  # not seen, as in PyTorch
    y.detach().add_(1.0)
    assert y._version == 1
    d = y.data
    d.mul_(2.0)
    assert d._version == 1 and y._version == 1
    assert y.numpy().tolist() == [6.0, 8.0]


def test_edits_through_data_escape_the_saved_value_check():
    """A value saved for backward edited through ``.data``: backward runs on the new value (as
    in PyTorch: the reason ``.data`` is unsafe); through ``detach()`` it raises."""
    a = mg.tensor([1.0, 2.0], dtype=mg.float64, requires_grad=True)
    b = a * 1
    loss = (b * b).sum()  # saves b
    b.data.mul_(10.0)
    loss.backward()
    np.testing.assert_array_equal(a.grad.numpy(), [20.0, 40.0])  # 2 * (edited b)
    c = a * 1
    loss = (c * c).sum()
    c.detach().mul_(10.0)
    with pytest.raises(RuntimeError, match="in-place"):
        loss.backward()


def test_manual_sgd_step_through_data_outside_no_grad():
    w = mg.tensor([1.0, -2.0], dtype=mg.float64, requires_grad=True)
    (w * w).sum().backward()
    w.data.add_(w.grad, alpha=-0.25)  # word_language_model's update, outside no_grad
    np.testing.assert_array_equal(w.numpy(), [0.5, -1.0])
    assert w.requires_grad and w.is_leaf and w._version == 0
    w.data.copy_(mg.tensor([3.0, 4.0], dtype=mg.float64))
    np.testing.assert_array_equal(w.numpy(), [3.0, 4.0])


def test_data_topk_on_a_graph_output():
    x = mg.tensor([[0.1, 0.7, 0.2]], requires_grad=True)
    out = mg.log_softmax(x, dim=1)
    values, indices = out.data.topk(1)
    assert indices.tolist() == [[1]] and not values.requires_grad


def test_assigning_data_replaces_memory_shape_may_change():
    w = mg.nn.Parameter(mg.zeros(2, 3))
    new = mg.ones(4)
    w.data = new
    assert w.shape == (4,) and np.shares_memory(w.numpy(), new.numpy())
    assert w.requires_grad and isinstance(w, mg.nn.Parameter)
    w.data = mg.zeros(2, dtype=mg.float64)  # a float of another width is allowed
    assert w.dtype == np.float64
    with pytest.raises(TypeError, match="Tensor"):
        w.data = np.zeros(2)
    with pytest.raises(TypeError, match="floats"):
        w.data = mg.tensor([1, 2])
    assert w.dtype == np.float64 and w.shape == (2,)  # nothing changed by the refusals


@pytest.mark.parametrize("name, args", [("uniform_", (-0.5, 0.25)), ("normal_", (3.0, 0.1))])
def test_random_fills_in_place(name, args):
    t = mg.zeros(2000, dtype=mg.float64)
    assert getattr(t, name)(*args) is t and t._version == 1
    vals = t.numpy()
    if name == "uniform_":
        assert vals.min() >= -0.5 and vals.max() < 0.25 and vals.max() > 0.2
    else:
        assert abs(vals.mean() - 3.0) < 0.02 and abs(vals.std() - 0.1) < 0.01
    g1, g2 = np.random.default_rng(5), np.random.default_rng(5)
    a = getattr(mg.zeros(4), name)(*args, generator=g1)
    b = getattr(mg.zeros(4), name)(*args, generator=g2)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_random_fills_follow_the_in_place_rules():
    p = mg.nn.Parameter(mg.zeros(3))
    with pytest.raises(RuntimeError, match="leaf"):
        p.uniform_()
    assert not p.numpy().any() and p._version == 0
    p.data.uniform_(1.0, 2.0)  # through .data: allowed, p's version is not bumped
    assert p.numpy().min() >= 1.0 and p._version == 0
    with mg.no_grad():
        p.normal_()
    assert p._version == 1
    y = p * 1
    y.normal_()  # a non-leaf: recorded, the old value gets a zero gradient
    y.sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [0.0, 0.0, 0.0])
    with pytest.raises(TypeError, match="float"):
        mg.zeros(2, dtype=mg.int64).uniform_()


def test_pytorch_agrees_on_data_semantics():
    torch = pytest.importorskip("torch")
    results = []
    for lib in (mg, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        y = x * 1
        y.data.add_(1.0)
        first = y._version
        y.detach().add_(1.0)
        d = y.data
        facts = (first, y._version, d.requires_grad, d.is_leaf, d.grad_fn is None,
                 y.tolist())
        b = x * 1
        loss = (b * b).sum()
        b.data.mul_(10.0)
        loss.backward()
        w = lib.zeros(2, 3, requires_grad=True)
        w.data = lib.ones(4)
        results.append(facts + (x.grad.tolist(), tuple(w.shape), w.requires_grad))
        with pytest.raises(RuntimeError):
            lib.zeros(3, requires_grad=True).uniform_()
    assert results[0] == results[1]
