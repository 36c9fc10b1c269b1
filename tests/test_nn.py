"""nn: Module bookkeeping and state dicts, layers, init helpers, losses, gradient clipping."""

import copy
import math

import numpy as np
import pytest

import minigrad as mg
from minigrad import nn
from minigrad.nn import functional as F  # noqa: N812 - PyTorch's name


class _Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2))
        self.embed = nn.Embedding(5, 3, padding_idx=0)
        self.drop = nn.Dropout(0.5)
        self.scale = nn.Parameter(np.ones(1))

    def forward(self, idx):
        return self.encoder(self.drop(self.embed(idx))) * self.scale


NAMES = ["scale", "encoder.0.weight", "encoder.0.bias", "encoder.2.weight", "encoder.2.bias",
         "embed.weight"]


# ---- Module --------------------------------------------------------------------------------------
def test_named_parameters_are_dotted_and_ordered():
    net = _Net()
    assert [n for n, _ in net.named_parameters()] == NAMES
    assert len(list(net.parameters())) == 6
    assert net.num_parameters() == 1 + 12 + 4 + 8 + 2 + 15
    assert [type(c).__name__ for c in net.children()] == ["Sequential", "Embedding", "Dropout"]
    assert [n for n, _ in net.named_modules()][:3] == ["", "encoder", "encoder.0"]
    assert all(isinstance(p, nn.Parameter) and p.requires_grad for p in net.parameters())


def test_shared_parameters_are_listed_once_and_reassignment_replaces():
    net = nn.Module()
    lin = nn.Linear(2, 2)
    net.a, net.b = lin, lin
    assert len(list(net.parameters())) == 2
    net.a = nn.Linear(2, 3)
    assert [n for n, _ in net.named_parameters()] == ["a.weight", "a.bias", "b.weight",
                                                      "b.bias"]
    del net.a
    assert [n for n, _ in net.named_parameters()] == ["b.weight", "b.bias"]


def test_module_needs_super_init():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter([1.0])
    with pytest.raises(RuntimeError, match="super"):
        Bad()


def test_train_eval_reach_every_submodule():
    net = _Net()
    assert net.training and net.drop.training
    net.eval()
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_zero_grad_and_requires_grad():
    net = _Net()
    net(mg.tensor([[1, 2]])).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    net.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in net.parameters())
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())


def test_state_dict_round_trip_with_numpy_or_tensors():
    src, dst = _Net(), _Net()
    sd = src.state_dict()
    assert list(sd) == NAMES and all(isinstance(v, mg.Tensor) for v in sd.values())
    missing, unexpected = dst.load_state_dict({k: v.numpy().copy() for k, v in sd.items()})
    assert missing == [] and unexpected == []
    for k, v in dst.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), sd[k].numpy())
    dst.load_state_dict({k: v * 2 for k, v in sd.items()})  # tensors load too
    np.testing.assert_array_equal(dst.scale.numpy(), 2 * src.scale.numpy())
    assert dst.encoder[0].weight.dtype == np.float32


def test_state_dict_values_are_detached_and_share_memory():
    """PyTorch's state dict: each value is ``p.detach()`` (shared memory and version
    counter, no grad); ``keep_vars=True`` gives the parameters; ``prefix`` and
    ``destination`` fill a given dict."""
    net = _Net()
    sd = net.state_dict()
    v = sd["scale"]
    assert not v.requires_grad and v.is_leaf and v is not net.scale
    assert np.shares_memory(v.numpy(), net.scale.numpy())
    v[0] = 99.0  # an in-place write through the detached value reaches the module ...
    assert net.scale.numpy()[0] == 99.0 and net.scale._version == 1  # ... and its counter
    snapshot = copy.deepcopy(net.state_dict())
    with mg.no_grad():
        net.scale.zero_()
    assert snapshot["scale"].numpy()[0] == 99.0
    kept = net.state_dict(keep_vars=True)
    assert kept["scale"] is net.scale
    into = {"x": 1}
    assert net.state_dict(into, prefix="m.") is into and list(into)[1:] == [
        "m." + k for k in NAMES]


def test_state_dict_values_match_pytorchs_kind():
    torch = pytest.importorskip("torch")
    theirs = torch.nn.Linear(2, 3).state_dict()["weight"]
    ours = mg.nn.Linear(2, 3).state_dict()["weight"]
    assert (theirs.requires_grad, theirs.is_leaf) == (ours.requires_grad, ours.is_leaf)


def _snapshot(module):
    return {k: v.numpy().copy() for k, v in module.state_dict().items()}


def test_load_state_dict_errors_change_nothing():
    net = _Net()
    before = _snapshot(net)
    new = {k: v + 1 for k, v in before.items()}
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        net.load_state_dict({**new, "extra": np.ones(1)})
    missing = dict(new)
    del missing["embed.weight"]
    with pytest.raises(KeyError, match=r"missing keys \['embed.weight'\]"):
        net.load_state_dict(missing)
    bad_shape = dict(new)
    bad_shape["encoder.2.bias"] = np.ones(3)
    with pytest.raises(ValueError, match=r"encoder.2.bias expected shape \(2,\), got \(3,\)"):
        net.load_state_dict(bad_shape)
    bad_type = dict(new)
    bad_type["scale"] = np.array(["x"])
    with pytest.raises(TypeError, match="scale"):
        net.load_state_dict(bad_type)
    for k, v in net.state_dict().items():
        np.testing.assert_array_equal(v, before[k])


def test_load_state_dict_not_strict_reports_keys():
    net = _Net()
    sd = net.state_dict()
    del sd["scale"]
    sd["extra"] = np.zeros(2)
    missing, unexpected = net.load_state_dict(sd, strict=False)
    assert missing == ["scale"] and unexpected == ["extra"]


def test_module_to_dtype_and_repr():
    net = _Net().double()
    assert all(p.dtype == np.float64 for p in net.parameters())
    with pytest.raises(TypeError, match="float32 or float64"):
        net.to(np.float16)
    assert all(p.dtype == np.float64 for p in net.parameters())
    text = repr(net)
    assert "(encoder): Sequential" in text and "Linear(in_features=3, out_features=4" in text
    assert "Embedding(5, 3, padding_idx=0)" in text and "Dropout(p=0.5)" in text


# ---- layers --------------------------------------------------------------------------------------
def test_linear_matches_x_wt_plus_b_and_pytorch_init_bounds():
    mg.manual_seed(0)
    lin = nn.Linear(16, 5)
    bound = 1 / math.sqrt(16)
    assert np.abs(lin.weight.numpy()).max() <= bound and np.abs(lin.bias.numpy()).max() <= bound
    x = mg.randn(2, 7, 16)
    np.testing.assert_allclose(lin(x).numpy(), x.numpy() @ lin.weight.numpy().T + lin.bias.numpy(),
                               rtol=1e-5, atol=1e-6)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]
    with pytest.raises(ValueError, match=r"Linear: expected input \(\*, 16\), got \(2, 3\)"):
        lin(mg.ones(2, 3))


def test_linear_gradients_are_exact():
    lin = nn.Linear(3, 2, dtype=mg.float64)
    x = mg.tensor(np.random.default_rng(0).standard_normal((4, 3)), requires_grad=True)
    mg.gradgradcheck(lambda t, w, b: F.linear(t, w, b).tanh(), (x, lin.weight, lin.bias))


def test_embedding_layer_padding_row_starts_at_zero_and_gets_no_gradient():
    emb = nn.Embedding(4, 3, padding_idx=-1)
    assert emb.padding_idx == 3 and not emb.weight.numpy()[3].any()
    out = emb(mg.tensor([[3, 1], [1, 3]]))
    assert out.shape == (2, 2, 3)
    out.sum().backward()
    np.testing.assert_array_equal(emb.weight.grad.numpy()[3], 0.0)
    np.testing.assert_array_equal(emb.weight.grad.numpy()[1], 2.0)
    with pytest.raises(ValueError, match="padding_idx 4"):
        nn.Embedding(4, 3, padding_idx=4)


def test_dropout_scales_keeps_expectation_and_is_identity_in_eval():
    mg.manual_seed(1)
    x = mg.ones(200, 100, requires_grad=True)
    drop = nn.Dropout(0.3)
    y = drop(x)
    kept = y.numpy() != 0
    np.testing.assert_allclose(y.numpy()[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02 and abs(y.numpy().mean() - 1.0) < 0.03
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), np.where(kept, 1 / 0.7, 0.0), rtol=1e-6)
    drop.eval()
    assert drop(x) is x
    assert F.dropout(x, 0.0) is x and not F.dropout(x, 1.0).numpy().any()
    with pytest.raises(ValueError, match="p must be in"):
        nn.Dropout(1.5)


def test_sequential_and_activation_modules():
    seq = nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.LeakyReLU(0.2), nn.Sigmoid(), nn.Tanh())
    assert len(seq) == 5 and isinstance(seq[1], nn.ReLU)
    assert seq(mg.ones(3, 2)).shape == (3, 2)
    ml = nn.ModuleList([nn.Linear(1, 1), nn.Linear(1, 1)])
    assert len(ml) == 2 and len(list(ml.parameters())) == 4 and len(list(iter(ml))) == 2
    with pytest.raises(TypeError, match="Sequential: item 0"):
        nn.Sequential(lambda x: x)


# ---- init ----------------------------------------------------------------------------------------
def test_init_helpers():
    mg.manual_seed(2)
    w = nn.Parameter(np.zeros((64, 32)))
    nn.init.uniform_(w, -0.1, 0.2)
    assert w.numpy().min() >= -0.1 and w.numpy().max() < 0.2
    nn.init.xavier_uniform_(w, gain=2.0)
    a = 2.0 * math.sqrt(6.0 / (64 + 32))
    assert np.abs(w.numpy()).max() <= a and np.abs(w.numpy()).max() > 0.9 * a
    nn.init.eye_(w)
    np.testing.assert_array_equal(w.numpy(), np.eye(64, 32))
    sq = nn.Parameter(np.zeros((2, 2)))
    nn.init.eye_(sq, gain=0.5)
    np.testing.assert_array_equal(sq.numpy(), 0.5 * np.eye(2))
    with pytest.raises(ValueError, match="2-D"):
        nn.init.eye_(nn.Parameter(np.zeros(3)))
    with pytest.raises(ValueError, match="at least 2 dims"):
        nn.init.xavier_uniform_(nn.Parameter(np.zeros(3)))


@pytest.mark.parametrize("shape", [(8, 8), (10, 4), (4, 10), (6, 2, 3)])
def test_orthogonal_init_gives_orthonormal_rows_or_columns(shape):
    w = nn.Parameter(np.zeros(shape, dtype=np.float64))
    nn.init.orthogonal_(w, gain=1.5)
    m = w.numpy().reshape(shape[0], -1) / 1.5
    if m.shape[0] >= m.shape[1]:
        np.testing.assert_allclose(m.T @ m, np.eye(m.shape[1]), atol=1e-12)
    else:
        np.testing.assert_allclose(m @ m.T, np.eye(m.shape[0]), atol=1e-12)


# ---- losses --------------------------------------------------------------------------------------
def _ce_reference(logits, target, ignore_index=-100):
    """Numpy cross-entropy, logits (N, C, *d), target (N, *d): mean over non-ignored."""
    moved = np.moveaxis(logits, 1, -1)
    logp = moved - np.log(np.exp(moved).sum(-1, keepdims=True))
    keep = target != ignore_index
    picked = np.take_along_axis(logp, np.where(keep, target, 0)[..., None], -1)[..., 0]
    losses = np.where(keep, -picked, 0.0)
    return losses, losses.sum() / keep.sum()


@pytest.mark.parametrize("shape", [(5, 4), (3, 4, 2), (2, 3, 2, 2)])
def test_cross_entropy_matches_numpy_with_ignore_index(rng, shape):
    logits = rng.standard_normal(shape)
    target = rng.integers(0, shape[1], (shape[0],) + shape[2:])
    target.reshape(-1)[::3] = -1
    x = mg.tensor(logits, requires_grad=True)
    losses, mean = _ce_reference(logits, target, ignore_index=-1)
    np.testing.assert_allclose(F.cross_entropy(x, target, ignore_index=-1).item(), mean)
    np.testing.assert_allclose(F.cross_entropy(x, mg.tensor(target), ignore_index=-1,
                                               reduction="none").numpy(), losses, atol=1e-15)
    np.testing.assert_allclose(F.cross_entropy(x, target, ignore_index=-1, reduction="sum").item(),
                               losses.sum())
    mg.gradcheck(lambda t: F.cross_entropy(t, target, ignore_index=-1), (x,))
    F.cross_entropy(x, target, ignore_index=-1).backward()
    ignored = np.moveaxis(x.grad.numpy(), 1, -1)[target == -1]
    assert not ignored.any()


def test_cross_entropy_all_ignored_is_nan_and_bad_targets_raise():
    x = mg.zeros(2, 3)
    assert np.isnan(F.cross_entropy(x, [-100, -100]).item())
    with pytest.raises(IndexError, match=r"\[0, 3\)"):
        F.cross_entropy(x, [0, 3])
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(x, [0.0, 1.0])
    with pytest.raises(ValueError, match=r"target of shape \(2,\), got \(3,\)"):
        F.cross_entropy(x, [0, 1, 2])
    with pytest.raises(ValueError, match=r"\(N, C\)"):
        F.cross_entropy(mg.zeros(()), 0)
    with pytest.raises(ValueError, match=r"input \(3,\) needs target of shape \(\), got"):
        F.cross_entropy(mg.zeros(3), [0])  # one sample (C,) takes a 0-d target, as in PyTorch
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, [0, 1], reduction="avg")


def test_mse_and_bce_with_logits(rng):
    a, b = rng.standard_normal((3, 4)), rng.random((3, 4))
    x = mg.tensor(a, requires_grad=True)
    np.testing.assert_allclose(F.mse_loss(x, b).item(), ((a - b) ** 2).mean())
    np.testing.assert_allclose(F.mse_loss(x, mg.tensor(b), reduction="sum").item(),
                               ((a - b) ** 2).sum())
    s = 1 / (1 + np.exp(-a))
    bce = -(b * np.log(s) + (1 - b) * np.log(1 - s))
    np.testing.assert_allclose(F.binary_cross_entropy_with_logits(x, b).item(), bce.mean())
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(x, b, reduction="none").numpy(), bce, rtol=1e-12)
    big = mg.tensor([1000.0, -1000.0])
    np.testing.assert_allclose(
        F.binary_cross_entropy_with_logits(big, [0.0, 1.0], reduction="none").numpy(),
        [1000.0, 1000.0])
    mg.gradgradcheck(lambda t: F.mse_loss(t, b) + F.binary_cross_entropy_with_logits(t, b),
                     (x,))
    with pytest.raises(ValueError, match=r"mse_loss: input shape \(3, 4\) and target shape"):
        F.mse_loss(x, np.ones(3))


# ---- clipping ------------------------------------------------------------------------------------
def _params_with_grads(grads):
    ps = []
    for g in grads:
        p = nn.Parameter(np.zeros(np.shape(g)))
        p.grad = mg.tensor(np.array(g, dtype=p.dtype))
        ps.append(p)
    return ps


def test_clip_grad_norm_scales_to_max_norm_and_returns_the_total_norm():
    ps = _params_with_grads([[3.0, 0.0], [[0.0, 4.0]]])
    total = nn.utils.clip_grad_norm_(ps, 1.0)
    assert isinstance(total, mg.Tensor) and total.shape == () and total.dtype == ps[0].dtype
    assert total.item() == pytest.approx(5.0) and float(total) == total.item()
    np.testing.assert_allclose(ps[0].grad.numpy(), [3 / 5, 0.0], rtol=1e-5)
    np.testing.assert_allclose(ps[1].grad.numpy(), [[0.0, 4 / 5]], rtol=1e-5)
    ps = _params_with_grads([[0.3, 0.4]])
    assert nn.utils.clip_grad_norm_(ps, 1.0).item() == pytest.approx(0.5)
    np.testing.assert_array_equal(ps[0].grad.numpy(), [0.3, 0.4])  # under the threshold: kept


def test_clip_grad_norm_inf_norm_and_edge_cases():
    ps = _params_with_grads([[1.0, -6.0], [2.0]])
    assert float(nn.utils.clip_grad_norm_(ps, 3.0, norm_type=math.inf)) == pytest.approx(6.0)
    np.testing.assert_allclose(ps[0].grad.numpy(), [0.5, -3.0], rtol=1e-5)
    none = nn.utils.clip_grad_norm_([nn.Parameter([1.0])], 1.0)  # no grads: PyTorch's 0-d 0
    assert none.shape == () and none.item() == 0.0 and none.dtype == mg.get_default_dtype()
    bad = _params_with_grads([[np.inf, 1.0]])
    with pytest.raises(RuntimeError, match="inf"):
        nn.utils.clip_grad_norm_(bad, 1.0, error_if_nonfinite=True)
    np.testing.assert_array_equal(bad[0].grad.numpy(), [np.inf, 1.0])
    with pytest.raises(ValueError, match="max_norm"):
        nn.utils.clip_grad_norm_(ps, -1.0)


def test_clip_grad_value():
    ps = _params_with_grads([[-3.0, 0.5, 2.0]])
    nn.utils.clip_grad_value_(ps[0], 1.0)
    np.testing.assert_array_equal(ps[0].grad.numpy(), [-1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="clip_value"):
        nn.utils.clip_grad_value_(ps, -1.0)
