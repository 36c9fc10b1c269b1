"""Module.to / cpu / cuda / register_buffer / apply, nn.init's kaiming and calculate_gain,
LayerNorm, the loss modules and Softmax / LogSoftmax: their documented behaviour (PyTorch's),
torch-free, and against PyTorch when it is installed."""

import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn


class WithBuffer(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(3, 2)
        self.register_buffer("running", mg.zeros(2))
        self.register_buffer("scratch", mg.ones(2), persistent=False)
        self.register_buffer("steps", mg.tensor([0]))

    def forward(self, x):
        return self.linear(x) + self.running


# ---- Module ----------------------------------------------------------------------------------
def test_module_to_takes_pytorchs_forms():
    model = WithBuffer()
    assert model.to("cpu") is model and model.to(mg.device("cpu")) is model
    assert model.cpu() is model and model.to(device="cpu:0") is model
    assert model.to(mg.float64) is model
    assert model.linear.weight.dtype == np.float64 and model.running.dtype == np.float64
    assert model.steps.dtype == np.int64  # integer buffers keep their dtype, as in PyTorch
    model.to("cpu", mg.float32)
    assert model.linear.weight.dtype == np.float32
    model.to(mg.zeros(1, dtype=mg.float64))  # to(tensor): its dtype
    assert model.linear.bias.dtype == np.float64
    model.to(dtype=mg.float32, non_blocking=True)
    assert model.running.dtype == np.float32


@pytest.mark.parametrize("where", ["cuda", "cuda:0", "mps", 0])
def test_module_to_another_device_raises_and_changes_nothing(where):
    model = WithBuffer()
    with pytest.raises(RuntimeError, match="CPU only"):
        model.to(where, mg.float64)
    assert model.linear.weight.dtype == np.float32
    with pytest.raises(RuntimeError, match="CPU only"):
        model.cuda()


def test_module_to_refuses_what_is_not_a_device_or_dtype():
    with pytest.raises(TypeError, match="expected a device, a dtype or a tensor"):
        WithBuffer().to(object())
    with pytest.raises(TypeError, match="float32 or float64"):
        WithBuffer().to(mg.int64)
    with pytest.raises(TypeError, match="unexpected keyword"):
        WithBuffer().to(devise="cpu")


def test_buffers_are_state_but_not_parameters():
    model = WithBuffer()
    assert [n for n, _ in model.named_parameters()] == ["linear.weight", "linear.bias"]
    assert [n for n, _ in model.named_buffers()] == ["running", "scratch", "steps"]
    state = model.state_dict()
    assert list(state) == ["running", "steps", "linear.weight", "linear.bias"]  # own first
    model.running = mg.full((2,), 5.0)  # re-assigning a buffer name updates the buffer
    assert model.state_dict()["running"].tolist() == [5.0, 5.0]
    assert model(mg.zeros(1, 3)).shape == (1, 2)
    with pytest.raises(TypeError, match="buffer 'running'"):
        model.running = [1.0, 2.0]
    assert model.running.tolist() == [5.0, 5.0]
    del model.scratch
    assert [n for n, _ in model.named_buffers()] == ["running", "steps"]


def test_a_state_dict_with_buffers_loads_back():
    model = WithBuffer()
    model.running = mg.full((2,), 3.0)
    model.steps = mg.tensor([7])
    fresh = WithBuffer()
    version = fresh.running._version
    fresh.load_state_dict(model.state_dict())
    assert fresh.running.tolist() == [3.0, 3.0] and fresh.steps.tolist() == [7]
    assert fresh.running._version == version + 1
    assert fresh.scratch.tolist() == [1.0, 1.0]  # not persistent: neither saved nor loaded
    state = model.state_dict()
    del state["running"]
    with pytest.raises(KeyError, match=r"missing keys \['running'\]"):
        fresh.load_state_dict(state)
    assert fresh.load_state_dict(state, strict=False) == (["running"], [])


def test_register_buffer_checks_its_arguments():
    model = WithBuffer()
    with pytest.raises(TypeError, match="expected a Tensor or None"):
        model.register_buffer("x", np.zeros(2))
    with pytest.raises(KeyError, match="already exists"):
        model.register_buffer("linear", mg.zeros(1))
    with pytest.raises(KeyError, match="without '.'"):
        model.register_buffer("a.b", mg.zeros(1))
    model.register_buffer("empty", None)
    assert "empty" not in dict(model.named_buffers())


def test_apply_visits_children_first_then_self():
    model = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.Tanh(), nn.Linear(2, 1)))
    seen = []
    assert model.apply(lambda m: seen.append(type(m).__name__)) is model
    assert seen == ["Linear", "Tanh", "Linear", "Sequential", "Sequential"]

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)
    model.apply(init_weights)
    assert all(not p.numpy().any() for n, p in model.named_parameters() if "weight" in n)
    with pytest.raises(TypeError, match="callable"):
        model.apply(3)


def test_named_parameters_can_list_tied_names():
    model = nn.Module()
    model.a = nn.Linear(2, 2)
    model.b = nn.Linear(2, 2)
    model.b.weight = model.a.weight
    assert [n for n, _ in model.named_parameters()] == ["a.weight", "a.bias", "b.bias"]
    assert [n for n, _ in model.named_parameters(remove_duplicate=False)] == [
        "a.weight", "a.bias", "b.weight", "b.bias"]


def test_buffers_and_apply_like_pytorch():
    torch = pytest.importorskip("torch")

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(3, 2)
            self.register_buffer("running", torch.zeros(2))
            self.register_buffer("scratch", torch.ones(2), persistent=False)
            self.register_buffer("steps", torch.tensor([0]))

    theirs, ours = Theirs(), WithBuffer()
    assert list(theirs.state_dict()) == list(ours.state_dict())
    assert [n for n, _ in theirs.named_buffers()] == [n for n, _ in ours.named_buffers()]
    theirs.double()
    ours.double()
    assert [str(b.dtype).split(".")[-1] for b in theirs.buffers()] == [
        str(b.dtype) for b in ours.buffers()]
    seen_theirs, seen_ours = [], []
    nest = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Sequential(torch.nn.Tanh()))
    nest.apply(lambda m: seen_theirs.append(type(m).__name__))
    nn.Sequential(nn.Linear(1, 1), nn.Sequential(nn.Tanh())).apply(
        lambda m: seen_ours.append(type(m).__name__))
    assert seen_ours == seen_theirs


# ---- init ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, param, expected", [
    ("linear", None, 1), ("conv2d", None, 1), ("sigmoid", None, 1), ("tanh", None, 5 / 3),
    ("relu", None, math.sqrt(2)), ("leaky_relu", None, math.sqrt(2 / (1 + 0.01 ** 2))),
    ("leaky_relu", 0.2, math.sqrt(2 / 1.04)), ("selu", None, 0.75)])
def test_calculate_gain(name, param, expected):
    assert nn.init.calculate_gain(name, param) == pytest.approx(expected)


def test_calculate_gain_refuses_unknown_names_and_bad_slopes():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        nn.init.calculate_gain("swish")
    with pytest.raises(ValueError, match="negative_slope"):
        nn.init.calculate_gain("leaky_relu", True)


@pytest.mark.parametrize("mode", ["fan_in", "fan_out"])
def test_kaiming_normal_and_uniform_have_pytorchs_spread(mode):
    mg.manual_seed(0)
    w = mg.empty(400, 300, dtype=mg.float64)
    fan = 300 if mode == "fan_in" else 400
    nn.init.kaiming_normal_(w, mode=mode, nonlinearity="relu")
    assert w.numpy().std() == pytest.approx(math.sqrt(2 / fan), rel=0.02)
    assert abs(w.numpy().mean()) < 0.01 * math.sqrt(2 / fan) * 10
    nn.init.kaiming_uniform_(w, a=0, mode=mode)  # leaky_relu slope 0: gain sqrt(2)
    bound = math.sqrt(2) * math.sqrt(3 / fan)
    assert w.numpy().max() <= bound and w.numpy().min() >= -bound
    assert w.numpy().max() > 0.99 * bound
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'"):
        nn.init.kaiming_normal_(w, mode="fan_avg")
    with pytest.raises(ValueError, match="at least 2 dims"):
        nn.init.kaiming_normal_(mg.empty(3))


def test_trunc_normal_stays_in_its_bounds():
    mg.manual_seed(0)
    w = nn.init.trunc_normal_(mg.empty(200, 50), mean=0.5, std=1.0, a=0.0, b=1.5)
    assert w.numpy().min() >= 0.0 and w.numpy().max() <= 1.5
    pdf = [math.exp(-z * z / 2) / math.sqrt(2 * math.pi) for z in (-0.5, 1.0)]
    cdf = [(1 + math.erf(z / math.sqrt(2))) / 2 for z in (-0.5, 1.0)]
    expected = 0.5 + (pdf[0] - pdf[1]) / (cdf[1] - cdf[0])  # the truncated normal's mean
    assert w.numpy().mean() == pytest.approx(expected, abs=0.02)
    with pytest.raises(ValueError, match="a < b"):
        nn.init.trunc_normal_(w, a=1.0, b=0.0)


def test_init_against_pytorch():
    torch = pytest.importorskip("torch")
    for name, param in [("tanh", None), ("leaky_relu", 0.3), ("relu", None), ("selu", None)]:
        assert nn.init.calculate_gain(name, param) == pytest.approx(
            torch.nn.init.calculate_gain(name, param))
    with pytest.raises(ValueError):
        torch.nn.init.calculate_gain("swish")


# ---- LayerNorm -------------------------------------------------------------------------------
def test_layer_norm_normalises_the_last_dims():
    x = mg.tensor(np.arange(24.0).reshape(2, 3, 4), dtype=mg.float64)
    y = nn.layer_norm(x, (3, 4))
    rows = y.numpy().reshape(2, 12)
    np.testing.assert_allclose(rows.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(rows.var(axis=1), 1, rtol=1e-4)  # eps = 1e-5
    ln = nn.LayerNorm(4)
    assert ln.weight.tolist() == [1.0] * 4 and ln.bias.tolist() == [0.0] * 4
    assert ln(mg.randn(5, 4)).shape == (5, 4)
    assert nn.LayerNorm(4, elementwise_affine=False).weight is None
    assert nn.LayerNorm(4, bias=False).bias is None
    assert [n for n, _ in nn.LayerNorm((2, 3)).named_parameters()] == ["weight", "bias"]


def test_layer_norm_gradients_check():
    mg.manual_seed(0)
    x = mg.randn(3, 5, dtype=mg.float64, requires_grad=True)
    w = mg.randn(5, dtype=mg.float64, requires_grad=True)
    b = mg.randn(5, dtype=mg.float64, requires_grad=True)
    assert mg.gradcheck(lambda x, w, b: nn.layer_norm(x, 5, w, b), (x, w, b))


def test_layer_norm_refuses_wrong_shapes():
    with pytest.raises(ValueError, match=r"expected input of shape \(\*, 4\), got \(2, 3\)"):
        nn.LayerNorm(4)(mg.zeros(2, 3))
    with pytest.raises(ValueError, match="weight expected shape"):
        nn.layer_norm(mg.zeros(2, 3), 3, weight=mg.ones(2))
    with pytest.raises(ValueError, match="positive sizes"):
        nn.LayerNorm(0)
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.LayerNorm(3, device="cuda")


def test_layer_norm_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    x, w, b = rng.normal(size=(4, 3, 6)), rng.normal(size=(3, 6)), rng.normal(size=(3, 6))
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    mx, mw, mb = (mg.tensor(a, requires_grad=True) for a in (x, w, b))
    expected = torch.nn.functional.layer_norm(tx, (3, 6), tw, tb, eps=1e-3)
    got = nn.layer_norm(mx, (3, 6), mw, mb, eps=1e-3)
    np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=1e-10, atol=1e-12)
    g = rng.normal(size=x.shape)
    expected.backward(torch.tensor(g))
    got.backward(mg.tensor(g))
    for ours, theirs in ((mx, tx), (mw, tw), (mb, tb)):
        np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-9, atol=1e-12)


# ---- loss modules and softmax modules --------------------------------------------------------
def test_loss_modules_call_their_functions():
    mg.manual_seed(0)
    logits = mg.randn(4, 5)
    target = mg.tensor([0, 4, 2, -100])
    logp = mg.log_softmax(logits, dim=1)
    assert nn.NLLLoss()(logp, target).item() == pytest.approx(
        nn.functional.nll_loss(logp, target).item())
    assert nn.CrossEntropyLoss(reduction="sum")(logits, target).item() == pytest.approx(
        -logp.numpy()[[0, 1, 2], [0, 4, 2]].sum(), rel=1e-6)
    assert nn.NLLLoss(reduction="none")(logp, target).shape == (4,)
    assert nn.MSELoss()(mg.ones(3), mg.zeros(3)).item() == 1.0
    assert nn.BCEWithLogitsLoss()(mg.zeros(2), mg.ones(2)).item() == pytest.approx(math.log(2))


def test_loss_modules_refuse_what_they_do_not_support():
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.NLLLoss(reduction="avg")
    with pytest.raises(TypeError, match="CrossEntropyLoss: weight must be a Tensor"):
        nn.CrossEntropyLoss(weight=[1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"label_smoothing must be in \[0, 1\]"):
        nn.CrossEntropyLoss(label_smoothing=1.5)
    with pytest.raises(ValueError, match="BCEWithLogitsLoss: weight is not supported"):
        nn.BCEWithLogitsLoss(weight=mg.ones(3))
    with pytest.raises(ValueError, match=r"nll_loss: weight must have shape \(3,\)"):
        nn.NLLLoss(weight=mg.ones(4))(mg.zeros(2, 3), mg.tensor([0, 1]))
    with pytest.raises(TypeError, match="integer class targets"):
        nn.NLLLoss()(mg.zeros(2, 3), mg.tensor([0.0, 1.0]))
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        nn.CrossEntropyLoss()(mg.zeros(2, 3), mg.tensor([0, 3]))


def test_softmax_modules():
    x = mg.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy().sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(nn.LogSoftmax(dim=-1)(x).numpy(), mg.log_softmax(x, 1).numpy())
    with pytest.warns(UserWarning, match="implicit dimension"):
        y = nn.LogSoftmax()(x)  # 2-D: PyTorch's legacy choice is dim 1
    np.testing.assert_allclose(y.numpy(), mg.log_softmax(x, 1).numpy())
    with pytest.raises(TypeError, match="dim expected an int"):
        nn.Softmax(dim=1.0)


def test_loss_modules_against_pytorch():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    x = rng.normal(size=(6, 4))
    t = np.array([0, 3, 1, -100, 2, 3])
    for reduction in ("mean", "sum", "none"):
        theirs = torch.nn.CrossEntropyLoss(reduction=reduction)(torch.tensor(x),
                                                                torch.tensor(t))
        ours = nn.CrossEntropyLoss(reduction=reduction)(mg.tensor(x), mg.tensor(t))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10)
        logp = torch.log_softmax(torch.tensor(x), 1)
        theirs = torch.nn.NLLLoss(reduction=reduction)(logp, torch.tensor(t))
        ours = nn.NLLLoss(reduction=reduction)(mg.tensor(logp.numpy()), mg.tensor(t))
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=1e-10)
    np.testing.assert_allclose(nn.LogSoftmax(0)(mg.tensor(x)).numpy(),
                               torch.nn.LogSoftmax(0)(torch.tensor(x)).numpy(), rtol=1e-10)
    np.testing.assert_allclose(nn.Softmax(1)(mg.tensor(x)).numpy(),
                               torch.nn.Softmax(1)(torch.tensor(x)).numpy(), rtol=1e-10)
