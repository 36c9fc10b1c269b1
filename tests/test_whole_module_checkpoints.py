"""Whole-module checkpoints without pickle: ``mg.save(model, f)`` writes the class by import
path, the constructor's arguments, plain attributes and the state dict; ``mg.load`` rebuilds
the module when its class is allowed (PyTorch's ``weights_only=True`` rule)."""

import io
import json
import pickle

import numpy as np
import pytest

import minigrad as mg
import models
from minigrad import nn
from minigrad.serialization import MANIFEST, UnsafeCheckpointError, safe_globals

try:
    import torch as real_torch
except ImportError:  # the cross-check below skips
    real_torch = None


class Net(nn.Module):
    """A user's class: strings, dtypes and modules as constructor arguments."""

    def __init__(self, kind, size, head, dtype=np.float32, tie=False):
        super().__init__()
        self.kind = kind
        self.embed = nn.Embedding(5, size, dtype=dtype)
        self.rnn = getattr(models, kind)(size, size, dtype=dtype)
        self.head = head
        self.out = nn.Linear(size, 5, dtype=dtype)
        if tie:
            self.out.weight = self.embed.weight

    def forward(self, tokens):
        y, _ = self.rnn(self.embed(tokens))
        return self.out(self.head(y))


def _round_trip(obj, **load_kw):
    buf = io.BytesIO()
    mg.save(obj, buf)
    buf.seek(0)
    return mg.load(buf, **load_kw)


def test_a_models_layer_round_trips_with_its_settings():
    lstm = models.LSTM(3, 4, num_layers=2, dropout=0.25, dtype=np.float64)
    lstm.eval()
    lstm.fused = False  # a plain attribute changed after construction comes back
    lstm.weight_hh_l1.requires_grad_(False)
    again = _round_trip(lstm)
    assert type(again) is models.LSTM and not again.training and again.fused is False
    assert again.dropout == 0.25 and again.weight_ih_l0.dtype == np.float64
    assert not again.weight_hh_l1.requires_grad and again.weight_hh_l0.requires_grad
    for (k, a), (_, b) in zip(lstm.state_dict().items(), again.state_dict().items(),
                              strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)
        assert not np.shares_memory(a.numpy(), b.numpy())


def test_loading_draws_no_random_numbers():
    model = nn.Sequential(nn.Linear(2, 8), nn.Tanh(), nn.Linear(8, 1))
    buf = io.BytesIO()
    mg.save({"model": model, "epoch": 3}, buf)
    mg.manual_seed(5)
    expected = mg.rand(4).numpy()
    mg.manual_seed(5)
    buf.seek(0)
    loaded = mg.load(buf)
    assert loaded["epoch"] == 3 and isinstance(loaded["model"], nn.Sequential)
    np.testing.assert_array_equal(mg.rand(4).numpy(), expected)
    x = mg.randn(3, 2)
    np.testing.assert_array_equal(loaded["model"](x).numpy(), model(x).numpy())


def test_a_users_class_needs_to_be_allowed():
    mg.manual_seed(1)
    model = Net("GRU", 4, nn.Tanh(), dtype=np.float64, tie=True)
    tokens = mg.tensor([[1, 2], [3, 4]])
    buf = io.BytesIO()
    mg.save(model, buf)
    for weights_only in (None, True):
        buf.seek(0)
        with pytest.raises(UnsafeCheckpointError, match=r"test_whole_module_checkpoints:Net"):
            mg.load(buf, weights_only=weights_only)
    assert issubclass(UnsafeCheckpointError, pickle.UnpicklingError)
    buf.seek(0)
    with safe_globals([Net]):
        again = mg.load(buf)
    assert again.kind == "GRU" and isinstance(again.rnn, models.GRU)
    assert again.out.weight is again.embed.weight and again.out.weight.dtype == np.float64
    np.testing.assert_array_equal(again(tokens).numpy(), model(tokens).numpy())
    buf.seek(0)
    assert type(mg.load(buf, weights_only=False)) is Net


def _rewrite_class(buf, path):
    """The checkpoint in ``buf`` with its top-level class path replaced by ``path``."""
    buf.seek(0)
    with np.load(buf, allow_pickle=False) as npz:
        members = {k: npz[k] for k in npz.files}
    head = json.loads(members[MANIFEST].tobytes().decode())
    head["tree"]["module"] = path
    members[MANIFEST] = np.frombuffer(json.dumps(head).encode(), dtype=np.uint8)
    out = io.BytesIO()
    np.savez(out, **members)
    out.seek(0)
    return out


def test_a_named_function_is_never_called(monkeypatch):
    calls = []
    monkeypatch.setattr("os.getcwd", lambda *a: calls.append(a))
    buf = io.BytesIO()
    mg.save(nn.Tanh(), buf)
    with pytest.raises(UnsafeCheckpointError, match="os:getcwd"):
        mg.load(_rewrite_class(buf, "os:getcwd"))
    with pytest.raises(ValueError, match="not a Module class"):
        mg.load(_rewrite_class(buf, "os:getcwd"), weights_only=False)
    with pytest.raises(ValueError, match="cannot be found"):
        mg.load(_rewrite_class(buf, "models.no_such_module:Thing"))
    assert calls == []


def test_a_module_changed_after_construction_is_refused_at_load():
    model = nn.Sequential(nn.Linear(2, 3))
    model.extra = nn.Linear(3, 3)  # not made by the constructor
    buf = io.BytesIO()
    mg.save(model, buf)
    buf.seek(0)
    with pytest.raises(ValueError, match=r"does not match the saved one.*state_dict\(\)"):
        mg.load(buf)


def test_what_a_whole_module_cannot_hold_is_refused_before_writing(tmp_path):
    class Local(nn.Module):
        pass

    for bad, message in [(Net("LSTM", 2, print), "constructor argument is not data"),
                         (Local(), "defined inside a function")]:
        with pytest.raises(TypeError, match=rf"{message}.*state_dict\(\)"):
            mg.save(bad, tmp_path / "m.npz")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(real_torch is None, reason="PyTorch is not installed")
def test_pytorch_applies_the_same_rule():
    """PyTorch 2.6+ (weights_only=True by default) refuses a whole model of a class nobody
    allowed with an UnpicklingError, and loads it inside ``safe_globals``: so do we."""
    import models.torch as torch

    outcomes = []
    for lib, cls in ((real_torch, TorchNet), (torch, OurNet)):
        buf = io.BytesIO()
        lib.save(cls(), buf)
        buf.seek(0)
        try:
            lib.load(buf)
            refused = False
        except pickle.UnpicklingError:
            refused = True
        buf.seek(0)
        with lib.serialization.safe_globals(
                [cls, lib.nn.modules.linear.Linear, lib.nn.modules.rnn.GRU]):
            loaded = lib.load(buf)
        outcomes.append((refused, type(loaded) is cls, loaded.size))
    assert outcomes[0] == outcomes[1] == (True, True, 3)


if real_torch is not None:
    class TorchNet(real_torch.nn.Module):
        def __init__(self, size=3):
            super().__init__()
            self.size = size
            self.rnn = real_torch.nn.GRU(size, size)
            self.out = real_torch.nn.Linear(size, 2)


class OurNet(nn.Module):
    def __init__(self, size=3):
        super().__init__()
        self.size = size
        self.rnn = models.GRU(size, size)
        self.out = nn.Linear(size, 2)



def test_recorded_arguments_do_not_get_in_the_way_of_deepcopy():
    """The constructor's arguments are kept by reference: copying a module does not copy
    them (a lock cannot be deep-copied), and the copy saves and loads like the original."""
    import copy
    import threading

    model = nn.Sequential(nn.Linear(2, 2))
    held = _HoldsALock(threading.Lock())
    assert copy.deepcopy(held)._init_args is held._init_args
    twin = copy.deepcopy(model)
    again = _round_trip(twin)
    np.testing.assert_array_equal(again[0].weight.numpy(), model[0].weight.numpy())


class _HoldsALock(nn.Module):
    def __init__(self, lock):
        super().__init__()
        self.inner = nn.Linear(1, 1)


def test_a_package_named_models_elsewhere_is_not_trusted(monkeypatch, tmp_path):
    """Only this project's own ``models`` (found beside ``minigrad``) loads without
    safe_globals; a user's top-level package of the same name does not."""
    import importlib.util

    from minigrad import serialization

    lstm = models.LSTM(2, 3)
    buf = io.BytesIO()
    mg.save(lstm, buf)
    real = importlib.util.find_spec

    def elsewhere(name, *args, **kwargs):
        spec = real(name, *args, **kwargs)
        if name == "models":
            spec = importlib.util.spec_from_file_location(
                "models", str(tmp_path / "someone" / "models" / "__init__.py"))
        return spec

    assert serialization._trusted_package("models")
    monkeypatch.setattr(importlib.util, "find_spec", elsewhere)
    assert not serialization._trusted_package("models")
    buf.seek(0)
    with pytest.raises(UnsafeCheckpointError, match="models.rnn.layers:LSTM"):
        mg.load(buf)
    buf.seek(0)
    with safe_globals([models.LSTM]):
        assert type(mg.load(buf)) is models.LSTM


class StepCell(models.Cell):
    """A user's cell: its class is a constructor argument of models.Recurrent."""

    state_names = ("h",)

    def __init__(self, input_size, hidden_size, scale=1.0):
        super().__init__(input_size, hidden_size)
        self.scale = scale
        self.weight = nn.Parameter(mg.randn(hidden_size, input_size + hidden_size) * 0.3)

    def forward(self, x, state):
        (h,) = state
        return (mg.tanh(mg.concat([x, h], dim=1) @ self.weight.t()) * self.scale,)


def test_a_recurrent_layer_round_trips_with_its_cell_class():
    """Recurrent's cell argument (a Module class, or functools.partial of one) is saved by
    import path and allowed by the rule for the module's own class."""
    import functools

    x = mg.randn(2, 5, 3, dtype=mg.float64)
    for cell in (models.LSTMCell, functools.partial(models.GRUCell, reset_after=False)):
        mg.manual_seed(0)
        net = models.Recurrent(cell, 3, 4, num_layers=2, batch_first=True, dtype=mg.float64)
        again = _round_trip(net)
        assert type(again) is models.Recurrent and again.batch_first
        assert again.cell_type == cell if not isinstance(cell, functools.partial) else (
            again.cell_type.func is cell.func and again.cell_type.keywords == cell.keywords)
        np.testing.assert_array_equal(again(x)[0].numpy(), net(x)[0].numpy())
    user = models.Recurrent(functools.partial(StepCell, scale=0.5), 3, 4, fused=False)
    with pytest.raises(UnsafeCheckpointError, match="test_whole_module_checkpoints:StepCell"):
        _round_trip(user)
    with safe_globals([StepCell]):
        again = _round_trip(user)
    assert again.cells()[0].scale == 0.5 and not again.fused
    np.testing.assert_array_equal(again(x.float())[0].numpy(), user(x.float())[0].numpy())


def test_a_cell_factory_that_is_not_a_class_is_refused(tmp_path):
    class Local(models.Cell):
        def forward(self, x, state):
            return state

    for factory, message in [(lambda i, h: StepCell(i, h), "constructor argument is not data"),
                             (Local, "defined inside a function")]:
        with pytest.raises(TypeError, match=message):
            mg.save(models.Recurrent(factory, 2, 3, fused=False), tmp_path / "r.npz")
    assert list(tmp_path.iterdir()) == []
