"""models.torch: PyTorch's module layout over minigrad and models (the "Coming from PyTorch"
rewrite). What a PyTorch program reaches for at the top level, nn.functional's signatures,
devices, and save / load of whole models under PyTorch's weights_only rule."""

import io
import pickle
import subprocess
import sys

import numpy as np
import pytest

import minigrad as mg
import models
import models.torch as torch
import models.torch.nn as nn
import models.torch.nn.functional as F  # noqa: N812 - PyTorch's name
from models.torch import optim


def test_the_four_import_forms_bind_the_namespace():
    assert torch.nn is nn and nn.functional is F and torch.optim is optim
    assert optim.lr_scheduler.StepLR is mg.optim.lr_scheduler.StepLR
    from models.torch.nn.utils.rnn import pack_padded_sequence
    assert nn.utils.rnn.pack_padded_sequence is pack_padded_sequence


def test_everything_public_in_minigrad_is_there():
    for name in ("tensor", "zeros", "Tensor", "no_grad", "inference_mode", "manual_seed",
                 "cat", "stack", "bmm", "multinomial", "randint", "long", "float", "int64"):
        assert getattr(torch, name) is getattr(mg, name), name
    assert torch.device is mg.device and torch.nn.Module is mg.nn.Module


def test_nothing_but_the_cpu():
    assert torch.cuda.is_available() is False and torch.cuda.device_count() == 0
    assert torch.backends.mps.is_available() is False
    assert torch.backends.cudnn.is_available() is False
    assert torch.accelerator.is_available() is False
    assert torch.accelerator.current_accelerator() is None
    torch.cuda.manual_seed_all(0)  # allowed, does nothing (as in PyTorch without CUDA)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert str(device) == "cpu" and torch.zeros(2, device=device).device == device
    with pytest.raises(RuntimeError, match="CPU only"):
        torch.zeros(2, device="cuda")
    with pytest.raises(RuntimeError, match="CPU only"):
        nn.Linear(2, 2).to(torch.device("mps"))


def test_the_recurrent_layers_and_their_paths():
    assert issubclass(nn.LSTM, models.LSTM) and issubclass(nn.GRU, models.GRU)
    assert issubclass(nn.RNN, models.RNN) and nn.LSTMCell is models.LSTMCell
    assert nn.modules.rnn.GRU is nn.GRU and nn.modules.sparse.Embedding is nn.Embedding
    assert nn.modules.linear.NonDynamicallyQuantizableLinear is nn.Linear
    assert nn.modules.activation.MultiheadAttention is models.MultiheadAttention
    assert nn.modules.normalization.LayerNorm is nn.LayerNorm
    rnn = nn.RNN(3, 4, 2, nonlinearity="relu", dropout=0.0)
    assert rnn.nonlinearity == "relu" and rnn.num_layers == 2


def test_transformer_and_onnx_say_they_are_not_there():
    class Model(nn.Transformer):  # defining a subclass works; making one raises
        pass
    with pytest.raises(NotImplementedError, match="nn.Transformer: the Transformer layers"):
        Model(d_model=4)
    with pytest.raises(NotImplementedError, match="no ONNX exporter"):
        torch.onnx.export(nn.Linear(2, 2), (torch.zeros(1, 2),), "m.onnx")


def test_legacy_typed_constructors():
    t = torch.LongTensor([1, 2, 3])
    assert t.dtype == np.int64 and t.tolist() == [1, 2, 3]
    assert torch.LongTensor(2, 3).shape == (2, 3)
    assert torch.FloatTensor([1, 2]).dtype == np.float32
    assert torch.DoubleTensor(torch.tensor([1.0])).dtype == np.float64
    with pytest.raises(TypeError, match="LongTensor: expected data"):
        torch.LongTensor([1], [2])


# ---- nn.functional ---------------------------------------------------------------------------
def test_functional_signatures():
    x = torch.tensor([[1.0, 2.0], [3.0, 5.0]])
    np.testing.assert_allclose(F.softmax(x, dim=0).numpy().sum(axis=0), 1, rtol=1e-6)
    np.testing.assert_allclose(F.log_softmax(x).numpy(), mg.log_softmax(x, 1).numpy())  # legacy 2-D
    assert F.log_softmax(x, dim=1, dtype=torch.float64).dtype == np.float64
    assert F.dropout(x, p=0.5, training=False, inplace=True) is x
    assert F.relu(x - 3, inplace=True).tolist() == [[0, 0], [0, 2]]
    weight = torch.randn(5, 3)
    assert F.embedding(torch.tensor([[4, 0]]), weight).shape == (1, 2, 3)
    assert F.layer_norm(torch.randn(2, 3), (3,)).shape == (2, 3)
    onehot = F.one_hot(torch.tensor([2, 0, 1]))
    assert onehot.dtype == np.int64 and onehot.tolist() == [[0, 0, 1], [1, 0, 0], [0, 1, 0]]
    assert F.one_hot(torch.tensor([[1]]), num_classes=4).shape == (1, 1, 4)
    with pytest.raises(ValueError, match="must be < num_classes 2"):
        F.one_hot(torch.tensor([2]), 2)
    with pytest.raises(TypeError, match="integer tensor"):
        F.one_hot(torch.tensor([1.0]))


def test_functional_against_pytorch():
    pt = pytest.importorskip("torch")
    x = np.random.default_rng(0).normal(size=(2, 3, 4))
    for dim in (None, 0, 2):
        kwargs = {} if dim is None else {"dim": dim}
        with pytest.warns(UserWarning) if dim is None else _nothing():
            theirs = pt.nn.functional.softmax(pt.tensor(x), **kwargs).numpy()
        np.testing.assert_allclose(F.softmax(torch.tensor(x), **kwargs).numpy(), theirs,
                                   rtol=1e-12)
    idx = np.array([[3, 1], [0, 2]])
    assert F.one_hot(torch.tensor(idx)).tolist() == pt.nn.functional.one_hot(
        pt.tensor(idx)).tolist()


class _nothing:  # noqa: N801
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


# ---- save / load -----------------------------------------------------------------------------
class TiedLM(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Embedding(7, 4)
        self.rnn = nn.GRU(4, 4)
        self.decoder = nn.Linear(4, 7)
        self.decoder.weight = self.encoder.weight
        self.notes = {"vocab": ["a", "b"], "size": 4}

    def forward(self, tokens):
        out, _ = self.rnn(self.encoder(tokens))
        return self.decoder(out)


ALLOWED = [TiedLM, nn.Embedding, nn.GRU, nn.Linear]


def test_a_whole_model_loads_only_when_its_class_is_allowed(tmp_path):
    """``torch.save(model, f)`` then ``torch.load(f)``: PyTorch's weights_only=True default
    refuses a class nobody allowed (an UnpicklingError naming it); ``safe_globals`` allows it."""
    mg.manual_seed(0)
    model = TiedLM()
    path = tmp_path / "model.pt"
    with open(path, "wb") as f:
        torch.save(model, f)
    with pytest.raises(pickle.UnpicklingError, match=r"TiedLM.*safe_globals"):
        torch.load(path)
    with open(path, "rb") as f, torch.serialization.safe_globals(ALLOWED):
        whole = torch.load(f, map_location=torch.device("cpu"))
    assert type(whole) is TiedLM and whole.decoder.weight is whole.encoder.weight
    tokens = torch.tensor([[1, 2], [3, 4]])
    np.testing.assert_array_equal(whole(tokens).numpy(), model(tokens).numpy())
    assert type(torch.load(path, weights_only=False)) is TiedLM
    for obj in (mg.optim.SGD(TiedLM().parameters(), lr=0.1), {"f": print}):
        with pytest.raises(TypeError, match=r"never pickles.*state_dict\(\)"):
            torch.save(obj, tmp_path / "other.pt")
        assert not (tmp_path / "other.pt").exists()  # refused before anything is written
    with pytest.raises(TypeError, match="never pickles"):
        torch.save({}, path, pickle_module=pickle)


def test_the_state_dict_way_round_trips_tied_weights(tmp_path):
    mg.manual_seed(0)
    model = TiedLM()
    tokens = torch.tensor([[1, 2], [3, 4]])
    path = tmp_path / "model.pt"
    with open(path, "wb") as f:
        torch.save(model.state_dict(), f)
    fresh = TiedLM()
    with open(path, "rb") as f, torch.serialization.safe_globals(ALLOWED):
        fresh.load_state_dict(torch.load(f, map_location=torch.device("cpu")))
    assert fresh.decoder.weight is fresh.encoder.weight  # still tied
    np.testing.assert_array_equal(fresh(tokens).numpy(), model(tokens).numpy())


def test_safe_globals_allow_while_listed(tmp_path):
    path = tmp_path / "model.pt"
    torch.save(TiedLM(), path)
    with torch.serialization.safe_globals([TiedLM]):
        assert torch.serialization.get_safe_globals() == []  # the context's are not global
        assert type(torch.load(path)) is TiedLM
    torch.serialization.add_safe_globals(ALLOWED)
    try:
        assert TiedLM in torch.serialization.get_safe_globals()
        assert type(torch.load(path)) is TiedLM
    finally:
        torch.serialization.clear_safe_globals()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
    with pytest.raises(TypeError, match="list of classes"):
        torch.serialization.add_safe_globals(TiedLM)


def test_a_pickle_is_never_loaded(tmp_path):
    path = tmp_path / "payload.pt"
    path.write_bytes(pickle.dumps({"x": 1}))
    with pytest.raises(ValueError, match="pickle"):
        torch.load(path)
    with pytest.raises(ValueError, match="pickle"):
        torch.load(path, weights_only=False)


def test_plain_checkpoints_go_through_mg_save(tmp_path):
    model = TiedLM()
    path = tmp_path / "ckpt.pt"
    torch.save({"model": model.state_dict(), "epoch": 3}, path)
    plain = mg.load(path)  # the npz + JSON manifest, no pickle
    assert plain["epoch"] == 3 and set(plain["model"]) == set(model.state_dict())
    again = torch.load(path, map_location="cpu", weights_only=True)
    np.testing.assert_array_equal(again["model"]["rnn.weight_ih_l0"],
                                  model.state_dict()["rnn.weight_ih_l0"])
    buffer = io.BytesIO()
    with pytest.raises(TypeError, match="str"):  # strings are not data here (mg.save's rule)
        torch.save({"args": {"lr": 0.1, "model": "GRU"}, "losses": [1.0]}, buffer)
    assert buffer.getvalue() == b""


@pytest.mark.parametrize("where", ["cuda", torch.device("mps"), {"cuda:0": "cuda:1"}])
def test_load_refuses_other_devices(tmp_path, where):
    path = tmp_path / "m.pt"
    torch.save(TiedLM().state_dict(), path)
    with pytest.raises(RuntimeError, match="CPU only"):
        torch.load(path, map_location=where, weights_only=False)
    assert torch.load(path, map_location={"cuda:0": "cpu"}) is not None
    assert torch.load(path, map_location=lambda storage, loc: storage) is not None


def test_the_core_imports_neither_models_nor_viz():
    code = ("import sys, minigrad, minigrad.nn, minigrad.optim.lr_scheduler; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('models', 'viz')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


# ---- top-level function shims ----------------------------------------------------------------
def test_top_level_shims():
    x = torch.tensor([[1.0, 5.0, 2.0], [3.0, float("nan"), 4.0]])
    assert torch.argmax(torch.tensor([[1, 5, 2], [3, 0, 4]]), dim=1).tolist() == [1, 2]
    assert torch.argmin(torch.tensor([3, 1, 2])).item() == 1
    assert torch.topk(torch.tensor([1.0, 5.0, 2.0]), 2)[1].tolist() == [1, 2]
    assert torch.numel(x) == 6 and torch.clone(x) is not x
    assert torch.isnan(x).tolist() == [[False] * 3, [False, True, False]]
    assert torch.isinf(torch.tensor([1.0, float("inf")])).tolist() == [False, True]
    assert torch.masked_fill(x, torch.isnan(x), 0.0).numpy()[1, 1] == 0
    assert torch.mm(torch.ones(2, 3), torch.ones(3, 4)).shape == (2, 4)
    assert torch.equal(torch.ones(2), torch.ones(2)) and not torch.equal(torch.ones(2),
                                                                           torch.ones(3))
    assert torch.allclose(torch.ones(2), torch.ones(2) + 1e-9)
    mg.manual_seed(0)
    assert sorted(torch.randperm(6).tolist()) == list(range(6))
    assert torch.randperm(3).dtype == np.int64
    w = torch.ones(3, 3, requires_grad=True)
    torch.triu(w, diagonal=1).sum().backward()
    assert w.grad.tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    assert torch.dropout(torch.ones(3), 0.5, False).tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="mm: expected two 2-D tensors"):
        torch.mm(torch.ones(3), torch.ones(3, 1))
    with pytest.raises(TypeError, match="argmax: expected a Tensor"):
        torch.argmax([1, 2])
    with pytest.raises(ValueError, match="tril: expected a tensor of at least 2 dims"):
        torch.tril(torch.ones(3))
    with pytest.raises(ValueError, match="randperm: n expected"):
        torch.randperm(-1)


def test_top_level_shims_against_pytorch():
    pt = pytest.importorskip("torch")
    a = np.random.default_rng(0).normal(size=(2, 4, 4))
    for k in (-1, 0, 2):
        np.testing.assert_array_equal(torch.tril(torch.tensor(a), k).numpy(),
                                      pt.tril(pt.tensor(a), k).numpy())
        np.testing.assert_array_equal(torch.triu(torch.tensor(a), k).numpy(),
                                      pt.triu(pt.tensor(a), k).numpy())
    assert torch.argmax(torch.tensor(a), dim=2, keepdim=True).tolist() == pt.argmax(
        pt.tensor(a), dim=2, keepdim=True).tolist()
    assert torch.argmax(torch.tensor(a)).item() == pt.argmax(pt.tensor(a)).item()
    values, indices = torch.topk(torch.tensor(a), 2, dim=1, largest=False)
    t_values, t_indices = pt.topk(pt.tensor(a), 2, dim=1, largest=False)
    np.testing.assert_array_equal(values.numpy(), t_values.numpy())
    assert indices.tolist() == t_indices.tolist()
    np.testing.assert_allclose(torch.mm(torch.tensor(a[0]), torch.tensor(a[1])).numpy(),
                               pt.mm(pt.tensor(a[0]), pt.tensor(a[1])).numpy(), rtol=1e-12)


def test_autograd_module():
    x = torch.autograd.Variable(torch.tensor([1.0, 2.0]), requires_grad=True)
    assert isinstance(x, torch.Tensor) and x.requires_grad
    assert torch.autograd.Variable([1.0]).tolist() == [1.0]
    (g,) = torch.autograd.grad((x * x).sum(), x)
    assert g.tolist() == [2.0, 4.0]
    torch.autograd.backward([(x * 3).sum()])
    assert x.grad.tolist() == [3.0, 3.0]
    with torch.autograd.set_detect_anomaly(True):
        with pytest.raises(FloatingPointError, match="log"), np.errstate(invalid="ignore"):
            torch.log(torch.tensor([-1.0], requires_grad=True))
    with torch.autograd.set_detect_anomaly(False), np.errstate(invalid="ignore"):
        assert np.isnan(torch.log(torch.tensor([-1.0], requires_grad=True)).item())
    with torch.autograd.no_grad():
        assert not (x * 2).requires_grad


def test_autograd_grad_like_pytorch():
    pt = pytest.importorskip("torch")
    a = np.array([0.5, -1.5, 2.0])
    tx = pt.tensor(a, requires_grad=True)
    mx = torch.tensor(a, requires_grad=True)
    (tg,) = pt.autograd.grad((tx.tanh() ** 2).sum(), tx, create_graph=True)
    (mg_,) = torch.autograd.grad((mx.tanh() ** 2).sum(), mx, create_graph=True)
    np.testing.assert_allclose(mg_.numpy(), tg.detach().numpy(), rtol=1e-12)
    (th,) = pt.autograd.grad(tg.sum(), tx)
    (mh,) = torch.autograd.grad(mg_.sum(), mx)
    np.testing.assert_allclose(mh.numpy(), th.numpy(), rtol=1e-10)
