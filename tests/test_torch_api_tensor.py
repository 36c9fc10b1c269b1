"""PyTorch's tensor-level API that ported programs use: devices, dtype names, creation with
device=, new_* / clone / t / narrow / div / masked_fill / topk / to, bmm, multinomial,
randint's two forms and inference_mode. Each against PyTorch's documented behaviour (closed
forms here; PyTorch itself when installed)."""

import numpy as np
import pytest

import minigrad as mg


def _leaf(values):
    return mg.tensor(np.asarray(values, dtype=np.float64), dtype=mg.float64, requires_grad=True)


# ---- devices ----------------------------------------------------------------------------------
def test_devices():
    x = mg.ones(2)
    assert x.device == mg.device("cpu") == "cpu" and str(x.device) == "cpu"
    assert mg.device("cuda:1").index == 1 and mg.device("cuda", 0).type == "cuda"
    assert x.cpu() is x and x.to("cpu") is x and x.to(mg.device("cpu")) is x
    assert not mg.cuda.is_available() and mg.cuda.device_count() == 0
    for bad in ("cuda", "cuda:0", mg.device("mps"), 0):
        with pytest.raises(RuntimeError, match="CPU only|CUDA device"):
            x.to(bad)
        with pytest.raises(RuntimeError):
            mg.zeros(2, device=bad)
    with pytest.raises(ValueError, match="expected one of"):
        mg.device("gpu")
    for make in (lambda d: mg.tensor([1.0], device=d), lambda d: mg.zeros(1, device=d),
                 lambda d: mg.ones(1, device=d), lambda d: mg.randn(1, device=d),
                 lambda d: mg.rand(1, device=d), lambda d: mg.arange(3, device=d),
                 lambda d: mg.full((1,), 2.0, device=d), lambda d: mg.eye(2, device=d),
                 lambda d: mg.randint(3, (2,), device=d), lambda d: x.new_zeros(2, device=d),
                 lambda d: mg.zeros_like(x, device=d), lambda d: mg.empty(2, device=d)):
        assert make("cpu").device == "cpu"
        with pytest.raises(RuntimeError, match="CPU only"):
            make("cuda")


def test_to_forms():
    x = _leaf([1.0, 2.0])
    assert x.to(mg.float32).dtype == np.float32
    assert x.to("cpu", mg.float32).dtype == np.float32
    assert x.to(mg.ones(1, dtype=mg.float32)).dtype == np.float32
    assert x.to(dtype=mg.float32, device="cpu").dtype == np.float32
    copy = x.to("cpu", copy=True)
    assert copy is not x and np.array_equal(copy.numpy(), x.numpy())
    assert not np.shares_memory(copy.numpy(), x.numpy())
    (x.to(mg.float32) * 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])
    with pytest.raises(TypeError, match="two dtypes"):
        x.to(mg.float32, mg.float64)
    assert x.type() == "float64" and x.type(mg.float32).dtype == np.float32


def test_dtype_names():
    assert (mg.float, mg.double, mg.long, mg.int, mg.bool) == (
        np.float32, np.float64, np.int64, np.int32, np.bool_)
    assert mg.tensor([1, 2]).type(mg.long).dtype == np.int64
    assert mg.tensor([1.5]).int().dtype == np.int32 and mg.tensor([1]).is_floating_point() is False


# ---- new tensors and copies -------------------------------------------------------------------
def test_new_tensors_take_the_dtype():
    w = mg.ones(2, 3, dtype=mg.float64)
    for t in (w.new_zeros(4, 5), w.new_zeros((4, 5)), w.new_ones(4, 5), w.new_empty(4, 5),
              w.new_full((4, 5), 7.0)):
        assert t.shape == (4, 5) and t.dtype == np.float64 and t.is_leaf
    assert not w.new_zeros(2).numpy().any() and (w.new_full((2,), 7.0).numpy() == 7).all()
    assert w.new_tensor([1, 2]).dtype == np.float64
    assert w.new_zeros(2, dtype=mg.long).dtype == np.int64
    assert w.new_zeros(2, requires_grad=True).requires_grad


def test_clone_copies_and_keeps_the_gradient_path():
    x = _leaf([1.0, -0.0, np.nan])
    c = x.clone()
    assert not np.shares_memory(c.numpy(), x.numpy())
    np.testing.assert_array_equal(c.numpy(), x.numpy())
    assert np.signbit(c.numpy()[1])
    (c * mg.tensor([1.0, 2.0, 0.0], dtype=mg.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 2.0, 0.0])
    plain = mg.tensor([1, 2])
    assert plain.clone().dtype == np.int64 and plain.clone().numpy() is not plain.numpy()


# ---- shape-like methods -----------------------------------------------------------------------
def test_t_narrow_and_the_as_methods():
    a = mg.arange(6).reshape(2, 3)
    assert a.t().tolist() == [[0, 3], [1, 4], [2, 5]]
    assert mg.arange(3).t().tolist() == [0, 1, 2]
    with pytest.raises(ValueError, match="<= 2 dims"):
        mg.zeros(2, 2, 2).t()
    assert a.narrow(1, 1, 2).tolist() == [[1, 2], [4, 5]]
    assert a.narrow(0, -1, 1).tolist() == [[3, 4, 5]]
    with pytest.raises(ValueError, match="exceeds"):
        a.narrow(1, 2, 2)
    assert mg.arange(6).view_as(a).shape == (2, 3)
    assert mg.ones(3).expand_as(a).shape == (2, 3)


def test_div_rounding_modes():
    a, b = mg.tensor([7.0, -7.0, 7.5]), mg.tensor([2.0, 2.0, -2.0])
    assert a.div(b).tolist() == [3.5, -3.5, -3.75]
    assert a.div(b, rounding_mode="trunc").tolist() == [3.0, -3.0, -3.0]
    assert a.div(b, rounding_mode="floor").tolist() == [3.0, -4.0, -4.0]
    ints = mg.tensor([7, -7])
    assert ints.div(2, rounding_mode="floor").tolist() == [3, -4]
    assert ints.div(2, rounding_mode="trunc").tolist() == [3, -3]
    assert ints.div(2, rounding_mode="trunc").dtype == np.int64
    with pytest.raises(ValueError, match="rounding_mode"):
        a.div(b, rounding_mode="round")


def test_masked_fill():
    x = _leaf([[1.0, 2.0], [3.0, 4.0]])
    mask = mg.tensor([True, False])
    y = x.masked_fill(mask, -1.0)
    assert y.tolist() == [[-1.0, 2.0], [-1.0, 4.0]] and y.dtype == np.float64
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 1.0], [0.0, 1.0]])
    ints = mg.tensor([1, 2, 3])
    assert ints.masked_fill(ints > 1, 0).tolist() == [1, 0, 0]
    buf = mg.zeros(3)
    buf.masked_fill_(mg.tensor([False, True, True]), 5.0)
    assert buf.tolist() == [0.0, 5.0, 5.0] and buf._version == 1
    with pytest.raises(TypeError, match="bool mask"):
        x.masked_fill(mg.tensor([1, 0]), 0.0)
    with pytest.raises(ValueError, match="cannot be broadcast"):
        x.masked_fill(mg.tensor([True, False, True]), 0.0)


def test_topk():
    x = _leaf([[3.0, 1.0, 4.0, 1.5], [2.0, 7.0, 1.0, 8.0]])
    values, indices = x.topk(2)
    assert values.tolist() == [[4.0, 3.0], [8.0, 7.0]]
    assert indices.tolist() == [[2, 0], [3, 1]] and indices.dtype == np.int64
    small = x.topk(1, dim=0, largest=False)
    assert small.values.tolist() == [[2.0, 1.0, 1.0, 1.5]] and small.indices.tolist() == [
        [1, 0, 1, 0]]
    (values * mg.tensor([1.0, 10.0], dtype=mg.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[10.0, 0.0, 1.0, 0.0], [0.0, 10.0, 0.0, 1.0]])
    assert mg.tensor([1.0, np.nan, 2.0]).topk(1).indices.tolist() == [1]  # NaN is the largest
    with pytest.raises(ValueError, match="out of range"):
        x.topk(5)


# ---- functions --------------------------------------------------------------------------------
def test_bmm():
    rng = np.random.default_rng(0)
    a, b = _leaf(rng.standard_normal((2, 3, 4))), _leaf(rng.standard_normal((2, 4, 5)))
    np.testing.assert_allclose(mg.bmm(a, b).numpy(), a.numpy() @ b.numpy())
    assert mg.gradcheck(mg.bmm, (a, b))
    with pytest.raises(ValueError, match="3-D"):
        mg.bmm(a[0], b[0])
    with pytest.raises(ValueError, match=r"\(B, n, k\)"):
        mg.bmm(a, b[:1])


def test_randint_forms_and_multinomial():
    mg.manual_seed(0)
    a = mg.randint(5, (2, 3))
    b = mg.randint(2, 5, (1000,))
    assert a.shape == (2, 3) and a.dtype == np.int64
    assert 0 <= a.numpy().min() and a.numpy().max() < 5
    assert b.numpy().min() >= 2 and b.numpy().max() <= 4
    assert set(np.unique(b.numpy())) == {2, 3, 4}
    assert mg.randint(3, size=(2,), dtype=mg.int32).dtype == np.int32
    with pytest.raises(TypeError, match="size"):
        mg.randint(5, 3)
    draws = mg.multinomial(mg.tensor([0.0, 1.0, 3.0]), 4000, replacement=True)
    freq = np.bincount(draws.numpy(), minlength=3) / 4000
    assert freq[0] == 0 and abs(freq[2] - 0.75) < 0.04
    rows = mg.multinomial(mg.tensor([[1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]), 2)
    assert rows.shape == (2, 2)
    assert sorted(rows.tolist()[0]) == [0, 1] and sorted(rows.tolist()[1]) == [1, 2]
    with pytest.raises(ValueError, match="without replacement"):
        mg.multinomial(mg.tensor([1.0, 0.0]), 2)
    with pytest.raises(ValueError, match=">= 0"):
        mg.multinomial(mg.tensor([1.0, -1.0]), 1)


def test_inference_mode():
    x = _leaf([1.0])
    with mg.inference_mode():
        assert not (x * 2).requires_grad
    with mg.inference_mode(False):
        assert (x * 2).requires_grad

    @mg.inference_mode()
    def f(t):
        return t * 2
    assert not f(x).requires_grad


def test_amax_amin_methods():
    x = _leaf([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]])
    assert x.amax(dim=1).tolist() == [3.0, 2.0] and x.amin(dim=0).tolist() == [1.0, 0.0, -1.0]
    x.amax(dim=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]])


def test_full_dtype_follows_the_value():
    assert mg.full((2,), 3).dtype == np.int64
    assert mg.full((2,), 3.0).dtype == np.float32
    assert mg.full((2,), True).dtype == np.bool_


# ---- PyTorch as the oracle --------------------------------------------------------------------
def test_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x0 = rng.standard_normal((3, 5))
    ours, theirs = _leaf(x0), torch.tensor(x0, requires_grad=True)
    outs = []
    for x in (ours, theirs):
        v, i = x.topk(3, dim=1)
        m = x.masked_fill(x > 0.5, 0.25)
        n = x.narrow(1, 1, 3).t()
        d = x.div(0.7, rounding_mode="floor")
        loss = (v * v).sum() + (m * 3).sum() + (n ** 3).sum() + x.clone().sum()
        loss.backward()
        outs.append([np.asarray(v.tolist()), np.asarray(i.tolist()), np.asarray(m.tolist()),
                     np.asarray(n.tolist()), np.asarray(d.tolist()),
                     np.asarray(x.grad.tolist())])
    for a, b in zip(*outs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-13)
    assert torch.randint(5, (2, 3)).shape == mg.randint(5, (2, 3)).shape
    assert str(torch.tensor([1.0]).new_zeros(2, 3).dtype) == "torch.float32"
    assert mg.tensor([1.0]).new_zeros(2, 3).dtype == np.float32


def test_add_and_sub_take_the_deprecated_alpha_first_order():
    """``p.add_(-lr, grad)`` (older tutorials): PyTorch still accepts a number then a tensor,
    with a deprecation warning, as ``p.add_(grad, alpha=-lr)``."""
    grad = mg.tensor([2.0, 4.0], dtype=mg.float64)
    for name in ("add_", "sub_", "add", "sub"):
        x = mg.tensor([1.0, 1.0], dtype=mg.float64)
        with pytest.warns(UserWarning, match="deprecated"):
            got = getattr(x, name)(-0.5, grad)
        want = getattr(mg.tensor([1.0, 1.0], dtype=mg.float64), name)(grad, alpha=-0.5)
        np.testing.assert_array_equal(got.numpy(), want.numpy())
        assert (got is x) == name.endswith("_")
    torch = pytest.importorskip("torch")
    t = torch.ones(2, dtype=torch.float64)
    with pytest.warns(UserWarning, match="deprecated"):
        t.add_(-0.5, torch.tensor([2.0, 4.0], dtype=torch.float64))
    x = mg.ones(2, dtype=mg.float64)
    with pytest.warns(UserWarning):
        x.add_(-0.5, grad)
    np.testing.assert_array_equal(x.numpy(), t.numpy())


def test_default_device_and_generator():
    """``set_default_device`` / ``get_default_device`` (the CPU only) and ``Generator``
    (``Generator(device=...).manual_seed(s)`` chains and repeats, as PyTorch's tutorials use
    it for ``random_split``)."""
    mg.set_default_device("cpu")
    mg.set_default_device(None)
    assert mg.get_default_device() == mg.device("cpu")
    with pytest.raises(RuntimeError, match="CPU only"):
        mg.set_default_device("cuda")
    with pytest.raises(RuntimeError, match="CPU only"):
        mg.Generator(device="cuda")
    g = mg.Generator(device=mg.device("cpu")).manual_seed(7)
    assert g.initial_seed() == 7 and g.device == "cpu"
    first = mg.data.random_split(range(10), [0.8, 0.2], generator=g)
    again = mg.data.random_split(range(10), [0.8, 0.2], generator=mg.Generator().manual_seed(7))
    assert [list(s) for s in first] == [list(s) for s in again]
    assert [len(s) for s in first] == [8, 2]
    mg.manual_seed(3)
    np.testing.assert_array_equal(mg.Generator().manual_seed(3).random(4),
                                  mg.random.default_generator().random(4))
    fresh = mg.Generator()
    assert fresh.seed() == fresh.initial_seed()
    torch = pytest.importorskip("torch")
    tg = torch.Generator(device="cpu").manual_seed(7)
    assert (tg.initial_seed(), str(tg.device)) == (g.initial_seed(), str(g.device))
    assert str(torch.get_default_device()) == str(mg.get_default_device())
